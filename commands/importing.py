"""``traject import FILE.jsonl``: record many facts from a file, one JSON object per line.

The format comes from the event catalog: ``kind`` is a catalog name or class name, the other
keys are the event's fields by name (or an import alias), converted as the command line converts
them (``commands.fields``) and validated by the same models and rules. Persons are referred to by
an external key (``person``), stored with their registration. Each line's idempotency key is
derived from the file name, the line number and the line's text, so a second import of the same
file, or the resumption of a killed one, appends only what is not there yet.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import click
import orjson
from pydantic import ValidationError

from commands import fields
from commands.context import TrajectContext, pass_traject
from commands.types import EvidenceRef, IsoDate, gemeente_code
from ledger.aggregates import DERIVED_FIELDS
from ledger.application import Recorded, validation_problems
from ledger.catalog import CatalogEntry, entry
from ledger.errors import RuleViolationError, TrajectError, ValidationFailedError
from ledger.events import (
    EventCorrected,
    EventRetracted,
    PersonRegistered,
    StreamKind,
    municipality_stream_id,
    project_stream_id,
)
from ledger.values import Source

SUBJECT_KEYS: dict[StreamKind, str] = {
    StreamKind.PERSON: "person",
    StreamKind.MUNICIPALITY: "municipality",
    StreamKind.PROJECT: "project",
}
ENVELOPE_KEYS = ("occurred_on", "municipality", "source", "idempotency_key", "evidence")
LINE_KEYS = ("kind", "recorded_at", "person_id")  # keys of a line that are not event fields
CONTROL_KINDS = (EventCorrected, EventRetracted)
ENVELOPE_TYPES: dict[str, click.ParamType[Any]] = {
    "occurred_on": IsoDate(),
    "municipality": gemeente_code(),
    "source": click.Choice([s.value for s in Source]),
    "evidence": EvidenceRef(),
}

Problems = list[tuple[str, str]]
SKIPPED = "skipped"  # what a dry run finds already recorded


class LineRejectedError(Exception):
    """One line cannot be recorded; ``problems`` are (field, message) pairs."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))


@dataclass
class Summary:
    written: int = 0
    skipped: int = 0
    rejected: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)


def line_key(path: Path, number: int, text: str) -> str:
    """``import:<file name>:<line number>:<sha256 of the line>[:16]``: survives moving the file."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"import:{path.name}:{number}:{digest}"


def rejects_path(path: Path) -> Path:
    if path.suffix == ".jsonl":
        return path.with_suffix(".rejects.jsonl")
    return path.with_name(path.name + ".rejects.jsonl")


def _convert(param_type: click.ParamType[Any], name: str, value: Any) -> Any:
    """Text goes through the command line's own conversion; other JSON values as they are."""
    if not isinstance(value, str):
        return value
    try:
        return param_type.convert(value, None, None)
    except click.BadParameter as error:
        raise LineRejectedError([(name, error.message)]) from None


def _field_type(item: CatalogEntry, name: str) -> tuple[click.ParamType[Any] | None, bool]:
    """The click type of one field, and whether the field takes several values."""
    if name in ENVELOPE_TYPES:
        return ENVELOPE_TYPES[name], name == "evidence"
    if name == "idempotency_key":
        return None, False
    info = item.payload_fields()[name]
    shape = fields.shape_of(info.annotation, info.metadata)
    if shape.mapping is not None or shape.base is bool:
        return None, False  # a JSON object or boolean: the model validates it as it is
    return fields.click_type(shape), shape.many


def event_fields(item: CatalogEntry, record: dict[str, Any]) -> dict[str, Any]:
    """The event fields of one line (subject keys taken out), converted as the CLI does."""
    allowed = set(item.payload_fields()) | set(ENVELOPE_KEYS)
    given: dict[str, Any] = {}
    problems: Problems = []
    for key, value in record.items():
        if key in LINE_KEYS or key == SUBJECT_KEYS[item.stream] or value is None:
            continue
        name = item.aliases.get(key, key)
        if name not in allowed:
            problems.append((key, f"{item.name} has no field {key!r}"))
            continue
        param_type, many = _field_type(item, name)
        try:
            if param_type is None:
                given[name] = value
            elif many and isinstance(value, list):
                given[name] = [_convert(param_type, name, v) for v in value]
            else:
                given[name] = _convert(param_type, name, value)
        except LineRejectedError as error:
            problems += error.problems
    if problems:
        raise LineRejectedError(problems)
    return given


