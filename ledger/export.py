"""Export: the stored events as import lines (docs/import.md), so that export → import is faithful.

Every event becomes one line object in the import format: ``kind`` (the catalog name), the
stream (``person`` and/or ``person_id``, ``municipality``, ``project``), ``occurred_on``,
``recorded_at`` (the event's recorded time), ``recorded_by`` (who recorded it), ``source``,
``idempotency_key`` when it has one, ``evidence``, and the event's fields by name, derived
fields included (an import keeps given values, so the rule version of the original recording
is kept). Corrections and retractions target their event by its idempotency key when it has
one, else by version number; a person's registration carries ``person_id``, so an import into
an empty ledger gives the same stream ids, versions, recorded times (and, with
``--keep-recorded-by``, recorders) and therefore the same projections.

Personal fields are exported only when asked (``include_personal``); otherwise each personal value
is replaced by a pseudonym under ``_pseudonyms`` (a keyed hash, HMAC-SHA256 under a key derived
from the master key: stable within one ledger, useless without its key), the source system's
external key is left out (the line names the person by ``person_id``), idempotency keys (which
may hold a source's client number) are pseudonymised the same way, and the free-text reason of a
correction or retraction is withheld. The recorder is a member of staff, so personal data too:
it is pseudonymised under ``_pseudonyms`` (``recorded_by``) on every line, which keeps "the same
recorder" visible to an analyst without naming anyone. So are the names of staff in an event's
own fields (``TrajectEvent.staff_fields``: the coach's ``staff_id``, the ``assessor``, …, and
such a field set by a correction's ``changes``), but in place: the field keeps its name and its
value becomes the pseudonym the same name has as recorder (one member of staff, one pseudonym),
so that the line still imports (``staff_id`` is required) and the caseload per coach counts the
same, per pseudonymous coach. A line naming staff therefore differs from the line of the same
fact in a pseudonymised export made before names of staff were pseudonymised, and so does the
idempotency key an import derives from it (docs/import.md, "Limits"). Keys starting with ``_``
are ignored by the import. Erased (shredded) personal fields are absent either way; the erasure
itself is exported as a ``personal-data-shredded`` line. ``imported_by`` (who imported a fact
whose recorder was kept from another ledger) is this ledger's own record and is not exported.

Special-category values (GDPR Art. 9, ``ledger.special``) are exported only with
``include_personal`` and a ``reading`` that states a purpose, and only once their read is
recorded: before a page's lines are handed out, one ``SpecialCategoryRead`` per person whose values
the page holds (and whose read this export has not recorded yet) is appended, all of the page's
in one transaction (``ledger.batch``). The values of a person whose read could not be recorded
are left out, as they are from a pseudonymised export (never pseudonymised: a keyed hash of a
yes/no flag would still split the persons into two groups); such a line names the fields left
out under ``_withheld``. The recorded reads of earlier exports are exported as
``special-category-read`` lines (the reader kept as ``read_by``, a name of staff: pseudonymised
in a pseudonymised export); this export's own reads come after its cut (the log as it stood when
the export began) and are not in it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any, cast
from uuid import UUID

import orjson

from ledger import events as ev
from ledger.application import TrajectoryLedger, read_fields, unrecorded
from ledger.batch import BatchWriter, Write
from ledger.catalog import cli_name
from ledger.errors import TrajectError
from ledger.special import Reading, Withheld, special_values, withhold
from ledger.values import as_id

PAGE = 2000
WITHHELD = "withheld from a pseudonymised export"
WITHHELD_KEY = "_withheld"
"""A line's note of the special-category fields whose values it left out."""
NAMING_MEMBERS = (ev.NareizigerArrived, ev.EventCorrected)
"""The kinds of the facts that can name a member of a household (``member_person_id``)."""
NOT_EXPORTED = {"originator_id", "originator_version", "timestamp", "imported_by"}
"""Event fields no line carries: the stream and version are the line's place, the recorded time
is ``recorded_at``, and who imported a fact is the importing ledger's own record."""


