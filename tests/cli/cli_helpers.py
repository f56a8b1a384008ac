"""Helpers for the CLI tests: `traject` run in-process by CliRunner against a SQLite file.

Every invocation builds a fresh application, as the installed command does, so the ledger is a
file under ``tmp_path`` (an in-memory database would vanish between invocations). The
environment is passed to each invocation; ``os.environ`` is never changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import pytest
from click.testing import CliRunner, Result
from pg_schemas import PostgresSchemas

from cli import cli
from ledger import events as ev
from ledger.aggregates import dutch_day
from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.crypto import read_key_file

# Settings a developer's shell may hold; each test states its own, and unsets the rest.
TRAJECT_VARIABLES = (
    "TRAJECT_DATABASE_URL",
    "TRAJECT_DB",
    "TRAJECT_KEY_FILE",
    "TRAJECT_MASTER_KEY",
    "TRAJECT_USER",
    "TRAJECT_JSON",
)


def days_ago(days: int) -> str:
    """A date ``days`` before today in the ledger's time zone (Europe/Amsterdam), the day from
    which the ledger counts a recording's delay and refuses dates in the future."""
    return (dutch_day(datetime.now(UTC)) - timedelta(days=days)).isoformat()


def now() -> str:
    """This moment, for an --as-known-at that means "everything recorded so far" (a moment
    in the future is refused)."""
    return datetime.now(UTC).isoformat()


@dataclass
class Traject:
    """Runs `traject …` against one ledger and answers questions about what it holds."""

    database_url: str
    key_file: Path
    extra_env: dict[str, str | None] = field(default_factory=dict)
    runner: CliRunner = field(default_factory=CliRunner)

    @property
    def env(self) -> dict[str, str | None]:
        env: dict[str, str | None] = dict.fromkeys(TRAJECT_VARIABLES)
        env |= {
            "TRAJECT_DATABASE_URL": self.database_url,
            "TRAJECT_KEY_FILE": str(self.key_file),
            "TRAJECT_USER": "r.jansen",
            "COLUMNS": "120",
        }
        return env | self.extra_env

    def __call__(self, *args: str, input: str | None = None, **env: str | None) -> Result:
        """Run ``traject ARGS``; a bug's exception propagates instead of being captured."""
        return self.runner.invoke(
            cli, list(args), env=self.env | env, input=input, catch_exceptions=False
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start the installed `traject ARGS` as a process of its own (stdout and stderr
        captured), for tests of several processes on one ledger at once."""
        env = {k: v for k, v in {**os.environ, **self.env}.items() if v is not None}
        command = [str(Path(sys.executable).with_name("traject")), *args]
        return subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def ok(self, *args: str, **env: str | None) -> Result:
        """Run a command that must succeed."""
        result = self(*args, **env)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok("--json", *args).stdout)

    def init(self, *args: str) -> Result:
        return self.ok("init", *args)

    def register(self, *args: str) -> str:
        """Register an invented person and return the new person id."""
        options = args or ("--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY")
        return str(self.json("person", "register", "--on", days_ago(20), *options)["stream_id"])

    def assessed_person(self, rung: str = "3") -> str:
        """A person whose version 2 is a ladder assessment (rung ``rung``, five days ago)."""
        person = self.register()
        self.ok("record", "ladder-assessed", person, "--on", days_ago(5), "--rung", rung,
                "--assessor", "r.jansen")  # fmt: skip
        return person

    def linked_person(self) -> str:
        """A person with an asylum permit and an active COA koppeling to GM0622."""
        person = self.register()
        self.ok(
            "record",
            "residence-permit-recorded",
            person,
            "--on",
            days_ago(20),
            "--permit-kind",
            "asiel_bt",
        )
        self.ok(
            "record", "coa-linked", person, "--on", days_ago(15), "--taakstelling-period", "2024H1"
        )
        return person

    def event_count(self) -> int:
        """How many events the ledger holds (SQLite notification ids have no gaps)."""
        app = open_app(self)
        try:
            return app.recorder.max_notification_id() or 0
        finally:
            app.close()


@contextmanager
def write_lock_held(database: Path) -> Iterator[None]:
    """Another process's write lock on the SQLite file ``database`` (in WAL mode, as traject
    keeps it; created if missing), held until the block ends: traject's writers wait for it,
    so that several commands started meanwhile reach the same point before any goes on."""
    with closing(sqlite3.connect(database, isolation_level=None)) as other:
        other.execute("PRAGMA journal_mode = WAL")
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("ROLLBACK")


def wait_for_files(paths: Sequence[Path], seconds: float = 30) -> None:
    """Wait until every file of ``paths`` exists (commands started meanwhile wrote them)."""
    deadline = time.monotonic() + seconds
    while not all(path.exists() for path in paths):
        assert time.monotonic() < deadline, f"not written within {seconds} s: {paths}"
        time.sleep(0.01)


def refused(traject: Traject, *args: str, stderr: str) -> None:
    """Run a command the ledger must refuse: exit 1, the message, nothing written."""
    before = traject.event_count()
    result = traject(*args)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: {stderr}\n", result.stderr
    assert traject.event_count() == before


def open_app(traject: Traject) -> TrajectoryLedger:
    """The ledger ``traject`` runs against, opened in the test's process (tables exist)."""
    env = {**parse_database_url(traject.database_url).library_env, "CREATE_TABLE": "no"}
    return TrajectoryLedger(env, read_key_file(traject.key_file))