def recorded_at(record: dict[str, Any]) -> datetime | None:
    """The line's optional ``recorded_at``: an ISO 8601 date-time with a UTC offset."""
    value = record.get("recorded_at")
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise LineRejectedError(
            [("recorded_at", f"not an ISO 8601 date-time with offset: {value!r}")]
        )
    if moment.tzinfo is None:
        raise LineRejectedError([("recorded_at", "needs a UTC offset, e.g. +01:00 or Z")])
    return moment


def uuid_key(record: dict[str, Any], name: str = "person_id") -> UUID | None:
    """An optional UUID of the line (``person_id``)."""
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return UUID(value)
    raise LineRejectedError([(name, f"not a UUID: {value!r}")])


def check_types(item: CatalogEntry, given: dict[str, Any], municipality: str | None) -> None:
    """Field types only (for --dry-run): the model validates; rules and derivations are not run."""
    derived = set(DERIVED_FIELDS.get(item.event, (frozenset(), ()))[1])
    state = {
        "recorded_by": "import",
        "municipality": municipality or "GM0000",
        **given,
        "originator_id": uuid4(),
        "originator_version": 1,
        "timestamp": datetime.now(UTC),
    }
    try:
        item.event.model_validate(state)
    except ValidationError as error:
        problems = [(f, m) for f, m in validation_problems(error) if f not in derived]
        if problems:
            raise LineRejectedError(problems) from None


