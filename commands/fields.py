"""Click parameters generated from the event catalog: one option per field, the envelope options.

The pydantic model of an event says everything an option needs: its type (enums become
choices, dates ``YYYY-MM-DD``, ``int`` bounds become ranges, ``bool`` a ``--x/--no-x`` flag, a
tuple a repeatable option, ``dict[str, int]`` a repeatable ``KEY=N``), whether it is required,
its default and its description. Nothing here knows a particular event.
"""

from __future__ import annotations

import shlex
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Union, get_args, get_origin
from uuid import UUID

import click
from pydantic.fields import FieldInfo

from commands.types import (
    DATE_FIELD,
    AliasChoice,
    BsnType,
    DecimalType,
    EvidenceRef,
    FieldValue,
    IsoDate,
    KeyCount,
    MunicipalityType,
    PatternType,
    whole_number,
)
from ledger import events
from ledger.catalog import CatalogEntry
from ledger.errors import ValidationFailedError
from ledger.events import EventCorrected, TrajectEvent
from ledger.values import CHOICE_ALIASES, GEMEENTE_PATTERN, Bsn, Source, as_id

ENVELOPE_PARAMS = ("on", "municipality", "source", "idempotency_key", "evidence")
ENVELOPE_TYPES: dict[str, click.ParamType[Any]] = {
    # the envelope fields an option (and an import's key) gives, as they are read
    "occurred_on": IsoDate(),
    "municipality": MunicipalityType(),  # a code or a name, checked against the CBS list
    "source": click.Choice([s.value for s in Source]),
    "evidence": EvidenceRef(),
}
SAMPLE_DATE = "2024-03-04"


@dataclass(frozen=True)
class Shape:
    """What a model field's annotation means for the command line."""

    base: Any
    constraints: dict[str, Any] = field(default_factory=dict)
    many: bool = False
    mapping: Shape | None = None  # the key shape of a dict[KEY, int] field


