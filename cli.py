"""The traject command line: the root group, its global options, the wiring, the error boundary.

This is the composition root: the only place that reads the environment (through click's
``envvar`` and ``auto_envvar_prefix="TRAJECT"``). Errors reach the user here and only here:

* bad input, judged on the input alone, exit 2: what an option or argument refuses (a malformed
  date, an unknown choice, a BSN failing the 11-proef, an unknown municipality) is click's usage
  error; what an event's model refuses (an empty ``--assessor``, a correction's value of the
  wrong kind: an ``InputError``) is ``Error: <message>`` on stderr;
* a ``TrajectError`` (well-formed input the ledger refuses: a domain rule, a missing person, a
  wrong master key) → ``Error: <message>`` on stderr, exit 1;
* the database cannot be reached or is locked → ``Error: cannot reach database …``, exit 1;
  SQLite's errors are sorted by their result code: a locked, read-only, unopenable, damaged or
  full file, or one that is not a database, is an ``Error: …`` line naming it; any other code
  (no such table or column, a syntax error, a misuse) is a bug and shows its traceback;
  a PostgreSQL server that stops a statement for its own state (a full disk, a lock or
  statement timeout, a deadlock) → ``Error: the database … refused the command: <its
  message> (SQLSTATE …)``, exit 1; any other server error is a bug (the server refused a
  statement traject sent, for input traject should have refused) and shows its traceback
  (unless what SQLite could not read is a stored event's text that is not UTF-8: that event is
  named as altered outside traject, as a ``TrajectError``; an SQLite file that cannot be
  written (a full disk), is not a database or is damaged is named so); the server refuses
  the connection (no such role or database, a role that may not log in or connect) →
  ``Error: the database server refused USER's connection to …: <its reason>``, exit 1;
* the server refuses the database user (PostgreSQL's "permission denied", e.g. an analyst
  running `traject record`) → ``Error: the database user … may not …``, exit 1;
* the reader of the output went away (``traject export | head``) → nothing more is written,
  exit 141, as for a command ended by SIGPIPE;
* Ctrl-C (SIGINT), whenever it comes (at a prompt too) → ``Interrupted`` on stderr, exit
  130, as a shell reports a command ended by it; while the command line starts,
  ``traject_entry`` says so;
* anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import click
from eventsourcing.persistence import InterfaceError, OperationalError

from commands import correct, fields, holds, init, person, record
from commands.context import (
    ConnectionRefusedByServerError,
    Settings,
    TrajectContext,
    held_roles,
)
from ledger.errors import (
    DuplicatePersonError,
    InputError,
    RuleViolationError,
    TrajectError,
    ValidationFailedError,
    connection_lost,
    from_environment,
    is_not_utf8,
    permission_error,
    server_error,
    sqlite_code,
    sqlite_error,
    stopped_by_server,
)
from traject_entry import INTERRUPTED, INTERRUPTED_STATUS, say_interrupted

CONTEXT_SETTINGS: dict[str, Any] = {
    "auto_envvar_prefix": "TRAJECT",
    "help_option_names": ["-h", "--help"],
}

READ_COMMANDS: dict[str, str] = {
    # Read-side commands import the projections (and psycopg for their PostgreSQL views) or
    # rich's tables: loaded when invoked, not on every run. Measured: about 0.2 s off
    # `traject record` (docs/benchmarks.md).
    "timeline": "commands.timeline:timeline",
    "demo": "commands.demo:demo",
    "projections": "commands.projections:group",
    "report": "commands.report:group",
    "caseload": "commands.report_inburgering:caseload_command",
    "audit": "commands.audit:group",
    "import": "commands.importing:import_command",
    "find-candidates": "commands.report_inburgering:find_candidates_command",
    "admin": "commands.admin:group",
    "generate": "commands.generate:generate_command",
    "export": "commands.export:export_command",
}


COMMAND_WORDS = "traject.command_words"


class TrajectFailure(click.ClickException):
    """A refusal or an unreachable store, shown as ``Error: <message>`` with exit status 1."""

    exit_code = 1


class Interrupted(click.ClickException):
    """Ctrl-C while a command runs: ``Interrupted`` on stderr, exit status 130, as for an
    interrupt while the command line starts (``traject_entry``). What the command was
    writing is not committed: a transaction ends with the exception that leaves it."""

    exit_code = INTERRUPTED_STATUS

    def __init__(self) -> None:
        super().__init__(INTERRUPTED)

    def show(self, file: Any = None) -> None:
        say_interrupted()


class InterruptibleContext(click.Context):
    """The root context: an interrupt while it closes (the ledger's connections) ends the
    command as any other interrupt does, not with click's "Aborted!"."""

    def __exit__(self, *exc_info: Any) -> bool | None:
        try:
            return super().__exit__(*exc_info)
        except KeyboardInterrupt:
            raise Interrupted from None


class BadInput(TrajectFailure):
    """Input the ledger refuses whatever it holds, shown as ``Error: <message>`` with exit
    status 2, as click's own usage errors."""

    exit_code = 2


def database_message(error: Exception, where: str) -> str | None:
    """What the user is told of a database error (an ``OperationalError`` or
    ``InterfaceError``, or SQLite's own); None for a bug, which shows its traceback.

    SQLite's errors are sorted by their result code (:func:`sqlite_message`). A PostgreSQL
    server that answered a statement with neither a lost connection nor its own state (a full
    disk, a lock or statement timeout, a deadlock), such as a program limit exceeded (an index
    row too large), refused a statement traject should not have sent, for input it should have
    refused: a bug."""
    text = str(error).strip() or type(error).__name__
    if isinstance(error, ConnectionRefusedByServerError):
        return f"the database server refused {error.user}'s connection to {where}: {text}"
    sqlite = sqlite_error(error)
    if sqlite is not None:
        return sqlite_message(sqlite, where)
    server = server_error(error)
    if server is None or connection_lost(server):
        return f"cannot reach database {where}: {text}"
    if stopped_by_server(server):
        said = str(server).strip().splitlines()[0]
        state = getattr(server, "sqlstate", "")
        return f"the database {where} refused the command: {said} (SQLSTATE {state})"
    return None


def sqlite_message(error: sqlite3.Error, where: str) -> str | None:
    """What the user is told of SQLite's ``error`` when it comes from the file or the machine
    (locked, cannot be opened or written, a full disk, damaged, not a database); None when it
    comes from the statement (no such table or column, a syntax error, a misuse): a bug."""
    text = str(error).strip() or type(error).__name__
    code = sqlite_code(error)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return f"database is locked: another traject process is writing to {where}; try again"
    if code == sqlite3.SQLITE_NOTADB:
        return (
            f"{where} is not an SQLite database ({text}): name the ledger's file, as "
            "`traject init` made it"
        )
    if code == sqlite3.SQLITE_CORRUPT:
        return f"database {where} is damaged ({text}): restore it from a backup"
    if code in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL):
        return f"cannot write to database {where}: {text} (is its disk full?)"
    if code == sqlite3.SQLITE_CANTOPEN:
        return (
            f"cannot open database {where}: {text} (does its directory exist, and may this "
            "user read and write the file and its directory?)"
        )
    if from_environment(error):  # READONLY, PERM, AUTH
        return (
            f"cannot write to database {where}: {text} (may this user write the file and "
            "its directory?)"
        )
    if code is None and is_not_utf8(error):  # not in an event (those are named as altered)
        return (
            f"database {where} holds text that is not UTF-8 ({text}): it was altered outside "
            "traject, which writes UTF-8 only; restore it from a backup"
        )
    return None


