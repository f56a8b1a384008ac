"""`traject admin roles`: the server enforces what staff, analysts and auditors may do.

Each test user is a LOGIN role that is a member of one group role, connecting over TCP to the
real server; the assertions are the server's own answers (permission denied, or rows).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import psycopg
import pytest
from cli_helpers import Traject
from pg_schemas import PostgresSchemas

from ledger.roles import ANALYST, AUDITOR, STAFF

pytestmark = pytest.mark.postgres


def as_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    return urlunsplit(parts._replace(netloc=f"{user}@{host}:{parts.port or 5432}"))


def dsn(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(query=""))


@pytest.fixture
def ledger_with_roles(
    postgres_schemas: PostgresSchemas, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """A PostgreSQL ledger with a person and built read models; roles granted; login users."""
    url = postgres_schemas.fresh("traject_roles")
    schema = postgres_schemas.created[-1]
    owner = Traject(url, tmp_path / "traject.key")
    owner.init("--municipality", "GM0622")
    owner.linked_person()
    owner.ok("report", "outflow", "--period", "2024H1")  # builds the read models
    grants = owner.json("admin", "roles")
    users = {role: f"{role}_{uuid4().hex[:8]}" for role in (STAFF, ANALYST, AUDITOR)}
    admin = postgres_schemas.connection
    for role, user in users.items():
        admin.execute(f"CREATE ROLE {user} LOGIN IN ROLE {role}")
    try:
        yield {"url": url, "schema": schema, "owner": owner, "users": users, "grants": grants}
    finally:
        for user in users.values():
            admin.execute(f"DROP OWNED BY {user}")
            admin.execute(f"DROP ROLE IF EXISTS {user}")


def run(url: str, user: str, sql: str) -> str:
    """``ok`` with the rows' count, or the server's refusal as ``denied: <message>``."""
    with psycopg.connect(dsn(as_user(url, user)), autocommit=True) as connection:
        try:
            rows = connection.execute(sql).fetchall() if sql.startswith("SELECT") else []
            if not sql.startswith("SELECT"):
                connection.execute(sql)
        except psycopg.Error as error:
            return f"denied: {error}"
    return f"ok {len(rows)}"


def test_staff_appends_and_reads_but_cannot_change_or_alter(
    ledger_with_roles: dict[str, Any],
) -> None:
    url, s, user = (
        ledger_with_roles["url"],
        ledger_with_roles["schema"],
        ledger_with_roles["users"][STAFF],
    )
    events = f'"{s}".traject_events'
    assert run(url, user, f"SELECT * FROM {events}").startswith("ok")
    staff = Traject(as_user(url, user), ledger_with_roles["owner"].key_file)
    staff.register()  # appends through traject
    refused = staff("admin", "roles")
    assert refused.exit_code == 1
    assert "must run as the owner" in refused.stderr
    assert "append-only" in run(url, user, f"UPDATE {events} SET topic = topic")
    assert "permission denied" in run(url, user, f"DELETE FROM {events}")
    assert "permission denied" in run(url, user, f"TRUNCATE {events}")
    assert "must be owner" in run(url, user, f"ALTER TABLE {events} ADD COLUMN x int")
    assert "must be owner" in run(url, user, f'DROP TABLE "{s}".outflow_facts')
    assert "must be owner" in run(url, user, f"DROP TRIGGER traject_events_append_only ON {events}")
    assert "permission denied" in run(url, user, f'CREATE TABLE "{s}".mine (x int)')
    assert "permission denied" in run(
        url, user, f"UPDATE \"{s}\".traject_leaves SET leaf_hash = ''"
    )


def test_analyst_reads_read_models_only(ledger_with_roles: dict[str, Any]) -> None:
    url, s, user = (
        ledger_with_roles["url"],
        ledger_with_roles["schema"],
        ledger_with_roles["users"][ANALYST],
    )
    assert run(url, user, f'SELECT * FROM "{s}".outflow_facts').startswith("ok")
    assert run(url, user, f'SELECT * FROM "{s}".traject_projection_state').startswith("ok")
    for table in (
        "traject_events",
        "traject_data_keys",
        "traject_person_index",
        "traject_settings",
        "traject_leaves",
    ):
        assert "permission denied" in run(url, user, f'SELECT * FROM "{s}".{table}'), table
    assert "permission denied" in run(url, user, f'DELETE FROM "{s}".outflow_facts')
    # a rebuild makes new tables: the analyst still reads them
    ledger_with_roles["owner"].ok("projections", "rebuild", "outflow")
    assert run(url, user, f'SELECT * FROM "{s}".outflow_facts').startswith("ok")
    assert "traject_events" not in ledger_with_roles["grants"][ANALYST]


def test_auditor_reads_everything_writes_nothing_and_verifies(
    ledger_with_roles: dict[str, Any], tmp_path: Path
) -> None:
    url, s, user = (
        ledger_with_roles["url"],
        ledger_with_roles["schema"],
        ledger_with_roles["users"][AUDITOR],
    )
    owner = ledger_with_roles["owner"]
    owner.ok("audit", "keygen", "--out", str(tmp_path / "a.key"))
    owner.ok("audit", "checkpoint", "-q", "--key", str(tmp_path / "a.key"))
    for table in ("traject_events", "traject_data_keys", "outflow_facts", "traject_leaves"):
        assert run(url, user, f'SELECT * FROM "{s}".{table}').startswith("ok"), table
    assert "permission denied" in run(
        url, user, f"INSERT INTO \"{s}\".traject_settings VALUES ('a', 'b')"
    )
    assert "permission denied" in run(url, user, f'DELETE FROM "{s}".traject_checkpoints')
    auditor = Traject(as_user(url, user), owner.key_file)
    result = auditor("audit", "verify", "-q", "--public-key", str(tmp_path / "a.pub"))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("verified 3 events against 1 checkpoints")


def test_roles_need_postgresql(ledger: Traject) -> None:
    result = ledger("admin", "roles")
    assert result.exit_code == 1
    assert "database roles need PostgreSQL" in result.stderr