def _constraints(metadata: Iterable[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, FieldInfo):
            found.update(_constraints(item.metadata))
            continue
        for name in ("ge", "le", "gt", "lt", "pattern", "min_length", "max_length"):
            value = getattr(item, name, None)
            if value is not None:
                found[name] = value
    return found


def shape_of(annotation: Any, metadata: Iterable[Any] = ()) -> Shape:
    """Unwrap ``X | None``, ``Annotated[...]``, ``tuple[X, ...]`` and ``dict[K, int]``.

    Whether a field is optional is the model's business (``FieldInfo.is_required``).
    """
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if annotation == Bsn:
        return Shape(base=Bsn)
    constraints = _constraints(metadata)
    if get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        constraints |= _constraints(extra)
    origin = get_origin(annotation)
    if origin is tuple:
        inner = shape_of(get_args(annotation)[0])
        return Shape(inner.base, inner.constraints, many=True)
    if origin is dict:
        key, value = get_args(annotation)
        return Shape(value, {}, many=True, mapping=shape_of(key))
    return Shape(annotation, constraints)


def click_type(shape: Shape, *, listed: bool = False) -> click.ParamType[Any]:
    """The click type that parses one value of this shape.

    A CBS municipality code is checked for its form only, unless ``listed``: then it is a
    :class:`MunicipalityType` (a code or a name, checked against the CBS list), as every
    option of the command line takes a municipality.
    """
    base, limits = shape.base, shape.constraints
    if shape.mapping is not None:
        return KeyCount(click_type(shape.mapping, listed=listed))
    if base == Bsn:
        return BsnType()
    if isinstance(base, type) and issubclass(base, Enum):
        choices = [str(member.value) for member in base]
        if base in CHOICE_ALIASES:
            return AliasChoice(choices, CHOICE_ALIASES[base])
        return click.Choice(choices, case_sensitive=False)
    if base is date:
        return IsoDate()
    if base is int:
        return whole_number(limits.get("ge"), limits.get("le"))
    if base is Decimal:
        return DecimalType(limits.get("ge"), limits.get("le"))
    if base is UUID:
        return click.UUID
    if base is str and limits.get("pattern") == GEMEENTE_PATTERN:
        return MunicipalityType() if listed else PatternType(GEMEENTE_PATTERN, upper=True)
    if base is str and "pattern" in limits:
        return PatternType(limits["pattern"])
    return click.STRING


def option_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def field_option(entry: CatalogEntry, name: str, info: FieldInfo) -> click.Option:
    """One option for one payload field of an event."""
    shape = shape_of(info.annotation, info.metadata)
    param_type = click_type(shape, listed=True)
    text = (info.description or name.replace("_", " ")).rstrip(".")
    if shape.base is UUID:  # a person, named as PERSON is: resolved by the command
        param_type = click.STRING
        text += ": a person id, or a unique prefix of it of at least 6 characters"
    if name in entry.event.special_category_fields():
        text += " (special category, GDPR Art. 9: encrypted, erasable; shown only for a purpose)"
    elif entry.is_personal(name):
        text += " (personal: encrypted, erasable)"
    if shape.mapping is not None:
        text += "; repeat for each key"
    elif shape.many:
        text += "; repeat for several"
    required = info.is_required()
    default = info.default
    has_default = not required and default not in (None, (), {}) and info.default_factory is None
    if shape.base is bool and not shape.many:
        flag = option_name(name)
        declarations = [f"{flag}/--no-{flag[2:]}", name]
        if required:
            return click.Option(declarations, required=True, help=text)
        if has_default:
            text += f" [default: {'yes' if default else 'no'}]"
        # None: not given, so the model's default (or derivation) applies
        return click.Option(declarations, default=None, help=text)
    if has_default:
        # the model's own default, passed on explicitly: the stored event is the same
        value = default.value if isinstance(default, Enum) else default
        return click.Option(
            [option_name(name), name],
            type=param_type,
            default=value,
            show_default=True,
            help=text,
        )
    # no explicit default: click treats any given default, None included, as a value
    return click.Option(
        [option_name(name), name],
        type=param_type,
        metavar="PERSON" if shape.base is UUID else None,
        required=required,
        multiple=shape.many,
        help=text,
    )


def envelope_options(entry: CatalogEntry, *, on_required: bool = True) -> list[click.Option]:
    """--on, --municipality, --source, --idempotency-key and --evidence."""
    means = entry.occurred_on_means
    return [
        click.Option(
            ["--on", "on"],
            type=ENVELOPE_TYPES["occurred_on"],
            required=on_required,
            show_default="today" if not on_required else False,
            help=f"the date it happened: {means}",
        ),
        click.Option(
            ["--municipality", "municipality"],
            type=ENVELOPE_TYPES["municipality"],
            help="the municipality: a CBS code (GM0622) or a name (Vlaardingen) "
            "[default: the stream's current municipality (for a housing through a koppeling, the "
            "koppeling's), else the ledger's default]",
        ),
        click.Option(
            ["--source", "source"],
            type=ENVELOPE_TYPES["source"],
            default=Source.CLI.value,
            show_default=True,
            help="where the fact came from",
        ),
        click.Option(
            ["--idempotency-key", "idempotency_key"],
            metavar="KEY",
            help="a key seen again with the same fact records nothing (safe retries and "
            "imports); with another fact it is refused",
        ),
        click.Option(
            ["--evidence", "evidence"],
            type=ENVELOPE_TYPES["evidence"],
            multiple=True,
            help="a supporting document as KIND:REFERENCE:SHA256 (never the document); repeatable",
        ),
    ]


def event_options(
    entry: CatalogEntry, *, skip: Iterable[str] = (), on_required: bool = True
) -> list[click.Parameter]:
    """The payload options of an event, in model order, then the envelope options."""
    skipped = set(skip)
    payload = entry.payload_fields()
    clash = set(payload) & {*ENVELOPE_PARAMS, "subject"}
    if clash:  # pragma: no cover - guards the catalog, checked by the --help test
        msg = f"{entry.kind}: fields {sorted(clash)} clash with envelope options"
        raise RuntimeError(msg)
    options: list[click.Parameter] = [
        field_option(entry, n, info) for n, info in payload.items() if n not in skipped
    ]
    return options + envelope_options(entry, on_required=on_required)


class FactCommand(click.Command):
    """A command that records a fact: an option of one value may be given once.

    click keeps the last of an option given twice, so ``--rung 3 --rung 4`` would record rung
    4 without a word, and ``--tcn --no-tcn`` no TCN: both are refused as bad usage (exit 2),
    as ``traject correct`` refuses a field set twice. Repeatable options (``--nationality``,
    ``--evidence``) are repeatable.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not ctx.resilient_parsing:
            _, _, order = self.make_parser(ctx).parse_args(args=list(args))
            seen: set[str | None] = set()
            for param in order:
                if not isinstance(param, click.Option) or param.multiple or param.is_eager:
                    continue
                if param.name in seen:
                    names = " / ".join(param.opts + param.secondary_opts)
                    msg = f"{names} is given more than once; it takes one value"
                    raise click.BadOptionUsage(param.opts[0], msg, ctx=ctx)
                seen.add(param.name)
        return super().parse_args(ctx, args)


def event_fields(entry: CatalogEntry, params: Mapping[str, Any]) -> dict[str, Any]:
    """The given parameter values as event fields: ``on`` → ``occurred_on``, pairs → dicts."""
    payload = entry.payload_fields()
    fields: dict[str, Any] = {}
    for name, value in params.items():
        if value is None or value == ():
            continue
        key = "occurred_on" if name == DATE_FIELD else name
        is_mapping = name in payload and shape_of(payload[name].annotation).mapping is not None
        fields[key] = _mapping(name, value) if is_mapping else value
    return fields


def person_fields(entry: CatalogEntry) -> list[str]:
    """The fields of an event that name a person by id (``member_person_id``): the command
    line takes them as it takes PERSON, a person id or a unique prefix of it."""
    return [
        name
        for name, info in entry.payload_fields().items()
        if shape_of(info.annotation, info.metadata).base is UUID
    ]


def option_fields(command: click.Command) -> dict[str, str]:
    """The event fields the options of ``command`` give, each with the option as it is typed:
    ``occurred_on`` → ``--on``, ``housing_kind`` → ``--housing-kind``, ``hold_ref`` → ``--ref``,
    ``changes`` → ``--set``. An option's parameter name is the field it gives (``on`` gives
    ``occurred_on``, as :func:`event_fields` reads it)."""
    return {
        "occurred_on" if param.name == DATE_FIELD else param.name: param.opts[0]
        for param in command.params
        if isinstance(param, click.Option) and param.name and not param.hidden
    }


def field_label(command: click.Command, kind: str, field: str) -> str:
    """How a message of ``command`` names ``field`` of an event of ``kind``: as the user typed
    it, the stored field's name after it in brackets when it is not that name spelled with
    dashes (``--on (occurred_on)``, ``--ref (hold_ref)``, ``--housing-kind``).

    A command that takes FIELD=VALUE (``traject correct --set``) names the fields of the event
    it corrects (any kind but its own EventCorrected: ``EventCorrected of Housed``, ``Housed``)
    as ``--set`` takes them: by their own name, the date it happened as ``on``. A field no
    option gives is named as stored."""
    corrects = any(isinstance(param.type, FieldValue) for param in command.params)
    if corrects and kind != EventCorrected.__name__:
        typed = DATE_FIELD if field == "occurred_on" else field
    else:
        found = option_fields(command).get(field) or argument_fields(command, kind).get(field)
        if found is None:
            return field
        typed = found
    return typed if typed.lstrip("-").replace("-", "_") == field else f"{typed} ({field})"


def argument_fields(command: click.Command, kind: str) -> dict[str, str]:
    """The fields of an event of ``kind`` that the arguments of ``command`` give, each as the
    usage line names it: ``target_version`` → ``VERSION`` (``traject retract SUBJECT
    VERSION``). An argument's parameter name is the field it gives; an argument that gives no
    field of the event (the PERSON a fact is about) names nothing."""
    event = getattr(events, kind, None)
    if not (isinstance(event, type) and issubclass(event, TrajectEvent)):
        return {}
    return {
        param.name: param.metavar or param.name.upper()
        for param in command.params
        if isinstance(param, click.Argument) and param.name in event.model_fields
    }


def _mapping(name: str, pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Repeated KEY=N pairs as a mapping, each key once: a key given twice (GM0622 by its code
    and by its name, Vlaardingen) would keep only its last value without a word."""
    mapping: dict[str, Any] = {}
    for key, value in pairs:
        if key in mapping:
            msg = f"{key} is given more than once ({mapping[key]} and {value}); give each key once"
            raise click.BadParameter(msg, param_hint=f"'{option_name(name)}'")
        mapping[key] = value
    return mapping


