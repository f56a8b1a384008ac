"""An AMIF enrolment stays inside its project's eligibility window, whichever side is corrected.

The enrolment lives on the person's stream, the window on the project's, so the rule is checked
from both sides: a correction of the window against every effective enrolment of the project,
a correction of an enrolment against the project. On SQLite and on PostgreSQL, written one by
one and in batches (``traject import``, ``--dry-run`` included), and against a second writer
acting between the check and the write.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

import pytest
from builders import enrolment_fields, person_fields, project_fields

from ledger import events as ev
from ledger.aggregates import project_stream
from ledger.application import TrajectoryLedger
from ledger.batch import BatchWriter, Write
from ledger.config import parse_database_url
from ledger.errors import EnrolmentsOutsideWindowError, RuleViolationError

# the project's window is 2024-01-01 to 2026-12-31 (builders.project_fields)
PROJECT = ev.StreamKind.PROJECT


def new_project(app) -> str:
    code = f"W{uuid4().hex[:7].upper()}"
    app.record_for_project(code, ev.ProjectRegistered, **project_fields(code))
    return code


def enrolled(app, code: str, on: date) -> tuple[UUID, int]:
    """A new person enrolled in ``code`` on ``on``: (person, version of the enrolment)."""
    person = app.register_person(**person_fields()).stream_id
    fields = enrolment_fields(code, occurred_on=on, checked_on=on)
    return person, app.record(person, ev.ParticipantEnrolled, **fields).version


def correct_window(app, code: str, **changes: str):
    return app.correct(ev.project_stream_id(code), 1, changes, reason="window per grant decision")


def window(app, code: str) -> tuple[date, date]:
    registered = app.timeline(ev.project_stream_id(code)).entries[0].effective
    return registered.eligibility_from, registered.eligibility_to


def version_of(app, stream: UUID) -> int:
    return len(app.timeline(stream).entries)


# --- a correction of the window ------------------------------------------------------------------


def test_a_window_correction_that_strands_an_enrolment_is_refused_naming_it(app):
    code = new_project(app)
    person, version = enrolled(app, code, date(2024, 5, 1))
    enrolled(app, code, date(2024, 9, 2))  # still inside the corrected window

    with pytest.raises(EnrolmentsOutsideWindowError) as refused:
        correct_window(app, code, eligibility_from="2024-06-01")

    error = refused.value
    assert error.field == "eligibility_from"
    assert [(e.person_id, e.version, e.occurred_on) for e in error.outside] == [
        (person, version, date(2024, 5, 1))
    ]
    assert str(error) == (
        f"ProjectRegistered: eligibility_from: every enrolment must fall in {code}'s eligibility "
        "window; the corrected window 2024-06-01 to 2026-12-31 would leave 1 enrolment outside "
        f"it: person {person} v{version} enrolled on 2024-05-01 — correct or retract those "
        "enrolments first, or keep the window around them"
    )
    # nothing was written: the project still has its first window
    assert version_of(app, ev.project_stream_id(code)) == 1
    assert window(app, code) == (date(2024, 1, 1), date(2026, 12, 31))


def test_a_window_correction_names_each_bound_and_every_stranded_enrolment(app):
    code = new_project(app)
    early, _ = enrolled(app, code, date(2024, 2, 1))
    late, _ = enrolled(app, code, date(2026, 3, 1))

    with pytest.raises(EnrolmentsOutsideWindowError) as refused:
        correct_window(app, code, eligibility_from="2024-03-01", eligibility_to="2025-12-31")

    assert refused.value.field == "eligibility_from, eligibility_to"
    assert [e.person_id for e in refused.value.outside] == [early, late]
    assert "would leave 2 enrolments outside it" in str(refused.value)


def test_a_window_correction_that_keeps_every_enrolment_inside_is_accepted(app):
    code = new_project(app)
    enrolled(app, code, date(2024, 5, 1))
    enrolled(app, code, date(2025, 6, 30))

    correct_window(app, code, eligibility_from="2024-05-01", eligibility_to="2025-06-30")

    assert window(app, code) == (date(2024, 5, 1), date(2025, 6, 30))


def test_a_retracted_enrolment_does_not_hold_the_window(app):
    code = new_project(app)
    person, version = enrolled(app, code, date(2024, 2, 1))
    app.retract(person, version, reason="enrolled in the wrong project")

    correct_window(app, code, eligibility_from="2024-03-01")

    assert window(app, code)[0] == date(2024, 3, 1)


def test_a_corrected_enrolment_holds_the_window_by_its_current_date_and_project(app):
    code = new_project(app)
    other = new_project(app)
    moved, moved_version = enrolled(app, code, date(2024, 2, 1))
    app.correct(moved, moved_version, {"occurred_on": "2024-04-01"}, reason="date typo")
    elsewhere, elsewhere_version = enrolled(app, code, date(2024, 2, 15))
    app.correct(elsewhere, elsewhere_version, {"project_id": other}, reason="other project")

    # 2024-02-01 and 2024-02-15 no longer count for the project: accepted
    correct_window(app, code, eligibility_from="2024-03-01")
    # the corrected date does
    with pytest.raises(EnrolmentsOutsideWindowError) as refused:
        correct_window(app, code, eligibility_from="2024-05-01")
    assert [(e.person_id, e.occurred_on) for e in refused.value.outside] == [
        (moved, date(2024, 4, 1))
    ]


def test_an_enrolment_outside_the_window_already_does_not_block_a_correction(app):
    """As for later facts on one stream: only what the correction breaks counts."""
    code = new_project(app)
    person = app.register_person(**person_fields()).stream_id
    # an enrolment before the window, as an earlier release could have written it
    trajectory = app.repository.get(person, projector_func=project_stream)
    fields = enrolment_fields(code, occurred_on=date(2023, 6, 1), checked_on=date(2023, 6, 1))
    event = app.build_event(trajectory, ev.ParticipantEnrolled, fields)
    trajectory.apply(event)
    trajectory.pending.append(event)
    app.save(trajectory)

    correct_window(app, code, eligibility_to="2025-12-31")

    assert window(app, code)[1] == date(2025, 12, 31)


def test_a_correction_of_another_field_of_the_project_reads_no_enrolment(app, monkeypatch):
    code = new_project(app)
    enrolled(app, code, date(2024, 5, 1))
    monkeypatch.setattr(app, "enrolments", lambda *args: pytest.fail("enrolments were read"))

    correct_window(app, code, title="Meedoen Werkt 2", eligibility_to="2027-06-30")

    assert window(app, code)[1] == date(2027, 6, 30)


# --- a correction of an enrolment ----------------------------------------------------------------


def test_an_enrolment_corrected_to_a_date_outside_the_window_is_refused(app):
    code = new_project(app)
    person, version = enrolled(app, code, date(2024, 5, 1))

    with pytest.raises(RuleViolationError) as refused:
        app.correct(person, version, {"occurred_on": "2023-12-15"}, reason="date typo")

    assert str(refused.value) == (
        f"ParticipantEnrolled: occurred_on: enrolment must fall in {code}'s eligibility window "
        "2024-01-01 to 2026-12-31"
    )
    assert version_of(app, person) == version
    # inside the window: accepted
    app.correct(person, version, {"occurred_on": "2024-01-02"}, reason="date typo")


def test_an_enrolment_moved_to_another_project_meets_that_projects_window(app):
    code = new_project(app)
    narrow = f"N{uuid4().hex[:7].upper()}"
    app.record_for_project(
        narrow,
        ev.ProjectRegistered,
        **project_fields(narrow, eligibility_from=date(2025, 1, 1)),
    )
    person, version = enrolled(app, code, date(2024, 5, 1))

    with pytest.raises(RuleViolationError, match=f"project_id: enrolment must fall in {narrow}'s"):
        app.correct(person, version, {"project_id": narrow}, reason="other project")
    with pytest.raises(RuleViolationError, match="project_id: no project NOPE1 is registered"):
        app.correct(person, version, {"project_id": "NOPE1"}, reason="other project")
    assert version_of(app, person) == version


def test_a_correction_of_another_field_of_an_enrolment_is_not_judged_by_the_window(app):
    code = new_project(app)
    person, version = enrolled(app, code, date(2024, 5, 1))
    correct_window(app, code, eligibility_to="2026-06-30")

    recorded = app.correct(person, version, {"consent_ref": "CONSENT-2"}, reason="new consent")

    assert recorded.kind == "EventCorrected"


# --- the import path -----------------------------------------------------------------------------


def window_line(code: str, **changes: str) -> Write:
    return Write(
        ev.EventCorrected,
        {"occurred_on": date(2026, 1, 5)},
        code,
        target=1,
        changes=changes,
        reason="window per grant decision",
        stream=PROJECT,
    )


def enrolment_line(person: UUID, code: str, on: date) -> Write:
    return Write(
        ev.ParticipantEnrolled, enrolment_fields(code, occurred_on=on, checked_on=on), person
    )


@pytest.mark.parametrize("dry_run", [False, True], ids=["import", "dry-run"])
def test_an_imported_window_correction_that_strands_an_enrolment_is_rejected(app, dry_run):
    code = new_project(app)
    person, version = enrolled(app, code, date(2024, 5, 1))

    outcomes = BatchWriter(app, dry_run=dry_run).write(
        [window_line(code, eligibility_from="2024-06-01")]
    )

    assert isinstance(outcomes[0], EnrolmentsOutsideWindowError), outcomes
    assert f"person {person} v{version} enrolled on 2024-05-01" in str(outcomes[0])
    assert version_of(app, ev.project_stream_id(code)) == 1


@pytest.mark.parametrize("dry_run", [False, True], ids=["import", "dry-run"])
def test_an_import_judges_a_window_by_the_enrolments_of_the_lines_before_it(app, dry_run):
    code = new_project(app)
    person = app.register_person(**person_fields()).stream_id
    later = app.register_person(**person_fields()).stream_id
    enrolment = version_of(app, person) + 1
    writer = BatchWriter(app, dry_run=dry_run)

    outcomes = writer.write(
        [
            enrolment_line(person, code, date(2024, 2, 1)),
            window_line(code, eligibility_from="2024-03-01"),  # strands the line before
            Write(
                ev.EventCorrected,
                {},
                person,
                target=enrolment,
                changes={"occurred_on": "2024-03-15"},
                reason="date typo",
            ),
            window_line(code, eligibility_from="2024-03-01"),  # now it fits
            enrolment_line(later, code, date(2024, 2, 20)),  # outside the corrected window
            Write(  # and an enrolment may not be corrected out of it
                ev.EventCorrected,
                {},
                person,
                target=enrolment,
                changes={"occurred_on": "2024-02-15"},
                reason="date typo",
            ),
        ]
    )

    refused, fitted, accepted, late, moved_out = outcomes[1:]
    assert isinstance(refused, EnrolmentsOutsideWindowError), refused
    assert [(e.person_id, e.occurred_on) for e in refused.outside] == [(person, date(2024, 2, 1))]
    assert fitted.kind == "EventCorrected" and accepted.kind == "EventCorrected"
    assert isinstance(late, RuleViolationError) and late.field == "occurred_on", late
    assert "2024-03-01 to 2026-12-31" in str(late)
    assert isinstance(moved_out, RuleViolationError) and moved_out.field == "occurred_on"
    assert window(app, code)[0] == (date(2024, 1, 1) if dry_run else date(2024, 3, 1))


@pytest.mark.parametrize("dry_run", [False, True], ids=["import", "dry-run"])
def test_an_imported_enrolment_correction_outside_the_window_is_rejected(app, dry_run):
    code = new_project(app)
    person, version = enrolled(app, code, date(2024, 5, 1))
    line = Write(
        ev.EventCorrected,
        {},
        person,
        target=version,
        changes={"occurred_on": "2023-12-15"},
        reason="date typo",
    )

    outcomes = BatchWriter(app, dry_run=dry_run).write([line])

    assert isinstance(outcomes[0], RuleViolationError), outcomes
    assert outcomes[0].field == "occurred_on"
    assert version_of(app, person) == version


# --- a second writer between the check and the write --------------------------------------------


class WindowCorrectedDuringTheCheck(TrajectoryLedger):
    """A ledger on which another writer narrows a project's window right after this ledger has
    read the project for an enrolment, before the enrolment is written: the race of two real
    writers, made to happen every time."""

    name = TrajectoryLedger.name  # the same tables

    def __init__(self, *args, other: TrajectoryLedger, project: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.other, self.project, self.raced = other, project, 0

    def narrow(self) -> None:
        if not self.raced:
            self.raced += 1
            correct_window(self.other, self.project, eligibility_from="2024-06-01")

    def _guarded_project(self, code, guards):
        project = super()._guarded_project(code, guards)
        self.narrow()
        return project


class BatchMeetingANarrowedWindow(BatchWriter):
    """A batch writer whose ledger's window is narrowed right after the batch read it."""

    app: WindowCorrectedDuringTheCheck

    def _project(self, code):
        project = super()._project(code)
        self.app.narrow()
        return project


