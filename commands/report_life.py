"""``traject report cohort|guidance|reunification|help-requests|pvt``: the life-course reports.

P4, P8, P9, P10 and P11 of the domain: each command parses its options, calls one query in
``projections/`` (which catches up first) and renders it as a rich table, JSON or CSV. The
commands register themselves on the ``report`` group of ``commands.report``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

import click
from rich import box
from rich.table import Table

from commands.context import TrajectContext, pass_traject
from commands.projections import emit_report, format_option
from commands.report import group
from commands.reporting import (
    as_known_at_option,
    basis,
    basis_caption,
    municipality_option,
    municipality_rows,
    period_option,
)
from commands.types import whole_number
from ledger.municipalities import label
from ledger.values import REPORT_YEARS, Period
from projections import Views
from projections.breakdown import Count
from projections.cohort import CohortReport, cohort
from projections.guidance import GuidanceReport, guidance
from projections.helprequests import HelpRequestReport, help_requests
from projections.pvt import PvtReport, pvt
from projections.reunification import ReunificationReport, reunification

NATIONALITIES_SHOWN = 10


def title(what: str, municipality: str | None, as_known_at: str | None) -> str:
    """``<what> — GM0622 Vlaardingen as known at …``."""
    text = what
    if municipality:
        text += f" — {label(municipality)}"
    if as_known_at:
        text += f" as known at {as_known_at}"
    return text


def report_head(report: Any, name: str) -> dict[str, Any]:
    """The keys every life-course report's JSON starts with."""
    return {
        "municipality": report.municipality,
        "municipality_name": report.municipality_name,
        "as_known_at": report.as_known_at,
        "basis": basis(name, report.position, report.rule_version, report.digest),
    }


def counts(items: tuple[Count, ...]) -> dict[str, int]:
    return {c.key: c.count for c in items}


def csv_row(columns: Sequence[str], **values: Any) -> dict[str, Any]:
    """A CSV row with every one of ``columns`` (in their order), empty where ``values`` has
    none: a report whose rows are of several kinds names the kind in ``figure``."""
    return dict.fromkeys(columns, "") | values


def new_table(heading: str) -> Table:
    return Table(title=heading, title_justify="left", box=box.SIMPLE_HEAD)


def caption(report: Any, note: str) -> str:
    return f"{note}; " + basis_caption(report.position, report.rule_version, report.digest)


# --- P4 cohort ----------------------------------------------------------------------------------

COHORT_SECTIONS = (
    ("age_group", "age on housing date"),
    ("sex", "sex"),
    ("nationality", "nationality (first)"),
    ("route", "route"),
    ("housing_kind", "housing kind"),
)


def cohort_json(report: CohortReport) -> dict[str, Any]:
    return {
        "year": report.year,
        "persons": report.persons,
        **{name: counts(getattr(report, name)) for name, _ in COHORT_SECTIONS},
        # largest group first: a list keeps that order where an object's keys get sorted
        "nationality": [asdict(c) for c in report.nationality],
        **report_head(report, "cohort"),
    }


def cohort_csv_rows(report: CohortReport) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{"figure": "persons", "key": "", "persons": report.persons}]
    for name, _ in COHORT_SECTIONS:
        rows += [{"figure": name, "key": c.key, "persons": c.count} for c in getattr(report, name)]
    return municipality_rows(rows, report.municipality)


def cohort_table(report: CohortReport) -> Table:
    table = new_table(
        title(f"Housed cohort {report.year}", report.municipality, report.as_known_at)
    )
    table.add_column("group")
    table.add_column("persons", justify="right")
    table.add_column("share", justify="right")

    def share(n: int) -> str:
        return f"{100 * n / report.persons:.0f}%" if report.persons else "-"

    table.add_row("persons first housed", str(report.persons), "", style="bold", end_section=True)
    for name, heading in COHORT_SECTIONS:
        items = list(getattr(report, name))
        if name == "nationality" and len(items) > NATIONALITIES_SHOWN:
            rest = items[NATIONALITIES_SHOWN:]
            items = [
                *items[:NATIONALITIES_SHOWN],
                Count(f"other ({len(rest)} groups)", sum(c.count for c in rest)),
            ]
        table.add_row(heading, style="italic")
        for index, item in enumerate(items):
            table.add_row(
                f"  {item.key}",
                str(item.count),
                share(item.count),
                end_section=index == len(items) - 1,
            )
    table.caption = caption(
        report, "persons whose first housing in the municipality lies in the year"
    )
    return table


