"""``traject projections``: where each read model stands, and rebuilding them."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import click
import orjson
from rich import box
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from commands.context import TrajectContext, pass_traject
from projections import PROJECTIONS, ProjectionStatus, RunResult, Views, rebuild, status

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
) -> None:
    """Show a read command's result: rich tables by default, ``data`` as JSON with
    ``--format json`` (or ``traject --json``), or ``rows`` as CSV with ``--format csv``."""
    chosen = output or ("json" if traject.json else "table")
    if chosen == "table":
        for table in tables():
            traject.console.print(table)
        return
    if chosen == "json":
        text = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
        click.echo(text)
        return
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    click.echo(buffer.getvalue(), nl=False)


# --- rendering ----------------------------------------------------------------------------------


def status_row(item: ProjectionStatus) -> dict[str, Any]:
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
    }


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
            str(item.lag),
            rules,
            item.digest or "-",
            (item.rebuilt_at or "-")[:19].replace("T", " "),
            str(item.events_seen),
        )
    table.caption = "lag: notification ids after the position (read commands catch up first)"
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


@contextmanager
def progress_bar(console: Console) -> Iterator[Progress]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
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

    \b
    Example:
      traject projections status
    """
    views = Views(traject.app)
    items = [status(views, projection) for projection in PROJECTIONS.values()]
    rows = [status_row(item) for item in items]
    emit_report(traject, output, lambda: [status_table(items)], rows, rows)


@group.command("rebuild")
@click.argument("names", nargs=-1, type=click.Choice(sorted(PROJECTIONS)), metavar="[NAME]...")
@format_option()
@pass_traject
def rebuild_command(traject: TrajectContext, names: tuple[str, ...], output: str | None) -> None:
    """Rebuild read models from the whole event log (all of them without a NAME).

    NAME is one of those listed by `traject projections status`.
    Each is built in fresh tables and swapped in at the end, so readers keep the old tables
    until the new ones are complete; an interrupted rebuild leaves them as they were.

    \b
    Example:
      traject projections rebuild
      traject projections rebuild outflow
    """
    views = Views(traject.app)
    results = []
    with progress_bar(traject.err_console) as bar:
        for name in names or tuple(PROJECTIONS):
            task = bar.add_task(name, total=None)

            def advance(done: int, total: int, task: Any = task) -> None:
                bar.update(task, completed=done, total=total)

            results.append(rebuild(views, PROJECTIONS[name], progress=advance))
    rows = [result_row(result) for result in results]
    emit_report(traject, output, lambda: [rebuilt_table(results)], rows, rows)
