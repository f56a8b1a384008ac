"""``traject init``: create the ledger's tables and its master key file."""

from __future__ import annotations

import click

from commands import render
from commands.context import TrajectContext, pass_traject
from commands.types import MunicipalityType


@click.command()
@click.option(
    "--municipality",
    type=MunicipalityType(),
    help="the default municipality of new registrations: a CBS code (GM0622) or a name "
    "(Vlaardingen)",
)
@pass_traject
def init(traject: TrajectContext, municipality: str | None) -> None:
    """Create the ledger and its master key file.

    The master key (a new random key, written with mode 0600 beside the SQLite file, or to
    --key-file) encrypts every person's data key. An existing key file is never overwritten.
    With TRAJECT_MASTER_KEY set, that key is used and no file is written. On PostgreSQL it
    also builds every read model (empty): only the owner of the tables may create them, and
    staff then catch them up as they report.

    \b
    Example:
      traject init --municipality GM0622
      traject --database-url postgresql://traject@db.example/traject init
    """
    result = traject.initialise(municipality)
    if traject.store.kind == "postgres":
        # only here: every other command would load the projections with this module
        from projections import PROJECTIONS, Views, rebuild_many  # noqa: PLC0415

        rebuild_many(Views(traject.app), list(PROJECTIONS.values()))
    traject.emit(render.initialised(result), render.initialised_json(result))