@group.command("cohort")
@click.option(
    "--year", type=whole_number(*REPORT_YEARS), required=True, help="the year of first housing"
)
@municipality_option()
@as_known_at_option()
@format_option()
@pass_traject
def cohort_command(
    traject: TrajectContext,
    year: int,
    municipality: str | None,
    as_known_at: datetime | None,
    output: str | None,
) -> None:
    """Profile the persons first housed in a year: adults and children, sex, nationality,
    route and housing kind (P4).

    \b
    Example:
      traject report cohort --year 2023 --municipality Vlaardingen
      traject report cohort --year 2023 --format json
    """
    report = cohort(Views(traject.reader), year, municipality=municipality, as_known_at=as_known_at)
    emit_report(
        traject,
        output,
        lambda: [cohort_table(report)],
        cohort_json(report),
        cohort_csv_rows(report),
    )


# --- P8 guidance --------------------------------------------------------------------------------


def guidance_json(report: GuidanceReport) -> dict[str, Any]:
    return {
        "period": report.period,
        "rows": [asdict(row) for row in report.rows],
        "providers": counts(report.providers),
        **report_head(report, "guidance"),
    }


GUIDANCE_CSV_COLUMNS = ("figure", "year_no", "provider", "started", "ended", "active_at_end")


def guidance_csv_rows(report: GuidanceReport) -> list[dict[str, Any]]:
    """A row per guidance year (``figure`` = year), then the persons started per provider."""
    rows = [csv_row(GUIDANCE_CSV_COLUMNS, figure="year", **asdict(row)) for row in report.rows]
    rows += [
        csv_row(GUIDANCE_CSV_COLUMNS, figure="provider", provider=c.key, started=c.count)
        for c in report.providers
    ]
    return municipality_rows(rows, report.municipality)


def guidance_tables(report: GuidanceReport) -> list[Table]:
    table = new_table(
        title(
            f"Maatschappelijke begeleiding {report.period}",
            report.municipality,
            report.as_known_at,
        )
    )
    table.add_column("guidance year", no_wrap=True)
    for name in ("started", "ended", "active at end"):
        table.add_column(name, justify="right")
    for row in report.rows:
        table.add_row(
            row.year_no,
            str(row.started),
            str(row.ended),
            str(row.active_at_end),
            style="bold" if row.year_no == "total" else None,
        )
    table.caption = caption(report, "distinct persons")
    providers = new_table("Started per provider")
    providers.add_column("provider")
    providers.add_column("persons", justify="right")
    for item in report.providers:
        providers.add_row(item.key, str(item.count))
    return [table, providers] if report.providers else [table]


@group.command("guidance")
@period_option()
@municipality_option()
@as_known_at_option()
@format_option()
@pass_traject
def guidance_command(
    traject: TrajectContext,
    period: Period,
    municipality: str | None,
    as_known_at: datetime | None,
    output: str | None,
) -> None:
    """Count maatschappelijke begeleiding (MB) per guidance year: started and ended in a
    period, and active at its end (P8).

    \b
    Example:
      traject report guidance --period 2023
      traject report guidance --period 2023H2 --municipality GM0622 --format csv
    """
    report = guidance(
        Views(traject.reader), period, municipality=municipality, as_known_at=as_known_at
    )
    emit_report(
        traject,
        output,
        lambda: guidance_tables(report),
        guidance_json(report),
        guidance_csv_rows(report),
    )


# --- P9 family reunification --------------------------------------------------------------------

REUNIFICATION_FIGURES = (
    ("open_at_start", "files open at start"),
    ("new_files", "new files"),
    ("handled", "files handled"),
    ("closed_successfully", "closed successfully (herenigd)"),
    ("families_reunited", "families reunited"),
    ("open_at_end", "files open at end"),
    ("applications", "applications filed"),
    ("late_applications", "of which after the nareis window"),
    ("late_unknown", "of which lateness unknown"),
    ("nareizigers_arrived", "nareizigers arrived"),
)


