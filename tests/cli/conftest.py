"""CLI fixtures: a fresh SQLite ledger per test, and a PostgreSQL schema of a test's own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import uuid4

import psycopg
import pytest
from cli_helpers import Traject

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


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
def cli_postgres_url() -> Iterator[str]:
    """A PostgreSQL URL with a schema of this test's own, dropped afterwards.

    Skips with a reason when the server cannot be reached, unless CI is set: then it fails.
    """
    base = os.environ.get("TRAJECT_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    parts = urlsplit(base)
    schema = f"traject_cli_{uuid4().hex[:12]}"
    try:
        connection = psycopg.connect(
            urlunsplit(parts._replace(query="")), autocommit=True, connect_timeout=5
        )
    except psycopg.OperationalError as error:
        reason = f"PostgreSQL is not reachable at {parts.hostname}:{parts.port or 5432}: {error}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set: PostgreSQL tests must run)")
        pytest.skip(reason)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"] + [("schema", schema)]
    try:
        yield urlunsplit(parts._replace(query=urlencode(query)))
    finally:
        # DROP SCHEMA is not refused by the append-only triggers (they guard DELETE/TRUNCATE)
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        connection.close()
