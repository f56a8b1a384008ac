"""``traject person``: register, find and show a person; retention, legal holds and erasure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from commands import fields, render
from commands.context import TrajectContext, pass_traject
from commands.holds import hold_options, write_hold
from commands.reporting import table_or_json_option
from commands.types import BsnType, IsoDate
from ledger.aggregates import dutch_day
from ledger.catalog import CATALOG
from ledger.errors import PersonNotFoundError
from ledger.events import StreamKind
from ledger.households import unknown_referent

REGISTRATION = CATALOG["person-registered"]


@click.group(name="person")
def group() -> None:
    """Register, find and show persons; retention, legal holds and erasure."""


@pass_traject
def register(traject: TrajectContext, /, **params: Any) -> None:
    if params.get("household_id") is not None:
        params = {**params, "household_id": _referent(traject, params["household_id"])}
    given = fields.event_fields(REGISTRATION, params)
    given.setdefault("occurred_on", dutch_day(datetime.now(UTC)))  # today, as every fact's
    result = traject.app.register_person(**given)
    traject.emit(render.registered(result), render.recorded_json(result, StreamKind.PERSON, ""))
    traject.warn(result.warnings)


def _referent(traject: TrajectContext, ref: str) -> Any:
    """The person id of the household's referent, who must be registered: an unknown id would
    give the new person a household nobody heads, and with it the nareis route to housing."""
    try:
        return traject.person(ref)
    except PersonNotFoundError:
        raise unknown_referent(ref) from None


def _registration_options() -> list[click.Parameter]:
    """The registration's options; its household is named like any person, by a reference."""
    household = click.Option(
        ["--household-id", "household_id"],
        metavar="PERSON",
        help="household: the referent's person id, or a unique prefix of it of at least 6 "
        "characters (the referent is registered first)",
    )
    return [
        household if option.name == "household_id" else option
        for option in fields.event_options(REGISTRATION, on_required=False)
    ]


group.add_command(
    fields.FactCommand(
        "register",
        callback=register,
        params=_registration_options(),
        help=(
            "Register a statushouder: a new person stream, and its id.\n\n"
            "Name, BSN, V-nummer and other personal fields are encrypted with the person's own "
            "key. The BSN must pass the 11-proef; it is found later by a keyed hash, never "
            "stored in clear. --on is the date of registration in traject (default: today, "
            "Dutch time, as every fact's); --municipality defaults to the one given to "
            "`traject init`.\n\n"
            "\b\nExample:\n"
            "  traject person register --birth-date 1990-04-02 --sex f --nationality SY \\\n"
            '    --bsn 123456782 --name "Amal Haddad"'
        ),
        short_help="Register a statushouder: a new person stream.",
    )
)


@group.command()
@click.option(
    "--bsn",
    type=BsnType(),
    required=True,
    help="burgerservicenummer (11-proef; 123456782 or 1234.56.782)",
)
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
@table_or_json_option()
@pass_traject
def show(traject: TrajectContext, person: str, output: str | None) -> None:
    """Show a person's registration (personal fields decrypted) and current status.

    The status: permit, koppeling, housing, inburgering duty, leerroute, coaches, outflow, the
    latest Participatieladder rung, the case (open, closed, deceased, or moved out on a date
    until a later arrival -- housing, BRP registration, koppeling -- or a reopening), and which
    facts were corrected or retracted, with
    the latest correction's day, recorder and reason (`traject timeline` shows each one).
    PERSON is a person id, or a unique prefix of it of at least 6 characters.

    \b
    Example:
      traject person show 3219ed75
      traject person show 3219ed75 --format json
    """
    summary = traject.app.person(traject.person(person))
    from commands import tables  # noqa: PLC0415 - rich is loaded only to show a table

    as_json = None if output is None else output == "json"
    traject.emit(tables.person_table(summary), render.person_json(summary), as_json=as_json)


