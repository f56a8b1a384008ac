"""Aggregates: one per stream. They hold the state the hard rules need and check them.

The state of an aggregate is a fold over its *effective* events: the stored events with every
correction applied and every retracted event left out. A correction or retraction therefore
re-derives the state from scratch, so a corrected birth date or a retracted koppeling is taken
into account by every later rule.

``check(event)`` raises :class:`RuleViolationError` for a hard rule and returns warnings for a
deadline the domain wants flagged but not refused (late PIP, late PVT, late recording, late
nareis application).

A correction is checked as its target would have been when first recorded (against the stream
before it); a correction or retraction must also leave every *later* effective event meeting the
hard rules it met before: the stream is replayed with the change and each later event checked
by ``check`` as when it was recorded (``check_later``), else :class:`LaterFactsBrokenError`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, KeysView
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from ledger import events as ev
from ledger import rules
from ledger.catalog import cli_name
from ledger.errors import (
    BrokenFact,
    LaterFactsBrokenError,
    MalformedEventError,
    RuleViolationError,
    StreamIntegrityError,
)
from ledger.seals import read_models_problem, seal_problem
from ledger.values import (
    BenefitKind,
    Destination,
    FinalInterviewOutcome,
    HousingKind,
    HousingRoute,
    LearningRoute,
    OutflowType,
    Period,
    PermitKind,
    Regime,
    Relation,
    StaffRole,
    outside_report_years,
)

WI2021_ONLY = (
    ev.BroadIntakeStarted,
    ev.BroadIntakeCompleted,
    ev.PipAdopted,
    ev.LearningRouteStarted,
    ev.LearningRouteChanged,
    ev.MapCompleted,
    ev.DowngradedToA2,
    ev.PreIntegrationRecorded,
    ev.OntzorgenStarted,
    ev.PipObjectionFiled,
    ev.ZRouteFinalInterviewHeld,
)
WI2013_ONLY = (ev.OnaCompleted, ev.DuoLoanGranted, ev.DuoLoanWaived, ev.DuoLoanReclaimed)
DUTY_STEPS = (
    ev.BroadIntakeStarted,
    ev.PipAdopted,
    ev.LearningRouteStarted,
    ev.LearningRouteChanged,
    ev.DowngradedToA2,
    ev.TermExtended,
    ev.ZRouteFinalInterviewHeld,
)
"""Steps towards fulfilling an inburgering duty: none is dated after the duty is fulfilled
(domain.md §2.4: fulfilment is terminal for the obligation)."""
REUNIFICATION_FOLLOW_UPS = (
    ev.FamilyReunificationDecided,
    ev.MvvIssued,
    ev.NareizigerArrived,
    ev.FamilyReunificationClosed,
)
CHANGES = (ev.EventCorrected, ev.EventRetracted)  # the events that change an earlier one
CHANGE_CLASSES = frozenset(CHANGES)
PROJECT_FOLLOW_UPS = (ev.ServiceDelivered, ev.ParticipantFeedbackRecorded, ev.ParticipantExited)
CLOSING_AFTER_DEATH = (
    ev.CaseClosed,
    ev.ParticipantExited,
    ev.CoachUnassigned,
    ev.SocialGuidanceEnded,
    ev.OutflowEnded,
    ev.BenefitEnded,
    ev.OntzorgenEnded,
    ev.PipObjectionDecided,
    ev.FamilyReunificationClosed,
)
"""Facts that close what a death leaves open: the only ones dated after a recorded death."""


ASYLUM_PERMITS = (PermitKind.ASIEL_BT, PermitKind.ASIEL_AFGELEID)
"""The permits of an asielstatushouder (a nareiziger's asiel_afgeleid too)."""


@functools.cache
def _regime_only(cls: type[ev.TrajectEvent]) -> Regime | None:
    """The only regime under which facts of ``cls`` may be recorded (None: either)."""
    if issubclass(cls, WI2021_ONLY):
        return Regime.WI2021
    if issubclass(cls, WI2013_ONLY):
        return Regime.WI2013
    return None


LEDGER_TIMEZONE = ZoneInfo("Europe/Amsterdam")


def recorded_day(event: ev.TrajectEvent) -> date:
    """The calendar day (Dutch time) on which the event was recorded.

    ``occurred_on`` is a Dutch calendar date, so "not in the future" and the recording delay are
    measured against the Dutch date of the recording, not the UTC date.
    """
    global _last_day  # noqa: PLW0603 - a one-entry cache, replaced whole (thread-safe)
    moment = event.timestamp
    last_moment, last_day = _last_day
    if moment is last_moment:  # the same moment object: a batch's facts share theirs
        return last_day
    day = dutch_day(moment)
    _last_day = (moment, day)
    return day


_last_day: tuple[datetime | None, date] = (None, date.min)
"""The moment ``recorded_day`` was last asked for (compared by identity) and its Dutch day."""


DUTCH_SAME_DAY_BEFORE = 22
"""The UTC hour before which a moment's Dutch day is its UTC day: Dutch time has always been
between 19 minutes (Amsterdam time, before 1937) and two hours (summer time) ahead of UTC, never
behind it, so until 22:00 UTC the Dutch clock has not passed midnight."""


def dutch_day(moment: datetime) -> date:
    """The calendar day in Dutch time of an aware moment: its UTC day before
    :data:`DUTCH_SAME_DAY_BEFORE` hours UTC (no look-up of the time zone's rules), else the
    day in Europe/Amsterdam."""
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    if utc.hour < DUTCH_SAME_DAY_BEFORE:
        return utc.date()
    return utc.astimezone(LEDGER_TIMEZONE).date()


def dutch_moment(moment: datetime) -> datetime:
    """``moment`` made aware: one without an offset is read as Dutch time (Europe/Amsterdam, the
    offset in force on that day); one with an offset is kept as given.

    At the change to summer time a Dutch time is skipped, at the change back one occurs twice:
    such a time is read with the offset in force before the change (``fold=0``), so
    2024-03-31T02:30 is 01:30 UTC (03:30 summer time) and 2024-10-27T02:30 is the first
    02:30, in summer time (00:30 UTC).
    """
    if moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=LEDGER_TIMEZONE, fold=0)


DERIVED_FIELDS: dict[type[ev.TrajectEvent], tuple[frozenset[str], tuple[str, ...]]] = {
    # event: (the fields a derivation reads, the fields it writes). Derived values are stored
    # with the event; a correction of a field read here derives them again (unless it sets
    # them itself) and stores the new values in the correction, so replay gives the same.
    ev.Housed: (
        frozenset({"occurred_on", "municipality", "route", "housing_kind"}),
        ("counts_for_taakstelling", "rule_version"),
    ),
    ev.FamilyReunificationApplied: (frozenset({"occurred_on"}), ("late", "rule_version")),
    ev.InburgeringDutyEstablished: (
        frozenset({"duty_start"}),
        ("regime", "ona_required", "pvt_required", "rule_version"),
    ),
}


def kind_name(cls: type[ev.TrajectEvent]) -> str:
    return cls.__name__


class StreamAggregate:
    """A stream's state: its id, its version, its effective events and its pending events."""

    def __init__(self, stream_id: UUID) -> None:
        self.id = stream_id
        self.version = 0
        self.effective: dict[int, ev.TrajectEvent] = {}
        self.stored: dict[int, ev.TrajectEvent] = {}
        self.corrected_by: dict[int, list[int]] = {}
        self.retracted_by: dict[int, int] = {}
        self.pending: list[ev.TrajectEvent] = []
        self.reset()

    # --- the library's aggregate protocol ---------------------------------------------------

    def collect_events(self) -> list[ev.TrajectEvent]:
        collected, self.pending = self.pending, []
        return collected

    def apply(self, event: ev.TrajectEvent) -> None:
        """Take one event: keep it, and bring the state up to date."""
        if self.track(event):
            self.evolve(event)
        else:
            self.replay()

    def track(self, event: ev.TrajectEvent) -> bool:
        """Keep the event and update the effective events, without touching the state.

        Returns True when the state can simply evolve by this event, False when a correction
        or retraction means the state must be derived again from the effective events.
        """
        if event.originator_id is not self.id and event.originator_id != self.id:
            msg = f"event {event.originator_id} v{event.originator_version} is not of {self.id}"
            raise RuntimeError(msg)  # a bug: the caller mixed streams
        if event.originator_version != self.version + 1:
            raise StreamIntegrityError(self.id, event.originator_version, self.version)
        self.version = event.originator_version
        self.stored[self.version] = event
        # the kind by its class (no event class derives from another): cheaper than isinstance
        if type(event) is ev.EventCorrected:
            target = self.effective[event.target_version]
            self.effective[event.target_version] = corrected_event(target, event)
            self.corrected_by.setdefault(event.target_version, []).append(self.version)
            return False
        if type(event) is ev.EventRetracted:
            self.effective.pop(event.target_version, None)
            self.retracted_by[event.target_version] = self.version
            return False
        self.effective[self.version] = event
        return True

    def before(self, version: int) -> StreamAggregate:
        """A copy whose state is that of the effective events before ``version``."""
        prior = type(self)(self.id)
        for number in sorted(self.effective):
            if number >= version:
                break
            prior.evolve(self.effective[number])
        return prior

    def replay(self) -> None:
        self.reset()
        for version in sorted(self.effective):
            self.evolve(self.effective[version])

    # --- to be specialised ------------------------------------------------------------------

    def reset(self) -> None:
        """Set the state to that of an empty stream."""

    def evolve(self, event: ev.TrajectEvent) -> None:
        """Change the state by one effective event."""

    def derive(self, cls: type[ev.TrajectEvent], fields: dict[str, Any]) -> dict[str, Any]:
        """Fill derived fields (flags the rules compute) before the event is validated."""
        return fields

    def check(self, event: ev.TrajectEvent) -> list[str]:
        """Refuse an event that breaks a hard rule; return warnings for soft ones."""
        check_not_in_future(event, recorded_day(event))
        check_period_years(event)
        # the kind by its class (no event class derives from another): the model's
        # isinstance costs several times a class comparison, and this runs for every fact
        if type(event) is ev.EventCorrected or type(event) is ev.EventRetracted:
            self.check_target(event)
        if type(event) is ev.LegalHoldPlaced or type(event) is ev.LegalHoldReleased:
            self.check_hold(event)
        if type(event) is ev.ReportSealed:
            problem = seal_problem(event) or read_models_problem(event)
            if problem is not None:
                raise RuleViolationError(kind_name(type(event)), *problem)
        return staff_name_warnings(event)

    def open_holds(self, on: date | None = None) -> dict[str, ev.LegalHoldPlaced]:
        """The legal holds placed on this stream and not released, by reference; with ``on``,
        those open on that day: placed on or before it, and not released on or before it."""
        holds: dict[str, ev.LegalHoldPlaced] = {}
        for version in sorted(self.effective):
            event = self.effective[version]
            if on is not None and event.occurred_on > on:
                continue  # placed or released after the day
            if isinstance(event, ev.LegalHoldPlaced):
                holds[event.hold_ref] = event
            elif isinstance(event, ev.LegalHoldReleased):
                holds.pop(event.hold_ref, None)
        return holds

    def check_hold(self, event: ev.LegalHoldPlaced | ev.LegalHoldReleased) -> None:
        """A hold reference is open once at a time; only an open hold can be released, and
        not before the day it was placed."""
        kind = kind_name(type(event))
        holds = self.open_holds()
        placed = holds.get(event.hold_ref)
        if isinstance(event, ev.LegalHoldPlaced) and placed is not None:
            raise RuleViolationError(
                kind,
                "hold_ref",
                f"hold {event.hold_ref} is already open (placed on {placed.occurred_on})",
            )
        if isinstance(event, ev.LegalHoldReleased) and placed is None:
            known = ", ".join(sorted(holds)) or "none"
            raise RuleViolationError(
                kind, "hold_ref", f"no open hold {event.hold_ref} (open holds: {known})"
            )
        if placed is not None and event.occurred_on < placed.occurred_on:  # a release
            raise RuleViolationError(
                kind,
                "occurred_on",
                f"must not be before the hold it releases ({event.hold_ref} was placed on "
                f"{placed.occurred_on})",
            )

    def check_target(self, event: ev.EventCorrected | ev.EventRetracted) -> None:
        kind = kind_name(type(event))
        target = self.stored.get(event.target_version)
        if target is None:
            raise RuleViolationError(
                kind,
                "target_version",
                f"this stream has no version {event.target_version}: its versions are 1 to "
                f"{self.version} (see traject timeline)",
            )
        if isinstance(target, ev.CONTROL_EVENTS):
            raise RuleViolationError(
                kind,
                "target_version",
                f"v{event.target_version} ({cli_name(type(target))}) is a fact about the record: "
                "corrections, retractions and the other control facts cannot themselves be changed",
            )
        if event.target_version in self.retracted_by:
            raise RuleViolationError(
                kind,
                "target_version",
                f"version {event.target_version} was already retracted "
                f"(by v{self.retracted_by[event.target_version]})",
            )
        if event.target_version == 1 and isinstance(event, ev.EventRetracted):
            raise RuleViolationError(
                kind,
                "target_version",
                f"the first event of a stream cannot be retracted (v1, {cli_name(type(target))}, "
                "opens it): correct its fields instead",
            )

    # --- the write path ---------------------------------------------------------------------

    def record(self, event: ev.TrajectEvent) -> list[str]:
        warnings = self.check(event)
        if type(event) in CHANGE_CLASSES:  # a set look-up: isinstance on a model costs more
            warnings += self.check_change(event)
        self.apply(event)
        self.pending.append(event)
        return warnings

    def check_change(self, change: ev.TrajectEvent) -> list[str]:
        """The rules a correction or retraction meets beyond its own: the corrected event as
        when it was first recorded, and the later events as they were (``check_later``)."""
        assert isinstance(change, CHANGES)
        warnings: list[str] = []
        replacement: ev.TrajectEvent | None = None  # a retraction leaves its target out
        if isinstance(change, ev.EventCorrected):
            # the corrected event must satisfy the rules an original would have met when it
            # was recorded: checked against the stream as it stood before it
            replacement = corrected_event(self.effective[change.target_version], change)
            prior = self.before(change.target_version)
            warnings += prior.check_corrected(replacement, change)
        self.check_later(change, replacement)
        return warnings

    def check_later(
        self, change: ev.EventCorrected | ev.EventRetracted, replacement: ev.TrajectEvent | None
    ) -> None:
        """Refuse a change after which a later effective event would break a hard rule it met
        before: the stream is replayed with the change, every event after the target checked
        as when it was recorded, and compared with the same replay without the change (so an
        inconsistency the stream already held does not block an unrelated change).

        Raises:
            LaterFactsBrokenError: naming each later event that would break, and the rule.
        """
        target = change.target_version
        broken = self.later_violations(target, replacement)
        if broken:  # only then the replay without the change: corrections are rare enough
            already = self.later_violations(target, self.effective[target])
            broken = {v: error for v, error in broken.items() if v not in already}
        if not broken:
            return
        facts = [
            BrokenFact(
                version,
                kind_name(type(self.effective[version])),
                self.effective[version].occurred_on,
                error.field,
                error.rule,
            )
            for version, error in sorted(broken.items())
        ]
        field_name = "changes" if isinstance(change, ev.EventCorrected) else "target_version"
        raise LaterFactsBrokenError(kind_name(type(change)), field_name, facts)

    def later_violations(
        self, target_version: int, replacement: ev.TrajectEvent | None
    ) -> dict[int, RuleViolationError]:
        """The hard rule each effective event after ``target_version`` breaks (by version) when
        the event there is ``replacement`` (None: left out), replayed with ``check``."""
        replica = type(self)(self.id)
        broken: dict[int, RuleViolationError] = {}
        for version in sorted(self.effective):
            event = self.effective[version]
            if version == target_version:
                if replacement is None:
                    continue
                event = replacement
            elif version > target_version:
                try:
                    replica.check(self.as_recorded(version))
                except RuleViolationError as error:
                    broken[version] = error
            replica.effective[version] = event  # what the rules on holds read
            replica.evolve(event)
        return broken

    def as_recorded(self, version: int) -> ev.TrajectEvent:
        """The effective event at ``version`` as it was last judged: a corrected event carries
        the recorded time of its latest correction, which checked it against that day."""
        event = self.effective[version]
        corrections = self.corrected_by.get(version)
        if not corrections:
            return event
        return event.model_copy(update={"timestamp": self.stored[corrections[-1]].timestamp})

    def check_corrected(
        self, corrected: ev.TrajectEvent, correction: ev.EventCorrected
    ) -> list[str]:
        # "in the future" as of the correction: the corrected event keeps its own (earlier)
        # timestamp, and a date between the two recordings is a past date when corrected.
        check_not_in_future(corrected, recorded_day(correction))
        check_period_years(corrected)
        return staff_name_warnings(corrected, among=correction.changes)


