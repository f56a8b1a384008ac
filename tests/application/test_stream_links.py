"""The streams that name a household's referent or enrol in an AMIF project, from
``traject_stream_links``: written with the events, in their transaction, on SQLite and on
PostgreSQL; made and filled once on a ledger of an earlier release (interrupted: nothing; run
again: the same rows); read by the household and enrolment checks instead of a scan of the
events table, and giving what the scan gives (an erased person included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from uuid import UUID, uuid4

import pytest
from builders import (
    close_case_long_ago,
    enrolment_fields,
    linked_person,
    person_fields,
    project_fields,
)

from ledger import events as ev
from ledger import persistence
from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.errors import RuleViolationError

LINKS = "SELECT target, stream_id FROM {p}traject_stream_links"


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    """A ledger of the test's own (on PostgreSQL a fresh schema, not the run's): its table
    can be dropped, as a ledger of an earlier release lacks it, and its rows are all the
    test's."""
    if backend == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_schemas").fresh("traject_links"))


@pytest.fixture
def opened(
    make_app, database_url: str, master_key: bytes
) -> Iterator[Callable[[], TrajectoryLedger]]:
    """Open the test's ledger as a command does (no tables made: that is `traject init`'s)."""
    ledgers: list[TrajectoryLedger] = []

    def open_() -> TrajectoryLedger:
        env = {**parse_database_url(database_url).library_env, "CREATE_TABLE": "no"}
        ledger = TrajectoryLedger(env, master_key)
        ledgers.append(ledger)
        return ledger

    yield open_
    for ledger in ledgers:
        ledger.close()


def register(app, **overrides) -> UUID:
    return app.register_person(**person_fields(**overrides)).stream_id


def housed_referent(app, on: date) -> UUID:
    """A person linked by the COA and housed on ``on`` (version 4)."""
    person = linked_person(app)
    app.record(person, ev.Housed, occurred_on=on, housing_kind="regulier", route="koppeling")
    return person


def nareiziger(app, referent: UUID, on: date) -> UUID:
    """A member of ``referent``'s household, housed by nareis on ``on`` (version 2)."""
    member = register(app, household_id=referent)
    app.record(member, ev.Housed, occurred_on=on, housing_kind="regulier", route="nareis")
    return member


def new_project(app) -> str:
    code = f"L{uuid4().hex[:7].upper()}"
    app.record_for_project(code, ev.ProjectRegistered, **project_fields(code))
    return code


def enrol(app, person: UUID, code: str) -> int:
    on = date(2024, 5, 1)
    fields = enrolment_fields(code, occurred_on=on, checked_on=on)
    return app.record(person, ev.ParticipantEnrolled, **fields).version


def links(raw) -> set[tuple[str, str]]:
    return {(str(target), str(stream)) for target, stream in raw.query(LINKS)}


def table_exists(raw) -> bool:
    if raw.pg is None:
        found = raw.query("SELECT name FROM sqlite_master WHERE name = 'traject_stream_links'")
        return bool(found)
    (row,) = raw.query("SELECT to_regclass(?) IS NOT NULL", [f"{raw.prefix}traject_stream_links"])
    return bool(row[0])


def scanned(app: TrajectoryLedger) -> TrajectoryLedger:
    """``app`` as a user who may not make the table (PostgreSQL: not the tables' owner)
    reads: every check scans the events table."""
    app.tables.stream_links_seen = False
    app.tables.stream_links_refused = True
    return app


def households(app, referents) -> dict[UUID, list[UUID]]:
    return {referent: app.household_members(referent) for referent in referents}


def test_links_are_written_with_the_facts_that_name_a_household_or_a_project(app, make_app, raw):
    referent, other = register(app), register(app)
    member = register(app, household_id=referent)
    joined, left = register(app), register(app, household_id=referent)
    # joined by a correction that writes the referent's id in capitals, without hyphens
    app.correct(joined, 1, {"household_id": referent.hex.upper()}, reason="family")
    app.correct(left, 1, {"household_id": str(other)}, reason="other family")
    head = register(app)
    app.correct(head, 1, {"household_id": str(head)}, reason="heads their own")
    first, second = new_project(app), new_project(app)
    enrolled = register(app)
    version = enrol(app, enrolled, first)
    moved = register(app)
    app.correct(moved, enrol(app, moved, first), {"project_id": second.lower()}, reason="typo")

    project = {code: str(ev.project_stream_id(code)) for code in (first, second)}
    assert links(raw) == {
        (str(referent), str(member)),
        (str(referent), str(joined)),
        (str(referent), str(left)),  # named once: the check reads the correction away
        (str(other), str(left)),
        (str(head), str(head)),
        (project[first], str(enrolled)),
        (project[first], str(moved)),
        (project[second], str(moved)),
    }
    # the checks give what a scan of the events table gives
    assert app.household_members(referent) == sorted([member, joined])
    assert app.household_members(other) == [left]
    enrolments = {code: app.enrolments(ev.project_stream_id(code)) for code in project}
    assert [(e.person_id, e.version) for e in enrolments[first]] == [(enrolled, version)]
    assert [e.person_id for e in enrolments[second]] == [moved]
    reader = scanned(make_app())
    assert households(reader, [referent, other, head]) == households(app, [referent, other, head])
    assert {code: reader.enrolments(ev.project_stream_id(code)) for code in project} == enrolments


