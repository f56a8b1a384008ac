"""TrajectoryLedger: the only write API, and the small per-stream reads.

Every write is: load the stream → build and validate the event → the aggregate checks its
rules → save. A save appends the event, its idempotency key and index rows in one transaction.
A concurrent write to the same stream makes the save fail on the (stream, version) key; the
write is then retried on the fresh stream, so rules are checked again and nothing is lost or
doubled. A rule that reads other streams (an AMIF enrolment against its project's eligibility
window, ``ledger.enrolments``; an erasure against the projects' legal holds) notes what it read,
and the save commits only if that has not moved on either. A save whose idempotency key is
already present appends nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import getpass
import json
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import groupby
from operator import attrgetter
from typing import Any, NamedTuple, cast, get_args
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    InternalError,
    Mapper,
    OperationalError,
)
from eventsourcing.utils import Environment, get_topic
from pydantic import ValidationError

from ledger import events as ev
from ledger.aggregates import (
    AGGREGATE_CLASSES,
    DERIVED_FIELDS,
    LEDGER_TIMEZONE,
    Municipality,
    Project,
    StreamAggregate,
    Trajectory,
    TrajectoryState,
    as_it_stood,
    corrected_event,
    dutch_day,
    project_stream,
    recorded_day,
)
from ledger.crypto import SHREDDED, KeyRing
from ledger.enrolments import (
    CHANGE_TOPICS,
    ENROLLED_TOPIC,
    WINDOW_TOPICS,
    check_across_streams,
    effective_enrolments,
)
from ledger.errors import (
    AmbiguousReferenceError,
    ConcurrentModificationError,
    DuplicateExternalRefError,
    DuplicatePersonError,
    Enrolment,
    IdempotencyKeyReusedError,
    MasterKeyError,
    PersonNotFoundError,
    PersonReferenceError,
    PurgeError,
    RetentionHoldError,
    RuleViolationError,
    SealNotFoundError,
    StreamNotFoundError,
    TrajectError,
    UnchangedCorrectionError,
    ValidationFailedError,
    permission_error,
    raised_in_database,
    validation_problems,
)
from ledger.households import (
    MEMBERSHIP_TOPICS,
    REGISTERED_TOPIC,
    check_household,
    check_referent_change,
    household_members,
)
from ledger.idempotency import correction_target, fact_differences
from ledger.persistence import (
    MASTER_KEY_CHECK,
    MASTER_KEY_ROTATED,
    NOTHING_PENDING,
    PURGE_PENDING,
    ExternalRefRow,
    Guard,
    IdempotencyRow,
    PersonIndexRow,
    Progress,
    Purge,
    PydanticMapper,
    Rotation,
    StreamGuard,
    TopicGuard,
    TrajectTables,
    names_uuid,
)
from ledger.retention import Hold, ProjectFacts, RetentionStatus, assess
from ledger.seals import canonical_digest, canonical_json, check_seals, without_basis
from ledger.special import (
    Disclosure,
    Reading,
    Withheld,
    special_values,
    target_class,
    values_in,
    withhold,
)
from ledger.values import GEMEENTE_PATTERN, HousingRoute, normalise_bsn

ACROSS_STREAMS = frozenset(
    {
        ev.ParticipantEnrolled,
        ev.EventCorrected,
        ev.EventRetracted,
        ev.PersonRegistered,
        ev.Housed,
        ev.TenancySigned,
        ev.NareizigerArrived,
    }
)
"""The facts whose rules may read other streams than their own (``ledger.enrolments``,
``ledger.households``)."""
MAX_ATTEMPTS = 8
RETRY_BACKOFF_SECONDS = 0.005
READ_PAGE = 1000  # notifications per page when every recorded read is listed
SCHEMA_VERSION = "1"
LEDGER_ID_SETTING = "ledger_id"
"""The setting that holds the ledger's own id (:meth:`TrajectoryLedger.ledger_id`)."""
PERSON_PREFIX_MIN = 6  # the shortest prefix of a person id that finds a person
HEX_REFERENCE = re.compile(r"[0-9a-f-]+")  # what a person's id, or a prefix of it, is made of
PROJECT_PREFIX = "project:"  # names a project's stream where its code could be a person's prefix
NO_STREAM = UUID(int=0)
"""No stream's id: what an external key that names no person is compared as."""
ReadChanges = Callable[[type[ev.TrajectEvent], Mapping[str, Any]], Mapping[str, Any]]
"""A caller's reading of a correction's values given as text, for the target's kind."""

current_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_actor", default=None
)


def default_actor() -> str:
    return current_actor.get() or getpass.getuser()


class Recorded(NamedTuple):
    """The outcome of a write (a named tuple: immutable and cheap to make, one per fact)."""

    stream_id: UUID
    version: int
    kind: str
    warnings: tuple[str, ...] = ()
    duplicate: bool = False


class BsnMove(NamedTuple):
    """What an event does to its person's entry in the BSN index: the keyed hash of the BSN
    before it (None: none, or a new person) and after it (None: no BSN)."""

    old: str | None
    new: str | None


class Erasure(NamedTuple):
    """The outcome of an erasure: the recorded PersonalDataShredded, and the purge of the key."""

    recorded: Recorded
    purge: Purge


@dataclass(frozen=True)
class TimelineEntry:
    """One stored event of a stream, with what later events did to it."""

    event: ev.TrajectEvent
    effective: ev.TrajectEvent | None  # None when retracted
    corrected_by: tuple[int, ...] = ()
    retracted_by: int | None = None
    withheld: tuple[str, ...] = ()  # special-category fields whose values are left out

    @property
    def version(self) -> int:
        return self.event.originator_version

    @property
    def kind(self) -> str:
        return type(self.event).__name__


@dataclass(frozen=True)
class Timeline:
    stream_id: UUID
    as_known_at: datetime | None
    entries: tuple[TimelineEntry, ...]
    erased: bool = False
    disclosure: Disclosure = field(default_factory=Disclosure)  # its special-category values


def stream_not_found(stream: ev.StreamKind, ref: UUID | str) -> StreamNotFoundError:
    """The refusal of a stream of kind ``stream`` that ``ref`` names and the ledger lacks: a
    person, a municipality without facts (its stream is its first fact's), a project."""
    if stream is ev.StreamKind.PERSON:
        return PersonNotFoundError(ref)
    if stream is ev.StreamKind.MUNICIPALITY:
        return StreamNotFoundError("fact of municipality", ref)
    return StreamNotFoundError(stream.value, ref)


