"""A pseudonymised `traject export` names no member of staff: the coach, the assessor and a
corrected assessor are written as the pseudonym each has as recorder, and the file still imports
and counts the same caseload per coach."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from cli_helpers import Traject, last_line
from test_import import GOOD, write

# GOOD: a person, her ladder assessed by r.jansen (who, as TRAJECT_USER, records every fact);
# then a regisseur, and an assessment whose assessor a correction changes
STAFFED: list[dict[str, Any]] = [
    *GOOD,
    {
        "kind": "coach-assigned",
        "person": "C-1001",
        "occurred_on": "2025-02-02",
        "staff_id": "s.bakker",
        "role": "regisseur",
    },
    {
        "kind": "ladder-assessed",
        "person": "C-1001",
        "occurred_on": "2025-04-01",
        "rung": 4,
        "assessor": "s.bakker",
        "idempotency_key": "crm:1001:ladder-2",
    },
    {
        "kind": "event-corrected",
        "person": "C-1001",
        "target": "crm:1001:ladder-2",
        "changes": {"assessor": "k.smit"},
        "reason": "wrong assessor",
    },
]
STAFF = ("r.jansen", "s.bakker", "k.smit")


def caseload_of(traject: Traject, coach: str) -> dict[str, Any]:
    """The caseload of ``coach`` on 30 June 2025, as JSON."""
    result: dict[str, Any] = traject.json("caseload", "--coach", coach, "--on", "2025-06-30")
    return result


def test_a_pseudonymised_export_file_names_no_member_of_staff_and_still_imports(
    ledger: Traject, tmp_path: Path
) -> None:
    ledger.ok("import", str(write(tmp_path / "staffed.jsonl", STAFFED)))
    exported = tmp_path / "pseudonymised.jsonl"

    ledger.ok("export", "-q", "-o", str(exported))
    clear = ledger.ok("export", "--include-personal", "-q").stdout
    coaches_csv = ledger.ok("export", "--format", "csv", "--kind", "coach-assigned", "-q").stdout

    text = exported.read_text(encoding="utf-8")
    assert [name for name in STAFF if name in text + coaches_csv] == []
    assert [name for name in STAFF if name not in clear] == []
    lines = [json.loads(line) for line in text.splitlines()]
    recorder = lines[0]["_pseudonyms"]["recorded_by"]  # r.jansen's
    coach = next(line["staff_id"] for line in lines if line["kind"] == "coach-assigned")
    assessors = [line["assessor"] for line in lines if line["kind"] == "ladder-assessed"]
    changes = next(line["changes"] for line in lines if line["kind"] == "event-corrected")
    # r.jansen recorded and assessed, s.bakker coaches and assessed, k.smit is the corrected
    # assessor: one pseudonym each
    assert assessors == [recorder, coach]
    assert list(changes) == ["assessor"]
    assert len({recorder, coach, changes["assessor"]}) == 3
    assert all(p.startswith("ps:") for p in (recorder, coach, changes["assessor"]))
    assert [row["staff_id"] for row in csv.DictReader(io.StringIO(coaches_csv))] == [coach]

    elsewhere = Traject(f"sqlite:///{tmp_path / 'elsewhere.db'}", tmp_path / "elsewhere.key")
    elsewhere.init("--municipality", "GM0622")
    imported = elsewhere.ok("import", str(exported))

    assert (
        last_line(imported.stdout)
        == f"{len(lines)} written, 0 skipped (already present), 0 rejected (6 warnings)"
    )
    before, after = caseload_of(ledger, "s.bakker"), caseload_of(elsewhere, coach)
    assert len(after["rows"]) == len(before["rows"]) == 1
    assert after["by_rung"] == before["by_rung"]
    assert before["by_rung"]["4"] == 1
    assert [row["regisseurs"] for row in after["rows"]] == [coach]
    assert caseload_of(elsewhere, "s.bakker")["rows"] == []