def sample_value(shape: Shape, name: str) -> str:
    """A plausible value for the generated example in a command's help."""
    base, limits = shape.base, shape.constraints
    if shape.mapping is not None:
        return f"{sample_value(shape.mapping, name)}=40"
    if isinstance(base, type) and issubclass(base, Enum):
        return str(next(iter(base)).value)
    if base is int:
        return str(limits.get("ge", 1))
    if base is Decimal and "le" in limits and limits["le"] < 8:
        return str(limits["le"])  # a rate of at most 1, say
    samples: dict[Any, str] = {
        date: SAMPLE_DATE,
        Decimal: "8",
        UUID: "3219ed75-5a8c-4d3b-9c2e-2f4b1c0d9e11",
        Bsn: "123456782",
    }
    if base in samples:
        return samples[base]
    if "pattern" in limits:
        return PatternType(limits["pattern"]).example
    return name.upper()


def example(entry: CatalogEntry, subject: str, *, skip: Iterable[str] = ()) -> str:
    """``traject record housed 3219ed75 --on 2024-03-04 --housing-kind regulier …``.

    The required fields, or (a fact of optional fields only) the optional ones that have an
    example. A field's value is the first of its model's ``examples`` (a real-looking value a
    caseworker may copy: ``--assessor r.jansen``, never ``--assessor ASSESSOR``), else one made
    from its type; a value with a space is quoted as a shell needs it.
    """
    words = ["traject", "record", entry.name, subject, "--on", SAMPLE_DATE]
    given = entry.payload_fields()
    # a fact of optional fields only (a profile update) shows those that have an example
    optional_only = not any(info.is_required() for info in given.values())
    for name, info in given.items():
        shown = info.is_required() or (optional_only and info.examples)
        if not shown or name in skip:
            continue
        shape = shape_of(info.annotation, info.metadata)
        if shape.base is bool and not shape.many:
            words.append(option_name(name))
            continue
        value = str(info.examples[0]) if info.examples else sample_value(shape, name)
        words += [option_name(name), shlex.quote(value)]
    return " ".join(words)


