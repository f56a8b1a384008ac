"""The projection engine: catch-up, rebuild-and-swap and digest over the notification log.

A read model (a :class:`Projection`) keeps the facts it counts in its own *fact table*,
``<name>_facts``, one row per revision of an event:

* an event of a kind the projection reads adds revision 0, known from the event's ``timestamp``;
* an ``EventCorrected`` of such an event closes the current revision (``known_to`` = the
  correction's timestamp, ``superseded_by`` = its version) and adds the next revision with the
  corrected values, known from the correction's timestamp;
* an ``EventRetracted`` closes the current revision and adds none.

So the current facts are the rows with ``known_to IS NULL`` and the facts as known at a moment
``T`` are the rows with ``known_from <= T < known_to`` (or no ``known_to``): one table answers
both "as true on" (``occurred_on``) and "as known at" (recorded time) questions. A projection
may keep derived tables beside it, refreshed for the streams a page touched.

Events are decoded with ``orjson`` straight from the stored state, dispatched on the topic;
personal fields (the encrypted ``_pii`` blob) are never read, and pydantic is not involved.

``catch_up`` pages through the notification log from the projection's position and writes each
page's rows and the position in one transaction. ``rebuild`` builds fresh ``<table>__new``
tables from position zero and swaps them in within one transaction. ``digest`` is SHA-256 over
the projection's rows in key order as canonical JSON, headed by the projection's name and rule
version. Everything here is a deterministic function of the stored events and the rule version.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import pickle
import queue
import sqlite3
import traceback
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import cached_property, wraps
from itertools import permutations
from operator import itemgetter
from random import Random
from time import perf_counter
from typing import Any, ClassVar, Concatenate, NamedTuple, ParamSpec, TypeVar, cast
from uuid import UUID, uuid4

import orjson
import psycopg
from eventsourcing.persistence import DataError as LibraryDataError
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from psycopg.rows import tuple_row

from ledger import audit, roles
from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.crypto import generate_master_key
from ledger.errors import MalformedEventError, TrajectError
from ledger.persistence import PydanticMapper, TrajectPostgresRecorder, TrajectSQLiteRecorder
from ledger.rules import current_rules
from projections import claims

DEFAULT_PAGE_SIZE = 5000
REBUILD_PAGE_SIZE = 20000
"""Notifications per page of a rebuild on SQLite: one read and one transaction per page, so the
memory a rebuild needs depends on this, not on the length of the log."""
PG_REBUILD_PAGE_SIZE = 50000
"""Notifications per page of a rebuild on PostgreSQL: more of a page's corrections find their
target in the page itself rather than by a look-up in the table (1M events: 16 % less time with
two workers, 8 % with one; 66 MiB more per process). On SQLite larger pages gained nothing."""
STREAM_ROWS = 2000
"""Rows fetched per round trip when a large result is streamed (PostgreSQL)."""
DIGEST_LINES = 256
"""Digest lines hashed at a time (orjson's output buffers are generous: keep few alive)."""
LOOKUP_KEYS = 5000
"""Keys per query when facts are looked up by key (PostgreSQL, :meth:`Tx.by_key`)."""
TOPIC_SAMPLE = 5000
"""Notification ids whose topics estimate the log's mix of kinds (:meth:`Views.topic_sample`)."""
DERIVED_TABLE_COST = 0.2
"""The cost of a derived table per fact row, relative to the fact row's own
(:meth:`Projection.rebuild_cost`), unless the projection states its own
(:attr:`Projection.derived_cost`)."""
READ_COST = 0.33
"""The cost of reading and decoding one event of the log, relative to a fact row's: each worker
of a parallel rebuild reads the events of every kind its group keeps (:func:`group_cost`).
Measured on a generated 1M-event ledger: about 3.4 µs of CPU per event read and decoded
against about 10 µs per fact row written, refreshed, hashed and copied."""
PARALLEL_FROM = 300_000
"""The log length from which a rebuild of several read models uses two worker processes by
default (see :func:`default_workers`)."""
STATE_TABLE = roles.STATE_TABLE
REBUILDS_TABLE = roles.REBUILDS_TABLE
BULK_CACHE_KIB = 64 * 1024
STAGING_PAGE_BYTES = 65536
"""SQLite: the page size of the connection's temporary database during a rebuild."""
NEW_SUFFIX = "__new"
STAGED_SUFFIX = "__staged"
"""SQLite: a rebuild writes its rows to ``temp.<table>__staged`` first (see rebuild_many)."""


def _null(_value: None) -> None:
    return None


# SQLite binds None as NULL either way; without an adapter of its own, the driver first looks
# for one through the protocol's and the value's attributes (``__adapt__``, ``__conform__``)
# for every None it binds: a sixth of the cost of inserting a fact row, whose closing columns
# and many value columns are None. With this adapter the look-up ends at the first step.
sqlite3.register_adapter(type(None), _null)


T = TypeVar("T")
Params = ParamSpec("Params")
Returned = TypeVar("Returned")

Progress = Callable[[int, int], None]
"""``progress(done, total)``: notification ids processed so far, and the last id to reach."""

TEXT = "text"
INT = "int"


class ProjectionOutdatedError(TrajectError):
    """The stored projection was built by other code or another rule version: rebuild it."""

    def __init__(self, name: str, what: str) -> None:
        super().__init__(
            f"projection {name} was built with {what}: "
            f"run `traject projections rebuild {name}` first"
        )


class UnknownProjectionError(TrajectError):
    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__(f"no projection {name!r}: choose from {', '.join(known)}")


class RebuildSupersededError(TrajectError):
    """Another rebuild of the same projection started meanwhile; that one carries on."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"another rebuild of {name} started while this one ran; this one stopped, "
            "the other carries on (see `traject projections status`)"
        )


class ProjectionStoreError(TrajectError):
    """Projections need the SQLite or PostgreSQL store."""


class ProjectionNotBuiltError(TrajectError):
    """A read model was never built, and the connected user may not build it (only the owner
    of the ledger's tables may, on PostgreSQL): the owner must build it."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"read model {name} has not been built, and only the owner of the ledger's tables "
            f"may build it: the owner must run `traject projections rebuild {name}`"
        )


class RebuildRefusedError(TrajectError):
    """Only the owner of the ledger's tables may rebuild read models (PostgreSQL)."""

    def __init__(self, user: str, owner: str) -> None:
        super().__init__(
            "only the owner of the ledger's tables may build or rebuild read models (a rebuild "
            f"creates tables and puts them in place of the live ones): {user} does not own "
            f"them. Run the rebuild as {owner}; nothing was changed"
        )


@dataclass(frozen=True)
class StaleRead:
    """A read model answered as it stands, not caught up: the reader may not write it.

    ``lag`` is the number of notification ids after ``position`` (None when the reader may not
    read the events table, as an analyst may not); ``topics`` the kinds of events the read
    model reads (its catch-up would skip every other one).
    """

    name: str
    position: int
    lag: int | None
    topics: tuple[str, ...] = field(default=(), repr=False)


_STALE: weakref.WeakKeyDictionary[TrajectoryLedger, dict[str, StaleRead]] = (
    weakref.WeakKeyDictionary()
)


def stale_reads(app: TrajectoryLedger) -> list[StaleRead]:
    """The read models this open ledger answered from without catching up, by name."""
    return sorted(_STALE.get(app, {}).values(), key=lambda read: read.name)


def not_covered(
    views: Views,
    as_known_at: datetime | None,
    what: str,
    *,
    names: Iterable[str] | None = None,
) -> str | None:
    """Why the read models this open ledger answered from as they stand (:func:`stale_reads`;
    only those in ``names`` when given) miss facts known at ``as_known_at`` (None: now), or
    None when none does: each one's position is at least the last notification id recorded by
    then, or no event it reads lies between the two (a reader of the events table can tell).

    The message says what the read models count and what ``what`` (``"a pack"``, ``"a
    replay"``) must count; the caller adds what was not done and who can catch them up. A
    reader who may not read the events table learns the log's top from
    ``traject_last_notification_id()``, and cannot tell the last event of a past moment
    (the events table refuses it).
    """
    wanted = None if names is None else set(names)
    stale = [read for read in stale_reads(views.app) if wanted is None or read.name in wanted]
    if not stale:
        return None
    needed = (
        views.last_notification_id()
        if as_known_at is None
        else audit.last_notification_id_at(views.app, as_known_at)
    )
    behind = [read for read in stale if _misses(views, read, needed)]
    if not behind:
        return None
    counts = "; ".join(
        f"read model {read.name} is not caught up (this database user may only read it): it "
        f"counts the events up to notification {read.position}"
        for read in behind
    )
    known = "now" if as_known_at is None else f"at {timestamp_text(as_known_at)}"
    upto = "" if needed is None else f", up to notification {needed}"
    return f"{counts}, and {what} must count every fact known {known}{upto}"


def _misses(views: Views, read: StaleRead, needed: int | None) -> bool:
    """Whether an event ``read`` reads lies after its position, up to ``needed`` (unknown:
    None, or a reader who may not read the events table, misses)."""
    if needed is None or read.position >= needed:
        return needed is None
    if not views.events_readable:
        return True
    return bool(views.read_rows(read.position, 1, read.topics, until=needed))


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    type: str = TEXT
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    """A table a projection owns: its columns (in digest order), key and secondary indexes."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def describe(self) -> dict[str, Any]:
        return {
            "table": self.name,
            "columns": [[c.name, c.type, c.nullable] for c in self.columns],
            "key": list(self.key),
            "indexes": [list(i) for i in self.indexes],
        }


FACT_COLUMNS: tuple[Column, ...] = (
    Column("stream_id", TEXT, nullable=False),
    Column("version", INT, nullable=False),
    Column("revision", INT, nullable=False),
    Column("kind", TEXT, nullable=False),
    Column("occurred_on", TEXT, nullable=False),
    Column("municipality", TEXT, nullable=False),
    Column("known_from", TEXT, nullable=False),
    Column("known_to", TEXT),
    Column("superseded_by", INT),
    Column("payload", TEXT, nullable=False),
)
FACT_KEY = ("stream_id", "version", "revision")


# --------------------------------------------------------------------------------------------
# Projections
# --------------------------------------------------------------------------------------------


class Projection(ABC):
    """A read model: which event kinds it keeps as facts, and what it derives from them.

    Subclasses set ``name``, ``kinds`` (event class → payload fields kept in the fact row),
    ``fact_columns`` (extra columns computed by :meth:`fact_values`) and optionally
    ``derived_tables`` with :meth:`refresh`. Bump ``version`` when the meaning of the rows
    changes without a change of tables: a stored projection of another version must be rebuilt.
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1
    kinds: ClassVar[Mapping[type[ev.TrajectEvent], tuple[str, ...]]]
    fact_columns: ClassVar[tuple[Column, ...]] = ()
    fact_indexes: ClassVar[tuple[tuple[str, ...], ...]] = ()
    derived_tables: ClassVar[tuple[Table, ...]] = ()
    derived_cost: ClassVar[float | None] = None
    """The cost of filling the derived tables per fact row, relative to the fact row's own;
    None: :data:`DERIVED_TABLE_COST` per derived table."""

    def rebuild_cost(self, events: Mapping[str, float]) -> float:
        """The relative cost of rebuilding this projection, to balance parallel rebuilds
        (:func:`split_groups`), given the (estimated) number of ``events`` of each topic in the
        log: the events of the kinds it keeps (the work is per fact row), more for its derived
        tables (:attr:`derived_cost`), and one so that a projection without facts still
        counts. Reading the events is the group's cost (:func:`group_cost`)."""
        facts = sum(events.get(topic, 0.0) for topic in self.topic_fields)
        derived = self.derived_cost
        if derived is None:
            derived = DERIVED_TABLE_COST * len(self.derived_tables)
        return 1.0 + facts * (1.0 + derived)

    @property
    def rule_version(self) -> str:
        """The rule set this projection counts with (the newest rule set)."""
        return current_rules().version

    @cached_property
    def facts_table(self) -> Table:
        return Table(
            f"{self.name}_facts",
            FACT_COLUMNS + self.fact_columns,
            FACT_KEY,
            self.fact_indexes,
        )

    @property
    def tables(self) -> tuple[Table, ...]:
        return (self.facts_table, *self.derived_tables)

    @cached_property
    def layout(self) -> str:
        """A short fingerprint of the tables and the projection's version."""
        text = orjson.dumps(
            {"version": self.version, "tables": [t.describe() for t in self.tables]},
            option=orjson.OPT_SORT_KEYS,
        )
        return hashlib.sha256(text).hexdigest()[:16]

    @cached_property
    def kind_fields(self) -> dict[str, tuple[str, ...]]:
        return {cls.__name__: fields for cls, fields in self.kinds.items()}

    @cached_property
    def topic_fields(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Topic → (kind name, payload fields), for the kinds read (not corrections)."""
        return {get_topic(cls): (cls.__name__, fields) for cls, fields in self.kinds.items()}

    @cached_property
    def topic_kinds(self) -> dict[str, str]:
        """Topic → kind name, for the kinds read plus corrections and retractions."""
        classes: list[type[ev.TrajectEvent]] = [*self.kinds, ev.EventCorrected, ev.EventRetracted]
        return {get_topic(cls): cls.__name__ for cls in classes}

    @cached_property
    def topics(self) -> list[str]:
        return sorted(self.topic_kinds)

    @abstractmethod
    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        """The values of ``fact_columns`` for one (possibly corrected) fact."""

    def refresh(self, tx: Tx, stream_ids: set[str]) -> None:  # noqa: B027 - optional hook
        """Bring derived tables up to date for the streams whose facts changed."""

    def refresh_all(self, tx: Tx, chunk: int = 1000, rows: int = REBUILD_PAGE_SIZE) -> None:
        """Derive the derived tables for every stream (a rebuild does this once, at the end),
        ``chunk`` streams at a time, and streams of at most ``rows`` fact rows together (a
        stream with more is refreshed alone): what a refresh holds in memory then depends on
        ``rows``, not on how long a person's history is."""
        if not self.derived_tables:
            return
        facts = tx.table(self.facts_table.name)
        after = ""
        while True:
            counted = tx.all(
                f"SELECT stream_id, count(*) FROM (SELECT stream_id FROM {facts}"
                f" WHERE stream_id > ? ORDER BY stream_id LIMIT {int(rows)}) AS head"
                f" GROUP BY stream_id ORDER BY stream_id LIMIT {int(chunk)}",
                [after],
            )
            if not counted:
                return
            if len(counted) > 1 and sum(int(count) for _, count in counted) >= rows:
                counted.pop()  # its rows may go on past the limit: in the next chunk
            streams = [str(stream_id) for stream_id, _ in counted]
            try:
                self.refresh(tx, set(streams))
            except (ValueError, TypeError, KeyError) as error:
                raise FactsFailedError(streams) from error
            after = streams[-1]


# --------------------------------------------------------------------------------------------
# The store: SQL dialect and transactions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dialect:
    name: str
    placeholder: str
    prefix: str
    int_type: str

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgres"

    def order_term(self, column: Column) -> str:
        # Byte order for text, so that SQLite and PostgreSQL digest rows in the same order.
        if self.is_postgres and column.type == TEXT:
            return f'{column.name} COLLATE "C"'
        return column.name

    def days_after(self, iso_date: str, days: int) -> str:
        """SQL for the ISO date text ``days`` days after the ISO date text ``iso_date`` (an
        SQL expression), as text that compares with dates and timestamps in ISO form."""
        if self.is_postgres:
            return f"(({iso_date})::date + {int(days)})::text"
        return f"date({iso_date}, '+{int(days)} days')"

    def unindexed(self, column: str) -> str:
        """``column`` in a condition that is to be checked on each row of a read of the whole
        table rather than used to walk an index: on SQLite, whose planner takes an index on a
        range whatever share of the table the range holds, a condition that holds for most rows
        (the facts dated up to a recent day) is faster read in the table's own order than row
        by row through the index. PostgreSQL's planner chooses by its statistics."""
        return column if self.is_postgres else f"+{column}"

    def column_type(self, column: Column) -> str:
        if column.type != TEXT:
            return self.int_type
        # PostgreSQL: byte order, as SQLite compares text: the digest's order is the key
        # index's own, and a key comparison is a memcmp rather than the locale's strcoll
        return 'TEXT COLLATE "C"' if self.is_postgres else "TEXT"

    def copy_type(self, column: Column) -> str:
        """PostgreSQL: the type a column's values are sent as in a binary ``COPY``."""
        return "int8" if column.type == INT else "text"


class Tx:
    """One transaction on the projection tables; ``table()`` names the tables being written."""

    def __init__(
        self, cursor: Any, dialect: Dialect, suffix: str = "", staged: Iterable[str] = ()
    ) -> None:
        if dialect.is_postgres:
            # rows as tuples: the library's cursors give dicts, which merge equal column names
            cursor.row_factory = tuple_row
        else:
            cursor.sqlite_cursor.row_factory = None  # plain tuples, not sqlite3.Row
        self.cursor = cursor
        self.dialect = dialect
        self.suffix = suffix
        self.staged = frozenset(staged)

    def table(self, name: str) -> str:
        if name in self.staged:
            return f"temp.{name}{STAGED_SUFFIX}"
        return f"{self.dialect.prefix}{name}{self.suffix}"

    def sql(self, statement: str) -> str:
        return statement.replace("?", self.dialect.placeholder)

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        self.cursor.execute(self.sql(statement), list(params))

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cursor.executemany(self.sql(statement), rows)

    def rows(self, statement: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows as tuples, streamed (on PostgreSQL through a server-side cursor), so that a
        large result never sits in memory at once."""
        for batch in self.batches(statement, params):
            yield from batch

    def batches(
        self, statement: str, params: Sequence[Any] = (), size: int = STREAM_ROWS
    ) -> Iterator[list[tuple[Any, ...]]]:
        """:meth:`rows` in lists of at most ``size`` rows."""
        if self.dialect.is_postgres:
            name = f"traject_rows_{uuid4().hex[:12]}"
            with self.cursor.connection.cursor(name=name, row_factory=tuple_row) as named:
                named.execute(self.sql(statement), list(params))
                # one FETCH of at least STREAM_ROWS rows per round trip, handed on in batches of
                # ``size`` (iterating the cursor instead cost a Python call per row)
                while fetched := named.fetchmany(max(size, STREAM_ROWS)):
                    for start in range(0, len(fetched), size):
                        yield fetched[start : start + size]
        else:
            cursor = self.cursor.sqlite_cursor.connection.cursor()
            cursor.row_factory = None
            try:
                cursor.execute(statement, list(params))
                while batch := cursor.fetchmany(size):
                    yield batch
            finally:
                cursor.close()

    def all(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of a (small) result, as tuples."""
        self.execute(statement, params)
        rows: list[tuple[Any, ...]] = self.cursor.fetchall()
        return rows

    def insert(self, table: Table, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        names = ", ".join(table.column_names)
        if self.dialect.is_postgres:
            self._copy(table, f"COPY {self.table(table.name)} ({names}) FROM STDIN", rows)
        else:
            marks = ", ".join("?" * len(table.columns))
            self.executemany(
                f"INSERT INTO {self.table(table.name)} ({names}) VALUES ({marks})", rows
            )

    def _copy(self, table: Table, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        """PostgreSQL: ``rows`` by one ``COPY`` in binary form, each column's type set once
        (:meth:`Dialect.copy_type`): the driver then looks up no adapter per value and the
        server parses no text. A value the binary form cannot carry (of another type than its
        column's: a value kept as stored) undoes that ``COPY`` (a savepoint) and the rows are
        sent again in text form, so that the server takes or refuses them as it always did."""
        try:
            with (
                self.cursor.connection.transaction(),
                self.cursor.copy(f"{statement} (FORMAT BINARY)") as copy,
            ):
                copy.set_types([self.dialect.copy_type(column) for column in table.columns])
                for row in rows:
                    copy.write_row(row)
            return
        except (TypeError, OverflowError, psycopg.DataError):
            pass
        with self.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def by_key(
        self,
        select: str,
        source: str,
        keys: Iterable[tuple[str, int]],
        *,
        columns: tuple[str, str] = ("stream_id", "version"),
        condition: str = "",
        stream_type: str = "text",
        stored: Callable[[str], str] = str,
    ) -> list[tuple[Any, ...]]:
        """Rows ``(stream id, version, *select)`` of ``source`` (aliased ``e``) for the
        (stream id, version) ``keys``, found through the key index ``columns``.

        PostgreSQL: one join with ``unnest`` of the keys per :data:`LOOKUP_KEYS` keys
        (``stream_type``: the stream column's type). SQLite: the keys as one JSON array, probed
        one by one (``CROSS JOIN`` keeps ``json_each`` the outer loop); ``stored`` turns a
        stream id into its stored form. ``condition``: a further SQL condition on ``e``.
        """
        stream, version = columns
        extra = f" AND {condition}" if condition else ""
        ordered = sorted(keys)
        rows: list[tuple[Any, ...]] = []
        if self.dialect.is_postgres:
            for start in range(0, len(ordered), LOOKUP_KEYS):
                chunk = ordered[start : start + LOOKUP_KEYS]
                rows += self.all(
                    f"SELECT k.s::text, k.v, {select} FROM {source} AS e"
                    f" JOIN unnest(?::{stream_type}[], ?::bigint[]) AS k(s, v)"
                    f" ON e.{stream} = k.s AND e.{version} = k.v{extra}",
                    [[key[0] for key in chunk], [key[1] for key in chunk]],
                )
            return rows
        probes = [[stream_id, number, stored(stream_id)] for stream_id, number in ordered]
        return self.all(
            f"SELECT k.value ->> 0, k.value ->> 1, {select} FROM json_each(?) AS k"
            f" CROSS JOIN {source} AS e"
            f" WHERE e.{stream} = k.value ->> 2 AND e.{version} = k.value ->> 1{extra}",
            [orjson.dumps(probes).decode()],
        )

    def in_chunks(self, values: Iterable[Any], size: int = 500) -> Iterator[tuple[str, list[Any]]]:
        """``(placeholders, params)`` for ``IN (…)`` lists of at most ``size`` text values.

        PostgreSQL: every value at once, as one array parameter in binary form (``IN (SELECT
        unnest(%b::text[]))``): a statement with hundreds of placeholders cost more to compose
        and parse than to run, the text form of an array quotes each value with a regular
        expression, and the planner sees how many values there are: for a few it probes the
        index, for thousands it scans the table once (in chunks, each chunk scanned it again).
        """
        items = list(values)
        if self.dialect.is_postgres:
            if items:
                yield "SELECT unnest(%b::text[])", [items]
            return
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            yield ", ".join("?" * len(chunk)), chunk


@dataclass
class _Snapshot:
    """The read transaction of :meth:`Views.snapshot`, the read models it caught up, and what
    :meth:`Views.shared` kept in it."""

    cursor: Any
    names: frozenset[str]
    kept: dict[Hashable, Any] = field(default_factory=dict)


class Views:
    """The projection side of one ledger: its store, tables and the state of each read model."""

    def __init__(self, app: TrajectoryLedger) -> None:
        self.app = app
        recorder = app.recorder
        if isinstance(recorder, TrajectPostgresRecorder):
            self.dialect = Dialect("postgres", "%s", recorder.prefix, "BIGINT")
        elif isinstance(recorder, TrajectSQLiteRecorder):
            self.dialect = Dialect("sqlite", "?", "", "INTEGER")
        else:
            msg = "projections need the SQLite or PostgreSQL store (not the in-memory one)"
            raise ProjectionStoreError(msg)
        self.recorder: TrajectSQLiteRecorder | TrajectPostgresRecorder = recorder
        self.schema = (
            recorder.datastore.schema if isinstance(recorder, TrajectPostgresRecorder) else ""
        )
        self._state_table_ready = False
        self._held: Any = None  # the connection a rebuild holds (SQLite), see bulk()
        self._snapshot: _Snapshot | None = None  # see snapshot()

    @cached_property
    def writable(self) -> bool:
        """Whether the connected user may write the read models (always, on SQLite).

        On PostgreSQL: the ``UPDATE`` privilege on ``traject_projection_state``, of the table
        or of some of its columns (staff have it of the position's, the owner of the table;
        analysts and auditors have none, see ``ledger.roles``). Before the state table exists:
        whoever may create tables in the schema.
        """
        return self._may(STATE_TABLE, "UPDATE", any_column=True)

    @cached_property
    def builder(self) -> tuple[bool, str, str]:
        """Whether the connected user may build and rebuild read models, the owner of the
        ledger's tables, and the connected user.

        On PostgreSQL only the owner of the ledger's tables may (a rebuild creates tables in
        the schema and drops the live ones); on SQLite anyone may.
        """
        if not self.dialect.is_postgres:
            return True, "", ""
        with self.transaction(commit=False) as tx:
            rows = tx.all(
                "SELECT pg_has_role(current_user, relowner, 'USAGE'),"
                " pg_get_userbyid(relowner), current_user"
                " FROM pg_class WHERE oid = to_regclass(?)",
                [self.table(self.recorder.events_table_name)],
            )
        mine, owner, user = rows[0]
        return bool(mine), str(owner), str(user)

    @cached_property
    def events_readable(self) -> bool:
        """Whether the connected user may read the events table (an analyst may not)."""
        return self._may(self.recorder.events_table_name, "SELECT")

    def last_notification_id(self) -> int | None:
        """The last notification id, also for a reader who may not read the events table.

        Such a reader asks ``traject_last_notification_id()`` (made by ``traject admin
        roles``, see ``ledger.roles``); None when that function is not there.
        """
        if self.events_readable:
            return self.max_notification_id()
        function = f'"{self.schema or "public"}".traject_last_notification_id()'
        with self.transaction(commit=False) as tx:
            if tx.all("SELECT to_regprocedure(?)", [function])[0][0] is None:
                return None
            return int(tx.all(f"SELECT {function}", [])[0][0] or 0)

    def _may(self, table: str, privilege: str, *, any_column: bool = False) -> bool:
        if not self.dialect.is_postgres:
            return True
        schema = self.schema or "public"
        name = f'"{schema}"."{table}"'
        check = "has_any_column_privilege" if any_column else "has_table_privilege"
        with self.transaction(commit=False) as tx:
            rows = tx.all(
                "SELECT CASE WHEN to_regclass(?) IS NULL THEN has_schema_privilege(?, 'CREATE')"
                f" ELSE {check}(to_regclass(?), ?) END",
                [name, schema, name, privilege],
            )
        return bool(rows[0][0])

    @contextmanager
    def transaction(
        self, *, commit: bool, suffix: str = "", staged: Iterable[str] = ()
    ) -> Iterator[Tx]:
        """A transaction on the projection tables; ``suffix`` names the tables being written
        and ``staged`` the (fact) tables whose rows a SQLite rebuild writes to its temporary
        database instead (see :func:`rebuild_many`)."""
        if self._snapshot is not None:
            if commit:
                msg = "a snapshot is read-only: catch read models up before it (snapshot())"
                raise ProjectionStoreError(msg)
            yield Tx(self._snapshot.cursor, self.dialect, suffix, staged)
            return
        if self._held is not None:
            with self._held.transaction(commit=commit) as cursor:
                yield Tx(cursor, self.dialect, suffix, staged)
            return
        with self.recorder.datastore.transaction(commit=commit) as cursor:
            tx = Tx(cursor, self.dialect, suffix, staged)
            if commit and suffix == NEW_SUFFIX and self.dialect.is_postgres:
                # a rebuild's writes to its __new tables: the commit does not wait for the
                # server to flush the write-ahead log. A crash may lose such a commit, never
                # corrupt anything; the swap's commit waits as usual, and its flush covers
                # every earlier one (the log is written in order), so nothing swapped in can
                # be lost; a crash before the swap ends this rebuild, and the next one starts
                # the __new tables afresh.
                tx.execute("SET LOCAL synchronous_commit = off")
            yield tx

    @contextmanager
    def snapshot(self, projections: Iterable[Projection]) -> Iterator[None]:
        """Catch ``projections`` up, then read them as one state of the store.

        For a report composed of other reports (P14, P15): within the block every read goes
        through one read-only transaction (``REPEATABLE READ`` on PostgreSQL; on SQLite a
        read transaction in WAL mode sees the file as at its first read), so a fact recorded
        or caught up meanwhile by another process is in none of the figures rather than in
        some. :func:`catch_up` returns the projection's state as read in that transaction,
        and what :meth:`shared` computes is kept for the block (the caseload on a date, read
        by several reports). Nothing may be written in the block. A nested snapshot is the
        outer one.
        """
        if self._snapshot is not None:
            yield
            return
        projections = list(projections)
        for projection in projections:
            catch_up(self, projection)
        with self.recorder.datastore.transaction(commit=False) as cursor:
            if self.dialect.is_postgres:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            self._snapshot = _Snapshot(cursor, frozenset(p.name for p in projections))
            try:
                yield
            finally:
                self._snapshot = None

    def caught_up_in_snapshot(self, projection: Projection) -> bool | None:
        """None outside a :meth:`snapshot`; in one, whether it caught ``projection`` up."""
        return None if self._snapshot is None else projection.name in self._snapshot.names

    def shared(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, or within :meth:`snapshot` the value it gave for ``key`` there."""
        if self._snapshot is None:
            return compute()
        kept = self._snapshot.kept
        if key not in kept:
            kept[key] = compute()
        return cast("T", kept[key])

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """Hold one connection for a rebuild; on SQLite with settings for a bulk load.

        SQLite: ``synchronous=NORMAL`` (in WAL mode a commit then does not wait for the disk;
        a crash can lose the last commits, never corrupt the file) and a 64 MiB page cache,
        for this connection only. Both are set back before the caller's final transaction
        (the swap), whose commit syncs the write-ahead log and so everything before it. The
        connection's temporary database (where a rebuild stages its rows) is kept in a file
        with a page cache of the same fixed size, 64 KiB pages and no rollback journal;
        staging tables left by a failed rebuild are dropped at the end.
        """
        if self.dialect.is_postgres or self._held is not None:
            yield
            return
        with self.recorder.datastore.get_connection(commit=True) as connection:
            pragma = connection.cursor().sqlite_cursor
            pragma.execute("PRAGMA synchronous")
            synchronous = int(pragma.fetchone()[0])
            pragma.execute("PRAGMA cache_size")
            cache_size = int(pragma.fetchone()[0])
            pragma.execute("PRAGMA temp_store")
            temp_store = int(pragma.fetchone()[0])
            pragma.execute("PRAGMA synchronous = NORMAL")
            pragma.execute(f"PRAGMA cache_size = {-BULK_CACHE_KIB}")
            pragma.execute("PRAGMA temp_store = FILE")  # bounded memory, whatever the log
            # large pages for the staging tables: random inserts into a table many times the
            # size of its cache cost half as much as with 4 KiB pages (set before the
            # connection's temporary database is first written; later it stays as it is)
            pragma.execute(f"PRAGMA temp.page_size = {STAGING_PAGE_BYTES}")
            # no rollback journal for the staging tables: a failed rebuild drops them anyway,
            # and journaling each page an update or insert touches first (64 KiB a page)
            # cost more than the writes themselves
            pragma.execute("PRAGMA temp.journal_mode")
            temp_journal = str(pragma.fetchone()[0])
            pragma.execute("PRAGMA temp.journal_mode = OFF")
            # freed pages not zeroed while the rebuild drops staging and leftover tables
            # (read-model tables only: see _plain_drops)
            pragma.execute("PRAGMA main.secure_delete")
            secure_delete = int(pragma.fetchone()[0])
            pragma.execute("PRAGMA temp.secure_delete")
            temp_secure_delete = int(pragma.fetchone()[0])
            pragma.execute("PRAGMA main.secure_delete = 0")
            pragma.execute("PRAGMA temp.secure_delete = 0")
            pragma.execute(f"PRAGMA temp.cache_size = {-BULK_CACHE_KIB}")
            self._held = connection
            try:
                yield
            finally:
                self._held = None
                pragma.execute(
                    "SELECT name FROM temp.sqlite_master WHERE type = 'table' AND name LIKE ?",
                    [f"%{STAGED_SUFFIX}"],
                )
                for (name,) in pragma.fetchall():
                    pragma.execute(f"DROP TABLE IF EXISTS temp.{name}")
                pragma.execute(f"PRAGMA synchronous = {synchronous}")
                pragma.execute(f"PRAGMA cache_size = {cache_size}")
                pragma.execute(f"PRAGMA temp_store = {temp_store}")
                pragma.execute(f"PRAGMA temp.journal_mode = {temp_journal}")
                pragma.execute(f"PRAGMA main.secure_delete = {secure_delete}")
                pragma.execute(f"PRAGMA temp.secure_delete = {temp_secure_delete}")
                pragma.close()

    @contextmanager
    def durable(self) -> Iterator[None]:
        """Inside :meth:`bulk`: the store's own durability again (for the swap)."""
        if self._held is None:
            yield
            return
        pragma = self._held.cursor().sqlite_cursor
        pragma.execute("PRAGMA synchronous = FULL")
        try:
            yield
        finally:
            pragma.execute("PRAGMA synchronous = NORMAL")
            pragma.close()

    def table(self, name: str) -> str:
        return f"{self.dialect.prefix}{name}"

    def max_notification_id(self) -> int:
        return int(self.recorder.max_notification_id() or 0)

    def select(self, projection: Projection, position: int, limit: int) -> list[Note]:
        """The next ``limit`` notifications after ``position`` of the kinds ``projection`` reads."""
        return self.read_notes(position, limit, projection.topics)

    def read_notes(self, position: int, limit: int, topics: Sequence[str]) -> list[Note]:
        """The next ``limit`` notifications after ``position`` with one of ``topics``.

        One plain SQL query selecting only the columns the engine needs (stream ids as text),
        instead of the library's ``select_notifications`` building a ``Notification`` each.
        """
        return [Note(*row) for row in self.read_rows(position, limit, topics)]

    def read_rows(
        self, position: int, limit: int, topics: Sequence[str], until: int | None = None
    ) -> list[tuple[int, str, int, str, bytes]]:
        """:meth:`read_notes` as plain tuples (id, stream id, version, topic, state); with
        ``until``: only notification ids up to it."""
        recorder = self.recorder
        limits = [] if until is None else [until]
        if isinstance(recorder, TrajectPostgresRecorder):
            bound = "" if until is None else " AND notification_id <= %s"
            statement = (
                "SELECT notification_id, originator_id::text, originator_version, topic, state"
                f" FROM {recorder.events_table} WHERE notification_id > %s"
                f" AND topic = ANY(%s){bound} ORDER BY notification_id LIMIT %s"
            )
            params: list[Any] = [position, list(topics), *limits, limit]
        else:
            bound = "" if until is None else " AND rowid <= ?"
            # the library keeps UUIDs as 32 hex digits on SQLite: give them their usual form
            statement = (
                "SELECT rowid, CASE WHEN length(originator_id) = 32 THEN"
                " substr(originator_id, 1, 8) || '-' || substr(originator_id, 9, 4) || '-' ||"
                " substr(originator_id, 13, 4) || '-' || substr(originator_id, 17, 4) || '-' ||"
                " substr(originator_id, 21) ELSE originator_id END,"
                " originator_version, topic, state"
                f" FROM {recorder.events_table_name} WHERE rowid > ?"
                f" AND topic IN ({', '.join('?' * len(topics))}){bound} ORDER BY rowid LIMIT ?"
            )
            params = [position, *topics, *limits, limit]
        with self.transaction(commit=False) as tx:
            if self.dialect.is_postgres:
                # a page is a walk along the notification id index; JIT compilation only adds
                # to it (~0.1 s a page where the planner overestimates the page's cost)
                tx.execute("SET LOCAL jit = off")
            tx.cursor.execute(statement, params)
            rows: list[tuple[int, str, int, str, bytes]] = tx.cursor.fetchall()
            return rows

    def topic_sample(self, top: int, size: int = TOPIC_SAMPLE) -> dict[str, float]:
        """The estimated number of events of each topic among notification ids 1 to ``top``:
        the topics of ``size`` ids drawn at random (the same ids for the same ``top``), scaled
        up; ids that are gaps (PostgreSQL) count for nothing. A few thousand look-ups by id:
        enough to balance the work of a parallel rebuild, without reading the log."""
        if top < 1:
            return {}
        draw = Random(top)  # noqa: S311 - a sample for balancing work, not a secret
        ids = sorted(draw.sample(range(1, top + 1), min(size, top)))
        recorder = self.recorder
        if isinstance(recorder, TrajectPostgresRecorder):
            statement = (
                f"SELECT topic, count(*) FROM {recorder.events_table}"
                " WHERE notification_id = ANY(?) GROUP BY topic"
            )
            params: list[Any] = [ids]
        else:
            statement = (
                f"SELECT e.topic, count(*) FROM json_each(?) AS k"
                f" CROSS JOIN {recorder.events_table_name} AS e"
                " WHERE e.rowid = k.value GROUP BY e.topic"
            )
            params = [orjson.dumps(ids).decode()]
        with self.transaction(commit=False) as tx:
            counts = tx.all(statement, params)
        scale = top / len(ids)
        return {str(topic): int(count) * scale for topic, count in counts}

    def target_topics(self, tx: Tx, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
        """The topic of each stored event among ``keys`` (stream id, version), looked up in the
        events table by its key: a rebuild then looks up the target of a correction only in
        the read models that keep facts of the target's kind."""
        recorder = self.recorder
        if isinstance(recorder, TrajectPostgresRecorder):
            rows = tx.by_key(
                "e.topic",
                recorder.events_table,
                keys,
                columns=("originator_id", "originator_version"),
                stream_type="uuid",
            )
        else:  # the library keeps UUIDs as 32 hex digits on SQLite
            rows = tx.by_key(
                "e.topic",
                recorder.events_table_name,
                keys,
                columns=("originator_id", "originator_version"),
                stored=lambda stream_id: stream_id.replace("-", ""),
            )
        return {(stream_id, int(version)): topic for stream_id, version, topic in rows}

    # --- state --------------------------------------------------------------------------------

    def ensure_state_table(self) -> None:
        if self._state_table_ready or not self.writable:
            return
        if self.tables_exist([], extra=(STATE_TABLE, REBUILDS_TABLE)):
            # CREATE TABLE IF NOT EXISTS needs the right to create tables even when they
            # exist, which staff lack on PostgreSQL (ledger.roles)
            self._state_table_ready = True
            return
        with self.transaction(commit=True) as tx:
            tx.execute(
                f"CREATE TABLE IF NOT EXISTS {tx.table(STATE_TABLE)} ("
                " name TEXT PRIMARY KEY,"
                f" position {self.dialect.int_type} NOT NULL,"
                " rule_version TEXT NOT NULL,"
                " layout TEXT NOT NULL,"
                " digest TEXT,"
                " rebuilt_at TEXT,"
                f" events_seen {self.dialect.int_type} NOT NULL)"
            )
            tx.execute(
                f"CREATE TABLE IF NOT EXISTS {tx.table(REBUILDS_TABLE)} ("
                " name TEXT PRIMARY KEY, run_id TEXT NOT NULL, started_at TEXT NOT NULL)"
            )
        self._state_table_ready = True

    def read_state(self, name: str, tx: Tx | None = None) -> StoredState | None:
        self.ensure_state_table()
        if not self.writable and not self.tables_exist([], extra=(STATE_TABLE,)):
            return None  # nobody built a read model yet, and this user may not
        statement = (
            "SELECT name, position, rule_version, layout, digest, rebuilt_at, events_seen"
            f" FROM {self.table(STATE_TABLE)} WHERE name = ?"
        )
        if tx is None:
            with self.transaction(commit=False) as read:
                rows = read.all(statement, [name])
        else:
            rows = tx.all(statement, [name])
        return StoredState(*rows[0]) if rows else None

    def tables_exist(
        self,
        tables: Iterable[Table],
        suffix: str = "",
        extra: Sequence[str] = (),
        tx: Tx | None = None,
    ) -> bool:
        """Whether every table (and every one named in ``extra``) exists and is visible (in
        ``tx`` when given)."""
        names = [t.name + suffix for t in tables] + list(extra)
        if tx is not None:
            return self._found_tables(tx, names)
        with self.transaction(commit=False) as read:
            return self._found_tables(read, names)

    def _found_tables(self, tx: Tx, names: list[str]) -> bool:
        if self.dialect.is_postgres:
            found = tx.all(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = ? AND table_name = ANY(?)",
                [self.schema, names],
            )
        else:
            marks = ", ".join("?" * len(names))
            found = tx.all(
                f"SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({marks})",
                names,
            )
        return len(found) == len(names)


@dataclass(frozen=True)
class StoredState:
    """A row of ``traject_projection_state``."""

    name: str
    position: int
    rule_version: str
    layout: str
    digest: str | None
    rebuilt_at: str | None
    events_seen: int


@dataclass(frozen=True)
class ProjectionStatus:
    """What ``traject projections status`` shows for one read model."""

    name: str
    built: bool
    position: int
    max_notification_id: int | None  # None: a reader who may not read the log
    rule_version: str | None
    current_rule_version: str
    digest: str | None
    rebuilt_at: str | None
    events_seen: int
    needs_rebuild: bool
    rebuild: RebuildClaim | None = None
    """A rebuild's claim on the read model (begun, not swapped in); None also for a reader who
    may not read the claims (the analyst)."""

    @property
    def lag(self) -> int | None:
        """Notification ids not yet processed (ids, not a count: PostgreSQL ids have gaps);
        None when the last id is not known to this reader."""
        if self.max_notification_id is None:
            return None
        return max(0, self.max_notification_id - self.position)


@dataclass(frozen=True)
class RebuildClaim:
    """A rebuild run's claim on a read model: when it started, and whether its run is alive
    (else it was killed or failed, and the next rebuild takes the claim over)."""

    started_at: str
    running: bool


@dataclass(frozen=True)
class RunResult:
    """The outcome of a catch-up or a rebuild."""

    name: str
    position: int
    events: int
    digest: str | None
    rebuilt: bool = False


# --------------------------------------------------------------------------------------------
# Decoding and applying a page of notifications
# --------------------------------------------------------------------------------------------


def canonical_timestamp(text: str) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, fixed width), so that text order is time order.

    Every text is parsed (a hand-altered one raises ``ValueError``); the two forms traject
    stores (UTC with ``Z``, with or without microseconds) are then completed as text, which
    is an order of magnitude cheaper than formatting the parsed moment."""
    moment = datetime.fromisoformat(text)
    if text[-1:] == "Z" and text[4:5] == "-" and text[10:11] == "T":
        if len(text) == 27 and text[19] == ".":
            return text
        if len(text) == 20:
            return f"{text[:19]}.000000Z"
    if moment.tzinfo is None:
        msg = f"naive timestamp {text!r} in the event log"
        raise ValueError(msg)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def timestamp_text(moment: datetime) -> str:
    """An aware datetime in the canonical form of :func:`canonical_timestamp`."""
    if moment.tzinfo is None:
        msg = "as-known-at moments must be timezone-aware"
        raise ValueError(msg)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dumps(payload: Mapping[str, Any]) -> str:
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode()


class Note(NamedTuple):
    """One notification as the engine reads it (the library's ``Notification`` also fits)."""

    id: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


_CORRECTED = "EventCorrected"


Decoded = tuple[str, str, int, dict[str, Any], str]
"""topic, stream id, stream version, stored state and recorded time (canonical form) of one
notification."""

_Entry = tuple[list[Any], dict[str, Any], bool]
"""A fact revision while a page is applied: its row (at least the first seven columns), its
payload, and whether the row is already in the table (closing it then needs an UPDATE)."""


def decode_notes(notes: Iterable[Any]) -> list[Decoded]:
    """Every notification decoded once with orjson, for any number of projections
    (``_pii`` stays unread)."""
    loads = orjson.loads
    decoded: list[Decoded] = []
    note: Any = None
    try:
        for note in notes:
            state = loads(note.state)
            decoded.append(
                (
                    note.topic,
                    str(note.originator_id),
                    note.originator_version,
                    state,
                    canonical_timestamp(state["timestamp"]),
                )
            )
    except (ValueError, TypeError, KeyError) as error:
        if note is None:
            raise
        raise _undecodable(note.originator_id, note.originator_version, note.state, error) from None
    return decoded


def _decode_rows(rows: Iterable[tuple[int, str, int, str, bytes]]) -> list[Decoded]:
    """:func:`decode_notes` for the plain rows of :meth:`Views.read_rows`."""
    loads = orjson.loads
    decoded: list[Decoded] = []
    row: Any = None
    try:
        for row in rows:
            _, stream_id, version, topic, stored = row
            state = loads(stored)
            decoded.append(
                (topic, stream_id, version, state, canonical_timestamp(state["timestamp"]))
            )
    except (ValueError, TypeError, KeyError) as error:
        if row is None:
            raise
        raise _undecodable(row[1], row[2], row[4], error) from None
    return decoded


def _undecodable(stream_id: Any, version: Any, stored: Any, error: Exception) -> Exception:
    """What to raise for a stored state that did not decode: a MalformedEventError when its
    bytes are not a JSON object with an aware recorded time (so they were altered by hand:
    traject writes none such), else ``error`` itself (a bug)."""
    try:
        state = orjson.loads(stored)
    except (orjson.JSONDecodeError, TypeError):
        return MalformedEventError(stream_id, version, "its stored bytes are not JSON")
    moment = state.get("timestamp") if isinstance(state, dict) else None
    try:
        aware = isinstance(moment, str) and datetime.fromisoformat(moment).tzinfo is not None
    except ValueError:
        aware = False
    if not aware:
        what = "its stored bytes are not a JSON object with the time it was recorded"
        return MalformedEventError(stream_id, version, what)
    return error


_row_key = itemgetter(0)  # the stream id, the first column of the fact table's key
_CONTROL_TOPICS = frozenset(get_topic(cls) for cls in (ev.EventCorrected, ev.EventRetracted))


def _select_kinds(projection: Projection, decoded: Sequence[Decoded]) -> list[Decoded]:
    """The entries the projection reads (its kinds, corrections and retractions)."""
    topic_kinds = projection.topic_kinds
    return [d for d in decoded if d[0] in topic_kinds]


def _split_kinds(
    projections: Sequence[Projection], decoded: Sequence[Decoded]
) -> list[list[Decoded]]:
    """:func:`_select_kinds` of several projections in one pass over the page."""
    selected: list[list[Decoded]] = [[] for _ in projections]
    readers: dict[str, list[Callable[[Decoded], None]]] = {}
    for mine, projection in zip(selected, projections, strict=True):
        for topic in projection.topic_kinds:
            readers.setdefault(topic, []).append(mine.append)
    for entry in decoded:
        for add in readers.get(entry[0], ()):
            add(entry)
    return selected


def _outside_targets(decoded: Sequence[Decoded]) -> set[tuple[str, int]]:
    """The (stream, version) targets of the page's corrections and retractions that are not
    in the page: only those can be in the fact tables already (the page comes after them)."""
    control = _CONTROL_TOPICS
    try:
        targets = {(d[1], int(d[3]["target_version"])) for d in decoded if d[0] in control}
    except (ValueError, TypeError, KeyError) as error:  # a target_version kept as stored
        malformed = _malformed_among([d for d in decoded if d[0] in control])
        if malformed is None:
            raise  # the events are as traject writes them: a bug
        raise malformed from error
    if targets:
        targets.difference_update([(d[1], d[2]) for d in decoded])
    return targets


def apply_page(
    tx: Tx, projection: Projection, notes: Sequence[Any], *, refresh: bool = True
) -> set[str]:
    """Write the facts of one page of notifications; return the streams whose facts changed.

    With ``refresh``, derived tables are brought up to date for those streams too.
    """
    return apply_decoded(tx, projection, decode_notes(notes), refresh=refresh)


def apply_decoded(
    tx: Tx, projection: Projection, decoded: Sequence[Decoded], *, refresh: bool = True
) -> set[str]:
    """:func:`apply_page` for notifications already decoded by :func:`decode_notes` (one
    decoding feeds every projection of a rebuild)."""
    return _apply_selected(
        tx, projection, _select_kinds(projection, decoded), _outside_targets(decoded), refresh
    )


def _apply_selected(
    tx: Tx,
    projection: Projection,
    mine: Sequence[Decoded],
    outside: set[tuple[str, int]],
    refresh: bool,
) -> set[str]:
    """:func:`apply_decoded` for the page's entries the projection reads (``mine``) and the
    targets of corrections that may be in its tables already (``outside``)."""
    current: dict[tuple[str, int], _Entry] = (
        _load_current(tx, projection, outside) if outside else {}
    )
    try:
        inserts, closes, touched = _fold_entries(mine, projection, current)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise _told_among(mine) from error

    facts = projection.facts_table
    _close(tx, tx.table(facts.name), closes)
    inserts.sort(key=_row_key)  # in key order: neighbouring rows land on the same pages
    try:
        tx.insert(facts, inserts)
    except UNFIT_VALUE_ERRORS as error:  # a value of a type its column does not take
        raise _told_among(mine) from error
    if touched and refresh:
        try:
            projection.refresh(tx, touched)
        except (ValueError, TypeError, KeyError) as error:
            # the value may have come from an earlier page: then every touched stream is read
            raise _told_among(mine, touched) from error
    return touched


UNFIT_VALUE_ERRORS = (
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
    OverflowError,
    psycopg.DataError,
    psycopg.ProgrammingError,
)
"""What the database driver raises for a value it cannot store in a column (a list, an
object, a number too large, text where a number goes): values kept as stored can be such."""


def _told_among(
    mine: Sequence[Decoded], streams: Iterable[str] | None = None
) -> MalformedEventError | FactsFailedError:
    """What to raise when a read model failed on the values of a page's entries (``mine``):
    the first entry that does not fit its event class, or else a :class:`FactsFailedError`
    of the streams to read through their models (:func:`told_apart`): those of the page's
    corrections (whose changes may not fit what they correct), or ``streams``."""
    malformed = _malformed_among(mine)
    if malformed is not None:
        return malformed
    if streams is None:
        streams = {entry[1] for entry in mine if entry[0] in _CONTROL_TOPICS}
    return FactsFailedError(streams)


def _malformed_among(entries: Sequence[Decoded]) -> MalformedEventError | None:
    """The first of ``entries`` whose stored fields do not fit its event class, as the mapper
    reads it (without personal fields): a stored event traject did not write."""
    mapper = PydanticMapper()
    for topic, stream_id, version, state, _ in entries:
        stored = StoredEvent(UUID(stream_id), version, topic, orjson.dumps(state))
        try:
            mapper.to_domain_event(stored, personal=False)
        except MalformedEventError as malformed:
            return malformed
    return None


class FactsFailedError(Exception):
    """A read model failed on values it took from the stored events of ``streams`` without
    their models (its fast path): raised from that error, and told apart by
    :func:`check_streams` (at the level of :class:`Views`, outside the failed transaction)."""

    def __init__(self, streams: Iterable[str]) -> None:
        self.streams = frozenset(streams)
        super().__init__(f"a read model failed on the facts of {len(self.streams)} streams")


def check_streams(views: Views, stream_ids: Iterable[str]) -> None:
    """Read the stored events of ``stream_ids`` through their models (``check_stored`` of
    the ledger), for a reader that failed on values of their facts: raise the
    :class:`MalformedEventError` naming the event altered outside traject, if one was; else
    return, and the reader's failure is a bug (re-raise it). Slow: for that failure only."""
    views.app.check_stored(UUID(str(stream_id)) for stream_id in stream_ids)


@contextmanager
def checked_on_failure(
    views: Views,
    streams: Callable[[], Iterable[str]],
    errors: tuple[type[BaseException], ...] = (ValueError, TypeError),
) -> Iterator[None]:
    """Run a block that parses values its read models kept as stored (taken from the stored
    events without their models): when it fails with one of ``errors``, the stored events of
    ``streams()`` are read through their models (:func:`check_streams`). An altered one raises
    its :class:`MalformedEventError`; else the failure goes on as it was (a bug)."""
    try:
        yield
    except errors:
        check_streams(views, streams())
        raise


CAST_ERRORS = (psycopg.DataError, LibraryDataError)
"""What PostgreSQL raises when SQL casts a value that is not of the type (``'2024-13-45'::date``),
raw inside a transaction, the library's own after it: values kept as stored can be such."""


def undated_streams(views: Views, projections: Iterable[Projection]) -> set[str]:
    """The streams of the projections' fact rows whose ``occurred_on`` is no ISO date (kept as
    stored, so altered by hand), for a reader whose SQL failed to cast one (CAST_ERRORS): read
    on a connection of its own, as the failed transaction may be a snapshot's. Each table's
    distinct dates are checked in Python: for that failure only."""
    found: set[str] = set()
    with views.recorder.datastore.transaction(commit=False) as cursor:
        tx = Tx(cursor, views.dialect)
        for projection in projections:
            table = tx.table(projection.facts_table.name)
            days = [day for (day,) in tx.all(f"SELECT DISTINCT occurred_on FROM {table}")]
            wrong = [day for day in days if not _is_date(day)]
            for marks, chunk in tx.in_chunks(wrong):
                found.update(
                    str(stream)
                    for (stream,) in tx.all(
                        f"SELECT DISTINCT stream_id FROM {table} WHERE occurred_on IN ({marks})",
                        chunk,
                    )
                )
    return found


def _is_date(text: Any) -> bool:
    try:
        date.fromisoformat(text)
    except (ValueError, TypeError):
        return False
    return True


@contextmanager
def told_apart(views: Views) -> Iterator[None]:
    """Turn a :class:`FactsFailedError` raised in the block into the
    :class:`MalformedEventError` of the altered event behind it, or into the error it was
    raised from when the events are as traject writes them (a bug)."""
    try:
        yield
    except FactsFailedError as failed:
        check_streams(views, failed.streams)
        cause = failed.__cause__
        if cause is None:
            raise
        cause.__suppress_context__ = True  # its own traceback, not this one's
        raise cause  # noqa: B904 - the failure as it was


def telling_apart(
    function: Callable[Concatenate[Views, Params], Returned],
) -> Callable[Concatenate[Views, Params], Returned]:
    """``function(views, …)`` run in :func:`told_apart` of its ``views``."""

    @wraps(function)
    def run(views: Views, /, *args: Params.args, **kwargs: Params.kwargs) -> Returned:
        with told_apart(views):
            return function(views, *args, **kwargs)

    return run


def _fold_entries(
    mine: Sequence[Decoded], projection: Projection, current: dict[tuple[str, int], _Entry]
) -> tuple[list[list[Any]], list[tuple[str, int, str, int, int]], set[str]]:
    """The fact rows of a page's entries (``current``: the revisions each fact has so far):
    the new revisions, the revisions stored before and closed now (``(known_to,
    superseded_by, stream, version, revision)``), and the streams whose facts changed."""
    inserts: list[list[Any]] = []
    closes: list[tuple[str, int, str, int, int]] = []
    touched: set[str] = set()
    topic_kinds = projection.topic_kinds
    kind_fields = projection.kind_fields
    topic_fields = projection.topic_fields
    fact_values = projection.fact_values
    dumps = orjson.dumps
    sort_keys = orjson.OPT_SORT_KEYS
    control = _CONTROL_TOPICS
    add = inserts.append
    for topic, stream_id, version, state, known in mine:
        if topic not in control:
            kind, fields = topic_fields[topic]
            payload = dict(zip(fields, map(state.get, fields), strict=True))
            row = [
                stream_id,
                version,
                0,
                kind,
                state["occurred_on"],
                state["municipality"],
                known,
                None,
                None,
                dumps(payload, option=sort_keys).decode(),
                *fact_values(kind, payload),
            ]
            current[(stream_id, version)] = (row, payload, False)
            add(row)
            touched.add(stream_id)
            continue
        key = (stream_id, int(state["target_version"]))
        entry = current.pop(key, None)
        if entry is None:
            continue  # not a fact this projection keeps, or one already retracted
        target, payload, stored = entry
        touched.add(stream_id)
        if stored:
            closes.append((known, version, stream_id, target[1], target[2]))
        else:
            target[7], target[8] = known, version
        if topic_kinds[topic] == _CORRECTED:
            changes = state.get("changes") or {}
            target_kind = target[3]
            fields = kind_fields[target_kind]
            revised_payload = {**payload, **{k: v for k, v in changes.items() if k in fields}}
            revised = [
                stream_id,
                target[1],
                target[2] + 1,
                target_kind,
                str(changes.get("occurred_on", target[4])),
                str(changes.get("municipality", target[5])),
                known,
                None,
                None,
                dumps(revised_payload, option=sort_keys).decode(),
                *fact_values(target_kind, revised_payload),
            ]
            current[key] = (revised, revised_payload, False)
            add(revised)
    return inserts, closes, touched


def _close(tx: Tx, table: str, closes: Sequence[tuple[str, int, str, int, int]]) -> None:
    """Close stored fact revisions: ``(known_to, superseded_by, stream, version, revision)``
    each; on PostgreSQL in one statement (a round trip per row costs more than the update)."""
    if not closes:
        return
    if tx.dialect.is_postgres:
        tx.execute(
            f"UPDATE {table} SET known_to = c.known_to, superseded_by = c.superseded_by"
            " FROM unnest(?::text[], ?::bigint[], ?::text[], ?::bigint[], ?::bigint[])"
            " AS c(known_to, superseded_by, s, v, r)"
            " WHERE stream_id = c.s AND version = c.v AND revision = c.r",
            [list(column) for column in zip(*closes, strict=True)],
        )
        return
    tx.executemany(
        f"UPDATE {table} SET known_to = ?, superseded_by = ?"
        " WHERE stream_id = ? AND version = ? AND revision = ?",
        closes,
    )


def _load_current(
    tx: Tx, projection: Projection, keys: set[tuple[str, int]]
) -> dict[tuple[str, int], _Entry]:
    """The current revisions of the facts ``keys`` (those this projection keeps), looked up
    by key through the key index (:meth:`Tx.by_key`)."""
    rows = tx.by_key(
        "e.revision, e.kind, e.occurred_on, e.municipality, e.known_from, e.payload",
        tx.table(projection.facts_table.name),
        keys,
        condition="e.known_to IS NULL",
    )
    return {
        (stream_id, int(version)): (
            [stream_id, int(version), int(revision), kind, occurred_on, municipality, known],
            orjson.loads(payload),
            True,
        )
        for stream_id, version, revision, kind, occurred_on, municipality, known, payload in rows
    }


# --------------------------------------------------------------------------------------------
# Digest
# --------------------------------------------------------------------------------------------


def compute_digest(tx: Tx, projection: Projection) -> str:
    """SHA-256 over the projection's rows; see docs/projections.md for the exact definition.

    The hash input is a header line ``{"projection": name, "rule_version": v}``, then for each
    table (facts first, then derived tables in declared order) a line
    ``{"columns": [...], "table": name}`` followed by one line per row: the JSON array of the
    row's values in column order, rows in ascending key order (text compared bytewise). JSON is
    orjson's compact form with sorted keys; every line ends with ``\\n``.
    """
    digest = hashlib.sha256()
    digest.update(
        orjson.dumps(
            {"projection": projection.name, "rule_version": projection.rule_version},
            option=orjson.OPT_SORT_KEYS,
        )
        + b"\n"
    )
    for table in projection.tables:
        digest.update(
            orjson.dumps(
                {"columns": list(table.column_names), "table": table.name},
                option=orjson.OPT_SORT_KEYS,
            )
            + b"\n"
        )
        columns = {c.name: c for c in table.columns}
        order = ", ".join(tx.dialect.order_term(columns[name]) for name in table.key)
        source = f"FROM {tx.table(table.name)} ORDER BY {order}"
        hashed = digest.copy()  # with the table's lines as the database writes them, if it can
        if _hash_written_lines(tx, table, source, hashed):
            digest = hashed
        else:
            dumps = orjson.dumps
            statement = f"SELECT {', '.join(table.column_names)} {source}"
            for batch in tx.batches(statement, size=DIGEST_LINES):
                digest.update(b"\n".join(map(dumps, batch)) + b"\n")
    return digest.hexdigest()


def _hash_written_lines(tx: Tx, table: Table, source: str, digest: Any) -> bool:
    """Add the digest lines of ``table``'s rows (``source``: its FROM and ORDER BY) to
    ``digest`` as the database writes them (:func:`_json_line`), without a tuple per row built
    and serialised in Python; True if it did. False, with ``digest`` to be dropped (a copy),
    when the database does not write JSON as orjson does (:func:`_writes_json_as_orjson`) or
    a row holds a fraction (a REAL, which only an integer column of SQLite can hold): the two
    write fractions differently, so the caller hashes that table's rows with orjson."""
    if not _writes_json_as_orjson(tx):
        return False
    dialect = tx.dialect
    line = _json_line(dialect, [(c.name, c.type) for c in table.columns])
    fraction = " OR ".join(f"typeof({c.name}) = 'real'" for c in table.columns if c.type == INT)
    if not dialect.is_postgres and fraction:
        line = f"CASE WHEN {fraction} THEN NULL ELSE {line} END"
    for batch in tx.batches(f"SELECT {line} {source}", size=DIGEST_LINES):
        lines = [row[0] for row in batch]
        if None in lines:
            return False
        digest.update(("\n".join(lines) + "\n").encode())
    return True


def _json_line(dialect: Dialect, terms: Sequence[tuple[str, str]]) -> str:
    """SQL for the compact JSON array of ``terms`` (an SQL expression and its column type,
    each): SQLite's ``json_array``; on PostgreSQL each value by ``to_json`` (null for NULL),
    joined by commas within brackets (``json_build_array`` puts a space after each comma)."""
    if not dialect.is_postgres:
        return f"json_array({', '.join(term for term, _ in terms)})"
    values = [
        f"coalesce(to_json({term}{'::bigint' if kind == INT else '::text'})::text, 'null')"
        for term, kind in terms
    ]
    joined = " || ',' || ".join(values)
    return f"('[' || {joined} || ']')"


_JSON_PROBE = (
    "".join(map(chr, range(1, 0x500)))
    + "\u07ff\u0800\u2028\u2029\ud7ff\ue000\ufeff\ufffe\uffff\U00010000\U0010ffff",
    0,
    -1,
    2**63 - 1,
    -(2**63),
    None,
    "",
)
_JSON_AS_ORJSON: dict[tuple[str, str], bool] = {}


def _writes_json_as_orjson(tx: Tx) -> bool:
    """Whether the database writes the JSON of :func:`_json_line` in the same bytes as orjson
    for text of every kind of character (all from U+0001 to U+04FF, each length of UTF-8, the
    line and paragraph separators, the ends of the planes), integers at both ends of their
    range and null: checked once per process and database library or server version, so that
    one that escapes otherwise is never trusted with a digest. (PostgreSQL text holds no NUL.)"""
    if tx.dialect.is_postgres:
        key = ("postgres", str(tx.cursor.connection.info.server_version))
    else:
        key = ("sqlite", sqlite3.sqlite_version)
    if key not in _JSON_AS_ORJSON:
        terms = [("?", INT if isinstance(value, int) else TEXT) for value in _JSON_PROBE]
        written = tx.all(f"SELECT {_json_line(tx.dialect, terms)}", _JSON_PROBE)[0][0]
        _JSON_AS_ORJSON[key] = written.encode() == orjson.dumps(list(_JSON_PROBE))
    return _JSON_AS_ORJSON[key]


def digest(views: Views, projection: Projection) -> str:
    """The digest of the projection's current tables (recomputed, not read from the state)."""
    with views.transaction(commit=False) as tx:
        return compute_digest(tx, projection)


# --------------------------------------------------------------------------------------------
# Catch-up
# --------------------------------------------------------------------------------------------


def _lock_state(tx: Tx, name: str) -> tuple[int, str | None] | None:
    """Take the projection's write lock; read its position and digest in this transaction."""
    table = tx.table(STATE_TABLE)
    select = f"SELECT position, digest FROM {table} WHERE name = ?"
    if tx.dialect.is_postgres:
        rows = tx.all(f"{select} FOR UPDATE", [name])
    else:
        # the first write of a deferred SQLite transaction takes the database's write lock
        tx.execute(f"UPDATE {table} SET position = position WHERE name = ?", [name])
        rows = tx.all(select, [name])
    return (int(rows[0][0]), rows[0][1]) if rows else None


def check_current(projection: Projection, state: StoredState) -> None:
    if state.layout != projection.layout:
        raise ProjectionOutdatedError(projection.name, f"another table layout ({state.layout})")
    if state.rule_version != projection.rule_version:
        raise ProjectionOutdatedError(projection.name, f"rule version {state.rule_version}")


def catch_up(
    views: Views,
    projection: Projection,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    progress: Progress | None = None,
) -> RunResult:
    """Process the notifications after the projection's position, one transaction per page.

    A projection that was never built (or whose tables are gone) is built empty
    (:func:`_build_empty`), then, like one built empty by ``traject init`` on PostgreSQL, by
    :func:`rebuild` in one pass, so readers never see a half-built view; when a rebuild of it
    has begun and runs (a user's, or another reader's) this one leaves it alone
    and catches up page by page instead. A projection built with another rule version or
    table layout raises :class:`ProjectionOutdatedError`. The digest is recomputed in the
    transaction of the last page when any fact changed. The integrity log's leaves are caught
    up first (``ledger.audit.catch_up``), so every read command keeps them current.

    A user who may not write the read models (the ``traject_analyst`` and ``traject_auditor``
    roles) gets the projection as it stands, see :func:`read_as_stored`.
    """
    caught_up = views.caught_up_in_snapshot(projection)
    if caught_up is None:
        return _catch_up(views, projection, page_size=page_size, progress=progress)
    if not caught_up:
        msg = f"read model {projection.name} is read in a snapshot that did not catch it up"
        raise ProjectionStoreError(msg)
    return views.shared(("state", projection.name), lambda: _in_snapshot(views, projection))


def _in_snapshot(views: Views, projection: Projection) -> RunResult:
    """The state of a projection that :meth:`Views.snapshot` caught up, as read in it."""
    state = views.read_state(projection.name)
    if state is None:
        raise ProjectionNotBuiltError(projection.name)
    check_current(projection, state)
    return RunResult(projection.name, state.position, 0, state.digest)


@telling_apart
def _catch_up(
    views: Views, projection: Projection, *, page_size: int, progress: Progress | None
) -> RunResult:
    if not views.writable:
        return read_as_stored(views, projection)
    audit.catch_up(views.app)
    state = views.read_state(projection.name)
    if state is None or not views.tables_exist(projection.tables):
        if not views.builder[0]:
            raise ProjectionNotBuiltError(projection.name)
        # never built (on SQLite `traject init` leaves that to the first reader): built
        # empty, as `traject init` builds it on PostgreSQL, then in one pass below
        state = _build_empty(views, projection)
    check_current(projection, state)
    top = views.max_notification_id()
    position = state.position
    if position >= top and state.digest is not None:
        return RunResult(projection.name, position, 0, state.digest)
    if position == 0 and state.events_seen == 0 and views.builder[0]:
        # built empty (by `traject init` on PostgreSQL, or just above) and never caught up:
        # one pass over the log is the same read model, built faster than page by page. Never
        # in the way of another rebuild that has begun and runs (a user's, or another
        # reader's doing the same), which would stop and fail its command: then this reader
        # catches up page by page instead, and that rebuild's swap replaces the tables. The
        # claim of one that was killed is no longer anyone's: this one takes it over.
        try:
            return rebuild(
                views, projection, page_size=page_size, progress=progress, take_over=False
            )
        except RebuildSupersededError:
            pass  # another rebuild has begun, before or after this one: it carries on
    events = 0
    stored_digest = state.digest
    while True:
        notes = views.select(projection, position, page_size)
        full = len(notes) == page_size
        last = notes[-1].id if notes else position
        new_position = last if full else max(last, top)
        with views.transaction(commit=True) as tx:
            locked = _lock_state(tx, projection.name)
            if locked is None:
                msg = f"projection {projection.name} disappeared during catch-up"
                raise ProjectionStoreError(msg)
            if locked[0] != position:
                # another process moved this projection on (or rebuilt it): go on from there
                position, stored_digest = locked
                continue
            if notes:
                apply_page(tx, projection, notes)
            events += len(notes)
            if not full and (events or stored_digest is None):
                stored_digest = compute_digest(tx, projection)
            elif notes:
                stored_digest = None
            tx.execute(
                f"UPDATE {tx.table(STATE_TABLE)} SET position = ?, digest = ?,"
                " events_seen = events_seen + ? WHERE name = ?",
                [new_position, stored_digest, len(notes), projection.name],
            )
        position = new_position
        if progress is not None:
            progress(position, max(top, position))
        if not full:
            return RunResult(projection.name, position, events, stored_digest)


def read_as_stored(views: Views, projection: Projection) -> RunResult:
    """The projection as last caught up by someone who may write it, without writing.

    Recorded for :func:`stale_reads` with its lag (unknown when the events table is not
    readable). Raises :class:`ProjectionNotBuiltError` when it was never built and
    :class:`ProjectionOutdatedError` when it was built with other rules or another layout.
    """
    state = views.read_state(projection.name)
    if state is None or not views.tables_exist(projection.tables):
        raise ProjectionNotBuiltError(projection.name)
    check_current(projection, state)
    top = views.last_notification_id()
    lag = None if top is None else max(top - state.position, 0)
    if lag != 0:
        _STALE.setdefault(views.app, {})[projection.name] = StaleRead(
            projection.name, state.position, lag, tuple(projection.topics)
        )
    return RunResult(projection.name, state.position, 0, state.digest)


# --------------------------------------------------------------------------------------------
# Rebuild and swap
# --------------------------------------------------------------------------------------------


def _create_statements(dialect: Dialect, table: Table, physical: str) -> list[str]:
    return [f"CREATE TABLE {dialect.prefix}{physical} {_definition(dialect, table, physical)}"]


def _definition(dialect: Dialect, table: Table, physical: str) -> str:
    """A table's columns and key, for ``CREATE TABLE name …``."""
    columns = ", ".join(
        f"{c.name} {dialect.column_type(c)}{'' if c.nullable else ' NOT NULL'}"
        for c in table.columns
    )
    # SQLite: clustered on the key (WITHOUT ROWID), so that key lookups and the digest's
    # key-order scan read the table itself rather than an index and then the table
    clustered = "" if dialect.is_postgres else " WITHOUT ROWID"
    return f"({columns}, CONSTRAINT {physical}_pk PRIMARY KEY ({', '.join(table.key)})){clustered}"


def _staging_statements(dialect: Dialect, table: Table) -> list[str]:
    """SQLite: the rebuild's staging table of a table, in the connection's temporary
    database (a file that is never synced, has no write-ahead log and goes with the
    connection), clustered on the key like the table itself."""
    staged = f"{table.name}{STAGED_SUFFIX}"
    return [
        f"DROP TABLE IF EXISTS temp.{staged}",
        f"CREATE TEMP TABLE {staged} {_definition(dialect, table, staged)}",
    ]


def _cluster_staged(tx: Tx, table: Table) -> None:
    """SQLite: copy a table's staged rows into its (empty) ``__new`` table in key order
    (the staging table's own order: no sort), so that each page is written once; drop the
    staging table."""
    names = ", ".join(table.column_names)
    staged = f"temp.{table.name}{STAGED_SUFFIX}"
    tx.execute(
        f"INSERT INTO {table.name}{NEW_SUFFIX} ({names}) SELECT {names} FROM {staged}"
        f" ORDER BY {', '.join(table.key)}"
    )
    tx.execute(f"DROP TABLE {staged}")


def _index_statements(tx: Tx, table: Table, run_id: str) -> list[str]:
    """The secondary indexes of a table being built (``tx.table``), named after the table, the
    index's place and the rebuild run (index names are unique per database, and the live
    table's indexes keep theirs until it is dropped at the swap)."""
    return [
        f"CREATE INDEX {table.name}_ix{number}_{run_id[:8]} ON {tx.table(table.name)}"
        f" ({', '.join(index)})"
        for number, index in enumerate(table.indexes)
    ]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _claim(tx: Tx, name: str, run_id: str, *, release: bool = False) -> None:
    """Check that this rebuild run still owns the ``__new`` tables (taking the write lock)."""
    table = _lock_claim(tx, name)
    rows = tx.all(f"SELECT run_id FROM {table} WHERE name = ?", [name])
    if not rows or rows[0][0] != run_id:
        raise RebuildSupersededError(name)
    if release:
        tx.execute(f"DELETE FROM {table} WHERE name = ?", [name])


def _earlier_claim(views: Views, tx: Tx, name: str, run_id: str, *, take_over: bool) -> None:
    """Before run ``run_id`` claims ``name`` (its row locked, on SQLite the database's write
    lock taken, until ``tx`` ends): a dead run's claim (its process killed, or failed) is
    taken over, its lock file removed; one of a run that is alive is taken over only with
    ``take_over`` (that run stops at its next check), else this raises
    :class:`RebuildSupersededError`."""
    table = _lock_claim(tx, name)
    rows = tx.all(f"SELECT run_id FROM {table} WHERE name = ?", [name])
    if not rows or rows[0][0] == run_id:
        return
    if not claims.run_alive(views.recorder, rows[0][0], clear=True):
        tx.execute(
            f"UPDATE {table} SET run_id = ?, started_at = ? WHERE name = ? AND run_id = ?",
            [run_id, _now(), name, rows[0][0]],
        )
    elif not take_over:
        raise RebuildSupersededError(name)


def _lock_claim(tx: Tx, name: str) -> str:
    """Lock the row of ``name``'s rebuild run in the rebuilds table, if any (on SQLite: take
    the database's write lock); the table's name."""
    table = f"{tx.dialect.prefix}{REBUILDS_TABLE}"
    tx.execute(f"UPDATE {table} SET run_id = run_id WHERE name = ?", [name])
    return table


def _build_empty(views: Views, projection: Projection) -> StoredState:
    """Create the projection's live tables empty, at position 0, unless they are there (a
    rebuild swapped them in meanwhile); its state either way.

    Serialised with the swap of a rebuild that has begun: the swap's :func:`_claim` locks the
    same row of the rebuilds table (on SQLite the first write takes the database's write
    lock), so this sees the tables and state of a swap committed before it, and a later swap
    replaces what this created. On PostgreSQL two readers doing this at once are serialised
    by a transaction-level advisory lock named after the projection's state."""
    with views.transaction(commit=True) as tx:
        if tx.dialect.is_postgres:
            where = f"{tx.table(STATE_TABLE)}:{projection.name}"
            tx.execute("SELECT pg_advisory_xact_lock(hashtext(?))", [where])
        _lock_claim(tx, projection.name)
        state = views.read_state(projection.name, tx)
        if state is None or not views.tables_exist(projection.tables, tx=tx):
            index_run = uuid4().hex
            for live in projection.tables:
                tx.execute(f"DROP TABLE IF EXISTS {tx.table(live.name)}")
                statements = _create_statements(tx.dialect, live, live.name)
                for statement in statements + _index_statements(tx, live, index_run):
                    tx.execute(statement)
            _write_state(tx, projection, position=0, digest=None, rebuilt_at=None, seen=0)
            _grant(tx, projection)
            state = views.read_state(projection.name, tx)
    if state is None:
        msg = f"projection {projection.name} has no state after it was built empty"
        raise ProjectionStoreError(msg)
    return state


def rebuild(
    views: Views,
    projection: Projection,
    *,
    page_size: int | None = None,
    progress: Progress | None = None,
    take_over: bool = True,
) -> RunResult:
    """Build the projection afresh in ``<table>__new`` tables, then swap them in at once.

    Leftover ``__new`` tables of an interrupted rebuild are dropped first. Until the swap
    transaction commits, readers keep the old tables and the old position; a rebuild that is
    killed half-way therefore changes nothing that readers see. See :func:`rebuild_many`.

    Without ``take_over`` a rebuild of the projection that has started (and not swapped in) and
    is alive is left alone: this one raises :class:`RebuildSupersededError` at once. A killed
    or failed run's claim is taken over either way (:mod:`projections.claims`).
    """
    return rebuild_many(
        views, [projection], page_size=page_size, progress=progress, take_over=take_over
    )[0]


def require_builder(views: Views) -> None:
    """Refuse (:class:`RebuildRefusedError`) unless the connected user may rebuild."""
    mine, owner, user = views.builder
    if not mine:
        raise RebuildRefusedError(user, owner)


def rebuild_many(
    views: Views,
    projections: Sequence[Projection],
    *,
    page_size: int | None = None,
    progress: Progress | None = None,
    timings: dict[str, float] | None = None,
    workers: int = 1,
    take_over: bool = True,
) -> list[RunResult]:
    """Rebuild several projections in one pass over the notification log.

    Each page of the log is read once (only the topics some projection reads), decoded once,
    and applied to every projection's ``__new`` tables in one transaction. Derived tables are
    filled at the end, the digests are computed from the new tables, and all projections are
    swapped in by one transaction. Memory depends on ``page_size`` (default
    :data:`REBUILD_PAGE_SIZE` on SQLite, :data:`PG_REBUILD_PAGE_SIZE` on PostgreSQL), not on
    the log's length. The log is read up to the last notification id at the start; later
    events are left to the next catch-up.

    On SQLite the fact rows of the pages, and the derived tables, go to staging tables in the
    connection's temporary database, copied once, in key order, into the ``__new`` tables at
    the end (:func:`_complete`, :func:`_cluster_staged`).

    ``workers`` > 1 splits the projections into that many groups of about equal cost
    (:func:`split_groups`), each built (everything before the swap) in its own process with
    its own connection (:func:`_build_in_workers`); the swap stays one transaction here.
    ``timings``, when given, receives the seconds spent per phase (``read``, ``decode``,
    ``apply``, ``order``, ``refresh``, ``digest``, ``index``, ``swap``; with workers: summed
    over them).

    A rebuild takes over the ``__new`` tables of one that started earlier, which then stops
    with :class:`RebuildSupersededError`; without ``take_over`` (a reader's build of a read
    model nobody caught up yet) this one raises it at once instead, unless that run is dead
    (its lock free: :mod:`projections.claims`).
    """
    require_builder(views)
    if page_size is None:
        page_size = PG_REBUILD_PAGE_SIZE if views.dialect.is_postgres else REBUILD_PAGE_SIZE
    views.ensure_state_table()
    run_ids = {projection.name: uuid4().hex for projection in projections}
    top = views.max_notification_id()
    if views.dialect.is_postgres:
        # statistics of the log as it is now: without them (autovacuum off, or behind a bulk
        # import) the planner may read each page by sorting every later row
        views.recorder.analyze()
    phase = _PhaseClock(timings)
    groups = (
        split_groups(projections, workers, views.topic_sample(top))
        if workers > 1 and len(projections) > 1
        else [list(projections)]
    )
    results: list[RunResult] = []
    # each run's lock is held from before its claim is written until after the swap released
    # it (or the run failed): a claim whose lock is free is a dead run's (projections.claims)
    with claims.runs_held(views.recorder, list(run_ids.values())):
        if len(groups) > 1:
            digests, seen = _build_in_workers(
                views, groups, run_ids, top, page_size=page_size, progress=progress, timings=timings
            )
        else:
            with views.bulk(), collector_paused():
                digests, seen = _build(
                    views,
                    projections,
                    run_ids,
                    top,
                    page_size=page_size,
                    progress=progress,
                    phase=phase,
                    take_over=take_over,
                )
        with (
            phase("swap"),
            views.transaction(commit=True) as tx,
            _plain_drops(tx, "main"),
        ):
            for projection in projections:
                run_id = run_ids[projection.name]
                _swap(tx, projection, run_id, position=top, digests=digests, seen=seen)
                name = projection.name
                results.append(RunResult(name, top, seen[name], digests[name], rebuilt=True))
    return results


@contextmanager
def _plain_drops(tx: Tx, schema: str) -> Iterator[None]:
    """SQLite: freed pages of ``schema`` are not overwritten with zeros meanwhile
    (``secure_delete`` off; builds that turn it on by default made dropping the old tables of
    a 1M-event ledger take seconds). A rebuild drops only read-model tables, which hold no
    personal field and nothing the new tables do not hold; the event store keeps the
    connection's own setting, set back afterwards."""
    if tx.dialect.is_postgres:
        yield
        return
    setting = tx.all(f"PRAGMA {schema}.secure_delete")[0][0]
    tx.execute(f"PRAGMA {schema}.secure_delete = 0")
    try:
        yield
    finally:
        tx.execute(f"PRAGMA {schema}.secure_delete = {int(setting)}")


@telling_apart
def _build(
    views: Views,
    projections: Sequence[Projection],
    run_ids: Mapping[str, str],
    top: int,
    *,
    page_size: int,
    progress: Progress | None,
    phase: _PhaseClock,
    take_over: bool = True,
) -> tuple[dict[str, str], dict[str, int]]:
    """Everything of a rebuild before the swap: the ``__new`` tables filled from the log up to
    notification id ``top``; their digests and the events each projection saw."""
    dialect = views.dialect
    staged = not dialect.is_postgres
    staged_tables = [p.facts_table.name for p in projections] if staged else []
    topics = sorted({topic for projection in projections for topic in projection.topics})
    _create_new_tables(views, projections, run_ids, staged=staged, take_over=take_over)
    position = 0
    seen = dict.fromkeys(run_ids, 0)
    if progress is not None:
        progress(0, top)
    while True:
        with phase("read"):
            notes = views.read_rows(position, page_size, topics, until=top)
        full = len(notes) == page_size
        position = notes[-1][0] if full else top
        if notes:
            with phase("decode"):
                decoded = _decode_rows(notes)
                del notes
                selected = _split_kinds(projections, decoded)
                outside = _outside_targets(decoded)
                del decoded
            with (
                phase("apply"),
                views.transaction(commit=True, suffix=NEW_SUFFIX, staged=staged_tables) as tx,
            ):
                topics_of = views.target_topics(tx, outside) if outside else {}
                for projection, mine in zip(projections, selected, strict=True):
                    if not staged:
                        # SQLite: a page writes only the connection's temporary database; the
                        # run id is checked before anything is written to the __new tables
                        _claim(tx, projection.name, run_ids[projection.name])
                    seen[projection.name] += len(mine)
                    kept = projection.topic_fields
                    targets = {key for key, topic in topics_of.items() if topic in kept}
                    _apply_selected(tx, projection, mine, targets, refresh=False)
            del selected
        gc.collect(1)  # what cycles the page left (the pause above skips them)
        if progress is not None:
            progress(position, top)
        if not full:
            break
    return _complete(views, projections, run_ids, phase, staged=staged, rows=page_size), seen


def split_groups(
    projections: Sequence[Projection], workers: int, events: Mapping[str, float]
) -> list[list[Projection]]:
    """The projections in ``workers`` groups (fewer when there are fewer projections) of about
    equal cost (:func:`group_cost` for the log's ``events`` per topic): the heaviest first,
    each to the group it adds least to the cost of, then single projections moved or swapped
    between two groups while that lowers the cost of the costliest group; each group keeps the
    given order."""
    count = max(1, min(workers, len(projections)))
    costs = {projection.name: projection.rebuild_cost(events) for projection in projections}
    groups: list[list[Projection]] = [[] for _ in range(count)]
    for projection in sorted(projections, key=lambda p: -costs[p.name]):
        target = min(groups, key=lambda group: group_cost([*group, projection], events))
        target.append(projection)
    _even_out(groups, events)
    order = {projection.name: place for place, projection in enumerate(projections)}
    return [sorted(group, key=lambda p: order[p.name]) for group in groups if group]


def group_cost(projections: Iterable[Projection], events: Mapping[str, float]) -> float:
    """The relative cost of building ``projections`` in one worker: their
    :meth:`Projection.rebuild_cost` and the reading of the events of every topic one of them
    reads (:data:`READ_COST` each; a topic read by several is read once)."""
    projections = list(projections)
    topics = {topic for projection in projections for topic in projection.topics}
    read = READ_COST * sum(events.get(topic, 0.0) for topic in topics)
    return read + sum(projection.rebuild_cost(events) for projection in projections)


def _even_out(groups: list[list[Projection]], events: Mapping[str, float]) -> None:
    """Move one projection to another group, or swap two, while that lowers the cost of the
    costliest group (the first such move found that lowers it most), leaving no group
    empty."""
    while True:
        worst = max(group_cost(group, events) for group in groups)
        best: tuple[float, int, int, list[Projection], list[Projection]] | None = None
        for a, b in permutations(range(len(groups)), 2):
            others = [group_cost(g, events) for i, g in enumerate(groups) if i not in (a, b)]
            for moved in groups[a]:
                for back in [None, *groups[b]]:
                    left = [p for p in groups[a] if p is not moved] + ([back] if back else [])
                    right = [p for p in groups[b] if p is not back] + [moved]
                    if not left:
                        continue
                    cost = max(group_cost(left, events), group_cost(right, events), *others)
                    if cost < worst * (1 - 1e-9) and (best is None or cost < best[0]):
                        best = (cost, a, b, left, right)
        if best is None:
            return
        _, a, b, groups[a], groups[b] = best


def default_workers(views: Views, count: int) -> int:
    """How many worker processes a rebuild of ``count`` read models uses unless told: two when
    the machine has two or more CPUs, more than one read model is rebuilt and the log holds
    :data:`PARALLEL_FROM` notifications or more (below that, starting the workers costs more
    than they save); else one."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if (cpus or 1) < 2 or count < 2 or views.max_notification_id() < PARALLEL_FROM:
        return 1
    return 2


def _build_in_workers(
    views: Views,
    groups: Sequence[Sequence[Projection]],
    run_ids: Mapping[str, str],
    top: int,
    *,
    page_size: int,
    progress: Progress | None,
    timings: dict[str, float] | None,
) -> tuple[dict[str, str], dict[str, int]]:
    """:func:`_build` of each group in its own process (``spawn``: a fresh interpreter that
    opens the ledger with the same settings), all reading the log up to ``top``.

    The first error of a worker is raised here (a bug's with the worker's traceback in its
    message) and the other workers are stopped; nothing is swapped. Progress: the mean of the
    workers' positions.
    """
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    env = dict(views.app.env)
    processes = [
        context.Process(
            target=_group_worker,
            args=(
                _GroupJob(
                    index,
                    env,
                    tuple(group),
                    {projection.name: run_ids[projection.name] for projection in group},
                    top,
                    page_size,
                    timed=timings is not None,
                ),
                messages,
            ),
            daemon=True,
        )
        for index, group in enumerate(groups)
    ]
    positions = [0] * len(processes)
    digests: dict[str, str] = {}
    seen: dict[str, int] = {}
    finished: set[int] = set()
    try:
        for process in processes:
            process.start()
        if progress is not None:
            progress(0, top)
        while len(finished) < len(processes):
            message = _next_message(messages, processes, finished)
            kind, index, body = message
            if kind == "error":
                raise body
            if kind == "progress":
                positions[index] = body
                if progress is not None:
                    progress(sum(positions) // len(positions), top)
                continue
            group_digests, group_seen, group_timings = body
            digests.update(group_digests)
            seen.update(group_seen)
            for name, seconds in (group_timings or {}).items():
                if timings is not None:
                    timings[name] = timings.get(name, 0.0) + seconds
            finished.add(index)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join()
        messages.close()
    return digests, seen


def _next_message(
    messages: Any, processes: Sequence[Any], finished: set[int]
) -> tuple[str, int, Any]:
    """The next message of the workers; a worker that ended without its result is an error."""
    while True:
        ended = [i for i, p in enumerate(processes) if i not in finished and not p.is_alive()]
        try:
            message: tuple[str, int, Any] = messages.get(timeout=1.0)
        except queue.Empty:
            if ended:  # gone before the wait began, and nothing of it came after
                process = processes[ended[0]]
                msg = f"read model worker {ended[0]} ended (exit code {process.exitcode})"
                raise RuntimeError(msg) from None
            continue
        return message


@dataclass(frozen=True)
class _GroupJob:
    """What a worker process of :func:`_build_in_workers` builds."""

    index: int
    env: dict[str, str]
    projections: tuple[Projection, ...]
    run_ids: dict[str, str]
    top: int
    page_size: int
    timed: bool


def _group_worker(job: _GroupJob, messages: Any) -> None:
    """A worker process of :func:`_build_in_workers`: open the ledger, build one group, send
    ``("done", index, (digests, seen, timings))`` or ``("error", index, error)``.

    Read models never read personal data, so the ledger is opened under a throwaway master
    key (as for a reader without one); writers wait for SQLite's lock up to an hour (the
    other group's copies into its ``__new`` tables).
    """
    parent = multiprocessing.parent_process()
    try:
        app = TrajectoryLedger(
            {**job.env, "CREATE_TABLE": "no", "SQLITE_LOCK_TIMEOUT": "3600"},
            generate_master_key(),
        )
        try:
            views = Views(app)
            timings: dict[str, float] | None = {} if job.timed else None

            def report(done: int, _total: int) -> None:
                if parent is not None and not parent.is_alive():
                    messages.cancel_join_thread()  # nobody reads the messages any more
                    msg = "the rebuilding process is gone"
                    raise SystemExit(msg)
                messages.put(("progress", job.index, done))

            with views.bulk(), collector_paused():
                digests, seen = _build(
                    views,
                    job.projections,
                    job.run_ids,
                    job.top,
                    page_size=job.page_size,
                    progress=report,
                    phase=_PhaseClock(timings),
                )
        finally:
            app.close()
        messages.put(("done", job.index, (digests, seen, timings)))
    except BaseException as error:
        messages.put(("error", job.index, _portable(error)))


def _portable(error: BaseException) -> BaseException:
    """``error`` as it can cross to the parent process: a user's mistake (a
    :class:`TrajectError`) with its message, anything else (a bug) as a ``RuntimeError``
    carrying the worker's traceback."""
    if isinstance(error, KeyboardInterrupt):
        return KeyboardInterrupt()  # Ctrl-C, which the parent is handling too
    if isinstance(error, TrajectError):
        try:
            copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
        except Exception:
            copy = None
        if type(copy) is type(error) and str(copy) == str(error):
            return error
        return TrajectError(str(error))
    text = "".join(traceback.format_exception(error)).rstrip()
    return RuntimeError(f"a read model worker failed:\n{text}")


def _complete(
    views: Views,
    projections: Sequence[Projection],
    run_ids: Mapping[str, str],
    phase: _PhaseClock,
    *,
    staged: bool,
    rows: int,
) -> dict[str, str]:
    """After the last page: each projection's derived tables filled and its digest computed,
    then (SQLite) its staged tables copied into the ``__new`` tables in key order, and its
    secondary indexes created (:func:`_place`).

    On SQLite everything up to the copy reads and writes the staging tables in the
    connection's temporary database: only the copy and the indexes take the database's write
    lock. While another process holds that lock (the other worker of a parallel rebuild,
    copying its tables), the read models done so far wait and the next one is refreshed
    meanwhile; the last ones wait for the lock. The derived tables are refreshed in chunks of
    streams of at most ``rows`` fact rows (the page size), so that their memory too depends on
    the page size alone."""
    digests: dict[str, str] = {}
    done: list[Projection] = []
    for projection in projections:
        run_id = run_ids[projection.name]
        names = [table.name for table in projection.tables] if staged else []
        with (
            phase("refresh"),
            views.transaction(commit=True, suffix=NEW_SUFFIX, staged=names) as tx,
        ):
            if not staged:
                _claim(tx, projection.name, run_id)
            if tx.dialect.is_postgres and projection.derived_tables:
                # the fact table is complete: without statistics the planner takes it for
                # empty and scans all of it for each chunk of refresh_all's streams
                tx.execute(f"ANALYZE {tx.table(projection.facts_table.name)}")
            projection.refresh_all(tx, rows=rows)
        with (
            phase("digest"),
            views.transaction(commit=False, suffix=NEW_SUFFIX, staged=names) as tx,
        ):
            digests[projection.name] = compute_digest(tx, projection)
        done.append(projection)
        if _place(views, done, run_ids, phase, staged=staged, wait=False):
            done = []
    _place(views, done, run_ids, phase, staged=staged, wait=True)
    return digests


def _place(
    views: Views,
    projections: Sequence[Projection],
    run_ids: Mapping[str, str],
    phase: _PhaseClock,
    *,
    staged: bool,
    wait: bool,
) -> bool:
    """Put the built tables of ``projections`` in their final form in one transaction: (SQLite)
    their staged tables copied into the ``__new`` tables, then their secondary indexes; return
    whether that was done.

    Without ``wait``, nothing is done (False) when another connection holds SQLite's write
    lock at this moment; PostgreSQL's writers of different tables do not wait for each other.
    """
    if not projections:
        return True
    with views.transaction(commit=True, suffix=NEW_SUFFIX) as tx:
        first = projections[0]
        if not (wait or tx.dialect.is_postgres or _write_lock_free(tx, first, run_ids)):
            return False
        for projection in projections:
            _claim(tx, projection.name, run_ids[projection.name])
            if staged:
                with phase("order"):
                    for table in projection.tables:
                        _cluster_staged(tx, table)
            with phase("index"):
                for table in projection.tables:
                    for statement in _index_statements(tx, table, run_ids[projection.name]):
                        tx.execute(statement)
                    analyzed = table is projection.facts_table and projection.derived_tables
                    if tx.dialect.is_postgres and not analyzed:
                        # fresh statistics (kept by the rename at the swap; a fact table with
                        # derived tables has them from before the refresh): without them the
                        # planner takes a bulk-loaded table for empty and may join it by
                        # nested loops (a report then runs for minutes instead of a second)
                        tx.execute(f"ANALYZE {tx.table(table.name)}")
    return True


def _write_lock_free(tx: Tx, projection: Projection, run_ids: Mapping[str, str]) -> bool:
    """SQLite: take the database's write lock for ``tx`` (by claiming ``projection``'s run) if
    no other connection holds it now; False, with nothing written, if one does."""
    timeout = int(tx.all("PRAGMA busy_timeout")[0][0])
    tx.execute("PRAGMA busy_timeout = 0")
    try:
        _claim(tx, projection.name, run_ids[projection.name])
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
            raise
        return False
    finally:
        tx.execute(f"PRAGMA busy_timeout = {timeout}")
    return True


def _create_new_tables(
    views: Views,
    projections: Sequence[Projection],
    run_ids: Mapping[str, str],
    *,
    staged: bool,
    take_over: bool = True,
) -> None:
    """Register this run for each projection and create its empty ``__new`` tables (dropping
    the leftovers of an interrupted run); ``staged``: with SQLite staging tables for the facts.
    Without ``take_over`` a run registered before that is alive is left alone
    (RebuildSupersededError); a dead run's claim is taken over either way."""
    dialect = views.dialect
    taking = (
        " DO UPDATE SET run_id = excluded.run_id, started_at = excluded.started_at"
        if take_over
        else " DO NOTHING"
    )
    with views.transaction(commit=True, suffix=NEW_SUFFIX) as tx:
        for projection in projections:
            run_id = run_ids[projection.name]
            _earlier_claim(views, tx, projection.name, run_id, take_over=take_over)
            # this run owns the __new tables from here on; a later run takes them over
            tx.execute(
                f"INSERT INTO {dialect.prefix}{REBUILDS_TABLE} (name, run_id, started_at)"
                f" VALUES (?, ?, ?) ON CONFLICT (name){taking}",
                [projection.name, run_id, _now()],
            )
            if not take_over:
                # a claim inserted by another run since the check above (no row to lock then)
                _claim(tx, projection.name, run_id)
            for table in projection.tables:
                tx.execute(f"DROP TABLE IF EXISTS {tx.table(table.name)}")
                for statement in _create_statements(dialect, table, table.name + NEW_SUFFIX):
                    tx.execute(statement)
            if staged:
                for table in projection.tables:
                    for statement in _staging_statements(dialect, table):
                        tx.execute(statement)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's automatic cyclic garbage collection for the block (nested: the outer
    pause holds), then restore it.

    A rebuild's page, or a report over a large ledger, allocates hundreds of thousands of
    tuples, dicts and dataclasses that live until the block ends. The automatic collections
    (one each few hundred allocations) walked them, and every live object, again and again:
    decoding a page took four times as long, and a report spent a third of its time on them.
    These objects hold no reference cycles (they are freed by reference counting); a rebuild
    collects young objects after each page, and whatever cycles a report made are collected
    once the collector runs again. Also a decorator (``@collector_paused()``): every report
    query is one.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class _PhaseClock:
    """Adds the wall time of each ``with clock(name):`` block to ``timings[name]``."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if self.timings is None:
            yield
            return
        start = perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + perf_counter() - start


def _swap(
    tx: Tx,
    projection: Projection,
    run_id: str,
    *,
    position: int,
    digests: Mapping[str, str],
    seen: Mapping[str, int],
) -> None:
    """Write the state row and put the ``__new`` tables in place of the live ones."""
    _claim(tx, projection.name, run_id, release=True)
    name = projection.name
    _write_state(
        tx, projection, position=position, digest=digests[name], rebuilt_at=_now(), seen=seen[name]
    )
    for table in projection.tables:
        live = table.name
        tx.execute(f"DROP TABLE IF EXISTS {tx.table(live)}")
        tx.execute(f"ALTER TABLE {tx.table(live + NEW_SUFFIX)} RENAME TO {live}")
        if tx.dialect.is_postgres:
            tx.execute(
                f"ALTER TABLE {tx.table(live)} RENAME CONSTRAINT {live}{NEW_SUFFIX}_pk TO {live}_pk"
            )
    _grant(tx, projection)


def _write_state(
    tx: Tx,
    projection: Projection,
    *,
    position: int,
    digest: str | None,
    rebuilt_at: str | None,
    seen: int,
) -> None:
    """Insert or replace the projection's state row."""
    tx.execute(
        f"INSERT INTO {tx.table(STATE_TABLE)}"
        " (name, position, rule_version, layout, digest, rebuilt_at, events_seen)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET position = excluded.position,"
        " rule_version = excluded.rule_version, layout = excluded.layout,"
        " digest = excluded.digest, rebuilt_at = excluded.rebuilt_at,"
        " events_seen = excluded.events_seen",
        [
            projection.name,
            position,
            projection.rule_version,
            projection.layout,
            digest,
            rebuilt_at,
            seen,
        ],
    )


def _grant(tx: Tx, projection: Projection) -> None:
    """PostgreSQL: the grants of the projection's (new) live tables and the state tables."""
    # staff catch the read model up, moving its state row, closing fact revisions and deleting
    # and rewriting a person's derived rows, and the analyst reads them (ledger.roles): the new
    # tables get those grants as the old ones had them (default privileges give neither), the
    # state table too if it is new
    if tx.dialect.is_postgres and tx.all("SELECT 1 FROM pg_roles WHERE rolname = ?", [roles.STAFF]):
        statements = roles.state_grants(tx.table(STATE_TABLE), tx.table(REBUILDS_TABLE))
        derived = {table.name for table in projection.derived_tables}
        for table in projection.tables:
            name = tx.table(table.name)
            statements += roles.read_model_grants(name, derived=table.name in derived)
        for statement in statements:
            tx.execute(statement)


# --------------------------------------------------------------------------------------------
# Status
# --------------------------------------------------------------------------------------------


def status(views: Views, projection: Projection) -> ProjectionStatus:
    """Where the projection stands, without catching up (for any reader, the analyst who may
    read only the read models included)."""
    return statuses(views, [projection])[0]


def statuses(views: Views, projections: Iterable[Projection]) -> list[ProjectionStatus]:
    """:func:`status` of each of ``projections``, against one reading of the log's end."""
    top = views.last_notification_id()
    found = rebuild_claims(views)
    return [
        replace(_status(views, projection, top), rebuild=found.get(projection.name))
        for projection in projections
    ]


def rebuild_claims(views: Views) -> dict[str, RebuildClaim]:
    """The rebuild claims on read models, by name, each with whether its run is alive; none
    when there is no claims table yet or this user may not read it."""
    views.ensure_state_table()
    table = REBUILDS_TABLE
    if not views.tables_exist([], extra=(table,)) or not views._may(table, "SELECT"):
        return {}
    with views.transaction(commit=False) as tx:
        rows = tx.all(f"SELECT name, run_id, started_at FROM {tx.table(table)}")
    return {
        str(name): RebuildClaim(str(started_at), claims.run_alive(views.recorder, str(run_id)))
        for name, run_id, started_at in rows
    }


def _status(views: Views, projection: Projection, top: int | None) -> ProjectionStatus:
    state = views.read_state(projection.name)
    if state is None:
        return ProjectionStatus(
            projection.name,
            built=False,
            position=0,
            max_notification_id=top,
            rule_version=None,
            current_rule_version=projection.rule_version,
            digest=None,
            rebuilt_at=None,
            events_seen=0,
            needs_rebuild=True,
        )
    return ProjectionStatus(
        projection.name,
        built=True,
        position=state.position,
        max_notification_id=top,
        rule_version=state.rule_version,
        current_rule_version=projection.rule_version,
        digest=state.digest,
        rebuilt_at=state.rebuilt_at,
        events_seen=state.events_seen,
        needs_rebuild=state.layout != projection.layout
        or state.rule_version != projection.rule_version,
    )


def known_at_clause(as_known_at: datetime | None) -> tuple[str, list[Any]]:
    """The SQL condition (and its parameters) selecting fact revisions known at a moment."""
    if as_known_at is None:
        return "known_to IS NULL", []
    moment = timestamp_text(as_known_at)
    return "known_from <= ? AND (known_to IS NULL OR known_to > ?)", [moment, moment]