class Importer:
    """Records (or, dry, only validates) the lines of one file."""

    def __init__(self, traject: TrajectContext, path: Path, *, dry_run: bool) -> None:
        self.traject = traject
        self.path = path
        self.dry_run = dry_run
        self.registered_here: set[str] = set()  # external keys registered by this (dry) run
        if not dry_run:
            traject.app.tables.ensure_external_refs()
        self.has_refs = traject.app.tables.has_external_refs()

    def known(self, key: str) -> UUID | None:
        return self.traject.app.person_by_external_ref(key) if self.has_refs else None

    def person(self, record: dict[str, Any]) -> UUID | None:
        given = uuid_key(record)
        if given is not None and "person" not in record:
            if self.dry_run or self.traject.app.tables.person_ids_starting_with(str(given), 1):
                return given
            raise LineRejectedError([("person_id", f"no person {given}")])
        key = record.get("person")
        if not isinstance(key, str) or not key:
            raise LineRejectedError([("person", "required: the person's external key")])
        person_id = self.known(key)
        if person_id is None and not (self.dry_run and key in self.registered_here):
            raise LineRejectedError(
                [("person", f"no person with external key {key!r}: register them first")]
            )
        return person_id

    def subject(self, item: CatalogEntry, record: dict[str, Any]) -> str:
        name = SUBJECT_KEYS[item.stream]
        value = record.get(name)
        if not isinstance(value, str) or not value:
            raise LineRejectedError([(name, f"required: the {name} of a {item.name} fact")])
        param_type = gemeente_code() if item.stream is StreamKind.MUNICIPALITY else click.STRING
        return str(_convert(param_type, name, value))

    def line(self, number: int, text: str) -> Recorded | str | None:
        """Record one line; None when dry. Raises LineRejectedError or TrajectError."""
        try:
            record = orjson.loads(text)
        except orjson.JSONDecodeError as error:
            raise LineRejectedError([("line", f"not valid JSON: {error}")]) from None
        if not isinstance(record, dict):
            raise LineRejectedError([("line", "not a JSON object")])
        kind = record.get("kind")
        try:
            item = entry(kind) if isinstance(kind, str) else None
        except KeyError:
            item = None
        if item is None:
            raise LineRejectedError([("kind", f"unknown kind {kind!r} (see docs/events.md)")])
        moment = recorded_at(record)
        if item.event in CONTROL_KINDS:
            return self.control(item, record, line_key(self.path, number, text), moment)
        if not (item.recordable or item.event is PersonRegistered):
            raise LineRejectedError([("kind", f"{item.name} is not imported: use traject shred")])
        given = event_fields(item, record)
        given.setdefault("idempotency_key", line_key(self.path, number, text))
        given.setdefault("source", Source.IMPORT.value)
        if moment is not None:
            given["recorded_at"] = moment
        app = self.traject.app
        if self.dry_run and app.tables.idempotent_append(given["idempotency_key"]) is not None:
            return SKIPPED
        if item.event is PersonRegistered:
            key = record.get("person")
            if not isinstance(key, str) or not key:
                raise LineRejectedError([("person", "required: the person's external key")])
            if self.dry_run:
                if self.known(key) or key in self.registered_here:
                    raise LineRejectedError(
                        [("person", f"a person with external key {key!r} is already registered")]
                    )
                check_types(item, given, app.default_municipality)
                self.registered_here.add(key)
                return None
            return app.register_person(external_ref=key, person_id=uuid_key(record), **given)
        if item.stream is StreamKind.PERSON:
            person_id = self.person(record)
            if self.dry_run or person_id is None:
                check_types(item, given, app.default_municipality)
                return None
            return app.record_on(person_id, item.event, **given)
        subject = self.subject(item, record)
        if self.dry_run:
            if item.stream is StreamKind.MUNICIPALITY:
                given.setdefault("municipality", subject)
            check_types(item, given, app.default_municipality)
            return None
        return app.record_on(subject, item.event, **given)

    def control(
        self, item: CatalogEntry, record: dict[str, Any], key: str, moment: datetime | None
    ) -> Recorded | str | None:
        """A correction or retraction line: its stream, its target, its changes and reason."""
        allowed = {*LINE_KEYS, "person", "municipality", "project", "target", "reason"}
        allowed |= {"occurred_on", "source", "idempotency_key"}
        if item.event is EventCorrected:
            allowed.add("changes")
        unknown = sorted(set(record) - allowed)
        if unknown:
            raise LineRejectedError([(k, f"{item.name} has no field {k!r}") for k in unknown])
        envelope = event_fields(item, {k: record[k] for k in ENVELOPE_KEYS if k in record})
        envelope.setdefault("idempotency_key", key)
        envelope.setdefault("source", Source.IMPORT.value)
        app = self.traject.app
        seen = app.tables.idempotent_append(envelope["idempotency_key"])
        if seen is not None:
            return SKIPPED if self.dry_run else Recorded(*seen, item.kind, duplicate=True)
        stream_id = self.control_stream(record)
        version = self.target(record, stream_id)
        reason = record.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise LineRejectedError([("reason", "required: why the fact is changed")])
        if moment is not None:
            envelope["recorded_at"] = moment
        changes = record.get("changes")
        if item.event is EventCorrected and (not isinstance(changes, dict) or not changes):
            raise LineRejectedError([("changes", "required: an object of field: new value")])
        if self.dry_run or stream_id is None:
            return None
        if item.event is EventCorrected:
            assert isinstance(changes, dict)
            return app.correct(stream_id, version, changes, reason=reason, **envelope)
        return app.retract(stream_id, version, reason=reason, **envelope)

    def control_stream(self, record: dict[str, Any]) -> UUID | None:
        """The stream a correction or retraction line is on (None: registered in a dry run)."""
        if "person" in record or "person_id" in record:
            return self.person(record)
        if isinstance(record.get("project"), str) and record["project"]:
            return project_stream_id(record["project"])
        if isinstance(record.get("municipality"), str) and record["municipality"]:
            code = str(_convert(gemeente_code(), "municipality", record["municipality"]))
            return municipality_stream_id(code)
        raise LineRejectedError([("person", "required: person, municipality or project")])

    def target(self, record: dict[str, Any], stream_id: UUID | None) -> int:
        """The target version: a version number, or the idempotency key of an earlier line."""
        target = record.get("target")
        if isinstance(target, int) and not isinstance(target, bool) and target >= 1:
            return target
        if isinstance(target, str) and target:
            found = self.traject.app.tables.idempotent_append(target)
            if found is None:
                if self.dry_run:
                    return 1
                raise LineRejectedError([("target", f"no fact with idempotency key {target!r}")])
            if stream_id is not None and found[0] != stream_id:
                raise LineRejectedError(
                    [("target", f"the fact {target!r} belongs to another stream")]
                )
            return found[1]
        raise LineRejectedError(
            [("target", "required: a version number or an earlier line's idempotency key")]
        )

    def run(self, lines: Iterator[tuple[int, str]]) -> Summary:
        summary = Summary()
        for number, text in lines:
            try:
                result = self.line(number, text)
            except LineRejectedError as error:
                self.reject(summary, number, text, error.problems)
            except ValidationFailedError as error:
                self.reject(summary, number, text, error.problems)
            except RuleViolationError as error:
                self.reject(summary, number, text, [(error.field, error.rule)])
            except TrajectError as error:
                self.reject(summary, number, text, [field_of(str(error))])
            else:
                if result == SKIPPED or (isinstance(result, Recorded) and result.duplicate):
                    summary.skipped += 1
                else:
                    summary.written += 1
        return summary

    def reject(self, summary: Summary, number: int, text: str, problems: Problems) -> None:
        summary.rejected += 1
        for name, message in problems:
            click.echo(f"{self.path}:{number}: {name}: {message}", err=True)
        error = "; ".join(f"{name}: {message}" for name, message in problems)
        try:
            record = orjson.loads(text)
        except orjson.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            summary.rejects.append({**record, "_line": number, "_error": error})
        else:
            summary.rejects.append({"_text": text, "_line": number, "_error": error})