def initialised_ledger(request: pytest.FixtureRequest, tmp_path: Path, schema: str) -> Traject:
    """A ledger initialised for GM0622: on a SQLite file when the fixture's param is "sqlite",
    else in a fresh PostgreSQL schema named after ``schema``."""
    if request.param == "sqlite":
        traject = Traject(f"sqlite:///{tmp_path / 'traject.db'}", tmp_path / "traject.key")
    else:
        schemas: PostgresSchemas = request.getfixturevalue("postgres_schemas")
        traject = Traject(schemas.fresh(schema), tmp_path / "traject.key")
    traject.init("--municipality", "GM0622")
    return traject


def canonical_sha256(data: Any) -> str:
    """SHA-256 of ``data`` as canonical JSON (sorted keys, compact, UTF-8), computed here with
    the standard library, apart from the ledger's own code."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def outflow_person(app: TrajectoryLedger) -> UUID:
    """An invented person registered in GM0622 on 2 January 2024."""
    return app.register_person(
        occurred_on=date(2024, 1, 2),
        birth_date=date(1990, 4, 2),
        sex="m",
        nationality=["ER"],
        municipality="GM0622",
    ).stream_id


def start_outflow(app: TrajectoryLedger, pid: UUID, on: date, kind: str) -> int:
    """Record an outflow start; returns its version in the person's stream."""
    return app.record(pid, ev.OutflowStarted, occurred_on=on, outflow_type=kind).version


def as_user(url: str, user: str) -> str:
    """The PostgreSQL ledger URL ``url``, connecting as ``user`` (no password: trust auth)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    return urlunsplit(parts._replace(netloc=f"{user}@{host}:{parts.port or 5432}"))


def dsn(url: str) -> str:
    """A ledger URL without traject's ``?schema=``: what psycopg connects with."""
    return urlunsplit(urlsplit(url)._replace(query=""))


def imported_with_rejects(
    traject: Traject, source: Path, lines: Sequence[dict[str, Any]], *, dry_run: bool
) -> tuple[Result, list[str]]:
    """Write ``lines`` to ``source`` as JSON lines and import them (or check them, ``dry_run``),
    some lines refused (exit 1): the result, and its reject lines (``FILE:LINE: field: …``)."""
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = traject("import", *(["--dry-run"] if dry_run else []), str(source))
    assert result.exit_code == 1, result.output
    return result, [line for line in result.stderr.splitlines() if line.startswith(f"{source}:")]


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def project_registration(on: str, *more: str) -> tuple[str, ...]:
    """`traject record project-registered MWP` with every required option (and ``more``)."""
    return (
        "record", "project-registered", "MWP", "--on", on, "--title", "T", "--fund", "AMIF_2127",
        "--beneficiary", "B", "--beneficiary-kind", "gemeente", "--grant-ref", "G",
        "--eligibility-from", "2024-01-01", "--eligibility-to", "2027-12-31",
        "--cofin-rate", "0.75", "--target-total", "10", *more,
    )  # fmt: skip
