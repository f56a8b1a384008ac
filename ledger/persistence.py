"""The only serialisation code: the pydantic mapper, and the recorders with traject's side tables.

Stored state of an event (the ``state`` column) is canonical JSON (sorted keys, UTF-8):
the event's fields in pydantic's JSON mode, without ``originator_id``/``originator_version``
(they are columns), with ``class_version`` when above 1, and with every non-null personal field
moved into ``_pii``: base64 of ``nonce(12) ‖ AES-256-GCM(data key, canonical JSON of the personal
fields, aad = "<stream id>/<version>/<topic>")``.

Side tables live in the same database as the events and are written in the same transaction:
``traject_person_index`` (person id, keyed hash of the BSN), ``traject_idempotency`` and
``traject_external_refs`` (a source system's key for a person, written by ``traject import``)
and ``traject_stream_links`` (which streams name a household's referent or enrol in an AMIF
project: :func:`stream_links`).
``traject_data_keys`` and ``traject_settings`` are written on their own.

Erasure overwrites a data key's row with a tombstone and, in the same transaction, removes the
person's BSN hash from the index and their rows from ``traject_external_refs``; the old rows'
bytes can survive in the database's files (SQLite's write-ahead log, PostgreSQL's dead tuple
versions) until ``purge_erased_keys`` removes them. Until then the setting
``erasure_purge_pending`` is set.

``rotate_master_key`` moves the ledger to a new master key in one transaction: every data key
re-wrapped, every BSN index entry recomputed, the check value replaced; then the old bytes are
purged as after an erasure. A write that adds a data key or an index entry checks, after its
insert and in its transaction, that the ledger's master key is still the one it holds.
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any, NamedTuple
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    Mapper,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteFactory,
)
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import BaseModel, ValidationError

from ledger.crypto import NONCE_BYTES, SHREDDED, TAG_BYTES, HeldKeys, KeyRing
from ledger.errors import (
    DataKeyError,
    KeyRotationError,
    MalformedEventError,
    MasterKeyError,
    MasterKeyRotatedError,
)
from ledger.events import (
    EventCorrected,
    ParticipantEnrolled,
    PersonRegistered,
    TrajectEvent,
    project_stream_id,
)
from ledger.values import as_id

PII_KEY = "_pii"
CORRECTION_TOPIC = get_topic(EventCorrected)
"""The stored topic of a correction (a rotation reads those of registrations' BSNs)."""


class IdempotencyRow(NamedTuple):
    """An idempotency key and the fact it appended (side rows are named tuples: one per fact)."""

    key: str
    stream_id: UUID
    version: int


class ExternalRefRow(NamedTuple):
    """A source system's key for a person (e.g. a client number), mapped by ``traject import``."""

    source_key: str
    person_id: UUID


class DataKeyRow(NamedTuple):
    """A new stream's wrapped data key, stored with the stream's first events (bulk appends)."""

    subject: UUID
    wrapped: bytes


class Purge(NamedTuple):
    """What a purge of destroyed data keys from the database's files did."""

    done: bool  # no destroyed key's old bytes are left in the database's own files
    detail: str  # what was done; or what stands in the way, and what to run
    pending_since: str | None = None  # when the latest erasure awaiting a purge was recorded


class StreamGuard(NamedTuple):
    """A stream an append's rules read without appending to it, at the version they saw.

    The append commits only if, with the write lock held and its own events in, the stream
    is at that version (0: no events); otherwise it fails as a concurrent modification and is
    checked again. An erasure reads the AMIF projects' streams for their legal holds this
    way, so a hold placed on a project meanwhile is seen.
    """

    stream_id: UUID
    version: int


class TopicGuard(NamedTuple):
    """Events of some topics an append's rules read across streams, as stored when the
    notification log ended at ``after``.

    The append commits only if, with the write lock held and its own events in, no event of
    these topics but its own was stored after ``after``; otherwise it fails as a concurrent
    modification and is checked again. A correction of an AMIF project's eligibility window
    reads the project's enrolments on every person's stream this way, so an enrolment recorded
    (or corrected) meanwhile is seen.
    """

    topics: tuple[str, ...]
    after: int


Guard = StreamGuard | TopicGuard
"""What an append's rules read without appending to it (``guards=`` of an append)."""


class PersonIndexRow(NamedTuple):
    """A person's entry in the BSN index: a registration's (inserted, ``person_index=``), or
    the new BSN of a correction of it (updated in place, ``person_index_updates=``)."""

    person_id: UUID
    bsn_digest: str | None


class Rotation(NamedTuple):
    """What a rotation of the master key did."""

    data_keys: int  # data keys re-wrapped under the new master key
    destroyed: int  # destroyed data keys (erased persons): they stay destroyed
    bsn_entries: int  # BSN index entries recomputed under the new key
    unfindable: int  # erased persons' BSN entries removed (no key to recompute them from)
    purge: Purge  # of the old key bytes from the database's files


Progress = Callable[[int, int], None]
"""Called with (done, total) as a long operation advances."""


@cache
def _topic(cls: type) -> str:
    return get_topic(cls)


@cache
def _resolve(topic: str) -> type[TrajectEvent]:
    cls = resolve_topic(topic)
    assert issubclass(cls, TrajectEvent), topic
    return cls


@cache
def _personal_names(cls: type[TrajectEvent]) -> tuple[str, ...]:
    return tuple(sorted(cls.personal_fields()))


OMITTED_WHEN_NONE = ("imported_by",)
"""Envelope fields added after events were first stored: left out of the stored state when
absent, so an event without them is stored byte for byte as before (tests/data/events)."""


@cache
def _class_info(cls: type[TrajectEvent]) -> tuple[str, tuple[str, ...], int]:
    """What the mapper needs of an event class: its topic, personal fields (sorted) and class
    version."""
    return _topic(cls), _personal_names(cls), cls.class_version


def pii_aad(stream_id: UUID | str, version: int, topic: str) -> bytes:
    return f"{stream_id}/{version}/{topic}".encode()


class PydanticMapper(Mapper[UUID]):
    """Maps traject events to stored events and back, encrypting personal fields per stream."""

    keyring: KeyRing | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("transcoder", JSONTranscoder())
        super().__init__(*args, **kwargs)

    def _keys(self) -> KeyRing:
        if self.keyring is None:
            msg = "the mapper has no key ring"
            raise RuntimeError(msg)
        return self.keyring

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        event: TrajectEvent = domain_event
        topic, personal_names, class_version = _class_info(type(event))
        # The fields as the model holds them (validated values, every field: a frozen model's
        # own dict, copied); orjson writes dates, times, ids, enums and amounts exactly as
        # pydantic's JSON mode does (tested), and a nested model (evidence) through
        # ``_json_default``: a fifth of the cost of the serializer's conversion first.
        state = event.__dict__.copy()
        del state["originator_id"], state["originator_version"]  # columns, not in the state
        for name in OMITTED_WHEN_NONE:
            if state.get(name, True) is None:
                del state[name]
        if personal_names:
            personal = {}
            for name in personal_names:
                value = state.pop(name, None)
                if value is not None:
                    personal[name] = value
            if personal:
                keys = self._keys()
                data_key = keys.key_for_write(event.originator_id)
                blob = keys.encrypt(
                    data_key,
                    _canonical_json(personal),
                    pii_aad(event.originator_id, event.originator_version, topic),
                )
                state[PII_KEY] = base64.b64encode(blob).decode("ascii")
        if class_version > 1:
            state["class_version"] = class_version
        return StoredEvent(
            event.originator_id, event.originator_version, topic, _canonical_json(state)
        )

    def decode_state(self, stored: StoredEvent, *, personal: bool = True) -> dict[str, Any]:
        """The stored state as a dict, personal fields decrypted (left out when shredded, or
        when not ``personal``: then no data key is read).

        Raises:
            MalformedEventError: the stored bytes are not a JSON object (altered by hand).
        """
        if stored.state is None:
            raise _malformed(stored, "it has no stored bytes (state is NULL)")
        try:
            state: dict[str, Any] = orjson.loads(stored.state)
        except orjson.JSONDecodeError:
            raise _malformed(stored, "its stored bytes are not JSON") from None
        if state.__class__ is not dict:
            raise _malformed(stored, "its stored bytes are not a JSON object")
        blob = state.pop(PII_KEY, None)
        if blob is not None and personal:
            stream_id = (
                stored.originator_id
                if isinstance(stored.originator_id, UUID)
                else UUID(stored.originator_id)
            )
            data_key = self._keys().key_for_read(stream_id)
            if data_key is None and not self._keys().erased(stream_id):
                # traject makes the key before it seals a field, and an erasure leaves a
                # tombstone: sealed fields without a key row are not erased data
                what = (
                    f"the event of version {stored.originator_version} holds sealed personal "
                    "fields, but the stream has no data key (an erasure would have left its "
                    "tombstone)"
                )
                raise DataKeyError(stream_id, what)
            if data_key is not None:
                try:
                    plain = self._keys().decrypt(
                        data_key,
                        base64.b64decode(blob),
                        pii_aad(stored.originator_id, stored.originator_version, stored.topic),
                    )
                except (InvalidTag, ValueError, TypeError) as error:
                    if not isinstance(error, InvalidTag) and _sealed_form(blob):
                        raise  # bytes in the form traject writes: a bug
                    # not sealed with this stream's key for this event (or not sealed at all)
                    what = "its personal fields (_pii) do not decrypt with its stream's key"
                    raise _malformed(stored, what) from error
                state.update(orjson.loads(plain))
        return state

    def _readable(self, stream_id: UUID | str) -> bool:
        """Whether the personal fields of a stream may be read: its person is not erased (a
        mapper without a key ring knows of no erasure)."""
        return self.keyring is None or not self.keyring.erased(
            stream_id if isinstance(stream_id, UUID) else UUID(stream_id)
        )

    def to_domain_event(self, stored_event: StoredEvent, *, personal: bool = True) -> Any:
        """The event of ``stored_event``; without its personal fields unless ``personal`` (as
        an erased event reads: a read across many persons' streams needs none of their keys).

        Raises:
            MalformedEventError: the row is not in the form traject writes (altered by hand).
        """
        topic, version = stored_event.topic, stored_event.originator_version
        if topic.__class__ is not str:
            raise _malformed(stored_event, f"its topic is {topic!r}, not text")
        if version.__class__ is not int or version < 1:
            raise _malformed(stored_event, f"its version {version!r} is not a whole number from 1")
        cls = _resolve(topic)
        state = self.decode_state(stored_event, personal=personal)
        stored_version = from_version = state.pop("class_version", 1)
        try:
            in_clear = cls.stored_in_clear(from_version) & state.keys()
            if in_clear and not (personal and self._readable(stored_event.originator_id)):
                # made personal after this fact was stored: still in clear in its bytes, but
                # read as every personal field is once the person is erased (or without them)
                for name in in_clear:
                    del state[name]
            while from_version < cls.class_version:
                getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
                from_version += 1
        except (TypeError, AttributeError):
            if stored_version.__class__ is int and 1 <= stored_version <= cls.class_version:
                raise  # a class version traject writes: a bug
            raise _malformed(
                stored_event,
                f"its class_version {stored_version!r} is not a version of {cls.__name__} (1 to "
                f"{cls.class_version})",
            ) from None
        state["originator_id"] = stored_event.originator_id
        state["originator_version"] = stored_event.originator_version
        try:
            return cls.model_validate(state)
        except ValidationError as error:
            # traject stores only events that passed this model (and the contract tests keep
            # every stored class version loading): these bytes were written by something else
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"]) or cls.__name__
            raise _malformed(
                stored_event,
                f"its stored fields do not fit {cls.__name__} ({where}: {problem['msg']})",
            ) from None


def _sealed_form(blob: Any) -> bool:
    """Whether ``blob`` is in the form of the personal fields traject stores (base64 text of a
    nonce, the ciphertext and its tag), whatever it decrypts to."""
    try:
        raw = base64.b64decode(blob, validate=True)
    except (ValueError, TypeError):
        return False
    return len(raw) >= NONCE_BYTES + TAG_BYTES


def _malformed(stored: StoredEvent, what: str) -> MalformedEventError:
    stream_id = stored.originator_id
    return MalformedEventError(
        stream_id if isinstance(stream_id, UUID) else repr(stream_id),
        stored.originator_version,
        what,
    )


def _json_default(value: Any) -> Any:
    """What orjson does not write itself: an amount (``Decimal``), as pydantic writes it."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, BaseModel):  # a nested model: its fields, as the serializer gives them
        return value.__pydantic_serializer__.to_python(value)
    msg = f"{type(value).__name__} is not JSON serialisable"
    raise TypeError(msg)


def _canonical_json(fields: dict[str, Any]) -> bytes:
    """Canonical JSON of an event's fields as Python values: sorted keys, UTF-8, times in UTC
    as ``Z``: byte for byte what ``orjson`` makes of pydantic's JSON mode of the same fields."""
    return orjson.dumps(fields, default=_json_default, option=_JSON_OPTIONS)


_JSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z


class _UUIDTexts(dict[UUID, str]):
    """``str(stream_id)`` of each stream id asked for, made once."""

    def __missing__(self, stream_id: UUID) -> str:
        text = self[stream_id] = str(stream_id)
        return text


class _UUIDHexes(dict[UUID | str, str]):
    """The stored form (``_hex``) of each stream id asked for, made once."""

    def __missing__(self, stream_id: UUID | str) -> str:
        text = self[stream_id] = _hex(stream_id)
        return text


def _hex(stream_id: UUID | str) -> str:
    return stream_id.hex if isinstance(stream_id, UUID) else stream_id


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _pending(now: str, subject: str) -> str:
    """The value of the setting that marks an erasure as awaiting a purge of its old key
    bytes."""
    return f"{now} {subject}"


# The integrity log's tables (ledger.audit): signed checkpoint texts, and each event's leaf hash
# (hex) as first seen. Also created on first use, so ledgers made before them work.
AUDIT_TABLES = (
    "CREATE TABLE IF NOT EXISTS {p}traject_checkpoints ("
    " tree_size BIGINT PRIMARY KEY, text TEXT NOT NULL, created_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {p}traject_leaves ("
    " notification_id BIGINT PRIMARY KEY, leaf_hash TEXT NOT NULL)",
)

LOOKUP_TABLES = (
    "traject_idempotency",
    "traject_person_index",
    "traject_external_refs",
    "traject_data_keys",
)
"""The side tables an append looks up by key and a bulk import fills."""

SIDE_TABLES = (
    "CREATE TABLE IF NOT EXISTS {p}traject_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    *AUDIT_TABLES,
    "CREATE TABLE IF NOT EXISTS {p}traject_data_keys ("
    " subject TEXT PRIMARY KEY, wrapped {blob} NOT NULL,"
    " created_at TEXT NOT NULL, shredded_at TEXT)",
    "CREATE TABLE IF NOT EXISTS {p}traject_person_index ("
    " person_id TEXT PRIMARY KEY, bsn_digest TEXT UNIQUE, registered_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {p}traject_idempotency ("
    " key TEXT PRIMARY KEY, stream_id TEXT NOT NULL, version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {p}traject_external_refs ("
    " source_key TEXT PRIMARY KEY, person_id TEXT NOT NULL)",
)
EXTERNAL_REFS_TABLE = SIDE_TABLES[-1]  # added after the first release: see ensure_external_refs
STREAM_LINKS = "traject_stream_links"
STREAM_LINKS_TABLE = (
    "CREATE TABLE {p}traject_stream_links ("
    " target TEXT NOT NULL, stream_id TEXT NOT NULL, PRIMARY KEY (target, stream_id))"
)
"""Made and filled in one transaction (``ensure_stream_links``): while it is there, it holds
the links of every stored event."""
LINK_STATEMENT = "INSERT INTO {p}traject_stream_links VALUES (?, ?) ON CONFLICT DO NOTHING"
LINKED_TOPICS = (get_topic(PersonRegistered), get_topic(ParticipantEnrolled), CORRECTION_TOPIC)
"""The stored topics whose events can link a stream to a household or a project."""
SETTING_STATEMENT = (
    "INSERT INTO {p}traject_settings VALUES (?, ?)"
    " ON CONFLICT (name) DO UPDATE SET value = excluded.value"
)
MASTER_KEY_CHECK = "master_key_check"
"""The setting that holds the check value of the ledger's master key (``KeyRing.check_value``)."""
MASTER_KEY_ROTATED = "master_key_rotated_at"
"""The setting that holds when the master key was last rotated."""
DUPLICATE_BSN_MESSAGE = (
    "two persons have the same BSN in effect (a correction recorded before corrections were "
    "checked against the BSN index gave one of them the other's BSN): correct one of them "
    "(`traject correct PERSON 1 --set bsn=…`) and rotate again; nothing was changed"
)
ROTATION_PAGE = 1000
"""Rows of the key table or the person index re-keyed per step of a rotation (and stored
events read per step of filling ``traject_stream_links``)."""
PURGE_PENDING = "erasure_purge_pending"
"""The setting an erasure writes with its tombstone: ``<time> <stream id>`` of the latest erasure
whose old key bytes may still be in the database's files; emptied (:data:`NOTHING_PENDING`) by a
purge that saw it. The owner makes the row (``traject init``, ``traject admin roles``): staff
may change its value, never add a setting (``ledger.roles``)."""
NOTHING_PENDING = ""
"""The value of :data:`PURGE_PENDING` when no erasure awaits a purge."""
MARK_PURGE_STATEMENT = "UPDATE {p}traject_settings SET value = ? WHERE name = ?"
SETTING_QUERY = "SELECT value FROM {p}traject_settings WHERE name = ?"
# An upsert, not an UPDATE: a stream shredded before it ever had a key must get a tombstone too,
# or a later write would create a fresh, readable key.
SHRED_STATEMENT = (
    "INSERT INTO {p}traject_data_keys VALUES (?, ?, ?, ?) ON CONFLICT (subject)"
    " DO UPDATE SET wrapped = excluded.wrapped, shredded_at = excluded.shredded_at"
)
# A correction of a registration's BSN moves the person's entry: the old BSN no longer finds
# them and is free again; the UNIQUE column refuses a BSN another person holds, as an insert.
MOVE_BSN_STATEMENT = "UPDATE {p}traject_person_index SET bsn_digest = ? WHERE person_id = ?"
# An erased person is no longer found by BSN: the keyed hash goes with the key.
FORGET_BSN_STATEMENT = "UPDATE {p}traject_person_index SET bsn_digest = NULL WHERE person_id = ?"
FORGET_ERASED_BSNS = (
    "UPDATE {p}traject_person_index SET bsn_digest = NULL WHERE bsn_digest IS NOT NULL"
    " AND person_id IN (SELECT subject FROM {p}traject_data_keys WHERE shredded_at IS NOT NULL)"
)
"""The same for every erased person (erasures recorded before the hash went with the key)."""
# An erased person's external key (a source system's client number) goes with the key too.
FORGET_EXTERNAL_REFS_STATEMENT = "DELETE FROM {p}traject_external_refs WHERE person_id = ?"
FORGET_ERASED_EXTERNAL_REFS = (
    "DELETE FROM {p}traject_external_refs WHERE person_id IN"
    " (SELECT subject FROM {p}traject_data_keys WHERE shredded_at IS NOT NULL)"
)
"""The same for every erased person (erasures recorded before the external key went too)."""


def writes_keyed_rows(kwargs: dict[str, Any]) -> bool:
    """Whether an append writes a data key or a BSN index entry: rows made under the master
    key, refused if a rotation replaced it meanwhile (``_check_master_key``)."""
    return bool(
        kwargs.get("data_keys") or kwargs.get("person_index") or kwargs.get("person_index_updates")
    )


@contextmanager
def _duplicate_bsns_refused() -> Iterator[None]:
    """A rotation's UNIQUE BSN column refusing its new entries as a KeyRotationError: two
    persons have one BSN in effect, left by corrections made before the index followed them."""
    try:
        yield
    except (IntegrityError, sqlite3.IntegrityError):
        raise KeyRotationError(DUPLICATE_BSN_MESSAGE) from None


class TrajectTables:
    """traject's side tables, shared by the SQLite and PostgreSQL recorders."""

    placeholder = "?"
    prefix = ""
    in_chunk = 500  # values per query of _in_chunks (0: all in one)

    @contextmanager
    def _side(self, *, commit: bool) -> Iterator[Any]:
        raise NotImplementedError
        yield

    def _sql(self, statement: str) -> str:
        statement = statement.replace("{p}", self.prefix)
        return statement.replace("?", self.placeholder)

    def analyze(self) -> None:
        """Refresh the query planner's statistics of the ledger's tables (PostgreSQL only).

        SQLite plans these look-ups by their keys without statistics: nothing to do.
        """

    def _one(self, statement: str, params: Sequence[Any]) -> Any:
        with self._side(commit=False) as cursor:
            cursor.execute(self._sql(statement), list(params))
            return cursor.fetchone()

    def _all(self, statement: str, params: Sequence[Any]) -> list[Any]:
        with self._side(commit=False) as cursor:
            cursor.execute(self._sql(statement), list(params))
            return list(cursor.fetchall())

    def _write(self, statement: str, params: Sequence[Any]) -> None:
        with self._side(commit=True) as cursor:
            cursor.execute(self._sql(statement), list(params))

    def _side_rows(self, kwargs: dict[str, Any]) -> list[tuple[str, str, list[tuple[Any, ...]]]]:
        """An append's side rows as (table, statement, rows), in the order they are inserted."""
        now = _now()
        text = _UUIDTexts()  # a bulk append names each of its streams many times
        shredded = [(text[s], SHREDDED, now, now) for s in kwargs.get("shredded", ())]
        tables: list[tuple[str, list[tuple[Any, ...]]]] = [
            (
                "traject_data_keys",
                [(text[r.subject], r.wrapped, now, None) for r in kwargs.get("data_keys", ())],
            ),
            (
                "traject_idempotency",
                [(r.key, text[r.stream_id], r.version) for r in kwargs.get("idempotency", ())],
            ),
            (
                "traject_person_index",
                [(text[r.person_id], r.bsn_digest, now) for r in kwargs.get("person_index", ())],
            ),
            (
                "traject_external_refs",
                [(r.source_key, text[r.person_id]) for r in kwargs.get("external_refs", ())],
            ),
        ]
        # moves first, in the order they were made: a BSN a person gave up is free for the
        # registrations of the same append (a bulk append moves only persons it did not register)
        moved: list[tuple[Any, ...]] = [
            (r.bsn_digest, text[r.person_id]) for r in kwargs.get("person_index_updates", ())
        ]
        out: list[tuple[str, str, list[tuple[Any, ...]]]] = (
            [("traject_person_index", MOVE_BSN_STATEMENT, moved)] if moved else []
        )
        out += [
            (table, f"INSERT INTO {{p}}{table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
            for table, rows in tables
            if rows
        ]
        if shredded:
            subjects = [s[:1] for s in shredded]
            out.append(("traject_data_keys", SHRED_STATEMENT, shredded))
            out.append(("traject_person_index", FORGET_BSN_STATEMENT, subjects))
            if self.has_external_refs():
                out.append(("traject_external_refs", FORGET_EXTERNAL_REFS_STATEMENT, subjects))
        return out

    def _mark_erased(self, cursor: Any, kwargs: dict[str, Any]) -> None:
        """Mark the append's erasures, if any, as awaiting a purge (:meth:`_mark_purge`)."""
        if shredded := kwargs.get("shredded"):
            self._mark_purge(cursor, _pending(_now(), _hex(shredded[-1])))

    def _mark_purge(self, cursor: Any, value: str) -> None:
        """Set :data:`PURGE_PENDING` to ``value``: an ``UPDATE`` of the row the owner made
        (staff may add no setting); a ledger made before the owner made it gets it here."""
        if self._fetch_one(cursor, SETTING_QUERY, [PURGE_PENDING]) is not None:
            cursor.execute(self._sql(MARK_PURGE_STATEMENT), [value, PURGE_PENDING])
        else:
            cursor.execute(self._sql(SETTING_STATEMENT), [PURGE_PENDING, value])

    def _check_guards(
        self, cursor: Any, kwargs: dict[str, Any], stored_events: Sequence[StoredEvent]
    ) -> None:
        """Fail the append if what it read has moved on (``guards``: :class:`StreamGuard`,
        :class:`TopicGuard`).

        Called once the events table's write lock is held and the append's own events are in,
        so no other append can commit between this look-up and the append's own commit.
        """
        statement = self._sql(
            f"SELECT MAX(originator_version) AS version FROM {self._events_table()}"
            " WHERE originator_id = ?"
        )
        for guard in kwargs.get("guards", ()):
            if isinstance(guard, TopicGuard):
                self._check_topics(cursor, guard, stored_events)
                continue
            cursor.execute(statement, [self._stream_param(guard.stream_id)])
            version = cursor.fetchone()["version"] or 0
            if version != guard.version:
                msg = (
                    f"stream {guard.stream_id} is at version {version}, not {guard.version} as read"
                )
                raise IntegrityError(msg)

    def _check_topics(
        self, cursor: Any, guard: TopicGuard, stored_events: Sequence[StoredEvent]
    ) -> None:
        """Fail the append if an event of ``guard.topics`` other than its own was stored after
        ``guard.after``: the events after it of those topics are its own, or it fails."""
        marks = ", ".join("?" * len(guard.topics))
        cursor.execute(
            self._sql(
                f"SELECT COUNT(*) AS n FROM {self._events_table()}"
                f" WHERE {self._notification_column} > ? AND topic IN ({marks})"
            ),
            [guard.after, *guard.topics],
        )
        found = int(cursor.fetchone()["n"])
        own = sum(1 for e in stored_events if e.topic in guard.topics)
        if found != own:
            msg = f"{found - own} events of {', '.join(guard.topics)} were stored since it read"
            raise IntegrityError(msg)

    _notification_column = "notification_id"
    """The events table's column of notification ids."""

    # stream links --------------------------------------------------------------------------

    stream_links_seen = False
    """Whether ``traject_stream_links`` was seen to exist (it is never dropped once made)."""
    stream_links_refused = False
    """Whether this process was refused making it (then its checks scan)."""

    def _insert_links(self, cursor: Any, stored_events: Sequence[StoredEvent]) -> None:
        """Add the stream links of ``stored_events`` (:func:`stream_links`), in the append's
        transaction, once the events table's write lock is held: the table is made and filled
        under that lock too (:meth:`ensure_stream_links`), so an append either comes before it
        (and is filled in) or sees it here. A ledger without it gets none (the checks scan)."""
        rows = [row for stored in stored_events for row in stream_links(stored)]
        if not rows or not self._links_exist(cursor):
            return
        cursor.executemany(self._sql(LINK_STATEMENT), rows)

    def _links_exist(self, cursor: Any) -> bool:
        if not self.stream_links_seen:
            self.stream_links_seen = self._table_exists(cursor, STREAM_LINKS)
        return self.stream_links_seen

    def _table_exists(self, cursor: Any, name: str) -> bool:
        """Store-specific: whether the table ``name`` exists, as ``cursor``'s transaction sees."""
        raise NotImplementedError

    def has_stream_links(self) -> bool:
        """Whether ``traject_stream_links`` exists: then it holds every stored event's links."""
        if not self.stream_links_seen:
            with self._side(commit=False) as cursor:
                self._links_exist(cursor)
        return self.stream_links_seen

    def ensure_stream_links(self) -> bool:
        """Make ``traject_stream_links`` and fill it from the stored events, in one transaction
        that holds appends off (a ledger made by an earlier release has none). Interrupted, it
        leaves nothing; run again, or once it is there, it does nothing. True when the table
        is there; False when this user may not make it or appends held it up longer than the
        lock timeout (PostgreSQL: only the tables' owner creates tables, and `traject admin
        roles` makes it): the checks then scan the events table.
        """
        if self.stream_links_seen:
            return True
        if self.stream_links_refused:
            return False
        try:
            with self._appends_held() as cursor:
                if self._links_exist(cursor):
                    return True
                cursor.execute(self._sql(STREAM_LINKS_TABLE))
                found: set[tuple[str, str]] = set()
                for page in self._linked_pages(cursor):
                    found.update(row for e in page for row in stream_links(e))
                if found:
                    cursor.executemany(self._sql(LINK_STATEMENT), sorted(found))
        except (OperationalError, ProgrammingError) as error:
            if not self._links_refused(error):
                raise
            self.stream_links_refused = True  # not asked again by this process
            return False
        self.stream_links_seen = True
        return True

    def _linked_pages(self, cursor: Any) -> Iterator[list[StoredEvent]]:
        """The stored events of :data:`LINKED_TOPICS`, a page at a time in notification order
        (never all in memory); a row emptied by hand (state NULL) is left out, as it links
        nothing."""
        column = self._notification_column
        statement = self._sql(
            f"SELECT {column} AS position, originator_id, originator_version, topic, state"
            f" FROM {self._events_table()} WHERE {column} > ?"
            f" AND topic IN ({', '.join('?' * len(LINKED_TOPICS))})"
            f" ORDER BY {column} LIMIT ?"
        )
        last = 0
        while True:
            cursor.execute(statement, [last, *LINKED_TOPICS, ROTATION_PAGE])
            rows = list(cursor.fetchall())
            if not rows:
                return
            yield _stored_events(r for r in rows if r["state"] is not None)
            last = rows[-1]["position"]

    @contextmanager
    def _appends_held(self) -> Iterator[Any]:
        """Store-specific: a transaction that holds the events table's write lock."""
        raise NotImplementedError
        yield

    def _links_refused(self, error: BaseException) -> bool:
        """Whether ``error`` is this user not being allowed to make the table, or the lock
        not granted in time (the checks then scan)."""
        return False

    def select_linked_streams(self, target: UUID, topics: Sequence[str]) -> list[StoredEvent]:
        """The stored events of ``topics`` on the streams linked to ``target`` (a household's
        referent, or a project's stream id) in ``traject_stream_links``, each stream's in
        version order. The table must exist (:meth:`has_stream_links`)."""
        marks = ", ".join("?" * len(topics))
        with self._side(commit=False) as cursor:
            self._without_jit(cursor)
            cursor.execute(
                self._sql(
                    f"SELECT originator_id, originator_version, topic, state FROM"
                    f" {self._events_table()} WHERE originator_id IN"
                    f" (SELECT {self._stream_of('stream_id')} FROM {{p}}{STREAM_LINKS}"
                    f" WHERE target = ?) AND topic IN ({marks})"
                    " ORDER BY originator_id, originator_version"
                ),
                [str(target), *topics],
            )
            return _stored_events(cursor.fetchall())

    def _insert_side_rows(self, cursor: Any, kwargs: dict[str, Any]) -> None:
        for _table, statement, rows in self._side_rows(kwargs):
            if len(rows) == 1:
                cursor.execute(self._sql(statement), rows[0])
            else:
                cursor.executemany(self._sql(statement), rows)
        self._mark_erased(cursor, kwargs)
        if writes_keyed_rows(kwargs):
            self._check_master_key(cursor)

    key_check: str | None = None
    """The check value of the master key this process writes under (set by the ledger)."""

    def _check_master_key(self, cursor: Any) -> None:
        """Refuse a data key or a BSN index entry made under a master key the ledger no longer
        has: a rotation committed since this process opened the ledger.

        Run after the insert, in its transaction: a rotation holds the key table and the index
        locked until it commits, so the insert waits for it and this read then sees its new
        check value; a rotation that starts later waits for this transaction, and re-keys what
        it wrote.

        Raises:
            MasterKeyRotatedError: the transaction is rolled back.
        """
        if self.key_check is None:
            return
        cursor.execute(self._sql(SETTING_QUERY), [MASTER_KEY_CHECK])
        row = cursor.fetchone()
        if row is not None and row["value"] != self.key_check:
            raise MasterKeyRotatedError

    # settings ------------------------------------------------------------------------------

    def get_setting(self, name: str) -> str | None:
        row = self._one(SETTING_QUERY, [name])
        return None if row is None else str(row["value"])

    def set_setting(self, name: str, value: str) -> None:
        self._write(SETTING_STATEMENT, [name, value])

    def claim_setting(self, name: str, value: str) -> str:
        """Store ``value`` under ``name`` unless a value is stored there already, and return the
        value stored: ``value``, or the one that was there (of two claims at once, the one that
        commits first wins; the other waits for it and then reads its value)."""
        with self._side(commit=True) as cursor:
            cursor.execute(
                self._sql(
                    "INSERT INTO {p}traject_settings VALUES (?, ?) ON CONFLICT (name) DO NOTHING"
                ),
                [name, value],
            )
            row = self._fetch_one(cursor, SETTING_QUERY, [name])
            return str(row["value"])

    # data keys (the KeyStore protocol) -----------------------------------------------------

    def select_wrapped_key(self, subject: UUID) -> bytes | None:
        row = self._one(
            "SELECT wrapped FROM {p}traject_data_keys WHERE subject = ?", [str(subject)]
        )
        return None if row is None else bytes(row["wrapped"])

    def insert_wrapped_key(self, subject: UUID, wrapped: bytes) -> None:
        with self._side(commit=True) as cursor:
            cursor.execute(
                self._sql(
                    "INSERT INTO {p}traject_data_keys VALUES (?, ?, ?, NULL) ON CONFLICT DO NOTHING"
                ),
                [str(subject), wrapped, _now()],
            )
            self._check_master_key(cursor)

    def shred_wrapped_key(self, subject: UUID) -> None:
        """Overwrite the wrapped key with a tombstone, forget the subject's BSN hash and
        external keys; mark the old bytes as awaiting a purge."""
        now = _now()
        refs = self.has_external_refs()
        with self._side(commit=True) as cursor:
            cursor.execute(self._sql(SHRED_STATEMENT), [str(subject), SHREDDED, now, now])
            cursor.execute(self._sql(FORGET_BSN_STATEMENT), [str(subject)])
            if refs:
                cursor.execute(self._sql(FORGET_EXTERNAL_REFS_STATEMENT), [str(subject)])
            self._mark_purge(cursor, _pending(now, str(subject)))

    def purge_erased_keys(self) -> Purge:
        """Remove the old bytes of destroyed data keys from the database's own files.

        Never raises for what stands in the way (a reader, a user who does not own the table):
        the result says so, and the erasure stays marked as awaiting a purge. The mark is
        emptied only if no erasure was recorded since it was read (else it stays, to be safe).
        """
        pending = self.get_setting(PURGE_PENDING) or None
        since = None if pending is None else pending.split(" ")[0]
        self._write(FORGET_ERASED_BSNS, [])
        if self.has_external_refs():
            self._write(FORGET_ERASED_EXTERNAL_REFS, [])
        problem = self._purge_files()
        if problem is not None:
            return Purge(done=False, detail=problem, pending_since=since)
        if pending is not None:
            self._write(
                "UPDATE {p}traject_settings SET value = ? WHERE name = ? AND value = ?",
                [NOTHING_PENDING, PURGE_PENDING, pending],
            )
        return Purge(done=True, detail=self.purged_detail, pending_since=since)

    purged_detail = ""
    """What a successful purge did, in a sentence."""

    def _purge_files(self) -> str | None:
        """Store-specific: remove the old bytes; None when done, else what stands in the way."""
        raise NotImplementedError

    # master key rotation ------------------------------------------------------------------

    def rotate_master_key(
        self, old: KeyRing, new_key: bytes, progress: Progress | None = None
    ) -> Rotation:
        """Move the ledger from ``old``'s master key to ``new_key``, in one transaction; then
        purge the old key bytes from the database's files.

        Every data key is unwrapped with the old master key and wrapped with the new one (a
        destroyed key stays destroyed). Every BSN index entry is recomputed under the new BSN
        key from the BSN in the person's registration as last corrected, decrypted with the
        person's data key;
        the entry of an erased person is removed, since nothing is left to recompute it from.
        The check value of the master key is replaced. Writers of keys and index entries wait
        meanwhile; the events are not touched.

        Raises:
            MasterKeyError: ``old`` is not the ledger's master key (any more).
            KeyRotationError: an index entry does not match its registration, two persons have
                one BSN in effect, the tables could not be locked, or (PostgreSQL) the user does
                not own them. Nothing changed.
        """
        new = KeyRing(new_key, self)
        with _duplicate_bsns_refused(), self._rotation() as cursor:
            cursor.execute(
                self._sql(SETTING_QUERY + self.for_update),
                [MASTER_KEY_CHECK],
            )
            row = cursor.fetchone()
            if row is None:
                msg = "the master key does not match this ledger: nothing was changed"
                raise MasterKeyError(msg)
            if row["value"] != old.check_value:
                # ``old`` opened the ledger: another rotation committed while this one waited
                raise MasterKeyRotatedError
            total = sum(
                int(self._fetch_one(cursor, f"SELECT COUNT(*) AS n FROM {{p}}{table}", [])["n"])
                for table in ("traject_data_keys", "traject_person_index")
            )
            done = 0

            def advance(rows: int) -> None:
                nonlocal done
                done += rows
                if progress is not None:
                    progress(done, total)

            keys, destroyed = self._rewrap_keys(cursor, old, new, advance)
            entries, unfindable = self._rekey_index(cursor, old, new_key, advance)
            purged = self._finish_rotation(cursor)
            now = _now()
            cursor.execute(self._sql(SETTING_STATEMENT), [MASTER_KEY_CHECK, new.check_value])
            cursor.execute(self._sql(SETTING_STATEMENT), [MASTER_KEY_ROTATED, now])
            done_or_pending = NOTHING_PENDING if purged else _pending(now, "master key")
            cursor.execute(self._sql(SETTING_STATEMENT), [PURGE_PENDING, done_or_pending])
        purge = Purge(True, self.rotation_purged_detail) if purged else self.purge_erased_keys()
        return Rotation(keys, destroyed, entries, unfindable, purge)

    for_update = ""
    """What makes a read lock the row it reads until the transaction ends (PostgreSQL)."""

    rotation_purged_detail = ""
    """What a rotation that rewrote the tables in its transaction did to the old bytes."""

    def _fetch_one(self, cursor: Any, statement: str, params: Sequence[Any]) -> Any:
        cursor.execute(self._sql(statement), list(params))
        return cursor.fetchone()

    def _pages(self, cursor: Any, statement: str, key: str) -> Iterator[list[Any]]:
        """The rows of ``statement`` (``… WHERE <key> > ? … ORDER BY <key> LIMIT ?``), a page at
        a time, on ``cursor``: a table of any size is never all in memory."""
        last = ""
        while True:
            cursor.execute(self._sql(statement), [last, ROTATION_PAGE])
            rows = list(cursor.fetchall())
            if not rows:
                return
            yield rows
            last = rows[-1][key]

    def _rewrap_keys(
        self, cursor: Any, old: KeyRing, new: KeyRing, advance: Callable[[int], None]
    ) -> tuple[int, int]:
        """Re-wrap every data key under ``new``; (keys re-wrapped, destroyed keys)."""
        keys = destroyed = 0
        for rows in self._pages(
            cursor,
            "SELECT subject, wrapped FROM {p}traject_data_keys WHERE subject > ?"
            " ORDER BY subject LIMIT ?",
            "subject",
        ):
            rewrapped = []
            for row in rows:
                wrapped = bytes(row["wrapped"])
                if wrapped == SHREDDED:
                    destroyed += 1
                else:
                    keys += 1
                subject = row["subject"]
                rewrapped.append((subject, old.rewrap(UUID(subject), wrapped, new)))
            self._store_rewrapped(cursor, rewrapped)
            advance(len(rows))
        return keys, destroyed

    def _rekey_index(
        self, cursor: Any, old: KeyRing, new_key: bytes, advance: Callable[[int], None]
    ) -> tuple[int, int]:
        """Recompute every BSN index entry under ``new_key``'s BSN key; (entries recomputed,
        entries of erased persons removed).

        The BSN is the one in effect: the registration's, as last corrected (``_corrected_bsns``),
        decrypted with the data key as re-wrapped (read back from this transaction), so each new
        wrapping is opened once before commit. An entry must hold that BSN, or the
        registration's own: a ledger whose BSN corrections were made before the index followed
        them has the latter, and the rotation moves it to the BSN in effect.
        """
        mapper = PydanticMapper()
        new_bsn_key = KeyRing(new_key, HeldKeys({}))
        entries = unfindable = 0
        for rows in self._pages(
            cursor,
            "SELECT i.person_id, i.bsn_digest, e.topic, e.state, k.wrapped"
            " FROM {p}traject_person_index i"
            f" LEFT JOIN {self._events_table()} e"
            f" ON e.originator_id = {self._stream_of('i.person_id')} AND e.originator_version = 1"
            f" LEFT JOIN {self._rewrapped_table} k ON k.subject = i.person_id"
            " WHERE i.person_id > ? ORDER BY i.person_id LIMIT ?",
            "person_id",
        ):
            held = {
                UUID(r["person_id"]): bytes(r["wrapped"]) for r in rows if r["wrapped"] is not None
            }
            mapper.keyring = KeyRing(new_key, HeldKeys(held))
            indexed = [UUID(r["person_id"]) for r in rows if r["bsn_digest"] is not None]
            corrected = self._corrected_bsns(cursor, mapper, indexed)
            rekeyed: list[tuple[str, str | None]] = []
            for row in rows:
                person, digest = row["person_id"], row["bsn_digest"]
                if digest is None:
                    continue  # no BSN: nothing to recompute
                registered = None
                if row["state"] is not None:
                    stored = StoredEvent(UUID(person), 1, row["topic"], bytes(row["state"]))
                    registered = mapper.decode_state(stored).get("bsn")
                person_id = UUID(person)
                bsn = corrected.get(person_id, registered)
                if bsn is None and registered is None and held.get(person_id) == SHREDDED:
                    unfindable += 1  # erased: nothing to recompute the entry from
                    rekeyed.append((person, None))
                    continue
                if digest not in {old.bsn_digest(b) for b in (bsn, registered) if b}:
                    msg = (
                        f"the BSN index entry of {person} does not match the BSN of its "
                        "registration (as corrected): nothing was changed"
                    )
                    raise KeyRotationError(msg)
                entries += 1
                rekeyed.append((person, new_bsn_key.bsn_digest(bsn) if bsn else None))
            self._store_rekeyed(cursor, rekeyed)
            advance(len(rows))
        return entries, unfindable

    def _corrected_bsns(
        self, cursor: Any, mapper: PydanticMapper, persons: Sequence[UUID]
    ) -> dict[UUID, str | None]:
        """The BSN each of ``persons`` has by its latest correction of the registration (None:
        cleared), for those with one; read on ``cursor``, decrypted by ``mapper``'s keys."""
        if not persons:
            return {}
        marks = ", ".join("?" * len(persons))
        cursor.execute(
            self._sql(
                "SELECT originator_id, originator_version, topic, state"
                f" FROM {self._events_table()} WHERE originator_id IN ({marks}) AND topic = ?"
                " ORDER BY originator_id, originator_version"
            ),
            [*(self._stream_param(p) for p in persons), CORRECTION_TOPIC],
        )
        found: dict[UUID, str | None] = {}
        for stored in _stored_events(cursor.fetchall()):
            state = mapper.decode_state(stored)
            changes = state.get("personal_changes") or {}
            if state.get("target_version") == 1 and "bsn" in changes:
                found[UUID(str(stored.originator_id))] = changes["bsn"]
        return found

    @contextmanager
    def _rotation(self) -> Iterator[Any]:
        """Store-specific: a transaction that keeps writers of keys and index entries out."""
        raise NotImplementedError
        yield

    _rewrapped_table = "{p}traject_data_keys"
    """Where ``_store_rewrapped`` puts the re-wrapped keys, as the transaction reads them."""

    def _stream_of(self, person_id: str) -> str:
        """SQL for the events table's stream id of a person id column."""
        raise NotImplementedError

    def _store_rewrapped(self, cursor: Any, rows: list[tuple[str, bytes]]) -> None:
        raise NotImplementedError

    def _store_rekeyed(self, cursor: Any, rows: list[tuple[str, str | None]]) -> None:
        raise NotImplementedError

    def _finish_rotation(self, cursor: Any) -> bool:
        """Store-specific: after re-keying; True when the old bytes left the files with it."""
        raise NotImplementedError

    # indexes -------------------------------------------------------------------------------

    def person_by_bsn_digest(self, digest: str) -> UUID | None:
        row = self._one(
            "SELECT person_id FROM {p}traject_person_index WHERE bsn_digest = ?", [digest]
        )
        return None if row is None else UUID(row["person_id"])

    def person_ids_starting_with(self, prefix: str, limit: int = 5) -> list[UUID]:
        rows = self._all(
            "SELECT person_id FROM {p}traject_person_index WHERE person_id LIKE ?"
            " ORDER BY person_id LIMIT ?",
            [prefix + "%", limit],
        )
        return [UUID(row["person_id"]) for row in rows]

    def person_count(self) -> int:
        row = self._one("SELECT COUNT(*) AS n FROM {p}traject_person_index", [])
        return int(row["n"])

    external_refs_seen = False
    """Whether the external-key table was seen to exist (it is never dropped once made)."""

    def has_external_refs(self) -> bool:
        """Whether the external-key table exists (ledgers made before it have none).

        Once seen, answered without a query: an erasure asks while its transaction is open
        (``_side_rows``), and its caller has asked before (``TrajectoryLedger.shred``, the bulk
        writer), so that no second connection is needed then.
        """
        if self.external_refs_seen:
            return True
        try:
            self._one("SELECT 1 FROM {p}traject_external_refs LIMIT 1", [])
        except (OperationalError, ProgrammingError):
            return False
        self.external_refs_seen = True
        return True

    def ensure_external_refs(self) -> None:
        """Add the external-key table to a ledger initialised before it existed."""
        if not self.has_external_refs():
            self._write(EXTERNAL_REFS_TABLE, [])

    def person_by_external_ref(self, source_key: str) -> UUID | None:
        row = self._one(
            "SELECT person_id FROM {p}traject_external_refs WHERE source_key = ?", [source_key]
        )
        return None if row is None else UUID(row["person_id"])

    def _in_chunks(self, statement: str, values: Sequence[Any]) -> Iterator[Any]:
        """Rows of ``statement`` (with one ``IN ({in})``) for ``values``, a chunk at a time."""
        size = self.in_chunk or len(values) or 1
        for start in range(0, len(values), size):
            yield from self._in_values(statement, values[start : start + size])

    def _in_values(self, statement: str, values: Sequence[Any]) -> list[Any]:
        """Rows of ``statement`` for ``values``: its ``IN ({in})`` holds one mark per value."""
        if not values:
            return []
        marks = ", ".join("?" * len(values))
        return self._all(statement.replace("{in}", marks), list(values))

    def idempotency_many(self, keys: Iterable[str]) -> dict[str, tuple[UUID, int]]:
        """The (stream, version) of each of ``keys`` already recorded."""
        rows = self._in_chunks(
            "SELECT key, stream_id, version FROM {p}traject_idempotency WHERE key IN ({in})",
            sorted(keys),
        )
        return {r["key"]: (UUID(r["stream_id"]), int(r["version"])) for r in rows}

    def persons_by_external_refs(self, keys: Iterable[str]) -> dict[str, UUID]:
        """The person of each of ``keys`` that is registered."""
        rows = self._in_chunks(
            "SELECT source_key, person_id FROM {p}traject_external_refs WHERE source_key IN ({in})",
            sorted(keys),
        )
        return {r["source_key"]: UUID(r["person_id"]) for r in rows}

    def bsn_digests_present(self, digests: Iterable[str]) -> set[str]:
        """Those of ``digests`` (keyed BSN hashes) that a registered person has."""
        rows = self._in_chunks(
            "SELECT bsn_digest FROM {p}traject_person_index WHERE bsn_digest IN ({in})",
            sorted(digests),
        )
        return {r["bsn_digest"] for r in rows}

    def subjects_with_keys(self, subjects: Iterable[UUID]) -> set[UUID]:
        """Those of ``subjects`` that have a row in the data key table (a key or a tombstone)."""
        rows = self._in_chunks(
            "SELECT subject FROM {p}traject_data_keys WHERE subject IN ({in})",
            sorted(str(s) for s in subjects),
        )
        return {UUID(r["subject"]) for r in rows}

    def external_refs_of(self, person_ids: Iterable[UUID]) -> dict[UUID, str]:
        """The external key of each of ``person_ids`` that has one."""
        if not self.has_external_refs():
            return {}
        rows = self._in_chunks(
            "SELECT source_key, person_id FROM {p}traject_external_refs WHERE person_id IN ({in})",
            sorted(str(p) for p in person_ids),
        )
        return {UUID(r["person_id"]): r["source_key"] for r in rows}

    def select_streams(self, stream_ids: Sequence[UUID]) -> list[StoredEvent]:
        """The stored events of several streams, each stream's in version order."""
        rows = self._in_chunks(
            "SELECT originator_id, originator_version, topic, state FROM "
            + self._events_table()
            + " WHERE originator_id IN ({in}) ORDER BY originator_id, originator_version",
            [self._stream_param(s) for s in stream_ids],
        )
        return _stored_events(rows)

    def select_streams_with_topic(self, topic: str, also: Sequence[str]) -> list[StoredEvent]:
        """The stored events of ``topic``, with those of the topics ``also`` on the streams that
        have one, each stream's in version order: a scan of the events table (no index holds
        topics)."""
        marks = ", ".join("?" * (1 + len(also)))
        events = self._events_table()
        with self._side(commit=False) as cursor:
            self._without_jit(cursor)
            cursor.execute(
                self._sql(
                    f"SELECT originator_id, originator_version, topic, state FROM {events}"
                    f" WHERE topic IN ({marks}) AND originator_id IN"
                    f" (SELECT originator_id FROM {events} WHERE topic = ?)"
                    " ORDER BY originator_id, originator_version"
                ),
                [topic, *also, topic],
            )
            rows = cursor.fetchall()
        return _stored_events(rows)

    def _without_jit(self, cursor: Any) -> None:
        """PostgreSQL: no JIT compilation for the rest of the transaction (a scan of a large
        events table is planned above its cost threshold, and compiling took longer than the
        time it saved)."""

    def _events_table(self) -> str:
        raise NotImplementedError

    def _stream_param(self, stream_id: UUID) -> Any:
        return stream_id.hex

    def idempotent_append(self, key: str) -> tuple[UUID, int] | None:
        row = self._one(
            "SELECT stream_id, version FROM {p}traject_idempotency WHERE key = ?", [key]
        )
        return None if row is None else (UUID(row["stream_id"]), int(row["version"]))


def stream_links(stored: StoredEvent) -> list[tuple[str, str]]:
    """The (target, stream id) rows of ``traject_stream_links`` that a stored event adds: a
    registration's ``household_id`` (its referent's person id) and an enrolment's project
    (the project's stream id), and the same fields among a correction's ``changes``. Neither
    is a personal field: the ids are in clear in the event's stored bytes too.

    A superset of the links in effect: a stream named once stays linked, and the checks that
    read the linked streams (``household_members``, ``effective_enrolments``) apply every
    correction and retraction. Bytes that are not a JSON object (altered by hand) add none;
    the check that reads the stream names them.
    """
    if stored.topic not in LINKED_TOPICS:
        return []
    try:
        state = orjson.loads(stored.state)
    except (orjson.JSONDecodeError, TypeError):
        return []
    if state.__class__ is not dict:
        return []
    fields = state.get("changes") if stored.topic == CORRECTION_TOPIC else state
    if fields.__class__ is not dict:
        return []
    household = as_id(fields.get("household_id"))  # not an id: the model refuses it
    targets = [] if household is None else [household]
    project = fields.get("project_id")
    if isinstance(project, str):
        targets.append(project_stream_id(project))
    stream_id = stored.originator_id
    stream = str(stream_id if isinstance(stream_id, UUID) else UUID(stream_id))
    return [(str(target), stream) for target in targets]


def names_uuid(state: bytes, wanted: UUID) -> bool:
    """Whether a stored event's bytes may name ``wanted``: its 32 hex digits appear once
    hyphens are taken out and capitals lowered, as in every way a UUID is written (hyphenated,
    plain hex, in braces or as a URN, in either case). A false match (the digits inside
    ciphertext) only costs a decode; a fact that names the id always matches."""
    return wanted.hex.encode() in state.replace(b"-", b"").lower()


def _stored_events(rows: Iterable[Any]) -> list[StoredEvent]:
    """Rows of the events table (stream id, version, topic, state) as stored events."""
    return [
        StoredEvent(
            originator_id=UUID(str(r["originator_id"])),
            originator_version=int(r["originator_version"]),
            topic=r["topic"],
            state=bytes(r["state"]),
        )
        for r in rows
    ]


class SecureDeletePool(SQLiteConnectionPool):
    """The library's pool; every connection overwrites what it deletes with zeros.

    ``secure_delete`` is a per-connection setting whose default depends on how SQLite was
    built (Debian's turns it on, others do not): without it a destroyed data key's old bytes
    can stay in a page's free space.
    """

    def _create_connection(self) -> SQLiteConnection:
        try:
            connection = super()._create_connection()
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA secure_delete = ON")
        except sqlite3.DatabaseError as error:
            # the library's own set-up (its journal mode) is not wrapped: a full disk, on
            # which the write-ahead log's shared-memory file cannot be made, a file that is
            # not a database, or a damaged one fail here
            raise OperationalError(error) from error
        return connection


class TrajectSQLiteFactory(SQLiteFactory):
    """The library's SQLite factory, with connections from a :class:`SecureDeletePool`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        pool = self.datastore.pool  # made by the library's datastore; no connection yet
        self.datastore.pool = SecureDeletePool(
            db_name=pool.db_name,
            lock_timeout=pool.lock_timeout,
            pool_size=pool.pool_size,
            max_overflow=pool.max_overflow,
            pool_timeout=pool.pool_timeout,
            max_age=pool.max_age,
            pre_ping=pool.pre_ping,
        )


class TrajectSQLiteRecorder(TrajectTables, SQLiteApplicationRecorder):
    """The library's SQLite recorder plus traject's side tables and an append-only guard."""

    purged_detail = (
        "the write-ahead log was checkpointed and emptied, and deleted content is overwritten "
        "with zeros: no destroyed or replaced key is left in the database's files"
    )

    def _purge_files(self) -> str | None:
        """Checkpoint the write-ahead log and truncate it to nothing.

        A connection still reading an older snapshot holds the checkpoint back; SQLite waits
        for it as long as for a lock (``SQLITE_LOCK_TIMEOUT``), then gives up.
        """
        with (
            self.datastore.get_connection(commit=True) as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            busy = cursor.fetchone()[0]
        if not busy:
            return None
        return (
            "the old bytes of destroyed data keys, or of keys wrapped under a replaced master key, "
            "may remain in the write-ahead log "
            f"({self.datastore.pool.db_name}-wal): another connection kept reading the ledger. "
            "Run `traject admin purge-erased` when no other traject command is using it"
        )

    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        statements += [s.format(p="", blob="BLOB") for s in SIDE_TABLES]
        for operation in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS traject_events_no_{operation.lower()} "
                f"BEFORE {operation} ON {self.events_table_name} BEGIN "
                f"SELECT RAISE(ABORT, 'traject: {operation} of stored events is refused: "
                "the event log is append-only'); END"
            )
        return statements

    @contextmanager
    def _side(self, *, commit: bool) -> Iterator[Any]:
        with self.datastore.transaction(commit=commit) as cursor:
            yield cursor

    @contextmanager
    def _rotation(self) -> Iterator[Any]:
        """A write transaction begun at once (``BEGIN IMMEDIATE``): other writers wait for it
        as for any lock (``SQLITE_LOCK_TIMEOUT``), readers go on reading the old keys."""
        try:
            with self.datastore.get_connection(commit=True) as connection:
                cursor = connection.cursor()
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    yield cursor
                except BaseException:
                    connection.rollback()
                    raise
                connection.commit()
        except sqlite3.OperationalError as error:
            raise OperationalError(error) from error

    def _stream_of(self, person_id: str) -> str:
        return f"replace({person_id}, '-', '')"  # stream ids are stored as 32 hex digits

    def _store_rewrapped(self, cursor: Any, rows: list[tuple[str, bytes]]) -> None:
        # in place: a wrapped key keeps its size, and secure_delete zeroes what is freed
        cursor.executemany(
            "UPDATE traject_data_keys SET wrapped = ? WHERE subject = ?",
            [(wrapped, subject) for subject, wrapped in rows if wrapped != SHREDDED],
        )

    def _store_rekeyed(self, cursor: Any, rows: list[tuple[str, str | None]]) -> None:
        cursor.executemany(
            "UPDATE traject_person_index SET bsn_digest = ? WHERE person_id = ?",
            [(digest, person) for person, digest in rows],
        )

    def _finish_rotation(self, cursor: Any) -> bool:
        return False  # the write-ahead log still holds the old pages: purged after commit

    _notification_column = "rowid"  # the library's SQLite notification ids

    def create_table(self) -> None:
        super().create_table()
        self.ensure_stream_links()

    def _table_exists(self, cursor: Any, name: str) -> bool:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name])
        return cursor.fetchone() is not None

    @contextmanager
    def _appends_held(self) -> Iterator[Any]:
        with self._rotation() as cursor:  # BEGIN IMMEDIATE: the write lock, at once
            yield cursor

    def _events_table(self) -> str:
        return str(self.events_table_name)

    def _insert_events(
        self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if kwargs.get("bulk"):
            # a bulk append (ledger.batch) needs no notification ids back: one executemany
            hexes = _UUIDHexes()  # a batch holds several events of each stream
            c.executemany(
                self.insert_events_statement,
                [
                    (hexes[e.originator_id], e.originator_version, e.topic, e.state)
                    for e in stored_events
                ],
            )
            notification_ids = None
        else:
            notification_ids = super()._insert_events(c, stored_events, **kwargs)
        self._insert_side_rows(c, kwargs)
        # the first insert took the database's write lock
        self._insert_links(c, stored_events)
        self._check_guards(c, kwargs, stored_events)
        return notification_ids


def __getattr__(name: str) -> Any:
    # The PostgreSQL recorder lives in ledger.postgres: importing psycopg costs a CLI run on
    # SQLite a fifth of a second. Kept importable from here for existing callers.
    if name == "TrajectPostgresRecorder":
        from ledger.postgres import TrajectPostgresRecorder  # noqa: PLC0415 - lazy on purpose

        return TrajectPostgresRecorder
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
