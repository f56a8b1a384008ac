"""``traject person``: register a person, find one by BSN, show one, erase one's personal data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from commands import fields, render
from commands.context import TrajectContext, pass_traject
from commands.types import BsnType
from ledger.catalog import CATALOG
from ledger.events import StreamKind

REGISTRATION = CATALOG["person-registered"]


@click.group(name="person")
def group() -> None:
    """Register, find and show persons; erase a person's personal data."""


@pass_traject
def register(traject: TrajectContext, /, **params: Any) -> None:
    given = fields.event_fields(REGISTRATION, params)
    given.setdefault("occurred_on", datetime.now(UTC).date())
    result = traject.app.register_person(**given)
    traject.emit(render.registered(result), render.recorded_json(result, StreamKind.PERSON, ""))
    traject.warn(result.warnings)


group.add_command(
    click.Command(
        "register",
        callback=register,
        params=fields.event_options(REGISTRATION, on_required=False),
        help=(
            "Register a statushouder: a new person stream, and its id.\n\n"
            "Name, BSN, V-nummer and other personal fields are encrypted with the person's own "
            "key. The BSN must pass the 11-proef; it is found later by a keyed hash, never "
            "stored in clear. --on is the date of registration in traject (default: today, "
            "UTC); --municipality defaults to the one given to `traject init`.\n\n"
            "\b\nExample:\n"
            "  traject person register --birth-date 1990-04-02 --sex f --nationality SY \\\n"
            '    --bsn 123456782 --name "Amal Haddad"'
        ),
        short_help="Register a statushouder: a new person stream.",
    )
)


@group.command()
@click.option("--bsn", type=BsnType(), required=True, help="burgerservicenummer (11-proef)")
@pass_traject
def find(traject: TrajectContext, bsn: str) -> None:
    """Print the id of the person registered with this BSN.

    \b
    Example:
      traject person find --bsn 123456782
    """
    person_id = traject.app.find_person_by_bsn(bsn)
    if person_id is None:
        raise click.ClickException("no person with this BSN is registered in this ledger")
    traject.emit(render.found(person_id), {"person_id": str(person_id)})


@group.command()
@click.argument("person")
@pass_traject
def show(traject: TrajectContext, person: str) -> None:
    """Show a person's registration (personal fields decrypted) and current status.

    PERSON is a person id, or a unique prefix of it of at least 6 characters.

    \b
    Example:
      traject person show 3219ed75
    """
    summary = traject.app.person(traject.person(person))
    from commands import tables  # noqa: PLC0415 - rich is loaded only to show a table

    traject.emit(tables.person_table(summary), render.person_json(summary))


@group.command()
@click.argument("person")
@click.option("--approved-by", required=True, help="who approved the erasure")
@click.confirmation_option(
    "--yes", prompt="Erase this person's personal data for good? It cannot be undone"
)
@pass_traject
def shred(traject: TrajectContext, person: str, approved_by: str) -> None:
    """Erase a person's personal data (crypto-shredding).

    The person's data key is destroyed: name, BSN, address and other personal fields read as
    erased from then on, in every event. The events themselves stay, so counts and audit
    proofs are unaffected. Recorded as PersonalDataShredded.

    The key's old bytes are then purged from the database's files: on SQLite the write-ahead
    log is emptied; on PostgreSQL the key table is rewritten, which only its owner may do. When
    the purge cannot be done (another user, a busy ledger) the command warns and says what to
    run (`traject admin purge-erased`). Backups made before the erasure still hold the key.

    \b
    Example:
      traject person shred 3219ed75 --approved-by "privacy officer" --yes
    """
    result = traject.app.shred(traject.person(person), approved_by=approved_by)
    traject.emit(render.erased(result), render.erased_json(result))
    traject.warn(render.purge_warnings(result.purge))
