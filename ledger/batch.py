"""Bulk appends: many facts on many streams, checked one by one, saved in one transaction.

``BatchWriter.write(writes)`` takes a batch of :class:`Write` items (an import's lines) and
returns one outcome per item: a :class:`~ledger.application.Recorded` (``duplicate`` when its
idempotency key was already present) or the :class:`~ledger.errors.TrajectError` that refused it.
Each item goes through the same steps as ``TrajectoryLedger.record``: the stream is loaded (once
per batch, all touched streams in one query), the event is built and validated by its model, the
aggregate checks its rules against the stream *as this batch has left it* (so a batch can
register a person and record her facts), then the event is kept in memory. A refused item changes
nothing. At the end the accepted events of every stream, with their side rows (idempotency keys,
person index, external keys, the new streams' wrapped data keys), are saved in ONE transaction.

A concurrent writer that appended to one of the batch's streams makes that transaction fail on
the (stream, version) key; the batch is then checked again against the fresh streams and saved
again, so rules hold and nothing is doubled. The rules of a fact that read other streams (a
household's referent and members, an enrolment's project, an erasure's projects) read them as
cached too: a stream another writer changed since makes an accepted fact's save fail on its read
guard, and a refused fact is checked once more against the store before it is refused (a stream
that moved is loaded again; if an earlier fact of the batch had read the old copy, the whole batch
is checked again), so no fact is refused on what a writer held before. A dry writer
(``dry_run=True``) checks everything the same way and keeps its state across batches, but saves
nothing; on a ledger made by an earlier release it reads the households and enrolments by a scan
of the events table rather than make ``traject_stream_links``: it writes nothing at all.

On PostgreSQL a writer refreshes the planner's statistics of the events and look-up tables
(``ANALYZE``) after its first :data:`FIRST_ANALYZE` events and whenever the events it saved have
doubled since: a server whose autovacuum is off (or behind) would otherwise go on planning the
look-ups of each batch for the empty tables it last analysed.

Memory is bounded by the number of *events* held, not by the size of the input. Between batches
a real writer keeps the streams it touched in a least-recently-used cache of at most
``cache_events`` events (:data:`CACHE_EVENTS` by default); after each saved batch the least
recently used streams are evicted (with their data keys in the key ring) until the cache fits.
An evicted stream seen again is loaded from the store, so it can never be stale. The
idempotency keys and external keys the writer learnt are dropped after each save: the next
batch looks its own up in one query each (``_prefetch``). During a batch the cache can exceed
its bound by the streams that batch touches (at most ``batch size`` of them). A dry writer
saves nothing, so it cannot evict: its memory grows with the file it checks.
"""

from __future__ import annotations

import functools
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, NamedTuple, cast
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError

from ledger import events as ev
from ledger.aggregates import AGGREGATE_CLASSES, StreamAggregate, Trajectory, project_stream
from ledger.application import (
    ACROSS_STREAMS,
    NO_STREAM,
    BsnMove,
    ReadChanges,
    Recorded,
    TrajectoryLedger,
    as_it_stood,
    check_recorded_at,
    default_actor,
)
from ledger.crypto import SHREDDED
from ledger.enrolments import check_across_streams, enrolments_of, in_date_order
from ledger.errors import (
    ConcurrentModificationError,
    DuplicateExternalRefError,
    DuplicatePersonError,
    Enrolment,
    ErasedError,
    RetentionHoldError,
    RuleViolationError,
    TrajectError,
)
from ledger.households import check_household, check_referent_change
from ledger.idempotency import correction_target
from ledger.persistence import (
    DataKeyRow,
    ExternalRefRow,
    Guard,
    IdempotencyRow,
    PersonIndexRow,
    Purge,
    StreamGuard,
)

MAX_ATTEMPTS = 8
RETRY_BACKOFF_SECONDS = 0.01
CACHE_EVENTS = 50_000  # events of cached streams kept between batches of a real run
FIRST_ANALYZE = 20_000
"""Events a writer saves before it first refreshes the planner's statistics (PostgreSQL); it
does so again each time the events it saved have doubled since (``TrajectTables.analyze``)."""


class _StaleStreamError(Exception):
    """A stream as this writer holds it lacks a fact another writer has stored since: the
    batch is checked again, as after a save that another writer's append made fail."""