def staff_name_warnings(event: ev.TrajectEvent, *, among: Iterable[str] | None = None) -> list[str]:
    """A warning for a member of staff named with a space (``a. bakker``): a user name has
    none, and a name typed another way is another member of staff to the caseload per coach.
    Only flagged: names stored by earlier releases, or imported, may have one. ``among``: only
    these fields (those a correction changes)."""
    names = _staff_names(type(event))
    if not names:
        return []
    return [
        f"{name}: {value!r} has a space, which a user name has not: recorded as given, as "
        "another member of staff than one without it (give the user name, such as r.jansen)"
        for name in names
        if (among is None or name in among)
        and isinstance(value := getattr(event, name), str)
        and _SPACE(value)
    ]


_SPACE = re.compile(r"\s").search


@functools.cache
def _staff_names(kind: type[ev.TrajectEvent]) -> tuple[str, ...]:
    """The fields of ``kind`` that name a member of staff, sorted (one look-up per kind)."""
    return tuple(sorted(kind.staff_fields()))


def _after_closure(event: ev.TrajectEvent, s: TrajectoryState) -> list[str]:
    """A warning for a fact dated after the day a case was closed, while it is closed: most
    often a fact recorded on the wrong person, or a case to reopen first. Only flagged (a fact
    of the path may still be true after a closure, recorded from DUO or a provider); what
    closes what the closure left open (:data:`CLOSING_AFTER_DEATH`) and the reopening are
    not flagged."""
    if (
        not s.closed
        or s.closed_on is None
        or event.occurred_on <= s.closed_on
        or isinstance(event, (ev.CaseReopened, *CLOSING_AFTER_DEATH))
    ):
        return []
    return [
        f"the case is closed since {s.closed_on} and this fact is dated after it, on "
        f"{event.occurred_on}: recorded as given (record case-reopened first when the person "
        "is back in care; retract this fact when it belongs to another person)"
    ]


def _after_death(event: ev.TrajectEvent, died_on: date, kind: str) -> None:
    """A fact recorded after a death: one of before it (recorded late), or one that closes
    what the death left open (:data:`CLOSING_AFTER_DEATH`); a death is recorded once.

    Raises:
        RuleViolationError: naming ``person`` (a second death) or ``occurred_on``.
    """
    if isinstance(event, ev.Deceased):
        raise RuleViolationError(kind, "person", f"the death on {died_on} is recorded already")
    if event.occurred_on > died_on and not isinstance(event, CLOSING_AFTER_DEATH):
        raise RuleViolationError(
            kind,
            "occurred_on",
            f"{event.occurred_on} is after the death on {died_on}: after a death only what "
            "closes the case (case-closed, participant-exited, coach-unassigned, the end of a "
            "guidance, outflow, benefit, ontzorgen or reunification file, the decision on an "
            "objection) is dated; a fact of before it may still be recorded",
        )


_PAST_FIELDS: dict[type[ev.TrajectEvent], tuple[str, ...]] = {}
"""Each event class's ``past_date`` fields, as :func:`check_not_in_future` first asked."""


def check_not_in_future(event: ev.TrajectEvent, day: date) -> None:
    """Refuse a fact dated after ``day`` (the day it is recorded): its ``occurred_on``, and the
    other dates of things that have happened by then (``ev.past_date``: a permit's notice, an
    exam result, an eligibility check).

    Raises:
        RuleViolationError: naming the field.
    """
    if event.occurred_on > day:
        raise RuleViolationError(kind_name(type(event)), "occurred_on", "must not be in the future")
    names = _PAST_FIELDS.get(type(event))
    if names is None:  # once per class: this runs for every fact recorded or imported
        names = _PAST_FIELDS[type(event)] = tuple(type(event).past_fields())
    for name in names:
        value = getattr(event, name)
        if value is not None and value > day:
            raise RuleViolationError(kind_name(type(event)), name, "must not be in the future")


@functools.cache
def _period_fields(cls: type[ev.TrajectEvent]) -> tuple[str, ...]:
    """``cls.period_fields()``, worked out once per class: this runs for every fact."""
    return tuple(sorted(cls.period_fields()))


def check_period_years(event: ev.TrajectEvent) -> None:
    """Refuse a period (a taakstelling's half-year, an AMIF cost's period) outside the years
    traject reports on (:data:`ledger.values.REPORT_YEARS`): ``9999H2`` is a typo that no report
    could count. A rule of the aggregate, not of the model: facts stored before it still load,
    and a correction can mend them.

    Raises:
        RuleViolationError: naming the field.
    """
    for name in _period_fields(type(event)):
        value = getattr(event, name)
        problem = None if value is None else outside_report_years(value, int(value[:4]))
        if problem is not None:
            raise RuleViolationError(kind_name(type(event)), name, problem)


def as_it_stood(aggregate: StreamAggregate, version: int) -> StreamAggregate:
    """The stream as it stood when its event ``version`` was recorded: the events before it."""
    earlier = [aggregate.stored[number] for number in range(1, version)]
    return project_stream(None, earlier) or type(aggregate)(aggregate.id)


def corrected_event(target: ev.TrajectEvent, correction: ev.EventCorrected) -> ev.TrajectEvent:
    """The target event with the correction's new values, validated by the target's model."""
    state = target.model_dump(mode="json")
    state.update(correction.changes)
    state.update(correction.personal_changes or {})
    return type(target).model_validate(state)


def stored_correction(target: ev.TrajectEvent, correction: ev.EventCorrected) -> ev.TrajectEvent:
    """:func:`corrected_event` of a stored correction.

    Raises:
        MalformedEventError: its new values do not fit the target's model. traject stores only
            corrections whose corrected event passed that model, so the stored bytes were
            altered outside traject.
    """
    try:
        return corrected_event(target, correction)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or type(target).__name__
        raise MalformedEventError(
            correction.originator_id,
            correction.originator_version,
            f"its changes do not fit {type(target).__name__} of version "
            f"{correction.target_version} ({where}: {problem['msg']})",
        ) from None


@dataclass
class File:
    """A family-reunification file on the referent's stream."""

    applied_on: date
    closed: bool = False
    members: tuple[Relation, ...] = ()  # the relation of each member applied for
    arrived: dict[Relation, list[int]] = field(
        default_factory=dict
    )  # relation -> the versions of the arrivals of members of that relation


@dataclass
class Duty:
    regime: Regime
    start: date
    notified_on: date
    fulfilled: bool = False
    fulfilled_on: date | None = None
    term_end: date | None = None  # as DUO stated it (Wi2013)
    extended_to: date | None = None  # the new end of the latest extension