def reunification_json(report: ReunificationReport) -> dict[str, Any]:
    return {
        "period": report.period,
        **{name: getattr(report, name) for name, _ in REUNIFICATION_FIGURES},
        "closed": counts(report.closed),
        "decisions": counts(report.decisions),
        **report_head(report, "reunification"),
    }


def reunification_csv_rows(report: ReunificationReport) -> list[dict[str, Any]]:
    rows = [
        {"figure": name, "key": "", "count": getattr(report, name)}
        for name, _ in REUNIFICATION_FIGURES
    ]
    rows += [{"figure": "closed", "key": c.key, "count": c.count} for c in report.closed]
    rows += [{"figure": "decisions", "key": c.key, "count": c.count} for c in report.decisions]
    return municipality_rows(rows, report.municipality)


def reunification_table(report: ReunificationReport) -> Table:
    table = new_table(
        title(f"Family reunification {report.period}", report.municipality, report.as_known_at)
    )
    table.add_column("figure")
    table.add_column("count", justify="right")
    for name, heading in REUNIFICATION_FIGURES:
        table.add_row(
            heading, str(getattr(report, name)), style="bold" if name == "handled" else None
        )
    for heading, items in (("files closed", report.closed), ("IND decisions", report.decisions)):
        table.add_row(heading, str(sum(c.count for c in items)), style="italic")
        for item in items:
            table.add_row(f"  {item.key}", str(item.count))
    table.caption = caption(report, "files are a referent's file_no; handled = open at start + new")
    return table


@group.command("reunification")
@period_option()
@municipality_option()
@as_known_at_option()
@format_option()
@pass_traject
def reunification_command(
    traject: TrajectContext,
    period: Period,
    municipality: str | None,
    as_known_at: datetime | None,
    output: str | None,
) -> None:
    """Count family-reunification (nareis) files: new, handled, closed, families reunited,
    nareizigers arrived and applications filed after the nareis window (P9).

    \b
    Example:
      traject report reunification --period 2023
      traject report reunification --period 2023 --as-known-at 2024-01-15 --format json
    """
    report = reunification(
        Views(traject.reader), period, municipality=municipality, as_known_at=as_known_at
    )
    emit_report(
        traject,
        output,
        lambda: [reunification_table(report)],
        reunification_json(report),
        reunification_csv_rows(report),
    )


# --- P10 help requests --------------------------------------------------------------------------


def help_requests_json(report: HelpRequestReport) -> dict[str, Any]:
    return {
        "period": report.period,
        "rows": [asdict(row) for row in report.rows],
        **report_head(report, "helprequests"),
    }


def help_requests_table(report: HelpRequestReport) -> Table:
    table = new_table(
        title(f"Help requests {report.period}", report.municipality, report.as_known_at)
    )
    table.add_column("category", no_wrap=True)
    for name in ("MB requests", "MB persons", "spreekuur requests", "spreekuur persons"):
        table.add_column(name, justify="right")
    table.add_column("all requests", justify="right")
    table.add_column("all persons", justify="right")
    for row in report.rows:
        table.add_row(
            row.category,
            *(
                str(n)
                for n in (
                    row.mb_requests,
                    row.mb_persons,
                    row.spreekuur_requests,
                    row.spreekuur_persons,
                    row.requests,
                    row.persons,
                )
            ),
            style="bold" if row.category == "total" else None,
        )
    table.caption = caption(
        report, "MB: in maatschappelijke begeleiding year 1 or 2 on the request date"
    )
    return table


@group.command("help-requests")
@period_option()
@municipality_option()
@as_known_at_option()
@format_option()
@pass_traject
def help_requests_command(
    traject: TrajectContext,
    period: Period,
    municipality: str | None,
    as_known_at: datetime | None,
    output: str | None,
) -> None:
    """Count help requests (hulpvragen) and distinct persons per category, under MB for
    persons in guidance year 1 or 2 on the request date, else under spreekuur (P10).

    \b
    Example:
      traject report help-requests --period 2023
      traject report help-requests --period 2023Q4 --format csv
    """
    report = help_requests(
        Views(traject.reader), period, municipality=municipality, as_known_at=as_known_at
    )
    emit_report(
        traject,
        output,
        lambda: [help_requests_table(report)],
        help_requests_json(report),
        municipality_rows([asdict(row) for row in report.rows], report.municipality),
    )


