"""A reunification file's members once arrived or granted stay applied for: a member of the
file arrives once, and a correction of the application that removes a member already arrived
or granted is refused, by `traject record`, `traject correct` and `traject import` alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import Traject, imported_with_rejects, initialised_ledger, last_line, refused


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Traject:
    return initialised_ledger(request, tmp_path, "traject_reunification_members")


def arrival(person: str, relation: str, on: str = "2024-07-01") -> tuple[str, ...]:
    return ("record", "nareiziger-arrived", person, "--on", on, "--relation", relation)


ONCE = (
    "an arrival is of a member applied for, and a member arrives once (correct the application "
    "when a member is missing from it)"
)


def test_a_member_of_the_file_arrives_once(store: Traject) -> None:
    referent = store.register()
    store.ok("record", "family-reunification-applied", referent, "--on", "2024-04-01",
             "--members", "partner", "--members", "kind", "--members", "kind",
             "--no-late")  # fmt: skip
    store.ok(*arrival(referent, "partner"))
    refused(
        store,
        *arrival(referent, "partner", "2024-07-02"),
        stderr="NareizigerArrived: --relation: partner: file 1 applied for 1 member of that "
        f"relation, who arrived already (v3): {ONCE}",
    )  # fmt: skip
    # two children applied for: both arrive, a third does not
    store.ok(*arrival(referent, "kind"))
    store.ok(*arrival(referent, "kind", "2024-07-03"))
    refused(
        store,
        *arrival(referent, "kind", "2024-07-04"),
        stderr="NareizigerArrived: --relation: kind: file 1 applied for 2 members of that "
        f"relation, who arrived already (v4, v5): {ONCE}",
    )  # fmt: skip


def test_the_application_keeps_the_members_who_arrived(store: Traject) -> None:
    referent = store.register()
    store.ok("record", "family-reunification-applied", referent, "--on", "2024-04-01",
             "--members", "partner", "--members", "kind", "--members", "kind",
             "--no-late")  # fmt: skip
    store.ok(*arrival(referent, "kind"))  # v3
    store.ok(*arrival(referent, "kind", "2024-07-03"))  # v4
    # one child fewer applied for: the second arrival would be of no member applied for
    result = store("correct", referent, "2", "--set", "members=partner", "--set", "members=kind",
                   "--reason", "typo")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        "Error: EventCorrected: --set (changes): later facts would break the rules: v4 "
        "NareizigerArrived of 2024-07-03: relation: kind: file 1 applied for 1 member of that "
        f"relation, who arrived already (v3): {ONCE} — correct or retract v4 first, or make "
        "the corrections in the other order\n"
    )
    # the partner, who has not arrived, may go
    store.ok("correct", referent, "2", "--set", "members=kind", "--set", "members=kind",
             "--reason", "no partner")  # fmt: skip


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "import"])
def test_an_import_keeps_the_members_who_arrived(
    store: Traject, tmp_path: Path, dry_run: bool
) -> None:
    lines = [
        {"kind": "person-registered", "person": "R-1", "occurred_on": "2024-03-01",
         "birth_date": "1990-04-02", "sex": "f", "nationality": ["SY"]},
        {"kind": "family-reunification-applied", "person": "R-1", "occurred_on": "2024-04-01",
         "members": ["partner", "kind"], "late": False},
        {"kind": "nareiziger-arrived", "person": "R-1", "occurred_on": "2024-07-01",
         "relation": "kind"},
        {"kind": "nareiziger-arrived", "person": "R-1", "occurred_on": "2024-07-02",
         "relation": "kind"},  # 4: the one child arrived already
        {"kind": "event-corrected", "person": "R-1", "target": 2,  # 5: the child removed
         "changes": {"members": ["partner"]}, "reason": "typo"},
    ]  # fmt: skip
    source = tmp_path / "files.jsonl"
    result, rejected = imported_with_rejects(store, source, lines, dry_run=dry_run)
    assert rejected == [
        f"{source}:4: relation: kind: file 1 applied for 1 member of that relation, who "
        f"arrived already (v3): {ONCE}",
        f"{source}:5: changes: later facts would break the rules: v3 NareizigerArrived of "
        "2024-07-01: relation: kind: file 1 applied for no member of that relation (partner); "
        "an mvv and an arrival are of a member applied for (correct the application when a "
        "member is missing from it) — correct or retract v3 first, or make the corrections in "
        "the other order",
    ]
    verb = "valid" if dry_run else "written"
    assert last_line(result.stdout).startswith(f"3 {verb}, 0 skipped (already present), 2 rejected")
