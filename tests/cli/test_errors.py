"""The one error boundary: refusals and unreachable stores are `Error: …` lines, bugs are not."""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import click
import psycopg
import pytest
from cli_helpers import Traject, days_ago
from click.testing import CliRunner
from eventsourcing.persistence import OperationalError, ProgrammingError
from pg_schemas import PostgresSchemas

from cli import TrajectGroup, database_message
from commands.context import Settings, TrajectContext

ROOT = Path(__file__).resolve().parents[2]


def group_raising(error: Exception) -> click.Group:
    """A root group like traject's, with one command that fails with ``error``."""

    @click.group(cls=TrajectGroup)
    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = TrajectContext(Settings(database_url="sqlite:///busy.db"))

    @root.command()
    def fail() -> None:
        raise error

    return root


def sqlite_error(path: Path, statement: str, *, locked: bool = False) -> OperationalError:
    """SQLite's real error for ``statement`` on the file at ``path`` (with ``locked``, while
    another connection holds its write lock), wrapped as the event store library wraps it."""
    holder = sqlite3.connect(path, isolation_level=None)
    if locked:
        holder.execute("BEGIN EXCLUSIVE")
    connection = sqlite3.connect(path, timeout=0)
    try:
        connection.execute(statement)
    except sqlite3.Error as error:
        wrapped = OperationalError(error)
        wrapped.__cause__ = error
        return wrapped
    finally:
        connection.close()
        holder.close()
    msg = f"SQLite ran {statement[:40]!r}"
    raise AssertionError(msg)


def test_a_locked_database_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    error = sqlite_error(path, "INSERT INTO t VALUES (1)", locked=True)
    assert getattr(error.__cause__, "sqlite_errorname", None) == "SQLITE_BUSY"

    result = CliRunner().invoke(group_raising(error), ["fail"])

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: database is locked: another traject process is writing to sqlite:///busy.db; "
        "try again\n"
    )


@pytest.mark.parametrize(
    "statement", ["SELECT nothing FROM t", "SELECT * FROM no_table", "SELEC 1", "SELECT ?"]
)
def test_a_statement_sqlite_refuses_is_a_bug_with_its_traceback(
    tmp_path: Path, statement: str
) -> None:
    """SQLite's generic error (no such table or column, a syntax error) and its misuse (a
    parameter missing) say traject sent a wrong statement: a bug, not "cannot reach database"."""
    path = tmp_path / "ledger.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    error = sqlite_error(path, statement)

    result = CliRunner().invoke(group_raising(error), ["fail"])

    assert result.exception is error
    assert "Error:" not in result.stderr


