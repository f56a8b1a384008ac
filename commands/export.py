"""``traject export``: the ledger's facts as import lines (JSON Lines, or CSV of one kind).

What it writes, ``traject import`` reads back: see ``ledger.export`` and docs/import.md.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import click
import orjson

from commands import render
from commands.context import TrajectContext, pass_traject
from commands.importing import (
    PSEUDONYMS,
    LineRejectedError,
    catalog_item,
    cell_text,
    csv_columns,
    progress_bar,
)
from commands.output import new_file
from commands.reading import purpose_option, reading
from commands.types import MunicipalityType
from ledger.catalog import CatalogEntry
from ledger.errors import InputError, PersonNotFoundError, PersonReferenceError, TrajectError
from ledger.events import EventCorrected
from ledger.export import WITHHELD_KEY, Exporter, ExportFilter

HALF_YEAR = re.compile(r"^([0-9]{4})H([12])$")


class PeriodType(click.ParamType[tuple[date | None, date | None]]):
    """``2025H1``, ``2025-01-01..2025-06-30``, ``2025-01-01..`` or ``..2025-06-30``."""

    name = "period"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "YYYYH1|FROM..TO"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[date | None, date | None]:
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        half = HALF_YEAR.match(text)
        if half:
            year, part = int(half.group(1)), half.group(2)
            if part == "1":
                return date(year, 1, 1), date(year, 6, 30)
            return date(year, 7, 1), date(year, 12, 31)
        start, sep, end = text.partition("..")
        try:
            if not sep:
                raise ValueError
            bounds = (
                date.fromisoformat(start) if start else None,
                date.fromisoformat(end) if end else None,
            )
        except ValueError:
            self.fail(
                f"{text!r} is not a period: give 2025H1, or FROM..TO as YYYY-MM-DD (either may "
                "be left out)",
                param,
                ctx,
            )
        if bounds[0] and bounds[1] and bounds[0] > bounds[1]:
            self.fail(f"{text!r}: the period ends before it starts", param, ctx)
        return bounds


@click.command(name="export")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
    help="JSON Lines (every kind), or CSV of the one kind given by --kind",
)
@click.option(
    "--kind", default=None, metavar="KIND", help="only facts of this kind (needed for csv)"
)
@click.option(
    "--person",
    "person_ref",
    default=None,
    metavar="REF",
    help="only this person's stream: an external key, a person id or a unique prefix",
)
@click.option(
    "--municipality",
    type=MunicipalityType(),
    default=None,
    help="only the streams with a fact in this municipality (whole streams), and the AMIF "
    "projects' streams their facts name: a CBS code or a name",
)
@click.option(
    "--period",
    type=PeriodType(),
    default=None,
    help="only facts that occurred in this period (occurred_on)",
)
@click.option(
    "--include-personal",
    is_flag=True,
    help="write personal fields (BSN, name, …), names of staff and external keys in clear; "
    "without it they are pseudonymised",
)
@purpose_option()
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write to this file (refused if it exists; named so only once complete, written as "
    "FILE.partial until then) instead of standard output",
)
@click.option("--quiet", "-q", is_flag=True, help="no progress bar and no summary")
@pass_traject
def export_command(
    traject: TrajectContext,
    /,
    *,
    output_format: str,
    kind: str | None,
    person_ref: str | None,
    municipality: str | None,
    period: tuple[date | None, date | None] | None,
    include_personal: bool,
    purpose: str | None,
    output: Path | None,
    quiet: bool,
) -> None:
    """Write the ledger's facts in the import format: what it writes, `traject import` reads.

    Every fact is a line as docs/import.md describes: kind, person (external key) or person_id,
    occurred_on, recorded_at, fields, evidence, idempotency key; corrections and retractions
    target their fact by idempotency key or version. An export of a whole ledger imported into
    an empty one gives the same streams and the same report figures.

    Personal fields are pseudonymised unless --include-personal is given: each value becomes a
    keyed hash under "_pseudonyms" (stable within this ledger), external keys are left out and
    reasons of corrections are withheld. Members of staff are pseudonymised too: the recorder
    under "_pseudonyms", a name in a fact's own field (staff_id, assessor, …) in place, each
    name with one pseudonym. Erased personal data is never exported.

    Special-category values (GDPR Art. 9, e.g. health_barrier) are exported only with
    --include-personal and --purpose, and only once their read is recorded: one
    SpecialCategoryRead per person whose values are written, recorded in batches before the
    lines that hold them are written. Otherwise (no purpose, a pseudonymised export, a
    database user who may not record the read) they are left out and named under "_withheld".

    \b
    Example:
      traject export > events.jsonl
      traject export --include-personal --person C-1001 -o c1001.jsonl
      traject export --include-personal --purpose "migration" -o all.jsonl
      traject export --format csv --kind housed --period 2025H1 > housed.csv
    """
    item: CatalogEntry | None = None
    if kind is not None:
        try:
            item = catalog_item({"kind": kind})
        except LineRejectedError as error:
            raise click.BadParameter(error.problems[0][1], param_hint="--kind") from None
    if output_format == "csv" and item is None:
        raise click.BadParameter("CSV holds one kind of fact: give --kind", param_hint="--kind")
    if purpose is not None and not include_personal:
        msg = (
            "only with --include-personal: a pseudonymised export never holds special-category "
            "values, so it reads none"
        )
        raise click.BadParameter(msg, param_hint="--purpose")
    person_id = _person(traject, person_ref) if person_ref else None
    start, end = period or (None, None)
    exporter = Exporter(
        traject.app,
        include_personal=include_personal,
        selection=ExportFilter(person_id, municipality, start, end),
        reading=reading("export --include-personal", purpose),
    )
    with (
        new_file(output, "--output", "export") as out,
        progress_bar(traject, "exporting", exporter.total(), quiet=quiet) as advance,
    ):
        lines = (
            line for line in exporter.lines(advance) if item is None or line["kind"] == item.name
        )
        count = (
            write_csv(out, item, lines)
            if item and output_format == "csv"
            else write_jsonl(out, lines)
        )
    if not quiet:
        click.echo(f"{count} facts exported", err=True)
        traject.note(render.export_reads_notes(exporter.reads))
    traject.warn(render.export_reads_warnings(exporter.reads))


def _person(traject: TrajectContext, ref: str) -> UUID:
    """The person --person names: by external key, else by person id or unique prefix.

    Raises:
        InputError, PersonNotFoundError: neither finds a person (the message says both).
    """
    app = traject.app
    keys = app.tables.has_external_refs()
    found = app.person_by_external_ref(ref) if keys else None
    if found is not None:
        return found
    try:
        return traject.person(ref)
    except (PersonReferenceError, PersonNotFoundError) as error:
        if not keys:
            raise
        msg = f"no person with external key {ref!r}, and {error}"
        if isinstance(error, PersonNotFoundError):
            raise TrajectError(msg) from None
        raise InputError(msg) from None


def write_jsonl(out: IO[bytes], lines: Iterator[dict[str, Any]]) -> int:
    """One JSON object per line; returns the count."""
    count = 0
    for line in lines:
        out.write(orjson.dumps(line) + b"\n")
        count += 1
    return count


def write_csv(out: IO[bytes], item: CatalogEntry, lines: Iterator[dict[str, Any]]) -> int:
    """A header of the kind's columns (docs/import.md), then one row per fact."""
    text = _TextOut(out)
    columns = [*csv_columns(item), PSEUDONYMS]
    if item.event.special_category_fields() or item.event is EventCorrected:
        columns.append(WITHHELD_KEY)  # a value left out is told from an empty one
    writer = csv.DictWriter(text, columns, extrasaction="ignore")
    writer.writeheader()
    count = 0
    for line in lines:
        writer.writerow({k: cell_text(v) for k, v in line.items()})
        count += 1
    return count


class _TextOut:
    """A binary stream as the text file csv wants."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out

    def write(self, text: str) -> int:
        return self.out.write(text.encode("utf-8"))
