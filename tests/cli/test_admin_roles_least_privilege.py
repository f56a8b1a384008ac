"""`traject admin roles`: each role gets what its own commands need, and nothing more.

Each role's everyday commands run for real as a login user of that role; each privilege an
earlier release granted and this one does not is refused by the server (permission denied);
and a ledger whose grants an earlier release made ends, once `admin roles` is run again, with
exactly the grants of a fresh one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from builders import fresh_bsn
from cli_helpers import Traject, as_user, days_ago, dsn
from pg_schemas import PostgresSchemas
from test_admin_roles import roles_and_users, run
from test_admin_roles_side_tables import erasable
from test_amif import evidence, keys_and_checkpoint, record_scenario

from ledger.audit import ORIGIN_SETTING
from ledger.persistence import PURGE_PENDING
from ledger.roles import ANALYST, AUDITOR, STAFF

pytestmark = pytest.mark.postgres

DENIED = "permission denied"


def grants_of(url: str, schema: str) -> dict[str, Any]:
    """Every privilege and policy on the schema, as the catalogue holds them (ACL items
    sorted): tables, columns, sequences, the function, default privileges, row-level
    security."""
    queries = {
        "schema": "SELECT nspname, (SELECT array_agg(a::text ORDER BY a::text)"
        " FROM unnest(nspacl) a) FROM pg_namespace WHERE nspname = %(s)s",
        "relations": "SELECT c.relname, c.relkind, c.relrowsecurity,"
        " (SELECT array_agg(a::text ORDER BY a::text) FROM unnest(c.relacl) a)"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %(s)s AND c.relkind IN ('r', 'S') ORDER BY 1",
        "columns": "SELECT c.relname, t.attname,"
        " (SELECT array_agg(a::text ORDER BY a::text) FROM unnest(t.attacl) a)"
        " FROM pg_attribute t JOIN pg_class c ON c.oid = t.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %(s)s AND t.attacl IS NOT NULL ORDER BY 1, 2",
        "functions": "SELECT p.proname, (SELECT array_agg(a::text ORDER BY a::text)"
        " FROM unnest(p.proacl) a) FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %(s)s ORDER BY 1",
        "defaults": "SELECT d.defaclobjtype, (SELECT array_agg(a::text ORDER BY a::text)"
        " FROM unnest(d.defaclacl) a) FROM pg_default_acl d"
        " JOIN pg_namespace n ON n.oid = d.defaclnamespace WHERE n.nspname = %(s)s ORDER BY 1",
        "policies": "SELECT tablename, policyname, cmd, qual, with_check FROM pg_policies"
        " WHERE schemaname = %(s)s ORDER BY 1, 2",
    }
    with psycopg.connect(dsn(url), autocommit=True) as owner:
        return {name: owner.execute(sql, {"s": schema}).fetchall() for name, sql in queries.items()}


def test_each_role_runs_its_everyday_commands(
    postgres_schemas: PostgresSchemas, tmp_path: Path
) -> None:
    """Staff record, correct, show, report, sign, verify, export and build an evidence pack;
    the auditor shows, reports, verifies, exports and builds the pack; the analyst reports
    and sees where the read models stand. The first checkpoint is signed by staff: its
    origin was fixed by the owner's `admin roles`, as staff may add no setting."""
    with roles_and_users(postgres_schemas, tmp_path, reported=False) as ledger:
        url, owner, users = ledger["url"], ledger["owner"], ledger["users"]
        staff = Traject(as_user(url, users[STAFF]), owner.key_file)
        auditor = Traject(as_user(url, users[AUDITOR]), owner.key_file)
        analyst = Traject(as_user(url, users[ANALYST]), tmp_path / "no-such.key")
        scenario = record_scenario(staff)
        person = staff.linked_person()
        staff.ok("record", "outflow-started", person, "--on", days_ago(3),
                 "--outflow-type", "werk_volledig")  # fmt: skip
        staff.ok("correct", person, "1", "--set", f"bsn={fresh_bsn()}", "--reason", "typo")
        assert staff.json("person", "show", person)["person_id"] == person
        amif = ("report", "amif", "--project", "MWP", "--period", "2021", "--format", "json")
        figures = json.loads(staff.ok(*amif).stdout)
        assert {i["code"]: i["period"] for i in figures["indicators"]}["O.2.3"] == 4
        checkpoint, public = keys_and_checkpoint(staff, tmp_path)
        verify = ("audit", "verify", "-q", "--public-key", str(public))
        for n, who in enumerate((staff, auditor)):
            assert who.ok(*verify).stdout.startswith("verified ")
            assert who.ok("export").stdout.count("\n") > 10
            assert who.json("person", "show", str(scenario.people["B"]))["erased"] is False
            pack = tmp_path / f"mwp-{n}.zip"
            made = evidence(who, checkpoint, public, pack)
            assert made.exit_code == 0, made.output
            assert pack.stat().st_size > 0
        for who in (auditor, analyst):
            result = who(*amif)
            assert result.exit_code == 0, result.output
            assert json.loads(result.stdout)["indicators"] == figures["indicators"]
        status = analyst("projections", "status", "--format", "json")
        assert status.exit_code == 0, status.output
        assert {row["lag"] for row in json.loads(status.stdout) if row["name"] == "amif"} == {0}