def test_a_ledger_whose_table_was_renamed_by_hand_shows_the_traceback(ledger: Traject) -> None:
    """A table traject needs, renamed outside traject: the statement names a table that is not
    there, which traject cannot explain to the user; the traceback says which."""
    path = Path(ledger.database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as connection:
        connection.execute("ALTER TABLE traject_person_index RENAME TO old_index")

    with pytest.raises(OperationalError, match="no such table: traject_person_index"):
        ledger(
            "person", "register", "--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY"
        )


def test_an_sqlite_database_without_a_ledger_is_named_so(traject: Traject, tmp_path: Path) -> None:
    """--db naming another program's SQLite database: no ledger there, not a traceback."""
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE notes (x)").connection.close()
    Traject(f"sqlite:///{tmp_path / 'real.db'}", traject.key_file).init()
    for args in (("timeline", "abcdef12"), ("audit", "verify")):
        result = Traject(f"sqlite:///{other}", traject.key_file)(*args)
        assert result.exit_code == 1, result.output
        assert result.stderr == f"Error: no ledger at sqlite:///{other}: run `traject init`\n"


def test_a_read_only_ledger_file_is_an_error_not_a_traceback(ledger: Traject) -> None:
    """A ledger file this user may not write (copied read-only from a backup): the command says
    the database cannot be written, and nothing is recorded."""
    path = Path(ledger.database_url.removeprefix("sqlite:///"))
    before = ledger.event_count()
    path.chmod(0o444)
    result = run_child(
        ledger, without_file_override, "person", "register", "--birth-date", "1990-04-02",
        "--sex", "f", "--nationality", "SY",
    )  # fmt: skip
    path.chmod(0o644)
    assert result.returncode == 1, result.stderr
    assert result.stderr == (
        f"Error: cannot write to database sqlite:///{path}: attempt to write a readonly "
        "database (may this user write the file and its directory?)\n"
    )
    assert ledger.event_count() == before


def test_other_connection_failures_say_the_database_cannot_be_reached() -> None:
    assert database_message(OperationalError("connection refused"), "postgresql://db:5432/t") == (
        "cannot reach database postgresql://db:5432/t: connection refused"
    )


@pytest.mark.parametrize("error", [ValueError("a bug"), ProgrammingError("bad SQL")])
def test_a_bug_is_not_dressed_up_as_an_error_message(error: Exception) -> None:
    result = CliRunner().invoke(group_raising(error), ["fail"])

    # CliRunner catches the exception that would print a traceback
    assert result.exception is error
    assert "Error:" not in result.stderr


def server_error(connection: psycopg.Connection, statement: str) -> OperationalError:
    """The real server's error for ``statement``, wrapped as the event store library wraps it."""
    try:
        connection.execute(statement)  # type: ignore[arg-type]
    except psycopg.OperationalError as error:
        wrapped = OperationalError(error)
        wrapped.__cause__ = error
        return wrapped
    msg = f"the server ran {statement[:40]!r}"
    raise AssertionError(msg)


@pytest.mark.postgres
def test_a_statement_past_a_server_limit_is_a_bug_with_its_traceback(
    postgres_schemas: PostgresSchemas,
) -> None:
    """A program limit exceeded (54xxx: an index row too large, too many columns) means traject
    sent what it should have refused as input: a bug, not "cannot reach database"."""
    columns = ", ".join(["1"] * 1700)  # more than the 1664 a target list may have
    error = server_error(postgres_schemas.connection, f"SELECT {columns}")
    assert getattr(error.__cause__, "sqlstate", None) == "54011"

    result = CliRunner().invoke(group_raising(error), ["fail"])

    assert result.exception is error
    assert "Error:" not in result.stderr


@pytest.mark.postgres
def test_a_connection_the_server_ended_cannot_reach_the_database(
    postgres_schemas: PostgresSchemas,
) -> None:
    admin = postgres_schemas.connection
    with psycopg.connect(admin.info.dsn, autocommit=True) as ended:
        admin.execute("SELECT pg_terminate_backend(%s)", (ended.info.backend_pid,))
        error = server_error(ended, "SELECT 1")

    assert database_message(error, "postgresql://db:5432/t") == (
        f"cannot reach database postgresql://db:5432/t: {str(error.__cause__).strip()}"
    )


@pytest.mark.postgres
def test_a_statement_the_server_cancels_is_refused_not_unreachable(
    cli_postgres_url: str, postgres_schemas: PostgresSchemas, tmp_path: Path
) -> None:
    """A statement_timeout (the server's or the role's, here PGOPTIONS) that cancels a read
    waiting for a lock: the server was reached and said why, exit 1, no traceback."""
    traject = Traject(cli_postgres_url, tmp_path / "traject.key")
    traject.init("--municipality", "GM0622")
    schema = dict(parse_qsl(urlsplit(cli_postgres_url).query))["schema"]
    admin = postgres_schemas.connection
    with admin.transaction():  # another session holds the events until the command gave up
        admin.execute(f'LOCK TABLE "{schema}".traject_events IN ACCESS EXCLUSIVE MODE')  # type: ignore[arg-type]
        result = traject("caseload", PGOPTIONS="-c statement_timeout=300")

    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: the database postgresql://")
    assert result.stderr.endswith(
        " refused the command: canceling statement due to statement timeout (SQLSTATE 57014)\n"
    )


@pytest.mark.slow  # the connection pool waits out its 5-second timeout
def test_an_unreachable_postgresql_server_is_an_error(tmp_path: Path) -> None:
    traject = Traject("postgresql://postgres@127.0.0.1:9/traject", tmp_path / "traject.key")

    result = traject("init")

    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: cannot reach database postgresql://127.0.0.1:9/traject: "
    )
    # the key written for a ledger that could not be created is removed again
    assert not traject.key_file.exists()