@dataclass
class TrajectoryState:
    registered: bool = False
    birth_date: date | None = None
    household_id: UUID | None = None
    deceased_on: date | None = None
    permit_kind: PermitKind | None = None
    permit_on: date | None = None  # the latest valid-from of a residence permit
    naturalised_on: date | None = None  # the earliest naturalisation: no longer a TCN from then
    asylum_notified_on: date | None = None
    active_link: str | None = None  # municipality of the active koppeling
    linked_on: date | None = None  # the date of the active koppeling
    link_housed_on: date | None = None  # the latest housing through a koppeling, which used it
    housed_by_nareis: bool = False  # housed as a nareiziger (route nareis): never linked by COA
    tenancy_on: date | None = None  # the latest tenancy signed since the last housing
    left_nl_on: date | None = None  # the latest move abroad (MovedOut, destination abroad)
    moved_out_on: date | None = None  # a move-out not followed by an arrival or a reopening
    housed_in: list[tuple[str, HousingKind, date]] = field(default_factory=list)
    brp_registered_on: date | None = None
    municipality: str | None = None
    duty: Duty | None = None
    pip_v1_on: date | None = None
    pip_version: int = 0
    pip_on: date | None = None  # the dagtekening of the latest PIP version
    pip_leerroute: LearningRoute | None = None  # the leerroute of the latest PIP version
    intake_started_on: date | None = None  # the latest start of a brede intake
    leerroute: LearningRoute | None = None
    nt2_hours: float = 0.0
    pvt_signed: list[date] = field(default_factory=list)  # the signing of each PVT recorded
    exams: dict[tuple[str, str, int], date] = field(
        default_factory=dict
    )  # (component, level, attempt_no) -> exam date of its result
    open_outflows: dict[OutflowType, date] = field(default_factory=dict)  # type -> started on
    open_benefits: dict[str, date] = field(default_factory=dict)  # kind -> first open grant
    bijstand_spells: list[tuple[date, date | None]] = field(
        default_factory=list
    )  # the algemene_bijstand benefits, (granted on, ended on or None while open) each
    asylum_permit: bool = False  # an asylum permit (asiel_bt, asiel_afgeleid) is recorded
    open_ontzorgen: date | None = None  # the start of the open ontzorgen
    ontzorgen_spells: list[tuple[date, date]] = field(
        default_factory=list
    )  # the ended ontzorgen, (started on, ended on) each
    objection_filed_on: date | None = None  # the filing of the open objection against a PIP
    objection_decided_on: date | None = None  # the decision on the latest objection
    z_route_completed_on: date | None = None  # the eindgesprek held with outcome voldaan
    duo_loan_granted_on: date | None = None  # the first DUO loan grant
    duo_loan_outstanding: Decimal = Decimal(0)  # granted, less waived and reclaimed
    outflow_spells: dict[OutflowType, list[tuple[date, date]]] = field(
        default_factory=dict
    )  # type -> the ended outflows of that type, (started on, ended on) each
    guidance_started: dict[int, date] = field(default_factory=dict)  # year -> started on
    open_guidance: dict[int, date] = field(default_factory=dict)  # year started, not ended
    coaches: dict[tuple[str, StaffRole], date] = field(
        default_factory=dict
    )  # (staff_id, role) -> assigned on, while the assignment is open
    closed: bool = False
    closed_on: date | None = None  # the day the case was closed, while it is closed
    reopened_on: date | None = None  # the day the case was last reopened
    enrolled_on: dict[str, date] = field(default_factory=dict)  # project -> enrolment date
    exited_on: dict[str, date] = field(default_factory=dict)  # project -> exit date
    files: dict[int, File] = field(default_factory=dict)

    @property
    def guidance_years(self) -> set[int]:
        """The guidance years ever started."""
        return set(self.guidance_started)

    @property
    def projects(self) -> KeysView[str]:
        """The AMIF projects the person was ever enrolled in (upper-case codes)."""
        return self.enrolled_on.keys()

    @property
    def nareiziger(self) -> bool:
        return self.permit_kind is PermitKind.ASIEL_AFGELEID


@functools.singledispatch
def _evolve(event: ev.TrajectEvent, s: TrajectoryState) -> None:
    """Change a person's state by one effective event: one handler per fact that changes it
    (dispatched on the event's class, cached per class); other facts change nothing."""


_evolve_for = functools.cache(_evolve.dispatch)
"""The handler of a class (singledispatch's own per-call lookup goes through a weak dict)."""


@_evolve.register(ev.PersonRegistered)
def _registered(event: ev.PersonRegistered, s: TrajectoryState) -> None:
    s.registered = True
    s.birth_date = event.birth_date
    s.household_id = event.household_id
    s.municipality = event.municipality


@_evolve.register(ev.ResidencePermitRecorded)
def _permit(event: ev.ResidencePermitRecorded, s: TrajectoryState) -> None:
    s.permit_kind = event.permit_kind
    if s.permit_on is None or event.occurred_on > s.permit_on:
        s.permit_on = event.occurred_on
    if event.permit_kind is PermitKind.ASIEL_BT and event.notified_on:
        s.asylum_notified_on = event.notified_on
    if event.permit_kind in ASYLUM_PERMITS:
        s.asylum_permit = True


@_evolve.register(ev.NaturalisationGranted)
def _naturalised(event: ev.NaturalisationGranted, s: TrajectoryState) -> None:
    if s.naturalised_on is None or event.occurred_on < s.naturalised_on:
        s.naturalised_on = event.occurred_on


def _placed(event: ev.CoaLinked | ev.Housed | ev.BrpRegistered, s: TrajectoryState) -> None:
    """A koppeling, housing or BRP registration on or after a move-out ends the move: a case
    where the person lives now, as the caseload counts it (projections/moves.py)."""
    s.municipality = event.municipality
    if s.moved_out_on is not None and event.occurred_on >= s.moved_out_on:
        s.moved_out_on = None


@_evolve.register(ev.CoaLinked)
def _linked(event: ev.CoaLinked, s: TrajectoryState) -> None:
    s.active_link = event.municipality
    s.linked_on = event.occurred_on
    _placed(event, s)


@_evolve.register(ev.TenancySigned)
def _tenancy(event: ev.TenancySigned, s: TrajectoryState) -> None:
    s.tenancy_on = event.occurred_on


@_evolve.register(ev.CoaLinkWithdrawn)
@_evolve.register(ev.MovedOut)
def _unlinked(event: ev.CoaLinkWithdrawn | ev.MovedOut, s: TrajectoryState) -> None:
    s.active_link = None
    if isinstance(event, ev.MovedOut):
        s.moved_out_on = event.occurred_on
        if event.destination is Destination.ABROAD:
            s.left_nl_on = max(event.occurred_on, s.left_nl_on or event.occurred_on)


@_evolve.register(ev.Housed)
def _housed(event: ev.Housed, s: TrajectoryState) -> None:
    s.housed_in.append((event.municipality, event.housing_kind, event.occurred_on))
    _placed(event, s)
    s.tenancy_on = None
    if event.route is HousingRoute.KOPPELING:
        s.active_link = None
        if s.link_housed_on is None or event.occurred_on > s.link_housed_on:
            s.link_housed_on = event.occurred_on
    if event.route is HousingRoute.NAREIS:
        s.housed_by_nareis = True


@_evolve.register(ev.BrpRegistered)
def _brp(event: ev.BrpRegistered, s: TrajectoryState) -> None:
    s.brp_registered_on = s.brp_registered_on or event.occurred_on
    _placed(event, s)


@_evolve.register(ev.InburgeringDutyEstablished)
def _duty(event: ev.InburgeringDutyEstablished, s: TrajectoryState) -> None:
    assert event.regime is not None
    s.duty = Duty(event.regime, event.duty_start, event.occurred_on, term_end=event.term_end)


@_evolve.register(ev.TermExtended)
def _extended(event: ev.TermExtended, s: TrajectoryState) -> None:
    if s.duty:
        s.duty.extended_to = event.new_end


@_evolve.register(ev.InburgeringDutyFulfilled)
def _duty_fulfilled(event: ev.InburgeringDutyFulfilled, s: TrajectoryState) -> None:
    if s.duty:
        s.duty.fulfilled = True
        s.duty.fulfilled_on = event.occurred_on


@_evolve.register(ev.BroadIntakeStarted)
def _intake(event: ev.BroadIntakeStarted, s: TrajectoryState) -> None:
    s.intake_started_on = event.occurred_on


@_evolve.register(ev.PipAdopted)
def _pip(event: ev.PipAdopted, s: TrajectoryState) -> None:
    if event.version >= s.pip_version:
        s.pip_on = event.occurred_on
        s.pip_leerroute = event.leerroute
    s.pip_version = max(s.pip_version, event.version)
    if event.version == 1:
        s.pip_v1_on = event.occurred_on
    s.leerroute = event.leerroute


@_evolve.register(ev.LearningRouteStarted)
@_evolve.register(ev.LearningRouteChanged)
def _route(event: ev.LearningRouteStarted | ev.LearningRouteChanged, s: TrajectoryState) -> None:
    s.leerroute = event.route


@_evolve.register(ev.ExamResultRecorded)
def _exam(event: ev.ExamResultRecorded, s: TrajectoryState) -> None:
    s.exams[event.component, event.level, event.attempt_no] = event.occurred_on


@_evolve.register(ev.CourseHoursReported)
def _hours(event: ev.CourseHoursReported, s: TrajectoryState) -> None:
    if event.component.value == "NT2":
        s.nt2_hours += float(event.hours_attended)


@_evolve.register(ev.PvtCompleted)
def _pvt(event: ev.PvtCompleted, s: TrajectoryState) -> None:
    s.pvt_signed.append(event.occurred_on)


@_evolve.register(ev.OutflowStarted)
def _outflow_started(event: ev.OutflowStarted, s: TrajectoryState) -> None:
    s.open_outflows[event.outflow_type] = event.occurred_on


@_evolve.register(ev.OutflowEnded)
def _outflow_ended(event: ev.OutflowEnded, s: TrajectoryState) -> None:
    started_on = s.open_outflows.pop(event.outflow_type, None)
    if started_on is not None:
        s.outflow_spells.setdefault(event.outflow_type, []).append((started_on, event.occurred_on))


@_evolve.register(ev.BenefitGranted)
def _benefit_granted(event: ev.BenefitGranted, s: TrajectoryState) -> None:
    s.open_benefits.setdefault(event.benefit_kind, event.occurred_on)
    spells = s.bijstand_spells
    if event.benefit_kind is BenefitKind.ALGEMENE_BIJSTAND and not (
        spells and spells[-1][1] is None
    ):
        spells.append((event.occurred_on, None))


@_evolve.register(ev.BenefitEnded)
def _benefit_ended(event: ev.BenefitEnded, s: TrajectoryState) -> None:
    s.open_benefits.pop(event.benefit_kind, None)
    spells = s.bijstand_spells
    if event.benefit_kind is BenefitKind.ALGEMENE_BIJSTAND and spells and spells[-1][1] is None:
        spells[-1] = (spells[-1][0], event.occurred_on)


@_evolve.register(ev.OntzorgenStarted)
def _ontzorgen(event: ev.OntzorgenStarted, s: TrajectoryState) -> None:
    s.open_ontzorgen = event.occurred_on


@_evolve.register(ev.OntzorgenEnded)
def _ontzorgen_ended(event: ev.OntzorgenEnded, s: TrajectoryState) -> None:
    if s.open_ontzorgen is not None:
        s.ontzorgen_spells.append((s.open_ontzorgen, event.occurred_on))
    s.open_ontzorgen = None


@_evolve.register(ev.PipObjectionFiled)
def _objection(event: ev.PipObjectionFiled, s: TrajectoryState) -> None:
    s.objection_filed_on = event.occurred_on


@_evolve.register(ev.PipObjectionDecided)
def _objection_decided(event: ev.PipObjectionDecided, s: TrajectoryState) -> None:
    s.objection_filed_on = None
    s.objection_decided_on = event.occurred_on


@_evolve.register(ev.ZRouteFinalInterviewHeld)
def _final_interview(event: ev.ZRouteFinalInterviewHeld, s: TrajectoryState) -> None:
    if event.outcome is FinalInterviewOutcome.VOLDAAN:
        s.z_route_completed_on = event.occurred_on


@_evolve.register(ev.DuoLoanGranted)
def _loan_granted(event: ev.DuoLoanGranted, s: TrajectoryState) -> None:
    if s.duo_loan_granted_on is None or event.occurred_on < s.duo_loan_granted_on:
        s.duo_loan_granted_on = event.occurred_on
    s.duo_loan_outstanding += event.amount


@_evolve.register(ev.DuoLoanWaived)
@_evolve.register(ev.DuoLoanReclaimed)
def _loan_repaid(event: ev.DuoLoanWaived | ev.DuoLoanReclaimed, s: TrajectoryState) -> None:
    s.duo_loan_outstanding -= event.amount


@_evolve.register(ev.SocialGuidanceStarted)
def _guidance(event: ev.SocialGuidanceStarted, s: TrajectoryState) -> None:
    s.guidance_started[event.year_no] = event.occurred_on
    s.open_guidance[event.year_no] = event.occurred_on


@_evolve.register(ev.SocialGuidanceEnded)
def _guidance_ended(event: ev.SocialGuidanceEnded, s: TrajectoryState) -> None:
    s.open_guidance.pop(event.year_no, None)


