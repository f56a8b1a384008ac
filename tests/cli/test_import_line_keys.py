"""An import reject names the field as the line wrote it: an import alias by the alias, a
correction's or retraction's target as ``target`` (stored as ``target_version``), the stream by
the line's subject key; on SQLite and PostgreSQL, by a real import and by a dry run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Traject, imported_with_rejects, initialised_ledger, last_line


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Traject:
    return initialised_ledger(request, tmp_path, "traject_import_line_keys")


def pip(on: str) -> dict[str, Any]:
    return {"kind": "pip-adopted", "person": "C-1", "DagtekeningInitielePIP": on, "version": 1,
            "leerroute": "b1", "hoofddoel": "werk", "pvt_intensity": "standaard",
            "map_intensity": "standaard", "decision_ref": "D-1"}  # fmt: skip


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "import"])
def test_a_reject_names_each_field_by_the_lines_own_key(
    ledger: Traject, tmp_path: Path, dry_run: bool
) -> None:
    lines = [
        {"kind": "person-registered", "person": "C-1", "occurred_on": "2024-05-01",
         "birth_date": "1990-04-02", "sex": "f", "nationality": ["SY"]},
        pip("2024-13-01"),  # 2: the alias's value is no date
        pip("2099-01-01"),  # 3: the alias's date is in the future
        {"kind": "event-retracted", "person": "C-1", "target": 1, "reason": "x"},  # 4
        {"kind": "event-corrected", "person": "C-1", "target": 7,  # 5: no such version
         "changes": {"sex": "m"}, "reason": "typo"},
        {"kind": "event-retracted", "municipality": "GM0599", "target": 1,  # 6: no such stream
         "reason": "x"},
        {"kind": "event-retracted", "project": "NOPE", "target": 1, "reason": "x"},  # 7
        {"kind": "ladder-assessed", "person_id": "00000000-0000-4000-8000-000000000001",
         "municipality": "GM0622", "occurred_on": "2024-05-02", "rung": 2,
         "assessor": "r.jansen"},  # 8: no such person, named by person_id
    ]  # fmt: skip
    source = tmp_path / "keys.jsonl"
    result, rejected = imported_with_rejects(ledger, source, lines, dry_run=dry_run)
    assert [line.removeprefix(f"{source}:").split(": ")[:2] for line in rejected] == [
        ["2", "DagtekeningInitielePIP"],
        ["3", "DagtekeningInitielePIP"],
        ["4", "target"],
        ["5", "target"],
        ["6", "municipality"],
        ["7", "project"],
        ["8", "person_id"],
    ]
    assert rejected[1].endswith("DagtekeningInitielePIP: must not be in the future")
    assert rejected[3].endswith("target: this stream has no version 7: its versions are 1 to 1 "
                                "(see traject timeline)")  # fmt: skip
    # the rejects file carries the same names, for a file fixed and imported again
    written = [
        json.loads(line) for line in (tmp_path / "keys.rejects.jsonl").read_text().splitlines()
    ]
    assert written[2]["_error"].startswith("target: the first event of a stream cannot be")
    verb = "valid" if dry_run else "written"
    assert last_line(result.stdout).startswith(f"1 {verb}, 0 skipped (already present), 7 rejected")