def without_room_to_write(limit: int) -> Callable[[], None]:
    """For a child process: no file may grow past ``limit`` bytes (as on a full disk: writes
    fail with an error instead of the signal that would end the process)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize("limit", [0, 1000])
def test_a_disk_that_cannot_take_the_ledger_s_log_is_an_error_not_a_traceback(
    ledger: Traject, limit: int
) -> None:
    """SQLite cannot create the shared-memory file of its write-ahead log when a new
    connection opens it (a full disk): the command says that the database cannot be written
    and that the disk may be full, and nothing is recorded."""
    before = ledger.event_count()
    path = Path(ledger.database_url.removeprefix("sqlite:///"))
    for suffix in ("-wal", "-shm"):  # closed ledgers leave none; make sure
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    result = run_limited(
        ledger, limit, "person", "register", "--birth-date", "1990-04-02", "--sex", "f",
        "--nationality", "SY",
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr == (
        f"Error: cannot write to database sqlite:///{path}: disk I/O error (is its disk full?)\n"
    )
    assert ledger.event_count() == before


def test_a_file_that_is_not_a_ledger_is_named_not_a_traceback(tmp_path: Path) -> None:
    """--db naming another kind of file (the key file, a document) is a user's mistake; a
    damaged database file is named as damaged."""
    other = tmp_path / "notes.db"
    other.write_text("not a database at all\n")
    traject = Traject(f"sqlite:///{other}", tmp_path / "notes.db.key")
    Traject(f"sqlite:///{tmp_path / 'real.db'}", traject.key_file).init()
    result = traject("audit", "verify")
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        f"Error: sqlite:///{other} is not an SQLite database (file is not a database): name "
        "the ledger's file, as `traject init` made it\n"
    )
    damaged = tmp_path / "real.db"
    data = bytearray(damaged.read_bytes())
    data[100:107] = b"garbage"  # inside the first page's header
    damaged.write_bytes(bytes(data))
    result = Traject(f"sqlite:///{damaged}", traject.key_file)("audit", "verify")
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        f"Error: database sqlite:///{damaged} is damaged (database disk image is malformed): "
        "restore it from a backup\n"
    )


def without_file_override() -> None:
    """For a child process: file permissions hold even for root (its capabilities to override
    them are dropped; for any other user they hold anyway)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        libc.prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP: gone from the program exec'd


def run_limited(traject: Traject, limit: int, *args: str) -> subprocess.CompletedProcess[str]:
    """`traject ARGS` in a child process that may not grow any file past ``limit`` bytes."""
    return run_child(traject, without_room_to_write(limit), *args)


