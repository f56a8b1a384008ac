"""Erasure leaves no copy of the destroyed data key in the database's files.

The key row is overwritten with a tombstone; these tests read the store's files as bytes (the
SQLite file and its write-ahead log; PostgreSQL's table file after a checkpoint) and look for
the old wrapped key there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import psycopg
import pytest
from builders import fresh_bsn, person_fields
from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool
from pg_schemas import TableFile

from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.batch import BatchWriter, Write
from ledger.config import parse_database_url
from ledger.errors import PurgeError
from ledger.persistence import PURGE_PENDING
from ledger.roles import STAFF, grant_roles


def twelve_years_ago():
    return datetime.now(UTC).date() - timedelta(days=365 * 12)


def person_with_a_key(app: TrajectoryLedger) -> tuple[UUID, bytes]:
    """A registered person with personal fields whose case closed twelve years ago (so she may
    be erased), and her wrapped data key as stored."""
    person = app.register_person(**person_fields(bsn=fresh_bsn(), name="Te Vergeten")).stream_id
    closed_on = datetime.now(UTC).date() - timedelta(days=365 * 12)
    app.record(person, ev.CaseClosed, occurred_on=closed_on, reason="moved")
    wrapped = app.tables.select_wrapped_key(person)
    assert wrapped
    return person, wrapped


def test_after_shredding_no_file_of_the_store_holds_the_old_wrapped_key(app, raw) -> None:
    person, wrapped = person_with_a_key(app)
    # the scan finds the key where it is stored (on SQLite in the write-ahead log so far)
    assert raw.files_holding(wrapped)

    erasure = app.shred(person, approved_by="privacy officer")

    assert erasure.purge.done, erasure.purge.detail
    assert raw.files_holding(wrapped) == []
    assert not app.tables.get_setting(PURGE_PENDING)  # emptied, or never set


def test_every_sqlite_connection_overwrites_what_it_deletes(
    sqlite_url, master_key, monkeypatch
) -> None:
    # as on an SQLite built without secure_delete by default (Debian's has it on)
    library_connection = SQLiteConnectionPool._create_connection

    def plain_connection(pool: SQLiteConnectionPool) -> SQLiteConnection:
        connection = library_connection(pool)
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA secure_delete = OFF")
        return connection

    monkeypatch.setattr(SQLiteConnectionPool, "_create_connection", plain_connection)
    app = TrajectoryLedger(parse_database_url(sqlite_url).library_env, master_key)
    try:
        pool = app.recorder.datastore.pool
        # three connections at once: each is a new one from the pool
        connections = [pool.get_connection(is_writer=False) for _ in range(3)]
        try:
            for connection in connections:
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA secure_delete")
                    assert cursor.fetchone()[0] == 1
        finally:
            for connection in connections:
                pool.put_connection(connection)
    finally:
        app.close()


@pytest.fixture
def reader_holding_a_snapshot(sqlite_url: str) -> Iterator[sqlite3.Connection]:
    """Another connection in the middle of a read: a checkpoint cannot pass it."""
    path = parse_database_url(sqlite_url).sqlite_path
    with closing(sqlite3.connect(path, isolation_level=None)) as reader:
        yield reader
        if reader.in_transaction:
            reader.execute("ROLLBACK")


def test_a_reader_that_holds_the_log_back_leaves_the_purge_pending(
    sqlite_url, master_key, reader_holding_a_snapshot
) -> None:
    env = parse_database_url(sqlite_url).library_env | {"SQLITE_LOCK_TIMEOUT": "1"}
    app = TrajectoryLedger(env, master_key)
    try:
        app.initialise(default_municipality="GM0622")
        person, wrapped = person_with_a_key(app)
        reader_holding_a_snapshot.execute("BEGIN")
        reader_holding_a_snapshot.execute("SELECT count(*) FROM stored_events").fetchall()

        erasure = app.shred(person, approved_by="privacy officer")

        # not done, and said so: the key is still in the log, and the erasure marked pending
        assert not erasure.purge.done
        assert "Run `traject admin purge-erased`" in erasure.purge.detail
        assert app.tables.get_setting(PURGE_PENDING)
        path = parse_database_url(sqlite_url).sqlite_path
        assert path is not None
        assert wrapped in path.with_name(path.name + "-wal").read_bytes()
        with pytest.raises(PurgeError, match="another connection kept reading"):
            app.purge_erased()

        reader_holding_a_snapshot.execute("ROLLBACK")  # the read ends
        purge = app.purge_erased()

        assert purge.done
        assert purge.pending_since is not None
        files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
        assert [p.name for p in files if wrapped in p.read_bytes()] == []
        assert not app.tables.get_setting(PURGE_PENDING)  # emptied, or never set
    finally:
        app.close()


@pytest.mark.postgres
def test_the_planner_statistics_keep_no_sample_of_a_wrapped_key(
    postgres_schemas, master_key
) -> None:
    # a ledger of its own: a purge elsewhere in the run must not have set the table up
    url = postgres_schemas.fresh("traject_stats")
    app = TrajectoryLedger(parse_database_url(url).library_env, master_key)
    try:
        app.initialise(default_municipality="GM0622")
        wrapped = [person_with_a_key(app)[1] for _ in range(5)]
        app.tables.analyze()  # as a bulk import does, and autovacuum
        rows = postgres_schemas.connection.execute(
            "SELECT histogram_bounds::text, most_common_vals::text FROM pg_stats"
            " WHERE schemaname = %s AND tablename = 'traject_data_keys'",
            [postgres_schemas.created[-1]],
        ).fetchall()
    finally:
        app.close()
    assert rows  # the other columns have statistics
    sampled = " ".join(str(value) for row in rows for value in row)
    assert [key for key in wrapped if key.hex() in sampled] == []


@dataclass
class OwnerAndStaff:
    owner: TrajectoryLedger
    staff: TrajectoryLedger
    keys: TableFile


@pytest.fixture
def owner_and_staff(postgres_schemas, master_key) -> Iterator[OwnerAndStaff]:
    """A PostgreSQL ledger of the test's own (a small key table: nothing else on its pages),
    opened by its owner and by a login user who is a member of traject_staff."""
    url = postgres_schemas.fresh("traject_purge")
    env = parse_database_url(url).library_env
    owner = TrajectoryLedger(env, master_key)
    owner.initialise(default_municipality="GM0622")
    grant_roles(owner, [])
    user = f"staff_{uuid4().hex[:8]}"
    admin = postgres_schemas.connection
    admin.execute(f"CREATE ROLE {user} LOGIN IN ROLE {STAFF}")
    staff = TrajectoryLedger(env | {"POSTGRES_USER": user, "CREATE_TABLE": "no"}, master_key)
    relation = f'"{postgres_schemas.created[-1]}".traject_data_keys'
    try:
        yield OwnerAndStaff(owner, staff, TableFile(admin, relation))
    finally:
        staff.close()
        owner.close()
        admin.execute(f"DROP OWNED BY {user}")
        admin.execute(f"DROP ROLE {user}")


@pytest.mark.postgres
def test_an_erasure_by_staff_awaits_the_owners_purge(owner_and_staff: OwnerAndStaff) -> None:
    owner, staff = owner_and_staff.owner, owner_and_staff.staff
    person, wrapped = person_with_a_key(staff)

    erasure = staff.shred(person, approved_by="privacy officer")

    # the key reads as destroyed, but its old row version is still in the table's file
    assert staff.tables.select_wrapped_key(person) == b""
    assert not erasure.purge.done
    assert "does not own them. Run `traject admin purge-erased` as postgres" in (
        erasure.purge.detail
    )
    assert owner_and_staff.keys.holds(wrapped)
    assert staff.tables.get_setting(PURGE_PENDING)
    with pytest.raises(PurgeError, match="only their owner may do"):
        staff.purge_erased()

    purge = owner.purge_erased()

    assert purge.done
    assert purge.pending_since is not None
    assert not owner_and_staff.keys.holds(wrapped)
    assert not owner.tables.get_setting(PURGE_PENDING)  # emptied, or never set
    # the ledger works on: staff record and read as before
    other, _ = person_with_a_key(staff)
    assert staff.person(other).registration.name == "Te Vergeten"


@pytest.mark.postgres
def test_the_purge_does_not_wait_for_older_snapshots_elsewhere_in_the_database(
    owner_and_staff: OwnerAndStaff, postgres_base_url: str
) -> None:
    owner = owner_and_staff.owner
    person, wrapped = person_with_a_key(owner)
    # another session's snapshot from before the erasure (as autovacuum's ANALYZE or a long
    # report holds one); it has not read the key table, so it holds no lock on it
    with psycopg.connect(postgres_base_url) as other:
        other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        other.execute("SELECT 1").fetchall()

        erasure = owner.shred(person, approved_by="privacy officer")

        assert erasure.purge.done, erasure.purge.detail
        assert not owner_and_staff.keys.holds(wrapped)


# --- the keyed hash of the BSN goes with the key -------------------------------------------------


def test_an_erased_person_is_no_longer_found_by_bsn_and_the_hash_leaves_the_files(app, raw):
    bsn = fresh_bsn()
    person = app.register_person(**person_fields(bsn=bsn, name="Te Vergeten")).stream_id
    app.record(person, ev.CaseClosed, occurred_on=twelve_years_ago(), reason="moved")
    digest = app.keyring.bsn_digest(bsn).encode()
    assert app.find_person_by_bsn(bsn) == person
    assert raw.files_holding(digest, "traject_person_index")

    erasure = app.shred(person, approved_by="privacy officer")

    assert erasure.purge.done, erasure.purge.detail
    assert app.find_person_by_bsn(bsn) is None
    assert raw.files_holding(digest, "traject_person_index") == []
    # the number is free again: a new registration with it is a new person
    again = app.register_person(**person_fields(bsn=bsn, name="Weer Terug")).stream_id
    assert again != person
    assert app.find_person_by_bsn(bsn) == again


def test_an_imported_erasure_forgets_the_bsn_too(app):
    bsn = fresh_bsn()
    person = app.register_person(**person_fields(bsn=bsn, name="Te Vergeten")).stream_id
    app.record(person, ev.CaseClosed, occurred_on=twelve_years_ago(), reason="moved")
    erasure = {"occurred_on": datetime.now(UTC).date(), "approved_by": "privacy officer"}

    [outcome] = BatchWriter(app).write([Write(ev.PersonalDataShredded, erasure, person)])

    assert outcome.kind == "PersonalDataShredded", outcome
    assert app.find_person_by_bsn(bsn) is None


def test_a_purge_forgets_the_bsn_of_persons_erased_before_the_hash_went_with_the_key(app, raw):
    bsn = fresh_bsn()
    person = app.register_person(**person_fields(bsn=bsn, name="Te Vergeten")).stream_id
    app.record(person, ev.CaseClosed, occurred_on=twelve_years_ago(), reason="moved")
    app.shred(person, approved_by="privacy officer")
    # as an earlier release left it: the erased person's index entry still holds the hash
    raw.query(
        "UPDATE {p}traject_person_index SET bsn_digest = ? WHERE person_id = ?",
        [app.keyring.bsn_digest(bsn), str(person)],
    )
    assert app.find_person_by_bsn(bsn) == person

    assert app.purge_erased().done

    assert app.find_person_by_bsn(bsn) is None