def permission_message(ctx: click.Context, denied: BaseException) -> str:
    """The server refused the connected database user: who, doing what, and what it said;
    which role the command needs, and which the user has and what it may do."""
    from ledger.roles import STAFF  # noqa: PLC0415 - only when refused

    traject = ctx.find_object(TrajectContext)
    user = "this user"
    if traject is not None:
        user = traject.store.library_env.get("POSTGRES_USER") or user
    words: list[str] = []
    for word in ctx.meta.get(COMMAND_WORDS, []):
        if word.startswith("-") or len(words) == 2:
            break
        words.append(word)
    command = " ".join([ctx.info_name or "traject", *words])
    text = str(denied).strip().splitlines()[0]
    needed = needed_role(words)
    if needed is None:
        message = (
            f"the database user {user} may not do what `{command}` needs ({text}); see the "
            "roles traject_staff, traject_analyst and traject_auditor in docs/operations.md"
        )
    else:
        message = (
            f"the database user {user} may not do what `{command}` needs ({text}): it needs "
            f"{needed}"
        )
    # which role the user has, when a role (not ownership) is what the command needs
    by_role = needed is None or STAFF in needed
    held = held_roles(traject.store) if traject is not None and by_role else None
    return message if held is None else f"{message}; {held}"


def needed_role(words: list[str]) -> str | None:
    """Who may do what the command of ``words`` does (docs/operations.md, Roles): by its own
    first two words, else by its first; None for a command not listed."""
    from ledger.roles import ANALYST, AUDITOR, STAFF  # noqa: PLC0415 - only when refused

    granted = "granted on this ledger's tables by `traject admin roles` (docs/operations.md, Roles)"
    staff = f"the role {STAFF}, {granted}"
    reading = f"the role {STAFF} or {AUDITOR}, {granted}"
    owner = (
        "to be the owner of the ledger's tables, who ran `traject init` (docs/operations.md, Roles)"
    )
    creator = (
        "to own the schema named in the database URL, or the right to create it (CREATE on the "
        "database) (docs/operations.md, Setting up PostgreSQL)"
    )
    needs = {
        **dict.fromkeys(
            (
                *("record", "correct", "retract", "import", "project", "person"),
                *("audit checkpoint", "report seal"),
            ),
            staff,
        ),
        **dict.fromkeys(
            (
                *("timeline", "export", "audit", "person show", "person find", "person reads"),
                *("person retention", "report restate", "report sealed"),
            ),
            reading,
        ),
        **dict.fromkeys(
            ("report", "caseload", "find-candidates", "projections"),
            f"one of the roles {STAFF}, {ANALYST} and {AUDITOR}, {granted}",
        ),
        # generating into a ledger marks it synthetic: a setting, which only the owner adds
        **dict.fromkeys(("admin", "projections rebuild", "generate"), owner),
        "init": creator,
    }
    return needs.get(" ".join(words[:2])) or needs.get(words[0] if words else "")


