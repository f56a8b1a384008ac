"""TrajectContext: one invocation's settings, the ledger (opened lazily), and its two consoles."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from uuid import UUID

import click
import orjson
from eventsourcing.persistence import OperationalError, ProgrammingError

from ledger import roles
from ledger.application import TrajectoryLedger, current_actor
from ledger.config import StoreConfig, parse_database_url
from ledger.crypto import (
    generate_master_key,
    key_check_value,
    parse_master_key,
    read_key_file,
    write_key_file,
)
from ledger.errors import (
    AmbiguousReferenceError,
    MasterKeyError,
    PersonNotFoundError,
    PersonReferenceError,
    RuleViolationError,
    TrajectError,
    ValidationFailedError,
    is_not_utf8,
    missing_table,
    permission_error,
)
from ledger.events import StreamKind
from ledger.persistence import MASTER_KEY_CHECK, Progress, Rotation

if TYPE_CHECKING:
    import psycopg
    from rich.console import Console, RenderableType

MASTER_KEY_ENV = "TRAJECT_MASTER_KEY"
PIPED_WIDTH = 250
"""The width of a table printed to a pipe or file: what the widest table needs (a read model's
digest and rule version, a report's columns), not a terminal's 80 columns."""
NEW_MASTER_KEY_ENV = "TRAJECT_NEW_MASTER_KEY"


@functools.cache
def console_class() -> type[Console]:
    """rich's Console, loaded only to show tables, whose closed output (``traject timeline |
    head``) raises BrokenPipeError to the root group's boundary like any other output's,
    instead of rich's own exit with status 1."""
    from rich.console import Console  # noqa: PLC0415 - loaded only to show tables

    class PipedConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

    return PipedConsole


@dataclass(frozen=True)
class Settings:
    """What the root group's options (and their environment variables) said."""

    database_url: str | None = None
    key_file: Path | None = None
    master_key: str | None = None
    user: str | None = None
    json: bool = False


@dataclass(frozen=True)
class Initialised:
    """The outcome of ``traject init``."""

    where: str
    key_file: Path | None
    default_municipality: str | None


@dataclass(frozen=True)
class KeyRotated:
    """The outcome of ``traject admin rotate-master-key``."""

    where: str
    key_file: Path | None  # where the new key was written (None: it was given)
    old_key_file: Path | None  # the key file the old key came from (None: the environment)
    rotation: Rotation


def default_key_path(store: StoreConfig) -> Path:
    """``<db>.key`` beside an SQLite file; ``./traject.key`` for PostgreSQL."""
    if store.sqlite_path is not None:
        return store.sqlite_path.with_name(store.sqlite_path.name + ".key")
    return Path("traject.key")


def describe(store: StoreConfig) -> str:
    """Where the ledger lives, without credentials (:meth:`StoreConfig.describe`)."""
    schema = store.library_env.get("POSTGRES_SCHEMA", "public")
    return store.describe() + (f"?schema={schema}" if schema != "public" else "")


def check_postgres(env: Mapping[str, str]) -> None:
    """Connect once, without the event store's pool, so that a refused connection says why.

    The pool connects in the background: a connection the server refuses (no such database,
    no such role, a wrong password, nothing listening) is retried there, and the command would
    wait out the pool's timeout to hear only "couldn't get a connection after 5.00 sec". One
    plain connection hears the server's reason at once.

    Raises:
        ConnectionRefusedByServerError: the server's reason, e.g. ``database "x" does not
            exist`` (shown by the root group as "the database server refused the connection
            to …").
        OperationalError: the network's reason (shown as "cannot reach database …").
    """
    import psycopg  # noqa: PLC0415 - PostgreSQL only

    try:
        connection = connect(env)
    except psycopg.OperationalError as error:
        if SERVER_ANSWER.search(str(error)):
            problem = connection_problem(error)
            raise ConnectionRefusedByServerError(problem, env["POSTGRES_USER"]) from None
        raise OperationalError(connection_problem(error)) from None
    connection.close()


