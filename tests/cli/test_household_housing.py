"""A household member's housing rests on the referent's: a nareis housing, or a first tenancy
without a koppeling, is dated on or after the referent's first housing, and a nareis housing is
in the municipality of the referent's home on that day. `traject record`, `traject correct`,
`traject retract` and `traject import` hold that whichever side changes: the referent's
housing, the member's own facts, or the household the member's registration names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_helpers import (
    Traject,
    days_ago,
    imported_with_rejects,
    initialised_ledger,
    last_line,
    refused,
)

from ledger.households import NAREIS_AFTER_REFERENT, NAREIS_WITH_REFERENT


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Traject:
    return initialised_ledger(request, tmp_path, "traject_household_housing")


def housed_referent(store: Traject, on: str, municipality: str = "GM0622") -> str:
    """A statushouder who found a home of their own (v2) in ``municipality`` on ``on``."""
    referent = store.register()
    store.ok("record", "housed", referent, "--on", on, "--housing-kind", "regulier",
             "--route", "eigen", "--municipality", municipality)  # fmt: skip
    return referent


def member_of(store: Traject, referent: str) -> str:
    return store.register("--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY",
                          "--household-id", referent)  # fmt: skip


def nareis(member: str, on: str, *more: str) -> tuple[str, ...]:
    return ("record", "housed", member, "--on", on, "--housing-kind", "regulier", "--route",
            "nareis", *more)  # fmt: skip


def tenancy(member: str, on: str) -> tuple[str, ...]:
    return ("record", "tenancy-signed", member, "--on", on, "--housing-kind", "regulier")


def test_the_referents_housing_is_not_moved_past_a_members_first_tenancy(store: Traject) -> None:
    # the referent is housed (v2); the member signs a tenancy without a koppeling after it
    referent = housed_referent(store, days_ago(8))
    member = member_of(store, referent)
    store.ok(*tenancy(member, days_ago(6)))
    signed = f"TenancySigned v2 of {member} on {days_ago(6)}"

    refused(
        store,
        "correct", referent, "2", "--set", f"occurred_on={days_ago(5)}", "--reason", "typo",
        stderr=f"EventCorrected: --set (changes): the referent would be housed first on "
        f"{days_ago(5)}, but the household's members rest on an earlier housing: {signed}: "
        f"{NAREIS_AFTER_REFERENT} (correct or retract the member's facts first)",
    )  # fmt: skip
    refused(
        store,
        "retract", referent, "2", "--reason", "wrong person",
        stderr="EventRetracted: VERSION (target_version): the referent would no longer be "
        f"housed, but the household's members rest on an earlier housing: {signed}: "
        f"{NAREIS_AFTER_REFERENT} (correct or retract the member's facts first)",
    )  # fmt: skip
    # on the member's day the referent was housed: accepted
    store.ok("correct", referent, "2", "--set", f"occurred_on={days_ago(6)}", "--reason", "typo")


def test_the_referents_move_is_not_corrected_away_from_a_members_nareis_housing(
    store: Traject,
) -> None:
    # the referent is housed in Vlaardingen; the member joins them there
    referent = housed_referent(store, days_ago(12))
    member = member_of(store, referent)
    store.ok(*nareis(member, days_ago(6)))
    # corrected, the referent's home would have been in Rotterdam that day
    refused(
        store,
        "correct", referent, "2", "--set", "municipality=GM0599", "--reason", "typo",
        stderr="EventCorrected: --set (changes): the household's members rest on the "
        f"referent's home: Housed v2 of {member} on {days_ago(6)} in GM0622, where the "
        f"referent's home was then in GM0599: {NAREIS_WITH_REFERENT} (correct or retract the "
        "member's facts first)",
    )  # fmt: skip


def test_a_members_own_koppeling_retracted_leaves_a_tenancy_resting_on_the_referent(
    store: Traject,
) -> None:
    # a member with a koppeling of their own signs a tenancy through it, before the referent
    # is housed
    referent = housed_referent(store, days_ago(8))
    member = store.linked_person()  # v2 permit, v3 koppeling
    store.ok("correct", member, "1", "--set", f"household_id={referent}", "--reason", "family")
    store.ok(*tenancy(member, days_ago(10)))  # v5
    # without the koppeling, the tenancy would be signed before the referent was housed
    refused(
        store,
        "retract", member, "3", "--reason", "linked in error",
        stderr="EventRetracted: VERSION (target_version): TenancySigned v5 of "
        f"{member} on {days_ago(10)} would rest on the housing of the household's referent "
        f"{referent}, first housed on {days_ago(8)}: {NAREIS_AFTER_REFERENT} (correct or "
        "retract the member's facts first)",
    )  # fmt: skip


def refused_joining(store: Traject, person: str, household: str, rule: str) -> None:
    """A correction of ``person``'s household to ``household``, refused for ``rule``."""
    refused(
        store,
        "correct", person, "1", "--set", f"household_id={household}", "--reason", "family",
        stderr=f"PersonRegistered: household_id: {rule} (correct or retract the member's facts "
        "first)",
    )  # fmt: skip