def test_a_refused_fact_leaves_no_link(app, raw):
    referent = housed_referent(app, date(2024, 3, 1))
    member = nareiziger(app, referent, date(2024, 3, 5))
    before = links(raw)
    with pytest.raises(RuleViolationError, match="members rest on an earlier housing"):
        app.retract(referent, 4, reason="wrong person")
    # a registration into the household of no registered person: refused, with no link
    with pytest.raises(RuleViolationError, match="household_id"):
        register(app, household_id=uuid4())
    assert links(raw) == before
    assert (str(referent), str(member)) in before


def test_an_earlier_ledger_gets_the_table_made_and_filled_once_by_its_first_check(
    app, opened, raw, monkeypatch
):
    referent = housed_referent(app, date(2024, 3, 1))
    member = nareiziger(app, referent, date(2024, 3, 5))
    code = new_project(app)
    enrolled = register(app)
    enrol(app, enrolled, code)
    written = links(raw)
    raw.query("DROP TABLE {p}traject_stream_links")  # as an earlier release made it
    ledger = opened()
    # facts recorded before the table is there are found by the filling
    late = register(ledger, household_id=referent)
    assert not table_exists(raw)
    # interrupted while filling: nothing is left, and the check fails as it did
    calls, original = [], persistence.stream_links

    def interrupted(stored):
        calls.append(stored)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return original(stored)

    monkeypatch.setattr(persistence, "stream_links", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ledger.household_members(referent)
    assert not table_exists(raw)
    monkeypatch.undo()
    # run again: made and filled, and the check reads it
    assert ledger.household_members(referent) == sorted([member, late])
    filled = links(raw)
    assert filled == written | {(str(referent), str(late))}
    # once there, it is not filled again, and new facts add their own links
    assert ledger.tables.ensure_stream_links() is True
    assert opened().tables.ensure_stream_links() is True
    assert links(raw) == filled
    newest = register(ledger, household_id=referent)
    assert links(raw) == filled | {(str(referent), str(newest))}
    with pytest.raises(RuleViolationError, match=str(member)):
        ledger.retract(referent, 4, reason="wrong person")


def test_without_the_table_the_checks_scan_and_refuse_the_same(app, opened, raw):
    referent = housed_referent(app, date(2024, 3, 1))
    member = nareiziger(app, referent, date(2024, 3, 5))
    raw.query("DROP TABLE {p}traject_stream_links")
    ledger = scanned(opened())
    later = nareiziger(ledger, referent, date(2024, 3, 9))
    assert ledger.household_members(referent) == sorted([member, later])
    with pytest.raises(RuleViolationError, match="members rest on an earlier housing"):
        ledger.correct(referent, 4, {"occurred_on": "2024-03-07"}, reason="typo")
    assert not table_exists(raw)


def test_an_erased_members_link_stays_as_the_ids_in_its_events_do(app, make_app, raw):
    referent = register(app)
    member = register(app, household_id=referent, name="Te Vergeten Persoon")
    close_case_long_ago(app, member)
    app.shred(member, approved_by="privacy officer")
    # the household id is no personal field: in clear in the registration, and so in the table
    assert (str(referent), str(member)) in links(raw)
    assert app.household_members(referent) == [member]
    assert scanned(make_app()).household_members(referent) == [member]


class MemberJoinedDuringTheCheck(TrajectoryLedger):
    """A ledger on which another writer registers a nareiziger into a referent's household,
    and houses them, right after this ledger has read the household's members for a
    correction of the referent's housing, before the correction is written."""

    name = TrajectoryLedger.name

    def __init__(self, *args, other: TrajectoryLedger, referent: UUID, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.other, self.referent, self.raced = other, referent, 0
        self.member: UUID | None = None

    def household_members(self, referent, guards=None, **options):
        found = super().household_members(referent, guards, **options)
        if not self.raced:
            self.raced += 1
            self.member = nareiziger(self.other, self.referent, date(2024, 3, 5))
        return found


def test_a_referents_housing_correction_meets_a_member_who_joined_during_its_check(
    app, make_app, database_url, master_key
):
    referent = housed_referent(app, date(2024, 3, 1))
    env = parse_database_url(database_url).library_env
    ledger = MemberJoinedDuringTheCheck(env, master_key, other=make_app(), referent=referent)
    try:
        with pytest.raises(RuleViolationError) as refused:
            ledger.correct(referent, 4, {"occurred_on": "2024-03-07"}, reason="typo")
        assert ledger.raced == 1
        # the append saw a registration stored since its read, read the links again, and
        # refused on the member's housing
        assert f"Housed v2 of {ledger.member} on 2024-03-05" in str(refused.value)
        assert len(app.timeline(referent).entries) == 4
    finally:
        ledger.close()