def connect(env: Mapping[str, str]) -> Any:
    """One plain connection to the PostgreSQL server of ``env`` (the store's settings), outside
    the event store's pool."""
    import psycopg  # noqa: PLC0415 - PostgreSQL only

    return psycopg.connect(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        user=env["POSTGRES_USER"],
        password=env.get("POSTGRES_PASSWORD", ""),
        connect_timeout=max(1, round(float(env.get("POSTGRES_CONNECT_TIMEOUT", "5")))),
    )


def held_roles(store: StoreConfig) -> str | None:
    """Which traject roles the store's database user has and what they may do
    (``ledger.roles.held_roles``), asked on a connection of its own; None on SQLite, or when
    the server cannot be asked (the error being reported may be that it is gone)."""
    if store.sqlite_path is not None:
        return None
    import psycopg  # noqa: PLC0415 - PostgreSQL only
    from psycopg.rows import tuple_row  # noqa: PLC0415

    try:
        with connect(store.library_env) as connection:
            return roles.held_roles(connection.cursor(row_factory=tuple_row))
    except psycopg.Error:
        return None


SERVER_ANSWER = re.compile(r"\b(?:FATAL|ERROR):\s")
"""How libpq gives the server's own answer (not the network's): the server was reached."""


class ConnectionRefusedByServerError(OperationalError):
    """The server was reached and refused the connection: no such role or database, a role
    that may not log in or connect to the database, a wrong password."""

    def __init__(self, problem: str, user: str) -> None:
        super().__init__(problem)
        self.user = user


def connection_problem(error: psycopg.Error) -> str:
    """The reason in psycopg's "connection failed: connection to server at …, port … failed:
    FATAL:  <reason>", on one line; the first one when several addresses were tried."""
    text = str(error).strip().split("\nMultiple connection attempts failed", 1)[0]
    text = re.sub(r"^connection failed: connection to server at .*? failed: ", "", text)
    text = re.sub(r"^(?:FATAL|ERROR):\s+", "", text)
    return ". ".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


