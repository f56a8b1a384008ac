"""``traject report``: figures from the read models (caught up first).

The caseload, plans and inburgering reports live in ``commands/report_inburgering.py``.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import date, datetime
from typing import Any

import click
from rich import box
from rich.table import Table

from commands.context import TrajectContext, pass_traject
from commands.projections import emit_report, format_option
from commands.report_inburgering import (
    caseload_command,
    inburgering_command,
    plans_command,
)
from commands.reporting import (
    ReportDate,
    as_known_at_option,
    basis,
    basis_caption,
    municipality_option,
    municipality_rows,
    on_option,
    period_option,
    report_day,
)
from ledger.municipalities import label as municipality_label
from ledger.values import Period
from projections import Views
from projections.housing import HousingReport, HousingRow, housing
from projections.ladder import LadderReport, ladder
from projections.outflow import OutflowReport, OutflowRow, outflow

# --- rendering ----------------------------------------------------------------------------------


def outflow_json(report: OutflowReport) -> dict[str, Any]:
    return {
        "period": report.period,
        "as_known_at": report.as_known_at,
        "by": report.by,
        # only when given: a restatement of a seal made without it would list it as added
        **({"municipality": report.municipality} if report.municipality else {}),
        "rows": [asdict(row) for row in report.rows],
        "moved_out": [{"group": m.group, "persons": m.persons} for m in report.moved_out],
        "basis": {
            "projection": "outflow",
            "position": report.position,
            "rule_version": report.rule_version,
            "digest": report.digest,
        },
    }


# the keys of a CSV row
OUTFLOW_COLUMNS = ("municipality", *(f.name for f in fields(OutflowRow)))


def outflow_csv_rows(report: OutflowReport) -> list[dict[str, Any]]:
    """The rows, then the moves (``outflow_type`` = moved_out), each naming its municipality
    (:func:`municipality_rows`): the group's under ``--by municipality``. With
    ``--municipality`` (and no ``--by``) ``group`` names it too: the rows are those of that
    municipality under ``--by municipality``."""
    rows = [asdict(row) for row in report.rows] + [
        {
            "period": m.period,
            "group": m.group,
            "outflow_type": "moved_out",
            "started": m.persons,
            "in_outflow_at_end": None,
        }
        for m in report.moved_out
    ]
    if report.municipality and not report.by:
        rows = [row | {"group": report.municipality} for row in rows]
    if report.by == "municipality" or report.municipality:
        rows = [{"municipality": row["group"]} | row for row in rows]
    return municipality_rows(rows, report.municipality)


def outflow_table(report: OutflowReport) -> Table:
    title = f"Outflow {report.period}"
    if report.municipality:
        title += f" in {municipality_label(report.municipality) or report.municipality}"
    if report.as_known_at:
        title += f" as known at {report.as_known_at}"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    if report.by:
        table.add_column(report.by, no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("started in period", justify="right")
    table.add_column("in outflow at end", justify="right")
    moved = {m.group: m.persons for m in report.moved_out}
    for row in report.rows:
        cells = [row.outflow_type, str(row.started), str(row.in_outflow_at_end)]
        style = "bold" if row.outflow_type == "total" else None
        group = [row.group or ""] if report.by else []
        table.add_row(*group, *cells, style=style)
        if row.outflow_type == "total":
            moved_cells = ["moved out (not outflow)", str(moved.get(row.group, 0)), "-"]
            table.add_row(*group, *moved_cells, style="dim")
    table.caption = (
        "distinct persons; in outflow at end: on the period's last day, leaving out persons "
        f"who died or moved away by then; events up to notification {report.position}, "
        f"rules {report.rule_version}, digest {(report.digest or '-')[:16]}"
    )
    return table


def housing_row(row: HousingRow) -> dict[str, Any]:
    return asdict(row) | {"standing": row.standing}


HOUSING_COLUMNS = (*(f.name for f in fields(HousingRow)), "standing")  # housing_row's keys


def housing_json(report: HousingReport) -> dict[str, Any]:
    return {
        "period": report.period,
        "as_known_at": report.as_known_at,
        "municipality": report.municipality,
        "rows": [housing_row(row) for row in report.rows],
        "basis": basis("housing", report.position, report.rule_version, report.digest),
    }


def housing_table(report: HousingReport) -> Table:
    title = f"Housing against the taakstelling {report.period}"
    if report.as_known_at:
        title += f" as known at {report.as_known_at}"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("municipality", no_wrap=True)
    for name in ("target", "realised", "balance"):
        table.add_column(name, justify="right")
    table.add_column("standing", no_wrap=True)
    table.add_column("confirmed", justify="right")
    for row in report.rows:
        table.add_row(
            municipality_label(row.municipality) or row.municipality,
            "-" if row.target is None else str(row.target),
            str(row.realised),
            "-" if row.balance is None else f"{row.balance:+d}" if row.balance else "0",
            row.standing or "-",
            "-" if row.official_realised is None else str(row.official_realised),
        )
    table.caption = (
        "realised: distinct persons housed in the period who count for the taakstelling; "
        "balance carried over from the first half-year with a target; confirmed: "
        "HousingRealisationConfirmed, for reconciliation; "
        + basis_caption(report.position, report.rule_version, report.digest)
    )
    return table


def ladder_json(report: LadderReport) -> dict[str, Any]:
    return {
        "on": report.on,
        "from": report.from_date,
        "as_known_at": report.as_known_at,
        "municipality": report.municipality,
        "assessed": report.assessed,
        "distribution": [asdict(c) for c in report.distribution],
        "inactive_assessed": report.inactive_assessed,
        "first_assessed": report.first_assessed if report.from_date else None,
        "inactive_on_from": report.inactive_on_from if report.from_date else None,
        "transitions": [asdict(t) for t in report.transitions],
        "basis": basis("ladder", report.position, report.rule_version, report.digest),
    }


def ladder_csv_rows(report: LadderReport) -> list[dict[str, Any]]:
    """One row per rung (``figure`` = rung), the persons not active; with a from-date the
    persons first assessed after it and those not active on it (with the matrix they add up to
    the rungs' total), then one row per cell of the transition matrix."""
    rows: list[dict[str, Any]] = [
        {"figure": "rung", "from_rung": None, "rung": c.rung, "persons": c.persons}
        for c in report.distribution
    ]
    counts = {"inactive_assessed": report.inactive_assessed}
    if report.from_date:
        counts |= {
            "first_assessed": report.first_assessed,
            "inactive_on_from": report.inactive_on_from,
        }
    rows += [
        {"figure": figure, "from_rung": None, "rung": None, "persons": persons}
        for figure, persons in counts.items()
    ]
    rows += [
        {"figure": "transition", "from_rung": t.from_rung, "rung": t.to_rung, "persons": t.persons}
        for t in report.transitions
    ]
    return municipality_rows(rows, report.municipality)


def ladder_tables(report: LadderReport) -> list[Table]:
    title = f"Participatieladder on {report.on}"
    if report.as_known_at:
        title += f" as known at {report.as_known_at}"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("rung", justify="right")
    table.add_column("persons", justify="right")
    for count in report.distribution:
        table.add_row(str(count.rung), str(count.persons))
    table.add_row("total", str(report.assessed), style="bold")
    table.add_row("not active", str(report.inactive_assessed), style="dim")
    table.caption = (
        "latest rung per active client; not active: assessed, case closed, moved out or deceased; "
        + basis_caption(report.position, report.rule_version, report.digest)
    )
    tables = [table]
    if report.from_date:
        matrix = Table(
            title=f"Transitions {report.from_date} → {report.on} (rows: from, columns: to)",
            title_justify="left",
            box=box.SIMPLE_HEAD,
        )
        matrix.add_column("from \\ to", justify="right")
        rungs = [c.rung for c in report.distribution]
        for rung in rungs:
            matrix.add_column(str(rung), justify="right")
        cells = {(t.from_rung, t.to_rung): t.persons for t in report.transitions}
        for a in rungs:
            matrix.add_row(str(a), *(str(cells.get((a, b), 0)) for b in rungs))
        matrix.caption = (
            f"persons active and assessed on both dates; {report.first_assessed} first "
            f"assessed after {report.from_date}; {report.inactive_on_from} not active then"
        )
        tables.append(matrix)
    return tables


# --- commands ---------------------------------------------------------------------------------


@click.group("report")
def group() -> None:
    """Figures for a period or a date, from the read models."""


@group.command("outflow")
@period_option("2024H1, 2024Q3 or 2024")
@as_known_at_option()
@click.option("--by", type=click.Choice(["municipality"]), help="one set of rows per group")
@municipality_option("only outflow facts of this municipality")
@format_option()
@pass_traject
def outflow_command(
    traject: TrajectContext,
    *,
    period: Period,
    as_known_at: datetime | None,
    by: str | None,
    municipality: str | None,
    output: str | None,
) -> None:
    """Count persons who started outflow in a period, per outflow type, and those still in
    outflow at its end; persons who moved out in the period are counted apart (not outflow).

    \b
    Example:
      traject report outflow --period 2024H1
      traject report outflow --period 2024H1 --as-known-at 2024-07-15 --format json
      traject report outflow --period 2024 --municipality Vlaardingen
    """
    report = outflow(
        Views(traject.reader), period, as_known_at=as_known_at, by=by, municipality=municipality
    )
    emit_report(
        traject,
        output,
        lambda: [outflow_table(report)],
        outflow_json(report),
        outflow_csv_rows(report),
        columns=OUTFLOW_COLUMNS,
    )


@group.command("housing")
@period_option("a half-year: 2024H1")
@municipality_option("only this municipality")
@as_known_at_option()
@format_option()
@pass_traject
def housing_command(
    traject: TrajectContext,
    period: Period,
    municipality: str | None,
    as_known_at: datetime | None,
    output: str | None,
) -> None:
    """Compare persons housed in a half-year with the taakstelling, per municipality, with
    the balance carried over (above 0: voorsprong, below 0: achterstand).

    \b
    Example:
      traject report housing --period 2024H1
      traject report housing --period 2024H1 --municipality GM0622 --format json
    """
    if period.kind != "H":
        raise click.BadParameter(
            f"the taakstelling is half-yearly: give a half-year such as {period.year}H1",
            param_hint="'--period'",
        )
    report = housing(
        Views(traject.reader), period, municipality=municipality, as_known_at=as_known_at
    )
    rows = [housing_row(row) for row in report.rows]
    emit_report(
        traject,
        output,
        lambda: [housing_table(report)],
        housing_json(report),
        rows,
        columns=HOUSING_COLUMNS,
    )


@group.command("ladder")
@on_option("the rungs are")
@click.option(
    "--from", "from_date", type=ReportDate(), help="also count transitions since this date"
)
@municipality_option("only persons whose latest assessment was in it")
@as_known_at_option()
@format_option()
@pass_traject
def ladder_command(
    traject: TrajectContext,
    *,
    on: date | None,
    from_date: date | None,
    municipality: str | None,
    as_known_at: datetime | None,
    output: str | None,
) -> None:
    """Count persons per Participatieladder rung on a date and, with --from, the moves
    between rungs since an earlier date.

    \b
    Example:
      traject report ladder --on 2024-06-30
      traject report ladder --on 2024-06-30 --from 2024-01-01 --format csv
    """
    day = report_day(on, as_known_at)
    if from_date is not None and from_date > day:
        raise click.BadParameter(f"must not be after --on ({day})", param_hint="'--from'")
    report = ladder(
        Views(traject.reader),
        day,
        from_date=from_date,
        as_known_at=as_known_at,
        municipality=municipality,
    )
    emit_report(
        traject, output, lambda: ladder_tables(report), ladder_json(report), ladder_csv_rows(report)
    )


group.add_command(caseload_command)
group.add_command(plans_command)
group.add_command(inburgering_command)
import commands.report_life  # noqa: E402 - its P4, P8-P11 commands register on `group`
import commands.report_quarterly  # noqa: E402, F401 - P15 (and P14) register on `group`
from commands import report_seal  # noqa: E402, F401 - seal, sealed, restate register on `group`
from commands.report_amif import amif_command  # noqa: E402 - builds on the helpers above

group.add_command(amif_command)
