"""``traject import FILE``: record many facts from a JSON Lines file, or a CSV file of one kind.

The format comes from the event catalog: ``kind`` is a catalog name or class name, the other
keys are the event's fields by name (or an import alias), converted as the command line converts
them (``commands.fields``) and validated by the same models and rules. Persons are referred to by
an external key (``person``) stored with their registration, or by id (``person_id``). Each
line's idempotency key is derived from the file name, the line number and the line's text
(without the recorder it carries), so a second import of the same file, or the resumption of a
killed one, appends only what is not there yet. A line's ``recorded_by`` is its fact's recorder
only when the import keeps recorders (``--keep-recorded-by``).

The conversion of a line into a :class:`ledger.batch.Write` lives here; the checks and the
writes are the ledger's (``ledger.batch.BatchWriter``). :func:`import_lines` is the entry point
for other commands (``traject generate``, ``traject demo``): lines in, a :class:`Summary` out.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gc
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple, NoReturn
from uuid import UUID

import click
import orjson

from commands import fields, render
from commands.context import TrajectContext, pass_traject
from commands.output import partial_of, replaced_file
from commands.types import DecimalType, IsoDate, MunicipalityType, PatternType, out_of_int64
from ledger.application import Recorded, TrajectoryLedger
from ledger.batch import BatchWriter, Write
from ledger.catalog import CatalogEntry, entry
from ledger.errors import (
    InputError,
    PersonNotFoundError,
    RuleViolationError,
    StreamNotFoundError,
    TrajectError,
    ValidationFailedError,
)
from ledger.events import (
    EventCorrected,
    EventRetracted,
    PersonRegistered,
    ProjectRegistered,
    StreamKind,
    TrajectEvent,
)
from ledger.export import WITHHELD_KEY
from ledger.persistence import Purge
from ledger.values import NUL_RULE, Source

SUBJECT_KEYS: dict[StreamKind, str] = {
    StreamKind.PERSON: "person",
    StreamKind.MUNICIPALITY: "municipality",
    StreamKind.PROJECT: "project",
}
ENVELOPE_KEYS = (
    "occurred_on",
    "municipality",
    "source",
    "recorded_by",
    "idempotency_key",
    "evidence",
)
RECORDER = "recorded_by"  # kept only when asked (keep_recorded_by); else the importing user
PSEUDONYMS = "_pseudonyms"  # a pseudonymised export's note of the values it left out
LINE_KEYS = ("kind", "recorded_at", "person_id")  # keys of a line that are not event fields
CONTROL_KEYS = ("target", "reason", "changes")  # the keys of correction and retraction lines
CONTROL_KINDS = (EventCorrected, EventRetracted)
REGISTRATIONS = (PersonRegistered, ProjectRegistered)  # the facts that start a stream's history
NO_MUNICIPALITY = (
    "required: the line names none and the ledger has no default municipality; add "
    '"municipality": "GMdddd" to the line (a column in CSV), or import with --municipality'
)
ENVELOPE_TYPES = fields.ENVELOPE_TYPES  # as the options read them
MUNICIPALITY = ENVELOPE_TYPES["municipality"]  # a CBS code in the dated list (or a name)
IMPORT_SOURCE = Source.IMPORT.value  # an imported fact's source unless the line names one
LIST_SEPARATOR = ";"  # between the values of a list field in a CSV cell
DEFAULT_BATCH_SIZE = 5000
CSV_PROBLEMS = "_csv_problems"  # a CSV row's cells that could not be read (read_csv)
CSV_OUTSIDE = "_csv_outside"  # a CSV row's cells outside the header's named columns (read_csv)

Problems = list[tuple[str, str]]
Line = tuple[int, str | dict[str, Any]]
"""A line number and either the line's text (JSON) or an already parsed object."""


class LineRejectedError(Exception):
    """One line cannot be recorded; ``problems`` are (field, message) pairs."""

    def __init__(self, problems: Problems) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))


@dataclass(frozen=True)
class Reject:
    """A refused line: its number, what was wrong, and the line (object, or text if not one)."""

    line: int
    problems: Problems
    record: dict[str, Any] | None
    text: str

    def as_json(self) -> dict[str, Any]:
        """The rejects file's form: the line's object with ``_line`` and ``_error`` added."""
        error = "; ".join(f"{name}: {message}" for name, message in self.problems)
        if self.record is not None:
            return {**self.record, "_line": self.line, "_error": error}
        return {"_text": self.text, "_line": self.line, "_error": error}


WARNINGS_SHOWN = 20
"""Warnings an import shows line by line (on stderr); the rest are counted."""


@dataclass
class Summary:
    """What an import did: lines written, skipped as already present, rejected."""

    written: int = 0
    skipped: int = 0
    rejected: int = 0
    rejects: list[Reject] = field(default_factory=list)
    warnings: int = 0
    warned: list[tuple[int, str]] = field(default_factory=list)
    """(line number, warning) of the first ``WARNINGS_SHOWN`` warnings, to show."""
    recorders_not_kept: int = 0  # lines written (or valid) whose recorded_by was not kept
    purge: Purge | None = None  # of the destroyed data keys, after the last erasure imported

    def add_warnings(self, number: int, warnings: Sequence[str]) -> None:
        """Count a written line's warnings, and keep them to show, up to ``WARNINGS_SHOWN``."""
        if not warnings:  # most lines
            return
        self.warnings += len(warnings)
        room = max(WARNINGS_SHOWN - len(self.warned), 0)
        self.warned += [(number, text) for text in warnings[:room]]


# --- one line ----------------------------------------------------------------------------------


def line_key(source: str, number: int, text: str) -> str:
    """``import:<file name>:<line number>:<sha256 of the line>[:16]``: survives moving the file."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"import:{source}:{number}:{digest}"


def _convert(param_type: click.ParamType[Any], name: str, value: Any) -> Any:
    """Text goes through the command line's own conversion; other JSON values as they are.

    Two shortcuts give what the conversion gives, faster: a well-formed ``YYYY-MM-DD`` date,
    and a choice found in the choices (case-insensitively); anything else goes to click, for
    its conversion and its message.
    """
    if not isinstance(value, str):
        return value
    if isinstance(param_type, IsoDate) and len(value) == 10 and value[4] == value[7] == "-":
        with contextlib.suppress(ValueError):
            return date.fromisoformat(value)
    if isinstance(param_type, click.Choice):
        found = _choices(param_type).get(value.casefold())
        if found is not None:
            return found
    try:
        return param_type.convert(value, None, None)
    except click.BadParameter as error:
        raise LineRejectedError([(name, error.message)]) from None


_CHOICES: dict[int, dict[str, Any]] = {}


def _choices(param_type: click.Choice[Any]) -> dict[str, Any]:
    """A choice type's choices by their case-folded text (kept per type object)."""
    found = _CHOICES.get(id(param_type))
    if found is None:
        found = _CHOICES[id(param_type)] = {str(c).casefold(): c for c in param_type.choices}
    return found


