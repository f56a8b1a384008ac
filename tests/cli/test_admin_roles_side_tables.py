"""`traject admin roles`: staff change the side tables only as their own commands need.

Staff record, correct, retract, import, erase and catch up read models as a login user of
``traject_staff``; the same user's own SQL may change no other column or setting, and the
server says so (permission denied, or a row-level security violation).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from builders import fresh_bsn
from cli_helpers import Traject, as_user, days_ago, dsn, open_app
from pg_schemas import PostgresSchemas
from test_admin_roles import roles_and_users, run

from ledger.application import LEDGER_ID_SETTING
from ledger.audit import ORIGIN_SETTING
from ledger.persistence import MASTER_KEY_CHECK, PURGE_PENDING
from ledger.roles import AUDITOR, STAFF

pytestmark = pytest.mark.postgres

ERASABLE = ("--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY", "--name", "Noor")
"""A registration of a person whose case is closed twelve years ago: retention has ended."""
OWNERS_SETTINGS = (MASTER_KEY_CHECK, "default_municipality", LEDGER_ID_SETTING, ORIGIN_SETTING)
"""Settings only the owner changes (`traject init`, the first checkpoint)."""
ROW_REFUSED = "new row violates row-level security policy"


def settings(url: str, schema: str) -> dict[str, str]:
    with psycopg.connect(dsn(url), autocommit=True) as owner:
        rows = owner.execute(f'SELECT name, value FROM "{schema}".traject_settings').fetchall()
    return {str(name): str(value) for name, value in rows}


def erasable(traject: Traject, *more: str) -> str:
    person = traject.register(*ERASABLE, *more)
    traject.ok("record", "case-closed", person, "--on", days_ago(365 * 12), "--reason", "moved")
    return person


def imported(traject: Traject, tmp_path: Path, bsn: str) -> str:
    """A person imported under the external key C-1001 (a bulk append), case closed long ago."""
    source = tmp_path / "clients.jsonl"
    records: list[dict[str, Any]] = [
        {"kind": "person-registered", "person": "C-1001", "occurred_on": "2013-01-10",
         "birth_date": "1990-04-02", "sex": "f", "nationality": ["SY"], "bsn": bsn},
        {"kind": "case-closed", "person": "C-1001", "occurred_on": days_ago(365 * 12),
         "reason": "moved"},
    ]  # fmt: skip
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    traject.ok("import", str(source))
    app = open_app(traject)
    try:
        person = app.tables.person_by_external_ref("C-1001")
    finally:
        app.close()
    assert person is not None
    return str(person)


def test_staff_commands_work_and_their_sql_changes_nothing_else(
    postgres_schemas: PostgresSchemas, tmp_path: Path
) -> None:
    with roles_and_users(postgres_schemas, tmp_path, reported=True) as ledger:
        url, s, owner = ledger["url"], ledger["schema"], ledger["owner"]
        user = ledger["users"][STAFF]
        staff = Traject(as_user(url, user), owner.key_file)
        grants = ledger["grants"][STAFF]
        assert grants["traject_person_index"] == ["SELECT", "INSERT", "UPDATE (bsn_digest)"]
        assert grants["traject_data_keys"] == ["SELECT", "INSERT", "UPDATE (wrapped, shredded_at)"]
        assert grants["traject_settings"] == [
            "SELECT",
            f"UPDATE (value) WHERE (name = '{PURGE_PENDING}'::text)",
        ]
        for table in ("traject_idempotency", "traject_stream_links"):
            assert grants[table] == ["SELECT", "INSERT"], table
        assert grants["traject_external_refs"] == ["SELECT", "INSERT", "DELETE"]

        # every command staff run: record, correct (a BSN moves), retract, import, erase
        # (twice: the mark awaiting a purge the owner made is set, then changed), catch up,
        # checkpoint
        old, new = fresh_bsn(), fresh_bsn()
        person = erasable(staff, "--bsn", old)
        staff.ok("correct", person, "1", "--set", f"bsn={new}", "--reason", "typo")
        assert staff.json("person", "find", "--bsn", new)["person_id"] == person
        assessed = staff.assessed_person()
        staff.ok("retract", assessed, "2", "--reason", "wrong person")
        client = imported(staff, tmp_path, fresh_bsn())
        for erased in (person, client):
            result = staff("person", "shred", erased, "--approved-by", "privacy officer", "--yes")
            assert result.exit_code == 0, result.output
            assert staff.json("person", "show", erased)["erased"] is True
        staff.ok("report", "ladder")
        staff.ok("report", "outflow", "--period", "2024H1")
        staff.ok("audit", "keygen", "--out", str(tmp_path / "a.key"))
        staff.ok("audit", "checkpoint", "-q", "--key", str(tmp_path / "a.key"))
        before = settings(url, s)
        assert PURGE_PENDING in before
        assert set(OWNERS_SETTINGS) <= set(before)
        with psycopg.connect(dsn(url), autocommit=True) as admin:
            refs = admin.execute(f'SELECT count(*) FROM "{s}".traject_external_refs').fetchone()
            digests = admin.execute(
                f'SELECT bsn_digest FROM "{s}".traject_person_index WHERE person_id = ANY(%s)',
                [[person, client]],
            ).fetchall()
        assert refs == (0,)
        assert digests == [(None,), (None,)]

        # the same user's own SQL: no other column, no other setting, no other table
        for table, column in (
            ("traject_settings", "name"),
            ("traject_data_keys", "subject"),
            ("traject_data_keys", "created_at"),
            ("traject_person_index", "person_id"),
            ("traject_person_index", "registered_at"),
            ("traject_idempotency", "version"),
            ("traject_external_refs", "person_id"),
            ("traject_stream_links", "target"),
            ("traject_stream_links", "stream_id"),
            ("traject_projection_rebuilds", "run_id"),
            ("traject_checkpoints", "text"),
            ("traject_leaves", "leaf_hash"),
        ):
            sql = f'UPDATE "{s}".{table} SET {column} = {column}'
            assert "permission denied" in run(url, user, sql), sql
        for table in (
            "traject_settings",
            "traject_data_keys",
            "traject_person_index",
            "traject_idempotency",
            "traject_stream_links",
        ):
            sql = f'DELETE FROM "{s}".{table}'
            assert "permission denied" in run(url, user, sql), sql
        for name in OWNERS_SETTINGS:
            sql = f"UPDATE \"{s}\".traject_settings SET value = 'x' WHERE name = '{name}'"
            assert ROW_REFUSED in run(url, user, sql), name
            upsert = (
                f"INSERT INTO \"{s}\".traject_settings VALUES ('{name}', 'x')"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value"
            )
            assert "permission denied" in run(url, user, upsert), name
        assert ROW_REFUSED in run(url, user, f"UPDATE \"{s}\".traject_settings SET value = 'x'")
        assert settings(url, s) == before
        # the one row an erasure changes stays open to staff's SQL, as it must to their erasure
        sql = f"UPDATE \"{s}\".traject_settings SET value = value WHERE name = '{PURGE_PENDING}'"
        assert run(url, user, sql) == "ok 0"
        # and the owner is not subject to row-level security
        owner.ok("admin", "purge-erased")
        assert settings(url, s)[PURGE_PENDING] == ""


def test_roles_revoke_what_an_earlier_release_granted_and_stay_the_same_when_rerun(
    postgres_schemas: PostgresSchemas, tmp_path: Path
) -> None:
    """An earlier release granted staff ``UPDATE`` on every table but the integrity log's, and
    by default on every table made later, without row-level security: re-running `admin roles`
    takes that back, and gives the same grants each time."""
    with roles_and_users(postgres_schemas, tmp_path, reported=True) as ledger:
        url, s, owner = ledger["url"], ledger["schema"], ledger["owner"]
        user = ledger["users"][STAFF]
        with psycopg.connect(dsn(url), autocommit=True) as admin:
            admin.execute(f'GRANT UPDATE ON ALL TABLES IN SCHEMA "{s}" TO {STAFF}')
            admin.execute(
                f'ALTER DEFAULT PRIVILEGES IN SCHEMA "{s}" GRANT UPDATE ON TABLES TO {STAFF}'
            )
            admin.execute(f'ALTER TABLE "{s}".traject_settings DISABLE ROW LEVEL SECURITY')
        sql = f"UPDATE \"{s}\".traject_settings SET value = value WHERE name = '{MASTER_KEY_CHECK}'"
        assert run(url, user, sql) == "ok 0"  # as an earlier release left it

        assert owner.json("admin", "roles") == ledger["grants"]
        assert owner.json("admin", "roles") == ledger["grants"]

        assert ROW_REFUSED in run(url, user, sql)
        for table, column in (("traject_idempotency", "key"), ("traject_leaves", "leaf_hash")):
            refused = run(url, user, f'UPDATE "{s}".{table} SET {column} = {column}')
            assert "permission denied" in refused, table
        # a table the owner makes later (a side table an upgrade adds): staff append only
        with psycopg.connect(dsn(url), autocommit=True) as admin:
            admin.execute(f'CREATE TABLE "{s}".traject_later (x int)')
        assert run(url, user, f'INSERT INTO "{s}".traject_later VALUES (1)') == "ok 0"
        assert "permission denied" in run(url, user, f'UPDATE "{s}".traject_later SET x = 2')
        # a rebuild's new tables, and a state table made after the roles: staff catch them up,
        # closing fact revisions and moving the position
        with psycopg.connect(dsn(url), autocommit=True) as admin:
            admin.execute(f'REVOKE UPDATE ON "{s}".traject_projection_state FROM {STAFF}')
        state = f'UPDATE "{s}".traject_projection_state SET position = position'
        assert "permission denied" in run(url, user, state)
        owner.ok("projections", "rebuild", "outflow", "--quiet")
        facts = f'UPDATE "{s}".outflow_facts SET known_to = known_to'
        for sql in (state, facts):
            assert run(url, user, sql) == "ok 0", sql
            assert "permission denied" in run(url, ledger["users"][AUDITOR], sql), sql
