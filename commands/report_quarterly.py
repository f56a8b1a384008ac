"""``traject report dashboard|swi``: the quarterly deliverables of the domain (P15, P14).

Each command parses its options, calls one query in ``projections/`` (which composes the other
reports and catches them up) and renders it as rich tables, JSON or CSV. They register themselves on
the ``report`` group of ``commands.report``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table

from commands.context import TrajectContext, pass_traject
from commands.projections import emit_report, format_option
from commands.report import group
from commands.report_inburgering import percent
from commands.report_life import caption, new_table, report_head, title
from commands.reporting import (
    as_known_at_option,
    basis,
    municipality_option,
    municipality_rows,
    quarter_option,
)
from ledger.values import Period
from projections import Views
from projections.dashboard import DashboardReport, dashboard, figure_rows, sections
from projections.swi import SwiExtract, swi_extract

SECTION_TITLES = {
    "caseload": "Caseload (P1) on {end}",
    "outflow": "Outflow (P2) started in {quarter}, in outflow on {end}",
    "ladder": "Participatieladder (P5) on {end}, movement since {start}",
    "plans": "Plan coverage and timeliness (P6) on {end}",
    "inburgering": "Inburgering (P7) per leerroute on {end}",
    "activities": "Activities in {quarter} (P8, P10, P11)",
}


def value_text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def dashboard_json(report: DashboardReport) -> dict[str, Any]:
    return {
        "quarter": report.quarter,
        "start": report.start,
        "end": report.end,
        "sections": sections(report),
        **report_head(report, "+".join(report.projections)),
    }


def dashboard_tables(report: DashboardReport) -> list[Table]:
    heading = title(f"Kwartaaldashboard {report.quarter}", report.municipality, None)
    names = {"quarter": report.quarter, "start": report.start, "end": report.end}
    tables: list[Table] = []
    for section, items in sections(report).items():
        table = new_table(SECTION_TITLES[section].format(**names))
        table.add_column("figure", no_wrap=True)
        table.add_column("breakdown", no_wrap=True)
        table.add_column("value", justify="right")
        for figure, value in items.items():
            if isinstance(value, dict):
                for key, each in value.items():
                    table.add_row(figure, key, value_text(each))
            elif figure.endswith("_share"):  # a fraction in the JSON, a percentage here
                table.add_row(figure, "", percent(value))
            else:
                table.add_row(figure, "", value_text(value))
        tables.append(table)
    tables[0].title = f"{heading}\n{tables[0].title}"
    tables[-1].caption = caption(
        report,
        "distinct persons unless named otherwise; each figure as its own report defines it"
        + (f"; as known at {report.as_known_at}" if report.as_known_at else ""),
    )
    return tables


@group.command("dashboard")
@quarter_option()
@municipality_option()
@as_known_at_option()
@format_option()
@pass_traject
def dashboard_command(
    traject: TrajectContext,
    quarter: Period,
    municipality: str | None,
    as_known_at: datetime | None,
    output: str | None,
) -> None:
    """Show the Kwartaaldashboard (quarterly dashboard) of a quarter: caseload, outflow,
    Participatieladder, plans, inburgering and activities, each as its own report counts it
    for the quarter's dates (P15).

    \b
    Example:
      traject report dashboard --quarter 2024Q2
      traject report dashboard --quarter 2024Q2 --municipality Vlaardingen --format csv
    """
    report = dashboard(
        Views(traject.reader), quarter, municipality=municipality, as_known_at=as_known_at
    )
    emit_report(
        traject,
        output,
        lambda: dashboard_tables(report),
        dashboard_json(report),
        municipality_rows(figure_rows(report), report.municipality),
    )


# --- P14 SWI extract -----------------------------------------------------------------------------


def swi_json(extract: SwiExtract) -> dict[str, Any]:
    return extract.payload | {
        "sha256": extract.sha256,
        "basis": basis(
            "+".join(extract.projections), extract.position, extract.rule_version, extract.digest
        ),
    }


def swi_rows(extract: SwiExtract) -> list[dict[str, Any]]:
    rows = [
        {"variable": v.variable, "value": v.value, "rule_set": extract.rule_set}
        for v in extract.values
    ]
    return municipality_rows(rows, extract.municipality)


def swi_table(extract: SwiExtract) -> Table:
    table = new_table(
        title(f"SWI extract {extract.quarter}", extract.municipality, extract.as_known_at)
    )
    table.add_column("variable", no_wrap=True)
    table.add_column("value", justify="right")
    for item in extract.values:
        table.add_row(item.variable, value_text(item.value))
    table.caption = caption(
        extract,
        f"variable set {extract.rule_set} ([U] to be aligned with the CBS richtlijnen); "
        f"due {extract.due_on}; sha256 {extract.sha256}",
    )
    return table


@group.command("swi")
@quarter_option()
@municipality_option()
@as_known_at_option()
@format_option()
@pass_traject
def swi_command(
    traject: TrajectContext,
    quarter: Period,
    municipality: str | None,
    as_known_at: datetime | None,
    output: str | None,
) -> None:
    """Produce the SWI (Statistiek Wet inburgering) quarterly extract for CBS: one value per
    variable of the variable set in force, its due date and the SHA-256 of the extract (P14).

    \b
    Example:
      traject report swi --quarter 2024Q2 --municipality GM0622 --format json
      traject report swi --quarter 2024Q2 --as-known-at 2024-07-28 --format csv
    """
    extract = swi_extract(
        Views(traject.reader), quarter, municipality=municipality, as_known_at=as_known_at
    )
    emit_report(traject, output, lambda: [swi_table(extract)], swi_json(extract), swi_rows(extract))