@_evolve.register(ev.CoachAssigned)
def _coach(event: ev.CoachAssigned, s: TrajectoryState) -> None:
    s.coaches[event.staff_id, event.role] = event.occurred_on


@_evolve.register(ev.CoachUnassigned)
def _coach_gone(event: ev.CoachUnassigned, s: TrajectoryState) -> None:
    s.coaches.pop((event.staff_id, event.role), None)


@_evolve.register(ev.CaseClosed)
def _closed(event: ev.CaseClosed, s: TrajectoryState) -> None:
    s.closed = True
    s.closed_on = event.occurred_on


@_evolve.register(ev.CaseReopened)
def _reopened(event: ev.CaseReopened, s: TrajectoryState) -> None:
    s.closed = False
    s.closed_on = None
    s.moved_out_on = None
    s.reopened_on = event.occurred_on


@_evolve.register(ev.Deceased)
def _deceased(event: ev.Deceased, s: TrajectoryState) -> None:
    s.deceased_on = event.occurred_on


@_evolve.register(ev.ParticipantEnrolled)
def _enrolled(event: ev.ParticipantEnrolled, s: TrajectoryState) -> None:
    s.enrolled_on[event.project_id.upper()] = event.occurred_on


@_evolve.register(ev.ParticipantExited)
def _exited(event: ev.ParticipantExited, s: TrajectoryState) -> None:
    s.exited_on[event.project_id.upper()] = event.occurred_on


@_evolve.register(ev.FamilyReunificationApplied)
def _file_opened(event: ev.FamilyReunificationApplied, s: TrajectoryState) -> None:
    s.files[event.file_no] = File(event.occurred_on, members=event.members)


@_evolve.register(ev.NareizigerArrived)
def _arrived(event: ev.NareizigerArrived, s: TrajectoryState) -> None:
    file = s.files.get(event.file_no)
    if file is not None:
        file.arrived.setdefault(event.relation, []).append(event.originator_version)


@_evolve.register(ev.FamilyReunificationClosed)
def _file_closed(event: ev.FamilyReunificationClosed, s: TrajectoryState) -> None:
    if event.file_no in s.files:
        s.files[event.file_no].closed = True


class Trajectory(StreamAggregate):
    """One statushouder's path: the person stream."""

    state: TrajectoryState
    erasure: int | None = None
    """The stream version of the person's erasure (PersonalDataShredded), once stored."""

    def reset(self) -> None:
        self.state = TrajectoryState()

    def track(self, event: ev.TrajectEvent) -> bool:
        fits = super().track(event)
        if type(event) is ev.PersonalDataShredded:
            self.erasure = self.version
        return fits

    def evolve(self, event: ev.TrajectEvent) -> None:
        _evolve_for(type(event))(event, self.state)

    # --- derived fields ---------------------------------------------------------------------

    def derive(self, cls: type[ev.TrajectEvent], fields: dict[str, Any]) -> dict[str, Any]:
        on = fields.get("occurred_on")
        if cls not in (ev.Housed, ev.FamilyReunificationApplied) or not isinstance(on, date):
            return fields  # only these two derive a field here
        ruleset = rules.rules_on(on)
        if cls is ev.Housed and fields.get("counts_for_taakstelling") is None:
            fields = {
                **fields,
                "counts_for_taakstelling": self._counts_for_taakstelling(fields, ruleset),
                "rule_version": ruleset.version,
            }
        if cls is ev.FamilyReunificationApplied and fields.get("late") is None:
            notified = self.state.asylum_notified_on
            if notified is not None:
                fields = {
                    **fields,
                    "late": on > rules.nareis_deadline(notified),
                    "rule_version": ruleset.version,
                }
        return fields

    def _counts_for_taakstelling(self, fields: dict[str, Any], ruleset: rules.RuleSet) -> bool:
        municipality = fields.get("municipality") or self.state.municipality
        if any(place == municipality for place, _, _ in self.state.housed_in):
            return False  # only the first housing in a municipality counts
        try:
            route = HousingRoute(fields.get("route", HousingRoute.EIGEN))
            kind = HousingKind(fields.get("housing_kind", HousingKind.REGULIER))
        except (ValueError, TypeError):
            return False  # not a route or housing kind: the model refuses it, naming the field
        if route is HousingRoute.NAREIS:
            return ruleset.taakstelling_counts_nareizigers
        if route is not HousingRoute.KOPPELING:
            return False
        return ruleset.taakstelling_counts_gva or kind is not HousingKind.GVA

    # --- hard rules and warnings ------------------------------------------------------------

    def check(self, event: ev.TrajectEvent) -> list[str]:
        warnings = super().check(event)
        cls = type(event)  # the kind by its class, as in StreamAggregate.check
        kind = kind_name(cls)
        s = self.state
        if type(event) is ev.PersonRegistered:
            if s.registered:
                raise RuleViolationError(kind, "person", "a person is registered once")
            _check_birth_date(event)
            return warnings
        if not s.registered:
            raise RuleViolationError(kind, "person", "PersonRegistered must come first")
        self.check_not_erased(cls)
        if cls not in ev.CONTROL_EVENTS:
            if s.deceased_on is not None:
                _after_death(event, s.deceased_on, kind)
            warnings += _after_closure(event, s)
            self._check_dates(event)
            warnings += self._rules_for(event, kind)
        day = recorded_day(event)
        if rules.is_late_recording(event.occurred_on, day):
            days = (day - event.occurred_on).days
            limit = rules.rules_on(event.occurred_on).late_recording_days
            warnings.append(f"recorded {days} days after it happened (flagged above {limit} days)")
        return warnings

    def check_not_erased(self, kind: type[ev.TrajectEvent] = ev.PersonalDataShredded) -> None:
        """Nothing is recorded for an erased person: a second erasure is refused, naming the
        first's day, and so is every other fact of ``kind``, personal fields or not.

        The erasure ends the processing of her data (no retention basis and no hold was open,
        domain §5.5): a new fact would start it again on a stream whose personal fields can no
        longer be read or written, and could not be corrected or retracted (their reason is
        personal). A person who comes back is registered anew, as a new person.

        Raises:
            RuleViolationError: field ``person``.
        """
        version = self.erasure
        if version is None:
            return
        on = self.stored[version].occurred_on
        if kind is ev.PersonalDataShredded:
            rule = f"already erased on {on} (v{version})"
        else:
            rule = (
                f"erased on {on} (v{version}): nothing more is recorded for an "
                "erased person; one who comes back is registered anew, as a new person"
            )
        raise RuleViolationError(kind_name(kind), "person", rule)

    def check_corrected(
        self, corrected: ev.TrajectEvent, correction: ev.EventCorrected
    ) -> list[str]:
        warnings = super().check_corrected(corrected, correction)
        if isinstance(corrected, ev.PersonRegistered):
            _check_birth_date(corrected)
            return warnings
        self._check_dates(corrected)
        return warnings + self._rules_for(corrected, kind_name(type(corrected)))

    def _check_dates(self, event: ev.TrajectEvent) -> None:
        birth = self.state.birth_date
        if birth is not None and event.occurred_on < birth:
            raise RuleViolationError(
                kind_name(type(event)), "occurred_on", f"must not be before birth ({birth})"
            )

    def _rules_for(self, event: ev.TrajectEvent, kind: str) -> list[str]:
        only = _regime_only(type(event))
        if only is not None:
            regime = self.state.duty.regime if self.state.duty else None
            if only is Regime.WI2021 and regime not in (None, Regime.WI2021):
                raise RuleViolationError(
                    kind, "regime", f"only under Wi2021; this person's duty is {regime}"
                )
            if only is Regime.WI2013 and regime is not Regime.WI2013:
                raise RuleViolationError(
                    kind,
                    "regime",
                    f"only under Wi2013; this person's duty is {regime or 'not set'}",
                )
        duty = self.state.duty
        if (
            type(event) in DUTY_STEPS
            and duty is not None
            and duty.fulfilled_on is not None
            and event.occurred_on > duty.fulfilled_on
        ):
            raise RuleViolationError(
                kind,
                "occurred_on",
                f"dated {event.occurred_on}, after the {duty.regime} duty was fulfilled on "
                f"{duty.fulfilled_on}: a fulfilled duty takes no new step (correct or retract "
                "the fulfilment if it was recorded wrongly)",
            )
        return _rules_for_class(type(event))(event, self, kind)

    def _check_housed(self, event: ev.Housed, kind: str) -> None:
        s = self.state
        if event.route is HousingRoute.KOPPELING and s.active_link is None:
            used = s.link_housed_on
            if s.linked_on is not None and used is not None and s.linked_on <= used:
                # the latest koppeling was used up by a housing: say so, rather than ask for a
                # koppeling the timeline shows (a second move-in is the usual slip)
                raise RuleViolationError(
                    kind,
                    "route",
                    f"koppeling needs an active koppeling: the koppeling of {s.linked_on} was "
                    f"used by the housing of {used} (a koppeling houses once); a later move "
                    "takes another route (eigen, gva_doorstroom)",
                )
            raise RuleViolationError(
                kind, "route", "koppeling needs an active koppeling (record coa-linked first)"
            )
        if event.route is HousingRoute.KOPPELING and event.municipality != s.active_link:
            # the koppeling links the person to a municipality for its taakstelling: housing
            # through it is housing there (elsewhere it is another route, or a new koppeling)
            raise RuleViolationError(
                kind,
                "municipality",
                f"housed in {event.municipality} through the koppeling to {s.active_link}: "
                "housing through a koppeling is in the municipality it links to (withdraw "
                "the koppeling and link again, or give another route)",
            )
        if event.route is HousingRoute.KOPPELING:
            _not_before(kind, event.occurred_on, s.linked_on, "koppeling")
        _not_before(kind, event.occurred_on, s.tenancy_on, "tenancy")
        if event.route is HousingRoute.NAREIS and s.household_id in (None, self.id):
            # a nareiziger joins the referent's household (domain.md §2.4, hard): the route
            # needs that link, which the referent's housing is checked against
            raise RuleViolationError(
                kind,
                "route",
                "nareis is for a nareiziger in a referent's household: a nareiziger joins a "
                "housed referent's household (correct the registration's household_id to the "
                "referent's person id first)",
            )
        if event.route is HousingRoute.GVA_DOORSTROOM and not any(
            k is HousingKind.GVA for _, k, _ in s.housed_in
        ):
            raise RuleViolationError(kind, "route", "gva_doorstroom needs an earlier GVA housing")

    def _check_pip(self, event: ev.PipAdopted, kind: str) -> list[str]:
        s = self.state
        if s.pip_version == 0 and event.version != 1:
            raise RuleViolationError(kind, "version", "the first PIP is version 1")
        if s.pip_version and event.version <= s.pip_version:
            raise RuleViolationError(
                kind, "version", f"must be above the latest version ({s.pip_version})"
            )
        _not_before(
            kind,
            event.occurred_on,
            s.pip_on,
            f"PIP version {s.pip_version}",
            "a PIP version follows the one it revises",
        )
        if event.version != 1:
            return []
        if s.duty is not None and event.occurred_on < s.duty.start:
            # the PIP is a decision for a person under the duty, and its dagtekening starts
            # the term (art. 11): a term that starts before the duty cannot be true
            raise RuleViolationError(
                kind,
                "occurred_on",
                f"dagtekening {event.occurred_on} of PIP version 1 is before the start of the "
                f"{s.duty.regime} duty on {s.duty.start}: a PIP is adopted for a person under "
                "the duty, and starts the term (correct the duty's duty_start first if DUO's "
                "date was recorded wrongly)",
            )
        due = rules.pip_due_date(s.duty.notified_on if s.duty else None, s.brp_registered_on)
        if due is not None and event.occurred_on > due:
            return [f"PIP v1 is late: it was due on {due} (10 weeks after notice/BRP)"]
        return []

    def _pvt_warnings(self, event: ev.PvtCompleted) -> list[str]:
        s = self.state
        if s.duty is None:
            return []
        warnings: list[str] = []
        minimum = rules.rules_on(event.occurred_on).pvt_min_hours_wi2021
        if s.duty.regime is Regime.WI2021 and event.hours < minimum:
            # a warning, not a refusal: the signing happened, the hours may be mis-typed
            warnings.append(
                f"PVT of {event.hours} hours: a Wi2021 PVT takes at least {minimum} hours "
                "(Besluit inburgering 2021 art. 3.1): recorded as given (traject correct "
                "--set hours=… if it was mistyped)"
            )
        deadline: date | None = None
        if s.duty.regime is Regime.WI2021 and s.pip_v1_on is not None:
            deadline = rules.term_end(s.pip_v1_on)
        elif s.duty.regime is Regime.WI2013:
            settled = [on for _, _, on in s.housed_in] + (
                [s.brp_registered_on] if s.brp_registered_on else []
            )
            deadline = rules.pvt_deadline_wi2013(min(settled)) if settled else None
        if deadline is not None and event.occurred_on > deadline:
            warnings.append(f"PVT signed after its {s.duty.regime} deadline of {deadline}")
        return warnings


