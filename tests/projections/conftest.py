"""Projection fixtures: ledgers on fresh SQLite files and on fresh PostgreSQL schemas.

Every PostgreSQL test gets a schema of its own (``proj_<random>``, dropped at the end of the run),
because the events table is append-only and the projections must start from an empty log.
PostgreSQL tests skip with a reason when the server is unreachable, and fail when ``CI`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import uuid4

import psycopg
import pytest

from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.crypto import generate_master_key
from projections import Views

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"

SchemaFactory = Callable[[], str]
LedgerFactory = Callable[[str], TrajectoryLedger]


@pytest.fixture(scope="session")
def projection_key() -> bytes:
    return generate_master_key()


@pytest.fixture(scope="session")
def projection_pg() -> Iterator[SchemaFactory]:
    """A factory of fresh PostgreSQL schemas (as ledger URLs), all dropped at the end."""
    base = os.environ.get("TRAJECT_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    parts = urlsplit(base)
    try:
        connection = psycopg.connect(
            urlunsplit(parts._replace(query="")), autocommit=True, connect_timeout=5
        )
    except psycopg.OperationalError as error:
        reason = f"PostgreSQL is not reachable at {parts.hostname}:{parts.port or 5432}: {error}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set: PostgreSQL tests must run)")
        pytest.skip(reason)
    schemas: list[str] = []

    def fresh() -> str:
        schema = f"proj_{uuid4().hex[:12]}"
        connection.execute(f'CREATE SCHEMA "{schema}"')
        schemas.append(schema)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"]
        return urlunsplit(parts._replace(query=urlencode([*query, ("schema", schema)])))

    try:
        yield fresh
    finally:
        for schema in schemas:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        connection.close()


@pytest.fixture
def make_ledger(projection_key: bytes) -> Iterator[LedgerFactory]:
    """Open (and initialise) ledgers on given URLs; all are closed after the test."""
    opened: list[TrajectoryLedger] = []

    def make(url: str) -> TrajectoryLedger:
        app = TrajectoryLedger(parse_database_url(url).library_env, projection_key)
        opened.append(app)
        app.initialise(default_municipality="GM0622")
        return app

    yield make
    for app in opened:
        app.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'traject.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store: an SQLite file, or a PostgreSQL schema of this test's own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'traject.db'}"
    fresh: SchemaFactory = request.getfixturevalue("projection_pg")
    return fresh()


@pytest.fixture
def ledger(make_ledger: LedgerFactory, store_url: str) -> TrajectoryLedger:
    """The ledger on SQLite and on PostgreSQL, initialised for GM0622, with no events."""
    return make_ledger(store_url)


@pytest.fixture
def views(ledger: TrajectoryLedger) -> Views:
    return Views(ledger)