def _find_field_type(
    item: CatalogEntry, name: str
) -> tuple[click.ParamType[Any] | None, fields.Shape | None]:
    """The click type of one field (None: the model checks it as it is) and its shape."""
    if name in ENVELOPE_TYPES:
        many = name == "evidence"
        return ENVELOPE_TYPES[name], fields.Shape(str, many=many)
    if name in ("idempotency_key", RECORDER):
        return None, None  # text: the model's own constraints check it
    info = item.payload_fields()[name]
    shape = fields.shape_of(info.annotation, info.metadata)
    if shape.mapping is not None or shape.base is bool:
        return None, shape  # a JSON object or a flag: converted by its shape (_converter)
    param_type = fields.click_type(shape)
    if param_type is click.STRING:
        return None, fields.Shape(str, many=shape.many)  # text: the model's constraints check it
    return param_type, shape


Converter = Callable[[Any], Any]


def _shown(value: Any) -> str:
    """A value as a message shows it: text quoted, other JSON values as JSON (shortened)."""
    if isinstance(value, str):
        text = repr(value)
    else:
        try:
            text = orjson.dumps(value).decode()
        except TypeError:
            text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _refuse(name: str, expected: str, value: Any) -> NoReturn:
    raise LineRejectedError([(name, f"expected {expected}, got {_shown(value)}")])


def _refuse_scalar(name: str, expected: str, value: Any) -> None:
    """Refuse a JSON boolean or number where the field takes text of another kind."""
    if isinstance(value, bool | int | float):
        _refuse(name, expected, value)


