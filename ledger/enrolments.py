"""AMIF enrolments against their project's eligibility window, a rule that reads two streams.

An enrolment (``ParticipantEnrolled``, on the person's stream) must fall in the eligibility
window of its project (``ProjectRegistered``, on the project's stream). No aggregate sees both
streams, so the application checks the rule from both sides, each time a fact would change it:

* a new enrolment, or a correction of an enrolment's date or project: against the project as
  read, whose stream the append then guards at that version (a window corrected meanwhile makes
  the append retry and check again);
* a correction of the project's window: against every *effective* enrolment of the project
  (its current revision: corrections applied, retracted ones left out), read from the streams
  linked to the project (``traject_stream_links``, written with every enrolment); the append
  then guards against enrolments and corrections stored since that read.

As for later facts on one stream, only what the change breaks counts: an enrolment outside the
window before the correction (recorded by an earlier release) does not block it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from eventsourcing.utils import get_topic

from ledger import events as ev
from ledger.aggregates import (
    Project,
    StreamAggregate,
    Trajectory,
    corrected_event,
    stored_correction,
)
from ledger.errors import Enrolment, EnrolmentsOutsideWindowError, RuleViolationError

if TYPE_CHECKING:
    from datetime import date
    from uuid import UUID

ENROLLED_TOPIC = get_topic(ev.ParticipantEnrolled)
CHANGE_TOPICS = (get_topic(ev.EventCorrected), get_topic(ev.EventRetracted))
WINDOW_TOPICS = (ENROLLED_TOPIC, get_topic(ev.EventCorrected))
"""The facts that can put an enrolment in a project, or move it: a window correction's reads
are guarded against these (a retraction only takes one out)."""

ProjectRead = Callable[[str], StreamAggregate]
"""A project's stream by its code, as a check reads it (empty when never registered)."""
EnrolmentsRead = Callable[[StreamAggregate], Sequence[Enrolment]]
"""The effective enrolments in the project of a loaded project stream, as a check reads them."""


def in_project(event: ev.ParticipantEnrolled, project: UUID) -> bool:
    return ev.project_stream_id(event.project_id) == project


def effective_enrolments(events: Iterable[ev.TrajectEvent], project: UUID) -> list[Enrolment]:
    """The effective enrolments in ``project`` (its stream id) among ``events``: enrolments with
    the corrections and retractions of them, each stream's in version order."""
    current: dict[tuple[UUID, int], ev.ParticipantEnrolled] = {}
    for event in events:
        if isinstance(event, ev.ParticipantEnrolled):
            current[event.originator_id, event.originator_version] = event
            continue
        if not isinstance(event, ev.EventCorrected | ev.EventRetracted):
            continue
        target = (event.originator_id, event.target_version)
        enrolment = current.get(target)
        if enrolment is None:  # a change of another fact
            continue
        if isinstance(event, ev.EventRetracted):
            del current[target]
            continue
        revised = stored_correction(enrolment, event)
        assert isinstance(revised, ev.ParticipantEnrolled)
        current[target] = revised
    return in_date_order(
        Enrolment(person, version, enrolment.occurred_on)
        for (person, version), enrolment in current.items()
        if in_project(enrolment, project)
    )


def in_date_order(enrolments: Iterable[Enrolment]) -> list[Enrolment]:
    """Enrolments by date, then by person and version (a stable order for messages)."""
    return sorted(enrolments, key=lambda e: (e.occurred_on, str(e.person_id), e.version))


def enrolments_of(trajectory: StreamAggregate, project: UUID) -> list[Enrolment]:
    """The effective enrolments in ``project`` (its stream id) of one loaded person's stream."""
    if not isinstance(trajectory, Trajectory):
        return []
    return [
        Enrolment(trajectory.id, version, event.occurred_on)
        for version, event in sorted(trajectory.effective.items())
        if isinstance(event, ev.ParticipantEnrolled) and in_project(event, project)
    ]


def window_of(project: StreamAggregate, enrolment: ev.ParticipantEnrolled) -> tuple[date, date]:
    """The eligibility window of ``project`` (the stream of the enrolment's project).

    Raises:
        RuleViolationError: field ``project_id``: the project was never registered.
    """
    registered = project.registered if isinstance(project, Project) else None
    if registered is None:
        raise RuleViolationError(
            "ParticipantEnrolled",
            "project_id",
            f"no project {enrolment.project_id} is registered (record project-registered first)",
        )
    return registered.eligibility_from, registered.eligibility_to


def check_window(
    enrolment: ev.ParticipantEnrolled, project: StreamAggregate, field: str = "occurred_on"
) -> None:
    """AMIF eligibility is judged at enrolment, inside the project's eligibility window.

    Raises:
        RuleViolationError: field ``project_id`` (no such project registered) or ``field``.
    """
    first, last = window_of(project, enrolment)
    if not first <= enrolment.occurred_on <= last:
        raise RuleViolationError(
            "ParticipantEnrolled",
            field,
            f"enrolment must fall in {enrolment.project_id}'s eligibility window {first} to {last}",
        )


def check_across_streams(
    aggregate: StreamAggregate,
    event: ev.TrajectEvent,
    project: ProjectRead,
    enrolments: EnrolmentsRead,
) -> None:
    """The enrolment window rule for ``event``, about to be appended to ``aggregate``: a new
    enrolment, a correction of an enrolment's date or project, or a correction of a project's
    window. ``project`` and ``enrolments`` read the other streams (and note what they read).

    Raises:
        RuleViolationError: an enrolment outside its project's window (field ``occurred_on``,
            or ``project_id`` when only the project changed).
        EnrolmentsOutsideWindowError: a window correction would leave enrolments outside it.
    """
    if isinstance(event, ev.ParticipantEnrolled):
        check_window(event, project(event.project_id))
        return
    if not isinstance(event, ev.EventCorrected):
        return
    target = aggregate.effective.get(event.target_version)
    if isinstance(target, ev.ParticipantEnrolled):
        revised = corrected_event(target, event)
        assert isinstance(revised, ev.ParticipantEnrolled)
        moved_project = revised.project_id.upper() != target.project_id.upper()
        if moved_project or revised.occurred_on != target.occurred_on:
            field = "occurred_on" if revised.occurred_on != target.occurred_on else "project_id"
            check_window(revised, project(revised.project_id), field)
    elif isinstance(target, ev.ProjectRegistered):
        check_window_correction(aggregate, target, corrected_event(target, event), enrolments)


def check_window_correction(
    project: StreamAggregate,
    before: ev.ProjectRegistered,
    after: ev.TrajectEvent,
    enrolments: EnrolmentsRead,
) -> None:
    """A project's window corrected from ``before``'s to ``after``'s must keep every effective
    enrolment it held (read only when the window narrows or moves).

    Raises:
        EnrolmentsOutsideWindowError: naming the bound that leaves them out, and each of them.
    """
    assert isinstance(after, ev.ProjectRegistered)
    first, last = after.eligibility_from, after.eligibility_to
    if first <= before.eligibility_from and before.eligibility_to <= last:
        return  # as wide as before, or wider: nothing that fitted can fall out
    outside = [
        e
        for e in enrolments(project)
        if before.eligibility_from <= e.occurred_on <= before.eligibility_to
        and not first <= e.occurred_on <= last
    ]
    if not outside:
        return
    bounds = []
    if any(e.occurred_on < first for e in outside):
        bounds.append("eligibility_from")
    if any(e.occurred_on > last for e in outside):
        bounds.append("eligibility_to")
    raise EnrolmentsOutsideWindowError(
        before.project_code, (first, last), ", ".join(bounds), outside
    )
