"""``traject caseload`` (P1 with deadline signals), ``traject report plans`` (P6),
``traject report inburgering`` (P7) and ``traject find-candidates``.

``commands/report.py`` adds the report commands to the ``traject report`` group.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any

import click
from rich import box
from rich.table import Table

from commands import reporting as report
from commands.context import TrajectContext, pass_traject
from commands.projections import emit_report, format_option
from commands.reporting import (
    ReportDate,
    as_known_at_option,
    municipality_option,
    municipality_rows,
    on_option,
    period_option,
    report_day,
)
from commands.types import whole_number
from ledger.values import Period
from projections import Views
from projections.candidates import CEFR_ORDER, CandidatesReport, find_candidates
from projections.caseload import (
    CaseloadEntry,
    CaseloadReport,
    GroupCount,
    caseload_report,
    staff_hint,
)
from projections.inburgering import InburgeringReport, inburgering
from projections.plans import PlansReport, plans, share


def _title(text: str, as_known_at: str | None) -> str:
    return f"{text} as known at {as_known_at}" if as_known_at else text


def _basis(
    projections: tuple[str, ...], position: int, rule_version: str, digest: str | None
) -> dict[str, Any]:
    return report.basis("+".join(projections), position, rule_version, digest)


def _counts_table(title: str, counts: tuple[GroupCount, ...], total: int | None) -> Table:
    """One row of counts, a column per group (and the total, when given)."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    cells = [(c.group, c.persons) for c in counts]
    if total is not None:
        cells.append(("total", total))
    for group, _ in cells:
        table.add_column(group, justify="right")
    table.add_row(*(str(n) for _, n in cells))
    return table


# --- P1 caseload --------------------------------------------------------------------------------


CASELOAD_COLUMNS = (
    "person_id",
    "municipality",
    "regisseurs",
    "coaches",
    "rung",
    "rung_on",
    "leerroute",
    "status_on",
    "signals",
)


def caseload_row(entry: CaseloadEntry) -> dict[str, Any]:
    row = entry.row
    values = (
        row.person_id,
        row.municipality,
        " ".join(row.regisseurs),
        " ".join(row.coaches),
        row.rung,
        row.rung_on,
        row.leerroute,
        row.status_on,
        " ".join(s.code for s in entry.signals),
    )
    return dict(zip(CASELOAD_COLUMNS, values, strict=True))


def caseload_json(result: CaseloadReport) -> dict[str, Any]:
    return {
        "on": result.on,
        "as_known_at": result.as_known_at,
        "coach": result.coach,
        "municipality": result.municipality,
        "signals_only": result.signals_only,
        "rows": [
            caseload_row(e) | {"signals": [asdict(s) for s in e.signals]} for e in result.entries
        ],
        "by_rung": {c.group: c.persons for c in result.by_rung},
        "by_leerroute": {c.group: c.persons for c in result.by_leerroute},
        "by_signal": {c.group: c.persons for c in result.by_signal},
        "basis": _basis(result.projections, result.position, result.rule_version, result.digest),
    }


