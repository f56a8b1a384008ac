"""P15 Kwartaaldashboard (quarterly dashboard): the figures of one quarter, composed from the
other reports.

Nothing is counted here: every figure is taken from the report that defines it, run for the
quarter's dates (``docs/reports.md`` names the source of each):

* ``caseload`` — P1 :func:`projections.caseload.caseload_report` on the quarter's last day;
* ``outflow`` — P2 :func:`projections.outflow.outflow` for the quarter;
* ``ladder`` — P5 :func:`projections.ladder.ladder` on the last day, from the first day;
* ``plans`` — P6 :func:`projections.plans.plans` for the quarter;
* ``inburgering`` — P7 :func:`projections.inburgering.inburgering` on the last day;
* ``activities`` — in the quarter: P10 help requests, P8 guidance started, P11 PVT signatures.

Each figure is one :class:`Figure` (section, figure, breakdown, value), so the same list is the
JSON, the CSV rows and the tables. ``municipality`` is passed to every report (P2 has no filter:
its ``by="municipality"`` rows of that municipality are taken). "As known at" is passed on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from datetime import datetime

from ledger.municipalities import name_of
from ledger.values import Period
from projections.base import Views, catch_up, collector_paused, timestamp_text
from projections.caseload import (
    CASELOAD,
    DEADLINE_SIGNALS,
    CaseloadReport,
    GroupCount,
    caseload_report,
)
from projections.duty import INBURGERING, combined_basis
from projections.guidance import GUIDANCE, GuidanceReport, guidance
from projections.helprequests import HELP_REQUESTS, TOTAL, HelpRequestReport, help_requests
from projections.inburgering import InburgeringReport, RouteRow, inburgering
from projections.ladder import LADDER, LadderReport, ladder
from projections.outflow import OUTFLOW, OUTFLOW_TYPES, OutflowReport, outflow
from projections.outflow import TOTAL as ALL_TYPES
from projections.plans import CohortRow, PlansReport, plans
from projections.pvt import PVT, PvtReport, pvt

Value = int | float | None

SECTIONS: tuple[str, ...] = ("caseload", "outflow", "ladder", "plans", "inburgering", "activities")
"""The dashboard's sections, in the order they are shown."""

# every count of P7's per-leerroute rows and of P6's cohort rows
ROUTE_FIGURES = tuple(f.name for f in fields(RouteRow) if f.name != "leerroute")
COHORT_FIGURES = tuple(f.name for f in fields(CohortRow) if f.name != "cohort")


@dataclass(frozen=True)
class Figure:
    """One number of the dashboard: ``breakdown`` is None for a figure without one."""

    section: str
    figure: str
    breakdown: str | None
    value: Value


@dataclass(frozen=True)
class QuarterReports:
    """The stand-alone reports the dashboard is composed of, for one quarter."""

    caseload: CaseloadReport
    outflow: OutflowReport
    ladder: LadderReport
    plans: PlansReport
    inburgering: InburgeringReport
    help_requests: HelpRequestReport
    guidance: GuidanceReport
    pvt: PvtReport


@dataclass(frozen=True)
class DashboardReport:
    """P15 for one quarter."""

    quarter: str
    start: str
    end: str
    municipality: str | None
    municipality_name: str | None
    as_known_at: str | None
    figures: tuple[Figure, ...]
    projections: tuple[str, ...]
    position: int
    rule_version: str
    digest: str | None

    def value(self, section: str, figure: str, breakdown: str | None = None) -> Value:
        """The value of one figure.

        Raises:
            KeyError: the dashboard has no such figure.
        """
        for item in self.figures:
            if (item.section, item.figure, item.breakdown) == (section, figure, breakdown):
                return item.value
        raise KeyError((section, figure, breakdown))


def quarter_reports(
    views: Views,
    quarter: Period,
    *,
    municipality: str | None = None,
    as_known_at: datetime | None = None,
) -> QuarterReports:
    """Every report the dashboard reads, for ``quarter``'s dates (each catches up first)."""
    end, where, known = quarter.end, municipality, as_known_at
    return QuarterReports(
        caseload=caseload_report(views, end, municipality=where, as_known_at=known),
        outflow=outflow(views, quarter, as_known_at=known, by="municipality" if where else None),
        ladder=ladder(views, end, from_date=quarter.start, municipality=where, as_known_at=known),
        plans=plans(views, quarter, municipality=where, as_known_at=known),
        inburgering=inburgering(views, end, municipality=where, as_known_at=known),
        help_requests=help_requests(views, quarter, municipality=where, as_known_at=known),
        guidance=guidance(views, quarter, municipality=where, as_known_at=known),
        pvt=pvt(views, quarter, municipality=where, as_known_at=known),
    )


def _groups(section: str, figure: str, counts: Iterable[GroupCount]) -> Iterator[Figure]:
    return (Figure(section, figure, c.group, c.persons) for c in counts)


def _caseload(report: CaseloadReport) -> Iterator[Figure]:
    yield Figure("caseload", "active", None, len(report.entries))
    yield from _groups("caseload", "by_rung", report.by_rung)
    yield from _groups("caseload", "by_leerroute", report.by_leerroute)
    # the deadline signals only: the dashboard's layout predates the objection and ontzorgen
    # signals, which no dashboard figure of the domain reference includes
    signals = (c for c in report.by_signal if c.group in DEADLINE_SIGNALS)
    yield from _groups("caseload", "by_signal", signals)