MAX_AGE_YEARS = 120
"""The most years a birth date lies before the registration: an older date is a typo
(1800-01-01 for 1980-01-01), not a statushouder."""


def _check_birth_date(event: ev.PersonRegistered) -> None:
    """A birth date is not after the registration, nor more than :data:`MAX_AGE_YEARS`
    before it (a rule of the aggregate, not of the model: facts stored before it still load).

    Raises:
        RuleViolationError: naming ``birth_date``.
    """
    kind, born, on = kind_name(type(event)), event.birth_date, event.occurred_on
    if born > on:
        raise RuleViolationError(kind, "birth_date", f"must not be after the registration on {on}")
    if on.year <= MAX_AGE_YEARS:  # no calendar year that far back: every birth date fits
        return
    try:
        earliest = on.replace(year=on.year - MAX_AGE_YEARS)
    except ValueError:  # 29 February in a year without one
        earliest = on.replace(year=on.year - MAX_AGE_YEARS, day=28)
    if born < earliest:
        raise RuleViolationError(
            kind,
            "birth_date",
            f"{born} is more than {MAX_AGE_YEARS} years before the registration on {on}: "
            f"a birth date lies on or after {earliest}",
        )


@functools.singledispatch
def _rules(event: ev.TrajectEvent, t: Trajectory, kind: str) -> list[str]:
    """A person fact's own hard rules (raise) and warnings (returned), given the person's
    state: one handler per fact that has rules (dispatched on the event's class, cached per
    class); other facts have none beyond those every fact meets."""
    return []


_rules_for_class = functools.cache(_rules.dispatch)
"""The rules handler of a class, as ``_evolve_for``."""


@_rules.register(ev.NaturalisationGranted)
def _rules_naturalised(event: ev.NaturalisationGranted, t: Trajectory, kind: str) -> list[str]:
    s = t.state
    if s.naturalised_on is not None:
        raise RuleViolationError(
            kind,
            "person",
            f"naturalised on {s.naturalised_on} already: naturalisation happens once (correct "
            "that fact instead)",
        )
    if s.permit_on is not None and s.permit_on >= event.occurred_on:
        # recorded late, a naturalisation is not dated on or before a permit already recorded
        raise RuleViolationError(
            kind,
            "occurred_on",
            f"{event.occurred_on} is not after the residence permit valid from {s.permit_on}: "
            "a Dutch citizen holds no residence permit, so a naturalisation follows the "
            "permits recorded",
        )
    return []


@_rules.register(ev.ResidencePermitRecorded)
def _rules_permit(event: ev.ResidencePermitRecorded, t: Trajectory, kind: str) -> list[str]:
    naturalised_on = t.state.naturalised_on
    if naturalised_on is not None and event.occurred_on >= naturalised_on:
        raise RuleViolationError(
            kind,
            "occurred_on",
            f"{event.occurred_on} is on or after the naturalisation on {naturalised_on}: a "
            "Dutch citizen holds no residence permit",
        )
    return []


@_rules.register(ev.BrpRegistered)
def _rules_brp(event: ev.BrpRegistered, t: Trajectory, kind: str) -> list[str]:
    previous = event.previous_municipality
    if previous is not None and previous == event.municipality:
        # a rule of the aggregate, not of the model: facts stored before it still load
        raise RuleViolationError(
            kind,
            "previous_municipality",
            f"{previous} is the municipality the person registers in: the previous "
            "municipality is the one the person came from (leave it out for a new address "
            "within it)",
        )
    return []


@_rules.register(ev.CoaLinked)
def _rules_linked(event: ev.CoaLinked, t: Trajectory, kind: str) -> list[str]:
    s = t.state
    if s.nareiziger or s.housed_by_nareis:
        raise RuleViolationError(
            kind, "person", "a nareiziger is not linked by COA: use housed --route nareis"
        )
    if s.permit_kind not in (None, PermitKind.ASIEL_BT):
        raise RuleViolationError(
            kind, "permit_kind", f"koppeling is for asiel_bt permits, not {s.permit_kind}"
        )
    if s.active_link is not None:
        raise RuleViolationError(
            kind, "person", f"already linked to {s.active_link}: withdraw that link first"
        )
    housed = s.link_housed_on
    if housed is not None and event.occurred_on <= housed:
        # the housing used the koppeling made before it: a second one of before that housing
        # is the same koppeling recorded twice, and would let the person be housed twice
        raise RuleViolationError(
            kind,
            "occurred_on",
            f"dated {event.occurred_on}, not after the housing through a koppeling of {housed}, "
            "which used the koppeling made before it: is this koppeling recorded already? "
            "(see traject timeline)",
        )
    _check_not_housed_yet(event, s, kind)
    return []


def _check_not_housed_yet(event: ev.CoaLinked, s: TrajectoryState, kind: str) -> None:
    """COA links a permit holder who is still in its reception; housing (by any route) ends
    that reception, so a koppeling dated after the person's first housing is refused: the
    person is not linked again, a later move is a housing of its own. Only one who left the
    Netherlands after their latest housing (moved out abroad) can come back into reception and
    be linked anew, on or after that departure. A koppeling dated before the first housing,
    recorded late, is accepted.

    Raises:
        RuleViolationError: field ``occurred_on``.
    """
    if not s.housed_in:
        return
    first = min(on for _, _, on in s.housed_in)
    if event.occurred_on <= first:
        return
    latest = max(on for _, _, on in s.housed_in)
    left = s.left_nl_on
    if left is not None and left >= latest and event.occurred_on >= left:
        return
    raise RuleViolationError(
        kind,
        "occurred_on",
        f"dated {event.occurred_on}, after the person was housed on {first}: COA links only a "
        "permit holder still in its reception, which the housing ended (record a move as "
        "housed; if the housing was recorded wrongly, correct or retract it first)",
    )


@_rules.register(ev.CoaLinkWithdrawn)
def _rules_unlinked(event: ev.CoaLinkWithdrawn, t: Trajectory, kind: str) -> list[str]:
    if t.state.active_link is None:
        raise RuleViolationError(kind, "person", "there is no active koppeling to withdraw")
    _not_before(
        kind,
        event.occurred_on,
        t.state.linked_on,
        "koppeling",
        "a koppeling is withdrawn after it is made",
    )
    return []


HOUSING_CHAIN = "koppeling → tenancy → housed"


def _not_before(
    kind: str, on: date, earlier: date | None, what: str, chain: str = HOUSING_CHAIN
) -> None:
    """A step is not dated before the step it follows (``chain``), whatever order the facts
    were recorded in: koppeling → tenancy → housed (domain.md §2.4, hard), and the end of an
    outflow or a guidance year after its start."""
    if earlier is not None and on < earlier:
        msg = f"dated {on}, before the {what} of {earlier} it follows ({chain})"
        raise RuleViolationError(kind, "occurred_on", msg)


@_rules.register(ev.TenancySigned)
def _rules_tenancy(event: ev.TenancySigned, t: Trajectory, kind: str) -> list[str]:
    s = t.state
    in_household = s.household_id is not None  # a permit alone links to no household
    if s.active_link is None and not in_household and not s.housed_in:
        raise RuleViolationError(
            kind, "person", "needs an active koppeling, or a nareiziger's household"
        )
    if s.active_link is not None:
        _not_before(kind, event.occurred_on, s.linked_on, "koppeling")
    return []


@_rules.register(ev.Housed)
def _rules_housed(event: ev.Housed, t: Trajectory, kind: str) -> list[str]:
    t._check_housed(event, kind)
    ruleset = rules.rules_on(event.occurred_on)
    derived = t._counts_for_taakstelling(
        {
            "municipality": event.municipality,
            "route": event.route,
            "housing_kind": event.housing_kind,
        },
        ruleset,
    )
    if event.counts_for_taakstelling is not None and event.counts_for_taakstelling != derived:
        return [
            f"counts_for_taakstelling {str(event.counts_for_taakstelling).lower()}: not what rule "
            f"set {ruleset.version} derives for this {event.route} housing "
            f"({str(derived).lower()}): recorded as given, and the housing report counts it so"
        ]
    return []


@_rules.register(ev.InburgeringDutyEstablished)
def _rules_duty(event: ev.InburgeringDutyEstablished, t: Trajectory, kind: str) -> list[str]:
    duty = t.state.duty
    if duty is not None and not duty.fulfilled:
        raise RuleViolationError(
            kind, "person", f"an open {duty.regime} duty exists since {duty.start}"
        )
    if event.term_end is not None and event.term_end <= event.duty_start:
        raise RuleViolationError(
            kind,
            "term_end",
            f"{event.term_end} is not after the duty's start on {event.duty_start}: the term "
            "runs from the start of the duty",
        )
    warnings = _pip_before_duty(event, t.state)
    # given values are recorded as DUO stated them (never recomputed), but one that differs
    # from the derivation decides regime-bound rules and deadlines: say so
    start = event.duty_start
    derived = {
        "regime": rules.derive_regime(start),
        "ona_required": rules.ona_required(start),
        "pvt_required": rules.pvt_required(start),
    }
    differing = []
    for name, value in derived.items():
        given = getattr(event, name)
        if given is None and value is False:
            continue  # a flag not given acts as false
        if given != value:
            differing.append(f"{name} {'not given' if given is None else given}")
    if not differing:
        return warnings
    expected = ", ".join(f"{name} {value}" for name, value in derived.items())
    return [
        *warnings,
        f"{', '.join(differing)}: not what rule set {rules.rules_on(start).version} "
        f"derives from duty_start {start} ({expected}): recorded as given, and the regime's "
        "rules and deadlines follow it",
    ]


def _pip_before_duty(event: ev.InburgeringDutyEstablished, s: TrajectoryState) -> list[str]:
    """A duty recorded after a PIP version 1 dated before its start: DUO's date is recorded
    as given (the PIP version 1 of a later duty is refused instead), with a warning that one
    of the two dates is wrong."""
    pip_on = s.pip_v1_on
    if pip_on is None or pip_on >= event.duty_start:
        return []
    return [
        f"duty_start {event.duty_start} is after the dagtekening {pip_on} of PIP version 1: a "
        "PIP is adopted for a person under the duty, so one of the two dates is wrong: "
        "recorded as given (traject correct the PIP's date, or this duty_start)"
    ]


@_rules.register(ev.InburgeringDutyFulfilled)
def _rules_duty_fulfilled(
    event: ev.InburgeringDutyFulfilled, t: Trajectory, kind: str
) -> list[str]:
    duty = t.state.duty
    if duty is None:
        raise RuleViolationError(
            kind,
            "person",
            "no inburgering duty to fulfil: record inburgering-duty-established first",
        )
    if duty.fulfilled:
        raise RuleViolationError(
            kind, "person", f"the {duty.regime} duty of {duty.start} is already fulfilled"
        )
    _not_before(
        kind,
        event.occurred_on,
        duty.start,
        "duty start",
        "a duty is fulfilled once it has started",
    )
    return []


@_rules.register(ev.TermExtended)
def _rules_term_extended(event: ev.TermExtended, t: Trajectory, kind: str) -> list[str]:
    s = t.state
    if s.duty is None:
        raise RuleViolationError(
            kind,
            "person",
            "no inburgering duty whose term to extend: record inburgering-duty-established first",
        )
    # the end as it stands: the latest extension, else PIP v1 + the term (Wi2021), else DUO's
    current = s.duty.extended_to
    if current is None and s.duty.regime is Regime.WI2021 and s.pip_v1_on is not None:
        current = rules.term_end(s.pip_v1_on)
    current = current or s.duty.term_end
    if current is not None and event.new_end <= current:
        raise RuleViolationError(
            kind,
            "new_end",
            f"{event.new_end} is not after the term end of {current}: an extension moves the "
            "end of the term later",
        )
    if current is None and event.new_end <= event.occurred_on:
        raise RuleViolationError(
            kind,
            "new_end",
            f"{event.new_end} is not after the decision on {event.occurred_on}: an extension "
            "moves the end of the term later",
        )
    return []