def test_what_no_role_needs_is_refused(postgres_schemas: PostgresSchemas, tmp_path: Path) -> None:
    """Each privilege an earlier release granted that no command of the role uses: the
    server refuses it."""
    with roles_and_users(postgres_schemas, tmp_path, reported=True) as ledger:
        refused_to_each_role(ledger["url"], ledger["schema"], ledger["users"])


def refused_to_each_role(url: str, s: str, users: dict[str, str]) -> None:
    staff, analyst, auditor = users[STAFF], users[ANALYST], users[AUDITOR]
    # staff add no setting: the owner made the erasure's mark and the checkpoints' origin
    refused = run(url, staff, f"INSERT INTO \"{s}\".traject_settings VALUES ('x', 'y')")
    assert DENIED in refused
    # only the owner builds a read model: staff add no state row and claim no rebuild
    state = f'"{s}".traject_projection_state'
    sql = f"INSERT INTO {state} VALUES ('x', 0, 'r', 'l', NULL, NULL, 0)"
    assert DENIED in run(url, staff, sql)
    sql = f"INSERT INTO \"{s}\".traject_projection_rebuilds VALUES ('outflow', 'r', 't')"
    assert DENIED in run(url, staff, sql)
    # a catch-up moves the position: no other column of the state
    for column in ("name", "rule_version", "layout", "rebuilt_at"):
        assert DENIED in run(url, staff, f"UPDATE {state} SET {column} = {column}"), column
    for column in ("position", "digest", "events_seen"):
        assert run(url, staff, f"UPDATE {state} SET {column} = {column} WHERE false") == "ok 0"
    # a catch-up closes fact revisions: no other column of a fact table
    facts = f'"{s}".outflow_facts'
    for column in ("stream_id", "known_from", "payload"):
        assert DENIED in run(url, staff, f"UPDATE {facts} SET {column} = {column}"), column
    for column in ("known_to", "superseded_by"):
        assert run(url, staff, f"UPDATE {facts} SET {column} = {column} WHERE false") == "ok 0"
    # derived rows are deleted and written again, never updated
    for table in ("outflow_spans", "caseload_history"):
        assert DENIED in run(url, staff, f'UPDATE "{s}".{table} SET person_id = person_id')
    # staff and the auditor read the events: the last id's function is the analyst's alone
    last_id = f'SELECT "{s}".traject_last_notification_id()'
    for user in (staff, auditor):
        assert "permission denied for function" in run(url, user, last_id)
    assert run(url, analyst, last_id) == "ok 1"
    # staff take notification ids from the sequence, and read no sequence
    with psycopg.connect(dsn(url), autocommit=True) as owner:
        (sequence,) = owner.execute(
            "SELECT pg_get_serial_sequence(%s, 'notification_id')", [f'"{s}".traject_events']
        ).fetchone()
        owner.execute(f'CREATE TABLE "{s}".traject_later (x int)')  # as a later release would
    assert "permission denied for sequence" in run(url, staff, f"SELECT * FROM {sequence}")
    # a table the owner makes later is no read model: the analyst may not read it
    later = f'SELECT * FROM "{s}".traject_later'
    assert DENIED in run(url, analyst, later)
    assert run(url, auditor, later) == "ok 0"
    assert run(url, staff, later) == "ok 0"


