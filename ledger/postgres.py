"""The PostgreSQL recorder: apart from ``ledger.persistence`` so SQLite users never load psycopg.

Selected by topic (``ledger.postgres:TrajectPostgresRecorder``) in ``ledger.config``.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

from eventsourcing.persistence import InterfaceError, Notification, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from ledger.errors import (
    LOCK_NOT_AVAILABLE,
    KeyRotationError,
    MalformedEventError,
    causes,
    connection_lost,
    permission_error,
    server_error,
    sqlstate_error,
)
from ledger.persistence import (
    FORGET_BSN_STATEMENT,
    FORGET_EXTERNAL_REFS_STATEMENT,
    LOOKUP_TABLES,
    MOVE_BSN_STATEMENT,
    SHRED_STATEMENT,
    SIDE_TABLES,
    STREAM_LINKS,
    TrajectTables,
    writes_keyed_rows,
)

NOT_COPIED = (
    SHRED_STATEMENT,
    MOVE_BSN_STATEMENT,
    FORGET_BSN_STATEMENT,
    FORGET_EXTERNAL_REFS_STATEMENT,
)
"""Side statements a bulk append executes row by row: upserts, updates and deletes, not
inserts. Side rows that may meet an existing row: written with their statement, not by
``COPY``."""
KEYS_TABLE = "traject_data_keys"
INDEX_TABLE = "traject_person_index"
REFS_TABLE = "traject_external_refs"


@contextmanager
def _keys_built_after(cursor: Any, tables: Sequence[str]) -> Iterator[None]:
    """Drop the primary-key and unique constraints of ``tables`` (emptied, and locked by this
    transaction), then add them again with the same names once the rows are in: one sorted
    build of each index instead of one insertion per row (a 400,000-row rewrite of the key
    table and the person index: 1.9 s instead of 4.7 s)."""
    constraints: list[tuple[str, str, str]] = []
    for table in tables:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype IN ('p', 'u') ORDER BY conname",
            [table],
        )
        constraints += [(table, row["conname"], row["definition"]) for row in cursor.fetchall()]
    for table, name, _ in constraints:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    yield
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for table, name, definition in constraints:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


RETRIED_STATES = ("40001", "40P01")
"""PostgreSQL's SQLSTATEs of a transaction the server ended that can succeed when run again:
a serialization failure and a deadlock (the other transaction went on)."""

POOL_TIMEOUT = "PoolTimeout"
"""psycopg_pool's error for no connection within the pool's timeout, known by its name (the
ledger does not import the driver: tests/test_architecture.py)."""

RETRY_ATTEMPTS = 10
RETRY_WAIT = 0.2  # seconds between attempts

Params = ParamSpec("Params")
Result = TypeVar("Result")


def retry_can_cure(error: BaseException) -> bool:
    """Whether an append or a read that failed with ``error`` can succeed when run again: a
    connection lost (the pool's connection closed by the server, a restart, the network; no
    answer at all, or SQLSTATE class 08 or 57P01-57P03), a serialization failure or a deadlock.

    Not a pool that gave no connection in its timeout (the server is not answering: another
    attempt waits as long again), nor any other answer of the server: a lock not granted within
    the lock timeout has already waited that long, and a program limit exceeded or a full disk
    fails the same way every time."""
    if any(type(cause).__name__ == POOL_TIMEOUT for cause in causes(error)):
        return False
    server = server_error(error)
    if server is None:
        return True
    return connection_lost(server) or getattr(server, "sqlstate", None) in RETRIED_STATES


def retried(func: Callable[Params, Result]) -> Callable[Params, Result]:
    """Run ``func`` again, up to :data:`RETRY_ATTEMPTS` times in all, after an error a retry
    can cure (:func:`retry_can_cure`); any other error is raised at once."""

    @functools.wraps(func)
    def attempt(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        for _ in range(RETRY_ATTEMPTS - 1):
            try:
                return func(*args, **kwargs)
            except (InterfaceError, OperationalError) as error:
                if not retry_can_cure(error):
                    raise
            time.sleep(RETRY_WAIT * random.uniform(0.95, 1.05))  # noqa: S311 - jitter
        return func(*args, **kwargs)

    return attempt


def unretried(method: Callable[Params, Result]) -> Callable[Params, Result]:
    """The event store library's ``method`` without its own retry decorator, which runs every
    connection or server error ten times (a pool timeout: about 50 s before the traceback)."""
    original: Callable[Params, Result] = getattr(method, "__wrapped__", method)
    return original


class TrajectPostgresRecorder(TrajectTables, PostgresApplicationRecorder):
    """The library's PostgreSQL recorder plus traject's side tables and append-only triggers."""

    placeholder = "%s"
    in_chunk = 0  # one array parameter holds any number of values
    purged_detail = (
        f"{KEYS_TABLE} was rewritten into a new file and its key column's planner statistics "
        f"dropped, and {INDEX_TABLE} and {REFS_TABLE} with it: no destroyed data key and no "
        "erased person's BSN hash or external key is left in their files"
    )

    for_update = " FOR UPDATE"
    rotation_purged_detail = (
        f"{KEYS_TABLE} and {INDEX_TABLE} were rewritten into new files in the same transaction, "
        "and the planner statistics of their key and BSN columns dropped: no old key bytes are "
        "left in their files"
    )
    _rewrapped_table = "traject_rotated_keys"  # a temporary table of the rotation's transaction

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = self.datastore.schema
        self.prefix = f'"{schema}".' if schema else ""
        self.events_table = f"{self.prefix}{self.events_table_name}"

    def create_table(self) -> None:
        schema = self.datastore.schema
        with self.datastore.transaction(commit=True) as cursor:
            # CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema is
            # there: an owner given a schema of its own in a shared database has no such right
            if schema:
                cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema])
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        super().create_table()
        function = f"{self.prefix}traject_refuse_change"
        with self.datastore.transaction(commit=True) as cursor:
            for statement in SIDE_TABLES:
                cursor.execute(statement.format(p=self.prefix, blob="BYTEA"))
            # ANALYZE would keep samples of wrapped keys in pg_statistic, out of an erasure's reach
            cursor.execute(
                f"ALTER TABLE {self.prefix}{KEYS_TABLE} ALTER COLUMN wrapped SET STATISTICS 0"
            )
            cursor.execute(
                f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$"
                " BEGIN RAISE EXCEPTION 'traject: % of stored events is refused: the event log"
                " is append-only', TG_OP USING ERRCODE = 'insufficient_privilege'; END $$"
            )
            cursor.execute(
                f"CREATE OR REPLACE TRIGGER traject_events_append_only"
                f" BEFORE UPDATE OR DELETE ON {self.events_table}"
                f" FOR EACH ROW EXECUTE FUNCTION {function}()"
            )
            cursor.execute(
                f"CREATE OR REPLACE TRIGGER traject_events_no_truncate"
                f" BEFORE TRUNCATE ON {self.events_table}"
                f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
        self.ensure_stream_links()

    @retried
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> list[int] | None:
        """Append in one plain transaction: side rows, table lock, events; ids in commit order.

        The library sends the same statements through a psycopg pipeline and adds a NOTIFY;
        traject has no listener, and the plain transaction measured faster for single appends
        (docs/benchmarks.md). The EXCLUSIVE table lock stays: it makes notification ids commit
        in order, which the projection engine's catch-up relies on. A bulk append
        (``bulk=True``, ``ledger.batch``) needs no ids back: its side rows and events go in by
        ``COPY``, the events after the same lock, so the guarantee is the same.

        A lost connection, a deadlock or a serialization failure is retried (:func:`retried`);
        any other error is raised at once.
        """
        if kwargs.get("bulk"):
            self._copy_events(stored_events, kwargs)
            return None
        rows = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for e in stored_events
        ]
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as cursor,
        ):
            self._insert_side_rows(cursor, kwargs)
            if not rows:
                return []
            self._lock_table(cursor)
            cursor.execute(self.insert_events_statement, (rows,), prepare=True)
            ids = [row["notification_id"] for row in cursor.fetchall()]
            self._insert_links(cursor, stored_events)
            self._check_guards(cursor, kwargs, stored_events)
            return ids

    def _copy_events(self, stored_events: Sequence[StoredEvent], kwargs: dict[str, Any]) -> None:
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as cursor,
        ):
            for table, statement, rows in self._side_rows(kwargs):
                if statement in NOT_COPIED:
                    cursor.executemany(self._sql(statement), rows)  # an erasure: rare
                    continue
                with cursor.copy(f"COPY {self.prefix}{table} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            self._mark_erased(cursor, kwargs)
            if writes_keyed_rows(kwargs):
                self._check_master_key(cursor)
            if not stored_events:
                return
            self._lock_table(cursor)
            with cursor.copy(
                f"COPY {self.events_table} (originator_id, originator_version, topic, state)"
                " FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for e in stored_events:
                    copy.write_row((e.originator_id, e.originator_version, e.topic, e.state))
            self._insert_links(cursor, stored_events)
            self._check_guards(cursor, kwargs, stored_events)

    def _in_values(self, statement: str, values: Sequence[Any]) -> list[Any]:
        """One query with ``= ANY(array)`` for all ``values`` (no chunks of ``IN`` lists).

        These are look-ups by key. Without fresh statistics (a table filled by a bulk import,
        and a server whose autovacuum is off or has not come round yet) the planner takes a
        look-up of a few streams for a large share of the table and plans parallel workers and
        JIT compilation, ~100 ms a query instead of ~1 ms; both are off for these queries.
        """
        if not values:
            return []
        with self._side(commit=False) as cursor:
            self._without_jit(cursor)
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            cursor.execute(self._sql(statement.replace(" IN ({in})", " = ANY(?)")), [list(values)])
            return list(cursor.fetchall())

    def _without_jit(self, cursor: Any) -> None:
        cursor.execute("SET LOCAL jit = off")

    def analyze(self) -> None:
        """``ANALYZE`` the events table and the side tables (the owner's; skipped for others).

        A bulk import calls this as the tables grow (``ledger.batch``), so that the planner
        does not keep planning for the empty tables it last saw; PostgreSQL skips, with a
        warning, the tables the connected user does not own.
        """
        links = [STREAM_LINKS] if self.has_stream_links() else []
        tables = [self.events_table_name, *LOOKUP_TABLES, *links]
        with self.datastore.transaction(commit=True) as cursor:
            for table in tables:
                cursor.execute(f"ANALYZE {self.prefix}{table}")

    def _purge_files(self) -> str | None:
        """Rewrite the key table, the person index and the external-key table into new files:
        their rows are copied aside, the tables truncated and the rows copied back, in one
        transaction that holds them locked; then drop the planner's samples of their key, BSN
        and external-key columns.

        An overwritten row's old version stays in the table's file until the table is rewritten
        (vacuum only marks its space free). Not ``VACUUM FULL``: it keeps every old version that
        a snapshot older than the erasure may still see, and any transaction anywhere in the
        database (autovacuum's ``ANALYZE``, a long report) holds such a snapshot. ``TRUNCATE``
        gives the table a new file and empties the old one at commit whatever the snapshots; a
        transaction that has read the table (``pg_dump``) holds a lock it waits for. Only the
        tables' owner may; reads of keys wait meanwhile (the tables are small).
        """
        names = [KEYS_TABLE, INDEX_TABLE] + ([REFS_TABLE] if self.has_external_refs() else [])
        tables = [f"{self.prefix}{name}" for name in names]
        for table in tables:
            row = self._ownership(table)
            if not row["mine"]:
                return (
                    f"the old bytes of destroyed data keys stay in the files of {KEYS_TABLE} (and "
                    f"those of erased persons' BSN hashes and external keys in {INDEX_TABLE} and "
                    f"{REFS_TABLE}) until the tables are rewritten, which only their owner may "
                    f"do: {row['me']} does not own them. "
                    f"Run `traject admin purge-erased` as {row['owner']}"
                )
        try:
            with self._locked(", ".join(tables), "ACCESS EXCLUSIVE") as cursor:
                for n, table in enumerate(tables):
                    cursor.execute(
                        f"CREATE TEMPORARY TABLE traject_kept_{n} ON COMMIT DROP AS"
                        f" SELECT * FROM {table}"
                    )
                cursor.execute(f"TRUNCATE {', '.join(tables)}")
                with _keys_built_after(cursor, tables):
                    for n, table in enumerate(tables):
                        cursor.execute(f"INSERT INTO {table} SELECT * FROM traject_kept_{n}")
                self._drop_key_statistics(cursor)
                if REFS_TABLE in names:
                    # a new type for the column, even its own, drops its samples (pg_statistic)
                    refs = f"{self.prefix}{REFS_TABLE}"
                    cursor.execute(f"ALTER TABLE {refs} ALTER COLUMN source_key TYPE text")
        except (OperationalError, InterfaceError) as error:
            if sqlstate_error(error, LOCK_NOT_AVAILABLE) is None:
                raise
            return (
                f"{', '.join(names)} could not be locked within "
                f"{self.datastore.lock_timeout} s (other sessions are using them), so their "
                "files may still hold the old bytes of destroyed data keys. Run `traject admin "
                "purge-erased` again"
            )
        return None

    def _ownership(self, table: str) -> Any:
        """Whether the connected user owns ``table`` (``mine``), its ``owner``, and ``me``."""
        return self._one(
            "SELECT pg_has_role(current_user, relowner, 'USAGE') AS mine,"
            " pg_get_userbyid(relowner) AS owner, current_user AS me"
            " FROM pg_class WHERE oid = ?::regclass",
            [table],
        )

    @contextmanager
    def _locked(self, tables: str, mode: str) -> Iterator[Any]:
        """A transaction that first locks ``tables`` in ``mode``, waiting no longer than the
        lock timeout (then a LOCK_NOT_AVAILABLE error)."""
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{self.datastore.lock_timeout}s'")
            cursor.execute(f"LOCK TABLE {tables} IN {mode} MODE")
            yield cursor

    def _drop_key_statistics(self, cursor: Any) -> None:
        """Drop the planner's samples of the wrapped keys and of the BSN hashes, and keep
        ``ANALYZE`` from sampling the keys again."""
        keys, index = f"{self.prefix}{KEYS_TABLE}", f"{self.prefix}{INDEX_TABLE}"
        cursor.execute(f"ALTER TABLE {keys} ALTER COLUMN wrapped SET STATISTICS 0")
        # a new type for the column, even its own, drops its samples from pg_statistic
        cursor.execute(f"ALTER TABLE {keys} ALTER COLUMN wrapped TYPE bytea")
        cursor.execute(f"ALTER TABLE {index} ALTER COLUMN bsn_digest TYPE text")

    @contextmanager
    def _rotation(self) -> Iterator[Any]:
        """A transaction that holds the key table and the person index in EXCLUSIVE mode
        (writers of keys and index entries wait; readers read the old keys until the tables
        are rewritten at the end), with two temporary tables for the re-keyed rows.

        Only the tables' owner may rewrite them; a lock not granted within the lock timeout
        ends the rotation with nothing changed.
        """
        keys, index = f"{self.prefix}{KEYS_TABLE}", f"{self.prefix}{INDEX_TABLE}"
        for table in (keys, index):
            row = self._ownership(table)
            if not row["mine"]:
                msg = (
                    f"only the owner of the ledger's tables may rotate its master key: {row['me']}"
                    f" does not own {table}. Run `traject admin rotate-master-key` as "
                    f"{row['owner']}; nothing was changed"
                )
                raise KeyRotationError(msg)
        try:
            with self._locked(f"{keys}, {index}", "EXCLUSIVE") as cursor:
                cursor.execute(
                    "CREATE TEMPORARY TABLE traject_rotated_keys"
                    " (subject TEXT PRIMARY KEY, wrapped BYTEA NOT NULL) ON COMMIT DROP"
                )
                cursor.execute(
                    "CREATE TEMPORARY TABLE traject_rotated_index"
                    " (person_id TEXT PRIMARY KEY, bsn_digest TEXT) ON COMMIT DROP"
                )
                yield cursor
        except (OperationalError, InterfaceError) as error:
            if sqlstate_error(error, LOCK_NOT_AVAILABLE) is None:
                raise
            msg = (
                f"{KEYS_TABLE} and {INDEX_TABLE} could not be locked within "
                f"{self.datastore.lock_timeout} s (other "
                "sessions are using them): nothing was changed. Run the rotation again"
            )
            raise KeyRotationError(msg) from None

    def _stream_of(self, person_id: str) -> str:
        return f"{person_id}::uuid"

    def _store_rewrapped(self, cursor: Any, rows: list[tuple[str, bytes]]) -> None:
        with cursor.copy("COPY traject_rotated_keys (subject, wrapped) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def _store_rekeyed(self, cursor: Any, rows: list[tuple[str, str | None]]) -> None:
        with cursor.copy("COPY traject_rotated_index (person_id, bsn_digest) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def _finish_rotation(self, cursor: Any) -> bool:
        """Rewrite both tables into new files with the re-keyed rows, as the purge of an
        erasure does (rows copied aside, ``TRUNCATE``, copied back), and drop the planner's
        samples of their key and BSN columns: the old bytes leave the files at commit."""
        keys, index = f"{self.prefix}{KEYS_TABLE}", f"{self.prefix}{INDEX_TABLE}"
        cursor.execute(f"LOCK TABLE {keys}, {index} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(
            "CREATE TEMPORARY TABLE traject_rotated_keys_kept ON COMMIT DROP AS"
            " SELECT k.subject, r.wrapped, k.created_at, k.shredded_at"
            f" FROM {keys} k JOIN traject_rotated_keys r USING (subject)"
        )
        cursor.execute(
            "CREATE TEMPORARY TABLE traject_rotated_index_kept ON COMMIT DROP AS"
            " SELECT i.person_id, r.bsn_digest, i.registered_at"
            f" FROM {index} i LEFT JOIN traject_rotated_index r USING (person_id)"
        )
        cursor.execute(f"TRUNCATE {keys}, {index}")
        with _keys_built_after(cursor, [keys, index]):
            cursor.execute(
                f"INSERT INTO {keys} (subject, wrapped, created_at, shredded_at)"
                " SELECT * FROM traject_rotated_keys_kept"
            )
            cursor.execute(
                f"INSERT INTO {index} (person_id, bsn_digest, registered_at)"
                " SELECT * FROM traject_rotated_index_kept"
            )
        self._drop_key_statistics(cursor)
        return True

    def _events_table(self) -> str:
        return str(self.events_table)

    def _table_exists(self, cursor: Any, name: str) -> bool:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL AS found", [f"{self.prefix}{name}"])
        return bool(cursor.fetchone()["found"])

    @contextmanager
    def _appends_held(self) -> Iterator[Any]:
        """The lock every append takes (EXCLUSIVE: reads go on), waiting no longer than the
        lock timeout."""
        with self._locked(self.events_table, "EXCLUSIVE") as cursor:
            yield cursor

    def _links_refused(self, error: BaseException) -> bool:
        return (
            permission_error(error) is not None
            or sqlstate_error(error, LOCK_NOT_AVAILABLE) is not None
        )

    @retried
    def select_events(self, originator_id: UUID | str, **kwargs: Any) -> Sequence[StoredEvent]:
        """The library's, retried only when a retry can cure it (:func:`retried`), and a state
        emptied by hand (NULL, which the library cannot read) is refused as the malformed row
        it is, naming its version."""
        try:
            return unretried(PostgresApplicationRecorder.select_events)(
                self, originator_id, **kwargs
            )
        except TypeError:
            with self._side(commit=False) as cursor:
                cursor.execute(
                    f"SELECT min(originator_version) AS v FROM {self.events_table}"
                    " WHERE originator_id = %s AND state IS NULL",
                    [originator_id],
                )
                row = cursor.fetchone()
            if row is None or row["v"] is None:
                raise
            what = "it has no stored bytes (state is NULL)"
            raise MalformedEventError(originator_id, row["v"], what) from None

    @retried
    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The library's, retried only when a retry can cure it (:func:`retried`)."""
        return unretried(PostgresApplicationRecorder.select_notifications)(
            self, start, limit, stop, topics, inclusive_of_start=inclusive_of_start
        )

    @retried
    def max_notification_id(self) -> int | None:
        """The library's, retried only when a retry can cure it (:func:`retried`)."""
        return unretried(PostgresApplicationRecorder.max_notification_id)(self)

    def _stream_param(self, stream_id: UUID) -> Any:
        return stream_id

    @contextmanager
    def _side(self, *, commit: bool) -> Iterator[Any]:
        with self.datastore.transaction(commit=commit) as cursor:
            yield cursor