def _outflow(report: OutflowReport, municipality: str | None) -> Iterator[Figure]:
    rows = {row.outflow_type: row for row in report.rows if row.group == municipality}
    for name in ("started", "in_outflow_at_end"):
        for kind in (*OUTFLOW_TYPES, ALL_TYPES):
            row = rows.get(kind)
            yield Figure("outflow", name, kind, 0 if row is None else getattr(row, name))
    moved = sum(m.persons for m in report.moved_out if m.group == municipality)
    yield Figure("outflow", "moved_out", None, moved)


def _ladder(report: LadderReport) -> Iterator[Figure]:
    yield Figure("ladder", "assessed", None, report.assessed)
    for count in report.distribution:
        yield Figure("ladder", "distribution", str(count.rung), count.persons)
    yield Figure("ladder", "inactive_assessed", None, report.inactive_assessed)
    # the cells of P5's transition matrix, summed above, on and below its diagonal
    movement = {"up": 0, "same": 0, "down": 0}
    for cell in report.transitions:
        step = cell.to_rung - cell.from_rung
        movement["up" if step > 0 else "down" if step < 0 else "same"] += cell.persons
    for direction, persons in movement.items():
        yield Figure("ladder", "movement", direction, persons)
    yield Figure("ladder", "first_assessed", None, report.first_assessed)
    yield Figure("ladder", "inactive_on_from", None, report.inactive_on_from)


def _plans(report: PlansReport) -> Iterator[Figure]:
    yield Figure("plans", "active", None, report.active)
    yield Figure("plans", "with_plan", None, report.with_plan)
    yield Figure("plans", "plan_share", None, report.plan_share)
    pip_v1 = {
        "due_in_period": report.pip_due,
        "on_time": report.pip_on_time,
        "late": report.pip_late,
        "open": report.pip_open,
    }
    for key, value in pip_v1.items():
        yield Figure("plans", "pip_v1", key, value)
    for name in COHORT_FIGURES:
        for cohort in report.cohorts:
            yield Figure("plans", f"cohort_{name}", cohort.cohort, getattr(cohort, name))


def _inburgering(report: InburgeringReport) -> Iterator[Figure]:
    for name in ROUTE_FIGURES:
        for route in report.routes:
            yield Figure("inburgering", name, route.leerroute, getattr(route, name))


def _activities(reports: QuarterReports) -> Iterator[Figure]:
    total = next(row for row in reports.help_requests.rows if row.category == TOTAL)
    for figure, prefix in (("help_requests", "requests"), ("help_request_persons", "persons")):
        for under, field in (("mb", f"mb_{prefix}"), ("spreekuur", f"spreekuur_{prefix}")):
            yield Figure("activities", figure, under, getattr(total, field))
        yield Figure("activities", figure, "all", getattr(total, prefix))
    for row in reports.guidance.rows:
        yield Figure("activities", "guidance_started", row.year_no, row.started)
    yield Figure("activities", "pvt_signatures", None, reports.pvt.signatures)
    yield Figure("activities", "pvt_participants", None, reports.pvt.participants)
    yield Figure("activities", "pvt_groups", None, reports.pvt.groups)


def figures(reports: QuarterReports, municipality: str | None) -> tuple[Figure, ...]:
    """The dashboard's figures, section by section, taken from ``reports``."""
    return (
        *_caseload(reports.caseload),
        *_outflow(reports.outflow, municipality),
        *_ladder(reports.ladder),
        *_plans(reports.plans),
        *_inburgering(reports.inburgering),
        *_activities(reports),
    )


@collector_paused()
def dashboard(
    views: Views,
    quarter: Period,
    *,
    municipality: str | None = None,
    as_known_at: datetime | None = None,
) -> DashboardReport:
    """P15: the Kwartaaldashboard of ``quarter`` (see the module docstring).

    Args:
        quarter: a quarter (``Period`` of kind ``"Q"``).
        municipality: only this municipality (CBS code), as each composed report filters.
        as_known_at: only what was recorded by this moment.

    Raises:
        ValueError: ``quarter`` is not a quarter.

    Catches up every read model it reads, then reads them all in one transaction.
    """
    if quarter.kind != "Q":
        msg = f"the dashboard is quarterly: {quarter} is not a quarter"
        raise ValueError(msg)
    read = (CASELOAD, INBURGERING, OUTFLOW, LADDER, HELP_REQUESTS, GUIDANCE, PVT)
    with views.snapshot(read):  # one state of the read models; the caseload computed once
        basis = combined_basis([catch_up(views, projection) for projection in read])
        reports = quarter_reports(
            views, quarter, municipality=municipality, as_known_at=as_known_at
        )
    return DashboardReport(
        quarter=str(quarter),
        start=quarter.start.isoformat(),
        end=quarter.end.isoformat(),
        municipality=municipality,
        municipality_name=name_of(municipality) if municipality else None,
        as_known_at=timestamp_text(as_known_at) if as_known_at else None,
        figures=figures(reports, municipality),
        projections=basis.projections,
        position=basis.position,
        rule_version=CASELOAD.rule_version,
        digest=basis.digest,
    )


def sections(report: DashboardReport) -> dict[str, dict[str, Value | dict[str, Value]]]:
    """The figures as nested objects: section → figure → value, or → breakdown → value."""
    out: dict[str, dict[str, Value | dict[str, Value]]] = {name: {} for name in SECTIONS}
    for item in report.figures:
        section = out[item.section]
        if item.breakdown is None:
            section[item.figure] = item.value
        else:
            broken = section.setdefault(item.figure, {})
            assert isinstance(broken, dict)
            broken[item.breakdown] = item.value
    return out


def figure_rows(report: DashboardReport) -> list[dict[str, object]]:
    """One row per figure (section, figure, breakdown, value) for CSV."""
    return [asdict(item) for item in report.figures]
