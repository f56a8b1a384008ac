"""``traject timeline``: a person's history, optionally as the ledger knew it at a past moment."""

from __future__ import annotations

from datetime import datetime

import click

from commands import render, tables
from commands.context import TrajectContext, pass_traject
from commands.reporting import table_or_json_option
from commands.types import IsoMoment


@click.command()
@click.argument("person")
@click.option(
    "--as-known-at",
    type=IsoMoment(),
    help="show only what was recorded up to this moment: an ISO date-time (UTC unless it "
    "names an offset) or a date (00:00 UTC that day)",
)
@table_or_json_option()
@pass_traject
def timeline(
    traject: TrajectContext, person: str, as_known_at: datetime | None, output: str | None
) -> None:
    """Show every event of a person: when it happened, when and by whom it was recorded, and
    whether it was later corrected or retracted.

    Personal fields are shown decrypted. PERSON is a person id or a unique prefix of at least
    6 characters. The JSON form is stable (see commands/render.py).

    \b
    Example:
      traject timeline 3219ed75
      traject timeline 3219ed75 --as-known-at 2024-06-02T12:00 --format json
    """
    history = traject.app.timeline(traject.person(person), as_known_at=as_known_at)
    as_json = None if output is None else output == "json"
    traject.emit(tables.timeline_table(history), render.timeline_json(history), as_json=as_json)