def test_a_person_joins_no_household_housed_after_their_nareis_housing(store: Traject) -> None:
    # the person joined an earlier household and was housed with it
    first = housed_referent(store, days_ago(12))
    person = member_of(store, first)
    store.ok(*nareis(person, days_ago(10)))  # v2
    # another household, housed only after that
    later = housed_referent(store, days_ago(8))
    housing = f"Housed v2 of {person} on {days_ago(10)}"
    refused_joining(
        store, person, later,
        f"{housing} would rest on the housing of the household's referent {later}, first "
        f"housed on {days_ago(8)}: {NAREIS_AFTER_REFERENT}",
    )  # fmt: skip
    # a household housed elsewhere at the time
    elsewhere = housed_referent(store, days_ago(12), "GM0599")
    refused_joining(
        store, person, elsewhere,
        f"{housing} in GM0622 would rest on the home of the household's referent {elsewhere}, "
        f"then in GM0599: {NAREIS_WITH_REFERENT}",
    )  # fmt: skip
    # a household housed in the same municipality before it: accepted
    same = housed_referent(store, days_ago(11))
    store.ok("correct", person, "1", "--set", f"household_id={same}", "--reason", "family")


def test_a_nareis_housing_is_in_the_municipality_of_the_referents_home(store: Traject) -> None:
    referent = housed_referent(store, days_ago(12), "GM0599")
    member = member_of(store, referent)
    refused(
        store,
        *nareis(member, days_ago(6)),
        stderr=f"Housed: --municipality: housed by nareis in GM0622, but the home of the "
        f"household's referent {referent} was in GM0599 on {days_ago(6)}: "
        f"{NAREIS_WITH_REFERENT}",
    )  # fmt: skip
    store.ok(*nareis(member, days_ago(6), "--municipality", "GM0599"))
    # nor is it corrected away from it
    refused(
        store,
        "correct", member, "2", "--set", "municipality=GM0622", "--reason", "typo",
        stderr=f"Housed: municipality: housed by nareis in GM0622, but the home of the "
        f"household's referent {referent} was in GM0599 on {days_ago(6)}: "
        f"{NAREIS_WITH_REFERENT}",
    )  # fmt: skip


# --- the import path -------------------------------------------------------------------------


def registered(key: str, **more: Any) -> dict[str, Any]:
    return {"kind": "person-registered", "person": key, "occurred_on": days_ago(20),
            "birth_date": "1990-04-02", "sex": "f", "nationality": ["SY"], **more}  # fmt: skip


def housed(key: str, on: str, route: str = "eigen", **more: Any) -> dict[str, Any]:
    return {"kind": "housed", "person": key, "occurred_on": on, "housing_kind": "regulier",
            "route": route, **more}  # fmt: skip


REFERENT = "0b09775e-263b-46c5-b8bc-857e0187f13a"
OTHER = "5d3c2a4e-9f61-4b8e-a1d2-3c4b5a6f7e80"


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "import"])
def test_an_import_holds_a_members_housing_to_the_referents(
    store: Traject, tmp_path: Path, dry_run: bool
) -> None:
    lines = [
        registered("R-1", person_id=REFERENT),
        housed("R-1", days_ago(8)),  # 2: the referent's v2
        registered("M-1", household_id=REFERENT),
        {"kind": "tenancy-signed", "person": "M-1", "occurred_on": days_ago(6),
         "housing_kind": "regulier"},  # 4: the member's first tenancy
        {"kind": "event-corrected", "person": "R-1", "target": 2,  # 5: past the tenancy
         "changes": {"occurred_on": days_ago(5)}, "reason": "typo"},
        {"kind": "event-retracted", "person": "R-1", "target": 2,  # 6: no housing at all
         "reason": "wrong person"},
        registered("R-2", person_id=OTHER),
        housed("R-2", days_ago(3)),  # 8
        {"kind": "event-corrected", "person": "M-1", "target": 1,  # 9: joins R-2's household
         "changes": {"household_id": OTHER}, "reason": "other family"},
        housed("M-1", days_ago(5), route="nareis", municipality="GM0599"),  # 10: elsewhere
        {"kind": "event-retracted", "person": "R-1", "target": 99, "reason": "typo"},  # 11
    ]  # fmt: skip
    source = tmp_path / "households.jsonl"
    result, rejected = imported_with_rejects(store, source, lines, dry_run=dry_run)
    assert [line.split(": ")[0:2] for line in rejected] == [
        [f"{source}:5", "changes"],
        [f"{source}:6", "target"],  # the line's key, not the stored target_version
        [f"{source}:9", "changes.household_id"],
        [f"{source}:10", "municipality"],
        [f"{source}:11", "target"],
    ], result.stderr
    assert rejected[0].endswith(f"{NAREIS_AFTER_REFERENT} (correct or retract the member's "
                                "facts first)")  # fmt: skip
    assert "the referent would no longer be housed" in rejected[1]
    assert f"first housed on {days_ago(3)}: {NAREIS_AFTER_REFERENT}" in rejected[2]
    assert (
        f"in GM0599, but the home of the household's referent {REFERENT} was in GM0622"
        in (rejected[3])
    )
    assert rejected[4].endswith("this stream has no version 99: its versions are 1 to 2 (see "
                                "traject timeline)")  # fmt: skip
    verb = "valid" if dry_run else "written"
    assert last_line(result.stdout).startswith(f"6 {verb}, 0 skipped (already present), 5 rejected")
    assert store.event_count() == (0 if dry_run else 6)