class EnrolledDuringTheCheck(TrajectoryLedger):
    """A ledger on which another writer enrols a person right after this ledger has read a
    project's enrolments for a correction of its window, before the correction is written."""

    name = TrajectoryLedger.name

    def __init__(self, *args, other: TrajectoryLedger, project: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.other, self.project, self.raced = other, project, 0
        self.person: UUID | None = None

    def enrolments(self, project, guards=None, **options):
        found = super().enrolments(project, guards, **options)
        if not self.raced:
            self.raced += 1
            self.person, _ = enrolled(self.other, self.project, date(2024, 5, 1))
        return found


@pytest.fixture
def racing(make_app, database_url, master_key):
    ledgers: list[TrajectoryLedger] = []

    def make(cls: type[TrajectoryLedger], project: str) -> TrajectoryLedger:
        env = parse_database_url(database_url).library_env
        ledger = cls(env, master_key, other=make_app(), project=project)
        ledger.initialise(default_municipality="GM0622")
        ledgers.append(ledger)
        return ledger

    yield make
    for ledger in ledgers:
        ledger.close()


@pytest.mark.parametrize("batch", [False, True], ids=["record", "import"])
def test_an_enrolment_meets_a_window_narrowed_between_its_check_and_its_write(app, racing, batch):
    code = new_project(app)
    person = app.register_person(**person_fields()).stream_id
    ledger = racing(WindowCorrectedDuringTheCheck, code)
    fields = enrolment_fields(code, occurred_on=date(2024, 5, 1), checked_on=date(2024, 5, 1))

    if batch:
        writer = BatchMeetingANarrowedWindow(ledger)
        outcome = writer.write([Write(ev.ParticipantEnrolled, fields, person)])[0]
    else:
        with pytest.raises(RuleViolationError) as refused:
            ledger.record(person, ev.ParticipantEnrolled, **fields)
        outcome = refused.value

    assert ledger.raced == 1
    # the append saw the project move on, checked again against the corrected window
    assert isinstance(outcome, RuleViolationError), outcome
    assert "eligibility window 2024-06-01 to 2026-12-31" in str(outcome)
    assert version_of(app, person) == 1


@pytest.mark.parametrize("batch", [False, True], ids=["record", "import"])
def test_a_window_correction_meets_an_enrolment_recorded_between_its_check_and_its_write(
    app, racing, batch
):
    code = new_project(app)
    ledger = racing(EnrolledDuringTheCheck, code)

    if batch:
        outcome = BatchWriter(ledger).write([window_line(code, eligibility_from="2024-06-01")])[0]
    else:
        with pytest.raises(EnrolmentsOutsideWindowError) as refused:
            correct_window(ledger, code, eligibility_from="2024-06-01")
        outcome = refused.value

    assert ledger.raced == 1
    # the append saw an enrolment stored since its read, read them again, and refused
    assert isinstance(outcome, EnrolmentsOutsideWindowError), outcome
    assert [e.person_id for e in outcome.outside] == [ledger.person]
    assert version_of(app, ev.project_stream_id(code)) == 1
