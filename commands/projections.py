"""``traject projections``: where each read model stands, and rebuilding them."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
import orjson
from rich import box
from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from commands.context import TrajectContext, pass_traject
from commands.replaying import STALE_CHECKED
from commands.types import OptionalArguments, whole_number
from ledger.application import TrajectoryLedger
from ledger.spreadsheet import spreadsheet_safe
from projections import PROJECTIONS, ProjectionStatus, RunResult, Views, rebuild_many, statuses
from projections.base import StaleRead, default_workers, require_builder, stale_reads

FORMATS = ("table", "json", "csv")


def format_option() -> Any:
    return click.option(
        "--format",
        "output",
        type=click.Choice(FORMATS),
        help="table for people; json or csv for scripts [default: table, or json with "
        "traject --json]",
    )


def emit_report(
    traject: TrajectContext,
    output: str | None,
    tables: Callable[[], Iterable[RenderableType]],
    data: Any,
    rows: list[dict[str, Any]],
    *,
    columns: Sequence[str] = (),
) -> None:
    """Show a read command's result: rich tables by default, ``data`` as JSON with
    ``--format json`` (or ``traject --json``), or ``rows`` as CSV with ``--format csv``.

    The CSV header names the keys of the first row, or with no rows ``columns``: a command
    whose list may be empty names them, so that an empty result is a CSV with its header.

    A read model answered as it stands (the user may not catch it up, see
    ``projections.base.read_as_stored``) gives a warning on stderr, and the JSON ``basis``
    says ``caught_up`` (and the ``lag`` in notification ids: 0, a number, or null = unknown).
    """
    chosen = output or ("json" if traject.json else "table")
    stale = warn_stale(traject)
    if isinstance(data, dict) and isinstance(data.get("basis"), dict):
        lags = [read.lag for read in stale]
        data = data | {
            "basis": data["basis"]
            | {
                "caught_up": not stale,
                "lag": 0 if not stale else None if None in lags else max(lag or 0 for lag in lags),
            }
        }
    if chosen == "table":
        for table in tables():
            traject.console.print(table)
        return
    if chosen == "json":
        text = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
        click.echo(text)
        return
    if isinstance(data, dict) and data.get("as_known_at"):
        rows, columns = with_moment(rows, columns, data["as_known_at"])
    buffer = io.StringIO()
    header = list(rows[0]) if rows else list(columns)
    if header:
        writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows({key: spreadsheet_safe(cell) for key, cell in row.items()} for row in rows)
    click.echo(buffer.getvalue(), nl=False)


def with_moment(
    rows: list[dict[str, Any]], columns: Sequence[str], as_known_at: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows and columns of the CSV of a report as known at a past moment, with a last
    column ``as_known_at``: that moment, in UTC as in the JSON, in every row, so that a CSV
    saved from a replayed report names the moment it counted up to."""
    return (
        [row if "as_known_at" in row else row | {"as_known_at": as_known_at} for row in rows],
        [*columns, *(() if "as_known_at" in columns else ("as_known_at",))],
    )


def warn_stale(traject: TrajectContext) -> list[StaleRead]:
    """Warn on stderr of each read model this invocation answered from as it stands (the
    user may not catch it up); the error boundary calls it too when a command fails, since
    a failure (no such project) may come from a read model that is behind. Not while a replay
    runs the command (``commands.replaying.STALE_CHECKED``): the replay checks them itself."""
    stale = stale_reads(traject.opened) if traject.opened is not None else []
    context = click.get_current_context(silent=True)
    if context is None or not context.find_root().meta.get(STALE_CHECKED):
        traject.warn(stale_warning(read) for read in stale)
    return stale


def stale_warning(read: StaleRead) -> str:
    behind = (
        "events recorded since are not counted (unknown how many: this user may not read the "
        "events table)"
        if read.lag is None
        else f"{read.lag} notification ids after it are not counted"
    )
    return (
        f"read model {read.name} is not caught up (this database user may only read it): "
        f"figures as of notification {read.position}; {behind}; the same report, run by "
        "staff or the owner, catches it up"
    )


# --- rendering ----------------------------------------------------------------------------------


def status_row(item: ProjectionStatus) -> dict[str, Any]:
    claim = item.rebuild
    return {
        "name": item.name,
        "built": item.built,
        "position": item.position,
        "max_notification_id": item.max_notification_id,
        "lag": item.lag,
        "rule_version": item.rule_version,
        "current_rule_version": item.current_rule_version,
        "needs_rebuild": item.needs_rebuild,
        "digest": item.digest,
        "rebuilt_at": item.rebuilt_at,
        "events_seen": item.events_seen,
        "rebuild": None if claim is None else "running" if claim.running else "interrupted",
        "rebuild_started_at": None if claim is None else claim.started_at,
    }


def claim_notes(items: list[ProjectionStatus]) -> list[Text]:
    """A line for each read model a rebuild has claimed: one that runs, or one a killed or
    failed rebuild left, which the next rebuild (or the first report) replaces."""
    notes = []
    for item in items:
        claim = item.rebuild
        if claim is None:
            continue
        since = claim.started_at[:19].replace("T", " ")
        what = (
            f"a rebuild is running since {since} UTC"
            if claim.running
            else f"an interrupted rebuild (begun {since} UTC) left a claim;"
            " the next rebuild replaces it"
        )
        notes.append(Text(f"{item.name}: {what}"))
    return notes


