"""``traject generate``: synthetic, seeded trajectories as JSON Lines, or imported into a ledger.

The generator (``ledger.synthetic``) yields import records; this command writes them to a file
or stdout, or feeds them line by line to the importer of ``traject import``, with a progress bar
on stderr. No real person's data is used (docs/generate.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack, nullcontext
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import orjson

from commands.context import TrajectContext, pass_traject
from commands.importing import DEFAULT_BATCH_SIZE, Reject, Summary, import_lines
from commands.output import new_file
from commands.types import whole_number
from ledger.errors import TrajectError
from ledger.synthetic import Record, Settings, generate
from ledger.values import REPORT_YEARS

SYNTHETIC_MARK = "synthetic"
"""Setting stored in a ledger that `traject generate` filled (it may add more to it)."""
MAX_PERSONS = 999_999  # synthetic BSNs are made from the person's index (six digits)


def yesterday() -> date:
    """The last day generated facts may have happened or been recorded on."""
    return datetime.now(UTC).astimezone().date() - timedelta(days=1)


def settings_for(
    *, municipalities: int, persons: int, years: int, seed: int, start_year: int | None
) -> Settings:
    """The generator's settings: every import feature on, nothing after yesterday."""
    until = yesterday()
    return Settings(
        municipalities=municipalities,
        persons=persons,
        years=years,
        seed=seed,
        start_year=start_year if start_year is not None else until.year - years + 1,
        until=until,
        recorded_at=True,
        corrections=True,
        person_ids=True,
    )


def count_persons(records: Iterator[Record], advance: Any) -> Iterator[Record]:
    """Pass the records on, advancing the progress bar at each registration."""
    for record in records:
        if record["kind"] == "person-registered":
            advance(1)
        yield record


def check_target(traject: TrajectContext, seed: int) -> None:
    """Generated facts go only into an empty ledger, or one generated with the same seed
    (lines already there are skipped, so a run can be resumed or extended)."""
    app = traject.app
    mark = app.tables.get_setting(SYNTHETIC_MARK)
    if mark == f"seed={seed}":
        return
    if mark is not None:
        msg = (
            f"{traject.where} holds data generated with {mark}: persons of another seed would "
            "share its synthetic BSNs; generate into a new ledger, or use the same --seed"
        )
        raise TrajectError(msg)
    if int(app.recorder.max_notification_id() or 0) > 0:
        msg = (
            f"{traject.where} already holds facts that traject generate did not make: "
            "generate into a new ledger (traject --db NEW.db init), or write a file with --out"
        )
        raise TrajectError(msg)
    app.tables.set_setting(SYNTHETIC_MARK, f"seed={seed}")


