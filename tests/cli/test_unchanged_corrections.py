"""A correction that changes nothing is refused by `traject correct`; an import records it as
given, so that a history moved from another ledger keeps every fact."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import Traject, days_ago, last_line, open_app, refused


def test_a_correction_to_the_date_the_fact_already_has_is_refused(ledger: Traject) -> None:
    person = ledger.assessed_person()

    refused(
        ledger,
        *("correct", person, "2", "--set", f"on={days_ago(5)}", "--reason", "x"),
        stderr="EventCorrected of LadderAssessed: on (occurred_on): v2 already holds "
        f"{days_ago(5)}: "
        "the correction changes nothing; nothing was recorded",
    )


def test_every_unchanged_field_is_named_and_a_personal_value_is_not_shown(
    ledger: Traject,
) -> None:
    person = ledger.register(
        *("--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY"),
        *("--nationality", "IQ", "--name", "Amal Haddad"),
    )

    refused(
        ledger,
        *("correct", person, "1", "--set", "nationality=SY", "--set", "nationality=IQ"),
        *("--set", "name=Amal Haddad", "--reason", "x"),
        stderr="EventCorrected of PersonRegistered: nationality: v1 already holds SY, IQ; name: "
        "v1 already holds this value (personal: not shown): the correction changes nothing; "
        "nothing was recorded",
    )


def test_a_correction_is_compared_with_the_fact_as_corrected_before(ledger: Traject) -> None:
    person = ledger.assessed_person(rung="3")
    ledger.ok("correct", person, "2", "--set", "rung=4", "--reason", "typo")

    # rung 3 was the original value: setting it back is a change
    ledger.ok("correct", person, "2", "--set", "rung=3", "--reason", "3 after all")
    refused(
        ledger,
        *("correct", person, "2", "--set", "rung=3", "--reason", "again"),
        stderr="EventCorrected of LadderAssessed: rung: v2 already holds 3: the correction "
        "changes nothing; nothing was recorded",
    )
    # one changed field of several is a change: recorded as given
    ledger.ok("correct", person, "2", "--set", "rung=3", "--set", "assessor=s.bakker",
              "--reason", "other assessor")  # fmt: skip
    changes = ledger.json("timeline", person)["events"][-1]["recorded"]["fields"]["changes"]
    assert changes == {"rung": 3, "assessor": "s.bakker"}


def write_lines(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


REGISTER = {
    "kind": "person-registered",
    "person": "C-2001",
    "occurred_on": "2025-01-10",
    "birth_date": "1990-04-02",
    "sex": "f",
    "nationality": ["SY"],
}
ASSESSED = {
    "kind": "ladder-assessed",
    "person": "C-2001",
    "occurred_on": "2025-03-01",
    "rung": 3,
    "assessor": "r.jansen",
    "idempotency_key": "crm:assessment-1",
}
FIX = {"kind": "event-corrected", "person": "C-2001", "target": "crm:assessment-1"}


def test_an_import_line_that_corrects_nothing_is_recorded_as_given(
    ledger: Traject, tmp_path: Path
) -> None:
    source = write_lines(
        tmp_path / "fixes.jsonl",
        [
            REGISTER,
            ASSESSED,
            FIX | {"changes": {"rung": 3, "occurred_on": "2025-03-01"}, "reason": "same"},
            FIX | {"changes": {"rung": "4"}, "reason": "typo"},
            FIX | {"changes": {"rung": 4}, "reason": "typo, twice"},
        ],
    )

    result = ledger.ok("import", str(source))

    assert last_line(result.stdout).startswith("5 written, 0 skipped (already present), 0 rejected")
    app = open_app(ledger)
    try:
        person = app.person_by_external_ref("C-2001")
    finally:
        app.close()
    events = ledger.json("timeline", str(person))["events"]
    assert [e["kind"] for e in events][-3:] == ["EventCorrected"] * 3
    assert events[1]["effective"]["fields"]["rung"] == 4


def test_a_moved_ledger_keeps_a_correction_that_changes_nothing(
    ledger: Traject, tmp_path: Path
) -> None:
    """Facts recorded without a key are targeted by version number in an export: a line left
    out would make a later correction's number name another fact. A correction that changes
    nothing, which earlier releases recorded, moves with the rest."""
    person = ledger.assessed_person(rung="3")
    no_op = {"kind": "event-corrected", "person_id": person, "target": 2,
             "changes": {"rung": 3}, "reason": "checked: rung 3"}  # fmt: skip
    ledger.ok("import", str(write_lines(tmp_path / "no-op.jsonl", [no_op])))
    ledger.ok("record", "ladder-assessed", person, "--on", days_ago(2), "--rung", "4",
              "--assessor", "r.jansen")  # fmt: skip
    ledger.ok("correct", person, "4", "--set", "rung=5", "--reason", "typo")
    exported = tmp_path / "export.jsonl"
    ledger.ok("export", "--include-personal", "--purpose", "move", "--quiet", "--output",
              str(exported))  # fmt: skip
    elsewhere = Traject(f"sqlite:///{tmp_path / 'elsewhere.db'}", tmp_path / "elsewhere.key")
    elsewhere.init("--municipality", "GM0622")

    moved = elsewhere.ok("import", str(exported))

    assert "0 rejected" in last_line(moved.stdout)
    here, there = ledger.json("timeline", person), elsewhere.json("timeline", person)
    assert [(e["kind"], e["recorded"]["fields"], e["effective"]) for e in there["events"]] == [
        (e["kind"], e["recorded"]["fields"], e["effective"]) for e in here["events"]
    ]
    assert there["events"][3]["effective"]["fields"]["rung"] == 5


def test_an_export_with_corrections_imported_twice_is_skipped_the_second_time(
    ledger: Traject, tmp_path: Path
) -> None:
    ledger.ok("import", str(write_lines(tmp_path / "a.jsonl", [REGISTER, ASSESSED])))
    ledger.ok("import", str(write_lines(tmp_path / "b.jsonl", [
        FIX | {"changes": {"rung": 4}, "reason": "typo"},
        FIX | {"changes": {"rung": 3}, "reason": "3 after all"},
    ])))  # fmt: skip
    exported = tmp_path / "export.jsonl"
    ledger.ok("export", "--include-personal", "--quiet", "--output", str(exported))
    elsewhere = Traject(f"sqlite:///{tmp_path / 'elsewhere.db'}", tmp_path / "elsewhere.key")
    elsewhere.init("--municipality", "GM0622")

    first = elsewhere.ok("import", str(exported))
    again = elsewhere.ok("import", str(exported))

    assert last_line(first.stdout).startswith("4 written, 0 skipped (already present), 0 rejected")
    assert last_line(again.stdout) == "0 written, 4 skipped (already present), 0 rejected"
    # the same file into the ledger that holds the facts under their own keys: skipped as well
    assert last_line(ledger.ok("import", str(tmp_path / "b.jsonl")).stdout) == (
        "0 written, 2 skipped (already present), 0 rejected"
    )