def caseload_tables(result: CaseloadReport) -> list[Table]:
    table = Table(
        title=_title(f"Caseload on {result.on}", result.as_known_at),
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for name in ("person", "municipality", "regisseur", "coaches", "rung", "leerroute", "signals"):
        table.add_column(name, no_wrap=name in ("person", "municipality"))
    for entry in result.entries:
        row = entry.row
        table.add_row(
            row.person_id[:8],
            row.municipality,
            ", ".join(row.regisseurs) or "-",
            ", ".join(row.coaches) or "-",
            "-" if row.rung is None else str(row.rung),
            row.leerroute or "-",
            "\n".join(s.detail for s in entry.signals) or "-",
        )
    listed = len(result.entries)
    which = "with a signal" if result.signals_only else "active"
    # the basis (position, digest) is in the JSON output: the table stays the same across runs
    table.caption = f"{listed} {which} person(s)"
    return [
        table,
        _counts_table("Persons per ladder rung", result.by_rung, listed),
        _counts_table("Persons per leerroute", result.by_leerroute, listed),
        _counts_table("Persons per signal", result.by_signal, None),
    ]


@click.command("caseload")
@on_option("the caseload is")
@click.option(
    "--coach",
    metavar="STAFF",
    help="only persons this staff member has (any role); capitals do not matter",
)
@municipality_option("only persons in this municipality")
@as_known_at_option()
@click.option("--signals-only", is_flag=True, help="list only persons with a deadline signal")
@format_option()
@pass_traject
def caseload_command(
    traject: TrajectContext,
    *,
    on: date | None,
    coach: str | None,
    municipality: str | None,
    as_known_at: datetime | None,
    signals_only: bool,
    output: str | None,
) -> None:
    """List the active persons on a date with their signals (PIP, PVT, term end, ladder
    assessment, late recording, an objection undecided past its term, an ontzorgen past its
    planned end), and count them per ladder rung and leerroute.

    \b
    Example:
      traject caseload --coach r.jansen
      traject caseload --municipality GM0622 --on 2024-06-30 --format csv
      traject caseload --signals-only --as-known-at 2024-07-01
    """
    views, day = Views(traject.reader), report_day(on, as_known_at)
    result = caseload_report(
        views,
        day,
        coach=coach,
        municipality=municipality,
        as_known_at=as_known_at,
        signals_only=signals_only,
    )
    if coach is not None and not result.entries:
        hint = staff_hint(views, day, coach, municipality=municipality, as_known_at=as_known_at)
        traject.note([f"Note: {hint}"] if hint else [])
    rows = [caseload_row(entry) for entry in result.entries]
    emit_report(
        traject,
        output,
        lambda: caseload_tables(result),
        caseload_json(result),
        rows,
        columns=CASELOAD_COLUMNS,
    )


# --- P6 plans -----------------------------------------------------------------------------------


def plans_json(result: PlansReport) -> dict[str, Any]:
    return {
        "period": result.period,
        "end": result.end,
        "as_known_at": result.as_known_at,
        "municipality": result.municipality,
        "active": result.active,
        "with_plan": result.with_plan,
        "plan_share": result.plan_share,
        "pip_v1": {
            "due_in_period": result.pip_due,
            "on_time": result.pip_on_time,
            "late": result.pip_late,
            "open": result.pip_open,
        },
        "cohorts": [asdict(c) for c in result.cohorts],
        "basis": _basis(result.projections, result.position, result.rule_version, result.digest),
    }


def plans_csv_rows(result: PlansReport) -> list[dict[str, Any]]:
    """One row per figure (``figure``, ``cohort``, ``value``)."""
    rows: list[dict[str, Any]] = [
        {"figure": name, "cohort": None, "value": value}
        for name, value in (
            ("active", result.active),
            ("with_plan", result.with_plan),
            ("plan_share", result.plan_share),
            ("pip_v1_due", result.pip_due),
            ("pip_v1_on_time", result.pip_on_time),
            ("pip_v1_late", result.pip_late),
            ("pip_v1_open", result.pip_open),
        )
    ]
    for cohort in result.cohorts:
        rows += [
            {"figure": name, "cohort": cohort.cohort, "value": value}
            for name, value in asdict(cohort).items()
            if name != "cohort"
        ]
    return municipality_rows(rows, result.municipality)


def percent(value: float | None) -> str:
    """A share (0.3333) as the tables show it (33%); ``-`` for none."""
    return "-" if value is None else f"{value:.0%}"


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def plans_tables(result: PlansReport) -> list[Table]:
    title = _title(f"Plans {result.period} (clients active on {result.end})", result.as_known_at)
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("figure")
    table.add_column("persons", justify="right")
    table.add_column("share", justify="right")
    table.add_row("active clients", str(result.active), "")
    table.add_row("with a PIP", str(result.with_plan), percent(result.plan_share))
    table.add_row("PIP v1 due in the period", str(result.pip_due), "", style="bold")
    for name, value in (
        ("  adopted on time", result.pip_on_time),
        ("  adopted late", result.pip_late),
        ("  still open", result.pip_open),
    ):
        table.add_row(name, str(value), percent(share(value, result.pip_due)))
    table.caption = report.basis_caption(result.position, result.rule_version, result.digest)
    cohorts = Table(
        title="Wi2021 cohorts (year the duty started)", title_justify="left", box=box.SIMPLE_HEAD
    )
    cohorts.add_column("cohort", no_wrap=True)
    for name in ("persons", "intake started", "share", "median days", "PIP v1", "median days "):
        cohorts.add_column(name, justify="right")
    for c in result.cohorts:
        cohorts.add_row(
            c.cohort,
            str(c.persons),
            str(c.intake_started),
            percent(share(c.intake_started, c.persons)),
            _days(c.median_days_to_intake),
            str(c.pip_adopted),
            _days(c.median_days_to_pip),
            style="bold" if c.cohort == "total" else None,
        )
    cohorts.caption = "median days from the duty's start to the intake's start / to PIP v1"
    return [table, cohorts]


@click.command("plans")
@period_option("2024H1, 2024Q3 or 2024")
@municipality_option("only clients in this municipality")
@as_known_at_option()
@format_option()
@pass_traject
def plans_command(
    traject: TrajectContext,
    *,
    period: Period,
    municipality: str | None,
    as_known_at: datetime | None,
    output: str | None,
) -> None:
    """Plan coverage and timeliness: active clients with a PIP, PIP v1 within 10 weeks, and
    per Wi2021 cohort the brede intake started and the days to intake and PIP.

    \b
    Example:
      traject report plans --period 2024H1
      traject report plans --period 2024 --municipality GM0622 --format json
    """
    result = plans(
        Views(traject.reader), period, municipality=municipality, as_known_at=as_known_at
    )
    emit_report(
        traject, output, lambda: plans_tables(result), plans_json(result), plans_csv_rows(result)
    )


# --- P7 inburgering -----------------------------------------------------------------------------


def inburgering_json(result: InburgeringReport) -> dict[str, Any]:
    return {
        "on": result.on,
        "as_known_at": result.as_known_at,
        "municipality": result.municipality,
        "routes": [asdict(r) for r in result.routes],
        "exams": [asdict(e) | {"pass_rate": e.pass_rate} for e in result.exams],
        "risk_months": result.risk_months,
        "risk": [asdict(r) for r in result.risk],
        "from": result.date_from,
        "pip_objections": {
            "open": result.objections.open,
            "open_overdue": result.objections.open_overdue,
            "decided": dict(result.objections.decided),
        },
        "z_route": {
            "participants": result.z_route.participants,
            "final_interview": dict(result.z_route.final_interview),
        },
        "ontzorgen": asdict(result.ontzorgen),
        "reclaim_rule_set": result.reclaim_rule_set,
        "flagged_reclaims": [asdict(r) for r in result.flagged_reclaims],
        "basis": _basis(result.projections, result.position, result.rule_version, result.digest),
    }


def _monitor_figures(result: InburgeringReport) -> list[tuple[str, str, str | None, int]]:
    """The objection, Z-route and ontzorgen figures as (section, figure, breakdown, value)."""
    o, z, t = result.objections, result.z_route, result.ontzorgen
    rows: list[tuple[str, str, str | None, int]] = [
        ("pip_objections", "open", None, o.open),
        ("pip_objections", "open_overdue", None, o.open_overdue),
    ]
    rows += [("pip_objections", "decided", outcome, n) for outcome, n in o.decided]
    rows.append(("z_route", "participants", None, z.participants))
    rows += [("z_route", "final_interview", outcome, n) for outcome, n in z.final_interview]
    rows += [("ontzorgen", name, None, n) for name, n in asdict(t).items()]
    return rows


def inburgering_csv_rows(result: InburgeringReport) -> list[dict[str, Any]]:
    """One row per leerroute (``section`` = route), then per exam cell, then per risk."""
    rows: list[dict[str, Any]] = [{"section": "route"} | asdict(r) for r in result.routes]
    rows += [{"section": "exam"} | asdict(e) | {"pass_rate": e.pass_rate} for e in result.exams]
    rows += [{"section": "risk"} | asdict(r) for r in result.risk]
    rows += [
        {"section": section, "figure": figure, "breakdown": breakdown, "value": value,
         "from": result.date_from}
        for section, figure, breakdown, value in _monitor_figures(result)
    ]  # fmt: skip
    rows += [{"section": "reclaim"} | asdict(r) for r in result.flagged_reclaims]
    rows = municipality_rows(rows, result.municipality)
    names = list(dict.fromkeys(k for row in rows for k in row))
    return [dict.fromkeys(names) | row for row in rows]


def inburgering_tables(result: InburgeringReport) -> list[Table]:
    routes = Table(
        title=_title(f"Inburgering on {result.on}", result.as_known_at),
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    names = ("persons", "afgeschaald", "pvt_done", "map_done", "knm_done", "ona_done", "fulfilled")
    routes.add_column("leerroute", no_wrap=True)
    for name in names:
        routes.add_column(name.replace("_", " "), justify="right")
    for r in result.routes:
        values = asdict(r)
        routes.add_row(
            r.leerroute,
            *(str(values[n]) for n in names),
            style="bold" if r.leerroute == "total" else None,
        )
    routes.caption = "active clients with an inburgeringsplicht; " + report.basis_caption(
        result.position, result.rule_version, result.digest
    )
    exams = Table(title="Exam results", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("component", "attempt", "taken", "passed", "pass rate"):
        exams.add_column(name, justify="left" if name == "component" else "right")
    for e in result.exams:
        exams.add_row(
            e.component, str(e.attempt_no), str(e.taken), str(e.passed), percent(e.pass_rate)
        )
    risk = Table(
        title=f"Risk list: term ends within {result.risk_months} months, duty not fulfilled",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for name in ("person", "municipality", "regime", "leerroute", "term end", "days left"):
        risk.add_column(name, no_wrap=True, justify="right" if name == "days left" else "left")
    for person in result.risk:
        risk.add_row(
            person.person_id[:8],
            person.municipality,
            person.regime or "-",
            person.leerroute or "-",
            person.term_end + (" (extended)" if person.extended else ""),
            str(person.days_left),
        )
    risk.caption = f"{len(result.risk)} person(s); fines are not counted as a risk"
    return [routes, exams, risk, *_monitor_tables(result)]


_SECTION_TITLES = {
    "pip_objections": "PIP objections (bezwaar)",
    "z_route": "Z-route eindgesprek",
    "ontzorgen": "Ontzorgen",
}


def _monitor_tables(result: InburgeringReport) -> list[Table]:
    """The objection, Z-route and ontzorgen figures, one table, and the flagged reclaims."""
    period = f"{result.date_from} to {result.on}"
    figures = Table(
        title=f"PIP objections, Z-route and ontzorgen (period {period})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for name in ("section", "figure", "value"):
        figures.add_column(name, justify="right" if name == "value" else "left")
    for section, figure, breakdown, value in _monitor_figures(result):
        label = f"{figure}: {breakdown}" if breakdown else figure
        figures.add_row(_SECTION_TITLES[section], label.replace("_", " "), str(value))
    figures.caption = "open and ontzorgd: on the date; decided, started, ended: in the period"
    reclaims = Table(
        title="Flagged DUO loan reclaims of asielstatushouders",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for name in ("person", "municipality", "reclaimed on", "amount"):
        reclaims.add_column(name, no_wrap=True, justify="right" if name == "amount" else "left")
    for row in result.flagged_reclaims:
        reclaims.add_row(row.person_id[:8], row.municipality, row.reclaimed_on, row.amount)
    reclaims.caption = (
        f"{len(result.flagged_reclaims)} reclaim(s); rule set {result.reclaim_rule_set}:"
        " recovery from asielstatushouders breaches EU law (RvS 2025-07-09, 2026-02-18)"
    )
    return [figures, reclaims]


@click.command("inburgering")
@on_option("the status is")
@click.option(
    "--from",
    "from_date",
    type=ReportDate(),
    help="count objections decided and ontzorgen started or ended from this date (default: "
    "1 January of the year of --on)",
)
@municipality_option("only clients in this municipality")
@as_known_at_option()
@format_option()
@pass_traject
def inburgering_command(
    traject: TrajectContext,
    *,
    on: date | None,
    from_date: date | None,
    municipality: str | None,
    as_known_at: datetime | None,
    output: str | None,
) -> None:
    """Inburgering status per leerroute (afgeschaald, PVT, MAP, KNM, ONA), exam pass rates
    per component and attempt, the risk list of terms ending soon, PIP objections, the
    Z-route eindgesprek, ontzorgen and flagged DUO loan reclaims.

    \b
    Example:
      traject report inburgering --on 2024-06-30
      traject report inburgering --on 2024-06-30 --from 2024-01-01 --format json
      traject report inburgering --on 2024-06-30 --municipality GM0622 --format csv
    """
    day = report_day(on, as_known_at)
    if from_date is not None and from_date > day:
        raise click.BadParameter(f"must not be after --on ({day})", param_hint="'--from'")
    result = inburgering(
        Views(traject.reader),
        day,
        municipality=municipality,
        as_known_at=as_known_at,
        date_from=from_date,
    )
    emit_report(
        traject,
        output,
        lambda: inburgering_tables(result),
        inburgering_json(result),
        inburgering_csv_rows(result),
    )


# --- candidate finder ---------------------------------------------------------------------------


CANDIDATE_COLUMNS = (
    "person_id",
    "municipality",
    "regisseurs",
    "rung",
    "language_level",
    "occupation",
    "education",
)


def candidate_rows(result: CandidatesReport) -> list[dict[str, Any]]:
    return [
        dict(
            zip(
                CANDIDATE_COLUMNS,
                (
                    c.person_id,
                    c.municipality,
                    " ".join(c.regisseurs),
                    c.rung,
                    c.language_level,
                    c.occupation,
                    c.education,
                ),
                strict=True,
            )
        )
        for c in result.candidates
    ]


def candidates_table(result: CandidatesReport) -> Table:
    wanted = ", ".join(f"{k}={v}" for k, v in result.criteria.items() if v is not None)
    table = Table(
        title=_title(
            f"Candidates on {result.on}" + (f" ({wanted})" if wanted else ""), result.as_known_at
        ),
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for name in (
        "person",
        "municipality",
        "regisseur",
        "rung",
        "language",
        "occupation",
        "education",
    ):
        table.add_column(name, no_wrap=name in ("person", "municipality"))
    for c in result.candidates:
        table.add_row(
            c.person_id[:8],
            c.municipality,
            ", ".join(c.regisseurs) or "-",
            "-" if c.rung is None else str(c.rung),
            c.language_level or "-",
            c.occupation or "-",
            c.education or "-",
        )
    table.caption = f"{len(result.candidates)} candidate(s); " + report.basis_caption(
        result.position, result.rule_version, result.digest
    )
    return table


@click.command("find-candidates")
@click.option(
    "--occupation", metavar="TEXT", help="occupational direction contains this, e.g. zorg"
)
@click.option("--education", metavar="TEXT", help="education contains this, e.g. mbo")
@click.option(
    "--min-language",
    type=click.Choice(CEFR_ORDER, case_sensitive=False),
    help="at least this CEFR language level",
)
@click.option("--min-rung", type=whole_number(1, 6), help="at least this Participatieladder rung")
@municipality_option("only clients in this municipality")
@on_option("the profiles are")
@as_known_at_option()
@format_option()
@pass_traject
def find_candidates_command(
    traject: TrajectContext,
    *,
    occupation: str | None,
    education: str | None,
    min_language: str | None,
    min_rung: int | None,
    municipality: str | None,
    on: date | None,
    as_known_at: datetime | None,
    output: str | None,
) -> None:
    """Find active clients for a vacancy by occupational direction, education, language level
    and ladder rung. Persons are named by id only.

    \b
    Example:
      traject find-candidates --occupation zorg --min-language A2 --min-rung 3
      traject find-candidates --education mbo --municipality GM0622 --format csv
    """
    result = find_candidates(
        Views(traject.reader),
        report_day(on, as_known_at),
        occupation=occupation,
        education=education,
        min_language=min_language,
        min_rung=min_rung,
        municipality=municipality,
        as_known_at=as_known_at,
    )
    rows = candidate_rows(result)
    data = {
        "on": result.on,
        "as_known_at": result.as_known_at,
        "criteria": result.criteria,
        "rows": rows,
        "basis": _basis(result.projections, result.position, result.rule_version, result.digest),
    }
    emit_report(
        traject, output, lambda: [candidates_table(result)], data, rows, columns=CANDIDATE_COLUMNS
    )
