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
again, so rules hold and nothing is doubled. A dry writer (``dry_run=True``) checks everything the
same way and keeps its state across batches, but saves nothing.

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

import random
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast
from uuid import UUID, uuid4

from eventsourcing.persistence import IntegrityError

from ledger import events as ev
from ledger.aggregates import AGGREGATE_CLASSES, StreamAggregate, project_stream
from ledger.application import Recorded, TrajectoryLedger, check_recorded_at, default_actor
from ledger.crypto import SHREDDED
from ledger.errors import (
    ConcurrentModificationError,
    DuplicateExternalRefError,
    DuplicatePersonError,
    ErasedError,
    RuleViolationError,
    TrajectError,
)
from ledger.persistence import DataKeyRow, ExternalRefRow, IdempotencyRow, PersonIndexRow

MAX_ATTEMPTS = 8
RETRY_BACKOFF_SECONDS = 0.01
CACHE_EVENTS = 50_000  # events of cached streams kept between batches of a real run
FIRST_ANALYZE = 20_000
"""Events a writer saves before it first refreshes the planner's statistics (PostgreSQL); it
does so again each time the events it saved have doubled since (``TrajectTables.analyze``)."""


class Write(NamedTuple):
    """One fact for a batch (a named tuple: immutable and cheap to make, one per line).

    ``subject`` names the stream: for person facts a person id (UUID) or a source system's
    external key (str); for municipality and project facts the CBS code or project code. On a
    PersonRegistered it is the external key to register (optional) and ``person_id`` the id
    (default: a new one). Corrections and retractions give ``target`` (a version number or an
    earlier fact's idempotency key), ``reason`` and, for corrections, ``changes``; ``stream``
    then says which kind of stream ``subject`` names.
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
    external_refs: list[ExternalRefRow] = field(default_factory=list)
    data_keys: list[DataKeyRow] = field(default_factory=list)
    shredded: list[UUID] = field(default_factory=list)


_Side = tuple[IdempotencyRow | None, PersonIndexRow | None, ExternalRefRow | None]
"""One event's side rows: its idempotency key, its person index row, its external key."""


