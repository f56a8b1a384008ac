"""Rendering: pure functions from the ledger's results to rich renderables or JSON-ready data.

Nothing here opens the ledger or prints. User-supplied text is always wrapped in ``Text`` so
that a name like ``[bold]`` is shown as typed, never read as markup.

The JSON shapes are part of the interface (scripts parse them); keys are only ever added.

``traject timeline --format json``::

    {
      "stream_id": "3219ed75-…",           # the person id
      "as_known_at": "2024-06-02T12:00:00+00:00" | null,
      "erased": false,                      # true once the person's personal data was shredded
      "events": [
        {
          "version": 4,                     # position in the person's stream, from 1
          "kind": "Housed",                 # event class name (see docs/events.md)
          "recorded_at": "2024-06-01T09:30:12.345678+00:00",   # transaction time, UTC
          "recorded_by": "r.jansen",
          "source": "cli",
          "idempotency_key": null,
          "status": "current" | "corrected" | "retracted",
          "corrected_by": [6],              # versions of the corrections of this event
          "retracted_by": null,             # version of its retraction, if any
          "recorded": {"occurred_on": "2024-03-04", "municipality": "GM0622",
                       "evidence": [], "fields": {"housing_kind": "regulier", …}},
          "effective": {…same shape, corrections applied…} | null   # null when retracted
        }
      ]
    }

Write commands (``--json``)::

    {"stream": "person", "subject": "3219ed75-…", "stream_id": "3219ed75-…",
     "kind": "Housed", "version": 4, "duplicate": false, "warnings": []}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from commands.context import Initialised
from ledger import events as ev
from ledger.application import PersonSummary, Recorded, Timeline, TimelineEntry

ERASED = "[erased]"


def _plain(value: Any) -> str:
    """A JSON-mode value as compact text."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={_plain(v)}" for k, v in value.items())
    return str(value)


def _payload(event: ev.TrajectEvent) -> dict[str, Any]:
    dumped = event.model_dump(mode="json")
    return {name: dumped[name] for name in type(event).payload_fields()}


def _evidence(event: ev.TrajectEvent) -> list[dict[str, str]]:
    return [item.model_dump(mode="json") for item in event.evidence]


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


# --- writes -----------------------------------------------------------------------------------


def _subject(result: Recorded, stream: ev.StreamKind, subject: str) -> str:
    """A person by full id; a municipality or project by its code."""
    return str(result.stream_id) if stream is ev.StreamKind.PERSON else subject


def recorded(result: Recorded, stream: ev.StreamKind, subject: str) -> Text:
    """``Recorded Housed as version 4 of 3219ed75-…`` (or ``of municipality GM0622``)."""
    label = _subject(result, stream, subject)
    if stream is not ev.StreamKind.PERSON:
        label = f"{stream.value} {label}"
    if result.duplicate:
        return Text(
            f"Already recorded: {result.kind} as version {result.version} of {label} "
            "(this idempotency key was seen before; nothing new was recorded)"
        )
    return Text(f"Recorded {result.kind} as version {result.version} of {label}")


def registered(result: Recorded) -> Text:
    if result.duplicate:
        return Text(
            f"Already registered: person {result.stream_id} "
            "(this idempotency key was seen before; nothing new was recorded)"
        )
    return Text(f"Registered person {result.stream_id}")


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


# --- persons ----------------------------------------------------------------------------------


def _registration_fields(summary: PersonSummary) -> dict[str, Any]:
    registration = summary.registration
    fields = _payload(registration)
    if summary.erased:
        fields |= {name: None for name in registration.personal_fields()}
    return fields


def person_table(summary: PersonSummary) -> Table:
    """The registration (personal fields decrypted, or marked erased) and the current status."""
    registration = summary.registration
    personal = registration.personal_fields()
    table = Table(title=f"Person {summary.person_id}", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in _registration_fields(summary).items():
        shown = ERASED if summary.erased and name in personal else _plain(value)
        table.add_row(name, Text(shown))
    table.add_row("registered on", Text(registration.occurred_on.isoformat()))
    table.add_row("registered by", Text(registration.recorded_by))
    table.add_row("municipality", Text(summary.municipality or "-"))
    table.add_row("version", str(summary.version))
    for name, value in summary.status.items():
        table.add_row(name, Text(value))
    return table


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
            "fields": _registration_fields(summary),
        },
        "status": dict(summary.status),
    }


def found(person_id: UUID) -> Text:
    return Text(str(person_id))


# --- timeline ---------------------------------------------------------------------------------


def _state(event: ev.TrajectEvent) -> dict[str, Any]:
    return {
        "occurred_on": event.occurred_on.isoformat(),
        "municipality": event.municipality,
        "evidence": _evidence(event),
        "fields": _payload(event),
    }