CLOSED_OUTPUT_STATUS = 141  # 128 + SIGPIPE: what a shell reports for `cat file | head -1`


def closed_output() -> int:
    """stdout's reader went away: the rest of the output goes to the null device (so that the
    interpreter's last flush does not fail on the pipe again), and the status is SIGPIPE's."""
    with contextlib.suppress(OSError, ValueError):  # no file descriptor (a test's capture)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    return CLOSED_OUTPUT_STATUS


def warn_stale_reads(ctx: click.Context) -> None:
    """Before a failure's message, the read models the command answered from as they stand
    (a reader who may not catch them up): "no such project" may mean "not caught up yet".
    Only a command that loaded commands.projections reads read models."""
    reports = sys.modules.get("commands.projections")
    traject = ctx.find_object(TrajectContext)
    if reports is not None and traject is not None:
        reports.warn_stale(traject)


def invoked_command(ctx: click.Context) -> click.Command | None:
    """The command the words of the command line named (``record housed``), found again from
    the root group: its context is gone once its error reaches the boundary. None when the
    words name no command (no group takes options before its command's name)."""
    command: click.Command | None = ctx.command
    words = [word for word in ctx.meta.get(COMMAND_WORDS, []) if not word.startswith("-")]
    while isinstance(command, click.Group) and words:
        command = command.get_command(ctx, words.pop(0))
    return command


def refusal(ctx: click.Context, error: TrajectError) -> str:
    """The message of ``error``, its fields named as the user typed them: an event's field
    by the option or argument that gave it (``Housed: --on (occurred_on): must not be in the
    future``, ``EventRetracted: VERSION (target_version): …``, ``--bsn: a person with this BSN
    is already registered``), a corrected event's as ``--set`` took it
    (``fields.field_label``)."""
    command = invoked_command(ctx)
    named = ValidationFailedError | RuleViolationError | DuplicatePersonError
    if command is None or not isinstance(error, named):
        return str(error)
    return error.named(functools.partial(fields.field_label, command))


