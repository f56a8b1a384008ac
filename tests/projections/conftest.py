"""Projection fixtures: ledgers on fresh SQLite files and on fresh PostgreSQL schemas.

Every PostgreSQL test gets a schema of its own (``proj_<random>``, dropped at the end of the run),
because the events table is append-only and the projections must start from an empty log.
PostgreSQL tests skip with a reason when the server is unreachable, and fail when ``CI`` is set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pg_schemas import PostgresSchemas

from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.crypto import generate_master_key
from projections import Views

SchemaFactory = Callable[[], str]
LedgerFactory = Callable[[str], TrajectoryLedger]


@pytest.fixture(scope="session")
def projection_key() -> bytes:
    return generate_master_key()


@pytest.fixture(scope="session")
def projection_pg(postgres_schemas: PostgresSchemas) -> SchemaFactory:
    """A factory of fresh PostgreSQL schemas (as ledger URLs), all dropped at the end."""
    return lambda: postgres_schemas.fresh("proj")


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