@dataclass(frozen=True)
class ExportFilter:
    """Which events to export: streams of one person, of one municipality, a period."""

    person_id: UUID | None = None
    municipality: str | None = None
    occurred_from: date | None = None
    occurred_to: date | None = None

    @property
    def by_stream(self) -> bool:
        return self.person_id is not None or self.municipality is not None


@dataclass
class ExportReads:
    """What an export did with special-category values: the reads it recorded (one per person),
    and the persons whose values it left out, by why (with what the store said)."""

    recorded: set[UUID] = field(default_factory=set)
    withheld: dict[Withheld, set[UUID]] = field(default_factory=dict)
    detail: dict[Withheld, str] = field(default_factory=dict)

    def leave_out(self, why: Withheld, persons: Iterable[UUID], detail: str = "") -> None:
        self.withheld.setdefault(why, set()).update(persons)
        if detail:
            self.detail.setdefault(why, detail)


@cache
def staff_field_names() -> frozenset[str]:
    """Every field name some event kind uses for a name of staff (``by`` names a verifying body
    in one kind and the intake's staff member in another: the corrected event's kind decides)."""
    return frozenset(name for cls in ev.EVENT_CLASSES for name in cls.staff_fields())


def pseudonym(key: bytes, name: str, value: Any) -> str:
    """A keyed hash of one personal value: the same value gives the same pseudonym."""
    text = orjson.dumps([name, value], option=orjson.OPT_SORT_KEYS)
    return "ps:" + hmac.new(key, text, hashlib.sha256).hexdigest()[:24]