class BatchWriter:
    """Checks and appends batches of facts; see the module's docstring."""

    def __init__(
        self,
        app: TrajectoryLedger,
        *,
        dry_run: bool = False,
        cache_events: int = CACHE_EVENTS,
        first_analyze: int = FIRST_ANALYZE,
    ) -> None:
        self.app = app
        self.dry_run = dry_run
        self.cache_events = cache_events
        # the stream cache, least recently used first; None: no such stream
        self.streams: OrderedDict[UUID, StreamAggregate | None] = OrderedDict()
        self.sizes: dict[UUID, int] = {}  # each cached stream's events when it was last kept
        self.held = 0  # the sum of ``sizes``: the events the cache holds
        self.keys: dict[str, tuple[UUID, int]] = {}  # idempotency keys known to this writer
        self.refs: dict[str, UUID | None] = {}  # external keys known to this writer
        self.bsn_digests: set[str] = set()  # BSNs registered by this writer (not yet saved)
        self.known_bsns: set[str] = set()  # BSNs of the batch already in the ledger
        self.checked_bsns: set[str] = set()  # the BSNs looked up for the batch
        self.erased: dict[UUID, bool] = {}  # whether a stream's data key was destroyed
        self.fresh: set[UUID] = set()  # streams whose ids this writer made up (new persons)
        self.created: set[UUID] = set()  # streams this writer registered (never erased before)
        self.now = datetime.now(UTC)  # the recorded time of a batch's facts without recorded_at
        self.pending = _Pending()
        self.actor = default_actor()
        self.saved = 0  # events this writer saved
        self.next_analyze = first_analyze
        self.default_municipality = app.default_municipality
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
            for item in writes:
                try:
                    outcomes.append(self.add(item))
                except TrajectError as error:
                    outcomes.append(error)
            if self.dry_run:
                return outcomes
            try:
                self._save()
            except IntegrityError:
                self._forget()
                if attempt == MAX_ATTEMPTS:
                    stream = (
                        self.pending.events[0].originator_id if self.pending.events else uuid4()
                    )
                    raise ConcurrentModificationError(stream, attempt) from None
                pause = RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1)
                time.sleep(random.uniform(0, pause))  # noqa: S311
                continue
            return outcomes
        raise ConcurrentModificationError(uuid4(), MAX_ATTEMPTS)  # pragma: no cover

    def add(self, item: Write) -> Recorded:
        """Check one write against the batch's state and keep its event; raises TrajectError."""

        key = item.fields.get("idempotency_key")
        if key and key in self.keys:
            stream_id, version = self.keys[key]
            return Recorded(stream_id, version, item.kind.__name__, duplicate=True)
        kind = item.kind
        stream_id = self._stream_id(item)
        is_new = kind is ev.PersonRegistered or kind.stream is not ev.StreamKind.PERSON
        loaded = None if stream_id in self.fresh else self._cached(stream_id)
        aggregate = self.app.fit_stream(loaded, stream_id, kind, new_stream=is_new)
        given = dict(item.fields)
        given.setdefault("recorded_by", self.actor)
        if aggregate.version == 0 and "municipality" not in given and self.default_municipality:
            given["municipality"] = self.default_municipality
        if kind is ev.EventCorrected or kind is ev.EventRetracted:
            given = self._control_fields(item, aggregate, stream_id, given)
        moment = item.recorded_at
        if moment is None:  # the batch's time, kept in order after the stream's last event
            last = aggregate.stored.get(aggregate.version)
            moment = self.now if last is None else max(self.now, last.timestamp)
        event = self.app.build_event(aggregate, kind, given, moment)
        if item.recorded_at is not None:
            check_recorded_at(aggregate, event)
        if isinstance(event, ev.ParticipantEnrolled):
            project_id = ev.project_stream_id(event.project_id)
            project = self._cached(project_id) or AGGREGATE_CLASSES[ev.StreamKind.PROJECT](uuid4())
            self.app.check_enrolment_window(event, project)
        if aggregate.version and stream_id not in self.created and self._erased(stream_id, event):
            raise ErasedError(stream_id)
        side = self._side_rows(item, event, stream_id)
        warnings = aggregate.record(event)  # the rules; raises before it changes anything
        aggregate.pending.clear()
        self._put(stream_id, aggregate)
        self.pending.events.append(event)
        if isinstance(event, ev.PersonalDataShredded):
            self.pending.shredded.append(stream_id)  # the key goes in the same transaction
            self.erased[stream_id] = True
        self._keep(side, event)
        return Recorded(stream_id, event.originator_version, kind.__name__, tuple(warnings))

    # --- streams and references -------------------------------------------------------------

    def _stream_id(self, item: Write) -> UUID:
        kind = item.kind
        stream = kind.stream if kind not in ev.CONTROL_EVENTS else item.stream
        if kind is ev.PersonRegistered:
            if item.person_id is not None:
                return item.person_id
            fresh = uuid4()
            self.fresh.add(fresh)
            return fresh
        if stream is ev.StreamKind.MUNICIPALITY:
            return ev.municipality_stream_id(str(item.subject))
        if stream is ev.StreamKind.PROJECT:
            return ev.project_stream_id(str(item.subject))
        if isinstance(item.subject, UUID):
            return item.subject
        person = self._ref(str(item.subject or ""))
        if person is None:
            raise RuleViolationError(
                kind.__name__,
                "person",
                f"no person with external key {item.subject!r}: register them first",
            )
        return person

    def _erased(self, stream_id: UUID, event: ev.TrajectEvent) -> bool:
        """Whether ``event`` brings personal data to a stream whose key was destroyed."""
        if not any(getattr(event, name) is not None for name in type(event).personal_fields()):
            return False
        if stream_id not in self.erased:
            wrapped = self.app.tables.select_wrapped_key(stream_id)
            self.erased[stream_id] = wrapped == SHREDDED
        return self.erased[stream_id]

    def _bsn_known(self, digest: str) -> bool:
        if digest in self.checked_bsns:
            return digest in self.known_bsns
        return self.app.tables.person_by_bsn_digest(digest) is not None

    def _ref(self, key: str) -> UUID | None:
        if key not in self.refs:
            self.refs[key] = self.app.person_by_external_ref(key) if self.has_refs else None
        return self.refs[key]

    def _cached(self, stream_id: UUID) -> StreamAggregate | None:
        try:
            self.streams.move_to_end(stream_id)
        except KeyError:
            self._load([stream_id])
        return self.streams[stream_id]

    def _put(self, stream_id: UUID, aggregate: StreamAggregate | None) -> None:
        """Keep a stream as the most recently used; its events count towards the bound."""
        size = len(aggregate.stored) if aggregate is not None else 1
        self.held += size - self.sizes.get(stream_id, 0)
        self.sizes[stream_id] = size
        self.streams[stream_id] = aggregate
        self.streams.move_to_end(stream_id)

    def _evict(self) -> None:
        """Drop the least recently used streams until the cache holds ``cache_events`` or fewer.

        Only after a save: every cached stream is then as the store has it, so an evicted one
        is simply loaded again when it is seen again.
        """
        while self.held > self.cache_events and self.streams:
            stream_id, _ = self.streams.popitem(last=False)
            self.held -= self.sizes.pop(stream_id)
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
        keys = {str(w.fields["idempotency_key"]) for w in writes if w.fields.get("idempotency_key")}
        keys |= {w.target for w in writes if isinstance(w.target, str)}
        self.keys.update(self.app.tables.idempotency_many(keys - set(self.keys)))
        refs = {
            w.subject
            for w in writes
            if isinstance(w.subject, str) and w.stream is ev.StreamKind.PERSON
        } - set(self.refs)
        if refs and self.has_refs:
            found = self.app.tables.persons_by_external_refs(refs)
            self.refs.update({ref: found.get(ref) for ref in refs})
        streams: list[UUID] = []
        for w in writes:
            if w.kind is ev.PersonRegistered:
                if w.person_id is not None:
                    streams.append(w.person_id)
                continue
            stream = w.kind.stream if w.kind not in ev.CONTROL_EVENTS else w.stream
            if stream is ev.StreamKind.MUNICIPALITY and w.subject:
                streams.append(ev.municipality_stream_id(str(w.subject)))
            elif stream is ev.StreamKind.PROJECT and w.subject:
                streams.append(ev.project_stream_id(str(w.subject)))
            elif isinstance(w.subject, UUID):
                streams.append(w.subject)
            elif isinstance(w.subject, str) and self.refs.get(w.subject):
                streams.append(self.refs[w.subject])  # type: ignore[arg-type]
            if w.kind is ev.ParticipantEnrolled and w.fields.get("project_id"):
                streams.append(ev.project_stream_id(str(w.fields["project_id"])))
        self._load(streams)
        digests = {
            self.app.keyring.bsn_digest(str(w.fields["bsn"]))
            for w in writes
            if w.kind is ev.PersonRegistered and isinstance(w.fields.get("bsn"), str)
        }
        self.known_bsns = self.app.tables.bsn_digests_present(digests)
        self.checked_bsns = digests

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
        return self.app.correction_fields(aggregate, target, item.changes or {}, reason, given)

    def _side_rows(self, item: Write, event: ev.TrajectEvent, stream_id: UUID) -> _Side:
        """The event's side rows (checked, not yet kept): idempotency key, person index, ref."""
        key = (
            IdempotencyRow(event.idempotency_key, stream_id, event.originator_version)
            if event.idempotency_key
            else None
        )
        if not isinstance(event, ev.PersonRegistered):
            return key, None, None
        digest = self.app.keyring.bsn_digest(event.bsn) if event.bsn else None
        if digest and (digest in self.bsn_digests or self._bsn_known(digest)):
            raise DuplicatePersonError
        ref = None
        if isinstance(item.subject, str) and item.subject:
            if self._ref(item.subject) is not None:
                raise DuplicateExternalRefError(item.subject)
            ref = ExternalRefRow(item.subject, stream_id)
        return key, PersonIndexRow(stream_id, digest), ref

    def _keep(self, side: _Side, event: ev.TrajectEvent) -> None:
        key, index, ref = side
        pending = self.pending
        if key is not None:
            pending.idempotency.append(key)
            self.keys[key.key] = (key.stream_id, key.version)
        if index is not None:
            pending.person_index.append(index)
            if index.bsn_digest:
                self.bsn_digests.add(index.bsn_digest)
        if ref is not None:
            pending.external_refs.append(ref)
            self.refs[ref.source_key] = ref.person_id
        if event.originator_id in self.fresh:
            self.fresh.discard(event.originator_id)  # known now: in self.streams
            self.created.add(event.originator_id)
            if not self.dry_run:
                wrapped = self.app.keyring.new_data_key(event.originator_id)
                self.pending.data_keys.append(DataKeyRow(event.originator_id, wrapped))

    # --- saving -----------------------------------------------------------------------------

    def _save(self) -> None:
        pending = self.pending
        if pending.events:
            self.app.events.put(
                pending.events,
                idempotency=pending.idempotency,
                person_index=pending.person_index,
                external_refs=pending.external_refs,
                data_keys=pending.data_keys,
                shredded=pending.shredded,
                bulk=True,
            )
            for subject in pending.shredded:
                self.app.keyring.shredded(subject)
            self.saved += len(pending.events)
            if self.saved >= self.next_analyze:
                # the planner would otherwise keep planning for the tables as they were
                self.app.tables.analyze()
                self.next_analyze = 2 * self.saved
        self.pending = _Pending()
        self.bsn_digests.clear()
        self.fresh.clear()  # ids made up for registrations that were refused
        self.keys.clear()  # saved: the next batch looks up its own keys
        self.refs.clear()
        self._evict()

    def _forget(self) -> None:
        """After a failed save: drop everything this batch believed, to check it again."""
        for subject in [r.subject for r in self.pending.data_keys] + self.pending.shredded:
            self.app.keyring.forget(subject)
        self.pending = _Pending()
        self.streams.clear()
        self.sizes.clear()
        self.held = 0
        self.created.clear()
        self.fresh.clear()
        self.refs.clear()
        self.keys.clear()
        self.bsn_digests.clear()
        self.erased.clear()