def timeline_json(timeline: Timeline) -> dict[str, Any]:
    """The stable JSON form of a timeline (documented in this module's docstring)."""
    return {
        "stream_id": str(timeline.stream_id),
        "as_known_at": timeline.as_known_at.isoformat() if timeline.as_known_at else None,
        "erased": timeline.erased,
        "events": [
            {
                "version": entry.version,
                "kind": entry.kind,
                "recorded_at": entry.event.timestamp.astimezone(UTC).isoformat(),
                "recorded_by": entry.event.recorded_by,
                "source": entry.event.source.value,
                "idempotency_key": entry.event.idempotency_key,
                "status": _status(entry),
                "corrected_by": list(entry.corrected_by),
                "retracted_by": entry.retracted_by,
                "recorded": _state(entry.event),
                "effective": _state(entry.effective) if entry.effective is not None else None,
            }
            for entry in timeline.entries
        ],
    }


def _changed(now: Any, was: Any) -> str:
    return _plain(now) if now == was else f"{_plain(now)} (was {_plain(was)})"


def _fields_cell(entry: TimelineEntry) -> Text:
    event = entry.event
    if isinstance(event, ev.EventCorrected):
        lines = [f"corrects v{event.target_version}"]
        changes = {**event.changes, **(event.personal_changes or {})}
        lines += [f"{name}={_plain(value)}" for name, value in changes.items()]
    elif isinstance(event, ev.EventRetracted):
        lines = [f"retracts v{event.target_version}"]
    else:
        lines = []
    shown = entry.effective or event
    was = _payload(event)
    for name, value in _payload(shown).items():
        if isinstance(event, ev.EventCorrected | ev.EventRetracted) and name != "reason":
            continue
        if value is None or value in ([], {}):
            continue
        lines.append(f"{name}={_changed(value, was.get(name))}")
    for item in shown.evidence:
        lines.append(f"evidence={item.kind}:{item.reference}")
    return Text("\n".join(lines))


def _status(entry: TimelineEntry) -> str:
    if entry.retracted_by is not None:
        return "retracted"
    return "corrected" if entry.corrected_by else "current"


def _kind_cell(entry: TimelineEntry) -> Text:
    cell = Text(entry.kind)
    if entry.retracted_by is not None:
        cell.append(f"\nretracted by v{entry.retracted_by}", style="red")
    elif entry.corrected_by:
        versions = ", ".join(f"v{v}" for v in entry.corrected_by)
        cell.append(f"\ncorrected by {versions}", style="yellow")
    return cell


def timeline_table(timeline: Timeline) -> Table:
    """One row per stored event: what was recorded, when, by whom, and what became of it.

    Columns: version; occurred on and municipality (corrected values, with the original in
    brackets); kind and status (corrected by / retracted by); the fields as ``name=value``;
    when (UTC), by whom and from which source it was recorded.
    """
    title = f"Timeline of {timeline.stream_id}"
    if timeline.as_known_at is not None:
        title += f" as known at {_moment(timeline.as_known_at)} UTC"
    if timeline.erased:
        title += " (personal data erased)"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_lines=True)
    table.add_column("v", justify="right", no_wrap=True)
    table.add_column("occurred on", no_wrap=True)
    table.add_column("kind / status", no_wrap=True)
    table.add_column("fields", overflow="fold", ratio=1)
    table.add_column("recorded (UTC) / by / source", no_wrap=True)
    for entry in timeline.entries:
        event, shown = entry.event, entry.effective or entry.event
        table.add_row(
            str(entry.version),
            Text(
                _changed(shown.occurred_on.isoformat(), event.occurred_on.isoformat())
                + "\n"
                + _changed(shown.municipality, event.municipality)
            ),
            _kind_cell(entry),
            _fields_cell(entry),
            Text(f"{_moment(event.timestamp)}\n{event.recorded_by} ({event.source.value})"),
        )
    if not timeline.entries:
        table.caption = "no events were known at that moment"
    return table


# --- init -------------------------------------------------------------------------------------


def initialised(result: Initialised) -> Group:
    lines: list[RenderableType] = [Text(f"Created the ledger at {result.where}")]
    if result.key_file is None:
        lines.append(Text("Master key: taken from TRAJECT_MASTER_KEY (no key file written)"))
    else:
        lines.append(
            Text(
                f"Master key written to {result.key_file} (mode 0600). Keep a copy somewhere safe: "
                "without it the personal data in this ledger cannot be read."
            )
        )
    if result.default_municipality:
        lines.append(Text(f"Default municipality: {result.default_municipality}"))
    lines.append(
        Text(
            "Next: traject person register --birth-date 1990-04-02 --sex f --nationality SY"
            + ("" if result.default_municipality else " --municipality GM0622")
        )
    )
    return Group(*lines)


def initialised_json(result: Initialised) -> dict[str, Any]:
    return {
        "database": result.where,
        "key_file": str(result.key_file) if result.key_file else None,
        "default_municipality": result.default_municipality,
    }