class Exporter:
    """Turns the ledger's events into import lines, in the order they were stored (but for a
    member's registration, which comes before the first fact that names them)."""

    def __init__(
        self,
        app: TrajectoryLedger,
        *,
        include_personal: bool,
        selection: ExportFilter,
        reading: Reading | None = None,
    ) -> None:
        self.app = app
        self.include_personal = include_personal
        self.selection = selection
        self.reading = reading
        self.key = None if include_personal else app.keyring.export_key
        self.projects: dict[UUID, str] = {}
        self.refs: dict[UUID, str | None] = {}
        self.keys: dict[tuple[UUID, int], str | None] = {}
        # the classes of the (few) events with special-category fields, for their corrections
        self.special_kinds: dict[tuple[UUID, int], type[ev.TrajectEvent]] = {}
        self.recorded_fields: dict[UUID, set[str]] = {}  # the fields whose read it recorded
        self.reads = ExportReads()
        self.top: int | None = None
        self.staff: dict[str, str] = {}  # a member of staff's pseudonym, by name
        self.streams: set[UUID] | None = None  # the selected streams, when selected by stream
        self.registered: set[UUID] = set()  # the persons whose registration was read
        self.pulled: set[UUID] = set()  # those written before their place in storage order

    def total(self) -> int:
        """The last notification id when the export began: its cut, and an upper bound of the
        lines, for a progress bar. Events recorded later (this export's own reads among them)
        are not exported."""
        if self.top is None:
            self.top = int(self.app.recorder.max_notification_id() or 0)
        return self.top

    def lines(self, on_progress: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
        """The selected events as import line objects, in storage order, except that a member's
        registration comes before the first fact that names them (``_registered_first``)."""
        self.streams = streams = self._selected_streams() if self.selection.by_stream else None
        top = self.total()
        start = 0
        while start < top:
            page = self.app.recorder.select_notifications(
                start, PAGE, stop=top, inclusive_of_start=False
            )
            if not page:
                return
            start = page[-1].id
            self._refs_of(
                UUID(str(n.originator_id))
                for n in page
                if n.originator_version == 1 and n.topic.endswith(":PersonRegistered")
            )
            selected: list[ev.TrajectEvent] = []
            for stored in page:
                event = cast("ev.TrajectEvent", self.app.mapper.to_domain_event(stored))
                self.keys[event.originator_id, event.originator_version] = event.idempotency_key
                if isinstance(event, ev.ProjectRegistered):
                    self.projects[event.originator_id] = event.project_code
                if type(event).special_category_fields():
                    self.special_kinds[event.originator_id, event.originator_version] = type(event)
                if isinstance(event, ev.PersonRegistered):
                    if event.originator_id in self.pulled:
                        continue  # written before the first fact that named this member
                    self.registered.add(event.originator_id)
                if streams is not None and event.originator_id not in streams:
                    continue
                if not self._in_period(event):
                    continue
                if isinstance(event, NAMING_MEMBERS):
                    selected.extend(self._registered_first(event))
                selected.append(event)
            withheld = self._disclose(selected)
            for event in selected:
                yield self.line(event, withheld.get(event.originator_id, frozenset()))
            if on_progress is not None:
                on_progress(len(page))

    # --- special-category values ------------------------------------------------------------

    def _special(self, event: ev.TrajectEvent) -> frozenset[str]:
        target = None
        if isinstance(event, ev.EventCorrected):
            target = self.special_kinds.get((event.originator_id, event.target_version))
        return special_values(event, target)

    def _disclose(self, events: Sequence[ev.TrajectEvent]) -> dict[UUID, frozenset[str]]:
        """The special-category fields left out of the lines of ``events`` (a page), by stream.

        All of them from a pseudonymised export or one without a purpose. Else the reads of the
        persons whose values the page holds are recorded first (one per person and export, the
        page's in one batch), and the values of those whose read could not be recorded are left
        out.
        """
        found: dict[UUID, set[str]] = {}
        for event in events:
            names = self._special(event)
            if names:
                found.setdefault(event.originator_id, set()).update(names)
        if not found:
            return {}
        everything = {person: frozenset(names) for person, names in found.items()}
        if not self.include_personal:
            self.reads.leave_out(Withheld.PSEUDONYMISED, found)
            return everything
        if self.reading is None or not self.reading.purpose:
            self.reads.leave_out(Withheld.NO_PURPOSE, found)
            return everything
        new = {
            person: names
            for person, names in found.items()
            if not names <= self.recorded_fields.get(person, set())
        }
        failed = self._record_reads(self.reading, new) if new else set()
        return {person: everything[person] for person in failed}

    def _record_reads(self, reading: Reading, new: dict[UUID, set[str]]) -> set[UUID]:
        """Record the reads of ``new`` (person → fields) in one batch; the persons whose read
        was not recorded."""
        persons = list(new)
        writes = [
            Write(ev.SpecialCategoryRead, read_fields(reading, sorted(new[p])), subject=p)
            for p in persons
        ]
        try:
            outcomes = BatchWriter(self.app).write(writes)
        except Exception as error:
            reason = unrecorded(error)
            if reason is None:
                raise
            self.reads.leave_out(reason[0], persons, reason[1])
            return set(persons)
        failed: set[UUID] = set()
        for person, outcome in zip(persons, outcomes, strict=True):
            if isinstance(outcome, TrajectError):
                self.reads.leave_out(Withheld.NOT_RECORDED, [person], str(outcome))
                failed.add(person)
            else:
                self.recorded_fields.setdefault(person, set()).update(new[person])
                self.reads.recorded.add(person)
        return failed

    def _selected(self, event: ev.TrajectEvent) -> bool:
        in_streams = self.streams is None or event.originator_id in self.streams
        return in_streams and self._in_period(event)

    def _registered_first(self, event: ev.TrajectEvent) -> list[ev.TrajectEvent]:
        """The registration of the member ``event`` names (an arrival's ``member_person_id``, or a
        correction setting it), when it is selected and not written yet: a ledger written before
        an arrival had to name a registered person can hold the arrival first, and an import
        would refuse it. Read from the store (the member's version 1) and written here, it is
        skipped when storage order reaches it. A registration depends only on the one its
        ``household_id`` names, its referent's, which comes earlier (the referent's own stream
        holds the arrival); one naming a person not written yet is left where it is."""
        if isinstance(event, ev.NareizigerArrived):
            member = event.member_person_id
        elif isinstance(event, ev.EventCorrected):
            member = as_id(event.changes.get("member_person_id"))
        else:
            return []
        if member is None or member in self.registered:
            return []
        stored = self.app.recorder.select_events(member, lte=1, limit=1)
        if not stored:
            return []
        found = cast("ev.TrajectEvent", self.app.mapper.to_domain_event(stored[0]))
        if not isinstance(found, ev.PersonRegistered) or not self._selected(found):
            return []
        if found.household_id not in (None, member) and found.household_id not in self.registered:
            return []
        self.registered.add(member)
        self.pulled.add(member)
        self.keys[member, 1] = found.idempotency_key
        if type(found).special_category_fields():
            self.special_kinds[member, 1] = type(found)
        self._refs_of([member])
        return [found]

    def _in_period(self, event: ev.TrajectEvent) -> bool:
        s = self.selection
        if s.occurred_from is not None and event.occurred_on < s.occurred_from:
            return False
        return s.occurred_to is None or event.occurred_on <= s.occurred_to

    def _selected_streams(self) -> set[UUID]:
        """Whole streams: the person's, or every stream with a fact in the municipality and
        the streams of the AMIF projects those take part in (a partner's participants refer
        to a project another municipality registered: without it they would not import)."""
        s = self.selection
        if s.person_id is not None:
            return {s.person_id}
        found: set[UUID] = set()
        projects: dict[UUID, set[str]] = {}  # the project codes each stream's facts name
        start = 0
        while True:
            page = self.app.recorder.select_notifications(start, PAGE, inclusive_of_start=False)
            if not page:
                break
            start = page[-1].id
            for stored in page:
                # municipality and project_id are never personal: in clear
                state = orjson.loads(stored.state)
                stream = UUID(str(stored.originator_id))
                if state.get("municipality") == s.municipality:
                    found.add(stream)
                changes = state.get("changes")
                for fields in (state, changes if isinstance(changes, dict) else {}):
                    if isinstance(fields.get("project_id"), str):
                        projects.setdefault(stream, set()).add(fields["project_id"])
        codes = set().union(*(projects.get(stream, set()) for stream in found))
        return found | {ev.project_stream_id(code) for code in codes}

    def _refs_of(self, persons: Iterable[UUID]) -> None:
        """Read the external keys of ``persons`` (just registered) for their lines."""
        wanted = set(persons)
        if wanted and self.include_personal:
            found = self.app.tables.external_refs_of(wanted)
            self.refs.update({p: found.get(p) for p in wanted})

    def line(
        self, event: ev.TrajectEvent, withheld: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """One event as an import line object, the values of the special-category fields
        ``withheld`` left out (named under ``_withheld``)."""
        left_out = sorted(self._special(event) & withheld)
        event = withhold(event, left_out)
        cls = type(event)
        stream_id = event.originator_id
        line: dict[str, Any] = {"kind": cli_name(cls)}
        if cls.stream is ev.StreamKind.MUNICIPALITY:
            line["municipality"] = event.municipality
        elif cls.stream is ev.StreamKind.PROJECT:
            line["project"] = self.projects.get(stream_id, str(stream_id))
        elif stream_id in self.projects:
            line["project"] = self.projects[stream_id]  # a control event on a project stream
        elif isinstance(event, ev.CONTROL_EVENTS) and self._municipality_stream(event):
            line["municipality"] = event.municipality
        else:
            ref = self.refs.get(stream_id)
            if ref is not None:
                line["person"] = ref
            if ref is None or isinstance(event, ev.PersonRegistered):
                line["person_id"] = str(stream_id)
        dumped = event.model_dump(mode="json", exclude=NOT_EXPORTED)
        line["occurred_on"] = dumped.pop("occurred_on")
        line["recorded_at"] = event.timestamp.isoformat()
        recorder = dumped.pop("recorded_by")
        if self.include_personal:
            line["recorded_by"] = recorder
        if not dumped.get("idempotency_key"):
            dumped.pop("idempotency_key", None)
        else:
            dumped["idempotency_key"] = self._key_text(dumped["idempotency_key"])
        if not dumped.get("evidence"):
            dumped.pop("evidence", None)
        if isinstance(event, ev.EventCorrected | ev.EventRetracted):
            line |= self._control(event, dumped)
        else:
            dumped = self._staff_pseudonyms(cls, dumped)
            personal = cls.personal_fields()
            hidden = {k: v for k, v in dumped.items() if k in personal and v is not None}
            line |= {k: v for k, v in dumped.items() if k not in personal and v is not None}
            if self.include_personal:
                line |= hidden
            elif hidden:
                assert self.key is not None
                line["_pseudonyms"] = {k: pseudonym(self.key, k, v) for k, v in hidden.items()}
        if isinstance(event, ev.PersonalDataShredded):
            line.pop("_pseudonyms", None)
        if left_out:
            line[WITHHELD_KEY] = left_out
        if self.key is not None:
            # last, so that the line without it is the line of an export before recorders
            # were exported (an import derives a line's key without its recorder)
            line.setdefault("_pseudonyms", {})["recorded_by"] = self._staff_text(recorder)
        return line

    def _staff_text(self, name: str) -> str:
        """A member of staff's pseudonym, as recorder or named in a field: the same for both, and
        the recorder's of earlier exports (a few members of staff record millions of facts and
        are named in as many: kept)."""
        found = self.staff.get(name)
        if found is None:
            assert self.key is not None
            found = self.staff[name] = pseudonym(self.key, "recorded_by", name)
        return found

    def _staff_pseudonyms(
        self, kind: type[ev.TrajectEvent] | None, values: dict[str, Any]
    ) -> dict[str, Any]:
        """``values`` (fields of an event of ``kind`` by name) with the names of staff among them
        replaced by their pseudonyms, in a pseudonymised export; as they are otherwise."""
        names = kind.staff_fields() if kind is not None and self.key is not None else None
        if not names:
            return values
        return {
            k: self._staff_text(v) if k in names and v is not None else v for k, v in values.items()
        }

    def _corrected_kind(self, event: ev.EventCorrected) -> type[ev.TrajectEvent]:
        """The class of the event ``event`` corrects, read from the store: only for the rare
        correction that sets a field some kind uses for a name of staff (kept in memory for
        every event, the classes would grow with the ledger)."""
        stored = self.app.recorder.select_events(
            event.originator_id, gt=event.target_version - 1, lte=event.target_version, limit=1
        )
        return type(cast("ev.TrajectEvent", self.app.mapper.to_domain_event(stored[0])))

    def _key_text(self, key: str) -> str:
        """An idempotency key as exported: pseudonymised too (a source's key may name someone)."""
        return key if self.key is None else pseudonym(self.key, "idempotency_key", key)

    def _municipality_stream(self, event: ev.TrajectEvent) -> bool:
        return event.originator_id == ev.municipality_stream_id(event.municipality)

    def _control(
        self, event: ev.EventCorrected | ev.EventRetracted, dumped: dict[str, Any]
    ) -> dict[str, Any]:
        target_key = self.keys.get((event.originator_id, event.target_version))
        out: dict[str, Any] = {
            "target": self._key_text(target_key) if target_key else event.target_version,
            "source": dumped["source"],
        }
        for name in ("idempotency_key", "evidence"):
            if name in dumped:
                out[name] = dumped[name]
        out["reason"] = event.reason if self.include_personal else WITHHELD
        if event.reason is None:
            out["reason"] = "erased"
        if isinstance(event, ev.EventCorrected):
            changes = dict(event.changes)
            if self.key is not None and staff_field_names().intersection(changes):
                changes = self._staff_pseudonyms(self._corrected_kind(event), changes)
            personal = event.personal_changes or {}
            if self.include_personal:
                changes |= personal
            elif personal:
                assert self.key is not None
                out["_pseudonyms"] = {k: pseudonym(self.key, k, v) for k, v in personal.items()}
            out["changes"] = changes
        return out
