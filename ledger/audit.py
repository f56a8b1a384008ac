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
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import OperationalError, ProgrammingError
from eventsourcing.utils import get_topic

from ledger import events as ev
from ledger.integrity import (
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


def _query(app: TrajectoryLedger, sqlite: str, postgres: str, params: Sequence[Any]) -> list[Any]:
    """Rows as tuples of one read-only statement (``{p}`` is the schema prefix)."""
    recorder: Any = app.recorder
    if _is_sqlite(app):
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(sqlite.replace("{p}", ""), list(params))
            return list(cursor.fetchall())
    with (
        recorder.datastore.get_connection() as connection,
        connection.transaction(force_rollback=True),
        connection.cursor(binary=True, row_factory=tuple_row) as cursor,  # binary: no parsing
    ):
        cursor.execute(postgres.replace("{p}", recorder.prefix), list(params))
        return list(cursor.fetchall())


def _events_statement(app: TrajectoryLedger, *, bounded: bool) -> tuple[str, str]:
    """The page query over the events table, for SQLite and for PostgreSQL."""
    recorder: Any = app.recorder
    if _is_sqlite(app):
        bound = " AND rowid <= ?" if bounded else ""
        return (
            "SELECT rowid, originator_id, originator_version, topic, state"
            f" FROM {recorder.events_table_name} WHERE rowid > ?{bound} ORDER BY rowid LIMIT ?"
        ), ""
    bound = " AND notification_id <= %s" if bounded else ""
    return "", (
        "SELECT notification_id, uuid_send(originator_id), originator_version, topic, state"
        f" FROM {recorder.events_table} WHERE notification_id > %s{bound}"
        " ORDER BY notification_id LIMIT %s"
    )


def raw_pages(
    app: TrajectoryLedger, start: int = 0, stop: int | None = None, page_size: int | None = None
) -> Iterator[list[RawRow]]:
    """The stored events with ``start < notification id <= stop``, page by page, as read.

    Raw SQL, no decoding; each page is read in its own short transaction and released before
    it is yielded. The stream id comes as its 16 bytes.
    """
    page_size = page_size or PAGE_SIZE
    if not _is_sqlite(app) and not hasattr(app.recorder, "events_table"):
        yield from _library_pages(app, start, stop, page_size)
        return
    sqlite, postgres = _events_statement(app, bounded=stop is not None)
    tail = [] if stop is None else [stop]
    convert = _is_sqlite(app)
    fromhex = bytes.fromhex
    position = start
    while True:
        found = _query(app, sqlite, postgres, [position, *tail, page_size])
        if not found:
            return
        if convert:  # SQLite keeps the stream id as 32 hex digits
            yield [
                (
                    n,
                    fromhex(o) if o.__class__ is str and len(o) == 32 else _stream_bytes(o),
                    v,
                    t,
                    s if s.__class__ is bytes else _bytes(s),
                )
                for n, o, v, t, s in found
            ]
        else:
            yield found
        if len(found) < page_size:
            return
        position = found[-1][0]


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
    """Whether the audit tables exist (read-only check)."""
    try:
        app.tables._one("SELECT 1 FROM {p}traject_leaves LIMIT 1", [])
        app.tables._one("SELECT 1 FROM {p}traject_checkpoints LIMIT 1", [])
    except (OperationalError, ProgrammingError):
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
        yield from cast("list[RecordedLeaf]", [(n, fromhex(h)) for n, h in found])
        if len(found) < PAGE_SIZE:
            return
        position = int(found[-1][0])


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
    """A checkpoint as stored in the ledger, with the time it was stored."""

    checkpoint: Checkpoint
    stored_at: str


def stored_checkpoints(app: TrajectoryLedger) -> list[StoredCheckpoint]:
    """Every stored checkpoint, smallest first (a malformed one raises CheckpointFormatError)."""
    if not has_tables(app):
        return []
    found = app.tables._all(
        "SELECT tree_size, text, created_at FROM {p}traject_checkpoints ORDER BY tree_size", []
    )
    return [
        StoredCheckpoint(parse_checkpoint(str(row["text"])), str(row["created_at"]))
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
    sizes = ", ".join(str(item.checkpoint.tree_size) for item in found)
    raise IntegrityError(f"no stored checkpoint of size {tree_size}: the stored sizes are {sizes}")


def origin(app: TrajectoryLedger) -> str | None:
    """The origin line of this ledger's checkpoints, fixed at the first checkpoint."""
    return app.tables.get_setting(ORIGIN_SETTING)


# --- checking -----------------------------------------------------------------------------------


def _scan(
    app: TrajectoryLedger,
    checkpoints: Sequence[Checkpoint],
    *,
    public_key: bytes | None,
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
    sink: list[bytes] = []
    differs = False

    def read(compare: bool) -> Iterator[RawRow]:
        nonlocal last_id, differs
        below = LOWEST_ID
        # from the lowest id a row can have: a forged row numbered 0 or below is read too
        for page in raw_pages(app, start=LOWEST_ID):
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
        report = verify_raw_log(
            read(compare=False),
            checkpoints,
            recorded=recorded_stream(app, high),
            public_key=public_key,
            origin=expected_origin,
        )
    if negative or seals:
        problems = (*negative, *report.problems, *seals)
        report = dataclasses.replace(report, ok=False, problems=problems)
    return report, last_id


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
    return b"".join(leaves[:count]) == bytes.fromhex("".join(h for _, h in found))


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


SEAL_TOPIC = get_topic(ev.ReportSealed)


def _altered_seals(page: Sequence[RawRow]) -> Iterator[Problem]:
    """The sealed reports of ``page`` whose stored figures do not match their digest.

    Every seal is checked when it is recorded or imported, so such a row was altered after
    it was written, whether or not its leaf had been recorded by then.
    """
    for notification_id, stream, version, topic, state in page:
        if topic != SEAL_TOPIC:
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


GAPS_LISTED = 20
"""At most this many streams are named by the continuity check (a count says the rest)."""


def stream_gaps(app: TrajectoryLedger) -> list[Problem]:
    """Streams whose versions are not exactly 1, 2, …, n: a stored event deleted, or one
    inserted by hand with a version of its own choosing.

    Appends give every stream consecutive versions from 1, so this holds of an unaltered log
    whether or not its leaves have been recorded yet: it finds such an alteration even in the
    rows after the last recorded leaf, which the leaves cannot vouch for. One grouped read of
    the (stream, version) key; only the streams that fail it are read again, to name the
    first version that is missing.
    """
    recorder: Any = app.recorder
    if _is_sqlite(app):
        table, key = recorder.events_table_name, "originator_id"
    elif hasattr(recorder, "events_table"):
        table, key = recorder.events_table, "originator_id::text"
    else:
        return []
    statement = (
        f"SELECT {key}, COUNT(*), MIN(originator_version), MAX(originator_version) FROM {table}"
        " GROUP BY originator_id"
        " HAVING COUNT(*) <> MAX(originator_version) OR MIN(originator_version) <> 1"
        " ORDER BY MIN(originator_version), originator_id"
    )
    failing = _query(app, statement, statement, [])
    problems = []
    for stream, count, lowest, highest in failing[:GAPS_LISTED]:
        stream_id = UUID(bytes=_stream_bytes(stream))
        where = f"stream {stream_id} has {count} events with versions {lowest} to {highest}"
        if lowest < 1:
            what, version = f"version {lowest} was inserted by hand", lowest
        else:
            versions = f"SELECT originator_version FROM {table} WHERE originator_id = "
            rows = _query(app, versions + "?", versions + "%s::uuid", [stream])
            present = {row[0] for row in rows}
            version = next(v for v in range(1, highest + 1) if v not in present)
            what = (
                f"version {version} is missing: a stored event was deleted, or one was inserted"
                " by hand past it"
            )
        problems.append(
            Problem(
                "gap",
                f"{where}: {what} (appends number a stream's events 1, 2, 3, … without gaps)",
                stream_id=stream_id,
                version=version,
            )
        )
    if len(failing) > GAPS_LISTED:
        problems.append(
            Problem("gap", f"and {len(failing) - GAPS_LISTED} more streams with such gaps")
        )
    return problems


def _stored_checkpoints(app: TrajectoryLedger) -> tuple[list[Checkpoint], list[Problem]]:
    found: list[Checkpoint] = []
    problems: list[Problem] = []
    if not has_tables(app):
        return found, problems
    for size, text in stored_checkpoint_texts(app):
        try:
            found.append(parse_checkpoint(text))
        except CheckpointFormatError as error:
            problems.append(
                Problem(
                    "checkpoint",
                    f"the stored checkpoint of size {size} is malformed: {error}",
                    checkpoint_size=size,
                )
            )
    return found, problems


def verify(
    app: TrajectoryLedger,
    given_checkpoints: Iterable[Checkpoint] = (),
    public_key_pem: bytes | None = None,
    *,
    progress: Progress | None = None,
) -> VerificationReport:
    """Recompute every leaf and check it against the recorded leaves and every checkpoint.

    The checkpoints are those stored in the ledger and ``given_checkpoints`` (copies kept
    outside it); with ``public_key_pem`` their signatures are checked too. Every checkpoint
    must match the one tree recomputed from the rows, which also makes them consistent with
    one another. Reads only (one streaming pass over the events and the recorded leaves):
    a read-only database role can run it.
    """
    stored, problems = _stored_checkpoints(app)
    unique: dict[str, Checkpoint] = {}
    for item in [*stored, *given_checkpoints]:
        unique.setdefault(item.text, item)
    report, _ = _scan(
        app,
        list(unique.values()),
        public_key=public_key_pem,
        expected_origin=origin(app) if has_tables(app) else None,
        progress=progress,
    )
    unlinked = [] if report.ok else _inconsistent(recorded_leaves(app), list(unique.values()))
    gaps = stream_gaps(app)
    if problems or unlinked or gaps:
        report = dataclasses.replace(
            report, ok=False, problems=(*problems, *report.problems, *unlinked, *gaps)
        )
    return report


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
    default_origin: str,
    *,
    progress: Progress | None = None,
) -> Checkpoint:
    """Catch the leaves up, verify the log, then sign and store a checkpoint of all of it.

    The origin is ``default_origin`` at the first checkpoint and the stored one afterwards.
    Refuses (IntegrityError) when the log does not verify against the recorded leaves and the
    stored checkpoints: signing would vouch for a changed log.
    """
    catch_up(app)
    name = origin(app)
    if name is None:
        name = default_origin
        app.tables.set_setting(ORIGIN_SETTING, name)
    stored, problems = _stored_checkpoints(app)
    report, last_id = _scan(app, stored, public_key=None, expected_origin=name, progress=progress)
    problems += report.problems
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
