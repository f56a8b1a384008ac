"""Shared fixtures: the master key, a SQLite file, a PostgreSQL schema and the ledger per backend.

PostgreSQL tests use one fresh schema per test run (dropped at the end) and isolate themselves
by unique ids: the events table is append-only, so rows are never deleted between tests. They
skip with a reason when the server is unreachable, but fail when ``CI`` is set.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from pg_schemas import PostgresSchemas, relation_bytes

from ledger.application import TrajectoryLedger
from ledger.config import StoreConfig, parse_database_url
from ledger.crypto import generate_master_key

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"

settings.register_profile(
    "ci",
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "dev",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",  # for a manual hunt: pytest --hypothesis-profile=thorough
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def master_key() -> bytes:
    """One master key for the run: the PostgreSQL schema is shared by all tests."""
    return generate_master_key()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'traject.db'}"


@pytest.fixture(scope="session")
def postgres_base_url() -> str:
    return os.environ.get("TRAJECT_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def postgres_schema() -> str:
    return f"traject_test_{uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def postgres_schemas(postgres_base_url: str) -> Iterator[PostgresSchemas]:
    schemas = PostgresSchemas(postgres_base_url)
    try:
        yield schemas
    finally:
        schemas.drop_all()


@pytest.fixture(scope="session")
def postgres_url(postgres_schemas: PostgresSchemas, postgres_schema: str) -> str:
    """The test run's PostgreSQL ledger URL, ``…?schema=traject_test_<random>``."""
    return postgres_schemas.create(postgres_schema)


@pytest.fixture(scope="session")
def pg(postgres_schemas: PostgresSchemas, postgres_url: str) -> psycopg.Connection:
    """One autocommit connection for the whole run (the run's schema exists once it is given)."""
    return postgres_schemas.connection


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


LedgerFactory = Callable[..., TrajectoryLedger]


@pytest.fixture
def make_app(database_url: str, master_key: bytes) -> Iterator[LedgerFactory]:
    """Build ledgers on the test's store (a second writer, a reader, another master key)."""
    apps: list[TrajectoryLedger] = []

    def make(key: bytes | None = None, *, initialise: bool = True) -> TrajectoryLedger:
        ledger = TrajectoryLedger(parse_database_url(database_url).library_env, key or master_key)
        apps.append(ledger)
        if initialise:
            ledger.initialise(default_municipality="GM0622")
        return ledger

    yield make
    for ledger in apps:
        ledger.close()


@pytest.fixture
def app(make_app: LedgerFactory) -> TrajectoryLedger:
    """The trajectory ledger on SQLite and on PostgreSQL, initialised for GM0622."""
    return make_app()


@dataclass
class RawStore:
    """Direct SQL on the test's store, beside the application (for what users must not see)."""

    config: StoreConfig
    pg: psycopg.Connection | None = None

    @property
    def schema(self) -> str | None:
        return self.config.library_env.get("POSTGRES_SCHEMA")

    @property
    def events_table(self) -> str:
        return "stored_events" if self.pg is None else f'"{self.schema}".traject_events'

    @property
    def prefix(self) -> str:
        return "" if self.pg is None else f'"{self.schema}".'

    def files(self) -> list[Path]:
        """The SQLite database file and its -wal/-shm companions."""
        assert self.config.sqlite_path is not None
        path = self.config.sqlite_path
        return sorted(p for p in path.parent.iterdir() if p.name.startswith(path.name))

    def files_holding(self, data: bytes, table: str = "traject_data_keys") -> list[str]:
        """The store's files that contain ``data``: on SQLite the database file and its
        -wal/-shm, on PostgreSQL ``table``'s file (after a checkpoint)."""
        if self.pg is None:
            return [path.name for path in self.files() if data in path.read_bytes()]
        return [table] if data in relation_bytes(self.pg, f"{self.prefix}{table}") else []

    def stream_key(self, stream_id: Any) -> Any:
        # the SQLite recorder stores ids as 32 hex digits, PostgreSQL as uuid
        return stream_id.hex if self.pg is None else stream_id

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run ``sql`` ({events} and {p} name the tables; ? is the placeholder)."""
        sql = sql.format(events=self.events_table, p=self.prefix)
        if self.pg is None:
            assert self.config.sqlite_path is not None
            with closing(sqlite3.connect(self.config.sqlite_path)) as connection, connection:
                return connection.execute(sql, list(params)).fetchall()
        cursor = self.pg.execute(sql.replace("?", "%s"), list(params))
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def raw(backend: str, database_url: str, request: pytest.FixtureRequest) -> RawStore:
    config = parse_database_url(database_url)
    if backend == "sqlite":
        return RawStore(config)
    return RawStore(config, request.getfixturevalue("pg"))
