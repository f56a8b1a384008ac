"""`traject import` of a household's facts that name other persons: a nareiziger's arrival
names a person registered before it (in the ledger, or earlier in the file), and a household
has one referent; a refused line is named by its number and field, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Traject, initialised_ledger, last_line

REFERENT = "0b09775e-263b-46c5-b8bc-857e0187f13a"
MEMBER = "5d3c2a4e-9f61-4b8e-a1d2-3c4b5a6f7e80"
LATER = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Traject:
    return initialised_ledger(request, tmp_path, "traject_import_households")


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def rejects(ledger: Traject, source: Path, *, dry_run: bool, accepted: int) -> list[str]:
    """Import ``source`` (or check it, ``dry_run``), of which ``accepted`` lines are accepted
    and the others rejected: the reject lines."""
    result = ledger("import", *(["--dry-run"] if dry_run else []), str(source))
    assert result.exit_code == 1
    rejected = [line for line in result.stderr.splitlines() if line.startswith(str(source))]
    verb = "valid" if dry_run else "written"
    summary = f"{accepted} {verb}, 0 skipped (already present), {len(rejected)} rejected"
    assert last_line(result.stdout).startswith(summary)
    assert ledger.event_count() == (0 if dry_run else accepted)
    return rejected


def person(key: str, person_id: str, **more: Any) -> dict[str, Any]:
    return {
        "kind": "person-registered", "person": key, "person_id": person_id,
        "occurred_on": "2024-05-01", "birth_date": "1990-04-02", "sex": "f",
        "nationality": ["SY"], **more,
    }  # fmt: skip


def arrival(member: str, on: str) -> dict[str, Any]:
    return {
        "kind": "nareiziger-arrived", "person": "C-1", "occurred_on": on,
        "relation": "partner", "member_person_id": member,
    }  # fmt: skip


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "import"])
def test_an_arrival_names_a_person_registered_before_it_in_the_ledger_or_the_file(
    ledger: Traject, tmp_path: Path, dry_run: bool
) -> None:
    nobody = "00000000-0000-4000-8000-000000000001"
    lines = [
        person("C-1", REFERENT),
        {"kind": "family-reunification-applied", "person": "C-1", "occurred_on": "2024-01-10",
         "members": ["partner", "kind"]},
        person("C-2", MEMBER, household_id=REFERENT),  # 3: registered earlier in the file
        arrival(MEMBER, "2024-05-02"),  # 4
        arrival(nobody, "2024-05-03"),  # 5: no such person
        arrival(LATER, "2024-05-04"),  # 6: registered only by line 8
        arrival(REFERENT, "2024-05-05"),  # 7: the referent themself
        person("C-3", LATER, household_id=REFERENT),  # 8
        {"kind": "event-corrected", "person": "C-1", "target": 3,  # 9: corrected to nobody
         "changes": {"member_person_id": nobody}, "reason": "typo"},
        {"kind": "event-corrected", "person": "C-1", "target": 3,  # 10: to the one of line 8
         "changes": {"member_person_id": LATER}, "reason": "other child"},
    ]  # fmt: skip
    source = write(tmp_path / "arrivals.jsonl", lines)

    assert rejects(ledger, source, dry_run=dry_run, accepted=6) == [
        f"{source}:5: member_person_id: no person {nobody} in this ledger: the nareiziger's "
        "own person id, once registered (register the nareiziger first, or leave "
        "member_person_id out)",
        f"{source}:6: member_person_id: no person {LATER} in this ledger: the nareiziger's "
        "own person id, once registered (register the nareiziger first, or leave "
        "member_person_id out)",
        f"{source}:7: member_person_id: {REFERENT} is the referent's own person id: the "
        "arriving family member is another person (register the nareiziger, and name their "
        "person id)",
        f"{source}:9: changes.member_person_id: no person {nobody} in this ledger: the "
        "nareiziger's own person id, once registered (register the nareiziger first, or leave "
        "member_person_id out)",
    ]
    if not dry_run:
        events = ledger.json("timeline", REFERENT)["events"]
        assert events[2]["effective"]["fields"]["member_person_id"] == LATER


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "import"])
def test_a_household_has_one_referent_as_the_file_builds_it(
    ledger: Traject, tmp_path: Path, dry_run: bool
) -> None:
    lines = [
        person("C-1", REFERENT),
        person("C-2", MEMBER, household_id=REFERENT),
        person("C-3", LATER, household_id=MEMBER),  # 3: the member heads no household
        person("C-4", LATER),
        {"kind": "event-corrected", "person": "C-1", "target": 1,  # 5: a referent with members
         "changes": {"household_id": LATER}, "reason": "one family"},
    ]  # fmt: skip
    source = write(tmp_path / "household.jsonl", lines)

    assert rejects(ledger, source, dry_run=dry_run, accepted=3) == [
        f"{source}:3: household_id: person {MEMBER} is a member of the household of "
        f"{REFERENT}, not its referent: a household has one referent, and a member heads no "
        f"household of their own (name the referent {REFERENT} as the household)",
        f"{source}:5: changes.household_id: person {REFERENT} is the referent of a household "
        f"with members {MEMBER}: a household has one referent, and a referent is a member of no "
        "other household (correct the members' household_id first)",
    ]
