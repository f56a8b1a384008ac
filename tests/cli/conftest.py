"""CLI fixtures: a fresh SQLite ledger per test, and a PostgreSQL schema of a test's own."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import Traject
from pg_schemas import PostgresSchemas


@pytest.fixture
def traject(tmp_path: Path) -> Traject:
    """`traject` on a SQLite file in tmp_path, not initialised yet."""
    return Traject(f"sqlite:///{tmp_path / 'traject.db'}", tmp_path / "traject.key")


@pytest.fixture
def ledger(traject: Traject) -> Traject:
    """`traject` on an initialised ledger whose default municipality is GM0622."""
    traject.init("--municipality", "GM0622")
    return traject


@pytest.fixture
def cli_postgres_url(postgres_schemas: PostgresSchemas) -> str:
    """A PostgreSQL URL with a schema of this test's own (dropped at the end of the run)."""
    return postgres_schemas.fresh("traject_cli")