class Write(NamedTuple):
    """One fact for a batch (a named tuple: immutable and cheap to make, one per line).

    ``subject`` names the stream: for person facts a person id (UUID) or a source system's
    external key (str); for municipality and project facts the CBS code or project code. On a
    PersonRegistered it is the external key to register (optional) and ``person_id`` the id
    (default: a new one). Corrections and retractions give ``target`` (a version number or an
    earlier fact's idempotency key), ``reason`` and, for corrections, ``changes``; ``stream``
    then says which kind of stream ``subject`` names.

    ``fields`` without ``recorded_by`` are recorded by the writer's user; with it (a recorder
    kept from another ledger) the writer's user is recorded as ``imported_by`` beside it.
    """

    kind: type[ev.TrajectEvent]
    fields: Mapping[str, Any]
    subject: UUID | str | None = None
    person_id: UUID | None = None
    recorded_at: datetime | None = None
    target: int | str | None = None
    changes: Mapping[str, Any] | None = None
    reason: str | None = None
    stream: ev.StreamKind = ev.StreamKind.PERSON


@dataclass
class _Pending:
    """What a batch holds between its checks and its save."""

    events: list[ev.TrajectEvent] = field(default_factory=list)
    idempotency: list[IdempotencyRow] = field(default_factory=list)
    person_index: list[PersonIndexRow] = field(default_factory=list)
    person_index_updates: list[PersonIndexRow] = field(default_factory=list)  # BSN corrections
    external_refs: list[ExternalRefRow] = field(default_factory=list)
    data_keys: list[DataKeyRow] = field(default_factory=list)
    shredded: list[UUID] = field(default_factory=list)
    reads: set[UUID] = field(default_factory=set)  # other streams the checks read (guarded)
    touched: set[UUID] = field(default_factory=set)  # the streams of ``events``
    topic_guards: list[Guard] = field(default_factory=list)  # enrolments a window's check read

    def hold(self, event: ev.TrajectEvent) -> None:
        """Keep an accepted event for the save."""
        self.events.append(event)
        self.touched.add(event.originator_id)


def _size(aggregate: StreamAggregate | None) -> int:
    """The events a cached stream counts for (a stream not found counts as one)."""
    return len(aggregate.stored) if aggregate is not None else 1


def _version(aggregate: StreamAggregate | None) -> int:
    """A cached stream's version (0: not found)."""
    return aggregate.version if aggregate is not None else 0


@functools.cache
def _personal_names(kind: type[ev.TrajectEvent]) -> tuple[str, ...]:
    return tuple(kind.personal_fields())


def _has_personal(event: ev.TrajectEvent) -> bool:
    """Whether ``event`` carries a personal field (one a destroyed data key cannot take)."""
    names = _personal_names(type(event))
    return bool(names) and any(getattr(event, name) is not None for name in names)


class _Side(NamedTuple):
    """One event's side rows (checked, not yet kept)."""

    key: IdempotencyRow | None  # its idempotency key
    entry: PersonIndexRow | None  # a registration's entry in the BSN index
    ref: ExternalRefRow | None  # a registration's external key
    move: BsnMove | None = None  # a correction's move of its person's BSN entry


