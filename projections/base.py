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

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, ClassVar
from uuid import uuid4

import orjson
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic
from psycopg.rows import tuple_row

from ledger import audit
from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.errors import TrajectError
from ledger.persistence import TrajectPostgresRecorder, TrajectSQLiteRecorder
from ledger.rules import current_rules

DEFAULT_PAGE_SIZE = 5000
STATE_TABLE = "traject_projection_state"
REBUILDS_TABLE = "traject_projection_rebuilds"
NEW_SUFFIX = "__new"

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

    def refresh_all(self, tx: Tx, chunk: int = 1000) -> None:
        """Derive the derived tables for every stream (a rebuild does this once, at the end)."""
        if not self.derived_tables:
            return
        facts = tx.table(self.facts_table.name)
        after = ""
        while True:
            streams = [
                str(row[0])
                for row in tx.all(
                    f"SELECT DISTINCT stream_id FROM {facts} WHERE stream_id > ?"
                    f" ORDER BY stream_id LIMIT {int(chunk)}",
                    [after],
                )
            ]
            if not streams:
                return
            self.refresh(tx, set(streams))
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

    def column_type(self, column: Column) -> str:
        return "TEXT" if column.type == TEXT else self.int_type


class Tx:
    """One transaction on the projection tables; ``table()`` names the tables being written."""

    def __init__(self, cursor: Any, dialect: Dialect, suffix: str = "") -> None:
        if dialect.is_postgres:
            # rows as tuples: the library's cursors give dicts, which merge equal column names
            cursor.row_factory = tuple_row
        self.cursor = cursor
        self.dialect = dialect
        self.suffix = suffix

    def table(self, name: str) -> str:
        return f"{self.dialect.prefix}{name}{self.suffix}"

    def sql(self, statement: str) -> str:
        return statement.replace("?", self.dialect.placeholder)

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        self.cursor.execute(self.sql(statement), list(params))

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cursor.executemany(self.sql(statement), rows)

    def rows(self, statement: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """Rows as tuples, streamed."""
        self.execute(statement, params)
        if self.dialect.is_postgres:
            yield from self.cursor
        else:
            for row in self.cursor.sqlite_cursor:
                yield tuple(row)

    def all(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.rows(statement, params))

    def insert(self, table: Table, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        names = ", ".join(table.column_names)
        if self.dialect.is_postgres:
            with self.cursor.copy(f"COPY {self.table(table.name)} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(table.columns))
            self.executemany(
                f"INSERT INTO {self.table(table.name)} ({names}) VALUES ({marks})", rows
            )

    def in_chunks(self, values: Iterable[Any], size: int = 500) -> Iterator[tuple[str, list[Any]]]:
        """``(placeholders, params)`` for ``IN (…)`` lists of at most ``size`` values."""
        items = list(values)
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            yield ", ".join("?" * len(chunk)), chunk


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

    @contextmanager
    def transaction(self, *, commit: bool, suffix: str = "") -> Iterator[Tx]:
        with self.recorder.datastore.transaction(commit=commit) as cursor:
            yield Tx(cursor, self.dialect, suffix)

    def table(self, name: str) -> str:
        return f"{self.dialect.prefix}{name}"

    def max_notification_id(self) -> int:
        return int(self.recorder.max_notification_id() or 0)

    def select(self, projection: Projection, position: int, limit: int) -> Sequence[Notification]:
        return self.recorder.select_notifications(
            position, limit, topics=projection.topics, inclusive_of_start=False
        )

    # --- state --------------------------------------------------------------------------------

    def ensure_state_table(self) -> None:
        if self._state_table_ready:
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

    def tables_exist(self, tables: Iterable[Table], suffix: str = "") -> bool:
        names = [t.name + suffix for t in tables]
        with self.transaction(commit=False) as tx:
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
    max_notification_id: int
    rule_version: str | None
    current_rule_version: str
    digest: str | None
    rebuilt_at: str | None
    events_seen: int
    needs_rebuild: bool

    @property
    def lag(self) -> int:
        """Notification ids not yet processed (ids, not a count: PostgreSQL ids have gaps)."""
        return max(0, self.max_notification_id - self.position)


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
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, fixed width), so that text order is time order."""
    if len(text) == 27 and text[19] == "." and text[26] == "Z":
        return text
    moment = datetime.fromisoformat(text)
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


@dataclass(slots=True, kw_only=True)
class _Fact:
    """One revision of a fact while a page is being applied."""

    stream_id: str
    version: int
    revision: int
    kind: str
    occurred_on: str
    municipality: str
    known_from: str
    payload: dict[str, Any]
    known_to: str | None = None
    superseded_by: int | None = None
    stored: bool = False  # already a row in the table (closing it needs an UPDATE)

    def row(self, projection: Projection) -> tuple[Any, ...]:
        return (
            self.stream_id,
            self.version,
            self.revision,
            self.kind,
            self.occurred_on,
            self.municipality,
            self.known_from,
            self.known_to,
            self.superseded_by,
            _dumps(self.payload),
            *projection.fact_values(self.kind, self.payload),
        )


_CORRECTED = "EventCorrected"
_CONTROL = frozenset({_CORRECTED, "EventRetracted"})


Decoded = tuple[str, str, int, dict[str, Any]]
"""kind, stream id, stream version and stored state of one notification."""


def decode_page(
    projection: Projection, notes: Sequence[Notification]
) -> tuple[list[Decoded], set[tuple[str, int]]]:
    """The notifications the projection reads, decoded with orjson (``_pii`` stays unread),
    and the (stream, version) targets of corrections and retractions made outside the page."""
    topic_kinds = projection.topic_kinds
    decoded: list[Decoded] = []
    created: set[tuple[str, int]] = set()
    targets: set[tuple[str, int]] = set()
    for note in notes:
        kind = topic_kinds.get(note.topic)
        if kind is None:
            continue
        state = orjson.loads(note.state)
        stream_id = str(note.originator_id)
        if kind in _CONTROL:
            targets.add((stream_id, int(state["target_version"])))
        else:
            created.add((stream_id, note.originator_version))
        decoded.append((kind, stream_id, note.originator_version, state))
    return decoded, targets - created


def apply_page(
    tx: Tx, projection: Projection, notes: Sequence[Notification], *, refresh: bool = True
) -> set[str]:
    """Write the facts of one page of notifications; return the streams whose facts changed.

    With ``refresh``, derived tables are brought up to date for those streams too.
    """
    decoded, outside = decode_page(projection, notes)
    current = _load_current(tx, projection, outside) if outside else {}
    kind_fields = projection.kind_fields
    inserts: list[_Fact] = []
    closes: list[tuple[str, int, str, int, int]] = []
    touched: set[str] = set()
    for kind, stream_id, version, state in decoded:
        known = canonical_timestamp(state["timestamp"])
        if kind not in _CONTROL:
            fact = _Fact(
                stream_id=stream_id,
                version=version,
                revision=0,
                kind=kind,
                occurred_on=state["occurred_on"],
                municipality=state["municipality"],
                known_from=known,
                payload={name: state.get(name) for name in kind_fields[kind]},
            )
            current[(stream_id, version)] = fact
            inserts.append(fact)
            touched.add(stream_id)
            continue
        key = (stream_id, int(state["target_version"]))
        target = current.pop(key, None)
        if target is None:
            continue  # not a fact this projection keeps, or one already retracted
        touched.add(stream_id)
        if target.stored:
            closes.append((known, version, stream_id, target.version, target.revision))
        else:
            target.known_to, target.superseded_by = known, version
        if kind == _CORRECTED:
            revised = _revise(target, state.get("changes") or {}, kind_fields[target.kind], known)
            current[key] = revised
            inserts.append(revised)

    facts = projection.facts_table
    tx.executemany(
        f"UPDATE {tx.table(facts.name)} SET known_to = ?, superseded_by = ?"
        " WHERE stream_id = ? AND version = ? AND revision = ?",
        closes,
    )
    tx.insert(facts, [fact.row(projection) for fact in inserts])
    if touched and refresh:
        projection.refresh(tx, touched)
    return touched


def _revise(
    target: _Fact, changes: Mapping[str, Any], fields: tuple[str, ...], known: str
) -> _Fact:
    """The next revision of ``target`` with a correction's changes applied."""
    payload = dict(target.payload)
    payload.update({k: v for k, v in changes.items() if k in fields})
    return _Fact(
        stream_id=target.stream_id,
        version=target.version,
        revision=target.revision + 1,
        kind=target.kind,
        occurred_on=str(changes.get("occurred_on", target.occurred_on)),
        municipality=str(changes.get("municipality", target.municipality)),
        known_from=known,
        payload=payload,
    )


def _load_current(
    tx: Tx, projection: Projection, keys: set[tuple[str, int]]
) -> dict[tuple[str, int], _Fact]:
    """The current revisions of the facts ``keys`` (those this projection keeps)."""
    by_stream: dict[str, set[int]] = {}
    for stream_id, version in keys:
        by_stream.setdefault(stream_id, set()).add(version)
    found: dict[tuple[str, int], _Fact] = {}
    table = tx.table(projection.facts_table.name)
    for marks, streams in tx.in_chunks(sorted(by_stream), size=400):
        versions = sorted({v for stream in streams for v in by_stream[stream]})
        rows = tx.all(
            "SELECT stream_id, version, revision, kind, occurred_on, municipality, known_from,"
            f" payload FROM {table} WHERE known_to IS NULL AND stream_id IN ({marks})"
            f" AND version IN ({', '.join('?' * len(versions))})",
            [*streams, *versions],
        )
        for stream_id, version, revision, kind, occurred_on, municipality, known, payload in rows:
            if (stream_id, version) in keys:
                found[(stream_id, version)] = _Fact(
                    stream_id=stream_id,
                    version=int(version),
                    revision=int(revision),
                    kind=kind,
                    occurred_on=occurred_on,
                    municipality=municipality,
                    known_from=known,
                    payload=orjson.loads(payload),
                    stored=True,
                )
    return found


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
        statement = (
            f"SELECT {', '.join(table.column_names)} FROM {tx.table(table.name)} ORDER BY {order}"
        )
        for row in tx.rows(statement):
            digest.update(orjson.dumps(row) + b"\n")
    return digest.hexdigest()


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

    A projection that was never built (or whose tables are gone) is built by :func:`rebuild`,
    so readers never see a half-built view. A projection built with another rule version or
    table layout raises :class:`ProjectionOutdatedError`. The digest is recomputed in the
    transaction of the last page when any fact changed. The integrity log's leaves are caught
    up first (``ledger.audit.catch_up``), so every read command keeps them current.
    """
    audit.catch_up(views.app)
    state = views.read_state(projection.name)
    if state is None or not views.tables_exist(projection.tables):
        return rebuild(views, projection, page_size=page_size, progress=progress)
    check_current(projection, state)
    top = views.max_notification_id()
    position = state.position
    if position >= top and state.digest is not None:
        return RunResult(projection.name, position, 0, state.digest)
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


# --------------------------------------------------------------------------------------------
# Rebuild and swap
# --------------------------------------------------------------------------------------------


def _create_statements(dialect: Dialect, table: Table, physical: str) -> list[str]:
    columns = ", ".join(
        f"{c.name} {dialect.column_type(c)}{'' if c.nullable else ' NOT NULL'}"
        for c in table.columns
    )
    return [
        f"CREATE TABLE {dialect.prefix}{physical} ({columns},"
        f" CONSTRAINT {physical}_pk PRIMARY KEY ({', '.join(table.key)}))"
    ]


def _index_statements(dialect: Dialect, table: Table) -> list[str]:
    return [
        f"CREATE INDEX {table.name}_{'_'.join(index)} ON {dialect.prefix}{table.name}"
        f" ({', '.join(index)})"
        for index in table.indexes
    ]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _claim(tx: Tx, name: str, run_id: str, *, release: bool = False) -> None:
    """Check that this rebuild run still owns the ``__new`` tables (taking the write lock)."""
    table = f"{tx.dialect.prefix}{REBUILDS_TABLE}"
    tx.execute(f"UPDATE {table} SET run_id = run_id WHERE name = ?", [name])
    rows = tx.all(f"SELECT run_id FROM {table} WHERE name = ?", [name])
    if not rows or rows[0][0] != run_id:
        raise RebuildSupersededError(name)
    if release:
        tx.execute(f"DELETE FROM {table} WHERE name = ?", [name])


def rebuild(
    views: Views,
    projection: Projection,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    progress: Progress | None = None,
) -> RunResult:
    """Build the projection afresh in ``<table>__new`` tables, then swap them in at once.

    Leftover ``__new`` tables of an interrupted rebuild are dropped first. Until the swap
    transaction commits, readers keep the old tables and the old position; a rebuild that is
    killed half-way therefore changes nothing that readers see.
    """
    views.ensure_state_table()
    dialect = views.dialect
    run_id = uuid4().hex
    with views.transaction(commit=True, suffix=NEW_SUFFIX) as tx:
        # this run owns the __new tables from here on; a later run takes them over
        tx.execute(
            f"INSERT INTO {dialect.prefix}{REBUILDS_TABLE} (name, run_id, started_at)"
            " VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET run_id = excluded.run_id,"
            " started_at = excluded.started_at",
            [projection.name, run_id, _now()],
        )
        for table in projection.tables:
            tx.execute(f"DROP TABLE IF EXISTS {tx.table(table.name)}")
            for statement in _create_statements(dialect, table, table.name + NEW_SUFFIX):
                tx.execute(statement)

    top = views.max_notification_id()
    position = 0
    events = 0
    if progress is not None:
        progress(0, top)
    while True:
        notes = views.select(projection, position, page_size)
        full = len(notes) == page_size
        last = notes[-1].id if notes else position
        position = last if full else max(last, top)
        if notes:
            with views.transaction(commit=True, suffix=NEW_SUFFIX) as tx:
                _claim(tx, projection.name, run_id)
                apply_page(tx, projection, notes, refresh=False)
        events += len(notes)
        if progress is not None:
            progress(position, max(top, position))
        if not full:
            break

    with views.transaction(commit=True, suffix=NEW_SUFFIX) as tx:
        _claim(tx, projection.name, run_id)
        projection.refresh_all(tx)
    with views.transaction(commit=False, suffix=NEW_SUFFIX) as tx:
        new_digest = compute_digest(tx, projection)

    with views.transaction(commit=True) as tx:
        _claim(tx, projection.name, run_id, release=True)
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
                new_digest,
                _now(),
                events,
            ],
        )
        for table in projection.tables:
            live = table.name
            tx.execute(f"DROP TABLE IF EXISTS {tx.table(live)}")
            tx.execute(f"ALTER TABLE {tx.table(live + NEW_SUFFIX)} RENAME TO {live}")
            if dialect.is_postgres:
                tx.execute(
                    f"ALTER TABLE {tx.table(live)}"
                    f" RENAME CONSTRAINT {live}{NEW_SUFFIX}_pk TO {live}_pk"
                )
            for statement in _index_statements(dialect, table):
                tx.execute(statement)
    return RunResult(projection.name, position, events, new_digest, rebuilt=True)


# --------------------------------------------------------------------------------------------
# Status
# --------------------------------------------------------------------------------------------


def status(views: Views, projection: Projection) -> ProjectionStatus:
    """Where the projection stands, without catching up."""
    state = views.read_state(projection.name)
    top = views.max_notification_id()
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