def test_an_upgraded_ledger_ends_with_the_grants_of_a_fresh_one(
    postgres_schemas: PostgresSchemas, tmp_path: Path
) -> None:
    """Grants and settings as an earlier release left them (staff add settings, change any
    column of the state and read-model tables, call the last id's function, read sequences;
    the analyst reads every table made later; no erasure mark, no origin): re-running `admin
    roles` gives the grants `admin roles` gave the fresh ledger, every time, and the owner
    makes the settings staff need."""
    with roles_and_users(postgres_schemas, tmp_path, reported=True) as ledger:
        url, s, owner = ledger["url"], ledger["schema"], ledger["owner"]
        fresh = grants_of(url, s)
        q = f'"{s}"'
        with psycopg.connect(dsn(url), autocommit=True) as admin:
            for sql in (
                f"GRANT INSERT ON {q}.traject_settings TO {STAFF}",
                f"CREATE POLICY traject_insert ON {q}.traject_settings FOR INSERT"
                " WITH CHECK (true)",
                f"GRANT INSERT, UPDATE ON ALL TABLES IN SCHEMA {q} TO {STAFF}",
                f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {q} TO {STAFF}",
                f"GRANT EXECUTE ON FUNCTION {q}.traject_last_notification_id()"
                f" TO {STAFF}, {AUDITOR}, PUBLIC",
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA {q} GRANT SELECT ON TABLES TO {ANALYST}",
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA {q} GRANT SELECT ON SEQUENCES TO {STAFF}",
                f"DELETE FROM {q}.traject_settings WHERE name IN"
                f" ('{PURGE_PENDING}', '{ORIGIN_SETTING}')",
            ):
                admin.execute(sql)
        assert grants_of(url, s) != fresh

        for _ in range(2):
            owner.ok("admin", "roles")
            assert grants_of(url, s) == fresh

        with psycopg.connect(dsn(url), autocommit=True) as admin:
            made = dict(
                admin.execute(
                    f"SELECT name, value FROM {q}.traject_settings WHERE name IN (%s, %s)",
                    [PURGE_PENDING, ORIGIN_SETTING],
                ).fetchall()
            )
        assert made[PURGE_PENDING] == ""
        assert made[ORIGIN_SETTING].startswith("traject ledger ")
        # staff erase (the mark awaits the owner's purge) and sign the first checkpoint
        staff = Traject(as_user(url, ledger["users"][STAFF]), owner.key_file)
        person = erasable(staff)
        result = staff("person", "shred", person, "--approved-by", "privacy officer", "--yes")
        assert result.exit_code == 0, result.output
        _, public = keys_and_checkpoint(staff, tmp_path)
        assert owner.ok("audit", "verify", "-q", "--public-key", str(public)).stdout.startswith(
            "verified "
        )
        assert owner.json("admin", "roles") == ledger["grants"]


def test_a_refused_user_is_told_which_role_it_has_and_what_that_role_may_do(
    postgres_schemas: PostgresSchemas, tmp_path: Path
) -> None:
    with roles_and_users(postgres_schemas, tmp_path, reported=False) as ledger:
        url, owner, users = ledger["url"], ledger["owner"], ledger["users"]
        nobody = users[STAFF].replace(STAFF, "nobody")
        admin = postgres_schemas.connection
        admin.execute(f"CREATE ROLE {nobody} LOGIN")
        try:
            person = owner.register()
            events = owner.event_count()
            record = ("record", "ladder-assessed", person, "--on", days_ago(1), "--rung", "3",
                      "--assessor", "r.jansen")  # fmt: skip
            for user, told in (
                (users[ANALYST], f"{users[ANALYST]} has the role {ANALYST}, which may only read "
                 "the read models: reports and `traject projections status`"),
                (users[AUDITOR], f"{users[AUDITOR]} has the role {AUDITOR}, which may read "
                 "every table and write none"),
                (nobody, f"{nobody} has none of the roles {STAFF}, {ANALYST}, {AUDITOR}"),
            ):  # fmt: skip
                result = Traject(as_user(url, user), owner.key_file)(*record)
                assert result.exit_code == 1, result.output
                assert f"it needs the role {STAFF}, granted on this ledger's tables" in (
                    result.stderr
                )
                assert told in result.stderr, result.stderr
                assert "Traceback" not in result.output
            assert owner.event_count() == events
        finally:
            admin.execute(f"DROP OWNED BY {nobody}")
            admin.execute(f"DROP ROLE {nobody}")


def test_staff_are_told_only_the_owner_generates_into_a_ledger(
    postgres_schemas: PostgresSchemas, tmp_path: Path
) -> None:
    """Generating into a ledger marks it as synthetic, a setting staff may not add."""
    with roles_and_users(postgres_schemas, tmp_path, reported=False) as ledger:
        url, owner, users = ledger["url"], ledger["owner"], ledger["users"]
        staff = Traject(as_user(url, users[STAFF]), owner.key_file)
        generate = ("generate", "--municipalities", "1", "--persons", "3", "--years", "1")
        result = staff(*generate)
        assert result.exit_code == 1, result.output
        assert "permission denied for table traject_settings" in result.stderr
        assert "it needs to be the owner of the ledger's tables, who ran `traject init`" in (
            result.stderr
        )
        assert "Traceback" not in result.output
        assert owner.event_count() == 0
        owner.ok(*generate)
        assert owner.event_count() > 0
