"""``traject demo``: three municipalities' invented caseload over four years, and their reports.

The demo runs the real commands (the same parsing, ledger calls and rendering as typed ones)
against its own SQLite file, and prints each command line before its output: it generates a
cooperation of three municipalities running an AMIF project (``traject generate``), builds the
read models, prints the caseload, outflow, Participatieladder and housing reports, and ends with
commands to try next.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from eventsourcing.persistence import PersistenceError
from rich.text import Text

from commands.context import Settings, TrajectContext, default_key_path
from commands.types import whole_number
from ledger.config import parse_database_url
from ledger.errors import TrajectError
from ledger.synthetic import Settings as GeneratorSettings
from ledger.synthetic import municipalities
from ledger.values import Period, half_year_of

DEMO_MARK = "demo"
DEMO_USER = "m.bakker"
DEMO_SEED = 7
DEMO_PERSONS = 300
DEMO_YEARS = 4
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


def last_full_periods(today: datetime) -> tuple[Period, Period]:
    """The last whole half-year and the last whole year before ``today``."""
    half = half_year_of(today.date()).previous()
    return half, Period(today.year - 1)


@click.command()
@click.option(
    "--db",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("traject-demo.db"),
    show_default=True,
    help="the demo ledger (an SQLite file, replaced on every run; never another ledger)",
)
@click.option(
    "--persons",
    type=whole_number(10, 5000),
    default=DEMO_PERSONS,
    show_default=True,
    help="how many invented persons",
)
@click.pass_context
def demo(ctx: click.Context, path: Path, persons: int) -> None:
    """Generate three municipalities' statushouders over four years and show their reports.

    In a fresh demo ledger: Vlaardingen, Maassluis and Schiedam house the statushouders COA
    links to them against their taakstelling, guide them through inburgering and towards
    work, and run an AMIF project together (traject generate). Then the read models are built
    and the caseload of one regisseur, the outflow, the Participatieladder and the housing
    figures are printed, followed by commands to try next. All data is invented.

    \b
    Example:
      traject demo
      TRAJECT_DATABASE_URL=traject-demo.db traject report outflow --period 2025
    """
    clear_demo(path)
    traject = ctx.with_resource(TrajectContext(Settings(database_url=str(path), user=DEMO_USER)))
    ctx.obj = traject
    walk = Walkthrough(ctx, traject)
    codes = [m.code for m in municipalities(3)]
    today = datetime.now(UTC).astimezone()
    half, year = last_full_periods(today)

    walk.say(f"A fresh ledger in {path}, with its own master key file beside it.")
    walk.run("init", "--municipality", MUNICIPALITY)
    traject.app.tables.set_setting(DEMO_MARK, "yes")

    walk.say(
        f"{persons} invented persons in {', '.join(codes)} over {DEMO_YEARS} years: koppeling, "
        "housing, inburgering, ladder, outflow, nareizigers, an AMIF project; some facts "
        "recorded late, a few corrected. No real person's data."
    )
    walk.run(
        "generate", "--municipalities", "3", "--persons", str(persons),
        "--years", str(DEMO_YEARS), "--seed", str(DEMO_SEED),
    )  # fmt: skip

    walk.say("Build the read models from the events (reports also catch up by themselves).")
    walk.run("projections", "rebuild")

    regisseur = f"regisseur.{MUNICIPALITY.lower()}.1"
    walk.say(f"Today's caseload of one regisseur in {MUNICIPALITY}.")
    walk.run("caseload", "--coach", regisseur)

    walk.say(f"Outflow to work, volunteering and education in {year}, per municipality.")
    walk.run("report", "outflow", "--period", str(year), "--by", "municipality")

    start = half.start.isoformat()
    walk.say(f"Participatieladder at the end of {half}, and the moves since {start}.")
    walk.run("report", "ladder", "--on", half.end.isoformat(), "--from", start)

    walk.say(f"Housing against the taakstelling in {half}.")
    walk.run("report", "housing", "--period", str(half))

    person = traject.app.person_by_external_ref(f"gen{DEMO_SEED}-000000")
    ref = str(person)[:8] if person else "<person id>"
    known_at = (half.end + timedelta(days=1)).isoformat()
    quarter = Period(half.year, "Q", 2 * half.number)  # the half-year's last quarter
    try_next = [
        f"export TRAJECT_DATABASE_URL={shlex.quote(str(path))}",
        f"traject timeline {ref}",
        f"traject person show {ref}",
        f"traject report outflow --period {half} --format json",
        f"traject report outflow --period {half} --as-known-at {known_at}   # as known then",
        f"traject report housing --period {half} --municipality {codes[1]}",
        f"traject caseload --municipality {codes[2]} --format csv",
        f"traject report amif --project {GeneratorSettings.project} --period {year}",
        f"traject report dashboard --quarter {quarter}   # the Kwartaaldashboard",
        f"traject report seal --label outflow-{half} report outflow --period {half}",
        "traject audit verify                   # every stored event against its leaf",
        "traject projections status",
        "traject generate --persons 2000 --years 10 --out synthetic.jsonl   # a bigger set",
        "traject init                           # a ledger of your own (traject.db)",
    ]
    traject.console.print(Text("\nTry next:", style="bold"))
    for line in try_next:
        traject.console.print(Text(f"  {line}"), soft_wrap=True)
