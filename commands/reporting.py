"""Helpers shared by the report commands: the period type, the options every report takes and
the basis of a report (what its figures were computed from)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import click

from commands.types import MOMENT_FORMS, IsoDate, KnownAtMoment, MunicipalityType
from ledger.aggregates import dutch_day
from ledger.values import Period, outside_report_years


def check_report_year(
    kind: click.ParamType,
    year: int,
    value: Any,
    param: click.Parameter | None,
    ctx: click.Context | None,
) -> None:
    """Fail (a usage error) when ``year`` is outside :data:`ledger.values.REPORT_YEARS`."""
    problem = outside_report_years(value, year)
    if problem is not None:
        kind.fail(problem, param, ctx)


class PeriodType(click.ParamType[Period]):
    """A reporting period: 2024 (year), 2024H1 (half-year), 2024Q3 (quarter), also spelled
    2024-H1, 2024 H1, H1 2024 or H1-2024 (:meth:`ledger.values.Period.parse`)."""

    name = "period"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "2024H1"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Period:
        if isinstance(value, Period):
            return value
        try:
            period = Period.parse(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)
        check_report_year(self, period.year, value, param, ctx)
        return period


class QuarterType(PeriodType):
    """A quarter: 2024Q2, also spelled 2024-Q2, 2024 Q2, Q2 2024 or Q2-2024 (a year or
    half-year is refused)."""

    name = "quarter"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "2024Q2"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Period:
        try:
            period = value if isinstance(value, Period) else Period.parse(str(value))
        except ValueError:
            period = None
        if period is None or period.kind != "Q":
            text = f"{str(value)!r} is not a quarter: use the year, Q and 1 to 4, such as 2024Q2"
            self.fail(text, param, ctx)
        check_report_year(self, period.year, value, param, ctx)
        return period


class ReportDate(IsoDate):
    """The day a report counts on (``--on``, ``--from``): a date in the years of
    :data:`ledger.values.REPORT_YEARS`."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        day = super().convert(value, param, ctx)
        check_report_year(self, day.year, value, param, ctx)
        return day


AS_KNOWN_AT_HELP = (
    "count only what was recorded up to this moment (not in the future), ignoring later "
    f"corrections: {MOMENT_FORMS}"
)


MUNICIPALITY_HELP = "only this municipality: a CBS code (GM0363) or a name (Amsterdam)"


class ReportKnownAt(KnownAtMoment):
    """``--as-known-at`` of a report: a :class:`KnownAtMoment` in the years of
    :data:`ledger.values.REPORT_YEARS` (the day a report counts on defaults to its day)."""

    def problem(self, moment: datetime, value: Any) -> str | None:
        return super().problem(moment, value) or outside_report_years(value, moment.year)


def as_known_at_option() -> Any:
    """``--as-known-at``: the knowledge cut-off every report takes."""
    return click.option("--as-known-at", type=ReportKnownAt(), help=AS_KNOWN_AT_HELP)


class ReportDayOption(click.Option):
    """``--on`` of a report: the day its figures are true on (see :func:`report_day`)."""


def on_option(what: str) -> Any:
    """``--on``: the day ``what`` is true on; by default the day of ``--as-known-at``, else
    today (:func:`report_day`)."""
    return click.option(
        "--on",
        type=ReportDate(),
        cls=ReportDayOption,
        help=f"the date {what} true on [default: the day of --as-known-at, else today]",
    )


def report_day(on: date | None, as_known_at: datetime | None) -> date:
    """The day a report is true on: ``on``; without it the day of ``as_known_at``, so that a
    report as known at a moment is the one printed at that moment; else today (days in the
    ledger's time zone, Europe/Amsterdam)."""
    if on is not None:
        return on
    return dutch_day(datetime.now(UTC) if as_known_at is None else as_known_at)


def municipality_rows(rows: list[dict[str, Any]], municipality: str | None) -> list[dict[str, Any]]:
    """The CSV rows of a report that takes ``--municipality``, each naming in ``municipality``
    the municipality its figures are of: a row that names its own (a person's, a housing row's,
    an outflow group's) keeps it; any other row gets ``municipality`` (the ``--municipality``
    code), empty when the report counts the whole cooperation. The column comes first where the
    row had none, so a CSV saved from a filtered report names the filter in every row."""
    named = {"municipality": municipality}
    return [row if row.get("municipality") else named | row | named for row in rows]


def municipality_option(help: str = MUNICIPALITY_HELP) -> Any:
    """``--municipality``: a CBS code or a municipality's name."""
    return click.option("--municipality", type=MunicipalityType(), help=help)


def table_or_json_option() -> Any:
    """``--format table|json`` for a read command without a CSV form."""
    return click.option(
        "--format",
        "output",
        type=click.Choice(["table", "json"]),
        help="table for people, json for scripts [default: table, or json with traject --json]",
    )


def period_option(help: str = "2024, 2024H1 or 2024Q3") -> Any:
    """``--period`` (required): a year, half-year or quarter (``help`` names the canonical
    forms; the other spellings are added); a period that has not begun is noted
    (:func:`note_future_period`)."""
    return click.option(
        "--period",
        type=PeriodType(),
        required=True,
        help=f"{help}; H1 or Q3 may also follow a space or come first: 2024 H1, H1-2024 (no month)",
        callback=note_future_period,
    )


def note_future_period(ctx: click.Context, param: click.Parameter, period: Period) -> Period:
    """Tell the user on stderr that ``period`` begins after today (in the ledger's time zone):
    no fact can have occurred in it yet, so its counts are zero; only what is set ahead for it,
    such as a taakstelling, shows. The report itself is printed as asked."""
    today = dutch_day(datetime.now(UTC))
    if period.start > today:
        click.echo(
            f"Note: the period {period} begins on {period.start}, after today ({today}): "
            "nothing can have occurred in it yet, so its counts are zero; only what is set "
            "ahead for it, such as a taakstelling, shows",
            err=True,
        )
    return period


def quarter_option() -> Any:
    """``--quarter`` (required): a quarter."""
    return click.option(
        "--quarter",
        type=QuarterType(),
        required=True,
        help="a quarter: 2024Q2",
        callback=note_future_period,
    )


def basis(name: str, position: int, rule_version: str, digest: str | None) -> dict[str, Any]:
    return {
        "projection": name,
        "position": position,
        "rule_version": rule_version,
        "digest": digest,
    }


def basis_caption(position: int, rule_version: str, digest: str | None) -> str:
    return (
        f"events up to notification {position}, rules {rule_version}, digest {(digest or '-')[:16]}"
    )
