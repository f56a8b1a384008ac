"""P7 inburgering status on a date: per leerroute, exam pass rates, and the risk list.

The population is the **active caseload on the date** (P1) with an inburgeringsplicht
(``InburgeringDutyEstablished`` by then), optionally in one municipality. Facts count as true
on the date (``occurred_on <= d``), as known at a moment when asked.

* **Per leerroute** (the latest of PIP and leerroute facts; ``none`` without one): persons,
  afgeschaald (``DowngradedToA2``), PVT signed, MAP completed, KNM exam passed, ONA completed,
  duty fulfilled. The ``total`` row covers every route.
* **Exam pass rates** per component and attempt number: results recorded for an exam taken by
  the date (``ExamResultRecorded``; its ``occurred_on`` is the exam date), passed / taken.
* **Risk list**: persons whose inburgeringstermijn ends within ``term_warning_months`` of the
  date (or has already ended) and whose duty is not fulfilled. The term end is the latest
  ``TermExtended.new_end`` when extended, else PIP v1 + 3 years (Wi2021), else DUO's term end.
  Fines are not read: for asielstatushouders they are being withdrawn (domain.md §2.3 F.22), so
  a fine is never a reason to be on (or off) the list.
* **PIP objections** (bezwaar): open on the date (and of those, open past the decision term),
  and the objections decided in the period (``date_from`` to the date) by outcome.
* **Z-route**: the persons on the Z-route, by the outcome of their latest eindgesprek.
* **Ontzorgen**: persons being ontzorgd on the date (and of those, past the planned end), and
  the ontzorgen started and ended in the period.
* **Flagged loan reclaims**: Wi2013 DUO loan reclaims of asielstatushouders that the
  loan-reclaim rule set in force on the date flags (the 2025–26 rulings, domain.md §2.3 F.22).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ledger.rules import (
    loan_reclaim_rules_on,
    objection_decision_due,
    ontzorgen_planned_end,
    reclaim_flagged,
    rules_on,
)
from ledger.values import FinalInterviewOutcome, ObjectionOutcome, add_months
from projections.base import Views, catch_up, collector_paused, timestamp_text
from projections.caseload import CASELOAD, LEERROUTE_GROUPS, caseload
from projections.duty import INBURGERING, InburgeringStatus, combined_basis, shared_statuses
from projections.plans import share


@dataclass(frozen=True)
class RouteRow:
    """Counts for the persons on one leerroute (or ``total``)."""

    leerroute: str
    persons: int
    afgeschaald: int
    pvt_done: int
    map_done: int
    knm_done: int
    ona_done: int
    fulfilled: int


@dataclass(frozen=True)
class ExamRow:
    """Results of one exam component at one attempt number."""

    component: str
    attempt_no: int
    taken: int
    passed: int

    @property
    def pass_rate(self) -> float | None:
        return share(self.passed, self.taken)


@dataclass(frozen=True)
class RiskRow:
    """A person whose term ends soon (or ended) with the duty not fulfilled."""

    person_id: str
    municipality: str
    regime: str | None
    leerroute: str | None
    term_end: str
    extended: bool
    days_left: int


OBJECTION_OUTCOMES: tuple[str, ...] = tuple(o.value for o in ObjectionOutcome)
INTERVIEW_GROUPS: tuple[str, ...] = (*(o.value for o in FinalInterviewOutcome), "none")


@dataclass(frozen=True)
class ObjectionCounts:
    """Objections against the PIP: open on the date, and decided in the period by outcome."""

    open: int
    open_overdue: int  # open past the decision term (as P1's objection_overdue)
    decided: tuple[tuple[str, int], ...]  # outcome → objections decided in the period


@dataclass(frozen=True)
class ZRouteCounts:
    """The persons on the Z-route by the outcome of their latest eindgesprek (``none``: none
    held by the date)."""

    participants: int
    final_interview: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class OntzorgenCounts:
    """Persons being ontzorgd on the date, and ontzorgen started and ended in the period."""

    ontzorgd: int
    past_planned_end: int  # of them, open past the planned end (as P1's ontzorgen_overdue)
    started: int
    ended: int


@dataclass(frozen=True)
class ReclaimRow:
    """A flagged Wi2013 DUO loan reclaim of an asielstatushouder."""

    person_id: str
    municipality: str
    reclaimed_on: str
    amount: str


@dataclass(frozen=True)
class InburgeringReport:
    """P7 on one date."""

    on: str
    as_known_at: str | None
    municipality: str | None
    risk_months: int
    routes: tuple[RouteRow, ...]
    exams: tuple[ExamRow, ...]
    risk: tuple[RiskRow, ...]
    projections: tuple[str, ...]
    position: int
    rule_version: str
    digest: str | None
    date_from: str
    objections: ObjectionCounts
    z_route: ZRouteCounts
    ontzorgen: OntzorgenCounts
    reclaim_rule_set: str
    flagged_reclaims: tuple[ReclaimRow, ...]


def _route_row(name: str, people: list[InburgeringStatus]) -> RouteRow:
    return RouteRow(
        leerroute=name,
        persons=len(people),
        afgeschaald=sum(1 for p in people if p.downgraded_on),
        pvt_done=sum(1 for p in people if p.pvt_on),
        map_done=sum(1 for p in people if p.map_on),
        knm_done=sum(1 for p in people if p.knm_passed_on),
        ona_done=sum(1 for p in people if p.ona_on),
        fulfilled=sum(1 for p in people if p.fulfilled_on),
    )


def _exam_rows(people: list[InburgeringStatus]) -> tuple[ExamRow, ...]:
    cells: dict[tuple[str, int], list[int]] = {}
    for person in people:
        for exam in person.exams:
            cell = cells.setdefault((exam.component, exam.attempt_no), [0, 0])
            cell[0] += 1
            cell[1] += int(exam.passed)
    return tuple(ExamRow(c, a, taken, passed) for (c, a), (taken, passed) in sorted(cells.items()))


def _objections(people: list[InburgeringStatus], start: date, on: date) -> ObjectionCounts:
    filed = [p.objection_filed_on for p in people if p.objection_filed_on is not None]
    decided = dict.fromkeys(OBJECTION_OUTCOMES, 0)
    for person in people:
        for objection in person.objections:
            if start <= objection.decided_on <= on:
                decided[objection.outcome] = decided.get(objection.outcome, 0) + 1
    return ObjectionCounts(
        open=len(filed),
        open_overdue=sum(1 for day in filed if on > objection_decision_due(day)),
        decided=tuple(decided.items()),
    )


def _z_route(people: list[InburgeringStatus]) -> ZRouteCounts:
    on_route = [p for p in people if p.leerroute == "Z"]
    groups = dict.fromkeys(INTERVIEW_GROUPS, 0)
    for person in on_route:
        outcome = person.final_interview_outcome or "none"
        groups[outcome] = groups.get(outcome, 0) + 1
    return ZRouteCounts(participants=len(on_route), final_interview=tuple(groups.items()))


def _ontzorgen(people: list[InburgeringStatus], start: date, on: date) -> OntzorgenCounts:
    opened = [day for p in people if (day := p.ontzorgen_open_on) is not None]
    spells = [spell for p in people for spell in p.ontzorgen]
    return OntzorgenCounts(
        ontzorgd=len(opened),
        past_planned_end=sum(1 for day in opened if on > ontzorgen_planned_end(day)),
        started=sum(1 for spell in spells if start <= spell.started_on <= on),
        ended=sum(
            1 for spell in spells if spell.ended_on is not None and start <= spell.ended_on <= on
        ),
    )


def _flagged_reclaims(
    people: list[InburgeringStatus], where: dict[str, str], on: date
) -> tuple[ReclaimRow, ...]:
    rows = (
        ReclaimRow(p.person_id, where[p.person_id], r.reclaimed_on.isoformat(), r.amount)
        for p in people
        if p.asylum
        for r in p.reclaims
        if reclaim_flagged(r.reclaimed_on, on)
    )
    return tuple(sorted(rows, key=lambda r: (r.reclaimed_on, r.person_id)))


@collector_paused()
def inburgering(
    views: Views,
    on: date,
    *,
    municipality: str | None = None,
    as_known_at: datetime | None = None,
    date_from: date | None = None,
) -> InburgeringReport:
    """P7 inburgering status on ``on`` (see the module docstring).

    Args:
        on: the date the status is true on.
        municipality: only clients in this municipality on ``on``.
        as_known_at: only what was recorded by this moment.
        date_from: the first day of the period whose objection decisions and ontzorgen starts
            and ends are counted (through ``on``); by default 1 January of ``on``'s year.

    Raises:
        ValueError: ``date_from`` is after ``on``.

    Catches up the ``caseload`` and ``inburgering`` read models first.
    """
    start = date(on.year, 1, 1) if date_from is None else date_from
    if start > on:
        msg = f"--from ({start}) must not be after --on ({on})"
        raise ValueError(msg)
    rows = caseload(views, on, municipality=municipality, as_known_at=as_known_at)
    basis = combined_basis([catch_up(views, CASELOAD), catch_up(views, INBURGERING)])
    with views.transaction(commit=False) as tx:
        found = shared_statuses(views, tx, on, as_known_at, (row.person_id for row in rows))
    where = {row.person_id: row.municipality for row in rows}
    people = [p for row in rows if (p := found.get(row.person_id)) and p.has_duty]
    routes = [
        _route_row(route, [p for p in people if (p.leerroute or "none") == route])
        for route in LEERROUTE_GROUPS
    ]
    routes.append(_route_row("total", people))
    months = rules_on(on).term_warning_months
    horizon = add_months(on, months)
    risk = sorted(
        (
            RiskRow(
                person_id=p.person_id,
                municipality=where[p.person_id],
                regime=p.regime,
                leerroute=p.leerroute,
                term_end=end.isoformat(),
                extended=p.extended_to is not None,
                days_left=(end - on).days,
            )
            for p in people
            if p.fulfilled_on is None and (end := p.term_end) is not None and end <= horizon
        ),
        key=lambda r: (r.term_end, r.person_id),
    )
    return InburgeringReport(
        on=on.isoformat(),
        as_known_at=timestamp_text(as_known_at) if as_known_at else None,
        municipality=municipality,
        risk_months=months,
        routes=tuple(routes),
        exams=_exam_rows(people),
        risk=tuple(risk),
        projections=basis.projections,
        position=basis.position,
        rule_version=CASELOAD.rule_version,
        digest=basis.digest,
        date_from=start.isoformat(),
        objections=_objections(people, start, on),
        z_route=_z_route(people),
        ontzorgen=_ontzorgen(people, start, on),
        reclaim_rule_set=loan_reclaim_rules_on(on).version,
        flagged_reclaims=_flagged_reclaims(people, where, on),
    )
