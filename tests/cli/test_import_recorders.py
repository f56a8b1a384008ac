"""Who recorded a fact survives a move: `traject export` carries `recorded_by`, `traject import
--keep-recorded-by` keeps it, and the importing user is recorded beside it as `imported_by`."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Traject, last_line
from test_import import HISTORY, PERSON_ID

# a person's facts as another ledger recorded them (HISTORY), its control facts included
MOVED: list[dict[str, Any]] = [
    *(
        line | {"recorded_by": by}
        for line, by in zip(HISTORY, ["m.vermeer", "k.smit", "k.smit", "m.vermeer"], strict=True)
    ),
    {
        "kind": "legal-hold-placed",
        "person": "C-1002",
        "occurred_on": "2025-03-07",
        "recorded_at": "2025-03-07T10:00:00Z",
        "recorded_by": "k.smit",
        "hold_ref": "bezwaar-2025-7",
        "reason": "objection pending",
    },
    {  # no recorder on the line: the importing user records it, with or without the option
        "kind": "ladder-assessed",
        "person": "C-1002",
        "occurred_on": "2025-03-08",
        "rung": 4,
        "assessor": "s.bakker",
    },
]
KEPT = [
    ("m.vermeer", "a.admin"),
    ("k.smit", "a.admin"),
    ("k.smit", "a.admin"),
    ("m.vermeer", "a.admin"),
    ("k.smit", "a.admin"),
    ("a.admin", None),
]
ADMIN = {"TRAJECT_USER": "a.admin"}


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def recorders(traject: Traject, person: str = PERSON_ID) -> list[tuple[str, str | None]]:
    events = traject.json("timeline", person)["events"]
    return [(e["recorded_by"], e["imported_by"]) for e in events]


def warnings(stderr: str) -> list[str]:
    """The import's own warnings (not those of a line: ``Warning: FILE:LINE: …``)."""
    return [
        line
        for line in stderr.splitlines()
        if line.startswith("Warning:") and not re.match(r"Warning: \S+:\d+: ", line)
    ]


def test_kept_recorders_record_their_facts_and_the_importing_user_is_kept_beside_them(
    ledger: Traject, tmp_path: Path
) -> None:
    source = write(tmp_path / "moved.jsonl", MOVED)

    result = ledger.ok("import", "--keep-recorded-by", str(source), **ADMIN)
    again = ledger.ok("import", "--keep-recorded-by", str(source), **ADMIN)

    assert (
        last_line(result.stdout) == "6 written, 0 skipped (already present), 0 rejected (1 warning)"
    )
    assert warnings(result.stderr) == []
    assert recorders(ledger) == KEPT
    table = ledger.ok("timeline", PERSON_ID).stdout
    assert "imported by a.admin" in table
    assert last_line(again.stdout) == "0 written, 6 skipped (already present), 0 rejected"
    exported = ledger.ok("export", "--include-personal", "-q").stdout.splitlines()
    assert [json.loads(line)["recorded_by"] for line in exported] == [by for by, _ in KEPT]
    assert not any("imported_by" in line for line in exported)  # this ledger's own record


def test_a_recorder_not_kept_is_counted_once_in_a_warning(ledger: Traject, tmp_path: Path) -> None:
    source = write(tmp_path / "moved.jsonl", MOVED)

    result = ledger("--json", "import", str(source), **ADMIN)

    assert result.exit_code == 0
    assert "Traceback" not in result.output
    assert warnings(result.stderr) == [
        "Warning: 5 lines carried recorded_by, which was not kept: the importing user recorded "
        "their facts; --keep-recorded-by keeps each line's recorder (a second import of this "
        "file skips these lines: try the option with --dry-run first)"
    ]
    assert json.loads(result.stdout) == {
        "dry_run": False,
        "written": 6,
        "skipped": 0,
        "rejected": 0,
        "warnings": 1,
        "recorded_by_not_kept": 5,
    }
    assert recorders(ledger) == [("a.admin", None)] * 6


def test_a_dry_run_with_kept_recorders_writes_nothing(ledger: Traject, tmp_path: Path) -> None:
    source = write(tmp_path / "moved.jsonl", MOVED)

    kept = ledger.ok("import", "--dry-run", "--keep-recorded-by", str(source), **ADMIN)
    plain = ledger.ok("import", "--dry-run", str(source), **ADMIN)

    assert ledger.event_count() == 0
    assert last_line(kept.stdout) == "6 valid, 0 skipped (already present), 0 rejected (1 warning)"
    assert warnings(kept.stderr) == []
    assert warnings(plain.stderr) == [
        "Warning: 5 lines carry recorded_by, which would not be kept: the importing user would "
        "record their facts; import with --keep-recorded-by to keep each line's recorder"
    ]