def _is_bsn(text: str) -> bool:
    """Whether ``text`` is a valid BSN (in any of the forms a BSN option takes)."""
    try:
        normalise_bsn(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class PersonSummary:
    person_id: UUID
    registration: ev.PersonRegistered
    version: int
    municipality: str | None
    status: dict[str, str] = field(default_factory=dict)
    erased: bool = False


def latest_rung(trajectory: Trajectory) -> str:
    """``3 on 2026-11-01 (r.jansen)``: the latest effective Participatieladder assessment (the
    latest date; of one day, the one recorded last), or ``-``."""
    assessed = [e for e in trajectory.effective.values() if isinstance(e, ev.LadderAssessed)]
    if not assessed:
        return "-"
    latest = max(assessed, key=lambda e: (e.occurred_on, e.originator_version))
    return f"{latest.rung} on {latest.occurred_on} ({latest.assessor})"


def case_status(s: TrajectoryState) -> str:
    """``open``, ``closed``, ``deceased`` or ``moved out on 2026-03-04``: a move-out ends the
    case where the person lived (as the caseload counts it) until a later arrival (housing,
    BRP registration, koppeling) or a reopening."""
    if s.closed:
        return "closed"
    if s.deceased_on:
        return "deceased"
    if s.moved_out_on:
        return f"moved out on {s.moved_out_on}"
    return "open"


def corrections_in_short(trajectory: Trajectory) -> str:
    """What was corrected and retracted in a person's stream, with the latest correction's
    day, recorder and reason, so that ``person show`` says its values are not all as first
    recorded: ``v3, v5 corrected; v8 retracted; latest: v12 on 2026-12-07 by a.bakker (typo);
    see traject timeline``, or ``none``."""
    compensations = [
        e
        for e in trajectory.stored.values()
        if isinstance(e, ev.EventCorrected | ev.EventRetracted)
    ]
    if not compensations:
        return "none"
    parts = []
    if trajectory.corrected_by:
        parts.append(", ".join(f"v{v}" for v in sorted(trajectory.corrected_by)) + " corrected")
    if trajectory.retracted_by:
        parts.append(", ".join(f"v{v}" for v in sorted(trajectory.retracted_by)) + " retracted")
    last = compensations[-1]
    why = f" ({last.reason})" if last.reason else ""  # none once the person's data is erased
    parts.append(
        f"latest: v{last.originator_version} on {recorded_day(last)} by {last.recorded_by}"
        f"{why}; see traject timeline"
    )
    return "; ".join(parts)


def check_recorded_at(
    aggregate: StreamAggregate, event: ev.TrajectEvent, earlier: datetime | None = None
) -> None:
    """The rules for a recorded time given by an import (``recorded_at``), not by the clock.

    It is the source's statement of when it recorded the fact; it must be aware, not in the
    future, not before the day the fact happened (Dutch time), and not before the last recorded
    time of the stream, so each stream's recorded times stay in order. ``earlier`` is a reading
    of the clock taken before (a batch's): a time not after it is not in the future, and the
    clock is read again only for one after it.

    Raises:
        RuleViolationError: field ``recorded_at``.
    """
    kind = type(event).__name__
    moment = event.timestamp
    if (earlier is None or moment > earlier) and moment > datetime.now(UTC):
        raise RuleViolationError(kind, "recorded_at", "must not be in the future")
    if recorded_day(event) < event.occurred_on:
        raise RuleViolationError(
            kind,
            "recorded_at",
            f"must not be before the day it happened ({event.occurred_on}, Europe/Amsterdam)",
        )
    last = aggregate.stored.get(aggregate.version)
    if last is not None and moment < last.timestamp:
        raise RuleViolationError(
            kind,
            "recorded_at",
            f"must not be before the stream's last recorded time "
            f"({last.timestamp.astimezone(UTC).isoformat()})",
        )


def read_fields(reading: Reading, field_names: Sequence[str]) -> dict[str, Any]:
    """The fields of a SpecialCategoryRead by the current user (kept as ``read_by``)."""
    return {
        "read_by": default_actor(),
        "command": reading.command,
        "field_names": tuple(field_names),
        "purpose": reading.purpose,
    }


def unrecorded(error: Exception) -> tuple[Withheld, str] | None:
    """Why the read of special-category values was not recorded, when ``error`` (raised by its
    append) means the values are withheld, with what the store said; None for a bug.

    The database user may not append (PostgreSQL's "permission denied": the auditor and analyst
    roles), or the append failed: refused by a rule or by the database (a trigger), lost to
    concurrent writers, the store locked or gone."""
    denied = permission_error(error)
    if denied is not None:
        return Withheld.NOT_PERMITTED, _first_line(denied)
    if isinstance(error, TrajectError | OperationalError | InterfaceError | InternalError):
        return Withheld.NOT_RECORDED, _first_line(error)
    refused = raised_in_database(error)
    if refused is not None:
        return Withheld.NOT_RECORDED, _first_line(refused)
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def as_day(value: date | str | None, kind: str) -> date:
    """A date given as a date or ISO text; None is today (Dutch time).

    Raises:
        ValidationFailedError: field ``occurred_on`` of ``kind``.
    """
    if value is None:
        return dutch_day(datetime.now(UTC))
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailedError(kind, [("occurred_on", "not a date (YYYY-MM-DD)")]) from None


def holds_of(
    aggregate: StreamAggregate, held: str, on: date, *, erasing: bool = False
) -> tuple[Hold, ...]:
    """The legal holds of a stream open on ``on``: placed on or before it, not released on or
    before it. ``erasing``: and those open now, whatever their dates (an erasure destroys the
    key when it is recorded, so a hold not released yet refuses an erasure dated before it)."""
    holds = aggregate.open_holds(on)
    if erasing:
        holds = aggregate.open_holds() | holds
    return tuple(
        Hold(ref, held, placed.occurred_on, placed.reason) for ref, placed in sorted(holds.items())
    )


def shown_value(event: ev.TrajectEvent, name: str) -> str:
    """A field's value of ``event`` as a message shows it: in its JSON form, text without
    quotes (2024-03-04, regulier), a list's items and a mapping's KEY=N pairs as `traject
    record` takes them (SY, IQ; GM0622=40), an empty value as "no value"."""
    value = event.model_dump(mode="json", include={name})[name]
    if value is None or value in ([], {}):
        return "no value"
    if isinstance(value, list):
        return ", ".join(map(_shown, value))
    if isinstance(value, dict):
        return ", ".join(f"{k}={_shown(v)}" for k, v in value.items())
    return _shown(value)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _takes_bool(annotation: Any) -> bool:
    """Whether a field of this type annotation takes a yes/no value."""
    return annotation is bool or any(_takes_bool(arg) for arg in get_args(annotation))


class TrajectoryLedger(Application[UUID]):
    """The trajectory ledger: one stream per person, plus municipality and project streams."""

    name = "traject"
    is_snapshotting_enabled = False

    def __init__(self, env: Mapping[str, str], master_key: bytes) -> None:
        super().__init__(env=dict(env))
        self.tables = cast("TrajectTables", self.recorder)
        self._use_master_key(master_key)

    def _use_master_key(self, master_key: bytes) -> None:
        self.keyring = KeyRing(master_key, self.tables)
        cast("PydanticMapper", self.mapper).keyring = self.keyring
        self.tables.key_check = self.keyring.check_value

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        # Only the composition root reads the process environment.
        return Environment(name, dict(env or {}))

    def construct_mapper(self) -> Mapper[UUID]:
        return PydanticMapper(transcoder=self.factory.transcoder())

    # --- set-up -----------------------------------------------------------------------------

    def initialise(self, *, default_municipality: str | None = None) -> None:
        """Mark the store as a traject ledger bound to this master key."""
        # Claimed, not checked and then set: of two `traject init` with different keys at once,
        # the second would overwrite the first one's check, and the first would have reported
        # a ledger that its key no longer opens.
        stored = self.tables.claim_setting(MASTER_KEY_CHECK, self.keyring.check_value)
        if stored != self.keyring.check_value:
            msg = "this ledger was initialised with another master key"
            raise MasterKeyError(msg)
        self.tables.set_setting("schema_version", SCHEMA_VERSION)
        self.ledger_id()
        self.owner_made_settings()
        if default_municipality:
            self.tables.set_setting("default_municipality", default_municipality)

    def owner_made_settings(self) -> None:
        """Make the settings that staff change but may not add (``ledger.roles``): the mark
        of an erasure awaiting a purge, empty. By ``traject init`` and ``traject admin
        roles`` (for a ledger initialised before), as the owner."""
        self.tables.claim_setting(PURGE_PENDING, NOTHING_PENDING)

    def ledger_id(self) -> str:
        """This ledger's own id, a random UUID: claimed by ``traject init`` (or, for a ledger
        initialised before ledgers had one, by the first use that asks for it) and kept for
        good. It names the ledger in its checkpoints, wherever its files are moved."""
        return self.tables.claim_setting(LEDGER_ID_SETTING, str(uuid4()))

    def stored_ledger_id(self) -> str | None:
        """This ledger's own id when it has one, read without claiming it (a read-only role
        may ask)."""
        return self.tables.get_setting(LEDGER_ID_SETTING)

    def verify_master_key(self) -> None:
        stored = self.tables.get_setting(MASTER_KEY_CHECK)
        if stored is None:
            msg = "this database is not a traject ledger yet: run `traject init`"
            raise TrajectError(msg)
        if stored != self.keyring.check_value:
            msg = (
                "the master key does not match this ledger: check TRAJECT_MASTER_KEY or the "
                "key file (TRAJECT_KEY_FILE)"
            )
            rotated = self.tables.get_setting(MASTER_KEY_ROTATED)
            if rotated is not None:
                when = f"{rotated[:10]} {rotated[11:16]} UTC"
                msg += f"; the master key was replaced on {when}: use the new one"
            raise MasterKeyError(msg)
        self.keyring.verified = True

    def rotate_master_key(
        self, new_master_key: bytes, *, progress: Progress | None = None
    ) -> Rotation:
        """Move the ledger to a new master key, in one transaction; the old key opens nothing
        in the database from then on. This ledger object uses the new key afterwards.

        Every data key is re-wrapped under the new key (a destroyed one stays destroyed), the
        BSN index is recomputed under the new BSN key (an erased person's entry is removed),
        and the check value is replaced. The events are not touched. Then the old key bytes
        are purged from the database's files, as after an erasure; the outcome says what is
        left when that could not be done.

        Raises:
            MasterKeyError: the new key is the current one, or this ledger's key is not (any
                more) the ledger's.
            KeyRotationError: PostgreSQL: the user does not own the tables, or they could not
                be locked; an index entry does not match its registration. Nothing changed.
        """
        if KeyRing(new_master_key, self.tables).check_value == self.keyring.check_value:
            msg = "the new master key is the current one: a rotation needs a different key"
            raise MasterKeyError(msg)
        rotation = self.tables.rotate_master_key(self.keyring, new_master_key, progress)
        self._use_master_key(new_master_key)
        return rotation

    @property
    def default_municipality(self) -> str | None:
        return self.tables.get_setting("default_municipality")

    # --- writes -----------------------------------------------------------------------------

    def register_person(
        self,
        *,
        external_ref: str | None = None,
        person_id: UUID | None = None,
        recorded_at: datetime | None = None,
        **fields: Any,
    ) -> Recorded:
        """Register a new person: a new stream whose first event is PersonRegistered.

        ``external_ref`` (a source system's key, e.g. a client number) is stored with the
        registration, in the same transaction; ``person_by_external_ref`` finds it again.
        ``person_id`` registers under a given id (an import of an export keeps its ids; default:
        a new random id). ``recorded_at`` is an import's recorded time (see ``record``).

        Raises:
            ValidationFailedError: a field is missing or malformed (e.g. the BSN 11-proef).
            DuplicatePersonError: a person with this BSN exists.
            DuplicateExternalRefError: a person with this external key exists.
            RuleViolationError: a stream with this ``person_id`` exists, or a bad recorded_at.
        """
        return self._append(
            person_id or uuid4(),
            ev.PersonRegistered,
            fields,
            new_stream=True,
            fresh=person_id is None,
            external_ref=external_ref,
            recorded_at=recorded_at,
        )

    def person_by_external_ref(self, source_key: str) -> UUID | None:
        """The person registered with this external key (``register_person(external_ref=…)``)."""
        return self.tables.person_by_external_ref(source_key)

    def record(
        self,
        stream_id: UUID,
        kind: type[ev.TrajectEvent],
        *,
        recorded_at: datetime | None = None,
        **fields: Any,
    ) -> Recorded:
        """Append one fact to an existing stream (person) or to a municipality/project stream.

        ``recorded_at`` (imports and migrations only) is when the source system recorded the
        fact: it becomes the event's ``timestamp`` instead of now. It must have a UTC offset,
        must not be in the future, nor before the start (Dutch time) of ``occurred_on``, nor
        before the last recorded time of the stream (``check_recorded_at``).

        Raises:
            ValidationFailedError, RuleViolationError, PersonNotFoundError,
            ConcurrentModificationError.
        """
        if kind is ev.PersonRegistered:
            return self.register_person(recorded_at=recorded_at, **fields)
        if kind is ev.SpecialCategoryRead:
            msg = (
                "a SpecialCategoryRead is recorded by the command that shows the values "
                "(traject timeline --purpose, traject export --include-personal --purpose)"
            )
            raise TrajectError(msg)
        if kind in ev.CONTROL_EVENTS:
            msg = (
                "use correct/retract/shred/hold/release/schedule-retention/report seal for "
                f"{kind.__name__}"
            )
            raise TrajectError(msg)
        new_stream = kind.stream is not ev.StreamKind.PERSON
        return self._append(stream_id, kind, fields, new_stream=new_stream, recorded_at=recorded_at)

    def record_for_municipality(
        self, code: str, kind: type[ev.TrajectEvent], **fields: Any
    ) -> Recorded:
        fields.setdefault("municipality", code)
        return self.record(ev.municipality_stream_id(code), kind, **fields)

    def record_for_project(self, code: str, kind: type[ev.TrajectEvent], **fields: Any) -> Recorded:
        if kind is ev.ProjectRegistered:
            fields.setdefault("project_code", code)
        return self.record(ev.project_stream_id(code), kind, **fields)

    def record_on(
        self, subject: UUID | str, kind: type[ev.TrajectEvent], **fields: Any
    ) -> Recorded:
        """Append to the stream ``kind`` belongs on: a person's (``subject`` is the person id),
        a municipality's (its CBS code) or a project's (its code)."""
        if kind.stream is ev.StreamKind.MUNICIPALITY:
            return self.record_for_municipality(str(subject), kind, **fields)
        if kind.stream is ev.StreamKind.PROJECT:
            return self.record_for_project(str(subject), kind, **fields)
        person_id = subject if isinstance(subject, UUID) else UUID(subject)
        return self.record(person_id, kind, **fields)

    def correct(
        self,
        stream_id: UUID,
        target_version: int,
        changes: Mapping[str, Any],
        *,
        reason: str,
        recorded_at: datetime | None = None,
        read: ReadChanges | None = None,
        **envelope: Any,
    ) -> Recorded:
        """Append an EventCorrected with new values for fields of an earlier event.

        Values may be given as text (as the CLI does); they are validated by the target event's
        own model, and stored in their JSON form. ``read``: the caller's reading of the values
        for the target's kind (the command line's option types), before the model's check.
        ``recorded_at``: as for ``record``.
        """

        def build(aggregate: StreamAggregate) -> dict[str, Any]:
            return self.correction_fields(
                aggregate, target_version, changes, reason, envelope, read=read
            )

        return self._append(
            stream_id, ev.EventCorrected, build, new_stream=False, recorded_at=recorded_at
        )

    def correction_fields(
        self,
        aggregate: StreamAggregate,
        target_version: int,
        changes: Mapping[str, Any],
        reason: str,
        envelope: Mapping[str, Any],
        *,
        read: ReadChanges | None = None,
        refuse_unchanged: bool = True,
    ) -> dict[str, Any]:
        """The fields of an EventCorrected of ``target_version`` on the loaded ``aggregate``;
        ``read``: as for :meth:`correct`, given the known fields of a correctable target.
        ``refuse_unchanged``: a correction that changes nothing is refused; an import records
        it as given (a history moved from another ledger keeps every fact, and with it the
        version numbers its later lines target).

        Raises:
            ValidationFailedError: an unknown field, no change, or a value the target refuses.
            UnchangedCorrectionError: the correction changes nothing (``refuse_unchanged``).
        """
        target = aggregate.stored.get(target_version)
        if target is None or target_version in aggregate.retracted_by:
            # let the aggregate's rule produce the precise message
            return {"target_version": target_version, "reason": reason, **envelope}
        if isinstance(target, ev.CONTROL_EVENTS):
            return {"target_version": target_version, "reason": reason, **envelope}
        allowed = set(type(target).payload_fields()) | ev.CORRECTABLE_ENVELOPE_FIELDS
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise ValidationFailedError(
                f"EventCorrected of {type(target).__name__}",
                [
                    (
                        name,
                        f"{type(target).__name__} has no correctable field {name!r} "
                        f"(fields: {', '.join(sorted(allowed))})",
                    )
                    for name in unknown
                ],
            )
        if not changes:
            raise ValidationFailedError("EventCorrected", [("set", "give at least one field")])
        if read is not None:
            changes = read(type(target), changes)
        fields = type(target).model_fields
        flags = [  # the model would read true as 1: a yes/no is only a flag's value
            (name, f"got {str(value).lower()}, a yes/no value; this field is not yes/no")
            for name, value in changes.items()
            if isinstance(value, bool) and not _takes_bool(fields[name].annotation)
        ]
        if flags:
            raise ValidationFailedError(f"EventCorrected of {type(target).__name__}", flags)
        current = aggregate.effective[target_version]
        state = current.model_dump(mode="json")
        # one text value for a list field (`--set nationality=IQ`) is a list of one
        state |= {
            k: [v] if isinstance(v, str) and isinstance(state.get(k), list) else v
            for k, v in changes.items()
        }
        rederived: tuple[str, ...] = ()
        reads, writes = DERIVED_FIELDS.get(type(target), (frozenset(), ()))
        if reads & set(changes) and not set(writes) & set(changes):
            rederived = writes
            state.update(dict.fromkeys(writes))
        try:
            validated = type(target).model_validate(state)
            if rederived:
                # derive as when the event was first recorded: from the stream before it
                fields = aggregate.before(target_version).derive(type(target), dict(validated))
                validated = type(target).model_validate(fields)
        except ValidationError as error:
            raise ValidationFailedError(
                f"EventCorrected of {type(target).__name__}", validation_problems(error)
            ) from None
        personal = type(target).personal_fields()
        changed = (*changes, *rederived)
        if refuse_unchanged and all(getattr(validated, k) == getattr(current, k) for k in changed):
            raise UnchangedCorrectionError(
                f"EventCorrected of {type(target).__name__}",
                target_version,
                [(k, None if k in personal else shown_value(current, k)) for k in changes],
            )
        dumped = validated.model_dump(mode="json")
        return {
            "target_version": target_version,
            "changes": {k: dumped[k] for k in (*changes, *rederived) if k not in personal},
            "personal_changes": {k: dumped[k] for k in changes if k in personal} or None,
            "reason": reason,
            **envelope,
        }

    def retract(
        self,
        stream_id: UUID,
        target_version: int,
        *,
        reason: str,
        recorded_at: datetime | None = None,
        **envelope: Any,
    ) -> Recorded:
        """Append an EventRetracted: the target no longer counts, but stays in the history.

        ``recorded_at``: as for ``record``.
        """
        fields = {"target_version": target_version, "reason": reason, **envelope}
        return self._append(
            stream_id, ev.EventRetracted, fields, new_stream=False, recorded_at=recorded_at
        )

    def shred(self, person_id: UUID, *, approved_by: str, **envelope: Any) -> Erasure:
        """Erase a person's personal data: record the erasure and, in the same transaction,
        destroy the data key and forget the person's BSN hash and external keys (a source
        system's client numbers, ``traject_external_refs``); then purge the old bytes from the
        database's files as far as this user may.

        Allowed only when, on the day of erasure (``occurred_on``, default today), no retention
        basis of the person is open and no legal hold on the person or on an AMIF project they
        took part in is open (``retention``), and only once. The check runs on the stream as
        loaded for the write, so a hold placed on the person meanwhile makes the write retry
        and refuse.

        The purge's outcome says what is left when it could not be done (PostgreSQL: the
        connected user does not own the key table; SQLite: a reader held the log back); the
        erasure then stays marked as awaiting :meth:`purge_erased`.

        Raises:
            RuleViolationError: the person was erased before (field ``person``: "already
                erased on <date>").
            RetentionHoldError: a basis or a hold is open; the message names each with its
                date or reason.
        """

        guards: list[Guard] = []  # the projects' streams as the check read them
        self.tables.has_external_refs()  # known before the erasure's transaction asks

        def build(aggregate: StreamAggregate) -> dict[str, Any]:
            guards.clear()
            if isinstance(aggregate, Trajectory):
                aggregate.check_not_erased()
                status = self.retention_of(
                    aggregate,
                    as_day(envelope.get("occurred_on"), "PersonalDataShredded"),
                    lambda code: self._guarded_project(code, guards),
                    erasing=True,
                )
                if not status.erasable:
                    raise RetentionHoldError(person_id, status.on, status.refusals())
            return {"approved_by": approved_by, **envelope}

        recorded = self._append(
            person_id, ev.PersonalDataShredded, build, new_stream=False, guards=guards, erases=True
        )
        self.keyring.shredded(person_id)
        return Erasure(recorded, self.tables.purge_erased_keys())

    def purge_erased(self) -> Purge:
        """Remove the old bytes of every destroyed data key from the database's files.

        SQLite: checkpoint the write-ahead log and empty it. PostgreSQL: rewrite the key table
        into a new file, as its owner.

        Raises:
            PurgeError: the purge could not be done; the message says why and what to run.
        """
        purge = self.tables.purge_erased_keys()
        if not purge.done:
            raise PurgeError(purge.detail)
        return purge

    def place_hold(
        self, subject: UUID | str, *, hold_ref: str, reason: str, **envelope: Any
    ) -> Recorded:
        """Place a legal hold on a person (``subject`` a person id) or on every participant of
        an AMIF project (``subject`` its code): erasure is refused until it is released.

        Raises:
            RuleViolationError: a hold with this reference is open on the stream already.
            PersonNotFoundError, StreamNotFoundError: no such person or project.
        """
        fields = {"hold_ref": hold_ref, "reason": reason, **envelope}
        return self._append_hold(subject, ev.LegalHoldPlaced, fields)

    def release_hold(
        self, subject: UUID | str, *, hold_ref: str, reason: str, **envelope: Any
    ) -> Recorded:
        """Release an open legal hold of a person or a project (as ``place_hold``).

        Raises:
            RuleViolationError: no open hold with this reference on the stream.
        """
        fields = {"hold_ref": hold_ref, "reason": reason, **envelope}
        return self._append_hold(subject, ev.LegalHoldReleased, fields)

    def _append_hold(
        self, subject: UUID | str, kind: type[ev.TrajectEvent], fields: dict[str, Any]
    ) -> Recorded:
        if isinstance(subject, str):
            project = self._project(subject)
            if not isinstance(project, Project) or project.registered is None:
                raise StreamNotFoundError("project", subject)
            return self._append(ev.project_stream_id(subject), kind, fields, new_stream=False)

        def build(aggregate: StreamAggregate) -> dict[str, Any]:
            if not isinstance(aggregate, Trajectory):
                raise PersonNotFoundError(subject)
            return fields

        return self._append(subject, kind, build, new_stream=False)

    def seal_report(
        self,
        code: str,
        *,
        label: str,
        command: Sequence[str],
        as_known_at: datetime,
        last_notification_id: int,
        rule_version: str,
        result: Mapping[str, Any],
        read_models: Mapping[str, int],
    ) -> Recorded:
        """Seal a report's result on municipality ``code``'s stream: a ReportSealed fact with
        the result (its ``basis`` left out) as canonical JSON and its SHA-256 digest, and the
        version of each read model it was counted from (``read_models``).

        A second seal with the same label is a new seal: seals are never replaced.

        Raises:
            ValidationFailedError: a field is malformed (an empty label, a bad code).
            RuleViolationError: the result names a person (``ledger.seals.PERSON_KEYS``).
        """
        payload = without_basis(dict(result))
        fields = {
            "label": label,
            "command": tuple(command),
            "as_known_at": as_known_at,
            "last_notification_id": last_notification_id,
            "rule_version": rule_version,
            "digest": canonical_digest(payload),
            "result_json": canonical_json(payload).decode(),
            "read_models": dict(read_models),
            "municipality": code,
        }
        return self._append(
            ev.municipality_stream_id(code), ev.ReportSealed, fields, new_stream=True
        )

    def sealed_reports(self, code: str) -> list[ev.ReportSealed]:
        """The reports sealed on municipality ``code``'s stream, oldest first."""
        stream = ev.municipality_stream_id(code)
        return [e for e in self.stream_events(stream) if isinstance(e, ev.ReportSealed)]

    def sealed_report(self, code: str, version: int) -> ev.ReportSealed:
        """The seal at ``version`` of municipality ``code``'s stream, its figures checked
        against its digest (``ledger.seals.seal_problem``, as when it was recorded).

        Raises:
            SealNotFoundError: no seal at that version.
            SealAlteredError: its stored figures are not the ones it sealed: the stored event
                was altered after it was recorded.
        """
        for seal in self.sealed_reports(code):
            if seal.originator_version == version:
                check_seals([seal])
                return seal
        raise SealNotFoundError(code, version)

    def schedule_retention(self, person_id: UUID, *, on: date | None = None) -> list[Recorded]:
        """Record the person's retention bases as computed today (or ``on``) as
        RetentionScheduled events; a schedule already recorded is not recorded again.

        Raises:
            PersonNotFoundError.
        """
        status = self.retention(person_id, on=on)
        return [
            self._append(
                person_id,
                ev.RetentionScheduled,
                {
                    "basis": basis.kind,
                    "project_id": basis.project_id,
                    "delete_after": basis.delete_after,
                    "rule_version": basis.rule_version,
                    "occurred_on": status.on,
                    "idempotency_key": f"retention:{person_id}:{basis.label}:"
                    f"{basis.delete_after}:{basis.rule_version}",
                },
                new_stream=False,
                unchecked=frozenset({"occurred_on"}),  # the day it was computed on
            )
            for basis in status.bases
        ]

    def _append(
        self,
        stream_id: UUID,
        kind: type[ev.TrajectEvent],
        fields: Mapping[str, Any] | Any,
        *,
        new_stream: bool,
        fresh: bool = False,
        external_ref: str | None = None,
        recorded_at: datetime | None = None,
        guards: Sequence[Guard] = (),
        unchecked: frozenset[str] = frozenset(),
        erases: bool = False,
    ) -> Recorded:
        """Check and append one event, retrying when another writer got there first.

        ``fields``: the event's fields, or a function of the loaded stream that gives them (and
        may refuse). ``guards``: other streams ``fields`` read, filled in by it on each attempt;
        the append commits only if they have not moved on meanwhile. The rules that read other
        streams themselves (an enrolment's window, ``ACROSS_STREAMS``) add theirs.

        An idempotency key seen before appends nothing if it named the same fact, and is
        refused if not (:meth:`check_repeat`; ``fresh``: ``stream_id`` is a new person's new
        id, so the stream is not compared; ``unchecked``: fields a repeat may change).
        ``erases``: the event is an erasure, saved with the stream's key tombstone.
        """
        key = fields.get("idempotency_key") if isinstance(fields, Mapping) else None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if key:
                seen = self.tables.idempotent_append(key)
                if seen is not None:
                    expected = self._expected_stream(stream_id, fresh=fresh, ref=external_ref)
                    self._check_repeat(key, seen, kind, fields, expected, unchecked=unchecked)
                    return Recorded(seen[0], seen[1], kind.__name__, duplicate=True)
            aggregate = self._load(stream_id, kind, new_stream=new_stream)
            given = fields(aggregate) if callable(fields) else dict(fields)
            event = self._build(aggregate, kind, given, recorded_at)
            if recorded_at is not None:
                check_recorded_at(aggregate, event)
            reads: list[Guard] = list(guards)
            if type(event) in ACROSS_STREAMS:
                self._check_across_streams(aggregate, event, reads)
            move = self.bsn_move(aggregate, event)  # before the event changes the stream
            warnings = aggregate.record(event)
            save_kwargs: dict[str, Any] = {"guards": reads} if reads else {}
            if erases:
                save_kwargs["shredded"] = [stream_id]
            if event.idempotency_key:
                save_kwargs["idempotency"] = [
                    IdempotencyRow(event.idempotency_key, stream_id, event.originator_version)
                ]
            if self._bsn_taken(move, stream_id):
                raise DuplicatePersonError
            if move is not None:
                row = [PersonIndexRow(stream_id, move.new)]
                registered = isinstance(event, ev.PersonRegistered)
                save_kwargs["person_index" if registered else "person_index_updates"] = row
            if isinstance(event, ev.PersonRegistered) and external_ref is not None:
                if self.tables.person_by_external_ref(external_ref):
                    raise DuplicateExternalRefError(external_ref)
                save_kwargs["external_refs"] = [ExternalRefRow(external_ref, stream_id)]
            try:
                self.save(aggregate, **save_kwargs)
            except IntegrityError:
                # the index's UNIQUE BSN: another writer took this BSN first
                if self._bsn_taken(move, stream_id):
                    raise DuplicatePersonError from None
                if external_ref is not None and self.tables.person_by_external_ref(external_ref):
                    raise DuplicateExternalRefError(external_ref) from None
                if attempt == MAX_ATTEMPTS:
                    raise ConcurrentModificationError(stream_id, attempt) from None
                # Back off for a random, growing moment: writers that retry at once fall into
                # step and the same one loses every time, and a busy writer must get ahead.
                pause = RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1)
                time.sleep(random.uniform(0, pause))  # noqa: S311
                continue
            return Recorded(stream_id, event.originator_version, kind.__name__, tuple(warnings))
        raise ConcurrentModificationError(stream_id, MAX_ATTEMPTS)  # pragma: no cover

    def _bsn_taken(self, move: BsnMove | None, person_id: UUID) -> bool:
        """Whether ``move`` would give ``person_id`` a BSN another person holds."""
        if move is None or move.new is None:
            return False
        holder = self.tables.person_by_bsn_digest(move.new)
        return holder is not None and holder != person_id

    def bsn_move(self, aggregate: StreamAggregate, event: ev.TrajectEvent) -> BsnMove | None:
        """What ``event`` does to the BSN index (None: nothing), judged before ``aggregate``
        takes it: a registration enters its BSN; a correction of a registration that sets
        ``bsn`` moves the person's entry from the BSN in effect to the new one (or clears it).
        A BSN is held by one person at a time, so the new one must be free (the index's UNIQUE
        column refuses it under concurrent writers as well)."""
        if isinstance(event, ev.PersonRegistered):
            return BsnMove(None, self._bsn_digest(event.bsn))
        if not isinstance(event, ev.EventCorrected):
            return None
        changes = {**event.changes, **(event.personal_changes or {})}
        target = aggregate.effective.get(event.target_version)
        if "bsn" not in changes or not isinstance(target, ev.PersonRegistered):
            return None
        new = changes["bsn"]
        return BsnMove(self._bsn_digest(target.bsn), self._bsn_digest(str(new) if new else None))

    def _bsn_digest(self, bsn: str | None) -> str | None:
        return self.keyring.bsn_digest(bsn) if bsn else None

    def _expected_stream(self, stream_id: UUID, *, fresh: bool, ref: str | None) -> UUID | None:
        """The stream a repeated key's fact must be on: ``stream_id``; for a new person (a
        new id: any stream), the one registered with the external key ``ref`` if given."""
        if not fresh:
            return stream_id
        if ref is None:
            return None
        return self.tables.person_by_external_ref(ref) or NO_STREAM

    def _check_repeat(
        self,
        key: str,
        seen: tuple[UUID, int],
        kind: type[ev.TrajectEvent],
        fields: Mapping[str, Any] | Any,
        expected: UUID | None,
        *,
        unchecked: frozenset[str],
    ) -> None:
        aggregate = self._get(seen[0])
        recorded = aggregate.stored[seen[1]]
        self.check_repeat(
            key,
            recorded,
            kind,
            lambda: fields(as_it_stood(aggregate, seen[1])) if callable(fields) else fields,
            stream_id=expected,
            erased=lambda: self.tables.select_wrapped_key(seen[0]) == SHREDDED,
            unchecked=unchecked,
            target=correction_target(recorded, aggregate.stored),
        )

    def check_repeat(
        self,
        key: str,
        recorded: ev.TrajectEvent,
        kind: type[ev.TrajectEvent],
        given: Callable[[], Mapping[str, Any]],
        *,
        stream_id: UUID | None,
        erased: Callable[[], bool],
        unchecked: frozenset[str] = frozenset(),
        target: type[ev.TrajectEvent] | None = None,
    ) -> None:
        """Refuse a repeat of the idempotency ``key`` that does not name the fact it was used
        for (``recorded``, as first recorded): another stream (``stream_id``; None: any), another
        kind, or other values of the fields (``ledger.idempotency``). ``given``: the caller's
        fields, computed only when stream and kind are the same (a correction's from the stream
        as it stood when the key's fact was recorded: ``as_it_stood``). ``erased``: whether the
        stream's personal fields were erased (asked only if one of them differs: they are then
        left out, as they can no longer be read). ``target``: for a correction, the kind of the
        fact it changes (``ledger.idempotency.correction_target``).

        Raises:
            IdempotencyKeyReusedError: naming the recorded fact and what differs.
            ValidationFailedError: the given fields are not a valid ``kind``.
        """
        differences: list[str] = []
        if stream_id is not None and stream_id != recorded.originator_id:
            differences.append("stream")
        if type(recorded) is not kind:
            differences.append("kind")
        if not differences:
            fields = given()
            try:
                differences = fact_differences(
                    recorded, kind, fields, unchecked=unchecked, target=target
                )
                if set(differences) & kind.personal_fields() and erased():
                    differences = fact_differences(
                        recorded, kind, fields, personal=False, unchecked=unchecked, target=target
                    )
            except ValidationError as error:
                raise ValidationFailedError(kind.__name__, validation_problems(error)) from None
        if differences:
            where = (type(recorded).__name__, recorded.originator_version, recorded.originator_id)
            raise IdempotencyKeyReusedError(kind.__name__, key, where, differences)

    def _get(self, stream_id: UUID) -> StreamAggregate:
        """Load a stream, deriving its state once (raises AggregateNotFoundError)."""
        aggregate: StreamAggregate = self.repository.get(stream_id, projector_func=project_stream)
        return aggregate

    def _project(self, code: str) -> StreamAggregate:
        """A project's stream (empty when it was never registered)."""
        try:
            return self._get(ev.project_stream_id(code))
        except AggregateNotFoundError:
            return AGGREGATE_CLASSES[ev.StreamKind.PROJECT](uuid4())

    def _check_across_streams(
        self, aggregate: StreamAggregate, event: ev.TrajectEvent, guards: list[Guard]
    ) -> None:
        """The rules of ``event`` that read other streams (``ledger.enrolments``,
        ``ledger.households``), each read noted in ``guards`` for the append where it can
        change."""
        check_across_streams(
            aggregate,
            event,
            lambda code: self._guarded_project(code, guards),
            lambda project: self.enrolments(project.id, guards),
        )

        def members(referent: UUID) -> list[StreamAggregate]:
            return [
                member
                for stream_id in self.household_members(referent, guards)
                if (member := self._guarded(stream_id, guards)) is not None
            ]

        check_household(
            aggregate, event, lambda stream_id: self._guarded(stream_id, guards), members
        )
        check_referent_change(aggregate, event, members)

    def household_members(
        self, referent: UUID, guards: list[Guard] | None = None, *, make_links: bool = True
    ) -> list[UUID]:
        """The persons registered into ``referent``'s household (the referent aside), as
        their registrations stand corrected. The streams linked to the referent are read
        (``traject_stream_links``); no personal field is decrypted.

        ``guards``: noted there (a :class:`TopicGuard`), an append commits only if no
        registration or correction was stored since this read. ``make_links``: see
        :meth:`_facts_with_changes`.
        """
        events = self._facts_with_changes(
            REGISTERED_TOPIC,
            MEMBERSHIP_TOPICS,
            guards,
            linked=referent,
            naming=True,
            make_links=make_links,
        )
        return household_members(events, referent)

    def _facts_with_changes(
        self,
        topic: str,
        watched: tuple[str, ...],
        guards: list[Guard] | None,
        *,
        linked: UUID,
        naming: bool = False,
        make_links: bool = True,
    ) -> Iterator[ev.TrajectEvent]:
        """The stored facts of ``topic`` on the streams linked to ``linked`` (a referent, or
        a project's stream id), each stream's with the corrections and retractions on it, in
        version order; no personal field is decrypted. ``guards``: noted there, an append
        commits only if no event of the ``watched`` topics was stored since this read.

        The streams are found in ``traject_stream_links``, written with the events; a ledger
        made by an earlier release gets it made and filled first (``ensure_stream_links``).
        Where that is not allowed (PostgreSQL: only the tables' owner), or not wanted
        (``make_links`` false: a reader that must write nothing, as a dry run), every stream's
        facts of ``topic`` are read instead, a scan of the events table; then, with
        ``naming``, only the streams with a fact that names ``linked`` are decoded.
        """
        if make_links:
            indexed = self.tables.ensure_stream_links()
        else:
            indexed = self.tables.has_stream_links()
        after = self.recorder.max_notification_id() or 0
        if guards is not None:
            guards.append(TopicGuard(watched, after))
        mapper = cast("PydanticMapper", self.mapper)
        if indexed:
            stored = self.tables.select_linked_streams(linked, (topic, *CHANGE_TOPICS))
        else:
            stored = self.tables.select_streams_with_topic(topic, CHANGE_TOPICS)
            if naming:
                named = {s.originator_id for s in stored if names_uuid(s.state, linked)}
                stored = [s for s in stored if s.originator_id in named]
        return (cast("ev.TrajectEvent", mapper.to_domain_event(s, personal=False)) for s in stored)

    def _guarded(self, stream_id: UUID, guards: list[Guard]) -> StreamAggregate | None:
        """A stream (None: no such stream), noted in ``guards`` at the version read."""
        try:
            aggregate = self._get(stream_id)
        except AggregateNotFoundError:
            aggregate = None
        guards.append(StreamGuard(stream_id, aggregate.version if aggregate else 0))
        return aggregate

    def _guarded_project(self, code: str, guards: list[Guard]) -> StreamAggregate:
        """A project's stream (:meth:`_project`), noted in ``guards`` at the version read."""
        project = self._project(code)
        guards.append(StreamGuard(ev.project_stream_id(code), project.version))
        return project

    def enrolments(
        self, project: UUID, guards: list[Guard] | None = None, *, make_links: bool = True
    ) -> list[Enrolment]:
        """The effective enrolments in an AMIF project (``project``: its stream id) on every
        person's stream: each ParticipantEnrolled as last corrected, retracted ones left out;
        by date. The streams linked to the project are read (``traject_stream_links``); no
        personal field is decrypted.

        ``guards``: noted there (a :class:`TopicGuard`), an append commits only if no
        enrolment or correction was stored since this read. ``make_links``: see
        :meth:`_facts_with_changes`.
        """
        events = self._facts_with_changes(
            ENROLLED_TOPIC, WINDOW_TOPICS, guards, linked=project, make_links=make_links
        )
        return effective_enrolments(events, project)

    def check_stored(self, stream_ids: Iterable[UUID]) -> None:
        """Read the stored events of ``stream_ids`` through their models, as a stream is
        loaded but without personal fields (no data key is read): for a reader that failed on
        values it took from the stored bytes without the models (a read model's fast path),
        to tell data altered outside traject from a bug. Slow; for that failure path only.

        Raises:
            MalformedEventError: a stored event does not fit its class, or a correction's
                changes do not fit the event it corrects (named by stream, version and field).
            StreamIntegrityError: a stream's versions do not run 1, 2, 3, ….
        """
        mapper = cast("PydanticMapper", self.mapper)
        stored = self.tables.select_streams(sorted(set(stream_ids)))
        for _, events in groupby(stored, key=attrgetter("originator_id")):
            project_stream(
                None,
                (
                    cast("ev.TrajectEvent", mapper.to_domain_event(event, personal=False))
                    for event in events
                ),
            )

    def _load(
        self, stream_id: UUID, kind: type[ev.TrajectEvent], *, new_stream: bool
    ) -> StreamAggregate:
        try:
            aggregate = self._get(stream_id)
        except AggregateNotFoundError:
            aggregate = None
        return self.fit_stream(aggregate, stream_id, kind, new_stream=new_stream)

    def fit_stream(
        self,
        aggregate: StreamAggregate | None,
        stream_id: UUID,
        kind: type[ev.TrajectEvent],
        *,
        new_stream: bool,
        stream: ev.StreamKind | None = None,
        named: UUID | str | None = None,
    ) -> StreamAggregate:
        """The loaded stream (None: not found) if ``kind`` may be appended to it; a new one if
        ``new_stream`` allows.

        ``stream``: for a correction or a retraction, which go on any kind of stream, the kind
        its writer meant (a stream of another kind is refused as not found); ``named``: the
        stream as its writer named it (a CBS code, a project code), for the refusal to say
        instead of ``stream_id``.

        Raises:
            PersonNotFoundError, StreamNotFoundError, TrajectError: the wrong kind of stream.
        """
        meant = kind.stream if stream is None else stream
        if (aggregate is None and not new_stream) or (
            stream is not None
            and aggregate is not None
            and not isinstance(aggregate, AGGREGATE_CLASSES[stream])
        ):
            raise stream_not_found(meant, stream_id if named is None else named) from None
        if aggregate is None:
            return AGGREGATE_CLASSES[kind.stream](stream_id)
        if (
            kind.stream is not ev.StreamKind.PERSON
            and not isinstance(aggregate, AGGREGATE_CLASSES[kind.stream])
            and kind not in ev.CONTROL_EVENTS
        ):
            msg = f"{kind.__name__} belongs on a {kind.stream} stream, not on {stream_id}"
            raise TrajectError(msg)
        if (
            kind.stream is ev.StreamKind.PERSON
            and kind not in ev.CONTROL_EVENTS
            and not isinstance(aggregate, Trajectory)
        ):
            msg = f"{kind.__name__} belongs on a person stream; {stream_id} is not a person"
            raise TrajectError(msg)
        return aggregate

    def build_event(
        self,
        aggregate: StreamAggregate,
        kind: type[ev.TrajectEvent],
        given: dict[str, Any],
        recorded_at: datetime | None = None,
    ) -> ev.TrajectEvent:
        """The event ``kind`` as the next of ``aggregate``: defaults, derived fields, validated.

        Raises:
            ValidationFailedError: a field is missing or malformed.
        """
        return self._build(aggregate, kind, given, recorded_at)

    def _build(
        self,
        aggregate: StreamAggregate,
        kind: type[ev.TrajectEvent],
        given: dict[str, Any],
        recorded_at: datetime | None = None,
    ) -> ev.TrajectEvent:
        now = datetime.now(UTC) if recorded_at is None else recorded_at
        # None and an empty tuple are "not given" (a type test first: ``v != ()`` on an amount
        # or a date asks both sides to compare, for every field of every fact); a copy with
        # those taken out, which most facts have none of, costs less than a filtered rebuild
        fields = given.copy()
        for k, v in given.items():
            if v is None or (isinstance(v, tuple) and not v):
                del fields[k]
        if "recorded_by" not in fields:
            fields["recorded_by"] = default_actor()
        if kind in ev.CONTROL_EVENTS:  # no event class derives from another
            fields.setdefault("occurred_on", now.astimezone(LEDGER_TIMEZONE).date())
        if "municipality" not in fields:
            municipality = self._municipality_of(aggregate, kind, fields)
            if municipality is None:
                raise ValidationFailedError(
                    kind.__name__,
                    [("municipality", "required: no current municipality; pass --municipality")],
                )
            fields["municipality"] = municipality
        if isinstance(fields.get("occurred_on"), str):
            with contextlib.suppress(ValueError):  # the model reports a bad date
                fields["occurred_on"] = date.fromisoformat(fields["occurred_on"])
        fields = aggregate.derive(kind, fields)  # this call's own dict: completed in place
        fields["originator_id"] = aggregate.id
        fields["originator_version"] = aggregate.version + 1
        fields["timestamp"] = now
        try:
            return kind.model_validate(fields)
        except ValidationError as error:
            raise ValidationFailedError(kind.__name__, validation_problems(error)) from None

    def _municipality_of(
        self, aggregate: StreamAggregate, kind: type[ev.TrajectEvent], fields: Mapping[str, Any]
    ) -> str | None:
        """The municipality a fact belongs to when none is given: a housing through a koppeling
        the koppeling's (the person is housed where they were linked, which their BRP
        registration in the AZC's municipality is not), else the stream's current one."""
        if isinstance(aggregate, Trajectory):
            link = aggregate.state.active_link
            if kind is ev.Housed and link and str(fields.get("route")) == HousingRoute.KOPPELING:
                return link
            if aggregate.state.municipality:
                return aggregate.state.municipality
        if isinstance(aggregate, Project) and aggregate.registered is not None:
            return aggregate.registered.municipality
        if isinstance(aggregate, Municipality) and aggregate.stored:
            return aggregate.stored[1].municipality
        return self.default_municipality

    # --- reads ------------------------------------------------------------------------------

    def resolve_person(self, ref: str) -> UUID:
        """A person id from a full UUID or a unique prefix of at least 6 hex characters.

        Raises:
            PersonReferenceError: ``ref`` is neither (too short, or not hexadecimal).
            PersonNotFoundError, AmbiguousReferenceError: no person, or several, fit it.
        """
        text = ref.strip().lower()
        try:
            person_id = UUID(text)
        except ValueError:
            bsn = _is_bsn(text)
            if len(text) < PERSON_PREFIX_MIN or not HEX_REFERENCE.fullmatch(text):
                if bsn:  # 1234.56.782: a BSN typed for the person
                    raise PersonNotFoundError(ref, bsn=True) from None
                raise PersonReferenceError(ref, PERSON_PREFIX_MIN) from None
            matches = self.tables.person_ids_starting_with(text)
            if not matches:
                raise PersonNotFoundError(ref, bsn=bsn) from None
            if len(matches) > 1:
                raise AmbiguousReferenceError(ref, len(matches)) from None
            return matches[0]
        if not self.tables.person_ids_starting_with(str(person_id), limit=1):
            raise PersonNotFoundError(ref)
        return person_id

    def resolve_subject(self, ref: str) -> tuple[UUID, ev.StreamKind]:
        """The stream ``ref`` names, and its kind: a municipality's by its CBS code (GM0622),
        an AMIF project's by its code (or ``project:CODE``), else a person's by id or unique
        prefix.

        Raises:
            StreamNotFoundError: a municipality or project without facts, or no such person.
            TrajectError: ``ref`` is both a project's code and the start of a person's id.
        """
        text = ref.strip()
        if re.fullmatch(GEMEENTE_PATTERN, text.upper()):
            stream_id = ev.municipality_stream_id(text.upper())
            if not self._has_events(stream_id):
                raise stream_not_found(ev.StreamKind.MUNICIPALITY, text.upper())
            return stream_id, ev.StreamKind.MUNICIPALITY
        code = text.removeprefix(PROJECT_PREFIX)
        project = ev.project_stream_id(code)
        if not self._has_events(project):
            if code != text:
                raise StreamNotFoundError("project", code)
            try:
                return self.resolve_person(ref), ev.StreamKind.PERSON
            except PersonReferenceError:
                if HEX_REFERENCE.fullmatch(text.lower()):
                    raise  # meant as a person's id: say what a person reference needs
                raise StreamNotFoundError("person, municipality or AMIF project", ref) from None
        if code == text:
            with contextlib.suppress(PersonNotFoundError, PersonReferenceError):
                self.resolve_person(ref)
                msg = (
                    f"{ref!r} is the code of an AMIF project and the start of a person's id: "
                    f"give the person's full id, or {PROJECT_PREFIX}{code} for the project"
                )
                raise TrajectError(msg)
        return project, ev.StreamKind.PROJECT

    def _has_events(self, stream_id: UUID) -> bool:
        return bool(self.recorder.select_events(stream_id, limit=1))

    def find_person_by_bsn(self, bsn: str) -> UUID | None:
        """The person registered with this BSN (looked up by keyed hash), if any."""
        try:
            normalised = normalise_bsn(bsn)
        except ValueError as error:
            raise ValidationFailedError("PersonLookup", [("bsn", str(error))]) from None
        return self.tables.person_by_bsn_digest(self.keyring.bsn_digest(normalised))

    def stream_events(
        self, stream_id: UUID, *, as_known_at: datetime | None = None
    ) -> Iterator[ev.TrajectEvent]:
        for event in self.events.get(stream_id):
            typed = cast("ev.TrajectEvent", event)
            if as_known_at is not None and typed.timestamp > as_known_at:
                break
            yield typed

    def timeline(
        self,
        stream_id: UUID,
        *,
        as_known_at: datetime | None = None,
        reading: Reading | None = None,
    ) -> Timeline:
        """The stream's events as the ledger knew them at ``as_known_at`` (default: now), for
        showing: special-category values are in it only for ``reading`` with a purpose, once
        the read is recorded (:meth:`disclose`); else they are withheld (``withheld`` of each
        entry; ``disclosure`` says why).
        """
        stored = list(self.stream_events(stream_id, as_known_at=as_known_at))
        if not stored and as_known_at is None:
            raise PersonNotFoundError(stream_id)
        aggregate = project_stream(None, stored) or Trajectory(stream_id)
        disclosure = self.disclose(stream_id, stored, reading)
        entries = []
        for recorded in stored:
            version = recorded.originator_version
            event, effective = recorded, aggregate.effective.get(version)
            withheld: frozenset[str] = frozenset()
            if disclosure.fields and not disclosure.shown:
                withheld = special_values(event, target_class(event, aggregate.stored))
                if effective is not None:
                    withheld |= special_values(effective)
                event = withhold(event, withheld)
                effective = None if effective is None else withhold(effective, withheld)
            entries.append(
                TimelineEntry(
                    event=event,
                    effective=effective,
                    corrected_by=tuple(aggregate.corrected_by.get(version, ())),
                    retracted_by=aggregate.retracted_by.get(version),
                    withheld=tuple(sorted(withheld)),
                )
            )
        # erased now, also when the erasure was recorded after as_known_at: the personal fields
        # known then can no longer be read, and the timeline must not show them as never given
        erased = self.keyring.key_for_read(stream_id) is None and (
            any(isinstance(e, ev.PersonalDataShredded) for e in stored)
            or (as_known_at is not None and self.tables.select_wrapped_key(stream_id) == SHREDDED)
        )
        return Timeline(stream_id, as_known_at, tuple(entries), erased, disclosure)

    # --- special-category data (GDPR Art. 9) ------------------------------------------------

    def disclose(
        self, stream_id: UUID, events: Sequence[ev.TrajectEvent], reading: Reading | None
    ) -> Disclosure:
        """Whether the special-category values in ``events`` (of stream ``stream_id``, about to
        be shown in clear) may be shown, their read recorded first (``ledger.special``).

        Nothing is recorded when they hold none (none recorded, or erased). Without a purpose
        they are withheld. With one, a SpecialCategoryRead naming the fields, the command, the
        purpose and the reader is appended to the stream; when it cannot be (the database user
        may not append, the append fails) they are withheld. The caller shows them only when
        the result is ``shown``.
        """
        fields = values_in(events)
        if not fields:
            return Disclosure()
        if reading is None or not reading.purpose:
            return Disclosure(fields, withheld=Withheld.NO_PURPOSE)
        try:
            recorded = self.record_read(stream_id, reading, fields)
        except Exception as error:
            reason = unrecorded(error)
            if reason is None:
                raise
            return Disclosure(fields, withheld=reason[0], detail=reason[1])
        return Disclosure(fields, recorded=recorded.version)

    def record_read(
        self, person_id: UUID, reading: Reading, field_names: Sequence[str]
    ) -> Recorded:
        """Append a SpecialCategoryRead: the current user read ``field_names`` of the person in
        clear with ``reading.command``, for ``reading.purpose``.

        Raises:
            PersonNotFoundError: not a person's stream.
            ValidationFailedError: no purpose, or a malformed field name.
        """
        fields = read_fields(reading, field_names)

        def build(aggregate: StreamAggregate) -> dict[str, Any]:
            if not isinstance(aggregate, Trajectory):
                raise PersonNotFoundError(person_id)
            return fields

        return self._append(person_id, ev.SpecialCategoryRead, build, new_stream=False)

    def special_reads(
        self,
        *,
        person_id: UUID | None = None,
        since: date | None = None,
        user: str | None = None,
    ) -> list[ev.SpecialCategoryRead]:
        """The recorded reads of special-category values, oldest first: of one person, or of
        everyone; recorded on or after the day ``since`` (Dutch time); read by ``user``. The
        reads hold no personal data: nothing is decrypted (no master key is needed)."""
        if person_id is not None:
            mapper = cast("PydanticMapper", self.mapper)
            topic = get_topic(ev.SpecialCategoryRead)
            found: Iterable[ev.SpecialCategoryRead] = (
                mapper.to_domain_event(stored, personal=False)
                for stored in self.recorder.select_events(person_id)
                if stored.topic == topic
            )
        else:
            found = self._all_special_reads()
        return [
            read
            for read in found
            if (since is None or recorded_day(read) >= since)
            and (user is None or read.read_by == user)
        ]

    def _all_special_reads(self) -> Iterator[ev.SpecialCategoryRead]:
        topics = [get_topic(ev.SpecialCategoryRead)]
        start = 0
        while True:
            page = self.recorder.select_notifications(
                start, READ_PAGE, topics=topics, inclusive_of_start=False
            )
            if not page:
                return
            start = page[-1].id
            for stored in page:
                yield cast("ev.SpecialCategoryRead", self.mapper.to_domain_event(stored))

    def _trajectory(self, person_id: UUID) -> Trajectory:
        """A person's stream (raises PersonNotFoundError, also for a stream of another kind)."""
        try:
            trajectory = self._get(person_id)
        except AggregateNotFoundError:
            raise PersonNotFoundError(person_id) from None
        if not isinstance(trajectory, Trajectory):
            raise PersonNotFoundError(person_id)
        return trajectory

    def person(self, person_id: UUID) -> PersonSummary:
        """The registration (personal fields decrypted) and the current state of a person."""
        trajectory = self._trajectory(person_id)
        registration = trajectory.effective[1]
        assert isinstance(registration, ev.PersonRegistered)
        s = trajectory.state
        status = {
            "permit": str(s.permit_kind or "-"),
            "koppeling": s.active_link or "-",
            "housed": ", ".join(f"{m} {k} {d}" for m, k, d in s.housed_in) or "-",
            "duty": f"{s.duty.regime} since {s.duty.start}" if s.duty else "-",
            "leerroute": str(s.leerroute or "-"),
            "coaches": ", ".join(f"{r}:{c}" for c, r in sorted(s.coaches)) or "-",
            "outflow": ", ".join(sorted(s.open_outflows)) or "-",
            "ladder": latest_rung(trajectory),
            "case": case_status(s),
            "corrections": corrections_in_short(trajectory),
        }
        erased = any(isinstance(e, ev.PersonalDataShredded) for e in trajectory.stored.values())
        return PersonSummary(
            person_id, registration, trajectory.version, s.municipality, status, erased
        )

    def retention(self, person_id: UUID, *, on: date | None = None) -> RetentionStatus:
        """A person's retention bases with their end dates, the legal holds that cover the
        person, and whether erasure is allowed on ``on`` (default: today).

        Raises:
            PersonNotFoundError.
        """
        return self._retention(self._trajectory(person_id), as_day(on, "RetentionScheduled"))

    def _retention(self, trajectory: Trajectory, on: date) -> RetentionStatus:
        return self.retention_of(trajectory, on, self._project)

    def retention_of(
        self,
        trajectory: Trajectory,
        on: date,
        project_stream: Callable[[str], StreamAggregate | None],
        *,
        erasing: bool = False,
    ) -> RetentionStatus:
        """:meth:`retention` of a loaded ``trajectory``, with the streams of the AMIF projects
        the person took part in as ``project_stream`` gives them (a bulk import: as its batch
        holds them, with what the batch has added). ``erasing``: for an erasure dated ``on``,
        which a hold not released yet refuses too, whatever its date (``holds_of``)."""
        projects = {}
        for code in trajectory.state.projects:
            project = project_stream(code)
            if not isinstance(project, Project):  # never registered: no fund, payment or hold
                projects[code] = ProjectFacts(None, None, ())
                continue
            fund = project.registered.fund if project.registered else None
            holds = holds_of(project, f"project {code}", on, erasing=erasing)
            projects[code] = ProjectFacts(fund, project.last_payment_on, holds)
        s = trajectory.state
        return assess(
            trajectory.id,
            on,
            closed_on=s.closed_on,
            deceased_on=s.deceased_on,
            holds=holds_of(trajectory, "person", on, erasing=erasing),
            projects=projects,
        )

    def corrected(self, target: ev.TrajectEvent, correction: ev.EventCorrected) -> ev.TrajectEvent:
        return corrected_event(target, correction)


__all__ = [
    "Recorded",
    "RuleViolationError",
    "Timeline",
    "TimelineEntry",
    "TrajectoryLedger",
    "current_actor",
]
