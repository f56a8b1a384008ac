"""Rendering: pure functions from the ledger's results to plain text or JSON-ready data.

Nothing here opens the ledger, prints, or imports rich: a write command prints one line, and
loading rich would cost it a noticeable part of its start-up. Tables live in ``commands.tables``.

The JSON shapes are part of the interface (scripts parse them); keys are only ever added.

``traject timeline --format json``::

    {
      "stream_id": "3219ed75-…",           # the person id
      "as_known_at": "2024-06-02T12:00:00+00:00" | null,
      "erased": false,                      # true once the person's personal data was shredded
                                            # (as known at a moment too: an erasure since then
                                            # leaves the fields known then unreadable: null)
      "special_category": {                 # special-category values (GDPR Art. 9) in it
        "fields": ["health_barrier"],       # the fields that hold one ([]: none)
        "shown": true                       # false: withheld (null below; see the warning)
      },
      "events": [
        {
          "version": 4,                     # position in the person's stream, from 1
          "kind": "Housed",                 # event class name (see docs/events.md)
          "recorded_at": "2024-06-01T09:30:12.345678+00:00",   # transaction time, UTC
          "recorded_by": "r.jansen",
          "imported_by": null,              # who imported it, when recorded_by came from the
                                            # source ledger (traject import --keep-recorded-by)
          "source": "cli",
          "idempotency_key": null,
          "status": "current" | "corrected" | "retracted",
          "corrected_by": [6],              # versions of the corrections of this event
          "retracted_by": null,             # version of its retraction, if any
          "withheld": [],                   # special-category fields whose values are left out
          "recorded": {"occurred_on": "2024-03-04", "municipality": "GM0622",
                       "evidence": [], "fields": {"housing_kind": "regulier", …}},
          "effective": {…same shape, corrections applied…} | null   # null when retracted
        }
      ]
    }

Write commands (``--json``)::

    {"stream": "person", "subject": "3219ed75-…", "stream_id": "3219ed75-…",
     "kind": "Housed", "version": 4, "duplicate": false, "warnings": []}

``traject person shred`` adds what became of the destroyed key's old bytes::

    "purge": {"done": true,              # false: still in the database's files (see warning)
              "detail": "…",             # what was done, or what stands in the way
              "pending_since": "…" | null}   # the latest erasure awaiting a purge, if any
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from commands.context import Initialised, KeyRotated
from ledger import events as ev
from ledger.aggregates import dutch_day
from ledger.application import Erasure, PersonSummary, Recorded, Timeline, TimelineEntry
from ledger.persistence import Purge
from ledger.retention import RetentionStatus
from ledger.special import Disclosure, Withheld

if TYPE_CHECKING:
    from ledger.export import ExportReads  # the export's module is loaded only to export

ERASED = "[erased]"


def counted(count: int, noun: str) -> str:
    """``1 event``, ``2 events``: a count with its noun, plural unless the count is one."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def plain(value: Any) -> str:
    """A JSON-mode value as compact text."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(plain(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={plain(v)}" for k, v in value.items())
    return str(value)


def payload(event: ev.TrajectEvent) -> dict[str, Any]:
    dumped = event.model_dump(mode="json")
    return {name: dumped[name] for name in type(event).payload_fields()}


def _evidence(event: ev.TrajectEvent) -> list[dict[str, str]]:
    return [item.model_dump(mode="json") for item in event.evidence]


def moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


# --- writes -----------------------------------------------------------------------------------


def _subject(result: Recorded, stream: ev.StreamKind, subject: str) -> str:
    """A person by full id; a municipality or project by its code."""
    return str(result.stream_id) if stream is ev.StreamKind.PERSON else subject


def recorded(result: Recorded, stream: ev.StreamKind, subject: str) -> str:
    """``Recorded Housed as version 4 of 3219ed75-…`` (or ``of municipality GM0622``)."""
    label = _subject(result, stream, subject)
    if stream is not ev.StreamKind.PERSON:
        label = f"{stream.value} {label}"
    if result.duplicate:
        return (
            f"Already recorded: {result.kind} as version {result.version} of {label} "
            "(this idempotency key was seen before; nothing new was recorded)"
        )
    return f"Recorded {result.kind} as version {result.version} of {label}"


def registered(result: Recorded) -> str:
    if result.duplicate:
        return (
            f"Already registered: person {result.stream_id} "
            "(this idempotency key was seen before; nothing new was recorded)"
        )
    return f"Registered person {result.stream_id}"


def recorded_json(result: Recorded, stream: ev.StreamKind, subject: str) -> dict[str, Any]:
    return {
        "stream": stream.value,
        "subject": _subject(result, stream, subject),
        "stream_id": str(result.stream_id),
        "kind": result.kind,
        "version": result.version,
        "duplicate": result.duplicate,
        "warnings": list(result.warnings),
    }


# --- erasure ----------------------------------------------------------------------------------

BACKUPS_REMAIN = (
    "Remains: backups and WAL archives made before the erasure hold the wrapped key until "
    "their retention ends (docs/operations.md, Erasure)."
)


def erased(result: Erasure) -> str:
    """What `person shred` did and what remains; a purge that could not be done is a warning."""
    lines = [
        recorded(result.recorded, ev.StreamKind.PERSON, ""),
        "Destroyed the data key: the personal fields read as erased in every event.",
        purged(result.purge) if result.purge.done else "Not purged yet: see the warning.",
        BACKUPS_REMAIN,
    ]
    return "\n".join(lines)


def erased_json(result: Erasure) -> dict[str, Any]:
    return recorded_json(result.recorded, ev.StreamKind.PERSON, "") | {
        "purge": purge_json(result.purge)
    }


def purged(purge: Purge) -> str:
    """``Purged: <what was done>.``"""
    return f"Purged: {purge.detail}."


def purge_json(purge: Purge) -> dict[str, Any]:
    return {"done": purge.done, "detail": purge.detail, "pending_since": purge.pending_since}


def purge_warnings(purge: Purge | None) -> list[str]:
    """The warning of a purge that could not be done (none for a purge done, or none made)."""
    if purge is None or purge.done:
        return []
    return [f"not purged yet: {purge.detail}"]


def recorder_warnings(not_kept: int, *, dry_run: bool) -> list[str]:
    """The one warning of an import whose lines carried a recorder it did not keep."""
    if not not_kept:
        return []
    lines = "1 line" if not_kept == 1 else f"{not_kept} lines"
    if dry_run:
        return [
            f"{lines} carry recorded_by, which would not be kept: the importing user would "
            "record their facts; import with --keep-recorded-by to keep each line's recorder"
        ]
    return [
        f"{lines} carried recorded_by, which was not kept: the importing user recorded their "
        "facts; --keep-recorded-by keeps each line's recorder (a second import of this file "
        "skips these lines: try the option with --dry-run first)"
    ]


# --- persons ----------------------------------------------------------------------------------


def registration_fields(summary: PersonSummary) -> dict[str, Any]:
    registration = summary.registration
    fields = payload(registration)
    if summary.erased:
        fields |= {name: None for name in registration.personal_fields()}
    return fields


def person_json(summary: PersonSummary) -> dict[str, Any]:
    registration = summary.registration
    return {
        "person_id": str(summary.person_id),
        "version": summary.version,
        "municipality": summary.municipality,
        "erased": summary.erased,
        "registration": {
            "occurred_on": registration.occurred_on.isoformat(),
            "recorded_by": registration.recorded_by,
            "source": registration.source.value,
            "municipality": registration.municipality,
            "fields": registration_fields(summary),
        },
        "status": dict(summary.status),
    }


def found(person_id: UUID) -> str:
    return str(person_id)


# --- timeline ---------------------------------------------------------------------------------


def _state(event: ev.TrajectEvent) -> dict[str, Any]:
    return {
        "occurred_on": event.occurred_on.isoformat(),
        "municipality": event.municipality,
        "evidence": _evidence(event),
        "fields": payload(event),
    }


def timeline_json(timeline: Timeline) -> dict[str, Any]:
    """The stable JSON form of a timeline (documented in this module's docstring)."""
    return {
        "stream_id": str(timeline.stream_id),
        "as_known_at": timeline.as_known_at.isoformat() if timeline.as_known_at else None,
        "erased": timeline.erased,
        "special_category": {
            "fields": list(timeline.disclosure.fields),
            "shown": timeline.disclosure.shown,
        },
        "events": [
            {
                "version": entry.version,
                "kind": entry.kind,
                "recorded_at": entry.event.timestamp.astimezone(UTC).isoformat(),
                "recorded_by": entry.event.recorded_by,
                "imported_by": entry.event.imported_by,
                "source": entry.event.source.value,
                "idempotency_key": entry.event.idempotency_key,
                "status": _status(entry),
                "corrected_by": list(entry.corrected_by),
                "retracted_by": entry.retracted_by,
                "withheld": list(entry.withheld),
                "recorded": _state(entry.event),
                "effective": _state(entry.effective) if entry.effective is not None else None,
            }
            for entry in timeline.entries
        ],
    }


def changed(now: Any, was: Any) -> str:
    return plain(now) if now == was else f"{plain(now)} (was {plain(was)})"


def _status(entry: TimelineEntry) -> str:
    if entry.retracted_by is not None:
        return "retracted"
    return "corrected" if entry.corrected_by else "current"


# --- special-category data (GDPR Art. 9) ----------------------------------------------------

NOT_SHOWN = "(special category: not shown)"
ART9 = "special-category data (GDPR Art. 9)"


def disclosure_notes(disclosure: Disclosure, person: UUID) -> list[str]:
    """The note that the special-category values shown were read on the record."""
    if not disclosure.shown:
        return []
    return [
        f"Recorded the read of the {ART9} shown ({', '.join(disclosure.fields)}) as version "
        f"{disclosure.recorded} of {person} (SpecialCategoryRead)."
    ]


def withheld_because(why: Withheld, detail: str) -> str:
    """Why special-category values were left out, as the end of a warning."""
    if why is Withheld.NO_PURPOSE:
        return (
            f"{ART9} is shown only for a stated purpose: give --purpose TEXT, and the read is "
            "recorded on the person's stream first"
        )
    if why is Withheld.NOT_PERMITTED:
        return (
            f"{ART9} is shown only once its read is recorded, and this database user may not "
            f"record it ({detail}; the roles traject_auditor and traject_analyst never write)"
        )
    if why is Withheld.PSEUDONYMISED:
        return f"a pseudonymised export never holds {ART9}, not even as a pseudonym"
    return f"{ART9} is shown only once its read is recorded, and recording it failed ({detail})"


def disclosure_warnings(disclosure: Disclosure) -> list[str]:
    """The warning that special-category values were left out, and why."""
    if disclosure.withheld is None:
        return []
    names = ", ".join(disclosure.fields)
    return [f"{names} not shown: {withheld_because(disclosure.withheld, disclosure.detail)}"]


def persons(count: int) -> str:
    return f"{count} person" if count == 1 else f"{count} persons"


def export_reads_notes(reads: ExportReads) -> list[str]:
    """What an export recorded, and what it left out as a pseudonymised export must."""
    notes = []
    if reads.recorded:
        notes.append(
            f"Recorded the read of {ART9} of {persons(len(reads.recorded))}, one "
            "SpecialCategoryRead each, before writing their values."
        )
    left = reads.withheld.get(Withheld.PSEUDONYMISED)
    if left:
        reason = withheld_because(Withheld.PSEUDONYMISED, "")
        notes.append(f"Special-category values of {persons(len(left))} left out: {reason}.")
    return notes


def export_reads_warnings(reads: ExportReads) -> list[str]:
    """The special-category values an export left out though personal data was asked for."""
    return [
        f"special-category values of {persons(len(left))} left out (named under _withheld): "
        + withheld_because(why, reads.detail.get(why, ""))
        for why, left in reads.withheld.items()
        if why is not Withheld.PSEUDONYMISED
    ]


def read_json(read: ev.SpecialCategoryRead) -> dict[str, Any]:
    """One recorded read of special-category values."""
    return {
        "person_id": str(read.originator_id),
        "version": read.originator_version,
        "recorded_at": read.timestamp.astimezone(UTC).isoformat(),
        "read_on": dutch_day(read.timestamp).isoformat(),
        "read_by": read.read_by,
        "recorded_by": read.recorded_by,
        "source": read.source.value,
        "command": read.command,
        "fields": list(read.field_names),
        "purpose": read.purpose,
    }


def reads_json(reads: list[ev.SpecialCategoryRead]) -> dict[str, Any]:
    """``traject person reads`` and ``traject audit reads --json``: ``{"reads": [...]}``."""
    return {"reads": [read_json(read) for read in reads]}


# --- init -------------------------------------------------------------------------------------


def key_rotated(result: KeyRotated) -> str:
    """What `admin rotate-master-key` did, where the new key is, and what to do next."""
    r = result.rotation
    lines = [
        f"Rotated the master key of {result.where}: {r.data_keys} data keys re-wrapped "
        f"({r.destroyed} destroyed keys stay destroyed), {r.bsn_entries} BSN index entries "
        f"recomputed ({r.unfindable} of erased persons removed).",
    ]
    if result.key_file is None:
        lines.append("New master key: taken from TRAJECT_NEW_MASTER_KEY (no key file written).")
    else:
        lines.append(f"New master key written to {result.key_file} (mode 0600).")
    lines.append(purged(r.purge) if r.purge.done else "Not purged yet: see the warning.")
    old = f"the key file {result.old_key_file}" if result.old_key_file else "TRAJECT_MASTER_KEY"
    lines += [
        "Next:",
        f"  1. Put the new key where the old one was kept: replace {old}, "
        "TRAJECT_MASTER_KEY of every service, the secret store and the sealed copies. "
        "The old key opens nothing in this ledger any more.",
        "  2. Destroy every copy of the old key once no backup needs it.",
        "Remains: backups and WAL archives made before the rotation open with the old key "
        "only (docs/operations.md, The master key).",
    ]
    return "\n".join(lines)


def key_rotated_json(result: KeyRotated) -> dict[str, Any]:
    r = result.rotation
    return {
        "ledger": result.where,
        "new_key_file": None if result.key_file is None else str(result.key_file),
        "old_key_file": None if result.old_key_file is None else str(result.old_key_file),
        "data_keys": r.data_keys,
        "destroyed_keys": r.destroyed,
        "bsn_entries": r.bsn_entries,
        "erased_bsn_entries_removed": r.unfindable,
        "purge": purge_json(r.purge),
    }


def initialised(result: Initialised) -> str:
    lines = [f"Created the ledger at {result.where}"]
    if result.key_file is None:
        lines.append("Master key: taken from TRAJECT_MASTER_KEY (no key file written)")
    else:
        lines.append(
            f"Master key written to {result.key_file} (mode 0600). Keep a copy somewhere safe: "
            "without it the personal data in this ledger cannot be read."
        )
    if result.default_municipality:
        lines.append(f"Default municipality: {result.default_municipality}")
    lines.append(
        "Next: traject person register --birth-date 1990-04-02 --sex f --nationality SY"
        + ("" if result.default_municipality else " --municipality GM0622")
    )
    return "\n".join(lines)


def initialised_json(result: Initialised) -> dict[str, Any]:
    return {
        "database": result.where,
        "key_file": str(result.key_file) if result.key_file else None,
        "default_municipality": result.default_municipality,
    }


# --- retention --------------------------------------------------------------------------------


def retention(status: RetentionStatus) -> str:
    """A person's retention bases, the holds that cover them, and the erasure decision."""
    lines = [f"Retention of {status.person_id} on {status.on}"]
    for basis in status.bases:
        until = f"until {basis.delete_after}" if basis.delete_after else "no end date yet"
        state = "open" if basis.open_on(status.on) else "ended"
        lines.append(
            f"  {basis.label}: {state}, {until} ({basis.grounds}; rule set {basis.rule_version})"
        )
    lines += [
        f"  legal hold {h.hold_ref} on the {h.held} since {h.placed_on}: {h.reason}"
        for h in status.holds
    ]
    if status.erasable:
        lines.append("Erasure: allowed (no open retention basis, no open legal hold)")
    elif not status.open_bases:
        lines.append("Erasure: refused while a legal hold is open (every basis has ended)")
    else:
        when = status.delete_after or "not known yet"
        lines.append(f"Erasure: refused; effective deletion date {when}")
    return "\n".join(lines)


def retention_json(status: RetentionStatus) -> dict[str, Any]:
    return {
        "person_id": str(status.person_id),
        "on": status.on.isoformat(),
        "bases": [
            {
                "basis": str(b.kind),
                "project_id": b.project_id,
                "delete_after": b.delete_after.isoformat() if b.delete_after else None,
                "open": b.open_on(status.on),
                "grounds": b.grounds,
                "rule_version": b.rule_version,
            }
            for b in status.bases
        ],
        "holds": [
            {
                "hold_ref": h.hold_ref,
                "held": h.held,
                "placed_on": h.placed_on.isoformat(),
                "reason": h.reason,
            }
            for h in status.holds
        ],
        "delete_after": status.delete_after.isoformat() if status.delete_after else None,
        "erasable": status.erasable,
    }
