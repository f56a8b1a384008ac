"""Fresh PostgreSQL schemas and databases for tests: the one place that connects to the server."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import uuid4

import psycopg
import pytest


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def relation_bytes(connection: psycopg.Connection, relation: str) -> bytes:
    """What the server's file of ``relation`` (a table, schema-qualified) holds on disk.

    A ``CHECKPOINT`` first writes every changed page out, so the file shows what a copy of the
    data directory would. Both need a superuser (the test user is one).
    """
    connection.execute("CHECKPOINT")
    row = connection.execute(
        "SELECT pg_read_binary_file(current_setting('data_directory') || '/'"
        " || pg_relation_filepath(%s))",
        [relation],
    ).fetchone()
    assert row is not None
    return bytes(row[0])


@dataclass
class TableFile:
    """A table's file on the test server, to look in for bytes that must be gone."""

    connection: psycopg.Connection
    relation: str  # schema-qualified

    def holds(self, data: bytes) -> bool:
        return data in relation_bytes(self.connection, self.relation)


def unavailable(reason: str) -> NoReturn:
    """Skip the test with ``reason``, or fail it when ``CI`` is set."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: PostgreSQL tests must run)")
    pytest.skip(reason)


def psql_script(dump: Path) -> bytes:
    """The gzipped plain SQL dump ``dump`` as psql is to read it.

    pg_dump since 15.14 (16.10, 17.6) brackets its output in ``\\restrict KEY`` and
    ``\\unrestrict KEY``, which only stop a dump from a hostile server from running psql
    commands; psql before those releases refuses them as unknown. The dumps restored here are
    the project's own, so the two lines are left out and any psql reads the rest.
    """
    with gzip.open(dump) as packed:
        lines = packed.read().splitlines(keepends=True)
    return b"".join(
        line for line in lines if not line.startswith((b"\\restrict ", b"\\unrestrict "))
    )


class PostgresSchemas:
    """Fresh schemas on the test server, handed out as ledger URLs; all dropped at the end (and
    fresh databases holding a dump, dropped when the test is done with them).

    The one place that connects to the test server: it skips with a reason when the server is
    unreachable, and fails when ``CI`` is set.
    """

    def __init__(self, base_url: str) -> None:
        self.parts = urlsplit(base_url)
        try:
            self.connection = psycopg.connect(
                urlunsplit(self.parts._replace(query="")), autocommit=True, connect_timeout=5
            )
        except psycopg.OperationalError as error:
            where = f"{self.parts.hostname}:{self.parts.port or 5432}"
            unavailable(f"PostgreSQL is not reachable at {where}: {error}")
        self.created: list[str] = []

    def create(self, schema: str) -> str:
        """Create ``schema`` and return the ledger URL that uses it."""
        self.connection.execute(f'CREATE SCHEMA "{schema}"')
        self.created.append(schema)
        return self.ledger_url(schema)

    def ledger_url(self, schema: str, database: str | None = None) -> str:
        """The test server's URL naming ``schema`` (and ``database`` instead of its own)."""
        parts = self.parts if database is None else self.parts._replace(path=f"/{database}")
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"]
        return urlunsplit(parts._replace(query=urlencode([*query, ("schema", schema)])))

    def fresh(self, prefix: str) -> str:
        return self.create(f"{prefix}_{uuid4().hex[:12]}")

    @contextmanager
    def restored(self, prefix: str, dump: Path, schema: str) -> Iterator[str]:
        """``dump`` restored into a fresh database, as the ledger URL of its ``schema``; the
        database is dropped when the block ends.

        ``dump`` is a gzipped plain SQL dump of one schema written by ``pg_dump --schema NAME
        --no-owner --no-privileges``: it names no database, owner or role, so it restores into
        a database named ``prefix_<random>``, created here from ``template0``, as whoever the
        test server's URL connects as. psql reads it in one transaction and stops at the first
        error. The schema keeps its name: a dump names it in function bodies too.
        """
        psql = shutil.which("psql")
        if psql is None:
            unavailable("psql, PostgreSQL's client, is not installed: it restores the dumps")
        name = f"{prefix}_{uuid4().hex[:12]}"
        self.connection.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        try:
            command = [psql, "--no-psqlrc", "--no-password", "--quiet", "--single-transaction"]
            command += ["--set", "ON_ERROR_STOP=1"]
            command += ["--dbname", urlunsplit(self.parts._replace(path=f"/{name}", query=""))]
            script = psql_script(dump)
            done = subprocess.run(command, input=script, capture_output=True, check=False)
            assert done.returncode == 0, f"psql did not restore {dump}: {done.stderr.decode()}"
            yield self.ledger_url(schema, name)
        finally:
            # FORCE: a connection the test left open must not keep the database
            self.connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_all(self) -> None:
        # DROP SCHEMA does not fire the append-only triggers (they refuse DELETE/TRUNCATE only).
        for schema in self.created:
            self.connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        self.connection.close()