def _is_number(value: Any) -> bool:
    """A JSON number (or a Python one): never a boolean, which JSON keeps apart."""
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _range_text(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" of at least {low}"
    return "" if high is None else f" of at most {high}"


def _whole_number(name: str, shape: fields.Shape) -> Converter:
    """An integer field: a JSON whole number, or text of one, within the model's bounds."""
    low, high = shape.constraints.get("ge"), shape.constraints.get("le")
    expected = "a whole number" + _range_text(low, high)

    def to_int(value: Any) -> Any:
        if type(value) is int:
            number = value
        elif isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                _refuse(name, expected, value)
        elif type(value) is float and value.is_integer():
            number = int(value)
        else:
            _refuse(name, expected, value)
        if (low is not None and number < low) or (high is not None and number > high):
            _refuse(name, expected, value)
        problem = out_of_int64(number)
        if problem is not None:
            given = value.strip() if isinstance(value, str) else orjson.dumps(value).decode()
            raise LineRejectedError([(name, f"{given} is {problem}")])
        return number

    return to_int


def _flag(name: str) -> Converter:
    """A boolean field: JSON true/false, or text the command line reads as one (yes, no, 1…)."""

    def to_bool(value: Any) -> Any:
        if type(value) is bool:
            return value
        if isinstance(value, str):
            with contextlib.suppress(click.BadParameter):
                return click.BOOL.convert(value, None, None)
        _refuse(name, "true or false (or yes/no, 1/0 as text)", value)

    return to_bool


def _counts(name: str) -> Converter:
    """A ``KEY=N`` field: an object of whole numbers (the model checks its keys)."""

    def to_counts(value: Any) -> Any:
        if isinstance(value, dict) and any(type(n) is bool for n in value.values()):
            _refuse(name, 'an object of whole numbers, e.g. {"GM0622": 3}', value)
        return value

    return to_counts


def _expected(param_type: click.ParamType[Any]) -> str:
    """What a field of this click type takes, as a message names it."""
    if isinstance(param_type, IsoDate):
        return "a date YYYY-MM-DD"
    if isinstance(param_type, click.Choice):
        return "one of " + ", ".join(str(c) for c in param_type.choices)
    if isinstance(param_type, DecimalType):
        return "a number"
    if isinstance(param_type, click.types.UUIDParameterType):
        return "a UUID"
    return "text"


def _converter(
    param_type: click.ParamType[Any] | None, name: str, shape: fields.Shape | None
) -> Converter | None:
    """One field's conversion of a JSON value (None: the value as it is); see :func:`_convert`.

    Text goes through the command line's conversion; a JSON value of another type must be of
    the field's: a boolean is not a number, nor a number a boolean or a date.
    """
    if shape is not None and shape.mapping is not None:
        return _counts(name)
    if shape is not None and shape.base is bool:
        return _flag(name)
    if isinstance(param_type, click.types.IntParamType):
        return _whole_number(name, shape or fields.Shape(int))
    if param_type is None:
        return None
    expected = _expected(param_type)
    if isinstance(param_type, DecimalType):

        def to_number(value: Any) -> Any:
            if isinstance(value, str):
                return _convert(param_type, name, value)
            if not _is_number(value):
                _refuse(name, expected, value)
            return value

        return to_number
    if isinstance(param_type, click.types.UUIDParameterType):

        def to_uuid(value: Any) -> Any:
            if isinstance(value, str):
                with contextlib.suppress(ValueError):
                    return UUID(value.strip())
            if isinstance(value, UUID):
                return value
            _refuse(name, expected, value)

        return to_uuid
    if isinstance(param_type, IsoDate):

        def to_date(value: Any) -> Any:
            if isinstance(value, str) and len(value) == 10 and value[4] == value[7] == "-":
                try:
                    return date.fromisoformat(value)
                except ValueError:
                    pass  # click's conversion gives the message
            _refuse_scalar(name, expected, value)
            return _convert(param_type, name, value)

        return to_date
    if isinstance(param_type, click.Choice):
        choices = _choices(param_type)

        def to_choice(value: Any) -> Any:
            if isinstance(value, str):
                found = choices.get(value.casefold())
                if found is not None:
                    return found
            else:
                _refuse_scalar(name, expected, value)
            return _convert(param_type, name, value)

        return to_choice
    if isinstance(param_type, MunicipalityType):
        return _municipality(param_type, name, expected)
    if isinstance(param_type, PatternType):
        pattern, upper = re.compile(param_type.pattern), param_type.upper

        def to_text(value: Any) -> Any:
            if isinstance(value, str):  # PatternType.convert, its pattern compiled once
                text = value.strip().upper() if upper else value.strip()
                if pattern.match(text):
                    return text
            else:
                _refuse_scalar(name, expected, value)
            return _convert(param_type, name, value)

        return to_text

    def to_value(value: Any) -> Any:
        if isinstance(value, str):
            return _convert(param_type, name, value)
        _refuse_scalar(name, expected, value)
        return value

    return to_value


def _municipality(param_type: MunicipalityType, name: str, expected: str) -> Converter:
    """A municipality field: each text the CBS list accepted kept with its code, so a file's
    thousands of lines with the same few municipalities look each one up once (the list is
    the package's data: the code a text resolves to never changes while traject runs)."""
    codes: dict[str, Any] = {}

    def to_code(value: Any) -> Any:
        if isinstance(value, str):
            code = codes.get(value)
            if code is None:
                code = codes[value] = _convert(param_type, name, value)  # refused: not kept
            return code
        _refuse_scalar(name, expected, value)
        return value

    return to_code


SKIP = None  # in a plan: a key of the line that is not an event field (kind, subject, …)
FieldPlan = tuple[str, Converter | None, bool] | None
"""A key's field name, its conversion and whether it takes a list; or SKIP."""

_PLANS: dict[tuple[type, str], dict[str, FieldPlan]] = {}


def _plan(item: CatalogEntry) -> dict[str, FieldPlan]:
    """Each key a line of ``item`` may have (aliases included): how it is read (cached).

    A key not in the plan is not a field of the kind.
    """
    found = _PLANS.get((item.event, item.name))
    if found is None:
        found = _PLANS[item.event, item.name] = _make_plan(item)
    return found


def _make_plan(item: CatalogEntry) -> dict[str, FieldPlan]:
    plan: dict[str, FieldPlan] = {}
    allowed = [*item.event.payload_fields(), *ENVELOPE_KEYS]
    for name in allowed:
        param_type, shape = _find_field_type(item, name)
        many = shape is not None and shape.many and shape.mapping is None
        plan[name] = (name, _converter(param_type, name, shape), many)
    for key, name in item.aliases.items():
        if name in plan and plan[name] is not None:
            plan[key] = plan[name]
        else:
            plan.pop(key, None)  # an alias of no field of this kind: refused, by its key
    for key in (*LINE_KEYS, SUBJECT_KEYS[item.stream]):
        plan[key] = SKIP
    return plan


def line_keys(item: CatalogEntry) -> frozenset[str]:
    """The keys a line of ``item`` may have besides notes (``_…``): its fields by name or
    import alias, the envelope's, ``kind``, its subject and ``recorded_at``."""
    if item.event in CONTROL_KINDS:
        control = CONTROL_KEYS if item.event is EventCorrected else CONTROL_KEYS[:2]
        return frozenset((*LINE_KEYS, *SUBJECT_KEYS.values(), *ENVELOPE_KEYS, *control))
    return frozenset(_plan(item))


def event_fields(item: CatalogEntry, record: dict[str, Any]) -> dict[str, Any]:
    """The event fields of one line (subject keys taken out), converted as the CLI does."""
    plan = _plan(item)
    given: dict[str, Any] = {}
    problems: Problems = []
    for key, value in record.items():
        if value is None:
            continue
        try:
            how = plan[key]
        except KeyError:
            if not key.startswith("_"):  # "_…" keys are notes: ignored
                problems.append((key, f"{item.name} has no field {key!r}"))
            continue
        if how is SKIP:
            continue
        name, convert, many = how
        try:
            if convert is None:
                given[name] = value
            elif many and isinstance(value, list):
                given[name] = [convert(v) for v in value]
            else:
                given[name] = convert(value)
        except LineRejectedError as error:
            problems += error.problems
    if problems:
        raise LineRejectedError(problems)
    return given


def corrected_values(kind: type[TrajectEvent], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A correction line's new values, read as a line of the target's kind reads its fields
    (:func:`event_fields`: text as the command line reads it, JSON values of the field's type);
    a null clears a field, as it is.

    Raises:
        ValidationFailedError: naming each field whose value is refused, and why.
    """
    try:
        item = entry(kind.__name__)
    except KeyError:  # pragma: no cover - every correctable kind is in the catalog
        return dict(changes)
    try:
        return {**changes, **event_fields(item, dict(changes))}
    except LineRejectedError as error:
        raise ValidationFailedError(f"EventCorrected of {kind.__name__}", error.problems) from None


def recorded_at(record: dict[str, Any]) -> datetime | None:
    """The line's optional ``recorded_at``: an ISO 8601 date-time with a UTC offset."""
    value = record.get("recorded_at")
    if value is None:
        return None
    moment = _iso_moment(value) if isinstance(value, str) else None
    if moment is None:
        raise LineRejectedError(
            [("recorded_at", f"not an ISO 8601 date-time with offset: {value!r}")]
        )
    if moment.tzinfo is None:
        raise LineRejectedError([("recorded_at", "needs a UTC offset, e.g. +01:00 or Z")])
    return moment


def _iso_moment(text: str) -> datetime | None:
    """``text`` read as an ISO 8601 date-time, None if it is not one (a try, not
    ``contextlib.suppress``: entering that costs more than the parsing, on every line)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def uuid_key(record: dict[str, Any], name: str = "person_id") -> UUID | None:
    """An optional UUID of the line (``person_id``)."""
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return UUID(value)
    raise LineRejectedError([(name, f"not a UUID: {value!r}")])


EXTERNAL_KEY_MAX = 300
"""The longest external key, as the longest idempotency key: a key is indexed, and PostgreSQL
cannot index one of thousands of characters."""


def _text_key(record: dict[str, Any], name: str, what: str) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise LineRejectedError([(name, f"{what}: a non-empty text")])
    if len(value) > EXTERNAL_KEY_MAX:
        raise LineRejectedError([(name, f"{what}: at most {EXTERNAL_KEY_MAX} characters")])
    return value


def catalog_item(record: dict[str, Any]) -> CatalogEntry:
    kind = record.get("kind")
    if kind is None or kind == "":
        raise LineRejectedError([("kind", "required: the kind of fact, e.g. ladder-assessed")])
    try:
        item = entry(kind) if isinstance(kind, str) else None
    except KeyError:
        item = None
    if item is None:
        raise LineRejectedError([("kind", f"unknown kind {kind!r} (see docs/events.md)")])
    return item


def _person(record: dict[str, Any]) -> UUID | str:
    """A person fact's subject: ``person_id`` (a UUID) or ``person`` (an external key)."""
    person_id = uuid_key(record)
    key = _text_key(record, "person", "the person's external key")
    if key is not None:
        return key
    if person_id is not None:
        return person_id
    raise LineRejectedError([("person", "required: the person's external key (or person_id)")])


def parse_line(
    record: dict[str, Any],
    default_key: str,
    *,
    keep_recorded_by: bool = False,
    municipality: str | None = None,
) -> Write:
    """One line's object as a :class:`Write` (kind, stream, converted fields).

    The line's ``recorded_by`` becomes the fact's recorder only with ``keep_recorded_by``
    (the event's model checks it then); otherwise it is left out and the importing user
    records the fact. ``municipality`` is that of a registration (of a person or a project:
    a stream that has none yet) whose line names none; without it such a line is rejected.

    Raises:
        LineRejectedError: an unknown kind or field, a value the CLI's conversion refuses.
    """
    item = catalog_item(record)
    moment = recorded_at(record)
    if item.event in CONTROL_KINDS:
        notes = {k: v for k, v in record.items() if k.startswith("_")}  # ignored, but told
        record = {k: v for k, v in record.items() if k not in notes}
        return _control(
            item,
            record,
            default_key,
            moment,
            keep_recorded_by=keep_recorded_by,
            withheld=notes.get(WITHHELD_KEY),
        )
    given = event_fields(item, record)
    if not keep_recorded_by:
        given.pop(RECORDER, None)
    given.setdefault("idempotency_key", default_key)
    given.setdefault("source", IMPORT_SOURCE)
    if item.event in REGISTRATIONS and given.get("municipality") is None:
        if municipality is None:
            raise LineRejectedError([("municipality", NO_MUNICIPALITY)])
        given["municipality"] = municipality
    if item.event is PersonRegistered:
        person_id = uuid_key(record)
        key = _text_key(record, "person", "the person's external key")
        if key is None and person_id is None:
            raise LineRejectedError([("person", "required: the person's external key")])
        return Write(item.event, given, subject=key, person_id=person_id, recorded_at=moment)
    if item.event.stream is StreamKind.PERSON:
        return Write(item.event, given, _person(record), None, moment)
    name = SUBJECT_KEYS[item.stream]
    value = record.get(name)
    if not isinstance(value, str) or not value:
        raise LineRejectedError([(name, f"required: the {name} of a {item.name} fact")])
    param_type = MUNICIPALITY if item.stream is StreamKind.MUNICIPALITY else click.STRING
    subject = str(_convert(param_type, name, value))
    if item.stream is StreamKind.MUNICIPALITY:
        given.setdefault("municipality", subject)  # as record_for_municipality does
    elif item.event is ProjectRegistered:
        given.setdefault("project_code", subject)  # as record_for_project does
    return Write(item.event, given, subject=subject, recorded_at=moment, stream=item.stream)


def _control(
    item: CatalogEntry,
    record: dict[str, Any],
    default_key: str,
    moment: datetime | None,
    *,
    keep_recorded_by: bool,
    withheld: Any = None,
) -> Write:
    """A correction or retraction line: its stream, its target, its changes and reason
    (``withheld``: the line's note of the values an export left out of its changes)."""
    allowed = line_keys(item)
    problems = [(k, f"{item.name} has no field {k!r}") for k in sorted(set(record) - allowed)]
    target = record.get("target")
    if isinstance(target, bool) or not (
        (isinstance(target, int) and target >= 1) or (isinstance(target, str) and target)
    ):
        problems.append(("target", "required: a version number or an idempotency key"))
    reason = record.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        problems.append(("reason", "required: why the fact is changed"))
    changes = record.get("changes")
    if isinstance(changes, str):
        with contextlib.suppress(orjson.JSONDecodeError):
            changes = orjson.loads(changes)  # a CSV cell
    if item.event is EventCorrected and (not isinstance(changes, dict) or not changes):
        problems.append(("changes", _no_changes(changes, withheld)))
    if problems:
        raise LineRejectedError(problems)
    envelope = event_fields(item, {k: record[k] for k in ENVELOPE_KEYS if k in record})
    envelope.pop("municipality", None)  # names the stream below, not a changed envelope
    if not keep_recorded_by:
        envelope.pop(RECORDER, None)
    envelope.setdefault("idempotency_key", default_key)
    envelope.setdefault("source", IMPORT_SOURCE)
    stream, subject = _control_stream(record)
    return Write(
        item.event,
        envelope,
        subject=subject,
        recorded_at=moment,
        target=target,
        changes=changes if isinstance(changes, dict) else None,
        reason=str(reason),
        stream=stream,
    )


def _no_changes(changes: Any, withheld: Any) -> str:
    """Why a correction line has no changes: none given, or all left out by the export that
    wrote it (its ``_withheld``: special-category values, written only for a purpose)."""
    if isinstance(withheld, str):  # a CSV cell
        withheld = [name for name in withheld.split(LIST_SEPARATOR) if name]
    if changes == {} and isinstance(withheld, list) and withheld:
        return (
            "none left: the values it changed were withheld from the export "
            f"({WITHHELD_KEY}: {', '.join(map(str, withheld))}); export with --include-personal "
            "--purpose TEXT to move them"
        )
    return "required: an object of field: new value"


def _control_stream(record: dict[str, Any]) -> tuple[StreamKind, UUID | str]:
    if "person" in record or "person_id" in record:
        return StreamKind.PERSON, _person(record)
    if isinstance(record.get("project"), str) and record["project"]:
        return StreamKind.PROJECT, record["project"]
    if isinstance(record.get("municipality"), str) and record["municipality"]:
        code = str(_convert(MUNICIPALITY, "municipality", record["municipality"]))
        return StreamKind.MUNICIPALITY, code
    raise LineRejectedError(
        [("person", "required: person (or person_id), municipality or project")]
    )


def error_problems(error: TrajectError, changes: Mapping[str, Any] | None = None) -> Problems:
    """A ledger refusal as (field, message) pairs. ``changes``: a correction line's; a field of
    them that a refusal of the corrected values names (any refusal but one of the correction's
    own fields, kind ``EventCorrected``) is named ``changes.FIELD``, not to be taken for the
    line's own field of that name (its ``occurred_on``)."""
    problems = _refusal_problems(error)
    if not changes or getattr(error, "kind", None) == EventCorrected.__name__:
        return problems
    return [(f"changes.{name}" if name in changes else name, rule) for name, rule in problems]


def _refusal_problems(error: TrajectError) -> Problems:
    if isinstance(error, ValidationFailedError):
        return list(error.problems)
    if isinstance(error, RuleViolationError):
        return [(error.field, error.rule)]
    if isinstance(error, StreamNotFoundError):
        return [("person" if isinstance(error, PersonNotFoundError) else "subject", str(error))]
    return [field_of(str(error))]


STREAM_KEYS = ("person", "person_id", "project", "municipality")
"""The keys a line names its stream by, in the order a refusal of the stream looks for them
(``municipality`` last: on a person's or a project's line it is the envelope field)."""
LINE_NAMES = {"target_version": "target", "timestamp": "recorded_at"}
"""Stored fields a refusal names that a line gives under another key: a correction's or a
retraction's target, the recorded time."""


def _object(record: Any) -> dict[str, Any] | None:
    return record if isinstance(record, dict) else None


def as_written(record: Any, problems: Problems) -> Problems:
    """A line's problems, each field named as the line (its object, if it is one) wrote it
    (:func:`line_field`)."""
    return [(line_field(_object(record), name), message) for name, message in problems]


def line_field(record: dict[str, Any] | None, name: str) -> str:
    """How a reject names the field ``name`` of a refusal: as the line wrote it. A key the line
    has is its own name; else a field the line gave by an import alias is named by that alias
    (``DagtekeningInitielePIP`` for ``occurred_on``), a correction's ``target_version`` as
    ``target``, the stream a refusal calls ``subject`` or ``person`` by the line's subject key
    (``person_id``, ``project``)."""
    if record is None or name in record:
        return name
    if name in ("subject", "person"):  # the stream, as the line names it
        return next((key for key in STREAM_KEYS if key in record), name)
    kind = record.get("kind")
    with contextlib.suppress(KeyError, TypeError):
        aliases = entry(str(kind)).aliases if isinstance(kind, str) else {}
        for key, aliased in aliases.items():
            if aliased == name and key in record:
                return key
    return LINE_NAMES.get(name, name)


def field_of(message: str) -> tuple[str, str]:
    """``"bsn: a person with this BSN …"`` → ``("bsn", "a person …")``; else the whole line's."""
    head, sep, rest = message.partition(": ")
    return (head, rest) if sep and head.isidentifier() else ("line", message)


# --- many lines --------------------------------------------------------------------------------


def _decode(number: int, line: str | dict[str, Any], source: str) -> tuple[dict[str, Any], str]:
    """The line's object and its idempotency key: the one it names, else the one derived from
    its text (see :func:`without_recorder`), made only then."""
    if isinstance(line, dict):
        own = line.get("idempotency_key")
        if isinstance(own, str):
            return line, own
        text = orjson.dumps(without_recorder(line), option=orjson.OPT_SORT_KEYS).decode()
        return line, line_key(source, number, text)
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise LineRejectedError([("line", f"not valid JSON: {error}")]) from None
    if not isinstance(record, dict):
        raise LineRejectedError([("line", "not a JSON object")])
    refuse_repeated_keys(line, record)
    if "\\u0000" in line:  # an escaped NUL (or a backslash before u0000: looked at)
        problems = nul_problems(record)
        if problems:
            raise LineRejectedError(problems)
    own = record.get("idempotency_key")
    if isinstance(own, str):
        return record, own
    keyed = without_recorder(record)
    text = line if keyed is record else orjson.dumps(keyed).decode()
    return record, line_key(source, number, text)


def nul_problems(value: Any, path: str = "") -> Problems:
    """The texts of a line that hold a NUL character, by path: valid JSON, but no text of
    the ledger holds one (PostgreSQL's text cannot), on SQLite neither. The catalog's text
    fields refuse one themselves (``ledger.values.Text``); this names it, with the same rule,
    in any text of the line, the person's external key included, before the line is read."""
    if isinstance(value, str):
        return [(path.rstrip(".") or "line", NUL_RULE)] if "\x00" in value else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in nul_problems(v, f"{path}{k}.")]
    if isinstance(value, list):
        return [p for v in value for p in nul_problems(v, path)]
    return []


KEY_END = re.compile(r'"\s*:')
"""The end of an object's key in JSON text (and of any text value that holds ``":``)."""
QUOTE_SPACE = re.compile(r'"\s')
"""A quote and white space: only then can a key end with white space before its colon."""


def _key_ends(text: str) -> int:
    """How many key ends (:data:`KEY_END`) JSON ``text`` holds; counted without the regular
    expression when no key can have white space before its colon (a compact line)."""
    if QUOTE_SPACE.search(text) is None:
        return text.count('":')
    return len(KEY_END.findall(text))


def _key_count(value: Any) -> int:
    """How many keys the objects in a JSON value have, nested ones included."""
    kind = type(value)
    if kind is dict:
        count = len(value)
        for inner in value.values():
            if type(inner) is dict or type(inner) is list:
                count += _key_count(inner)
        return count
    if kind is list:
        return sum(_key_count(inner) for inner in value if type(inner) in (dict, list))
    return 0


def refuse_repeated_keys(text: str, value: Any, path: str = "") -> None:
    """Reject JSON ``text`` (read as ``value``) that gives a key twice in one object: a JSON
    reader keeps the last value and drops the other without a word. The text is read again,
    with every pair seen, only when it holds more key ends than ``value``'s objects have keys
    (a key twice, or a text value holding ``":``).

    Raises:
        LineRejectedError: the keys given twice, by path (``changes.sex``; ``path`` is the
            prefix of a CSV cell's, ``changes.``), with both values.
    """
    ends = _key_ends(text)
    if type(value) is dict and ends <= len(value):
        return  # no more key ends than the object's own keys: a flat line's case, told first
    if ends <= _key_count(value):
        return
    repeated: dict[int, list[tuple[str, Any, Any]]] = {}  # by id() of the object

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, given in items:
            if key in seen:
                repeated.setdefault(id(seen), []).append((key, seen[key], given))
            seen[key] = given
        return seen

    problems: Problems = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, first, last in repeated.get(id(value), []):
                message = f"given twice in the line ({_shown(first)}, then {_shown(last)})"
                problems.append((path + key, message + ": give it once"))
            for key, inner in value.items():
                walk(inner, f"{path}{key}.")
        elif isinstance(value, list):
            for inner in value:
                walk(inner, path)

    walk(json.loads(text, object_pairs_hook=pairs), path)
    if problems:
        raise LineRejectedError(problems)


def without_recorder(record: dict[str, Any]) -> dict[str, Any]:
    """The line as its derived key sees it: without the recorder it carries, if any.

    ``recorded_by`` and its pseudonym (``_pseudonyms.recorded_by``) are left out, so a line keeps
    the key it had before exports carried the recorder: a file exported since then, imported
    where an earlier export of the same facts was imported, appends nothing again. The rest is
    written as ``traject export`` writes it (compact, in the line's order), which gives the very
    text of the earlier export. A line without a recorder is returned as it is (its own text
    stays its key's).
    """
    notes = record.get(PSEUDONYMS)
    if isinstance(notes, str):  # a CSV cell
        with contextlib.suppress(orjson.JSONDecodeError):
            notes = orjson.loads(notes)
    noted = isinstance(notes, dict) and RECORDER in notes
    if record.get(RECORDER) is None and not noted:  # (a null recorder was always accepted)
        return record
    keyed = {k: v for k, v in record.items() if k != RECORDER}
    if noted:
        assert isinstance(notes, dict)
        rest = {k: v for k, v in notes.items() if k != RECORDER}
        if not rest:
            del keyed[PSEUDONYMS]
        elif isinstance(record[PSEUDONYMS], str):
            keyed[PSEUDONYMS] = orjson.dumps(rest).decode()
        else:
            keyed[PSEUDONYMS] = rest
    return keyed


def import_lines(
    app: TrajectoryLedger,
    lines: Iterable[Line],
    *,
    source: str,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_reject: Callable[[Reject], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    keep_recorded_by: bool = False,
    municipality: str | None = None,
) -> Summary:
    """Record (or, dry, check) ``lines``: the one entry point of imports and generators.

    ``lines`` are (line number, JSON text or object) pairs; ``source`` names them in derived
    idempotency keys (``import:<source>:<line>:<hash>``: use a stable name, e.g. the file's).
    Every ``batch_size`` lines are checked in order and the valid ones saved in one transaction
    (``ledger.batch``); a refused line is reported to ``on_reject`` and kept in the summary.
    ``on_progress`` is called with the number of lines done after each batch.

    A line's ``recorded_by`` is its fact's recorder only with ``keep_recorded_by`` (the
    importing user is then recorded as ``imported_by``); otherwise the importing user is the
    recorder, and the summary counts such lines (``recorders_not_kept``).

    ``municipality`` is that of a registration whose line names none (a person's or a
    project's), instead of the ledger's default; with neither, such a line is rejected.
    """
    writer = BatchWriter(app, dry_run=dry_run, read=corrected_values)
    summary = Summary()
    # each line of the batch with its Write, or with the problems that refused it already
    batch: list[tuple[int, str | dict[str, Any], dict[str, Any] | None, Write | Problems]] = []

    def reject(number: int, line: str | dict[str, Any], record: Any, problems: Problems) -> None:
        text = line if isinstance(line, str) else orjson.dumps(line).decode()
        found = Reject(number, as_written(record, problems), _object(record), text)
        summary.rejected += 1
        summary.rejects.append(found)
        if on_reject is not None:
            on_reject(found)

    def flush() -> None:
        outcomes = iter(writer.write([e[3] for e in batch if isinstance(e[3], Write)]))
        written = skipped = not_kept = 0
        for number, line, record, write in batch:
            if not isinstance(write, Write):
                reject(number, line, record, write)
                continue
            outcome = next(outcomes)
            if not isinstance(outcome, Recorded):
                reject(number, line, record, error_problems(outcome, write.changes))
            elif outcome.duplicate:
                skipped += 1
            else:
                written += 1
                summary.add_warnings(number, outcome.warnings)
                not_kept += _not_kept(record, keep=keep_recorded_by)
        summary.written += written
        summary.skipped += skipped
        summary.recorders_not_kept += not_kept
        if on_progress is not None:
            on_progress(len(batch))
        batch.clear()

    with _frozen_between_batches() as settle:
        for number, line in lines:
            record: dict[str, Any] | None = None
            try:
                record, key = _decode(number, line, source)
                cell_problems = record.pop(CSV_PROBLEMS, None)
                if cell_problems:
                    raise LineRejectedError(cell_problems)
                write = parse_line(
                    record,
                    key,
                    keep_recorded_by=keep_recorded_by,
                    municipality=municipality or writer.default_municipality,
                )
                batch.append((number, line, record, write))
            except LineRejectedError as error:
                batch.append((number, line, record, error.problems))
            if len(batch) >= batch_size:
                refused = summary.rejected
                flush()
                settle(cycles=summary.rejected > refused)
        if batch:
            flush()
    summary.purge = writer.purge
    return summary


def _not_kept(record: dict[str, Any] | None, *, keep: bool) -> int:
    """1 for a line whose ``recorded_by`` the import does not keep, else 0."""
    return int(not keep and record is not None and record.get(RECORDER) is not None)


@contextlib.contextmanager
def _frozen_between_batches() -> Iterator[Callable[..., None]]:
    """Yields a function that moves every object alive now out of the cyclic collector's sight.

    The writer's stream cache holds tens of thousands of events (acyclic: they are freed by
    reference counting when evicted); without this, each full collection scans them all again,
    a third of the CPU time of a large import. Everything is handed back to the collector at
    the end (``gc.unfreeze``), so a cycle made during the import is still collected then.

    The collector does not run by itself during a batch either: a batch makes tens of thousands
    of objects that live until its save, and the automatic collections (one each few hundred
    allocations) scanned them again and again, a tenth of the CPU time of an import. The yielded
    function freezes what is alive; the collector's state is restored at the end.

    A batch's cycles are collected first (generations 0 and 1: all the batch made) only when
    ``cycles`` says it may have left some: a batch that refused a line. A refusal is an
    exception, and an exception's traceback holds the frames it passed through, whose locals
    hold the batch (thousands of objects per batch). A batch that refused nothing leaves none
    (none were found in the batches of a million generated lines), and looking for them costs
    a twentieth of an import's CPU time: the collector visits every object the batch keeps in
    the stream cache, and what each of them refers to.
    """
    enabled = gc.isenabled()
    gc.disable()

    def settle(*, cycles: bool = True) -> None:
        if cycles:
            gc.collect(1)
        gc.freeze()

    try:
        yield settle
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


# --- files -------------------------------------------------------------------------------------


def rejects_path(path: Path) -> Path:
    """``clients.jsonl`` → ``clients.rejects.jsonl``; ``housed.csv`` → ``housed.rejects.csv``."""
    if path.suffix in (".jsonl", ".csv"):
        return path.with_suffix(".rejects" + path.suffix)
    return path.with_name(path.name + ".rejects.jsonl")


def check_rejects_path(path: Path) -> None:
    """Refuse, before anything is imported, an import whose rejects file could not be written
    (or removed) where it goes: a directory of that name.

    Raises:
        InputError: the path is there and is not a file.
    """
    if path.exists() and not path.is_file():
        msg = (
            f"{path} is not a file: the rejected lines could not be written there; move it away "
            "and import again. Nothing was imported"
        )
        raise InputError(msg)


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The non-blank lines of the file with their numbers (from 1); a byte order mark at its
    start is not part of the first line."""
    with path.open(encoding="utf-8-sig") as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.rstrip("\r\n")
            if text.strip():
                yield number, text


JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".json")
HEADER_ROW = re.compile(r'\s*"?[A-Za-z_]\w*"?\s*(?:[,;]\s*"?[A-Za-z_]\w*"?\s*)+')
"""A CSV header row: two or more column names (import keys are identifiers) between , or ;."""


class CsvFormat(NamedTuple):
    """How a CSV file is written: its delimiter, and whether it starts with a byte order mark."""

    delimiter: str = ","
    bom: bool = False


PLAIN_CSV = CsvFormat()


def first_line(path: Path) -> str:
    """The file's first line (without a byte order mark), for a look at its format."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        return handle.readline()


def csv_format(path: Path) -> CsvFormat:
    """The delimiter of a CSV file, from its header row: ``,``, or ``;`` (Excel's in a Dutch
    locale) when the header holds more of those; column names hold neither, so the header
    names its delimiter for certain. A byte order mark (Excel's "CSV UTF-8") is noted."""
    header = first_line(path)
    with path.open("rb") as handle:
        bom = handle.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8
    return CsvFormat(";" if header.count(";") > header.count(",") else ",", bom)


def check_file_kind(path: Path, *, csv_kind: bool) -> None:
    """Refuse, before anything is read or written, a CSV file without ``--kind`` and a JSON
    Lines file with it: by the file's extension, and for another extension by whether its first
    line is a CSV header row.

    Raises:
        click.UsageError: the file and the option do not match.
    """
    suffix = path.suffix.lower()
    if csv_kind and suffix in JSON_LINES_SUFFIXES:
        msg = f"{path.name} is JSON Lines, whose lines name their own kind: --kind is for CSV"
        raise click.UsageError(msg)
    if csv_kind or suffix in JSON_LINES_SUFFIXES:
        return
    if suffix == ".csv" or HEADER_ROW.fullmatch(first_line(path).rstrip("\r\n")):
        msg = (
            f"{path.name} is a CSV file: give --kind KIND, the kind of fact of its rows "
            "(e.g. --kind ladder-assessed); see docs/import.md"
        )
        raise click.UsageError(msg)


def csv_columns(item: CatalogEntry) -> list[str]:
    """The columns of a CSV file of ``item``'s facts, from the catalog (docs/import.md)."""
    subject = "person" if item.stream is StreamKind.PERSON else SUBJECT_KEYS[item.stream]
    columns = [subject]
    if item.stream is StreamKind.PERSON:
        columns.append("person_id")
    columns += ["occurred_on", "recorded_at"]
    if item.event in CONTROL_KINDS:
        columns += ["target", "reason"] + (["changes"] if item.event is EventCorrected else [])
    else:
        columns += list(item.payload_fields())
    columns += [k for k in ENVELOPE_KEYS if k not in columns and k != "occurred_on"]
    return list(dict.fromkeys(columns))


JSON_CELL_EXAMPLES = {"changes": ' of field: new value, e.g. {"rung": 3}'}
"""What a CSV cell of a JSON object holds, by field; otherwise KEY=N counts."""


def csv_value(item: CatalogEntry, name: str, cell: str) -> Any:
    """One CSV cell as the JSON value of the line: lists split on ';', objects as JSON."""
    name = item.aliases.get(name, name)
    if name == "evidence":
        return [part.strip() for part in cell.split(LIST_SEPARATOR) if part.strip()]
    if name == "target":
        return int(cell) if cell.isdigit() else cell
    if name not in item.payload_fields():
        return cell
    info = item.payload_fields()[name]
    shape = fields.shape_of(info.annotation, info.metadata)
    if shape.mapping is not None:
        try:
            value = orjson.loads(cell)
        except orjson.JSONDecodeError:
            example = JSON_CELL_EXAMPLES.get(name, ', e.g. {"GM0622": 3}')
            raise LineRejectedError([(name, f"not a JSON object{example}")]) from None
        refuse_repeated_keys(cell, value, f"{name}.")
        return value
    if shape.many:
        return [part.strip() for part in cell.split(LIST_SEPARATOR) if part.strip()]
    return cell


def read_csv(
    path: Path, item: CatalogEntry, delimiter: str = ","
) -> tuple[list[str], Iterator[tuple[int, dict[str, Any] | str]]]:
    """The header's columns (see :func:`csv_header`) and the rows of a CSV file of one kind as
    line objects (``kind`` added, empty cells left out).

    The header is read and checked at once, before any row. A byte order mark at the start is
    not part of the first column's name; rows may end in CRLF; a row whose cells are all empty
    (a spreadsheet's empty row) is skipped, as a blank line is. A row with a cell that cannot
    be read, or with a value outside the header's named columns, is given with the problem
    (and its outside cells under ``CSV_OUTSIDE``, for the rejects file), so that the import
    rejects it with its line number.
    """
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle, delimiter=delimiter), None)
    columns = [] if header is None else csv_header(path.name, item, header)  # None: empty file
    return columns, _csv_rows(path, item, delimiter, columns)


def csv_header(file_name: str, item: CatalogEntry, header: list[str]) -> list[str]:
    """The header's column names as line keys: surrounding spaces removed, and each name of a
    key of the kind (``line_keys``) in that key's own case (``Person_ID`` → ``person_id``);
    notes (``_…``) kept as they are, an empty name left empty (its cells must be empty).

    Raises:
        InputError: a column that is no key of the kind, a column given twice, or no names at
            all (an empty first line): every row would lose a value (or be read from the wrong
            column), so the file is refused before anything is read or written.
    """
    keys = {key.casefold(): key for key in line_keys(item)}
    columns: list[str] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(header, start=1):
        name = raw.strip()
        if "\t" in name:
            msg = (
                f"{file_name}:1: the header's names are separated by tabs: save the file as CSV "
                "with , or ; between the cells; nothing was imported"
            )
            raise InputError(msg)
        if name and not name.startswith("_"):
            if name.casefold() not in keys:
                msg = (
                    f"{file_name}:1: column {name!r} is not a column of {item.name}: its columns "
                    f"are {', '.join(csv_columns(item))} (and notes, named _…); nothing was "
                    "imported"
                )
                raise InputError(msg)
            name = keys[name.casefold()]
        if name and name in seen:
            msg = (
                f"{file_name}:1: column {raw.strip()!r} is given twice (columns {seen[name]} and "
                f"{number}): which one holds the value? nothing was imported"
            )
            raise InputError(msg)
        seen.setdefault(name, number)
        columns.append(name)
    if not any(columns):
        msg = (
            f"{file_name}:1: the first line must be the header row, the names of the columns; "
            "nothing was imported"
        )
        raise InputError(msg)
    return columns


def _csv_rows(
    path: Path, item: CatalogEntry, delimiter: str, columns: list[str]
) -> Iterator[tuple[int, dict[str, Any] | str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        next(reader, None)  # the header, read by read_csv
        for row in reader:
            number = reader.line_num
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue  # an empty row (`;;;`): no fact
            record: dict[str, Any] = {"kind": item.name}
            problems: Problems = []
            outside = [
                cell
                for i, cell in enumerate(cells)
                if cell and (i >= len(columns) or not columns[i])
            ]
            for name, raw, cell in zip(columns, row, cells, strict=False):
                if not name or not cell:
                    continue
                try:
                    record[name] = csv_value(item, name, cell)
                except LineRejectedError as error:
                    record[name] = raw
                    problems += error.problems
            if "kind" in record:
                problems += _kind_problems(item, record)
            if any("\x00" in cell for cell in cells):
                problems += nul_problems(record)
            if outside:
                shown = ", ".join(repr(cell) for cell in outside)
                what = "a cell" if len(outside) == 1 else f"{len(outside)} cells"
                problems.append(
                    (
                        "line",
                        f"{what} outside the header's columns: {shown} (give it a column name "
                        "in the header, or remove it)",
                    )
                )
                record[CSV_OUTSIDE] = outside
            if problems:
                record[CSV_PROBLEMS] = problems
            yield number, record


def _kind_problems(item: CatalogEntry, record: dict[str, Any]) -> Problems:
    """A ``kind`` cell may repeat the file's kind (``--kind``), by any of its names."""
    try:
        same = catalog_item(record).event is item.event
    except LineRejectedError:
        same = False
    if same:
        return []
    return [("kind", f"{record['kind']!r} in a file of {item.name} rows (--kind)")]


@click.command(name="import")
@click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE"
)
@click.option(
    "--kind",
    "kind",
    default=None,
    metavar="KIND",
    help="FILE is CSV with facts of this one kind (a `traject record` name or "
    "person-registered); columns are the kind's fields (docs/import.md)",
)
@click.option(
    "--municipality",
    type=MunicipalityType(),
    help="CBS code of the municipality of a registration (person or project) whose line names "
    "none [default: the ledger's default municipality]",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="check every line, domain rules included, and write nothing",
)
@click.option(
    "--keep-recorded-by",
    is_flag=True,
    help="a line's recorded_by becomes its fact's recorder (and you its imported_by), as for a "
    "move from another ledger; without it you are the recorder of every fact",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="lines checked and saved per transaction",
)
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="no progress bar and no summary (rejected lines are still shown; with --json the "
    "summary is still printed, as JSON)",
)
@pass_traject
def import_command(
    traject: TrajectContext,
    /,
    file: Path,
    *,
    kind: str | None,
    municipality: str | None,
    dry_run: bool,
    keep_recorded_by: bool,
    batch_size: int,
    quiet: bool,
) -> None:
    """Record facts from a JSON Lines file (one object per line), or a CSV file of one kind.

    Each line is {"kind": KIND, "person": KEY, "occurred_on": "YYYY-MM-DD", FIELD: VALUE, …};
    KIND is a name of `traject record` (or person-registered, event-corrected,
    event-retracted), fields are named as in docs/events.md. KEY is the source system's key of
    the person: a person-registered line registers the person under it, later lines refer to it.
    Municipality and project facts give "municipality": "GMdddd" or "project": "CODE" instead of
    "person". With --kind, FILE is CSV: a header row of field names, one fact per row, cells
    separated by , or ; (the header row shows which); a CSV file needs --kind. A registration
    whose line names no municipality is in --municipality, else the ledger's default.

    A line already imported (same file name, line number and text) is skipped, so importing a
    file again, or again after an interruption, appends only what is missing. A bad line is
    reported as FILE:LINE: field: message, nothing of it is written, and it goes to
    FILE.rejects.jsonl (or .rejects.csv) with an "_error"; the exit status is then 1. Lines are
    saved in batches of --batch-size, each batch in one transaction. See docs/import.md.

    You (--user) are the recorder of every fact. With --keep-recorded-by a line's
    "recorded_by" (as `traject export --include-personal` writes it) is its fact's recorder
    instead, and you are recorded beside it as "imported_by".

    \b
    Example:
      traject import clients.jsonl --dry-run
      traject import clients.jsonl
      traject import housed.csv --kind housed
      traject import --keep-recorded-by full.jsonl
    """
    item: CatalogEntry | None = None
    if kind is not None:
        try:
            item = catalog_item({"kind": kind})
        except LineRejectedError as error:
            raise click.BadParameter(error.problems[0][1], param_hint="--kind") from None
    check_file_kind(file, csv_kind=item is not None)
    lines_in_file = count_lines(file)  # every line UTF-8, before anything is imported
    check_rejects_path(rejects_path(file))
    form = csv_format(file) if item is not None else PLAIN_CSV
    columns: list[str] = []
    lines: Iterable[Line] = read_lines(file)
    if item is not None:
        columns, lines = read_csv(file, item, form.delimiter)
    rejects: list[Reject] = []

    def on_reject(found: Reject) -> None:
        rejects.append(found)
        for name, message in found.problems:
            click.echo(f"{file}:{found.line}: {name}: {message}", err=True)

    total = 0 if quiet else lines_in_file
    with progress_bar(traject, f"importing {file.name}", total, quiet=quiet) as advance:
        summary = import_lines(
            traject.app,
            lines,
            source=file.name,
            dry_run=dry_run,
            batch_size=batch_size,
            on_reject=on_reject,
            on_progress=advance,
            keep_recorded_by=keep_recorded_by,
            municipality=municipality,
        )
    keep_rejects(file, rejects, item, form, columns, dry_run=dry_run)
    traject.warn(f"{file.name}:{number}: {text}" for number, text in summary.warned)
    if summary.warnings > len(summary.warned):
        traject.warn([f"{summary.warnings - len(summary.warned)} more warnings not shown"])
    traject.warn(render.purge_warnings(summary.purge))
    traject.warn(render.recorder_warnings(summary.recorders_not_kept, dry_run=dry_run))
    if not quiet or traject.json:  # --json: the summary is the output a script reads
        verb = "valid" if dry_run else "written"
        text = (
            f"{summary.written} {verb}, {summary.skipped} skipped (already present), "
            f"{summary.rejected} rejected"
        )
        if summary.warnings:
            text += f" ({summary.warnings} warning{'' if summary.warnings == 1 else 's'})"
        if rejects:
            text += f"; rejected lines in {rejects_path(file)}"
        data: dict[str, Any] = {
            "dry_run": dry_run,
            verb: summary.written,
            "skipped": summary.skipped,
            "rejected": summary.rejected,
            "warnings": summary.warnings,
        }
        if summary.recorders_not_kept:
            data["recorded_by_not_kept"] = summary.recorders_not_kept
        traject.emit(text, data)
    if summary.rejected:
        raise click.exceptions.Exit(1)


def keep_rejects(
    file: Path,
    rejects: list[Reject],
    item: CatalogEntry | None,
    form: CsvFormat,
    columns: Sequence[str],
    *,
    dry_run: bool,
) -> None:
    """This run's rejected lines in the rejects file beside ``file``, replacing an earlier
    run's; no rejects file when no line was rejected (an earlier run's lines are fixed or
    imported), nor what a killed run left of one.

    Raises:
        TrajectError: the file could not be written or removed (the lines are on stderr).
    """
    path = rejects_path(file)
    try:
        if rejects:
            write_rejects(path, rejects, item, form, columns)
        else:
            path.unlink(missing_ok=True)
            partial_of(path).unlink(missing_ok=True)
    except OSError as error:  # a full disk, no permission: the lines are shown above
        verb = "write the rejected lines" if rejects else "remove the earlier rejects file"
        done = "checked" if dry_run else "imported"
        msg = f"{path}: cannot {verb} ({error.strerror}); the other lines are {done}"
        raise TrajectError(msg) from None


def write_rejects(
    path: Path,
    rejects: list[Reject],
    item: CatalogEntry | None,
    form: CsvFormat = PLAIN_CSV,
    header: Sequence[str] = (),
) -> None:
    """The rejected lines beside the input: JSON Lines, or CSV with the kind's columns, the
    input's other columns (``header``: notes, aliases), ``_line`` and ``_error``, and after
    them a row's cells that were outside the input's named columns, in the input's delimiter
    and byte order mark (so that a spreadsheet opens it as it opened the input). Nothing a
    rejected row held is left out. The file is replaced whole (``output.replaced_file``): an
    import killed while writing it leaves the earlier one, never half a file."""
    with replaced_file(path) as out:
        if item is None:
            for found in rejects:
                out.write(orjson.dumps(found.as_json()) + b"\n")
            return
        columns = list(dict.fromkeys([*csv_columns(item), *filter(None, header)]))
        columns = [c for c in columns if c not in ("_line", "_error")] + ["_line", "_error"]
        encoding = "utf-8-sig" if form.bom else "utf-8"
        text = io.TextIOWrapper(out, encoding=encoding, newline="", write_through=True)
        writer = csv.writer(text, delimiter=form.delimiter)
        writer.writerow(columns)
        for found in rejects:
            row = found.as_json()
            outside = row.pop(CSV_OUTSIDE, [])
            writer.writerow([cell_text(row.get(c, "")) for c in columns] + outside)
        text.detach()  # the file is the caller's to sync and close


def cell_text(value: Any) -> Any:
    if isinstance(value, list):
        return LIST_SEPARATOR.join(str(v) for v in value)
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return value


@contextlib.contextmanager
def progress_bar(
    traject: TrajectContext, description: str, total: int, *, quiet: bool
) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields the function that advances it (none if quiet)."""
    if quiet:
        yield lambda _done: None
        return
    from rich.progress import Progress  # noqa: PLC0415 - loaded only for a bulk command

    with Progress(console=traject.err_console, transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.advance(task, done)


def count_lines(path: Path) -> int:
    """The number of lines of a file (the total of the import's progress bar), after checking
    that every line is UTF-8 text.

    Raises:
        InputError: a line is not UTF-8 (a file saved in another encoding): nothing is read
            before the whole file is checked, so nothing of it is imported.
    """
    count = 0
    with path.open("rb") as handle:
        for raw in handle:
            count += 1
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                msg = (
                    f"{path.name}:{count}: not UTF-8 text (byte 0x{raw[error.start]:02x} at "
                    f"column {error.start + 1}): save the file as UTF-8 (in Excel: CSV UTF-8) "
                    "and import it again; nothing was imported"
                )
                raise InputError(msg) from None
    return count