class TrajectContext:
    """Built once per invocation by the root group; commands reach it with ``@pass_traject``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._console: Console | None = None
        self._err_console: Console | None = None
        self._app: TrajectoryLedger | None = None
        self._reader: TrajectoryLedger | None = None
        self._actor: contextvars.Token[str | None] | None = None
        self._server_checked = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._actor is not None:
            current_actor.reset(self._actor)
            self._actor = None

    # --- where and with which key -----------------------------------------------------------

    @cached_property
    def store(self) -> StoreConfig:
        return parse_database_url(self.settings.database_url)

    @property
    def where(self) -> str:
        return describe(self.store)

    @cached_property
    def key_path(self) -> Path:
        return self.settings.key_file or default_key_path(self.store)

    def master_key(self) -> bytes:
        if self.settings.master_key:
            return parse_master_key(self.settings.master_key, MASTER_KEY_ENV)
        try:
            return read_key_file(self.key_path)
        except (IsADirectoryError, PermissionError) as error:
            msg = f"{self.key_path}: cannot read the master key file: {error.strerror}"
            raise MasterKeyError(msg) from None

    # --- the ledger -------------------------------------------------------------------------

    @property
    def app(self) -> TrajectoryLedger:
        """The ledger, opened on first use: it must exist and match the master key."""
        if self._app is None:
            store = self.store
            if store.sqlite_path is not None and not store.sqlite_path.is_file():
                msg = f"no ledger at {store.sqlite_path}: run `traject init`"
                raise TrajectError(msg)
            app = self._open(self.master_key(), create_tables=False)
            try:
                self._verify(app)
            except BaseException:
                app.close()
                raise
            self._app = app
        return self._app

    @property
    def reader(self) -> TrajectoryLedger:
        """The ledger for reading read models only: the reports never need personal data.

        With a master key at hand this is :attr:`app` (checked against the ledger). Without
        one (an analyst has no key and may not read the settings table that holds its check)
        the ledger is opened under a throwaway key: personal fields stay unreadable, and
        nothing can be recorded that a real key would read. The reports and `traject audit
        replay` use it; the integrity commands use :attr:`keyless`.
        """
        if self._app is not None:
            return self._app
        if self._reader is None:
            try:
                return self.app
            except MasterKeyError:
                if self.settings.master_key or self.key_path.exists():
                    raise  # a key that does not match: say so
            except ProgrammingError as error:
                if permission_error(error) is None:
                    raise  # the key's check is not readable by this user (an analyst)
            self._reader = self._open_keyless()
        return self._reader

    def app_checked_first(self, check: Callable[[TrajectoryLedger], None]) -> TrajectoryLedger:
        """:attr:`app`; when no master key is at hand, ``check`` first judges the ledger
        opened without one (:attr:`keyless`), so that a refusal the key would not lift (only
        the owner may rebuild) is said rather than that the key is missing."""
        try:
            return self.app
        except MasterKeyError:
            check(self.keyless)
            raise

    @property
    def keyless(self) -> TrajectoryLedger:
        """The ledger for the commands that read stored bytes and never decrypt (the integrity
        commands: ``traject audit verify``, ``checkpoint``, ``checkpoints``, ``export``,
        ``prove``, ``consistency``, ``reads``; ``traject person reads``).

        The master key is never read or checked: the ledger is opened under a throwaway key,
        so neither a missing key nor one that no longer opens the ledger (a key file from
        before a rotation) stands in the way. It must exist.
        """
        if self._app is not None:
            return self._app
        if self._reader is None:
            self._reader = self._open_keyless()
        return self._reader

    def not_utf8_event(self, error: BaseException) -> TrajectError | None:
        """For a database error that is SQLite's text that is not UTF-8 (which Python's sqlite3
        cannot read), the refusal naming the stored event that holds it (altered outside
        traject: it writes UTF-8 only); None for any other error, or when no event holds it."""
        from ledger import audit  # noqa: PLC0415 - lazy on purpose: only on this failure

        if self.store.sqlite_path is None or not is_not_utf8(error):
            return None
        try:
            return audit.first_not_utf8(self.keyless)
        except (OperationalError, TrajectError):
            return None  # the message of the error itself is all there is to say

    def _open_keyless(self) -> TrajectoryLedger:
        """The ledger under a throwaway key: personal fields stay unreadable, and nothing can
        be recorded that a real key would read."""
        store = self.store
        if store.sqlite_path is not None and not store.sqlite_path.is_file():
            msg = f"no ledger at {store.sqlite_path}: run `traject init`"
            raise TrajectError(msg)
        reader = self._open(generate_master_key(), create_tables=False)
        try:
            marked = reader.tables.get_setting(MASTER_KEY_CHECK)
        except (ProgrammingError, OperationalError) as error:
            # missing tables: no ledger; refused: an analyst, who may not read settings
            if missing_table(error):
                marked = None
            elif permission_error(error) is not None:
                marked = "refused"
            else:
                reader.close()
                raise
        except BaseException:
            reader.close()
            raise
        if marked is None:
            reader.close()
            msg = f"no ledger at {self.where}: run `traject init`"
            raise TrajectError(msg)
        return reader

    @property
    def opened(self) -> TrajectoryLedger | None:
        """The ledger opened by this invocation so far (:attr:`app` or :attr:`reader`), if any."""
        return self._app or self._reader

    def _open(self, master_key: bytes, *, create_tables: bool) -> TrajectoryLedger:
        if self.store.kind == "postgres" and not self._server_checked:
            check_postgres(self.store.library_env)  # the server's reason, not a pool timeout
            self._server_checked = True
        # Only `init` creates tables: on PostgreSQL, concurrent CREATE_TABLE runs collide.
        env = {**self.store.library_env, "CREATE_TABLE": "yes" if create_tables else "no"}
        app = TrajectoryLedger(env, master_key)
        if self.settings.user and self._actor is None:
            self._actor = current_actor.set(self.settings.user)
        return app

    def _verify(self, app: TrajectoryLedger) -> None:
        try:
            app.verify_master_key()
        except (ProgrammingError, OperationalError) as error:
            # a database without traject's tables (CREATE_TABLE=no outside `init`)
            if not missing_table(error):
                raise
            msg = f"no ledger at {self.where}: run `traject init`"
            raise TrajectError(msg) from None

    def person(self, ref: str) -> UUID:
        """A person id from a full UUID or a unique prefix of at least 6 characters."""
        return self.app.resolve_person(ref)

    def person_field(self, kind: str, field: str, ref: str) -> UUID:
        """The person a field of a fact names (``--member-person-id``), read as PERSON is; a
        refusal names the field, so the option it was typed as: a reference that cannot name
        a person is bad input, one that names nobody (or several) is refused."""
        try:
            return self.person(ref)
        except PersonReferenceError as error:
            raise ValidationFailedError(kind, [(field, str(error))]) from None
        except (PersonNotFoundError, AmbiguousReferenceError) as error:
            raise RuleViolationError(kind, field, str(error)) from None

    def subject(self, ref: str) -> tuple[UUID, StreamKind]:
        """The stream a command's SUBJECT names: a person (id or prefix of at least 6
        characters), a municipality (CBS code) or an AMIF project (code), and its kind."""
        return self.app.resolve_subject(ref)

    def initialise(self, default_municipality: str | None) -> Initialised:
        """Write a new master key file (never over an old one), create the tables, bind them."""
        written: Path | None = None
        if self.settings.master_key:
            key = parse_master_key(self.settings.master_key, MASTER_KEY_ENV)
            if self._opens_a_ledger():
                msg = (
                    f"the ledger at {self.where} is already initialised, with the master key in "
                    f"{MASTER_KEY_ENV}: nothing was changed. Use it as it is, or give another "
                    "--db for a new ledger"
                )
                raise TrajectError(msg)
        else:
            if self.key_path.exists():
                raise MasterKeyError(self._key_file_exists())
            key = generate_master_key()
            self._write_key(key)
            written = self.key_path
        try:
            if self.store.sqlite_path is not None:
                self.store.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            self._app = self._open(key, create_tables=True)
            self._app.initialise(default_municipality=default_municipality)
        except BaseException:
            if written is not None:
                written.unlink(missing_ok=True)  # a key that opens nothing is only confusing
            raise
        return Initialised(self.where, written, self._app.default_municipality)

    def _opens_a_ledger(self) -> bool:
        """Whether the configured key opens a ledger at the URL (one that is there already)."""
        try:
            self.app  # noqa: B018 - opens the ledger with the key, and checks it
        except TrajectError:
            return False
        return True

    def _key_file_exists(self) -> str:
        """Why `init` refuses when the key file is there: the ledger it opens, or none."""
        try:
            self.app  # noqa: B018 - opens the ledger with that key file, and checks it
        except TrajectError:
            return (
                f"{self.key_path}: a master key file already exists (it is never overwritten), "
                f"but it opens no ledger at {self.where}. To create a new ledger, move it away "
                "or give another --key-file"
            )
        return (
            f"the ledger at {self.where} is already initialised, with the master key in "
            f"{self.key_path}: nothing was changed. Use it as it is, or give another --db (and "
            "--key-file) for a new ledger"
        )

    def _write_key(self, key: bytes, path: Path | None = None) -> None:
        path = path or self.key_path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_key_file(path, key)
        except OSError as error:
            msg = f"{path}: cannot write the master key file: {error.strerror}"
            raise MasterKeyError(msg) from None

    def rotate_master_key(
        self, new_key_file: Path | None, new_master_key: str | None, progress: Progress | None
    ) -> KeyRotated:
        """Move the ledger to a new master key: generated and written to a new key file (never
        over an existing one) before the database changes, or given (``TRAJECT_NEW_MASTER_KEY``,
        no file written). A key file written for a rotation that did not happen is removed, also
        when another rotation moved the ledger to its own new key meanwhile."""
        app = self.app  # the current key must open the ledger
        if new_master_key and new_key_file is not None:
            msg = (
                f"--new-key-file: give the new key either as {NEW_MASTER_KEY_ENV} or let traject "
                "generate it into --new-key-file, not both"
            )
            raise MasterKeyError(msg)
        written: Path | None = None
        if new_master_key:
            key = parse_master_key(new_master_key, NEW_MASTER_KEY_ENV)
        else:
            key = generate_master_key()
            written = new_key_file or self.key_path.with_name(self.key_path.name + ".new")
        if written is not None and written.exists():
            msg = (
                f"--new-key-file: {written} exists and is never overwritten: move it away or "
                "name another file (one left by an interrupted rotation holds a key the ledger "
                "does not use, as long as the current key still opens it)"
            )
            raise MasterKeyError(msg)
        if written is not None:
            self._write_key(key, written)
        try:
            rotation = app.rotate_master_key(key, progress=progress)
        except BaseException:
            if written is not None and self._not_on(app, key_check_value(key)):
                written.unlink(missing_ok=True)  # the ledger never used it
            raise
        old_file = None if self.settings.master_key else self.key_path
        return KeyRotated(self.where, written, old_file, rotation)

    @staticmethod
    def _not_on(app: TrajectoryLedger, check: str) -> bool:
        """Whether the ledger is known not to be on the master key of ``check``: still on the
        old key, or on the key of another rotation that committed first."""
        try:
            stored = app.tables.get_setting(MASTER_KEY_CHECK)
        except Exception:  # unknown (the store went away): keep the new key
            return False
        return stored is not None and stored != check

    @contextlib.contextmanager
    def progress(self, what: str, *, quiet: bool) -> Iterator[Progress | None]:
        """A rich progress bar on stderr (none with --quiet, or off a terminal)."""
        if quiet or not self.err_console.is_terminal:
            yield None
            return
        from commands.projections import progress_bar  # noqa: PLC0415 - rich only when shown

        with progress_bar(self.err_console) as bar:
            task = bar.add_task(what, total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            yield advance

    # --- output -----------------------------------------------------------------------------

    @property
    def json(self) -> bool:
        return self.settings.json

    # Consoles are built per invocation, never at import (a console bound to an old stdout
    # escapes CliRunner's capture), and only when a table is shown: rich is not loaded for the
    # one-line result of a write, which keeps `traject record` quick to start.

    @property
    def console(self) -> Console:
        """Standard output's console. Piped or redirected (``traject projections status |
        less``, ``> report.txt``) without ``COLUMNS``, a table takes the width it needs
        instead of a terminal's 80 columns, which would crop its columns."""
        if self._console is None:
            console = console_class()(highlight=False, soft_wrap=True)
            if not console.is_terminal and "COLUMNS" not in os.environ:
                console.width = PIPED_WIDTH
            self._console = console
        return self._console

    @property
    def err_console(self) -> Console:
        if self._err_console is None:
            self._err_console = console_class()(stderr=True, highlight=False, soft_wrap=True)
        return self._err_console

    def emit(
        self, renderable: str | RenderableType, data: Any, *, as_json: bool | None = None
    ) -> None:
        """Print the text or renderable, or the data as JSON with --json (or ``as_json``)."""
        if self.json if as_json is None else as_json:
            text = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
            click.echo(text)
        elif isinstance(renderable, str):
            click.echo(renderable)
        else:
            self.console.print(renderable)

    def warn(self, warnings: Iterable[str]) -> None:
        for warning in warnings:
            click.echo(f"Warning: {warning}", err=True)

    def note(self, notes: Iterable[str]) -> None:
        """Tell the user on stderr what else the command did (stdout stays the result)."""
        for note in notes:
            click.echo(note, err=True)


pass_traject = click.make_pass_decorator(TrajectContext)
"""Give a command the invocation's TrajectContext as its first argument."""
