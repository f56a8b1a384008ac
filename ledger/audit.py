"""The integrity log of a ledger: its leaves, its signed checkpoints, and their verification.

Built on the pure library ``ledger.integrity`` (docs/audit.md): this module reads the stored
events straight from the events table, in notification order, page by page (raw SQL, no
decoding), and keeps two side tables:

* ``traject_checkpoints`` (tree size, checkpoint text, time stored): every checkpoint signed by
  ``checkpoint``, so that ``verify`` checks them all;
* ``traject_leaves`` (notification id, leaf hash in hex): each event's leaf as it was when the
  integrity log caught up with it (``catch_up``: run by every projection catch-up, so by every
  report, and by ``checkpoint``), so that ``verify`` can name the first changed, deleted or
  inserted event rather than only a range between two checkpoints.

``verify`` only reads: a read-only database role (``traject_auditor``) can run it. Both tables
are created by ``traject init`` and, for older ledgers, by the first catch-up. The origin line
of the checkpoints is fixed at the first checkpoint (``traject_settings``, ``audit_origin``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import OperationalError, ProgrammingError
from eventsourcing.utils import get_topic

from ledger import events as ev
from ledger.errors import MalformedEventError, is_not_utf8, permission_error
from ledger.integrity import (
    MAX_UINT64,
    Checkpoint,
    CheckpointBody,
    CheckpointFormatError,
    ConsistencyDocument,
    ConsistencyProof,
    EventRef,
    InclusionDocument,
    InclusionProof,
    IntegrityError,
    MerkleTree,
    Problem,
    RecordedLeaf,
    Row,
    TrustedKeys,
    VerificationReport,
    consistency_proof,
    parse_checkpoint,
    raw_leaf_hash,
    root,
    sign_checkpoint,
    verify_consistency,
    verify_raw_log,
)
from ledger.persistence import AUDIT_TABLES, Progress, TrajectSQLiteRecorder
from ledger.seals import canonical_digest, stored_seal_problem, without_basis

if TYPE_CHECKING:
    from ledger.application import TrajectoryLedger

PAGE_SIZE = 20000
LOWEST_ID = -(2**63)  # below every notification id a row can hold
ORIGIN_SETTING = "audit_origin"

RawRow = tuple[int, bytes, int, str, bytes]
"""One stored event as read: notification id, stream id (16 bytes), version, topic, state."""
# A ``Progress`` here is called with the last notification id read, and the last one to reach.


# --- reading the log ----------------------------------------------------------------------------


def _stream_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, UUID):
        return value.bytes
    text = str(value)
    return bytes.fromhex(text) if len(text) == 32 else UUID(text).bytes


def _bytes(value: Any) -> bytes:
    if isinstance(value, str):  # a state written as text by hand (SQLite keeps the type given)
        return value.encode("utf-8")
    return bytes(value)


def _is_sqlite(app: TrajectoryLedger) -> bool:
    return isinstance(app.recorder, TrajectSQLiteRecorder)


def tuple_row(cursor: Any) -> Any:
    """A psycopg row factory giving plain tuples (psycopg's own, without importing psycopg)."""
    del cursor
    return tuple


class NotUtf8(bytes):
    """A text value SQLite holds whose bytes are not UTF-8 (so it was written outside traject,
    which writes UTF-8 text only): the bytes, as :func:`_query` reads them with ``not_utf8``."""


def _text_or_not_utf8(data: bytes) -> str | NotUtf8:
    try:
        return data.decode()
    except UnicodeDecodeError:
        return NotUtf8(data)


def _query(
    app: TrajectoryLedger,
    sqlite: str,
    postgres: str,
    params: Sequence[Any],
    *,
    not_utf8: bool = False,
) -> list[Any]:
    """Rows as tuples of one read-only statement (``{p}`` is the schema prefix).

    On SQLite, text that is not UTF-8 raises an OperationalError (:func:`is_not_utf8`), or,
    with ``not_utf8``, is read as its bytes (:class:`NotUtf8`): each text value is then
    decoded in Python, so only a read that found such text asks for it.
    """
    recorder: Any = app.recorder
    if _is_sqlite(app):
        with recorder.datastore.transaction(commit=False) as cursor:
            connection = cursor.sqlite_cursor.connection
            if not_utf8:
                connection.text_factory = _text_or_not_utf8
            try:
                cursor.execute(sqlite.replace("{p}", ""), list(params))
                return list(cursor.fetchall())
            finally:
                connection.text_factory = str
    with (
        recorder.datastore.get_connection() as connection,
        connection.transaction(force_rollback=True),
        connection.cursor(binary=True, row_factory=tuple_row) as cursor,  # binary: no parsing
    ):
        cursor.execute(postgres.replace("{p}", recorder.prefix), list(params))
        return list(cursor.fetchall())


# What every row traject appends looks like: a row that is otherwise is "malformed" (altered
# outside traject). Versions count from 1; a topic is text; the stored bytes are a blob.
# PostgreSQL's uuid and bigint columns admit nothing else. SQLite keeps the type given, and the
# SQLite recorder stores a stream id as text, its 32 lowercase hex digits: another spelling of
# the same UUID would give the same leaf while traject no longer finds the event in its stream,
# so the stored text itself must be exactly that.
#
# Each page is read with the state left out (NULL) of every row the database finds malformed,
# so that one look at the page's states tells whether any is; on SQLite the stream ids are
# checked a page at a time, as one string of digits. Only a page that fails is read again with
# every column as stored, to name its malformed rows: nothing is checked row by row in Python.
SQLITE_WELL_FORMED = (
    "typeof(originator_version) = 'integer' AND originator_version > 0"
    " AND typeof(topic) = 'text' AND typeof(state) = 'blob'"
)
POSTGRES_WELL_FORMED = "originator_version > 0 AND topic IS NOT NULL AND state IS NOT NULL"
SQLITE_STREAM_ID = re.compile(r"[0-9a-f]{32}")
"""The stream id as the SQLite recorder stores it."""
_SECOND = itemgetter(1)
_STATE = itemgetter(4)


def _events_statements(app: TrajectoryLedger, *, bounded: bool) -> tuple[str, str]:
    """The page query over the events table (``?`` placeholders), in two forms: the state
    left out of a malformed row, and each row's columns as stored with whether it is
    well-formed."""
    recorder: Any = app.recorder
    if _is_sqlite(app):
        notification_id, stream_id = "rowid", "originator_id"
        table, well_formed = recorder.events_table_name, SQLITE_WELL_FORMED
    else:
        notification_id, stream_id = "notification_id", "uuid_send(originator_id)"
        table, well_formed = recorder.events_table, POSTGRES_WELL_FORMED
    bound = f" AND {notification_id} <= ?" if bounded else ""
    rows = f" FROM {table} WHERE {notification_id} > ?{bound} ORDER BY {notification_id} LIMIT ?"
    head = f"SELECT {notification_id}, {stream_id}, originator_version, topic"
    return (
        f"{head}, CASE WHEN {well_formed} THEN state END{rows}",
        f"{head}, state, {well_formed}{rows}",
    )


PLACEHOLDER_STREAM = bytes(16)


def _described(value: Any) -> str:
    """A stored value as an auditor would look for it in the table."""
    if value is None:
        return "NULL"
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        shown = f"the bytes X'{data[:16].hex()}{'…' if len(data) > 16 else ''}'"
        return f"text that is not UTF-8 ({shown})" if isinstance(value, NotUtf8) else shown
    text = repr(value)
    return text if len(text) <= 48 else text[:47] + "…"


_UUID_SPELLING = re.compile(
    r"(?:urn:uuid:)?(\{)?[0-9a-f]{8}(-?)[0-9a-f]{4}\2[0-9a-f]{4}\2[0-9a-f]{4}\2[0-9a-f]{12}"
    r"(?(1)\})",
    re.IGNORECASE,
)


def _uuid_spelled(text: str) -> UUID | None:
    """The UUID ``text`` spells (in any of the usual ways: upper case, dashes, braces, a URN),
    or None. Stricter than ``UUID()``, which also takes stray white space as a digit's place."""
    if not _UUID_SPELLING.fullmatch(text):
        return None
    return UUID(text)


def first_not_utf8(app: TrajectoryLedger) -> MalformedEventError | None:
    """The first stored event whose stream id or topic SQLite holds as text that is not UTF-8
    (traject writes UTF-8 only, so it was altered outside traject), named; None when there is
    none, or on PostgreSQL (whose text is always the server's encoding).

    Python's sqlite3 cannot read such text at all: a reader that failed on it (an
    OperationalError, :func:`is_not_utf8`) asks this to name the event. It reads every row's
    stream id, version and topic, each text decoded in Python: for that failure only.
    """
    if not _is_sqlite(app):
        return None
    recorder: Any = app.recorder
    statement = (
        "SELECT rowid, originator_id, originator_version, topic"
        f" FROM {recorder.events_table_name} WHERE rowid > ? ORDER BY rowid LIMIT ?"
    )
    position = LOWEST_ID
    while True:
        rows = _query(app, statement, statement, [position, PAGE_SIZE], not_utf8=True)
        for _, stream, version, topic in rows:
            wrong = [
                _not_text(name, value)
                for name, value in (("stream id", stream), ("topic", topic))
                if isinstance(value, NotUtf8)
            ]
            if wrong:
                named = _uuid_spelled(stream) if isinstance(stream, str) else None
                return MalformedEventError(named or _described(stream), version, "; ".join(wrong))
        if len(rows) < PAGE_SIZE:
            return None
        position = rows[-1][0]


def _not_text(name: str, value: Any) -> str:
    """What is wrong with a column that should hold text."""
    if isinstance(value, NotUtf8):
        return f"its {name} is stored as {_described(value)}"
    return f"its {name} is {_described(value)}, not text"


def malformed_row(
    notification_id: int, stream: Any, version: Any, topic: Any, state: Any, *, sqlite: bool
) -> tuple[RawRow, Problem]:
    """A row that is not in the form traject writes: what is wrong with it, and the row to
    hash in its place.

    The row hashed is the row itself when every field can be read (another spelling of its
    stream id, its stored bytes as text, a version below 1: the leaf the spec gives), else a
    placeholder (the nil stream, version 0, no topic, no bytes) that no appended event has, so
    the row cannot match a recorded leaf or a checkpoint either.
    """
    wrong: list[str] = []
    stream_id: UUID | None = None
    if not sqlite:  # PostgreSQL's uuid column: its 16 bytes, never malformed
        stream_id = UUID(bytes=bytes(stream))
    elif not isinstance(stream, str):
        wrong.append(_not_text("stream id", stream))
    else:
        stream_id = _uuid_spelled(stream)
        if stream_id is None:
            wrong.append(f"its stream id {_described(stream)} is not a UUID")
        elif stream != stream_id.hex:
            wrong.append(
                f"its stream id is stored as {stream!r}, not as traject writes it "
                f"({stream_id.hex!r}: 32 lowercase hex digits), so traject does not find "
                "the event in its stream"
            )
    number: int | None = None
    if isinstance(version, int) and not isinstance(version, bool):
        number = version
        if version < 1:
            wrong.append(f"its version is {version}: a stream's events are numbered from 1")
    else:
        wrong.append(f"its version is {_described(version)}, not a whole number")
    if not isinstance(topic, str):
        wrong.append(_not_text("topic", topic))
    if state is None or not isinstance(state, bytes | str):
        wrong.append(f"its stored bytes (state) are {_described(state)}")
    elif isinstance(state, str):
        wrong.append("its stored bytes (state) are stored as text, not as the blob traject writes")
    row: RawRow = (notification_id, PLACEHOLDER_STREAM, 0, "", b"")
    if (
        stream_id is not None
        and number is not None
        and 0 <= number <= MAX_UINT64
        and isinstance(topic, str)
        and isinstance(state, bytes | str)
    ):
        row = (notification_id, stream_id.bytes, number, topic, _bytes(state))
    named = stream_id if stream_id is not None else _described(stream)
    where = f"stream {named} version {number if number is not None else _described(version)}"
    problem = Problem(
        "malformed",
        f"event {notification_id} ({where}) is malformed, so it was altered outside traject "
        f"(traject never writes such a row): {'; '.join(wrong)}",
        notification_id,
        stream_id,
        number,
    )
    return row, problem


def raw_pages(
    app: TrajectoryLedger,
    start: int = 0,
    stop: int | None = None,
    page_size: int | None = None,
    malformed: Callable[[Problem], None] | None = None,
) -> Iterator[list[RawRow]]:
    """The stored events with ``start < notification id <= stop``, page by page, as read.

    Raw SQL, no decoding; each page is read in its own short transaction and released before
    it is yielded. The stream id comes as its 16 bytes. A malformed row (not in the form
    traject writes: see ``malformed_row``) comes as the row to hash in its place, and what is
    wrong with it is given to ``malformed``, when given.
    """
    page_size = page_size or PAGE_SIZE
    if not _is_sqlite(app) and not hasattr(app.recorder, "events_table"):
        yield from _library_pages(app, start, stop, page_size)
        return
    quick, full = _events_statements(app, bounded=stop is not None)
    tail = [] if stop is None else [stop]
    sqlite = _is_sqlite(app)
    position = start
    while True:
        params = [position, *tail, page_size]
        try:
            found = _query(app, quick, quick.replace("?", "%s"), params)
        except OperationalError as error:
            if not (sqlite and is_not_utf8(error)):
                raise
            found, page = [], None  # a stream id or topic that is not UTF-8: read as bytes
        else:
            if not found:
                return
            page = _sqlite_page(found) if sqlite else found  # the stream id is its 16 bytes
        if page is None or not all(map(_STATE, found)):  # a malformed row: read them as stored
            found = _query(app, full, full.replace("?", "%s"), params, not_utf8=sqlite)
            problems: list[Problem] = []
            page = [
                (n, bytes.fromhex(o) if sqlite else o, v, t, s)
                if ok
                and (
                    not sqlite
                    or (o.__class__ is str and SQLITE_STREAM_ID.fullmatch(o) and t.__class__ is str)
                )
                else _bad(n, o, v, t, s, problems=problems, sqlite=sqlite)
                for n, o, v, t, s, ok in found
            ]
            if malformed is not None:
                for problem in problems:
                    malformed(problem)
        yield page
        if len(found) < page_size:
            return
        position = found[-1][0]


def _bad(
    n: int, o: Any, v: Any, t: Any, s: Any, *, problems: list[Problem], sqlite: bool
) -> RawRow:
    row, problem = malformed_row(n, o, v, t, s, sqlite=sqlite)
    problems.append(problem)
    return row


def _sqlite_page(found: list[Any]) -> list[RawRow] | None:
    """A page of the SQLite events table with each stream id as its 16 bytes; None when a
    stream id is not text of 32 lowercase hex digits (checked for the page as a whole: 16
    bytes from each, and no upper case)."""
    fromhex = bytes.fromhex
    try:
        page = [(n, fromhex(o), v, t, s) for n, o, v, t, s in found]
        digits = "".join(map(_SECOND, found))
    except (ValueError, TypeError):  # not hex digits, or not text
        return None
    if digits != digits.lower() or len(b"".join(map(_SECOND, page))) != 16 * len(page):
        return None  # upper case, or white space (which fromhex skips)
    return page


def _library_pages(
    app: TrajectoryLedger, start: int, stop: int | None, page_size: int
) -> Iterator[list[RawRow]]:
    """The same pages through the library's recorder (the in-memory store used in tests)."""
    position = start
    while True:
        notes = app.recorder.select_notifications(
            position, page_size, stop, inclusive_of_start=False
        )
        if notes:
            yield [
                (
                    n.id,
                    _stream_bytes(n.originator_id),
                    n.originator_version,
                    n.topic,
                    _bytes(n.state),
                )
                for n in notes
            ]
        if len(notes) < page_size:
            return
        position = notes[-1].id


def raw_rows(app: TrajectoryLedger, start: int = 0, stop: int | None = None) -> Iterator[RawRow]:
    """The stored events after ``start`` (up to ``stop``), in notification order."""
    for page in raw_pages(app, start, stop):
        yield from page


def rows(app: TrajectoryLedger, start: int = 0) -> Iterator[Row]:
    """The stored events after notification id ``start``, in notification order, page by page."""
    for n, stream, v, t, s in raw_rows(app, start):
        yield Row(n, UUID(bytes=stream), v, t, s)


def leaves(app: TrajectoryLedger, start: int = 0) -> Iterator[RecordedLeaf]:
    """The leaf of every stored event after notification id ``start``, in notification order."""
    for row in raw_rows(app, start):
        yield RecordedLeaf(row[0], raw_leaf_hash(*row))


# --- the side tables ----------------------------------------------------------------------------


def ensure_tables(app: TrajectoryLedger) -> None:
    """Create the audit tables if this ledger predates them."""
    for statement in AUDIT_TABLES:
        app.tables._write(statement, [])


def has_tables(app: TrajectoryLedger) -> bool:
    """Whether the audit tables exist (read-only check). A user the server does not let read
    them (an analyst) is refused, not told that there are none."""
    try:
        app.tables._one("SELECT 1 FROM {p}traject_leaves LIMIT 1", [])
        app.tables._one("SELECT 1 FROM {p}traject_checkpoints LIMIT 1", [])
    except (OperationalError, ProgrammingError) as error:
        if permission_error(error) is not None:
            raise
        return False
    return True


def recorded_high(app: TrajectoryLedger) -> int:
    """The notification id of the last recorded leaf (0 when none)."""
    row = app.tables._one("SELECT MAX(notification_id) AS high FROM {p}traject_leaves", [])
    return int(row["high"] or 0) if row is not None else 0


def recorded_stream(app: TrajectoryLedger, stop: int) -> Iterator[RecordedLeaf]:
    """The recorded leaves up to notification id ``stop``, in order, read page by page."""
    position = 0
    statement = (
        "SELECT notification_id, leaf_hash FROM {p}traject_leaves"
        " WHERE notification_id > ? AND notification_id <= ? ORDER BY notification_id LIMIT ?"
    )
    fromhex = bytes.fromhex
    while True:
        found = _query(app, statement, statement.replace("?", "%s"), [position, stop, PAGE_SIZE])
        # plain (id, hash) tuples: the fields of a RecordedLeaf, without building one per row
        try:
            page = [(n, fromhex(h)) for n, h in found]
        except (ValueError, TypeError):  # a recorded hash altered into something else
            page = [(n, _recorded_hash(h)) for n, h in found]
        yield from cast("list[RecordedLeaf]", page)
        if len(found) < PAGE_SIZE:
            return
        position = int(found[-1][0])


def _recorded_hash(text: Any) -> bytes:
    """A recorded leaf hash; empty (it matches no leaf) when it is not 64 hex digits."""
    if isinstance(text, str) and len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    return b""


def recorded_leaves(app: TrajectoryLedger) -> list[RecordedLeaf]:
    """The leaves recorded so far, in notification order."""
    return [RecordedLeaf(*leaf) for leaf in recorded_stream(app, recorded_high(app))]


def _record(app: TrajectoryLedger, new: Sequence[RecordedLeaf]) -> None:
    if not new:
        return
    tables = app.tables
    ids = [leaf.notification_id for leaf in new]
    hashes = [leaf.leaf_hash.hex() for leaf in new]
    with tables._side(commit=True) as cursor:
        if _is_sqlite(app):
            cursor.executemany(
                "INSERT INTO traject_leaves VALUES (?, ?) ON CONFLICT (notification_id) DO NOTHING",
                list(zip(ids, hashes, strict=True)),
            )
        else:  # the page as two arrays in one statement, not a round trip per row
            cursor.execute(
                tables._sql(
                    "INSERT INTO {p}traject_leaves SELECT * FROM unnest(?::bigint[], ?::text[])"
                    " ON CONFLICT (notification_id) DO NOTHING"
                ),
                [ids, hashes],
            )


def catch_up(app: TrajectoryLedger, *, progress: Progress | None = None) -> int:
    """Record the leaf of every event stored after the last recorded one; the number recorded.

    Keeps ``traject_leaves`` current: called by every projection catch-up (so by every report)
    and by ``checkpoint``. One transaction per page; safe to run concurrently (a leaf already
    recorded is kept). Only new rows are read: it does not check the old ones (``verify`` does).
    """
    try:
        high = recorded_high(app)
    except (OperationalError, ProgrammingError):  # a ledger older than the audit tables
        ensure_tables(app)
        high = 0
    total = int(app.recorder.max_notification_id() or 0)
    if total <= high:
        return 0
    count = 0
    for page in raw_pages(app, high):
        _record(app, [RecordedLeaf(row[0], raw_leaf_hash(*row)) for row in page])
        count += len(page)
        if progress is not None:
            progress(page[-1][0], max(total, page[-1][0]))
    return count


def stored_checkpoint_texts(app: TrajectoryLedger) -> list[tuple[int, str]]:
    """(tree size, text) of every stored checkpoint, smallest first."""
    found = app.tables._all(
        "SELECT tree_size, text FROM {p}traject_checkpoints ORDER BY tree_size", []
    )
    return [(int(row["tree_size"]), str(row["text"])) for row in found]


@dataclasses.dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint as stored in the ledger, with the time it was stored (and the tree size
    its row is stored under, which is the checkpoint's unless the row was altered)."""

    checkpoint: Checkpoint
    stored_at: str
    row_size: int | None = None


def stored_checkpoints(app: TrajectoryLedger) -> list[StoredCheckpoint]:
    """Every stored checkpoint, smallest first (a malformed one raises CheckpointFormatError)."""
    if not has_tables(app):
        return []
    found = app.tables._all(
        "SELECT tree_size, text, created_at FROM {p}traject_checkpoints ORDER BY tree_size", []
    )
    return [
        StoredCheckpoint(
            parse_checkpoint(str(row["text"])), str(row["created_at"]), int(row["tree_size"])
        )
        for row in found
    ]


def stored_checkpoint(app: TrajectoryLedger, tree_size: int | None = None) -> Checkpoint:
    """The stored checkpoint of ``tree_size`` (the latest when None); IntegrityError if none."""
    found = stored_checkpoints(app)
    if not found:
        raise IntegrityError("no checkpoint yet: run `traject audit checkpoint` first")
    if tree_size is None:
        return found[-1].checkpoint
    for item in found:
        if item.checkpoint.tree_size == tree_size:
            return item.checkpoint
    for item in found:
        if item.row_size == tree_size:
            raise IntegrityError(
                f"the stored checkpoint row of size {tree_size} holds the signed text of "
                f"{item.checkpoint}: the row was altered; run `traject audit verify`"
            )
    sizes = ", ".join(str(item.checkpoint.tree_size) for item in found)
    raise IntegrityError(f"no stored checkpoint of size {tree_size}: the stored sizes are {sizes}")


def origin(app: TrajectoryLedger) -> str | None:
    """The origin line of this ledger's checkpoints, fixed at the first checkpoint."""
    return app.tables.get_setting(ORIGIN_SETTING)


def fix_origin(
    app: TrajectoryLedger,
    stored: Sequence[Checkpoint] | None = None,
    default_origin: str | None = None,
) -> str:
    """The origin of this ledger's checkpoints, stored first if it is not yet: the one the
    first of the ``stored`` checkpoints carries (a ledger whose checkpoints were stored before
    the origin was), else ``default_origin``, else the ledger's own name (:func:`ledger_origin`).

    Fixed by the first checkpoint, or earlier by the owner's ``traject admin roles``
    (PostgreSQL), since staff, who sign checkpoints, may add no setting (``ledger.roles``).
    """
    name = origin(app)
    if name is None:
        if stored is None:
            stored = _stored_checkpoints(app)[0]
        first = stored[0].origin if stored else None
        name = first or default_origin or ledger_origin(app)
        app.tables.set_setting(ORIGIN_SETTING, name)
    return name


def _own_origin(app: TrajectoryLedger) -> str | None:
    """The origin :func:`ledger_origin` gives, when the ledger has its id already (a read-only
    check claims none)."""
    own = app.stored_ledger_id()
    return None if own is None else f"traject ledger {own}"


def ledger_origin(app: TrajectoryLedger) -> str:
    """The name a ledger's first checkpoint gives it: ``traject ledger`` and the ledger's own
    id (``TrajectoryLedger.ledger_id``), which names the same ledger wherever its files are
    moved, and tells nothing of the server or the directory it was on."""
    return f"traject ledger {app.ledger_id()}"


# --- checking -----------------------------------------------------------------------------------


def _scan(
    app: TrajectoryLedger,
    checkpoints: Sequence[Checkpoint],
    *,
    public_key: TrustedKeys | None,
    expected_origin: str | None,
    progress: Progress | None = None,
) -> tuple[VerificationReport, int]:
    """Recompute every leaf in one streaming pass; compare with the recorded leaves.

    Only the leaves recorded up to the high-water mark read first are compared, so events
    appended (and caught up) while the scan runs are never mistaken for deletions. The
    comparison is page by page, in bulk; when a page differs, a second, exact pass names the
    first event that does not match.
    """
    high = recorded_high(app) if has_tables(app) else 0
    total = int(app.recorder.max_notification_id() or 0)
    last_id = 0
    negative: list[Problem] = []
    seals: list[Problem] = []
    malformed = _Listed("malformed", "more rows are malformed")
    sink: list[bytes] = []
    differs = False

    def read(compare: bool) -> Iterator[RawRow]:
        nonlocal last_id, differs
        below = LOWEST_ID
        # from the lowest id a row can have: a forged row numbered 0 or below is read too
        for page in raw_pages(app, start=LOWEST_ID, malformed=malformed.add):
            if page[0][0] < 0:
                negative.extend(_negative(row) for row in page if row[0] < 0)
                page = [row for row in page if row[0] >= 0]  # noqa: PLW2901
            seals.extend(_altered_seals(page))
            yield from page
            if compare and not differs:
                differs = not _page_matches(app, page, sink, below, high)
            sink.clear()
            below = last_id = max(last_id, page[-1][0]) if page else last_id
            if progress is not None:
                progress(last_id, max(total, last_id))
        if compare and not differs:
            differs = _recorded_count(app, below, high) > 0  # recorded leaves without a row

    report = verify_raw_log(
        read(compare=bool(high)),
        checkpoints,
        public_key=public_key,
        origin=expected_origin,
        leaf_sink=sink if high else None,
    )
    if differs:  # the exact pass, to name the first event that does not match
        negative.clear()
        seals.clear()
        malformed.clear()
        report = verify_raw_log(
            read(compare=False),
            checkpoints,
            recorded=recorded_stream(app, high),
            public_key=public_key,
            origin=expected_origin,
        )
    if negative or malformed.count or seals:
        # a malformed row (hashed as a placeholder, or as it reads) may differ from its
        # recorded leaf too: what is wrong with it is said once, as malformed
        named = {p.notification_id for p in malformed.listed}
        rest = (p for p in report.problems if p.kind != "changed" or p.notification_id not in named)
        report = dataclasses.replace(
            report, ok=False, problems=(*negative, *malformed.problems(), *rest, *seals)
        )
    return report, last_id


class _Listed:
    """Problems of one kind, the first ``LISTED`` of them kept (a count says the rest)."""

    def __init__(self, kind: str, rest: str) -> None:
        self.kind, self.rest = kind, rest
        self.listed: list[Problem] = []
        self.count = 0

    def add(self, problem: Problem) -> None:
        self.count += 1
        if len(self.listed) < LISTED:
            self.listed.append(problem)

    def clear(self) -> None:
        self.listed.clear()
        self.count = 0

    def problems(self) -> list[Problem]:
        more = self.count - len(self.listed)
        return [*self.listed, *([Problem(self.kind, f"and {more} {self.rest}")] if more else [])]


def _page_matches(
    app: TrajectoryLedger, page: Sequence[RawRow], leaves: list[bytes], below: int, high: int
) -> bool:
    """Whether the recorded leaves with ``below < id <= high`` are exactly the page's."""
    top = min(page[-1][0], high) if page else high
    statement = (
        "SELECT notification_id, leaf_hash FROM {p}traject_leaves"
        " WHERE notification_id > ? AND notification_id <= ? ORDER BY notification_id"
    )
    found = _query(app, statement, statement.replace("?", "%s"), [below, top])
    count = len(found)
    if count > len(page) or [row[0] for row in page[:count]] != [n for n, _ in found]:
        return False
    if count < len(page) and page[count][0] <= high:
        return False  # a row that should have a recorded leaf has none
    try:
        recorded = bytes.fromhex("".join(h for _, h in found))
    except (ValueError, TypeError):  # a recorded hash altered into something else
        return False
    return b"".join(leaves[:count]) == recorded


def _recorded_count(app: TrajectoryLedger, below: int, high: int) -> int:
    statement = (
        "SELECT COUNT(*) FROM {p}traject_leaves WHERE notification_id > ? AND notification_id <= ?"
    )
    return int(_query(app, statement, statement.replace("?", "%s"), [below, high])[0][0])


def _negative(row: RawRow) -> Problem:
    stream_id = UUID(bytes=row[1])
    return Problem(
        "inserted",
        f"event {row[0]} (stream {stream_id} version {row[2]}) has a negative notification id: "
        "no stored event has one, the row was inserted by hand",
        row[0],
        stream_id,
        row[2],
    )


UUID_BYTES = 16
SEAL_TOPIC = get_topic(ev.ReportSealed)


def _altered_seals(page: Sequence[RawRow]) -> Iterator[Problem]:
    """The sealed reports of ``page`` whose stored figures do not match their digest.

    Every seal is checked when it is recorded or imported, so such a row was altered after
    it was written, whether or not its leaf had been recorded by then. (A row that cannot be
    read as a seal at all is named as malformed.)
    """
    for notification_id, stream, version, topic, state in page:
        if topic != SEAL_TOPIC or not isinstance(state, bytes) or len(stream) != UUID_BYTES:
            continue
        problem = stored_seal_problem(state)
        if problem is None:
            continue
        stream_id = UUID(bytes=stream)
        field, rule = problem
        yield Problem(
            "seal",
            f"event {notification_id} (stream {stream_id} version {version}) is a sealed "
            f"report whose stored figures do not match its digest ({field}: {rule}): it was "
            "altered after it was recorded",
            notification_id,
            stream_id,
            version,
        )


LISTED = 20
"""At most this many streams with gaps, and malformed rows, are named (a count says the rest)."""
GAPS_LISTED = LISTED


def stream_gaps(app: TrajectoryLedger, malformed: Sequence[Problem] = ()) -> list[Problem]:
    """Streams whose versions are not exactly 1, 2, …, n: a stored event deleted, or one
    inserted by hand with a version of its own choosing.

    Appends give every stream consecutive versions from 1, so this holds of an unaltered log
    whether or not its leaves have been recorded yet: it finds such an alteration even in the
    rows after the last recorded leaf, which the leaves cannot vouch for. One grouped read of
    the (stream, version) key; only the streams that fail it are read again, to name the
    first version that is missing.

    Malformed rows (``malformed``: the scan's problems) are not counted here, as they are
    reported already: a version below 1 or not a whole number is left out, and a row whose
    stream id is spelled otherwise forms no stream of its own; its version counts as present
    in the stream it spells, so that stream is not also reported with that version missing.
    """
    recorder: Any = app.recorder
    sqlite = _is_sqlite(app)
    if sqlite:
        table, key = recorder.events_table_name, "originator_id"
        numbered = "typeof(originator_version) = 'integer' AND originator_version > 0"
    elif hasattr(recorder, "events_table"):
        table, key, numbered = (
            recorder.events_table,
            "originator_id::text",
            "originator_version > 0",
        )
    else:
        return []
    statement = (
        f"SELECT {key}, COUNT(*), MIN(originator_version), MAX(originator_version) FROM {table}"
        f" WHERE {numbered} GROUP BY originator_id"
        " HAVING COUNT(*) <> MAX(originator_version) OR MIN(originator_version) <> 1"
        " ORDER BY MIN(originator_version), originator_id"
    )
    spelled: dict[UUID, set[int]] = {}  # the versions of a stream's malformed rows
    named: dict[UUID, list[int]] = {}  # the notification ids of a stream's malformed rows
    for problem in malformed:
        if problem.kind == "malformed" and problem.stream_id is not None:
            named.setdefault(problem.stream_id, []).append(problem.notification_id or 0)
            if problem.version is not None and problem.version > 0:
                spelled.setdefault(problem.stream_id, set()).add(problem.version)
    versions = f"SELECT originator_version FROM {table} WHERE {numbered} AND originator_id = "
    problems: list[Problem] = []
    more = 0
    for stream, _, _, _ in _query(app, statement, statement, [], not_utf8=sqlite):
        if sqlite and not (isinstance(stream, str) and SQLITE_STREAM_ID.fullmatch(stream)):
            continue  # another spelling of a stream id: each of its rows is malformed
        stream_id = UUID(bytes=_stream_bytes(stream))
        elsewhere = spelled.get(stream_id, set())
        if len(problems) == GAPS_LISTED and not elsewhere:
            more += 1
            continue
        rows = _query(app, versions + "?", versions + "%s::uuid", [stream])
        present = {row[0] for row in rows} | elsewhere
        if not present:
            continue  # its rows went while this ran
        highest = max(present)
        version = next((v for v in range(1, highest + 1) if v not in present), None)
        if version is None:
            continue  # complete, counting the malformed rows that spell it otherwise
        if len(problems) == GAPS_LISTED:
            more += 1
            continue
        ids = named.get(stream_id, [])
        note = (
            f"; {'events' if len(ids) > 1 else 'event'} {', '.join(map(str, sorted(ids)))} of "
            f"this stream {'are' if len(ids) > 1 else 'is'} malformed (above)"
            if ids
            else ""
        )
        problems.append(
            Problem(
                "gap",
                f"stream {stream_id} has {len(present)} events with versions {min(present)} to "
                f"{highest}: version {version} is missing: a stored event was deleted, or one "
                "was inserted by hand past it (appends number a stream's events 1, 2, 3, … "
                f"without gaps){note}",
                stream_id=stream_id,
                version=version,
            )
        )
    if more:
        problems.append(Problem("gap", f"and {more} more streams with such gaps"))
    return problems


def _stored_checkpoints(app: TrajectoryLedger) -> tuple[list[Checkpoint], list[Problem]]:
    found: list[Checkpoint] = []
    problems: list[Problem] = []
    if not has_tables(app):
        return found, problems
    for size, text in stored_checkpoint_texts(app):
        try:
            parsed = parse_checkpoint(text)
        except CheckpointFormatError as error:
            problems.append(
                Problem(
                    "checkpoint",
                    f"the stored checkpoint of size {size} is malformed: {error}",
                    checkpoint_size=size,
                )
            )
            continue
        found.append(parsed)  # the signed text is what is checked
        if parsed.tree_size != size:
            problems.append(
                Problem(
                    "checkpoint",
                    f"the stored checkpoint row of size {size} (traject_checkpoints.tree_size) "
                    f"holds the signed text of {parsed}: the row was altered (its text says "
                    f"{parsed.tree_size}; the signed text is what counts)",
                    checkpoint_size=size,
                )
            )
    return found, problems


def verify(
    app: TrajectoryLedger,
    given_checkpoints: Iterable[Checkpoint] = (),
    public_key_pem: TrustedKeys | None = None,
    *,
    progress: Progress | None = None,
) -> VerificationReport:
    """Recompute every leaf and check it against the recorded leaves and every checkpoint.

    The checkpoints are those stored in the ledger and ``given_checkpoints`` (copies kept
    outside it); with ``public_key_pem`` their signatures are checked too. Every checkpoint
    must match the one tree recomputed from the rows, which also makes them consistent with
    one another. Reads only (one streaming pass over the events and the recorded leaves):
    a read-only database role can run it.

    On a ledger whose origin is not fixed yet, a checkpoint is named as not of this ledger
    (or its origin as removed) before what its root says about the rows, by the origin the
    ledger's first checkpoint would give it (its own id, when it has one: read, not claimed).
    """
    stored, problems = _stored_checkpoints(app)
    unique: dict[str, Checkpoint] = {}
    for item in [*stored, *given_checkpoints]:
        unique.setdefault(item.text, item)
    fixed = origin(app) if has_tables(app) else None
    location = _own_origin(app) if fixed is None and has_tables(app) else None
    if location is not None:
        problems += [_unfixed_origin(item, location) for item in unique.values()]
    report, _ = _scan(
        app,
        list(unique.values()),
        public_key=public_key_pem,
        expected_origin=fixed,
        progress=progress,
    )
    mismatched = any(
        p.kind in ("checkpoint", "deleted") and p.checkpoint_size is not None
        for p in report.problems
    )
    unlinked = _inconsistent(recorded_leaves(app), list(unique.values())) if mismatched else []
    gaps = stream_gaps(app, report.problems)
    if any(p.kind == "changed" for p in report.problems):
        report = dataclasses.replace(
            report, problems=tuple(_moved(app, p) for p in report.problems)
        )
    if problems or unlinked or gaps:
        report = dataclasses.replace(
            report, ok=False, problems=(*problems, *report.problems, *unlinked, *gaps)
        )
    return report


MOVE_WINDOW = 256
"""How far from its place a changed row's recorded leaf is looked for (rows swapped)."""


def _moved(app: TrajectoryLedger, problem: Problem) -> Problem:
    """A changed row that is, byte for byte, the row recorded at a nearby notification id
    (two rows swapped, or renumbered): named as reordered, not as altered bytes."""
    n = problem.notification_id
    if problem.kind != "changed" or n is None:
        return problem
    row = next((r for page in raw_pages(app, start=n - 1, stop=n) for r in page), None)
    if row is None or row[0] != n:
        return problem
    _, stream, version, topic, state = row
    statement = (
        "SELECT notification_id, leaf_hash FROM {p}traject_leaves"
        " WHERE notification_id >= ? AND notification_id <= ? AND notification_id <> ?"
        " ORDER BY notification_id"
    )
    nearby = _query(
        app, statement, statement.replace("?", "%s"), [n - MOVE_WINDOW, n + MOVE_WINDOW, n]
    )
    stored = _bytes(state)
    for other, recorded in nearby:
        if raw_leaf_hash(other, stream, version, topic, stored).hex() == recorded:
            stream_id = UUID(bytes=stream)
            return dataclasses.replace(
                problem,
                kind="out-of-order",
                message=(
                    f"event {n} (stream {stream_id} version {version}) holds the row recorded "
                    f"as event {other}, unchanged: rows were reordered or renumbered"
                ),
            )
    return problem


def _unfixed_origin(item: Checkpoint, location: str) -> Problem:
    """A checkpoint given to a ledger that has fixed no origin, so has signed no checkpoint."""
    unfixed = f"no `{ORIGIN_SETTING}` in traject_settings"
    if item.origin == location:
        message = (
            f"{item}: it names this ledger, but the ledger has {unfixed}, which its first "
            "checkpoint stores: the setting was removed outside traject"
        )
    else:
        message = (
            f"{item}: its origin {item.origin!r} is not this ledger, {location!r}, which has "
            f"signed no checkpoint ({unfixed}): it is a checkpoint of another ledger (or of "
            "this one before it moved, and its origin was removed); its other problems compare "
            "it with this ledger's rows"
        )
    return Problem("checkpoint", message, checkpoint_size=item.tree_size)


def _inconsistent(recorded: Sequence[RecordedLeaf], checkpoints: list[Checkpoint]) -> list[Problem]:
    """Successive checkpoints that no consistency proof over the recorded leaves joins.

    Only when the log failed to verify (when every checkpoint matches the one tree recomputed
    from the rows they are consistent already): it tells a checkpoint that was altered or
    forked from one that merely no longer matches changed rows.
    """
    hashes = [leaf.leaf_hash for leaf in recorded]
    by_size: dict[int, Checkpoint] = {}
    for item in sorted(checkpoints, key=lambda c: c.tree_size):
        by_size.setdefault(item.tree_size, item)
    ordered = [c for size, c in sorted(by_size.items()) if size <= len(hashes)]
    problems: list[Problem] = []
    for earlier, later in itertools.pairwise(ordered):
        proof = consistency_proof(hashes, earlier.tree_size, later.tree_size)
        if not verify_consistency(
            earlier.tree_size, later.tree_size, earlier.root, later.root, proof
        ):
            problems.append(
                Problem(
                    "checkpoint",
                    f"{later} is not consistent with {earlier} over the recorded leaves: one "
                    "of them was altered, or the log was rewritten between them",
                    checkpoint_size=later.tree_size,
                )
            )
    return problems


def checkpoint(
    app: TrajectoryLedger,
    private_key_pem: bytes,
    default_origin: str | None = None,
    *,
    progress: Progress | None = None,
) -> Checkpoint:
    """Catch the leaves up, verify the log, then sign and store a checkpoint of all of it.

    The origin is fixed at the first checkpoint and stored: ``default_origin``, by default
    the ledger's own name (:func:`ledger_origin`); the stored one afterwards. A ledger with
    stored checkpoints but no stored origin (written before the origin was stored) keeps
    the one its first checkpoint carries, so that its checkpoints go on verifying.
    Refuses (IntegrityError) when the log does not verify against the recorded leaves and the
    stored checkpoints, or a stream's versions do not run 1, 2, …: signing would vouch for a
    changed log.
    """
    catch_up(app)
    stored, problems = _stored_checkpoints(app)
    name = fix_origin(app, stored, default_origin)
    report, last_id = _scan(app, stored, public_key=None, expected_origin=name, progress=progress)
    # a stream's versions must run 1..n too: the leaves just caught up vouch for no row yet
    problems += [*report.problems, *stream_gaps(app, report.problems)]
    if problems:
        raise IntegrityError(
            f"the log does not verify, no checkpoint signed: {problems[0]}"
            + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else "")
        )
    body = CheckpointBody(name, report.tree_size, report.root, last_id if report.tree_size else 0)
    signed = parse_checkpoint(sign_checkpoint(body, private_key_pem))
    app.tables._write(
        "INSERT INTO {p}traject_checkpoints VALUES (?, ?, ?) ON CONFLICT (tree_size) DO NOTHING",
        [signed.tree_size, signed.text, datetime.now(UTC).isoformat()],
    )
    return signed


def latest_checkpoint(app: TrajectoryLedger) -> Checkpoint | None:
    """The stored checkpoint of the largest tree size, if any."""
    texts = stored_checkpoint_texts(app) if has_tables(app) else []
    return parse_checkpoint(texts[-1][1]) if texts else None


# --- proofs -------------------------------------------------------------------------------------


def _leaves_up_to(
    app: TrajectoryLedger, tree_size: int, wanted: set[tuple[bytes, int]] | None = None
) -> tuple[list[bytes], dict[tuple[bytes, int], tuple[int, RawRow]]]:
    """The first ``tree_size`` leaves recomputed from the rows, and (position, row) of each
    ``wanted`` event (stream id bytes, version) among them; only those rows are kept."""
    hashes: list[bytes] = []
    kept: dict[tuple[bytes, int], tuple[int, RawRow]] = {}
    for page in raw_pages(app):
        for row in page:
            if len(hashes) == tree_size:
                return hashes, kept
            if wanted and (row[1], row[2]) in wanted:
                kept[(row[1], row[2])] = (len(hashes), row)
            hashes.append(raw_leaf_hash(*row))
    if len(hashes) < tree_size:
        raise IntegrityError(
            f"the log has {len(hashes)} events, fewer than the checkpoint's {tree_size}: run "
            "`traject audit verify`"
        )
    return hashes, kept


def _matching(hashes: Sequence[bytes], checkpoint: Checkpoint) -> None:
    if root(hashes[: checkpoint.tree_size]) != checkpoint.root:
        raise IntegrityError(
            f"the stored events no longer match {checkpoint}: run `traject audit verify`"
        )


def inclusion_documents(
    app: TrajectoryLedger,
    events: Iterable[tuple[UUID, int]],
    checkpoint_used: Checkpoint | None = None,
) -> dict[tuple[UUID, int], InclusionDocument]:
    """Self-contained inclusion proofs of events (stream id, version) against one checkpoint.

    The checkpoint is the latest stored one unless given. The log is read once; a requested
    event that the checkpoint does not cover raises IntegrityError naming it. Each document
    verifies offline (``InclusionDocument.check`` or `traject audit verify-proof`).
    """
    wanted = set(events)
    used = checkpoint_used or latest_checkpoint(app)
    if used is None:
        raise IntegrityError("no checkpoint yet: run `traject audit checkpoint` first")
    hashes, kept = _leaves_up_to(app, used.tree_size, {(s.bytes, v) for s, v in wanted})
    missing = sorted((key for key in wanted if (key[0].bytes, key[1]) not in kept), key=str)
    if missing:
        stream_id, version = missing[0]
        raise IntegrityError(
            f"no event {stream_id} version {version} among the {used.tree_size} events of {used}"
        )
    found: dict[tuple[UUID, int], InclusionDocument] = {}
    tree = MerkleTree(hashes)
    if tree.root() != used.root:
        raise IntegrityError(
            f"the stored events no longer match {used}: run `traject audit verify`"
        )
    for key in wanted:
        position, (n, stream, version, topic, state) = kept[(key[0].bytes, key[1])]
        path = tree.inclusion_proof(position)
        found[key] = InclusionDocument(
            EventRef(n, UUID(bytes=stream), version, topic, hashlib.sha256(state).digest()),
            InclusionProof(position, used.tree_size, hashes[position], tuple(path)),
            used,
        )
    return found


def inclusion_document(app: TrajectoryLedger, stream_id: UUID, version: int) -> InclusionDocument:
    """The self-contained inclusion proof of one event against the latest stored checkpoint."""
    return inclusion_documents(app, [(stream_id, version)])[(stream_id, version)]


def prove(
    app: TrajectoryLedger, stream_id: UUID, version: int
) -> tuple[InclusionProof, Checkpoint]:
    """The inclusion proof of one event against the latest stored checkpoint."""
    document = inclusion_document(app, stream_id, version)
    return document.proof, document.checkpoint


def consistency_document(
    app: TrajectoryLedger, old: Checkpoint, new: Checkpoint
) -> ConsistencyDocument:
    """The consistency proof from ``old`` to ``new``, computed from the stored events.

    Refuses (IntegrityError) when the sizes are in the wrong order, the origins differ, or the
    stored events no longer give either root: no proof is made for a changed log.
    """
    if old.tree_size > new.tree_size:
        raise IntegrityError(
            f"the old checkpoint ({old.tree_size} events) is larger than the new one "
            f"({new.tree_size}): give the older checkpoint first"
        )
    if old.origin != new.origin:
        raise IntegrityError(
            f"the checkpoints have different origins: {old.origin!r}, {new.origin!r}"
        )
    hashes, _ = _leaves_up_to(app, new.tree_size)
    _matching(hashes, old)
    _matching(hashes, new)
    path = consistency_proof(hashes, old.tree_size, new.tree_size)
    return ConsistencyDocument(
        old, new, ConsistencyProof(old.tree_size, new.tree_size, tuple(path))
    )


# --- replay -------------------------------------------------------------------------------------


def _recorded_at(state: bytes) -> datetime | None:
    """The ``timestamp`` (when it was recorded) in an event's stored state."""
    try:
        value = orjson.loads(state).get("timestamp")
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except (orjson.JSONDecodeError, ValueError, AttributeError):
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def last_notification_id_at(app: TrajectoryLedger, moment: datetime) -> int:
    """The largest notification id of an event recorded at or before ``moment`` (0 if none)."""
    last = 0
    for page in raw_pages(app):
        for n, _, _, _, state in page:
            recorded = _recorded_at(state)
            if recorded is not None and recorded <= moment:
                last = n
    return last


def covering_checkpoint(app: TrajectoryLedger, notification_id: int) -> Checkpoint | None:
    """The smallest stored checkpoint that covers ``notification_id`` (None when none does)."""
    for item in stored_checkpoints(app):
        if item.checkpoint.last_notification_id >= notification_id:
            return item.checkpoint
    return None


def checkpoint_summary(item: Checkpoint) -> dict[str, Any]:
    """A checkpoint as a JSON object (the text is the signed form; the rest is read from it)."""
    return {
        "origin": item.origin,
        "tree_size": item.tree_size,
        "root": item.root_hex,
        "last_notification_id": item.last_notification_id,
        "time": item.created_at,
        "key_id": item.key_id,
        "text": item.text,
    }


def replay_block(
    app: TrajectoryLedger, moment: datetime, result: Any, rule_version: str
) -> dict[str, Any]:
    """What ``traject audit replay`` adds to a result produced as known at ``moment``.

    ``digest`` is the SHA-256 of the result as canonical JSON without its ``basis`` (the
    basis describes the read model as it stands now, not the answer as known at ``moment``);
    ``last_notification_id`` the last event recorded by then; ``checkpoint`` the smallest
    stored checkpoint that covers it, or None.
    """
    payload = without_basis(result)
    last = last_notification_id_at(app, moment)
    covering = covering_checkpoint(app, last)
    return {
        "as_known_at": moment.astimezone(UTC).isoformat(),
        "digest": canonical_digest(payload),
        "last_notification_id": last,
        "rule_version": rule_version,
        "checkpoint": None if covering is None else checkpoint_summary(covering),
    }