def field_of(message: str) -> tuple[str, str]:
    """``"bsn: a person with this BSN …"`` → ``("bsn", "a person …")``; else the whole line's."""
    head, sep, rest = message.partition(": ")
    return (head, rest) if sep and head.isidentifier() else ("line", message)


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The non-blank lines of the file with their numbers (from 1)."""
    with path.open(encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.rstrip("\r\n")
            if text.strip():
                yield number, text


@click.command(name="import")
@click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE.jsonl"
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="validate every line and write nothing; checks field types and person keys only, "
    "not the domain rules (order of facts, terminal states)",
)
@click.option("--quiet", "-q", is_flag=True, help="no summary (rejected lines are still shown)")
@pass_traject
def import_command(traject: TrajectContext, /, file: Path, *, dry_run: bool, quiet: bool) -> None:
    """Record facts from a JSON Lines file: one object per line, a kind and its fields.

    Each line is {"kind": KIND, "person": KEY, "occurred_on": "YYYY-MM-DD", FIELD: VALUE, …};
    KIND is a name of `traject record` (or person-registered), fields are named as in
    docs/events.md. KEY is the source system's key of the person: a person-registered line
    registers the person under it, later lines refer to it. Municipality and project facts give
    "municipality": "GMdddd" or "project": "CODE" instead of "person".

    A line already imported (same file name, line number and text) is skipped, so importing a
    file again, or again after an interruption, appends only what is missing. A bad line is
    reported as FILE:LINE: field: message, nothing of it is written, and it goes to
    FILE.rejects.jsonl with an "_error"; the exit status is then 1. See docs/import.md.

    \b
    Example:
      traject import clients.jsonl --dry-run
      traject import clients.jsonl
    """
    importer = Importer(traject, file, dry_run=dry_run)
    summary = importer.run(read_lines(file))
    if summary.rejects:
        with rejects_path(file).open("wb") as out:
            for item in summary.rejects:
                out.write(orjson.dumps(item) + b"\n")
    if not quiet:
        verb = "valid" if dry_run else "written"
        text = (
            f"{summary.written} {verb}, {summary.skipped} skipped (already present), "
            f"{summary.rejected} rejected"
        )
        if summary.rejects:
            text += f"; rejected lines in {rejects_path(file)}"
        traject.emit(
            text,
            {
                "dry_run": dry_run,
                verb: summary.written,
                "skipped": summary.skipped,
                "rejected": summary.rejected,
            },
        )
    if summary.rejected:
        raise click.exceptions.Exit(1)
