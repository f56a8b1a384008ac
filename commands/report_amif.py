"""``traject report amif``: P12 AMIF indicators and P13 cost per participant of one project."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from rich import box
from rich.markup import escape
from rich.table import Table

from commands.context import TrajectContext, pass_traject
from commands.projections import emit_report, format_option
from commands.reporting import as_known_at_option, basis, basis_caption, period_option
from commands.types import PatternType, pattern_of
from ledger.amif import AmifFigures, indicators_json
from ledger.events import ProjectCode
from ledger.values import Period
from projections import Views
from projections.amif import AmifReport, amif


def amif_json(report: AmifReport) -> dict[str, Any]:
    return indicators_json(report.figures, with_facts=False) | {
        "as_known_at": report.as_known_at,
        "basis": basis("amif", report.position, report.rule_version, report.digest),
    }


def amif_csv_rows(figures: AmifFigures) -> list[dict[str, Any]]:
    """One row per indicator (municipality ``total``) and per indicator and municipality."""
    rows: list[dict[str, Any]] = []
    for value in figures.indicators:
        rows.append(
            {
                "project": figures.project,
                "period": figures.period,
                "code": value.code,
                "municipality": "total",
                "period_value": value.period,
                "cumulative": value.cumulative,
                "verified": value.verified,
            }
        )
        rows += [
            {
                "project": figures.project,
                "period": figures.period,
                "code": value.code,
                "municipality": place,
                "period_value": in_period,
                "cumulative": cumulative,
                "verified": value.verified,
            }
            for place, in_period, cumulative in value.by_municipality
        ]
    return rows


def _title(text: str, report: AmifReport) -> str:
    if report.as_known_at:
        text += f" as known at {report.as_known_at}"
    return text


def amif_tables(report: AmifReport) -> list[Table]:
    figures = report.figures
    head = f"AMIF {figures.project} ({figures.fund}) {figures.period}"
    indicators = Table(
        title=_title(f"{head}: indicators", report), title_justify="left", box=box.SIMPLE_HEAD
    )
    places = sorted({m for v in figures.indicators for m, _, _ in v.by_municipality})
    indicators.add_column("code", no_wrap=True)
    indicators.add_column("indicator")
    indicators.add_column("period", justify="right")
    indicators.add_column("cumulative", justify="right")
    for place in places:
        indicators.add_column(place, justify="right")
    for value in figures.indicators:
        cells = {m: f"{p}/{c}" for m, p, c in value.by_municipality}
        indicators.add_row(
            escape(value.code + ("" if value.verified else " [U]")),
            escape(value.wording),
            str(value.period),
            str(value.cumulative),
            *(cells.get(place, "-") for place in places),
        )
    indicators.caption = (
        f"persons counted once per indicator; per municipality: period/cumulative; \\[U]: "
        f"wording unverified; indicator set {figures.indicator_set}; "
        + basis_caption(report.position, report.rule_version, report.digest)
    )
    progress = Table(title=f"{head}: participants against targets", box=box.SIMPLE_HEAD)
    progress.title_justify = "left"
    for name in ("municipality", "target", "realised", "remaining"):
        progress.add_column(name, justify="left" if name == "municipality" else "right")
    for row in figures.progress:
        progress.add_row(
            row.municipality,
            str(row.target),
            str(row.realised),
            str(row.remaining),
            style="bold" if row.municipality == "total" else None,
        )
    progress.caption = "realised: participants enrolled by the end of the period (cumulative)"
    hours = Table(title=f"{head}: hours by service category", box=box.SIMPLE_HEAD)
    hours.title_justify = "left"
    for name in ("category", "hours", "participants", "hours per participant"):
        hours.add_column(name, justify="left" if name == "category" else "right")
    for line in figures.hours:
        per = "-" if line.hours_per_participant is None else str(line.hours_per_participant)
        hours.add_row(line.category, str(line.hours), str(line.participants), per)
    cost = figures.cost
    costs = Table(title=f"{head}: cost per participant (P13)", box=box.SIMPLE_HEAD)
    costs.title_justify = "left"
    costs.add_column("figure")
    costs.add_column("value", justify="right")
    for category, amount in cost.costs_by_category:
        costs.add_row(f"costs: {category}", f"€ {amount}")
    costs.add_row("eligible costs", f"€ {cost.eligible_costs}", style="bold")
    costs.add_row("active participants", str(cost.active_participants))
    per = "-" if cost.cost_per_participant is None else f"€ {cost.cost_per_participant}"
    costs.add_row("cost per participant", per, style="bold")
    costs.add_row("declared", f"€ {cost.declared}")
    costs.add_row("staff hours", str(cost.staff_hours))
    costs.caption = f"method: {cost.method}"
    return [indicators, progress, hours, costs]


@click.command("amif")
@click.option(
    "--project",
    type=PatternType(pattern_of(ProjectCode), upper=True),
    required=True,
    help="the AMIF project code",
)
@period_option("2021, 2021H1 or 2021Q3")
@as_known_at_option()
@format_option()
@pass_traject
def amif_command(
    traject: TrajectContext,
    project: str,
    period: Period,
    as_known_at: datetime | None,
    output: str | None,
) -> None:
    """Show an AMIF project's indicators (period and cumulative, total and per municipality),
    progress against its targets, hours per participant and cost per participant.

    \b
    Example:
      traject report amif --project MWP --period 2021
      traject report amif --project MWP --period 2021 --as-known-at 2022-02-01 --format json
    """
    report = amif(Views(traject.reader), project, period, as_known_at=as_known_at)
    emit_report(
        traject,
        output,
        lambda: amif_tables(report),
        amif_json(report),
        amif_csv_rows(report.figures),
    )
