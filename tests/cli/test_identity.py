"""One person per BSN through corrections, and one fact per idempotency key, from the CLI on
a SQLite file and on PostgreSQL: the message, the exit code, and that nothing was written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from builders import fresh_bsn
from cli_helpers import Traject, days_ago, initialised_ledger

DUPLICATE = "Error: bsn: a person with this BSN is already registered (see `person find`)\n"
NOT_FOUND = "Error: no person with this BSN is registered in this ledger\n"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Traject:
    """An initialised ledger on a SQLite file or in a PostgreSQL schema of its own."""
    return initialised_ledger(request, tmp_path, "traject_identity")


def register(ledger: Traject, bsn: str) -> str:
    return ledger.register(
        "--birth-date", "1990-01-01", "--sex", "f", "--nationality", "SY", "--bsn", bsn
    )


def versions(ledger: Traject, person: str) -> list[int]:
    return [e["version"] for e in ledger.json("timeline", person)["events"]]


def found(ledger: Traject, bsn: str) -> str | None:
    result = ledger("--json", "person", "find", "--bsn", bsn)
    return json.loads(result.stdout)["person_id"] if result.exit_code == 0 else None


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_a_correction_to_a_bsn_another_person_holds_is_refused_as_a_registration_is(
    ledger: Traject,
) -> None:
    held, own = fresh_bsn(), fresh_bsn()
    holder, person = register(ledger, held), register(ledger, own)
    refused_registration = ledger(
        "person",
        "register",
        "--birth-date",
        "1995-01-01",
        "--sex",
        "m",
        "--nationality",
        "IQ",
        "--bsn",
        held,
    )

    result = ledger("correct", person, "1", "--set", f"bsn={held}", "--reason", "typo")

    assert result.exit_code == refused_registration.exit_code == 1
    # each names the BSN as it was typed: bsn= of --set, and --bsn
    assert result.stderr == DUPLICATE
    assert refused_registration.stderr == DUPLICATE.replace("bsn:", "--bsn:", 1)
    assert versions(ledger, person) == [1]
    assert (found(ledger, held), found(ledger, own)) == (holder, person)


def test_a_corrected_bsn_finds_the_person_and_the_old_one_is_free(ledger: Traject) -> None:
    old, new = fresh_bsn(), fresh_bsn()
    person = register(ledger, old)

    ledger.ok("correct", person, "1", "--set", f"bsn={new}", "--reason", "typo")

    assert found(ledger, new) == person
    result = ledger("person", "find", "--bsn", old)
    assert (result.exit_code, result.stderr) == (1, NOT_FOUND)
    newcomer = register(ledger, old)
    assert found(ledger, old) == newcomer


def test_an_imported_bsn_correction_is_checked_and_moves_the_index(
    ledger: Traject, tmp_path: Path
) -> None:
    held, old, new = fresh_bsn(), fresh_bsn(), fresh_bsn()
    holder = register(ledger, held)
    registration = {
        "kind": "person-registered",
        "person": "C-1",
        "occurred_on": days_ago(20),
        "birth_date": "1991-01-01",
        "sex": "m",
        "nationality": ["IQ"],
        "bsn": old,
    }
    corrections = [
        {
            "kind": "event-corrected",
            "person": "C-1",
            "target": 1,
            "reason": "typo",
            "changes": {"bsn": bsn},
        }
        for bsn in (held, new)
    ]
    source = write(tmp_path / "clients.jsonl", [registration, *corrections])

    result = ledger("import", str(source))

    assert result.exit_code == 1
    assert "clients.jsonl:2: changes.bsn: a person with this BSN is already registered" in (
        result.stderr
    )
    assert result.stdout.startswith("2 written, 0 skipped (already present), 1 rejected")
    person = found(ledger, new)
    assert person is not None and versions(ledger, person) == [1, 2]
    assert (found(ledger, held), found(ledger, old)) == (holder, None)


def test_a_key_used_for_another_fact_is_refused_and_the_same_fact_is_already_recorded(
    ledger: Traject,
) -> None:
    a, b = register(ledger, fresh_bsn()), register(ledger, fresh_bsn())
    assessed = ("record", "ladder-assessed", "--on", days_ago(3), "--idempotency-key", "k1")

    first = ledger.ok(*assessed, a, "--rung", "3", "--assessor", "x")
    again = ledger.ok(*assessed, a, "--rung", "3", "--assessor", "x", TRAJECT_USER="a.devries")
    other = ledger(*assessed, b, "--rung", "5", "--assessor", "y")

    assert first.stdout == f"Recorded LadderAssessed as version 2 of {a}\n"
    assert again.stdout.startswith(f"Already recorded: LadderAssessed as version 2 of {a}")
    assert other.exit_code == 1
    assert other.stderr == (
        "Error: LadderAssessed: --idempotency-key: 'k1' was used for another fact: LadderAssessed "
        f"version 2 of {a} (this one differs in stream); a key names one fact: give a new key "
        "for a new fact\n"
    )
    assert (versions(ledger, a), versions(ledger, b)) == ([1, 2], [1])


def test_an_import_line_with_a_key_used_for_another_fact_is_rejected_naming_it(
    ledger: Traject, tmp_path: Path
) -> None:
    person = register(ledger, fresh_bsn())
    line = {
        "kind": "ladder-assessed",
        "person_id": person,
        "occurred_on": days_ago(3),
        "rung": 3,
        "assessor": "x",
        "idempotency_key": "crm:7",
    }
    source = write(tmp_path / "ladder.jsonl", [line, line | {"rung": 4}])

    result = ledger("import", str(source))

    assert result.exit_code == 1
    assert (
        "ladder.jsonl:2: idempotency_key: 'crm:7' was used for another fact: LadderAssessed "
        f"version 2 of {person} (this one differs in rung); a key names one fact: give a new key "
        "for a new fact, or, to change the fact it names, correct that fact (traject correct, or "
        "an event-corrected line with target 'crm:7')"
    ) in result.stderr
    assert result.stdout.startswith("1 written, 0 skipped (already present), 1 rejected")
    assert versions(ledger, person) == [1, 2]
    # as the message says: the source's new value corrects the fact under its key
    correction = {"kind": "event-corrected", "person_id": person, "target": "crm:7"}
    fix = write(tmp_path / "fix.jsonl", [correction | {"changes": {"rung": 4}, "reason": "CRM"}])
    ledger.ok("import", str(fix))
    assert ledger.json("timeline", person)["events"][1]["effective"]["fields"]["rung"] == 4
    # the same file again: its first line is the same fact, skipped as before
    again = ledger("import", str(source))
    assert again.stdout.startswith("0 written, 1 skipped (already present), 1 rejected")