class TrajectGroup(click.Group):
    """The root group; its ``invoke`` is the one error boundary of the command line."""

    context_class = InterruptibleContext

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeyboardInterrupt:  # while the global options are read
            raise Interrupted from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *READ_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in READ_COMMANDS and cmd_name not in self.commands:
            module, _, attribute = READ_COMMANDS[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        ctx.meta.setdefault(COMMAND_WORDS, list(args))  # for the messages of the boundary
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Interrupted from None
        except click.Abort as abort:
            # click answers Ctrl-C at a prompt (the confirmation of `person shred`) with
            # Abort, the interrupt as its context; a "no" or a closed stdin stays "Aborted!"
            if isinstance(abort.__context__, KeyboardInterrupt):
                raise Interrupted from None
            raise
        except InputError as error:
            raise BadInput(refusal(ctx, error)) from None
        except TrajectError as error:
            warn_stale_reads(ctx)
            raise TrajectFailure(refusal(ctx, error)) from None
        except BrokenPipeError:
            raise click.exceptions.Exit(closed_output()) from None
        except (OperationalError, InterfaceError, sqlite3.Error) as error:
            traject = ctx.find_object(TrajectContext)
            where = traject.where if traject is not None else "(unknown)"
            altered = traject.not_utf8_event(error) if traject is not None else None
            if altered is not None:  # text SQLite holds that is not UTF-8: an altered row
                raise TrajectFailure(str(altered)) from None
            message = database_message(error, where)
            if message is None:  # a bug: the server refused what traject sent
                raise
            raise TrajectFailure(message) from None
        except Exception as error:
            denied = permission_error(error)
            if denied is None:
                raise
            raise TrajectFailure(permission_message(ctx, denied)) from None


@click.group(name="traject", cls=TrajectGroup, context_settings=CONTEXT_SETTINGS)
@click.option(
    "--db",
    "--database-url",
    "database_url",
    metavar="URL",
    envvar=["TRAJECT_DATABASE_URL", "TRAJECT_DB"],
    show_envvar=True,
    help="sqlite:///PATH (or a plain file path) or postgresql://USER@HOST/DB[?schema=NAME] "
    "[default: traject.db in the current directory]",
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="TRAJECT_KEY_FILE",
    show_envvar=True,
    help="the master key file [default: <db file>.key beside an SQLite file, ./traject.key "
    "for PostgreSQL]; TRAJECT_MASTER_KEY, when set, is used instead",
)
@click.option("--master-key", envvar="TRAJECT_MASTER_KEY", hidden=True)
@click.option(
    "--user",
    envvar="TRAJECT_USER",
    show_envvar=True,
    help="who is recording (stored as recorded_by) [default: the operating-system user]",
)
@click.option("--json", "json_output", is_flag=True, help="machine-readable JSON output on stdout")
@click.version_option(package_name="traject-ledger", prog_name="traject")
@click.pass_context
def cli(
    ctx: click.Context,
    *,
    database_url: str | None,
    key_file: Path | None,
    master_key: str | None,
    user: str | None,
    json_output: bool,
) -> None:
    """traject: an event-sourced ledger of statushouders' trajectories.

    Housing, inburgering, participation and AMIF evidence are recorded as facts that are never
    edited: mistakes are corrected by new facts, and every history can be replayed as it was
    known on any day. Start with `traject demo`, or `traject init` for a ledger of your own.

    \b
    Example:
      traject init --municipality GM0622
      traject person register --birth-date 1990-04-02 --sex f --nationality SY
      traject record housed 3219ed75 --on 2024-03-04 --housing-kind regulier --route koppeling
      traject timeline 3219ed75
    """
    settings = Settings(database_url, key_file, master_key, user or None, json_output)
    ctx.obj = ctx.with_resource(TrajectContext(settings))


cli.add_command(init.init)
cli.add_command(person.group)
cli.add_command(holds.project_group)
cli.add_command(record.group)
cli.add_command(correct.correct)
cli.add_command(correct.retract)


if __name__ == "__main__":  # pragma: no cover
    cli()