def status_table(items: list[ProjectionStatus]) -> Table:
    table = Table(title="Read models", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("name", "position", "lag", "rules", "digest", "rebuilt (UTC)", "events"):
        table.add_column(name, no_wrap=name != "digest", overflow="fold")
    for item in items:
        rules = item.rule_version or "-"
        if item.needs_rebuild:
            rules += f" (rebuild for {item.current_rule_version})" if item.built else " (not built)"
        table.add_row(
            item.name,
            str(item.position),
            "?" if item.lag is None else str(item.lag),
            rules,
            item.digest or "-",
            (item.rebuilt_at or "-")[:19].replace("T", " "),
            str(item.events_seen),
        )
    table.caption = (
        "lag: notification ids after the position"
        " (a report run by staff or the owner catches up first; a read-only reader's does not)"
    )
    return table


def rebuilt_table(results: list[RunResult]) -> Table:
    table = Table(title="Rebuilt", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("name", "position", "events", "digest"):
        table.add_column(name, no_wrap=name != "digest", overflow="fold")
    for result in results:
        table.add_row(result.name, str(result.position), str(result.events), result.digest or "-")
    return table


def result_row(result: RunResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "position": result.position,
        "events": result.events,
        "digest": result.digest,
    }


class RateColumn(ProgressColumn):
    """Notifications processed per second (rich's running estimate)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("– events/s", style="progress.data.speed")
        return Text(f"{speed:,.0f} events/s", style="progress.data.speed")


@contextmanager
def progress_bar(console: Console, *, quiet: bool = False) -> Iterator[Progress]:
    """A progress bar on ``console`` (stderr) with the rate and the time left; none when
    ``quiet``."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=quiet,
    ) as bar:
        yield bar


# --- commands ---------------------------------------------------------------------------------


@click.group("projections")
def group() -> None:
    """Read models: see where they stand, rebuild them."""


@group.command("status")
@format_option()
@pass_traject
def status_command(traject: TrajectContext, output: str | None) -> None:
    """Show each read model's position, lag, rule version and digest (no catch-up).

    Under the table: each rebuild that has begun and not swapped in, running, or interrupted
    (killed or failed: the next rebuild, or the first report, replaces its claim).
    Needs no master key, like the reports: the read models hold no personal data.

    \b
    Example:
      traject projections status
    """
    views = Views(traject.reader)
    items = statuses(views, PROJECTIONS.values())
    rows = [status_row(item) for item in items]
    emit_report(traject, output, lambda: [status_table(items), *claim_notes(items)], rows, rows)


@group.command("rebuild")
@click.argument(
    "names",
    nargs=-1,
    type=click.Choice(sorted(PROJECTIONS)),
    metavar="[NAME]...",
    cls=OptionalArguments,
)
@click.option("--quiet", "-q", is_flag=True, help="no progress bar on stderr")
@click.option(
    "--jobs",
    "-j",
    type=whole_number(1),
    default=None,
    help="worker processes building the read models (default: 2 when the machine has 2 or"
    " more CPUs, more than one read model is rebuilt and the log holds 300,000 notifications"
    " or more; else 1)",
)
@format_option()
@pass_traject
def rebuild_command(
    traject: TrajectContext,
    names: tuple[str, ...],
    quiet: bool,
    jobs: int | None,
    output: str | None,
) -> None:
    """Rebuild read models from the whole event log (all of them without a NAME).

    NAME is one of those listed by `traject projections status`. The named read models are
    rebuilt together, in one pass over the log, with a progress bar (notification ids done,
    events per second, time left) on stderr. They are built in fresh tables and swapped in
    at the end, so readers keep the old tables until the new ones are complete; an
    interrupted rebuild (Ctrl-C) leaves them as they were, and a rerun starts clean. With
    --jobs N the read models are split into N groups of about equal cost, each built in its
    own process (all swapped in together at the end). On PostgreSQL only the owner of the
    ledger's tables (who ran `traject init`) may rebuild.

    \b
    Example:
      traject projections rebuild
      traject projections rebuild outflow ladder --quiet
      traject projections rebuild --jobs 1
    """
    # a user without a key who may not rebuild anyway (an analyst) is told so, not of the key
    views = Views(traject.app_checked_first(_require_builder))
    require_builder(views)  # before the progress bar
    chosen = [PROJECTIONS[name] for name in dict.fromkeys(names or PROJECTIONS)]
    workers = jobs if jobs is not None else default_workers(views, len(chosen))
    with progress_bar(traject.err_console, quiet=quiet) as bar:
        label = chosen[0].name if len(chosen) == 1 else f"{len(chosen)} read models"
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        results = rebuild_many(views, chosen, progress=advance, workers=workers)
    rows = [result_row(result) for result in results]
    emit_report(traject, output, lambda: [rebuilt_table(results)], rows, rows)


def _require_builder(ledger: TrajectoryLedger) -> None:
    require_builder(Views(ledger))