class BatchWriter:
    """Checks and appends batches of facts; see the module's docstring."""

    def __init__(
        self,
        app: TrajectoryLedger,
        *,
        dry_run: bool = False,
        cache_events: int = CACHE_EVENTS,
        first_analyze: int = FIRST_ANALYZE,
        read: ReadChanges | None = None,
    ) -> None:
        self.app = app
        self.read = read  # the caller's reading of a correction's values (TrajectoryLedger.correct)
        self.dry_run = dry_run
        self.cache_events = cache_events
        # the stream cache, least recently used first; None: no such stream
        self.streams: OrderedDict[UUID, StreamAggregate | None] = OrderedDict()
        self.held = 0  # the events the cache holds (a stream not found counts as one)
        self.keys: dict[str, tuple[UUID, int]] = {}  # idempotency keys known to this writer
        self.refs: dict[str, UUID | None] = {}  # external keys known to this writer
        # who holds each BSN (keyed hash) this writer registered or moved, not yet saved
        # (None: given up by a correction)
        self.bsn_holders: dict[str, UUID | None] = {}
        self.known_bsns: set[str] = set()  # BSNs of the batch already in the ledger
        self.digests: dict[str, str] = {}  # the keyed hash of each BSN the batch registers
        self.keyed: set[UUID] = set()  # the given person ids of the batch with a data key row
        self.checked_bsns: set[str] = set()  # the BSNs looked up for the batch
        self.erased: dict[UUID, bool] = {}  # whether a stream's data key was destroyed
        self.created: set[UUID] = set()  # streams this writer registered (never erased before)
        self.now = datetime.now(UTC)  # the recorded time of a batch's facts without recorded_at
        self.pending = _Pending()
        self.actor = default_actor()
        self.saved = 0  # events this writer saved
        self.purge: Purge | None = None  # the purge after its last batch with an erasure
        self.next_analyze = first_analyze
        self.default_municipality = app.default_municipality
        self.reading: set[UUID] = set()  # the other streams the current check read
        if not dry_run:
            app.tables.ensure_external_refs()
        self.has_refs = app.tables.has_external_refs()

    # --- the batch --------------------------------------------------------------------------

    def write(self, writes: Sequence[Write]) -> list[Recorded | TrajectError]:
        """Check every write in order, then save the accepted ones in one transaction."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            self.now = datetime.now(UTC)
            self._prefetch(writes)
            outcomes: list[Recorded | TrajectError] = []
            try:
                for item in writes:
                    try:
                        outcomes.append(self.add(item))
                    except TrajectError as error:
                        outcomes.append(error)
                if self.dry_run:
                    return outcomes
                self._save()
            except (IntegrityError, _StaleStreamError):
                events = self.pending.events
                stream = events[0].originator_id if events else uuid4()
                self._forget()
                if attempt == MAX_ATTEMPTS:
                    raise ConcurrentModificationError(stream, attempt) from None
                pause = RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1)
                time.sleep(random.uniform(0, pause))  # noqa: S311
                continue
            return outcomes
        raise ConcurrentModificationError(uuid4(), MAX_ATTEMPTS)  # pragma: no cover

    def add(self, item: Write) -> Recorded:
        """Check one write against the batch's state and keep its event; raises TrajectError."""
        fields = item.fields
        key = fields.get("idempotency_key")
        if isinstance(key, str) and key in self.keys:  # another value: the model refuses it
            stream_id, version = self.keys[key]
            self._check_repeat(item, key, stream_id, version)
            return Recorded(stream_id, version, item.kind.__name__, duplicate=True)
        kind = item.kind
        fresh = kind is ev.PersonRegistered and item.person_id is None
        if fresh:  # a new person: an id of its own, no stream to load
            stream_id = uuid4()
            loaded = None
        else:
            stream_id = self._stream_id(item)
            loaded = self._cached(stream_id)
        # a new person's data key is made here and saved with the batch; a person registered
        # under a given id whose key row exists already (a key, or an erasure's tombstone)
        # uses that row, as a single append does
        new_key = fresh or (
            kind is ev.PersonRegistered and loaded is None and stream_id not in self.keyed
        )
        aggregate = self._fit(item, loaded, stream_id)
        moment = item.recorded_at
        if moment is None:  # the batch's time, kept in order after the stream's last event
            last = aggregate.stored.get(aggregate.version)
            moment = self.now if last is None or self.now >= last.timestamp else last.timestamp
        given = self._given(item, aggregate, stream_id)
        event = self.app.build_event(aggregate, kind, given, moment)
        if item.recorded_at is not None:
            check_recorded_at(aggregate, event, self.now)
        if type(event) in ACROSS_STREAMS:
            self._afresh(stream_id, self._check_across_streams, aggregate, event, stream_id)
        if isinstance(aggregate, Trajectory):
            # nothing is recorded for an erased person: the rule's message, before the key's,
            # and before the retention (erased once, whatever holds)
            aggregate.check_not_erased(kind)
            if kind is ev.PersonalDataShredded:
                self._afresh(stream_id, self._check_retention, aggregate, event.occurred_on)
        if (
            aggregate.version
            and _has_personal(event)
            and stream_id not in self.created
            and self._erased(stream_id)
        ):
            raise ErasedError(stream_id)
        side = self._side_rows(item, event, aggregate)
        warnings = aggregate.record(event)  # the rules; raises before it changes anything
        aggregate.pending.clear()
        if aggregate is loaded:  # cached already: one more event held
            self.held += 1
        else:  # a new stream, in the place of its "not found" (None, held as 1) if cached
            self.held += len(aggregate.stored) - (0 if fresh else 1)
            self.streams[stream_id] = aggregate
            self.streams.move_to_end(stream_id)
        self.pending.hold(event)
        if kind is ev.PersonalDataShredded:
            self.pending.shredded.append(stream_id)  # the key goes in the same transaction
            self.erased[stream_id] = True
        self._keep(side, stream_id, new_key=new_key)
        return Recorded(stream_id, event.originator_version, kind.__name__, tuple(warnings))

    def _fit(self, item: Write, loaded: StreamAggregate | None, stream_id: UUID) -> StreamAggregate:
        """The stream ``item`` is appended to: ``loaded`` (None: not found) if it fits, else a
        new one where the kind starts a stream (see ``TrajectoryLedger.fit_stream``)."""
        kind = item.kind
        if type(loaded) is Trajectory and kind.stream is ev.StreamKind.PERSON:
            return loaded  # a person's fact on a person's stream: fits
        is_new = kind is ev.PersonRegistered or kind.stream is not ev.StreamKind.PERSON
        if kind not in ev.CONTROL_EVENTS:
            return self.app.fit_stream(loaded, stream_id, kind, new_stream=is_new)
        return self.app.fit_stream(
            loaded, stream_id, kind, new_stream=is_new, stream=item.stream, named=item.subject
        )

    def _given(self, item: Write, aggregate: StreamAggregate, stream_id: UUID) -> dict[str, Any]:
        """The fields the event is built from: the write's, with the writer's defaults."""
        given = dict(item.fields)
        if given.get("recorded_by") is None:
            given["recorded_by"] = self.actor
        else:  # the source's recorder, kept: who brought the fact into this ledger beside it
            given["imported_by"] = self.actor
        if aggregate.version == 0 and "municipality" not in given and self.default_municipality:
            given["municipality"] = self.default_municipality
        if item.kind is ev.EventCorrected or item.kind is ev.EventRetracted:
            given = self._control_fields(item, aggregate, stream_id, given)
        return given

    def _afresh(self, stream_id: UUID, check: Callable[..., None], *args: Any) -> None:
        """Run ``check(*args)``, rules of a fact on ``stream_id`` that read other streams as this
        writer holds them; every stream it read guards the batch's save (a stream changed
        meanwhile makes the save fail, and the batch is checked again).

        A refusal is not saved, so no guard would catch a stream it read that another writer
        changed since this writer cached it: the streams it read that this writer has not
        added to are loaded again, and if any had moved on, ``check`` runs once more on them.
        When an earlier fact of the batch read one of them as it was, the whole batch is
        checked again (a dry writer, which saves nothing, goes on with the fresh copies).
        The streams this writer has added to are as the store has them plus its own facts
        (else the save fails on their versions), and the fact's own stream is read as for any
        fact.

        Raises:
            RuleViolationError, RetentionHoldError: the refusal, as the store has the streams.
        """
        self.reading = set()
        try:
            try:
                check(*args)
            except (RuleViolationError, RetentionHoldError):
                if not self._reread(self.reading - self.pending.touched - {stream_id}):
                    raise
                check(*args)
        finally:
            self.pending.reads |= self.reading

    def _reread(self, stream_ids: set[UUID]) -> bool:
        """Load ``stream_ids`` again from the store; whether any had moved on from the copy
        held. Raises _StaleStreamError when one that moved was read by an earlier fact of the
        batch (a real writer: its save would be guarded on the new version)."""
        held = {s: self.streams.pop(s) for s in stream_ids if s in self.streams}
        self.held -= sum(_size(aggregate) for aggregate in held.values())
        self._load(stream_ids)
        moved = {s for s, old in held.items() if _version(self.streams[s]) != _version(old)}
        if moved & self.pending.reads and not self.dry_run:
            raise _StaleStreamError
        return bool(moved)

    def _check_retention(self, trajectory: Trajectory, on: date) -> None:
        """An erasure only when no retention basis and no legal hold is open on ``on``, judged
        on the streams as this writer holds them (:meth:`TrajectoryLedger.shred`'s rule); a
        hold placed meanwhile makes the save fail and retry."""
        status = self.app.retention_of(
            trajectory, on, lambda code: self._read(ev.project_stream_id(code)), erasing=True
        )
        if not status.erasable:
            raise RetentionHoldError(trajectory.id, status.on, status.refusals())

    def _check_across_streams(
        self, aggregate: StreamAggregate, event: ev.TrajectEvent, stream_id: UUID
    ) -> None:
        """The rules of ``event`` that read other streams (an enrolment's project, a
        household's referent), as this writer holds them."""
        check_across_streams(aggregate, event, self._project, self._enrolments)
        check_household(aggregate, event, self._read, self._members)
        check_referent_change(aggregate, event, self._members)
        if stream_id in self.streams:  # a new person's stream is kept once its event is
            self.streams.move_to_end(stream_id)  # the person's, used after the other

    def _read(self, stream_id: UUID) -> StreamAggregate | None:
        """Another stream a rule reads (a household's referent or member, a project), as this
        writer holds it (this batch's own facts included), noted for :meth:`_afresh`. A stream
        this writer found missing is looked up again: one another writer made since counts
        for an acceptance too (a dry run's has no save to guard it)."""
        self.reading.add(stream_id)
        if stream_id in self.streams and self.streams[stream_id] is None:
            del self.streams[stream_id]
            self.held -= _size(None)
        return self._cached(stream_id)

    def _members(self, referent: UUID) -> list[StreamAggregate]:
        """The members of ``referent``'s household as this writer holds them: as stored, but
        the streams this writer has added to as it holds them (the batch's own registrations
        and corrections). A registration or correction stored meanwhile, or a member's stream
        changed, makes the save fail and retry."""
        touched = self.pending.touched
        stored = self.app.household_members(
            referent, self.pending.topic_guards, make_links=not self.dry_run
        )
        found = {stream_id for stream_id in stored if stream_id not in touched}
        for stream_id in touched:
            cached = self.streams.get(stream_id)
            household = cached.state.household_id if isinstance(cached, Trajectory) else None
            if household == referent != stream_id:
                found.add(stream_id)
        return [
            member for stream_id in sorted(found) if (member := self._read(stream_id)) is not None
        ]

    def _project(self, code: str) -> StreamAggregate:
        """A project's stream as this writer holds it, for an enrolment's window; a project
        corrected meanwhile makes the save fail and the batch be checked again."""
        project_id = ev.project_stream_id(code)
        return self._read(project_id) or AGGREGATE_CLASSES[ev.StreamKind.PROJECT](project_id)

    def _enrolments(self, project: StreamAggregate) -> list[Enrolment]:
        """The effective enrolments in ``project``, for a correction of its window: as stored,
        but those of the streams this writer has added to as it holds them (the batch's own
        enrolments and corrections). One stored meanwhile makes the save fail and retry."""
        touched = self.pending.touched
        stored = self.app.enrolments(
            project.id, self.pending.topic_guards, make_links=not self.dry_run
        )
        found = [e for e in stored if e.person_id not in touched]
        for stream_id in touched:
            cached = self.streams.get(stream_id)
            if cached is not None:
                found += enrolments_of(cached, project.id)
        return in_date_order(found)

    # --- streams and references -------------------------------------------------------------

    def _stream_id(self, item: Write) -> UUID:
        """The stream of a write that does not register a new person (see ``add``)."""
        kind = item.kind
        subject = item.subject
        if kind is ev.PersonRegistered:
            assert item.person_id is not None
            return item.person_id
        stream = kind.stream if kind not in ev.CONTROL_EVENTS else item.stream
        if stream is ev.StreamKind.PERSON:
            if isinstance(subject, UUID):
                return subject
            person = self._ref(str(subject or ""))
            if person is None:
                raise RuleViolationError(
                    kind.__name__,
                    "person",
                    f"no person with external key {subject!r}: register them first",
                )
            return person
        if stream is ev.StreamKind.MUNICIPALITY:
            return ev.municipality_stream_id(str(subject))
        return ev.project_stream_id(str(subject))

    def _erased(self, stream_id: UUID) -> bool:
        """Whether the data key of ``stream_id`` (a stream not registered here) was destroyed."""
        erased = self.erased.get(stream_id)
        if erased is None:
            wrapped = self.app.tables.select_wrapped_key(stream_id)
            erased = self.erased[stream_id] = wrapped == SHREDDED
        return erased

    def _bsn_taken(self, digest: str | None, person_id: UUID) -> bool:
        """Whether another person than ``person_id`` holds the BSN of keyed hash ``digest``,
        as this writer leaves the index."""
        if digest is None:
            return False
        if digest in self.bsn_holders:
            holder = self.bsn_holders[digest]
        elif digest in self.checked_bsns and digest not in self.known_bsns:
            return False
        else:
            holder = self.app.tables.person_by_bsn_digest(digest)
        return holder is not None and holder != person_id

    def _check_repeat(self, item: Write, key: str, stream_id: UUID, version: int) -> None:
        """Refuse a write whose idempotency key named another fact (``check_repeat``).

        A write naming its person by an external key that no longer finds anyone, repeating a
        fact of an erased person: the key went with the erasure, so the stream cannot be
        compared (like the personal fields); the kind and the other fields still are.
        """
        recorded = self._cached(stream_id)
        if recorded is None or version not in recorded.stored:
            # the key was looked up after the stream was loaded, and another writer stored
            # the key's fact in between: check the batch again on what the store holds now
            # (a dry run cannot: it holds what its earlier batches would have written)
            if self.dry_run:
                raise ConcurrentModificationError(stream_id, 1)
            raise _StaleStreamError
        subject = item.subject
        if self._by_lost_ref(item) and self._erased(stream_id):
            expected = None
        elif item.kind is ev.PersonRegistered and item.person_id is None:
            expected = (self._ref(subject) or NO_STREAM) if isinstance(subject, str) else None
        else:
            expected = self._stream_id(item)
        fact = recorded.stored[version]
        self.app.check_repeat(
            key,
            fact,
            item.kind,
            lambda: self._given(item, self._as_it_stood(item, recorded, version), stream_id),
            stream_id=expected,
            erased=lambda: self._erased(stream_id),
            target=correction_target(fact, recorded.stored),
        )

    def _by_lost_ref(self, item: Write) -> bool:
        """Whether ``item`` names its person by an external key that finds nobody."""
        subject = item.subject
        if not isinstance(subject, str) or item.person_id is not None:
            return False
        kind = item.kind
        stream = kind.stream if kind not in ev.CONTROL_EVENTS else item.stream
        return stream is ev.StreamKind.PERSON and self._ref(subject) is None

    def _ref(self, key: str) -> UUID | None:
        try:
            return self.refs[key]
        except KeyError:
            found = self.refs[key] = self.app.person_by_external_ref(key) if self.has_refs else None
            return found

    def _cached(self, stream_id: UUID) -> StreamAggregate | None:
        """The stream as this writer holds it (loaded first if need be), now the most recent."""
        streams = self.streams
        try:
            streams.move_to_end(stream_id)
        except KeyError:
            self._load([stream_id])
        return streams[stream_id]

    def _put(self, stream_id: UUID, aggregate: StreamAggregate | None) -> None:
        """Keep a loaded stream (not cached yet) as the most recently used."""
        self.held += _size(aggregate)
        self.streams[stream_id] = aggregate

    def _evict(self) -> None:
        """Drop the least recently used streams until the cache holds ``cache_events`` or fewer.

        Only after a save: every cached stream is then as the store has it, so an evicted one
        is simply loaded again when it is seen again.
        """
        while self.held > self.cache_events and self.streams:
            stream_id, aggregate = self.streams.popitem(last=False)
            self.held -= _size(aggregate)
            self.erased.pop(stream_id, None)
            self.created.discard(stream_id)
            self.app.keyring.forget(stream_id)

    def _load(self, stream_ids: Iterable[UUID]) -> None:
        wanted = [s for s in dict.fromkeys(stream_ids) if s not in self.streams]
        if not wanted:
            return
        found: dict[UUID, list[ev.TrajectEvent]] = {}
        mapper = self.app.mapper
        for stored in self.app.tables.select_streams(wanted):
            event = cast("ev.TrajectEvent", mapper.to_domain_event(stored))
            found.setdefault(event.originator_id, []).append(event)
        for stream_id in wanted:
            events = found.get(stream_id)
            self._put(stream_id, project_stream(None, events) if events else None)

    def _prefetch(self, writes: Sequence[Write]) -> None:
        """Look up the batch's idempotency keys, external keys and streams in few queries."""
        keys: set[str] = set()
        refs: set[str] = set()
        digests: dict[str, str] = {}
        subjects: list[UUID | str] = []  # the streams in order; a str: an external key's
        bsn_digest = self.app.keyring.bsn_digest
        person, municipality, project = (
            ev.StreamKind.PERSON,
            ev.StreamKind.MUNICIPALITY,
            ev.StreamKind.PROJECT,
        )
        for w in writes:
            kind, fields, subject = w.kind, w.fields, w.subject
            key = fields.get("idempotency_key")
            if isinstance(key, str) and key:
                keys.add(key)
            if isinstance(w.target, str):
                keys.add(w.target)
            if kind is ev.PersonRegistered:
                bsn = fields.get("bsn")
                if isinstance(bsn, str) and bsn not in digests:
                    digests[bsn] = bsn_digest(bsn)
                if w.person_id is not None:
                    subjects.append(w.person_id)
                if isinstance(subject, str) and w.stream is person:
                    refs.add(subject)
                continue
            stream = kind.stream if kind not in ev.CONTROL_EVENTS else w.stream
            if isinstance(subject, str):
                if stream is person:
                    refs.add(subject)
                    subjects.append(subject)
                elif stream is municipality and subject:
                    subjects.append(ev.municipality_stream_id(subject))
                elif stream is project and subject:
                    subjects.append(ev.project_stream_id(subject))
            elif isinstance(subject, UUID) and stream is person:
                subjects.append(subject)
            if kind is ev.ParticipantEnrolled and fields.get("project_id"):
                subjects.append(ev.project_stream_id(str(fields["project_id"])))
        self.keys.update(self.app.tables.idempotency_many(keys - self.keys.keys()))
        refs -= self.refs.keys()
        if refs and self.has_refs:
            found = self.app.tables.persons_by_external_refs(refs)
            self.refs.update({ref: found.get(ref) for ref in refs})
        known = self.refs
        streams = [s if isinstance(s, UUID) else known.get(s) for s in subjects]
        # a write's key seen before: its fact's stream too, to compare it with the write's
        seen = self.keys
        streams += [
            seen[k][0]
            for w in writes
            if isinstance(k := w.fields.get("idempotency_key"), str) and k in seen
        ]
        self._load(s for s in streams if s is not None)
        self.digests = digests
        given_ids = [w.person_id for w in writes if w.kind is ev.PersonRegistered and w.person_id]
        self.keyed = self.app.tables.subjects_with_keys(given_ids) if given_ids else set()
        self.known_bsns = self.app.tables.bsn_digests_present(digests.values())
        self.checked_bsns = set(digests.values())

    def _control_fields(
        self, item: Write, aggregate: StreamAggregate, stream_id: UUID, given: dict[str, Any]
    ) -> dict[str, Any]:
        """A correction's or retraction's fields, its target resolved."""
        kind = item.kind.__name__
        target = item.target
        if isinstance(target, str):
            found = self.keys.get(target)
            if found is None:
                raise RuleViolationError(kind, "target", f"no fact with idempotency key {target!r}")
            if found[0] != stream_id:
                raise RuleViolationError(kind, "target", f"{target!r} is a fact of another stream")
            target = found[1]
        if not isinstance(target, int):
            raise RuleViolationError(kind, "target", "required: a version or an idempotency key")
        reason = item.reason or ""
        if item.kind is ev.EventRetracted:
            return {"target_version": target, "reason": reason, **given}
        changes = item.changes or {}
        return self.app.correction_fields(
            aggregate, target, changes, reason, given, read=self.read, refuse_unchanged=False
        )

    @staticmethod
    def _as_it_stood(item: Write, stream: StreamAggregate, version: int) -> StreamAggregate:
        """The stream a write's fields are computed from, for a comparison with the fact at
        ``version``: as it stood then for a correction or retraction (their fields depend on
        it), else as it is (only a new stream's default municipality depends on it)."""
        return as_it_stood(stream, version) if item.kind in ev.CONTROL_EVENTS else stream

    def _side_rows(self, item: Write, event: ev.TrajectEvent, aggregate: StreamAggregate) -> _Side:
        """The event's side rows (checked, not yet kept): idempotency key, person index, ref,
        or a correction's move of the BSN entry (the new BSN must be free, as to register)."""
        stream_id = aggregate.id
        key = (
            IdempotencyRow(event.idempotency_key, stream_id, event.originator_version)
            if event.idempotency_key
            else None
        )
        if type(event) is ev.EventCorrected:
            move = self.app.bsn_move(aggregate, event)
            if move is not None and self._bsn_taken(move.new, stream_id):
                raise DuplicatePersonError
            return _Side(key, None, None, move)
        if type(event) is not ev.PersonRegistered:
            return _Side(key, None, None)
        bsn = event.bsn
        digest = (self.digests.get(bsn) or self.app.keyring.bsn_digest(bsn)) if bsn else None
        if self._bsn_taken(digest, stream_id):
            raise DuplicatePersonError
        ref = None
        if isinstance(item.subject, str) and item.subject:
            if self._ref(item.subject) is not None:
                raise DuplicateExternalRefError(item.subject)
            ref = ExternalRefRow(item.subject, stream_id)
        return _Side(key, PersonIndexRow(stream_id, digest), ref)

    def _keep(self, side: _Side, stream_id: UUID, *, new_key: bool) -> None:
        key, index, ref, move = side
        pending = self.pending
        if key is not None:
            pending.idempotency.append(key)
            self.keys[key.key] = (stream_id, key.version)
        if move is not None:
            self._move_bsn(stream_id, move)
        if index is None:
            return
        pending.person_index.append(index)
        if index.bsn_digest:
            self.bsn_holders[index.bsn_digest] = stream_id
        if ref is not None:
            pending.external_refs.append(ref)
            self.refs[ref.source_key] = ref.person_id
        if new_key:
            self.created.add(stream_id)
            if not self.dry_run:
                wrapped = self.app.keyring.new_data_key(stream_id)
                pending.data_keys.append(DataKeyRow(stream_id, wrapped))

    def _move_bsn(self, stream_id: UUID, move: BsnMove) -> None:
        """Keep a correction's move of a BSN entry: a person this batch registers gets the new
        BSN in their entry to insert; another person's entry is updated (before the inserts)."""
        if move.old is not None:
            self.bsn_holders[move.old] = None
        if move.new is not None:
            self.bsn_holders[move.new] = stream_id
        row = PersonIndexRow(stream_id, move.new)
        index = self.pending.person_index
        for number, entry in enumerate(index):
            if entry.person_id == stream_id:
                index[number] = row
                return
        self.pending.person_index_updates.append(row)

    # --- saving -----------------------------------------------------------------------------

    def _save(self) -> None:
        pending = self.pending
        if pending.events:
            self.app.events.put(
                pending.events,
                idempotency=pending.idempotency,
                person_index=pending.person_index,
                person_index_updates=pending.person_index_updates,
                external_refs=pending.external_refs,
                data_keys=pending.data_keys,
                shredded=pending.shredded,
                guards=self._guards(),
                bulk=True,
            )
            for subject in pending.shredded:
                self.app.keyring.shredded(subject)
            if pending.shredded:  # as after `shred`: the destroyed keys' old bytes go too
                self.purge = self.app.tables.purge_erased_keys()
            self.saved += len(pending.events)
            if self.saved >= self.next_analyze:
                # the planner would otherwise keep planning for the tables as they were
                self.app.tables.analyze()
                self.next_analyze = 2 * self.saved
        self.pending = _Pending()
        self.bsn_holders.clear()
        self.keys.clear()  # saved: the next batch looks up its own keys
        self.refs.clear()
        self._evict()

    def _guards(self) -> list[Guard]:
        """The streams the batch's checks read, each at the version the batch leaves it at
        (as cached: what the store had when it was loaded, and what this batch adds), and the
        enrolments a window correction's check read."""
        streams = self.streams
        return [
            StreamGuard(stream_id, cached.version if (cached := streams.get(stream_id)) else 0)
            for stream_id in self.pending.reads
        ] + self.pending.topic_guards

    def _forget(self) -> None:
        """After a failed save: drop everything this batch believed, to check it again."""
        for subject in [r.subject for r in self.pending.data_keys] + self.pending.shredded:
            self.app.keyring.forget(subject)
        self.pending = _Pending()
        self.streams.clear()
        self.held = 0
        self.created.clear()
        self.refs.clear()
        self.keys.clear()
        self.bsn_holders.clear()
        self.erased.clear()