@_rules.register(ev.PipAdopted)
def _rules_pip(event: ev.PipAdopted, t: Trajectory, kind: str) -> list[str]:
    return t._check_pip(event, kind)


@_rules.register(ev.LearningRouteStarted)
@_rules.register(ev.LearningRouteChanged)
def _rules_route(
    event: ev.LearningRouteStarted | ev.LearningRouteChanged, t: Trajectory, kind: str
) -> list[str]:
    # the PIP decides the leerroute (art. 15): a route started or changed to another one than
    # the latest PIP version's can happen (the new PIP version not recorded yet), so a warning
    planned, s = t.state.pip_leerroute, t.state
    if planned is None or event.route is planned:
        return []
    return [
        f"route {event.route} is not the leerroute {planned} of PIP version {s.pip_version} "
        f"(dagtekening {s.pip_on}): a leerroute is decided in the PIP, so a change of route "
        "comes with a new PIP version (record pip-adopted): recorded as given"
    ]


@_rules.register(ev.MapCompleted)
def _rules_map(event: ev.MapCompleted, t: Trajectory, kind: str) -> list[str]:
    if t.state.leerroute is LearningRoute.ONDERWIJS:
        raise RuleViolationError(kind, "leerroute", "MAP is not part of the onderwijsroute")
    return []


@_rules.register(ev.DowngradedToA2)
def _rules_downgraded(event: ev.DowngradedToA2, t: Trajectory, kind: str) -> list[str]:
    s = t.state
    minimum = rules.rules_on(event.occurred_on).afschalen_min_nt2_hours
    if s.leerroute is not LearningRoute.B1:
        raise RuleViolationError(kind, "leerroute", "afschalen is for the B1-route only")
    if s.nt2_hours < minimum:
        raise RuleViolationError(
            kind,
            "hours",
            f"afschalen needs at least {minimum} NT2 hours; {s.nt2_hours:g} reported",
        )
    return []


@_rules.register(ev.ExamResultRecorded)
def _rules_exam(event: ev.ExamResultRecorded, t: Trajectory, kind: str) -> list[str]:
    taken_on = t.state.exams.get((event.component, event.level, event.attempt_no))
    if taken_on is not None:
        # one result per attempt: a second would count the attempt twice in the pass rates
        raise RuleViolationError(
            kind,
            "attempt_no",
            f"the result of attempt {event.attempt_no} at {event.component} {event.level} is "
            f"already recorded (exam of {taken_on}): correct that fact instead",
        )
    return []


@_rules.register(ev.PvtCompleted)
def _rules_pvt(event: ev.PvtCompleted, t: Trajectory, kind: str) -> list[str]:
    reported = event.reported_to_duo_on
    if reported is not None and reported < event.occurred_on:
        # a rule of the aggregate, not of the model: facts stored before it still load
        raise RuleViolationError(
            kind,
            "reported_to_duo_on",
            f"{reported} is before the signing on {event.occurred_on}: a PVT is reported to DUO "
            "once it is signed",
        )
    _check_one_pvt(t.state, kind)
    return t._pvt_warnings(event)


def _check_one_pvt(s: TrajectoryState, kind: str) -> None:
    """A participatieverklaring is signed once per inburgering duty: a second PvtCompleted for
    the same duty (one signed on or after its start; without a duty, any) is the same signing
    recorded twice, and would count twice in the PVT report (P11). A new duty, after one
    fulfilled, takes its own.

    Raises:
        RuleViolationError: field ``person``.
    """
    duty = s.duty
    signed = [on for on in s.pvt_signed if duty is None or on >= duty.start]
    if not signed:
        return
    of_duty = "" if duty is None else f" for the {duty.regime} duty of {duty.start}"
    raise RuleViolationError(
        kind,
        "person",
        f"a PVT signed on {max(signed)} is recorded already{of_duty}: the participatieverklaring "
        "is signed once per duty (correct that fact instead, see traject timeline)",
    )


@_rules.register(ev.ProfileUpdated)
def _rules_profile(event: ev.ProfileUpdated, t: Trajectory, kind: str) -> list[str]:
    given = (event.occupation_direction, event.education, event.language_level)
    if all(value is None for value in given):
        # a rule of the aggregate, not of the model: facts stored before it still load
        raise RuleViolationError(
            kind,
            "occupation_direction",
            "a profile update gives at least one of occupation_direction, education and "
            "language_level (one not given keeps its earlier value)",
        )
    return []


LONG_TERM_KINDS = (PermitKind.ONBEPAALDE_TIJD, PermitKind.EU_LANGDURIG)
"""The permits a long-term residence application is for (AMIF R.2.11)."""


@_rules.register(ev.LongTermResidenceApplied)
def _rules_long_term(event: ev.LongTermResidenceApplied, t: Trajectory, kind: str) -> list[str]:
    if event.residence_kind not in LONG_TERM_KINDS:
        # a rule of the aggregate, not of the model: facts stored before it still load
        raise RuleViolationError(
            kind,
            "residence_kind",
            f"{event.residence_kind} is not a long-term residence permit: the application is "
            "for onbepaalde_tijd (permanent) or eu_langdurig (EU long-term resident)",
        )
    return []


HOURS_IN_A_WEEK = 7 * 24
"""The most contract hours a week can hold: arithmetic, not a rule of the domain. A tighter
legal bound (the Arbeidstijdenwet) does not hold for every outflow (zzp, onderwijs)."""


@_rules.register(ev.OutflowStarted)
def _rules_outflow_started(event: ev.OutflowStarted, t: Trajectory, kind: str) -> list[str]:
    started_on = t.state.open_outflows.get(event.outflow_type)
    if started_on is not None:
        # several types may be open at once (partial work beside volunteering), the same
        # type once: a second start would make the stock and its end ambiguous
        raise RuleViolationError(
            kind,
            "outflow_type",
            f"a {event.outflow_type} outflow is already open (started {started_on}): "
            "end it first (outflow-ended)",
        )
    for first, last in t.state.outflow_spells.get(event.outflow_type, ()):
        if first <= event.occurred_on < last:
            # spells of one type do not overlap: the stock at a date would count one twice
            raise RuleViolationError(
                kind,
                "occurred_on",
                f"dated {event.occurred_on}, inside the {event.outflow_type} outflow of "
                f"{first} to {last}: outflows of one type do not overlap",
            )
    if event.hours_per_week is not None and event.hours_per_week > HOURS_IN_A_WEEK:
        raise RuleViolationError(
            kind,
            "hours_per_week",
            f"{event.hours_per_week} hours is more than a week holds ({HOURS_IN_A_WEEK})",
        )
    return []


@_rules.register(ev.OutflowEnded)
def _rules_outflow_ended(event: ev.OutflowEnded, t: Trajectory, kind: str) -> list[str]:
    started_on = t.state.open_outflows.get(event.outflow_type)
    if started_on is None:
        raise RuleViolationError(
            kind, "outflow_type", f"no open {event.outflow_type} outflow to end"
        )
    _not_before(kind, event.occurred_on, started_on, "start", "an outflow ends after it starts")
    for first, last in t.state.outflow_spells.get(event.outflow_type, ()):
        if started_on < first <= event.occurred_on:
            raise RuleViolationError(
                kind,
                "occurred_on",
                f"the {event.outflow_type} outflow started {started_on} would end on "
                f"{event.occurred_on}, not before the one of {first} to {last} began: outflows "
                "of one type do not overlap",
            )
    return []


@_rules.register(ev.SocialGuidanceStarted)
def _rules_guidance(event: ev.SocialGuidanceStarted, t: Trajectory, kind: str) -> list[str]:
    years = t.state.guidance_years
    if event.year_no == 2 and 1 not in years:
        raise RuleViolationError(kind, "year_no", "guidance year 2 follows year 1")
    if event.year_no == 2:
        _not_before(
            kind,
            event.occurred_on,
            t.state.guidance_started[1],
            "start of year 1",
            "guidance year 2 follows year 1",
        )
    if event.year_no in years:
        raise RuleViolationError(kind, "year_no", f"year {event.year_no} already started")
    return []


@_rules.register(ev.SocialGuidanceEnded)
def _rules_guidance_ended(event: ev.SocialGuidanceEnded, t: Trajectory, kind: str) -> list[str]:
    s = t.state
    started_on = s.open_guidance.get(event.year_no)
    if started_on is None:
        state = "already ended" if event.year_no in s.guidance_years else "not started"
        raise RuleViolationError(
            kind, "year_no", f"no open guidance year {event.year_no} to end ({state})"
        )
    _not_before(
        kind, event.occurred_on, started_on, "start", "a guidance year ends after it starts"
    )
    return []


@_rules.register(ev.CoachAssigned)
def _rules_coach(event: ev.CoachAssigned, t: Trajectory, kind: str) -> list[str]:
    assigned_on = t.state.coaches.get((event.staff_id, event.role))
    if assigned_on is not None:
        # one open assignment per staff member and role: coach-unassigned closes it
        raise RuleViolationError(
            kind,
            "staff_id",
            f"{event.staff_id} is already assigned as {event.role} (since {assigned_on}): "
            "record coach-unassigned first",
        )
    return []


@_rules.register(ev.CoachUnassigned)
def _rules_coach_gone(event: ev.CoachUnassigned, t: Trajectory, kind: str) -> list[str]:
    assigned_on = t.state.coaches.get((event.staff_id, event.role))
    if assigned_on is None:
        raise RuleViolationError(
            kind, "staff_id", f"{event.staff_id} is not assigned as {event.role}"
        )
    _not_before(
        kind,
        event.occurred_on,
        assigned_on,
        f"assignment of {event.staff_id} as {event.role}",
        "a staff member hands a person over after taking them on",
    )
    return []


@_rules.register(ev.BenefitEnded)
def _rules_benefit_ended(event: ev.BenefitEnded, t: Trajectory, kind: str) -> list[str]:
    granted_on = t.state.open_benefits.get(event.benefit_kind)
    if granted_on is None:
        raise RuleViolationError(
            kind,
            "benefit_kind",
            f"no granted {event.benefit_kind} benefit to end (record benefit-granted first, "
            "dated when it was granted)",
        )
    _not_before(kind, event.occurred_on, granted_on, "grant", "a benefit ends after it is granted")
    ontzorgen = t.state.open_ontzorgen
    if event.benefit_kind is BenefitKind.ALGEMENE_BIJSTAND and ontzorgen is not None:
        return [
            f"the ontzorgen started {ontzorgen} is still open: it is paid from this benefit and "
            f"ends with it (record ontzorgen-ended --on {event.occurred_on} or earlier)"
        ]
    return []


def _bijstand_spell(s: TrajectoryState, on: date) -> tuple[date, date | None] | None:
    """The algemene_bijstand benefit running on ``on``: granted on or before it, and not ended
    on or before it."""
    for granted_on, ended_on in s.bijstand_spells:
        if granted_on <= on and (ended_on is None or on < ended_on):
            return granted_on, ended_on
    return None


