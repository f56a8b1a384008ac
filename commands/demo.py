"""``traject demo``: a short, scripted walk through one invented trajectory, in a demo ledger.

The demo runs the real commands (the same parsing, ledger calls and rendering as typed ones)
against its own SQLite file, and prints each command line before its output.
"""

from __future__ import annotations

import shlex
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
from eventsourcing.persistence import PersistenceError
from rich.text import Text

from commands.context import Settings, TrajectContext, default_key_path
from ledger.config import parse_database_url
from ledger.errors import TrajectError
from ledger.values import half_year_of

DEMO_MARK = "demo"
DEMO_USER = "m.bakker"
DEMO_BSN = "123456782"  # the worked 11-proef example of the domain reference: no real person
MUNICIPALITY = "GM0622"


def is_demo_ledger(path: Path) -> bool:
    """True for a ledger that `traject demo` made (and may therefore replace)."""
    try:
        with TrajectContext(Settings(database_url=str(path))) as traject:
            return traject.app.tables.get_setting(DEMO_MARK) == "yes"
    except (TrajectError, PersistenceError):
        return False


def clear_demo(path: Path) -> None:
    """Remove an earlier demo ledger; refuse to touch any other file."""
    if path.exists() and not is_demo_ledger(path):
        msg = f"{path} exists and is not a demo ledger: give the demo another --db"
        raise TrajectError(msg)
    key = default_key_path(parse_database_url(str(path)))
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), key):
        leftover.unlink(missing_ok=True)


class Walkthrough:
    """Runs commands of the root group inside the demo's context, printing each first."""

    def __init__(self, ctx: click.Context, traject: TrajectContext) -> None:
        self.ctx = ctx
        self.traject = traject
        self.root = ctx.find_root().command

    def say(self, text: str) -> None:
        self.traject.console.print(Text(f"\n# {text}", style="dim"))

    def run(self, *args: str) -> None:
        self.traject.console.print(Text(f"$ traject {shlex.join(args)}", style="bold"))
        assert isinstance(self.root, click.Group)
        name, *rest = args
        command = self.root.get_command(self.ctx, name)
        assert command is not None, name
        with command.make_context(name, list(rest), parent=self.ctx) as sub:
            command.invoke(sub)


def days_ago(days: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=days)).isoformat()


@click.command()
@click.option(
    "--db",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("traject-demo.db"),
    show_default=True,
    help="the demo ledger (an SQLite file, replaced on every run; never another ledger)",
)
@click.pass_context
def demo(ctx: click.Context, path: Path) -> None:
    """Walk through one invented statushouder's first weeks in a fresh demo ledger.

    Registers a person, records a residence permit, the COA koppeling, a tenancy, the move-in,
    the BRP registration, the inburgering duty, the broad intake, the PIP and a ladder
    assessment, corrects that assessment, and shows the timeline. All data is invented.

    \b
    Example:
      traject demo
      TRAJECT_DATABASE_URL=traject-demo.db traject timeline <person id from the demo>
    """
    clear_demo(path)
    traject = ctx.with_resource(TrajectContext(Settings(database_url=str(path), user=DEMO_USER)))
    ctx.obj = traject
    walk = Walkthrough(ctx, traject)

    walk.say(f"A fresh ledger in {path}, with its own master key file beside it.")
    walk.run("init", "--municipality", MUNICIPALITY)
    traject.app.tables.set_setting(DEMO_MARK, "yes")

    walk.say("Register an (invented) statushouder. Name and BSN are encrypted.")
    walk.run(
        "person", "register", "--on", days_ago(28), "--birth-date", "1991-05-14",
        "--sex", "f", "--nationality", "SY", "--bsn", DEMO_BSN, "--name", "Amal Haddad",
        "--languages", "Arabisch", "--languages", "Engels",
    )  # fmt: skip
    person_id = traject.app.find_person_by_bsn(DEMO_BSN)
    ref = str(person_id)[:8]
    linked_on = date.fromisoformat(days_ago(25))

    walk.say(f"Her path so far; {ref} is enough to name her (any unique prefix of 6+).")
    steps: list[tuple[str, ...]] = [
        ("residence-permit-recorded", "--on", days_ago(28), "--permit-kind", "asiel_bt",
         "--notified-on", days_ago(28), "--valid-until", days_ago(28 - 5 * 365)),
        ("coa-linked", "--on", linked_on.isoformat(), "--taakstelling-period",
         str(half_year_of(linked_on)), "--coa-location", "AZC Voorbeeldstad"),
        ("tenancy-signed", "--on", days_ago(14), "--housing-kind", "regulier",
         "--landlord", "Woonstichting Voorbeeld", "--address", "Voorbeeldstraat 12"),
        ("housed", "--on", days_ago(10), "--housing-kind", "regulier", "--route", "koppeling"),
        ("brp-registered", "--on", days_ago(9)),
        ("inburgering-duty-established", "--on", days_ago(8), "--duty-start", days_ago(9)),
        ("broad-intake-started", "--on", days_ago(6), "--by", DEMO_USER),
        ("pip-adopted", "--on", days_ago(3), "--version", "1", "--leerroute", "B1",
         "--hoofddoel", "werk", "--pvt-intensity", "standaard", "--map-intensity", "standaard",
         "--decision-ref", "PIP-DEMO-0001"),
        ("ladder-assessed", "--on", days_ago(2), "--rung", "2", "--assessor", DEMO_USER),
    ]  # fmt: skip
    for kind, *options in steps:
        walk.run("record", kind, ref, *options)
    before_correction = datetime.now(UTC)
    ladder_version = traject.app.person(traject.person(ref)).version

    walk.say("The ladder rung was a typo. Corrections never edit: they are new facts.")
    walk.run(
        "correct", ref, str(ladder_version), "--set", "rung=3",
        "--reason", "rung 3 was agreed in the intake",
    )  # fmt: skip

    walk.say("The whole history: originals, corrections, who recorded what and when.")
    walk.run("timeline", ref)

    # rounded up to the millisecond: not before the last fact recorded ahead of the correction
    ceiling = before_correction + timedelta(microseconds=999)
    moment = ceiling.replace(tzinfo=None).isoformat(timespec="milliseconds")
    try_next = [
        f"export TRAJECT_DATABASE_URL={shlex.quote(str(path))}",
        f"traject person show {ref}",
        f"traject timeline {ref} --as-known-at {moment}   # before the correction",
        f"traject timeline {ref} --format json",
        "traject record --help                  # every kind of fact",
        "traject record outflow-started --help",
        "traject init                           # a ledger of your own (traject.db)",
    ]
    traject.console.print(Text("\nTry next:", style="bold"))
    for line in try_next:
        traject.console.print(Text(f"  {line}"), soft_wrap=True)