def run_child(
    traject: Traject,
    preexec: Callable[[], None] | None,
    *args: str,
    prefix: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """`traject ARGS` in a child process that runs ``preexec`` first (or ``prefix``, a command
    that ends by running the rest of its arguments)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRAJECT_")},
        **{k: v for k, v in traject.env.items() if v is not None},
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [*prefix, sys.executable, str(ROOT / "cli.py"), *args],
        env=env, capture_output=True, text=True, check=False,
        preexec_fn=preexec,
    )  # fmt: skip


def test_a_key_pair_that_cannot_be_written_leaves_no_file_behind(
    traject: Traject, tmp_path: Path
) -> None:
    """keygen never overwrites a key file: an empty one left by a full disk would refuse
    every later try, so a file the command could not finish is removed."""
    private = tmp_path / "auditor.key"
    result = run_limited(traject, 10, "audit", "keygen", "--out", str(private))
    assert result.returncode == 1, result.stderr
    assert result.stderr == f"Error: {private}: cannot write: File too large\n"
    assert not private.exists()
    assert not private.with_suffix(".pub").exists()
    traject.ok("audit", "keygen", "--out", str(private))


def test_an_export_that_cannot_be_written_is_an_error_and_leaves_no_partial_file(
    ledger: Traject, tmp_path: Path
) -> None:
    ledger.ok("generate", "--persons", "20", "--years", "1", "--municipalities", "1")
    out = tmp_path / "export.jsonl"
    result = run_limited(ledger, 40_000, "export", "--output", str(out), "--quiet")
    assert result.returncode == 1, result.stderr
    assert result.stderr == f"Error: {out}: cannot write the export: File too large\n"
    assert not out.exists()
    ledger.ok("export", "--output", str(out), "--quiet")
    assert out.stat().st_size > 40_000


@pytest.mark.parametrize("command", ["checkpoint", "export", "prove"])
def test_an_audit_file_on_a_full_disk_leaves_no_file_behind(
    ledger: Traject, tmp_path: Path, command: str
) -> None:
    """`traject audit checkpoint|export|prove --out` on a full disk: an Error line, and neither
    the file asked for nor a partial one, so that no empty or truncated checkpoint or proof
    passes for a whole one and the next try is not refused by it."""
    person = ledger.register()
    key = str(tmp_path / "auditor.key")
    ledger.ok("audit", "keygen", "--out", key)
    ledger.ok("audit", "checkpoint", "--key", key)
    ledger.ok("record", "ladder-assessed", person, "--on", days_ago(3), "--rung", "2",
              "--assessor", "r.jansen")  # fmt: skip
    full = tmp_path / "full"
    full.mkdir()
    out = full / f"{command}.out"
    args = {
        "checkpoint": ("audit", "checkpoint", "--key", key, "--out", str(out)),
        "export": ("audit", "export", "--out", str(out)),
        "prove": ("audit", "prove", person, "1", "--out", str(out)),
    }[command]

    result, left = run_on_full_disk(ledger, full, *args)

    assert result.returncode == 1, result.stderr
    what = {"checkpoint": "checkpoint", "export": "checkpoint", "prove": "inclusion proof"}
    assert result.stderr == (
        f"Error: {out}: cannot write the {what[command]}: No space left on device\n"
    )
    assert left == ["filler"]  # neither FILE nor FILE.partial on the full disk
    ledger.ok(*args)  # nothing in the way of the next try, with room to write
    assert out.read_text().strip()


def run_on_full_disk(
    traject: Traject, directory: Path, *args: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`traject ARGS` in a child process that sees ``directory`` as a full disk: a 4 kB tmpfs
    mounted over it and filled (``filler``), in user and mount namespaces of the child's own
    (nothing else sees the mount, and it needs no privileges); and the files on that disk
    when the command ended (they go with the mount)."""
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False).returncode:
        pytest.skip("a full disk is made with `unshare -rm` (user and mount namespaces)")
    script = (
        'mount -t tmpfs -o size=4k tmpfs "$0" && head -c 4096 /dev/zero >"$0/filler" || exit 9;'
        ' "$@"; status=$?; echo; echo "left:" $(ls -A "$0"); exit $status'
    )
    prefix = ("unshare", "-rm", "sh", "-c", script, str(directory))
    result = run_child(traject, None, *args, prefix=prefix)
    last = result.stdout.rstrip("\n").rpartition("\n")[2]
    assert last.startswith("left:"), result.stdout
    return result, last.split()[1:]
