"""Fresh PostgreSQL schemas for tests: the one place that connects to the test server."""

from __future__ import annotations

import os
from dataclasses import dataclass
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


class PostgresSchemas:
    """Fresh schemas on the test server, handed out as ledger URLs; all dropped at the end.

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
            reason = f"PostgreSQL is not reachable at {where}: {error}"
            if in_ci():
                pytest.fail(f"{reason} (CI is set: PostgreSQL tests must run)")
            pytest.skip(reason)
        self.created: list[str] = []

    def create(self, schema: str) -> str:
        """Create ``schema`` and return the ledger URL that uses it."""
        self.connection.execute(f'CREATE SCHEMA "{schema}"')
        self.created.append(schema)
        query = [(k, v) for k, v in parse_qsl(self.parts.query) if k != "schema"]
        return urlunsplit(self.parts._replace(query=urlencode([*query, ("schema", schema)])))

    def fresh(self, prefix: str) -> str:
        return self.create(f"{prefix}_{uuid4().hex[:12]}")

    def drop_all(self) -> None:
        # DROP SCHEMA does not fire the append-only triggers (they refuse DELETE/TRUNCATE only).
        for schema in self.created:
            self.connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        self.connection.close()