@click.command()
@click.option(
    "--municipalities",
    type=whole_number(1, 400),
    default=3,
    show_default=True,
    help="number of municipalities (the first are real CBS codes: GM0622, GM0556, GM0606, …)",
)
@click.option(
    "--persons",
    type=whole_number(1, MAX_PERSONS),
    default=300,
    show_default=True,
    help="number of persons, statushouders and the nareizigers who join them",
)
@click.option(
    "--years", type=whole_number(1, 30), default=4, show_default=True, help="years covered"
)
@click.option(
    "--seed", type=whole_number(0), default=7, show_default=True, help="same seed, same data"
)
@click.option(
    "--start-year",
    type=whole_number(*REPORT_YEARS),
    help="first year covered [default: so that the last year is this one]",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="write JSON Lines to this new file (refused if it exists; named so only once "
    "complete; - for stdout) instead of importing",
)
@click.option(
    "--db",
    "database_url",
    metavar="URL",
    help="import into this ledger (must exist: traject init; its key file is the one beside "
    "it, or TRAJECT_MASTER_KEY) [default: the global --db]",
)
@click.option(
    "--batch-size",
    type=whole_number(1, 100_000),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="lines checked and saved per transaction when importing (as traject import)",
)
@click.option("--quiet", "-q", is_flag=True, help="no progress bar and no summary")
@pass_traject
def generate_command(
    traject: TrajectContext,
    /,
    *,
    municipalities: int,
    persons: int,
    years: int,
    seed: int,
    start_year: int | None,
    out: Path | None,
    database_url: str | None,
    batch_size: int,
    quiet: bool,
) -> None:
    """Generate realistic, invented trajectories: several municipalities over several years.

    Statushouders are linked by COA against half-yearly taakstellingen, housed, registered,
    guided, go through inburgering under the regime of their duty start (intake, PIP,
    leerroute, exams with retakes, PVT), climb and sometimes fall on the Participatieladder,
    flow out to work, volunteering or education, ask for help, move, bring family over
    (nareizigers), and take part in an AMIF project run by the first three municipalities.
    Some facts are recorded late, a few are corrected or retracted. The same options and seed
    give the same lines, byte for byte; no fact is dated after yesterday. No real person's
    data is used: see docs/generate.md.

    Without --out the lines are imported (as by traject import, in batches) into the ledger,
    which must be empty or filled by an earlier generate with the same seed.

    \b
    Example:
      traject --db synthetic.db init --municipality GM0622
      traject --db synthetic.db generate --municipalities 3 --persons 300 --years 4 --seed 7
      traject generate --persons 2000 --start-year 2016 --years 10 --out synthetic.jsonl
    """
    if out is not None and database_url is not None:
        raise click.BadParameter("give either --out or --db, not both", param_hint="'--out'")
    config = settings_for(
        municipalities=municipalities,
        persons=persons,
        years=years,
        seed=seed,
        start_year=start_year,
    )
    if config.first_day > config.last_day:
        raise click.BadParameter(
            f"the years covered must start before today ({config.start_year} is too late)",
            param_hint="'--start-year'",
        )
    with ExitStack() as stack:
        progress = stack.enter_context(progress_bar(traject, persons, quiet=quiet))
        task = progress.add_task("persons", total=persons) if progress else None

        def advance(step: int) -> None:
            if progress is not None and task is not None:
                progress.advance(task, step)

        records = count_persons(generate(config), advance)
        if out is not None:
            lines = write_lines(records, out)
            where = "stdout" if str(out) == "-" else out
            summary = f"{lines} lines for {persons} persons written to {where}"
        else:
            target = traject
            if database_url is not None:
                # the key of that ledger: beside it (or TRAJECT_MASTER_KEY), not the global one
                settings = dataclasses.replace(
                    traject.settings, database_url=database_url, key_file=None
                )
                target = stack.enter_context(TrajectContext(settings))
            result = import_records(target, records, seed, batch_size)
            summary = (
                f"{result.written} facts for {persons} persons imported into {target.where}"
                f" ({result.skipped} already there)"
            )
    if not quiet:
        click.echo(summary, err=str(out) == "-")


def progress_bar(traject: TrajectContext, total: int, *, quiet: bool) -> Any:
    """A rich progress bar on stderr, or nothing with --quiet."""
    if quiet:
        return nullcontext(None)
    from rich.progress import (  # noqa: PLC0415 - rich only when a bar is shown
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("persons"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=traject.err_console,
        transient=True,
    )


def write_lines(records: Iterator[Record], out: Path) -> int:
    """Write the records as JSON Lines to the new file ``out`` (``-``: stdout); returns the
    number of lines."""
    count = 0
    with new_file(None if str(out) == "-" else out, "'--out'", "generated lines") as handle:
        for record in records:
            handle.write(orjson.dumps(record) + b"\n")
            count += 1
    return count


def import_records(
    traject: TrajectContext, records: Iterator[Record], seed: int, batch_size: int
) -> Summary:
    """Import the records through `traject import`'s entry point; every line must be accepted."""
    check_target(traject, seed)
    source = f"generated-seed{seed}"

    def on_reject(found: Reject) -> None:
        for name, message in found.problems:
            click.echo(f"{source}:{found.line}: {name}: {message}", err=True)

    summary = import_lines(
        traject.app,
        enumerate(records, start=1),
        source=source,
        batch_size=batch_size,
        on_reject=on_reject,
    )
    if summary.rejected:
        msg = f"{summary.rejected} generated line(s) were refused (shown above): this is a bug"
        raise TrajectError(msg)
    return summary