PersonField = Callable[[str, str, str], UUID]
"""Resolves a reference typed for a field that names a person: (kind, field, reference) →
the person's id (``TrajectContext.person_field``)."""


def corrected_values(
    event: type[TrajectEvent], changes: Mapping[str, Any], *, person: PersonField | None = None
) -> dict[str, Any]:
    """A correction's new values, given as text (``--set FIELD=VALUE``), read as ``traject
    record`` reads the field's option: a NUMBER in exponent notation as its plain decimal
    (1e3 as 1000), a Dutch decimal comma, a choice in any case, a municipality by its name, a
    BSN by the 11-proef, ``KEY=N`` pairs as a mapping, evidence as ``KIND:REF:SHA256``; a yes/no
    field as the words a flag's value may be (yes, no, true, false, 1, 0).

    An empty VALUE clears a field: None, or no items for a list. A field the event does not
    have, and a value given twice for a field that takes one, are left as they are, for the
    ledger to name. A field that names a person takes a person id or a unique prefix of it,
    the prefix resolved by ``person`` (as the option of ``traject record`` does).

    Raises:
        ValidationFailedError: naming each field whose value its option refuses, and why.
        RuleViolationError: from ``person``, a reference that names no person.
    """
    payload = event.payload_fields()
    read: dict[str, Any] = dict(changes)
    problems: list[tuple[str, str]] = []
    for name, value in changes.items():
        if name in ENVELOPE_TYPES:
            param_type, shape = ENVELOPE_TYPES[name], Shape(str, many=name == "evidence")
        elif name in payload:
            info = event.model_fields[name]
            shape = shape_of(info.annotation, info.metadata)
            param_type = click.BOOL if shape.base is bool else click_type(shape, listed=True)
        else:
            continue
        values = value if isinstance(value, list) else [value]
        if shape.many and values == [None]:  # an empty VALUE clears a list: no items
            read[name] = {} if shape.mapping is not None else []
            continue
        if None in values or (len(values) > 1 and not shape.many):
            continue
        if shape.base is UUID and person is not None and as_id(str(values[0]).strip()) is None:
            # a prefix, found as PERSON is; a whole id is for the ledger's rules to judge
            read[name] = person(f"EventCorrected of {event.__name__}", name, str(values[0]))
            continue
        try:
            given = [param_type.convert(v, None, None) for v in values]
            if shape.mapping is not None:
                read[name] = _mapping(name, given)
            else:
                read[name] = given if shape.many else given[0]
        except click.BadParameter as error:
            problems.append((name, error.message))
    if problems:
        raise ValidationFailedError(f"EventCorrected of {event.__name__}", problems)
    return read
