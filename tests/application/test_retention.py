"""Erasure is decided by retention bases and legal holds, on SQLite and on PostgreSQL.

Every date is computed here from this year, so the scenarios stay valid as the years pass: a
case closed twelve years ago has ended its retention, one closed nine years ago has not.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from builders import close_case_long_ago, enrolment_fields, person_fields, project_fields, years_ago

from ledger import events as ev
from ledger.aggregates import dutch_day
from ledger.application import TrajectoryLedger
from ledger.batch import BatchWriter, Write
from ledger.config import parse_database_url
from ledger.errors import (
    PersonNotFoundError,
    RetentionHoldError,
    RuleViolationError,
    StreamNotFoundError,
)
from ledger.values import RetentionBasisKind, add_months


def register(app, **overrides) -> UUID:
    fields = person_fields(occurred_on=years_ago(13), name="Te Wissen Persoon") | overrides
    return app.register_person(**fields).stream_id


def amif_project(app, code: str, *, final_payment_on: date | None = None) -> None:
    """An AMIF 2021–27 project whose eligibility window lay nine to eight years ago."""
    app.record_for_project(
        code,
        ev.ProjectRegistered,
        **project_fields(
            code,
            occurred_on=years_ago(10),
            eligibility_from=years_ago(9, 1, 1),
            eligibility_to=years_ago(8, 12, 31),
        ),
    )
    if final_payment_on is not None:
        app.record_for_project(
            code,
            ev.GrantPaymentReceived,
            occurred_on=final_payment_on,
            payment_ref=f"{code}-SALDO",
            amount="12500.00",
            final=True,
        )


def enrol(app, person: UUID, code: str) -> None:
    on = years_ago(9, 5, 1)
    app.record(
        person, ev.ParticipantEnrolled, **enrolment_fields(code, occurred_on=on, checked_on=on)
    )


def shredded(app, person: UUID) -> bool:
    return app.person(person).erased


# --- legal holds ---------------------------------------------------------------------------------


def test_a_hold_on_the_person_refuses_erasure_until_it_is_released(app):
    person = register(app)
    close_case_long_ago(app, person)
    app.place_hold(person, hold_ref="BZW-2026-014", reason="bezwaar tegen besluit loopt")

    with pytest.raises(RetentionHoldError) as refused:
        app.shred(person, approved_by="privacy officer")
    assert "legal hold BZW-2026-014 on the person is open since" in str(refused.value)
    assert str(refused.value).endswith(": bezwaar tegen besluit loopt")
    assert not shredded(app, person)

    app.release_hold(person, hold_ref="BZW-2026-014", reason="bezwaar afgehandeld")
    assert app.shred(person, approved_by="privacy officer").recorded.kind == "PersonalDataShredded"
    assert shredded(app, person)
    # the holds and their reasons stay readable after erasure: they are not personal data
    kinds = [type(e).__name__ for e in app.stream_events(person)]
    assert kinds[-3:] == ["LegalHoldPlaced", "LegalHoldReleased", "PersonalDataShredded"]


def test_a_hold_reference_is_open_once_and_only_an_open_hold_is_released(app):
    person = register(app)
    app.place_hold(person, hold_ref="ADR-1", reason="audit")
    with pytest.raises(RuleViolationError, match="hold_ref: hold ADR-1 is already open"):
        app.place_hold(person, hold_ref="ADR-1", reason="audit again")
    with pytest.raises(RuleViolationError, match=r"no open hold ADR-2 \(open holds: ADR-1\)"):
        app.release_hold(person, hold_ref="ADR-2", reason="typo")
    app.release_hold(person, hold_ref="ADR-1", reason="audit closed")
    # a released reference may be used again for a new hold
    app.place_hold(person, hold_ref="ADR-1", reason="audit reopened")
    assert [h.hold_ref for h in app.retention(person).holds] == ["ADR-1"]


def test_a_hold_on_a_project_holds_its_participants_only(app):
    amif_project(app, "HOLDP", final_payment_on=years_ago(7, 3, 12))
    participant, bystander = register(app), register(app)
    enrol(app, participant, "HOLDP")
    for person in (participant, bystander):
        close_case_long_ago(app, person)
    app.place_hold("HOLDP", hold_ref="EC-2026-3", reason="verzoek Europese Commissie")

    with pytest.raises(RetentionHoldError, match="legal hold EC-2026-3 on the project HOLDP"):
        app.shred(participant, approved_by="privacy officer")
    app.shred(bystander, approved_by="privacy officer")

    app.release_hold("HOLDP", hold_ref="EC-2026-3", reason="verzoek afgehandeld")
    app.shred(participant, approved_by="privacy officer")
    assert shredded(app, participant)


def test_holds_need_an_existing_person_or_registered_project(app):
    with pytest.raises(StreamNotFoundError, match="no project NOPE in this ledger"):
        app.place_hold("NOPE", hold_ref="X-1", reason="audit")
    with pytest.raises(PersonNotFoundError):
        app.place_hold(ev.project_stream_id("NOPE"), hold_ref="X-1", reason="audit")


# --- retention bases -----------------------------------------------------------------------------


def test_an_open_case_keeps_the_trajectory_file_with_no_end_date(app):
    person = register(app)
    with pytest.raises(RetentionHoldError) as refused:
        app.shred(person, approved_by="privacy officer")
    assert (
        "retention basis trajectory_file is open with no end date yet (the case is not closed"
        in str(refused.value)
    )


def test_the_trajectory_file_is_kept_until_ten_years_after_the_case_closed(app):
    closed_on = years_ago(11, 3, 1)
    kept_until = date(closed_on.year + 10, 3, 1)
    person = register(app)
    app.record(person, ev.CaseClosed, occurred_on=closed_on, reason="moved")

    status = app.retention(person, on=kept_until)
    assert [(b.kind, b.delete_after) for b in status.bases] == [
        (RetentionBasisKind.TRAJECTORY_FILE, kept_until)
    ]
    assert status.delete_after == kept_until
    # on the last day of the term erasure is refused, naming the basis and its date
    with pytest.raises(RetentionHoldError) as refused:
        app.shred(person, approved_by="privacy officer", occurred_on=kept_until)
    assert f"retention basis trajectory_file is open until {kept_until} (case closed on " in str(
        refused.value
    )
    # the day after, it is allowed
    app.shred(person, approved_by="privacy officer", occurred_on=kept_until + timedelta(days=1))
    assert shredded(app, person)


def test_a_reopened_case_opens_the_trajectory_basis_again(app):
    person = register(app)
    close_case_long_ago(app, person)
    app.record(person, ev.CaseReopened, occurred_on=years_ago(1), reason="terug in de gemeente")
    assert app.retention(person).open_bases[0].delete_after is None
    with pytest.raises(RetentionHoldError, match="the case is not closed"):
        app.shred(person, approved_by="privacy officer")


def test_a_death_closes_the_trajectory_file(app):
    died_on = years_ago(11, 6, 30)
    person = register(app)
    app.record(person, ev.Deceased, occurred_on=died_on)
    basis = app.retention(person).bases[0]
    assert basis.delete_after == add_months(died_on, 120)
    assert basis.grounds == f"died on {died_on} + 10 years"
    app.shred(person, approved_by="privacy officer")


def test_amif_evidence_is_kept_until_the_art_82_date_of_the_last_payment(app):
    paid_on = years_ago(7, 3, 12)
    art_82_date = date(paid_on.year + 5, 12, 31)
    person = register(app)
    close_case_long_ago(app, person)  # the trajectory file no longer holds the data
    amif_project(app, "ART82")
    enrol(app, person, "ART82")

    # no final payment recorded: the basis stays open, with no date
    with pytest.raises(RetentionHoldError) as refused:
        app.shred(person, approved_by="privacy officer")
    assert (
        "retention basis amif_evidence ART82 is open with no end date yet (no final payment to "
        "the beneficiary is recorded" in str(refused.value)
    )

    app.record_for_project(
        "ART82", ev.GrantPaymentReceived, occurred_on=years_ago(8), payment_ref="V1", amount="1"
    )
    app.record_for_project(
        "ART82",
        ev.GrantPaymentReceived,
        occurred_on=paid_on,
        payment_ref="SALDO",
        amount="2",
        final=True,
    )
    with pytest.raises(RetentionHoldError, match=f"ART82 is open until {art_82_date}"):
        app.shred(person, approved_by="privacy officer", occurred_on=art_82_date)
    app.shred(person, approved_by="privacy officer", occurred_on=art_82_date + timedelta(days=1))
    assert shredded(app, person)


def test_the_effective_deletion_date_is_the_latest_open_basis(app):
    # trajectory file: closed eleven years ago on 1 March → kept until 1 March last year;
    # AMIF: a project last paid seven years ago → kept until 31 December two years ago, and
    # one last paid six years ago → kept until 31 December last year: the latest wins
    person = register(app)
    app.record(person, ev.CaseClosed, occurred_on=years_ago(11, 3, 1), reason="moved")
    amif_project(app, "EARLY", final_payment_on=years_ago(7, 3, 12))
    amif_project(app, "LATE", final_payment_on=years_ago(6, 5, 20))
    enrol(app, person, "EARLY")
    enrol(app, person, "LATE")
    last_year = years_ago(1).year

    status = app.retention(person, on=date(last_year - 1, 6, 1))
    assert [(b.label, b.delete_after) for b in status.open_bases] == [
        ("trajectory_file", date(last_year, 3, 1)),
        ("amif_evidence EARLY", date(last_year - 1, 12, 31)),
        ("amif_evidence LATE", date(last_year, 12, 31)),
    ]
    assert status.delete_after == date(last_year, 12, 31)
    # later, only the bases still open count
    later = app.retention(person, on=date(last_year, 6, 1))
    assert [b.label for b in later.open_bases] == ["amif_evidence LATE"]
    with pytest.raises(RetentionHoldError) as refused:
        app.shred(person, approved_by="privacy officer", occurred_on=date(last_year, 12, 31))
    assert "EARLY" not in str(refused.value)
    assert "trajectory_file" not in str(refused.value)
    app.shred(person, approved_by="privacy officer", occurred_on=date(last_year + 1, 1, 1))


def test_a_schedule_is_recorded_once_and_never_decides_erasure(app):
    person = register(app)
    close_case_long_ago(app, person)
    first = app.schedule_retention(person)
    again = app.schedule_retention(person)
    assert [r.duplicate for r in first] == [False]
    assert [r.duplicate for r in again] == [True]
    scheduled = [e for e in app.stream_events(person) if isinstance(e, ev.RetentionScheduled)]
    assert [(e.basis, e.delete_after) for e in scheduled] == [
        ("trajectory_file", add_months(years_ago(12), 120))
    ]
    # reopening the case after the schedule: the facts decide, not the recorded schedule
    app.record(person, ev.CaseReopened, occurred_on=years_ago(0, 1, 2))
    with pytest.raises(RetentionHoldError, match="the case is not closed"):
        app.shred(person, approved_by="privacy officer")


# --- a hold placed on a project while a participant is being erased ------------------------------


class HoldPlacedDuringTheCheck(TrajectoryLedger):
    """A ledger on which another writer places a hold on a project right after this ledger
    has judged a participant's retention, before its erasure is written: the race of two
    real writers, made to happen every time."""

    name = TrajectoryLedger.name  # the same tables

    def __init__(self, *args, other: TrajectoryLedger, project: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.other, self.project, self.raced = other, project, 0

    def retention_of(self, trajectory, on, project_stream, **options):
        status = super().retention_of(trajectory, on, project_stream, **options)
        if not self.raced:
            self.raced += 1
            self.other.place_hold(self.project, hold_ref="EC-RACE", reason="audit opened")
        return status


@pytest.fixture
def racing(make_app, database_url, master_key) -> Callable[[str], HoldPlacedDuringTheCheck]:
    def make(project: str) -> HoldPlacedDuringTheCheck:
        env = parse_database_url(database_url).library_env
        ledger = HoldPlacedDuringTheCheck(env, master_key, other=make_app(), project=project)
        ledger.initialise(default_municipality="GM0622")
        return ledger

    return make


def today() -> date:
    return dutch_day(datetime.now(UTC))  # the ledger's day: Europe/Amsterdam


def closed_participant(app, code: str) -> UUID:
    amif_project(app, code, final_payment_on=years_ago(7, 3, 12))
    person = register(app)
    enrol(app, person, code)
    close_case_long_ago(app, person)
    return person


def test_a_hold_placed_on_a_project_during_an_erasure_refuses_it(app, racing):
    code = f"R{uuid4().hex[:6].upper()}"
    person = closed_participant(app, code)
    ledger = racing(code)
    try:
        with pytest.raises(RetentionHoldError, match="legal hold EC-RACE on the project"):
            ledger.shred(person, approved_by="privacy officer")
    finally:
        ledger.close()
    assert ledger.raced == 1
    assert not shredded(app, person)


def test_an_imported_erasure_meets_a_hold_placed_on_its_project_meanwhile(app, racing):
    code = f"R{uuid4().hex[:6].upper()}"
    person = closed_participant(app, code)
    ledger = racing(code)
    try:
        erasure = {"occurred_on": today(), "approved_by": "privacy officer"}
        outcomes = BatchWriter(ledger).write([Write(ev.PersonalDataShredded, erasure, person)])
    finally:
        ledger.close()
    assert ledger.raced == 1
    assert isinstance(outcomes[0], RetentionHoldError), outcomes
    assert "legal hold EC-RACE on the project" in str(outcomes[0])
    assert not shredded(app, person)


def test_a_batch_may_erase_a_participant_and_then_hold_the_project(app):
    """The batch's own later facts on a project its erasure read are no concurrent change."""
    code = f"R{uuid4().hex[:6].upper()}"
    person = closed_participant(app, code)
    erasure = {"occurred_on": today(), "approved_by": "privacy officer"}
    hold = {"occurred_on": today(), "hold_ref": "EC-LATER", "reason": "audit opened"}

    outcomes = BatchWriter(app).write(
        [
            Write(ev.PersonalDataShredded, erasure, person),
            Write(ev.LegalHoldPlaced, hold, code, stream=ev.StreamKind.PROJECT),
        ]
    )

    assert [o.kind for o in outcomes] == ["PersonalDataShredded", "LegalHoldPlaced"], outcomes
    assert outcomes[1].stream_id == ev.project_stream_id(code)
    assert shredded(app, person)