# --- P11 PVT ------------------------------------------------------------------------------------

PVT_FIGURES = (
    ("signatures", "signatures"),
    ("participants", "distinct participants"),
    ("groups", "groups (activity ids)"),
    ("without_group", "signatures without a group"),
    ("reported_to_duo", "reported to DUO"),
)


def pvt_json(report: PvtReport) -> dict[str, Any]:
    return {
        "period": report.period,
        **{name: getattr(report, name) for name, _ in PVT_FIGURES},
        "ceremonies": [asdict(c) for c in report.ceremonies],
        "providers": counts(report.providers),
        **report_head(report, "pvt"),
    }


PVT_CSV_COLUMNS = (
    "figure",
    "activity_id",
    "provider",
    "providers",
    "first_signed_on",
    "last_signed_on",
    "signatures",
    "participants",
    "groups",
    "reported_to_duo",
)


def pvt_csv_rows(report: PvtReport) -> list[dict[str, Any]]:
    """A row per group activity (``figure`` = ceremony), the signatures without one, the total
    (with the groups and the signatures reported to DUO), then the signatures per provider."""
    rows = [csv_row(PVT_CSV_COLUMNS, figure="ceremony", **asdict(c)) for c in report.ceremonies]
    if report.without_group:
        rows.append(
            csv_row(
                PVT_CSV_COLUMNS,
                figure="without_group",
                activity_id="(none)",
                signatures=report.without_group,
            )
        )
    rows.append(
        csv_row(
            PVT_CSV_COLUMNS,
            figure="total",
            activity_id="total",
            signatures=report.signatures,
            participants=report.participants,
            groups=report.groups,
            reported_to_duo=report.reported_to_duo,
        )
    )
    rows += [
        csv_row(PVT_CSV_COLUMNS, figure="provider", provider=c.key, signatures=c.count)
        for c in report.providers
    ]
    return municipality_rows(rows, report.municipality)


def pvt_tables(report: PvtReport) -> list[Table]:
    summary = new_table(title(f"PVT {report.period}", report.municipality, report.as_known_at))
    summary.add_column("figure")
    summary.add_column("count", justify="right")
    for name, heading in PVT_FIGURES:
        summary.add_row(heading, str(getattr(report, name)))
    summary.caption = caption(report, "PvtCompleted signatures in the period")
    ceremonies = new_table("Per group activity (ceremony)")
    for name in ("activity", "providers", "first signed", "last signed"):
        ceremonies.add_column(name, no_wrap=name != "providers")
    ceremonies.add_column("signatures", justify="right")
    ceremonies.add_column("participants", justify="right")
    for item in report.ceremonies:
        ceremonies.add_row(
            item.activity_id,
            item.providers,
            item.first_signed_on,
            item.last_signed_on,
            str(item.signatures),
            str(item.participants),
        )
    ceremonies.add_row(
        "total", "", "", "", str(report.signatures), str(report.participants), style="bold"
    )
    return [summary, ceremonies]


@group.command("pvt")
@period_option()
@municipality_option()
@as_known_at_option()
@format_option()
@pass_traject
def pvt_command(
    traject: TrajectContext,
    period: Period,
    municipality: str | None,
    as_known_at: datetime | None,
    output: str | None,
) -> None:
    """Count PVT (participatieverklaring) signatures, distinct participants and groups, per
    group activity (ceremony) and provider (P11).

    \b
    Example:
      traject report pvt --period 2023
      traject report pvt --period 2023H1 --municipality Vlaardingen --format json
    """
    report = pvt(Views(traject.reader), period, municipality=municipality, as_known_at=as_known_at)
    emit_report(traject, output, lambda: pvt_tables(report), pvt_json(report), pvt_csv_rows(report))