@pytest.mark.parametrize(
    ("recorder", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("x" * 201, "at most 200 characters"),
        (42, "must be text"),
    ],
    ids=["empty", "blank", "too-long", "number"],
)
def test_a_bad_recorder_is_a_rejected_line_naming_the_field(
    ledger: Traject, tmp_path: Path, recorder: Any, message: str
) -> None:
    source = write(tmp_path / "moved.jsonl", [MOVED[0] | {"recorded_by": recorder}])

    kept = ledger("import", "--keep-recorded-by", str(source), **ADMIN)

    assert kept.exit_code == 1
    assert "Traceback" not in kept.output
    assert f"{source}:1: recorded_by: {message}" in kept.stderr
    assert ledger.event_count() == 0
    rejects = (tmp_path / "moved.rejects.jsonl").read_text().splitlines()
    assert json.loads(rejects[0])["_error"] == f"recorded_by: {message}"
    # not kept, a recorder is not checked: the line is written, by the importing user
    plain = ledger("import", str(write(tmp_path / "plain.jsonl", [MOVED[0] | {"recorded_by": 42}])))
    assert plain.exit_code == 0 and ledger.event_count() == 1


def test_a_correction_with_a_bad_recorder_is_rejected_by_the_same_rule(
    ledger: Traject, tmp_path: Path
) -> None:
    source = write(tmp_path / "moved.jsonl", [*MOVED[:2], MOVED[2] | {"recorded_by": ""}])

    result = ledger("import", "--keep-recorded-by", str(source), **ADMIN)

    assert result.exit_code == 1
    assert f"{source}:3: recorded_by: must not be empty" in result.stderr
    assert ledger.event_count() == 2


def test_a_csv_file_carries_the_recorder_in_a_column_of_its_own(
    ledger: Traject, tmp_path: Path
) -> None:
    ledger.ok("import", "--keep-recorded-by", str(write(tmp_path / "moved.jsonl", MOVED)))
    people = ledger.ok(
        "export", "--format", "csv", "--kind", "person-registered", "--include-personal", "-q"
    ).stdout
    holds = ledger.ok(
        "export", "--format", "csv", "--kind", "legal-hold-placed", "--include-personal", "-q"
    ).stdout
    pseudonymised = ledger.ok("export", "--format", "csv", "--kind", "legal-hold-placed", "-q")

    rows = list(csv.DictReader(io.StringIO(holds)))
    assert [row["recorded_by"] for row in rows] == ["k.smit"]
    hidden = list(csv.DictReader(io.StringIO(pseudonymised.stdout)))
    assert hidden[0]["recorded_by"] == ""
    assert json.loads(hidden[0]["_pseudonyms"])["recorded_by"].startswith("ps:")
    assert "k.smit" not in pseudonymised.stdout
    elsewhere = Traject(f"sqlite:///{tmp_path / 'elsewhere.db'}", tmp_path / "elsewhere.key")
    elsewhere.init("--municipality", "GM0622")
    (tmp_path / "people.csv").write_text(people, encoding="utf-8")
    (tmp_path / "holds.csv").write_text(holds, encoding="utf-8")
    for kind, name in (("person-registered", "people.csv"), ("legal-hold-placed", "holds.csv")):
        elsewhere.ok("import", "--kind", kind, "--keep-recorded-by", str(tmp_path / name), **ADMIN)
    assert recorders(elsewhere) == [("m.vermeer", "a.admin"), ("k.smit", "a.admin")]


@pytest.mark.postgres
def test_a_sqlite_ledger_moved_to_postgresql_keeps_who_recorded_each_fact(
    ledger: Traject, cli_postgres_url: str, tmp_path: Path
) -> None:
    # the SQLite ledger: facts recorded by two members of staff
    ledger.ok("import", str(write(tmp_path / "a.jsonl", MOVED[:2])), TRAJECT_USER="m.vermeer")
    ledger.ok("import", str(write(tmp_path / "b.jsonl", MOVED[2:])), TRAJECT_USER="k.smit")
    full = tmp_path / "full.jsonl"
    ledger.ok("export", "--include-personal", "-q", "-o", str(full))
    target = Traject(cli_postgres_url, tmp_path / "target.key")  # a master key of its own
    target.init("--municipality", "GM0622")

    moved = target.ok("import", "--keep-recorded-by", str(full), **ADMIN)
    again = target.ok("import", "--keep-recorded-by", str(full), **ADMIN)

    assert (
        last_line(moved.stdout) == "6 written, 0 skipped (already present), 0 rejected (1 warning)"
    )
    assert last_line(again.stdout) == "0 written, 6 skipped (already present), 0 rejected"
    before, after = recorders(ledger), recorders(target)
    assert [by for by, _ in after] == [by for by, _ in before] == ["m.vermeer"] * 2 + ["k.smit"] * 4
    assert {imported for _, imported in after} == {"a.admin"}
    # exported again, the moved ledger gives the very lines it was given
    assert target.ok("export", "--include-personal", "-q").stdout == full.read_text()