@_rules.register(ev.OntzorgenStarted)
def _rules_ontzorgen(event: ev.OntzorgenStarted, t: Trajectory, kind: str) -> list[str]:
    s, on = t.state, event.occurred_on
    if s.duty is None:
        raise RuleViolationError(
            kind,
            "regime",
            "only under Wi2021, and this person has no inburgering duty: record "
            "inburgering-duty-established first",
        )
    if not s.asylum_permit:
        held = f"the permit recorded is {s.permit_kind}" if s.permit_kind else "none is recorded"
        raise RuleViolationError(
            kind,
            "permit_kind",
            f"ontzorgen is for asielstatushouders (an asiel_bt or asiel_afgeleid permit); {held}",
        )
    if _bijstand_spell(s, on) is None:
        spells = ", ".join(
            f"{granted} to {ended}" if ended else f"from {granted}"
            for granted, ended in s.bijstand_spells
        )
        raise RuleViolationError(
            kind,
            "occurred_on",
            f"no algemene_bijstand benefit runs on {on}"
            + (f" (algemene_bijstand: {spells})" if spells else "")
            + ": ontzorgen is paid from the benefit, so it starts while one runs (record "
            "benefit-granted --benefit-kind algemene_bijstand first)",
        )
    if s.open_ontzorgen is not None:
        raise RuleViolationError(
            kind,
            "person",
            f"the ontzorgen started {s.open_ontzorgen} is still open: record ontzorgen-ended first",
        )
    for first, last in s.ontzorgen_spells:
        if first <= on < last:
            raise RuleViolationError(
                kind,
                "occurred_on",
                f"dated {on}, inside the ontzorgen of {first} to {last}: one ontzorgen at a time",
            )
    twice = sorted({item for item in event.items if event.items.count(item) > 1})
    if twice:
        raise RuleViolationError(
            kind, "items", f"{', '.join(twice)} given more than once: give each item once"
        )
    ruleset = rules.ontzorgen_rules_on(on)
    missing = [item for item in ruleset.required_items if item not in event.items]
    if not missing:
        return []
    return [
        f"items without {', '.join(missing)}: ontzorgen rule set {ruleset.version} (valid from "
        f"{ruleset.valid_from}) has the municipality pay "
        f"{', '.join(ruleset.required_items)} from the benefit: recorded as given"
    ]


@_rules.register(ev.OntzorgenEnded)
def _rules_ontzorgen_ended(event: ev.OntzorgenEnded, t: Trajectory, kind: str) -> list[str]:
    s, on = t.state, event.occurred_on
    started_on = s.open_ontzorgen
    if started_on is None:
        ended = f" (the last ended on {s.ontzorgen_spells[-1][1]})" if s.ontzorgen_spells else ""
        raise RuleViolationError(
            kind, "person", f"no open ontzorgen to end{ended}: record ontzorgen-started first"
        )
    _not_before(kind, on, started_on, "start", "ontzorgen ends after it starts")
    spell = _bijstand_spell(s, started_on)
    benefit_end = spell[1] if spell else None
    if benefit_end is not None and on > benefit_end:
        raise RuleViolationError(
            kind,
            "occurred_on",
            f"dated {on}, after the algemene_bijstand benefit it is paid from ended on "
            f"{benefit_end}: ontzorgen ends with the benefit, at the latest on that day",
        )
    planned = rules.ontzorgen_planned_end(started_on)
    if on > planned:
        months = rules.ontzorgen_rules_on(started_on).planned_months
        return [
            f"ended {on}, after its planned end on {planned} ({months} months after the start "
            f"on {started_on}): ontzorgen beyond that is voluntary, with the person's consent"
        ]
    return []


@_rules.register(ev.PipObjectionFiled)
def _rules_objection(event: ev.PipObjectionFiled, t: Trajectory, kind: str) -> list[str]:
    s = t.state
    if s.pip_v1_on is None:
        raise RuleViolationError(kind, "person", "no PIP to object to: record pip-adopted first")
    if s.objection_filed_on is not None:
        raise RuleViolationError(
            kind,
            "person",
            f"the objection filed {s.objection_filed_on} is not decided yet: record "
            "pip-objection-decided first",
        )
    _not_before(
        kind,
        event.occurred_on,
        s.pip_v1_on,
        "PIP version 1",
        "an objection follows the decision it objects to",
    )
    return []


@_rules.register(ev.PipObjectionDecided)
def _rules_objection_decided(event: ev.PipObjectionDecided, t: Trajectory, kind: str) -> list[str]:
    s = t.state
    filed_on = s.objection_filed_on
    if filed_on is None:
        decided = (
            f" (the last was decided on {s.objection_decided_on})" if s.objection_decided_on else ""
        )
        raise RuleViolationError(
            kind,
            "person",
            f"no open objection to decide{decided}: record pip-objection-filed first",
        )
    _not_before(
        kind, event.occurred_on, filed_on, "objection", "an objection is decided after it is filed"
    )
    return _objection_decided_late(event.occurred_on, filed_on)


def _objection_decided_late(on: date, filed_on: date) -> list[str]:
    """A decision past the objection's decision term is recorded with a warning (Awb art.
    7:10), by the objection rule set in force on the filing, as the P1 signal judges it."""
    due = rules.objection_decision_due(filed_on)
    if on <= due:
        return []
    ruleset = rules.objection_rules_on(filed_on)
    latest = rules.objection_decision_latest(filed_on)
    term = (
        f"also past the term with its one extension, {latest}"
        if on > latest
        else f"within the term with its one extension, {latest}, only if the decision was postponed"
    )
    return [
        f"objection decided {on}, after its decision term ended on {due} "
        f"({ruleset.decision_weeks} weeks after the filing on {filed_on}, objection rule set "
        f"{ruleset.version}); {term}"
    ]


@_rules.register(ev.ZRouteFinalInterviewHeld)
def _rules_final_interview(
    event: ev.ZRouteFinalInterviewHeld, t: Trajectory, kind: str
) -> list[str]:
    s = t.state
    if s.leerroute is not LearningRoute.Z:
        raise RuleViolationError(
            kind,
            "leerroute",
            f"the eindgesprek is part of the Z-route only; this person's leerroute is "
            f"{s.leerroute or 'not set'}",
        )
    if s.z_route_completed_on is not None:
        raise RuleViolationError(
            kind,
            "person",
            f"the eindgesprek of {s.z_route_completed_on} completed the Z-route already "
            "(outcome voldaan)",
        )
    return []


@_rules.register(ev.DuoLoanReclaimed)
def _rules_loan_reclaimed(event: ev.DuoLoanReclaimed, t: Trajectory, kind: str) -> list[str]:
    s = t.state
    if s.duo_loan_granted_on is None:
        raise RuleViolationError(
            kind, "person", "no DUO loan to reclaim: record duo-loan-granted first"
        )
    _not_before(
        kind,
        event.occurred_on,
        s.duo_loan_granted_on,
        "loan",
        "a loan is reclaimed after it is granted",
    )
    if event.amount > s.duo_loan_outstanding:
        raise RuleViolationError(
            kind,
            "amount",
            f"{event.amount:.2f} is more than the {s.duo_loan_outstanding:.2f} of the DUO loan "
            "still outstanding (granted, less what was waived or reclaimed)",
        )
    return []


@_rules.register(ev.MovedOut)
def _rules_moved_out(event: ev.MovedOut, t: Trajectory, kind: str) -> list[str]:
    # rules of the aggregate, not of the model: facts stored before them still load
    destination = event.destination_municipality
    if destination is not None and event.destination is not Destination.GEMEENTE:
        raise RuleViolationError(
            kind,
            "destination_municipality",
            f"{destination} is a municipality, but the destination is {event.destination}: "
            "give a destination municipality only for a move within the Netherlands "
            "(destination gemeente)",
        )
    if destination is not None and destination == event.municipality:
        raise RuleViolationError(
            kind,
            "destination_municipality",
            f"{destination} is the municipality the person moves out of: a move within it is "
            "no move out (record brp-registered or housed for a new address)",
        )
    if t.state.moved_out_on == event.occurred_on:
        return [
            f"a move-out on {event.occurred_on} is recorded already, with no arrival (housing, "
            "BRP registration, koppeling) or reopening since: recorded as given (retract one if "
            "it is the same move recorded twice; see traject timeline)"
        ]
    return []


@_rules.register(ev.CaseClosed)
def _rules_closed(event: ev.CaseClosed, t: Trajectory, kind: str) -> list[str]:
    if t.state.closed:
        raise RuleViolationError(kind, "person", "the case is already closed")
    _not_before(
        kind,
        event.occurred_on,
        t.state.reopened_on,
        "reopening",
        "a reopened case closes again after it was reopened",
    )
    return []


@_rules.register(ev.Deceased)
def _rules_deceased(event: ev.Deceased, t: Trajectory, kind: str) -> list[str]:
    # recorded late, a death is not dated before the facts of the path already recorded (the
    # registration in the ledger aside: its date is the ledger's, not one of the path)
    for version in sorted(t.effective):
        fact = t.effective[version]
        if fact.occurred_on > event.occurred_on and not isinstance(
            fact, (*ev.CONTROL_EVENTS, *CLOSING_AFTER_DEATH, ev.PersonRegistered)
        ):
            raise RuleViolationError(
                kind,
                "occurred_on",
                f"{event.occurred_on} is before v{version} {kind_name(type(fact))} of "
                f"{fact.occurred_on}: nothing but what closes the case is dated after a death "
                "(correct or retract that fact first)",
            )
    return []


@_rules.register(ev.CaseReopened)
def _rules_reopened(event: ev.CaseReopened, t: Trajectory, kind: str) -> list[str]:
    if not t.state.closed:
        raise RuleViolationError(kind, "person", "the case is not closed")
    _not_before(
        kind, event.occurred_on, t.state.closed_on, "close", "a case is reopened after it closes"
    )
    return []


@_rules.register(ev.BroadIntakeCompleted)
def _rules_intake_completed(event: ev.BroadIntakeCompleted, t: Trajectory, kind: str) -> list[str]:
    _not_before(
        kind,
        event.occurred_on,
        t.state.intake_started_on,
        "start of the brede intake",
        "a brede intake is completed after it starts",
    )
    return []


@_rules.register(ev.ParticipantEnrolled)
def _rules_enrolled(event: ev.ParticipantEnrolled, t: Trajectory, kind: str) -> list[str]:
    if event.project_id.upper() in t.state.projects:
        # once per person per project (domain.md §6.2), also after ParticipantExited
        raise RuleViolationError(
            kind, "project_id", f"already enrolled in {event.project_id} (once per project)"
        )
    if not event.tcn:
        raise RuleViolationError(
            kind, "tcn", "AMIF participants must be third-country nationals at enrolment"
        )
    naturalised_on = t.state.naturalised_on
    if naturalised_on is not None and naturalised_on <= event.occurred_on:
        # naturalisation ends third-country-national status (domain.md §3.2): the ledger
        # holds it, so an enrolment after it cannot state tcn
        raise RuleViolationError(
            kind,
            "tcn",
            f"naturalised on {naturalised_on}, so not a third-country national at enrolment on "
            f"{event.occurred_on}: AMIF participants must be third-country nationals at "
            "enrolment",
        )
    return []


def _rules_project_follow_up(
    event: ev.ServiceDelivered | ev.ParticipantFeedbackRecorded | ev.ParticipantExited,
    t: Trajectory,
    kind: str,
) -> list[str]:
    s, project = t.state, event.project_id.upper()
    enrolled_on = s.enrolled_on.get(project)
    if enrolled_on is None:
        raise RuleViolationError(kind, "project_id", f"not enrolled in {event.project_id}")
    exited_on = s.exited_on.get(project)
    if exited_on is not None and isinstance(event, ev.ParticipantExited):
        raise RuleViolationError(
            kind, "project_id", f"already exited {event.project_id} on {exited_on} (once)"
        )
    if exited_on is not None and event.occurred_on > exited_on:
        # a service or feedback recorded late, dated before the exit, still belongs to it
        raise RuleViolationError(
            kind,
            "occurred_on",
            f"dated {event.occurred_on}, after the exit from {event.project_id} on "
            f"{exited_on}: nothing of a project follows the participant's exit",
        )
    _not_before(
        kind,
        event.occurred_on,
        enrolled_on,
        f"enrolment in {event.project_id}",
        "a participant's services, feedback and exit follow the enrolment",
    )
    return []


@_rules.register(ev.FamilyReunificationApplied)
def _rules_file_opened(event: ev.FamilyReunificationApplied, t: Trajectory, kind: str) -> list[str]:
    if event.file_no in t.state.files:
        raise RuleViolationError(kind, "file_no", f"file {event.file_no} already exists")
    notified = t.state.asylum_notified_on
    derived = None if notified is None else event.occurred_on > rules.nareis_deadline(notified)
    if event.late is not None and derived is not None and event.late != derived:
        return [
            f"late {str(event.late).lower()}: not what rule set "
            f"{rules.rules_on(event.occurred_on).version} derives from the permit notice of "
            f"{notified} ({str(derived).lower()}): recorded as given, and the reunification "
            "report counts it so"
        ]
    if event.late:
        return ["filed after the 3-month nareis window (nareiscriterium) of the permit notice"]
    return []


