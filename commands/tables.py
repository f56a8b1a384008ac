"""Rich renderables for the commands that show tables: a person, a timeline, recorded reads.

User-supplied text is always wrapped in ``Text`` so that a name like ``[bold]`` is shown as
typed, never read as markup. Plain-text results and the JSON shapes are in ``commands.render``.
"""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from commands.render import (
    ERASED,
    NOT_SHOWN,
    changed,
    moment,
    payload,
    plain,
    registration_fields,
)
from ledger import events as ev
from ledger.application import PersonSummary, Timeline, TimelineEntry


def person_table(summary: PersonSummary) -> Table:
    """The registration (personal fields decrypted, or marked erased) and the current status."""
    registration = summary.registration
    personal = registration.personal_fields()
    table = Table(title=f"Person {summary.person_id}", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in registration_fields(summary).items():
        shown = ERASED if summary.erased and name in personal else plain(value)
        table.add_row(name, Text(shown))
    table.add_row("registered on", Text(registration.occurred_on.isoformat()))
    table.add_row("registered by", Text(registration.recorded_by))
    table.add_row("municipality", Text(summary.municipality or "-"))
    table.add_row("version", str(summary.version))
    for name, value in summary.status.items():
        table.add_row(name, Text(value))
    return table


def _fields_cell(entry: TimelineEntry) -> Text:
    event = entry.event
    if isinstance(event, ev.EventCorrected):
        lines = [f"corrects v{event.target_version}"]
        changes = {**event.changes, **(event.personal_changes or {})}
        lines += [f"{name}={plain(value)}" for name, value in changes.items()]
        lines += [f"{name}={NOT_SHOWN}" for name in entry.withheld]
    elif isinstance(event, ev.EventRetracted):
        lines = [f"retracts v{event.target_version}"]
    else:
        lines = []
    shown = entry.effective or event
    was = payload(event)
    for name, value in payload(shown).items():
        if isinstance(event, ev.EventCorrected | ev.EventRetracted) and name != "reason":
            continue
        if name in entry.withheld:
            lines.append(f"{name}={NOT_SHOWN}")
            continue
        if value is None or value in ([], {}):
            continue
        lines.append(f"{name}={changed(value, was.get(name))}")
    for item in shown.evidence:
        lines.append(f"evidence={item.kind}:{item.reference}")
    return Text("\n".join(lines))


def _kind_cell(entry: TimelineEntry) -> Text:
    cell = Text(entry.kind)
    if entry.retracted_by is not None:
        cell.append(f"\nretracted by v{entry.retracted_by}", style="red")
    elif entry.corrected_by:
        versions = ", ".join(f"v{v}" for v in entry.corrected_by)
        cell.append(f"\ncorrected by {versions}", style="yellow")
    return cell


def _recorded(event: ev.TrajectEvent) -> Text:
    """When and by whom (and who imported it, for a recorder kept from another ledger)."""
    text = f"{moment(event.timestamp)}\n{event.recorded_by} ({event.source.value})"
    if event.imported_by is not None:
        text += f"\nimported by {event.imported_by}"
    return Text(text)


def _stream_label(timeline: Timeline) -> str:
    """``municipality GM0622 (stream …)``, ``project MWP (stream …)`` or a person's id."""
    first = timeline.entries[0].event if timeline.entries else None
    if first is None or first.stream is ev.StreamKind.PERSON:
        return str(timeline.stream_id)
    if isinstance(first, ev.ProjectRegistered):
        return f"project {first.project_code} (stream {timeline.stream_id})"
    return f"{first.stream.value} {first.municipality} (stream {timeline.stream_id})"


def timeline_table(timeline: Timeline) -> Table:
    """One row per stored event: what was recorded, when, by whom, and what became of it.

    Columns: version; occurred on and municipality (corrected values, with the original in
    brackets); kind and status (corrected by / retracted by); the fields as ``name=value``;
    when (UTC), by whom (and who imported it, for a recorder kept from another ledger) and from
    which source it was recorded.
    """
    title = f"Timeline of {_stream_label(timeline)}"
    if timeline.as_known_at is not None:
        title += f" as known at {moment(timeline.as_known_at)} UTC"
    if timeline.erased:
        title += " (personal data erased)"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_lines=True)
    table.add_column("v", justify="right", no_wrap=True)
    table.add_column("occurred on", no_wrap=True)
    # In a narrow terminal the fields keep at least a third of the width; kind and recording
    # details wrap instead.
    table.add_column("kind / status", overflow="fold")
    table.add_column("fields", overflow="fold", ratio=1, min_width=24)
    table.add_column("recorded (UTC) / by / source", overflow="fold", max_width=20)
    for entry in timeline.entries:
        event, shown = entry.event, entry.effective or entry.event
        table.add_row(
            str(entry.version),
            Text(
                changed(shown.occurred_on.isoformat(), event.occurred_on.isoformat())
                + "\n"
                + changed(shown.municipality, event.municipality)
            ),
            _kind_cell(entry),
            _fields_cell(entry),
            _recorded(event),
        )
    if not timeline.entries:
        table.caption = "no events were known at that moment"
    return table


def reads_table(reads: list[ev.SpecialCategoryRead], title: str, *, persons: bool = True) -> Table:
    """One row per recorded read of special-category values: when (UTC), whose (unless the
    title names the one person: ``persons`` False), by whom, with which command, of which
    fields, and why."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("recorded (UTC)", no_wrap=True)
    if persons:
        table.add_column("person", no_wrap=True)
    table.add_column("v", justify="right", no_wrap=True)
    table.add_column("read by", overflow="fold")
    table.add_column("command", overflow="fold")
    table.add_column("fields", no_wrap=True)
    table.add_column("purpose", overflow="fold", ratio=1, min_width=12)
    for read in reads:
        cells: list[str | Text] = [
            moment(read.timestamp),
            *([str(read.originator_id)] if persons else []),
            str(read.originator_version),
            Text(read.read_by),
            Text(read.command),
            Text("\n".join(read.field_names)),
            Text(read.purpose),
        ]
        table.add_row(*cells)
    table.caption = f"{len(reads)} recorded read(s)"
    return table
