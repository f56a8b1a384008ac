"""ledger.batch: a fact refused by a rule that reads another stream (a household's referent, an
enrolment's project) is refused on what the store holds, not on the writer's cached copy.

Two writers on one store (an SQLite file, a PostgreSQL schema), each with its own ledger handle:
writer A caches a stream, writer B changes it so that A's next line becomes valid, and A's line
is accepted, in a real import and in a dry run, and also when an earlier line of A's batch read
the old copy (the whole batch is then checked again).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID, uuid4

import pytest
from builders import enrolment_fields, person_fields, project_fields, referent_with_a_file

from ledger import events as ev
from ledger.application import Recorded, TrajectoryLedger
from ledger.batch import BatchWriter, Write
from ledger.errors import RuleViolationError

DRY = pytest.mark.parametrize("dry_run", [False, True], ids=["import", "dry-run"])


def register(app: TrajectoryLedger, **overrides: object) -> UUID:
    return app.register_person(**person_fields(**overrides)).stream_id


def joining(household: UUID) -> Write:
    """A new person's registration into ``household``."""
    return Write(ev.PersonRegistered, person_fields(household_id=household))


def outcome_kinds(outcomes: list) -> list[str]:
    return [type(o).__name__ for o in outcomes]


@DRY
def test_a_registration_refused_on_a_cached_referent_is_accepted_once_the_store_allows_it(
    app: TrajectoryLedger, make_app, dry_run: bool
) -> None:
    other = make_app()  # writer B: its own handle on the same store
    head = register(other)
    member = register(other, household_id=head)
    writer = BatchWriter(app, dry_run=dry_run)

    # A reads the member as one of head's household: a registration into hers is refused
    (first,) = writer.write([joining(member)])
    assert isinstance(first, RuleViolationError) and first.field == "household_id"
    assert f"member of the household of {head}" in first.rule
    # B makes her head her own household; A still holds her as head's member
    other.correct(member, 1, {"household_id": str(member)}, reason="own household")

    (second,) = writer.write([joining(member)])

    assert isinstance(second, Recorded), second
    joined = [] if dry_run else [second.stream_id]
    assert app.household_members(member, make_links=False) == joined


class CountingWriter(BatchWriter):
    """A batch writer that counts how often it checked a batch (once per attempt)."""

    attempts = 0

    def _prefetch(self, writes: Sequence[Write]) -> None:
        self.attempts += 1
        super()._prefetch(writes)


def test_a_batch_whose_earlier_line_read_the_old_copy_is_checked_again_as_a_whole(
    app: TrajectoryLedger, make_app
) -> None:
    """The refused line's rules read the stream again; an earlier line of the batch was
    accepted on the old copy, so the whole batch is checked again on the stored streams
    before it is saved (its save is guarded on the version the stream has now)."""
    other = make_app()
    head = register(other)
    member = register(other, household_id=head)
    referent = referent_with_a_file(other)
    writer = CountingWriter(app)
    assert outcome_kinds(writer.write([joining(member)])) == ["RuleViolationError"]
    other.correct(member, 1, {"household_id": str(member)}, reason="own household")

    arrival = {"occurred_on": date(2024, 5, 2), "relation": "partner", "member_person_id": member}
    writer.attempts = 0
    outcomes = writer.write(
        [
            Write(ev.NareizigerArrived, arrival, subject=referent),  # reads her as cached
            joining(member),  # refused as cached, allowed as stored
        ]
    )

    assert outcome_kinds(outcomes) == ["Recorded", "Recorded"]
    assert writer.attempts == 2
    assert app.household_members(member) == [outcomes[1].stream_id]
    assert len(app.timeline(referent).entries) == 3


@DRY
def test_an_enrolment_refused_on_a_cached_window_is_accepted_once_the_window_is_corrected(
    app: TrajectoryLedger, make_app, dry_run: bool
) -> None:
    other = make_app()
    code = f"W{uuid4().hex[:7].upper()}"
    other.record_for_project(code, ev.ProjectRegistered, **project_fields(code))
    person = register(other)
    early = date(2023, 9, 1)  # before the window's start, 2024-01-01 (builders.project_fields)
    line = Write(
        ev.ParticipantEnrolled, enrolment_fields(code, occurred_on=early, checked_on=early), person
    )
    writer = BatchWriter(app, dry_run=dry_run)

    (first,) = writer.write([line])  # A now holds the project with its window
    assert isinstance(first, RuleViolationError)
    other.correct(
        ev.project_stream_id(code),
        1,
        {"eligibility_from": "2023-01-01"},
        reason="per grant decision",
    )

    (second,) = writer.write([line])

    assert isinstance(second, Recorded), second
    enrolled = [] if dry_run else [person]
    assert [e.person_id for e in app.enrolments(ev.project_stream_id(code))] == enrolled


def test_a_refusal_the_store_upholds_is_reported_once(app: TrajectoryLedger, make_app) -> None:
    other = make_app()
    head = register(other)
    member = register(other, household_id=head)
    writer = BatchWriter(app)
    assert outcome_kinds(writer.write([joining(member)])) == ["RuleViolationError"]
    other.record(member, ev.LadderAssessed, occurred_on=date(2025, 3, 1), rung=2, assessor="x")

    outcomes = writer.write([joining(member), joining(member)])  # she is still head's member

    assert outcome_kinds(outcomes) == ["RuleViolationError", "RuleViolationError"]
    assert app.household_members(member) == []