def _rules_file_follow_up(
    event: ev.FamilyReunificationDecided
    | ev.MvvIssued
    | ev.NareizigerArrived
    | ev.FamilyReunificationClosed,
    t: Trajectory,
    kind: str,
) -> list[str]:
    file = t.state.files.get(event.file_no)
    if file is None:
        raise RuleViolationError(kind, "file_no", f"no family-reunification file {event.file_no}")
    if file.closed:
        raise RuleViolationError(kind, "file_no", f"file {event.file_no} is closed")
    _not_before(
        kind,
        event.occurred_on,
        file.applied_on,
        f"application of file {event.file_no}",
        "an IND decision, an mvv, an arrival and the closing of a file follow its application",
    )
    _check_file_members(event, file, kind)
    return []


def _check_file_members(
    event: ev.FamilyReunificationDecided
    | ev.MvvIssued
    | ev.NareizigerArrived
    | ev.FamilyReunificationClosed,
    file: File,
    kind: str,
) -> None:
    """A decision grants at most the members the file applied for; an mvv and an arrival are
    of a member of a relation it applied for (a rule of the aggregate, not of the model: facts
    stored before it still load)."""
    if isinstance(event, ev.FamilyReunificationDecided):
        granted = event.members_granted
        if granted is not None and granted > len(file.members):
            raise RuleViolationError(
                kind,
                "members_granted",
                f"{granted} members granted, but file {event.file_no} applied for "
                f"{len(file.members)} ({', '.join(file.members)}): the IND grants at most the "
                "members applied for (correct the application when a member is missing from it)",
            )
    elif (
        isinstance(event, ev.MvvIssued | ev.NareizigerArrived)
        and file.members
        and event.relation not in file.members
    ):
        raise RuleViolationError(
            kind,
            "relation",
            f"{event.relation}: file {event.file_no} applied for no member of that relation "
            f"({', '.join(file.members)}); an mvv and an arrival are of a member applied for "
            "(correct the application when a member is missing from it)",
        )
    elif isinstance(event, ev.NareizigerArrived):
        _check_arrived_once(event, file, kind)


def _check_arrived_once(event: ev.NareizigerArrived, file: File, kind: str) -> None:
    """A member applied for arrives once: the arrivals of a relation are at most the members
    of that relation the file applied for (an application stored without members aside). A
    correction of the application that removes a member who arrived breaks the later arrival,
    and is refused with it."""
    applied = file.members.count(event.relation)
    arrived = file.arrived.get(event.relation, [])
    if not applied or len(arrived) < applied:
        return
    members = "member" if applied == 1 else "members"
    raise RuleViolationError(
        kind,
        "relation",
        f"{event.relation}: file {event.file_no} applied for {applied} {members} of that "
        f"relation, who arrived already ({', '.join(f'v{v}' for v in arrived)}): an arrival "
        "is of a member applied for, and a member arrives once (correct the application when "
        "a member is missing from it)",
    )


for _follow_up in PROJECT_FOLLOW_UPS:
    _rules.register(_follow_up, _rules_project_follow_up)


@_rules.register(ev.ServiceDelivered)
def _rules_service(event: ev.ServiceDelivered, t: Trajectory, kind: str) -> list[str]:
    warnings = _rules_project_follow_up(event, t, kind)
    if event.until is not None and event.until < event.occurred_on:
        # a rule of the aggregate, not of the model: facts stored before it still load
        raise RuleViolationError(
            kind,
            "until",
            f"{event.until} is before the service's first day ({event.occurred_on}, --on): a "
            "service ends on or after the day it starts",
        )
    return warnings


for _file_follow_up in REUNIFICATION_FOLLOW_UPS:
    _rules.register(_file_follow_up, _rules_file_follow_up)


class Municipality(StreamAggregate):
    """A municipality's own facts: the taakstelling per half-year.

    The stream is the municipality's (``municipality_stream_id`` of its code), so every fact on
    it carries that code as its ``municipality``: a fact naming another municipality would be
    counted for that one by the reports, beside or in place of its own figures.
    """

    def reset(self) -> None:
        self.periods: set[str] = set()

    def evolve(self, event: ev.TrajectEvent) -> None:
        if isinstance(event, ev.TaakstellingSet):
            self.periods.add(event.period)

    def check(self, event: ev.TrajectEvent) -> list[str]:
        warnings = super().check(event)
        self._check_owner(event)
        self._check_period(event)
        return warnings

    def check_corrected(
        self, corrected: ev.TrajectEvent, correction: ev.EventCorrected
    ) -> list[str]:
        warnings = super().check_corrected(corrected, correction)
        self._check_owner(corrected)  # a fact moved onto another municipality
        self._check_period(corrected)  # a target moved onto an earlier one's half-year
        return warnings

    def _check_owner(self, event: ev.TrajectEvent) -> None:
        """A fact on this stream is this municipality's own. Control facts (corrections,
        retractions, seals) take the stream's municipality when written and are left out."""
        if isinstance(event, ev.CONTROL_EVENTS):
            return
        if ev.municipality_stream_id(event.municipality) != self.id:
            raise RuleViolationError(
                kind_name(type(event)),
                "municipality",
                f"{event.municipality} is not the municipality of this stream: a municipality's "
                f"stream holds its own facts only (record it on {event.municipality}'s stream)",
            )

    def _check_period(self, event: ev.TrajectEvent) -> None:
        kind = kind_name(type(event))
        if isinstance(event, ev.TaakstellingSet) and event.period in self.periods:
            raise RuleViolationError(
                kind, "period", f"{event.period} already has a target: use taakstelling-corrected"
            )
        if isinstance(event, ev.TaakstellingCorrected) and event.period not in self.periods:
            raise RuleViolationError(kind, "period", f"{event.period} has no target to correct")


class Project(StreamAggregate):
    """An AMIF project (operation): its registration, costs and declarations.

    Declared items are immutable: a declaration cannot be corrected or retracted, and once a
    period is declared no cost of an overlapping period can be added, corrected or retracted.
    """

    def reset(self) -> None:
        self.registered: ev.ProjectRegistered | None = None
        self.declared: dict[str, Period] = {}  # declaration_ref → period declared
        self.paid_on: list[date] = []
        self.final_payment_recorded = False

    def evolve(self, event: ev.TrajectEvent) -> None:
        if isinstance(event, ev.ProjectRegistered):
            self.registered = event
        elif isinstance(event, ev.ExpenditureDeclared):
            self.declared[event.declaration_ref] = Period.parse(event.period)
        elif isinstance(event, ev.GrantPaymentReceived):
            self.paid_on.append(event.occurred_on)
            self.final_payment_recorded |= event.final

    @property
    def last_payment_on(self) -> date | None:
        """The day of the last payment to the beneficiary, once the final one is recorded."""
        return max(self.paid_on) if self.final_payment_recorded else None

    def declaration_covering(self, period_text: str) -> str | None:
        """The declaration whose period overlaps ``period_text``, if any."""
        period = Period.parse(period_text)
        for ref, declared in sorted(self.declared.items()):
            if period.start <= declared.end and declared.start <= period.end:
                return ref
        return None

    def municipalities(self) -> frozenset[str]:
        """The municipalities taking part: the lead (the registration's), the partners and
        those with a participant target. Empty before the registration."""
        if self.registered is None:
            return frozenset()
        return frozenset(
            {
                self.registered.municipality,
                *self.registered.partner_municipalities,
                *self.registered.targets_by_municipality,
            }
        )

    def check(self, event: ev.TrajectEvent) -> list[str]:
        warnings = super().check(event)
        kind = kind_name(type(event))
        if isinstance(event, ev.ProjectRegistered) and self.registered is not None:
            raise RuleViolationError(
                "ProjectRegistered", "project_code", "this project is already registered"
            )
        if not isinstance(event, ev.ProjectRegistered) and self.registered is None:
            raise RuleViolationError(kind, "project", "register the project first")
        self._check_taking_part(event)
        if isinstance(event, ev.CostRecorded):
            self._refuse_declared(kind, "period", event.period)
        elif isinstance(event, ev.ExpenditureDeclared):
            if event.declaration_ref in self.declared:
                raise RuleViolationError(
                    kind, "declaration_ref", f"{event.declaration_ref} is already declared"
                )
            self._refuse_declared(kind, "period", event.period)
        elif isinstance(event, CHANGES):
            target = self.effective.get(event.target_version)
            if (
                isinstance(target, ev.ProjectRegistered)
                and isinstance(event, ev.EventCorrected)
                and str(event.changes.get("project_code", target.project_code)).upper()
                != target.project_code.upper()
            ):
                raise RuleViolationError(
                    kind,
                    "project_code",
                    "the project code names the project's stream and its participants' "
                    "enrolments: it cannot be corrected (register the project under its "
                    "code instead)",
                )
            if isinstance(target, ev.ExpenditureDeclared):
                raise RuleViolationError(
                    kind, "target_version", "a declaration is immutable once recorded"
                )
            if isinstance(target, ev.CostRecorded):
                self._refuse_declared(kind, "target_version", target.period)
                if isinstance(event, ev.EventCorrected) and "period" in event.changes:
                    self._refuse_declared(kind, "period", str(event.changes["period"]))
        return warnings

    def check_corrected(
        self, corrected: ev.TrajectEvent, correction: ev.EventCorrected
    ) -> list[str]:
        warnings = super().check_corrected(corrected, correction)
        self._check_taking_part(corrected)  # a fact moved onto another municipality
        return warnings

    def _check_taking_part(self, event: ev.TrajectEvent) -> None:
        """A project's fact belongs to a municipality taking part in it: the lead, a partner
        or one with a target (a project is shared, so not only the lead's). The registration
        names them, and control facts take the lead's when written: both are left out."""
        if isinstance(event, (ev.ProjectRegistered, *ev.CONTROL_EVENTS)):
            return
        taking_part = self.municipalities()
        if taking_part and event.municipality not in taking_part:
            raise RuleViolationError(
                kind_name(type(event)),
                "municipality",
                f"{event.municipality} does not take part in this project: a project's facts "
                f"belong to its lead or partner municipalities ({', '.join(sorted(taking_part))})",
            )

    def _refuse_declared(self, kind: str, field_name: str, period_text: str) -> None:
        ref = self.declaration_covering(period_text)
        if ref is not None:
            raise RuleViolationError(
                kind,
                field_name,
                f"{period_text} is declared ({ref}): declared costs are immutable",
            )


def project_stream(
    aggregate: StreamAggregate | None, events: Iterable[ev.TrajectEvent]
) -> StreamAggregate | None:
    """Load a stream: keep every event, then derive the state once from the effective events.

    Gives the same aggregate as applying the events one by one, without re-deriving the state
    after each correction. Used as the repository's projector when a stream is loaded.
    """
    for event in events:
        if aggregate is None:
            aggregate = AGGREGATE_CLASSES[event.stream](event.originator_id)
        try:
            aggregate.track(event)
        except (KeyError, ValidationError):
            if isinstance(event, ev.EventCorrected):
                _check_stored_correction(aggregate, event)
            raise  # the events are as traject writes them: a bug
    if aggregate is not None:
        aggregate.replay()
    return aggregate


def _check_stored_correction(aggregate: StreamAggregate, correction: ev.EventCorrected) -> None:
    """Refuse a stored correction that :meth:`StreamAggregate.track` could not apply: one
    whose target is no effective event of the stream, or whose new values do not fit the
    target (traject stores neither: the stored bytes were altered outside traject).

    Raises:
        MalformedEventError: naming the correction (stream and version) and the field.
    """
    target = aggregate.effective.get(correction.target_version)
    if target is None:
        raise MalformedEventError(
            correction.originator_id,
            correction.originator_version,
            f"its target_version {correction.target_version} is no effective event of the "
            "stream before it",
        )
    stored_correction(target, correction)


ev.AGGREGATE_FACTORIES.update(
    {
        ev.StreamKind.PERSON: Trajectory,
        ev.StreamKind.MUNICIPALITY: Municipality,
        ev.StreamKind.PROJECT: Project,
    }
)

AGGREGATE_CLASSES: dict[ev.StreamKind, type[StreamAggregate]] = {
    ev.StreamKind.PERSON: Trajectory,
    ev.StreamKind.MUNICIPALITY: Municipality,
    ev.StreamKind.PROJECT: Project,
}