@group.command()
@click.argument("person")
@table_or_json_option()
@pass_traject
def reads(traject: TrajectContext, person: str, output: str | None) -> None:
    """List the recorded reads of a person's special-category data (GDPR Art. 9).

    Each read (SpecialCategoryRead, recorded by the command that showed the values) says when,
    by whom, with which command, which fields and for which purpose; oldest first. The reads
    hold no personal data: no master key is needed. For every person's reads, with filters,
    see `traject audit reads`.

    \b
    Example:
      traject person reads 3219ed75
      traject person reads 3219ed75 --format json
    """
    ledger = traject.keyless  # the reads hold no personal data: no master key is needed
    person_id = ledger.resolve_person(person)
    found = ledger.special_reads(person_id=person_id)
    from commands import tables  # noqa: PLC0415 - rich is loaded only to show a table

    as_json = None if output is None else output == "json"
    title = f"Reads of special-category data of {person_id}"
    table = tables.reads_table(found, title, persons=False)
    traject.emit(table, render.reads_json(found), as_json=as_json)


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

    Refused while a retention basis is open or a legal hold is open (see `traject person
    retention`): the message names each basis with its date and each hold with its reason.
    Refused too for a person erased before ("already erased on DATE"). The person's external
    keys (a source system's client numbers) are deleted with the key.

    The old bytes of the key, the BSN hash and the external keys are then purged from the
    database's files: on SQLite the write-ahead log is emptied; on PostgreSQL the tables
    traject_data_keys, traject_person_index and traject_external_refs are rewritten, which
    only their owner may do. When the purge cannot be done (another user, a busy ledger) the
    command warns and says what to run (`traject admin purge-erased`). Backups made before the
    erasure still hold the key.

    \b
    Example:
      traject person shred 3219ed75 --approved-by "privacy officer" --yes
    """
    result = traject.app.shred(traject.person(person), approved_by=approved_by)
    traject.emit(render.erased(result), render.erased_json(result))
    traject.warn(render.purge_warnings(result.purge))


@group.command()
@click.argument("person")
@click.option(
    "--on",
    type=IsoDate(),
    help="the day to judge erasure on [default: today]",
)
@pass_traject
def retention(traject: TrajectContext, person: str, on: Any) -> None:
    """Show a person's retention bases, legal holds and effective deletion date.

    Each basis (the trajectory file; the evidence of each AMIF project the person took part
    in) is computed from the facts in the ledger with the retention rule set in force, and
    ends on its date; the effective deletion date is the latest end among the bases still
    open. A legal hold is open from the day it was placed until the day it is released.
    Erasure is allowed when no basis and no hold is open.

    \b
    Example:
      traject person retention 3219ed75
      traject --json person retention 3219ed75 --on 2031-12-31
    """
    status = traject.app.retention(traject.person(person), on=on)
    traject.emit(render.retention(status), render.retention_json(status))


@group.command(name="schedule-retention")
@click.argument("person")
@pass_traject
def schedule_retention(traject: TrajectContext, person: str) -> None:
    """Record a person's retention bases as computed today (RetentionScheduled).

    One event per basis; a basis whose date and rule set were recorded before is not recorded
    again. The schedule is a dated statement for the records: erasure is always decided from
    the facts at the time of erasure, never from a recorded schedule.

    \b
    Example:
      traject person schedule-retention 3219ed75
    """
    results = traject.app.schedule_retention(traject.person(person))
    traject.emit(
        "\n".join(render.recorded(r, StreamKind.PERSON, person) for r in results),
        [render.recorded_json(r, StreamKind.PERSON, person) for r in results],
    )


@group.command()
@click.argument("person")
@hold_options("placed")
@pass_traject
def hold(traject: TrajectContext, person: str, **options: Any) -> None:
    """Place a legal hold on a person: erasure is refused until it is released.

    For an objection procedure, litigation or an audit that concerns this person
    (LegalHoldPlaced). A hold on an AMIF project holds all its participants: see
    `traject project hold`.

    \b
    Example:
      traject person hold 3219ed75 --ref BZW-2026-014 --reason "bezwaarprocedure loopt"
    """
    write_hold(traject, traject.person(person), release=False, **options)


@group.command()
@click.argument("person")
@hold_options("released")
@pass_traject
def release(traject: TrajectContext, person: str, **options: Any) -> None:
    """Release an open legal hold on a person (LegalHoldReleased).

    The release is not dated (--on) before the day the hold was placed.

    \b
    Example:
      traject person release 3219ed75 --ref BZW-2026-014 --reason "bezwaar afgehandeld"
    """
    write_hold(traject, traject.person(person), release=True, **options)
