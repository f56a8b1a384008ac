"""When a repeated idempotency key names the same fact: the caller's fields against the record.

A key seen before appends nothing when it comes with the same fact (a retry, a re-run import),
and is refused when it comes with another one (``IdempotencyKeyReusedError``): that fact would
otherwise be lost without a word. "The same fact" is the same stream and kind (compared by the
ledger) and, field by field, the same values: the caller's fields are validated by the event's
model, with what the caller left out at the model's default, and compared with the recorded
event as first recorded (a later correction does not make a retry of the original different).

Numbers are compared as numbers: an exact number (a ``Decimal`` field, or a correction's new
value of one) stored by an earlier release in exponent notation (``1E+3``) is the same value as
the plain decimal (``1000``) a re-import of the same line now gives.

Not compared: provenance (:data:`PROVENANCE`: who recorded or imported the fact, from where, and
when), and the fields the ledger fills in itself when the caller leaves them out
(:func:`filled_by_ledger`: the stream's municipality, a control fact's date, derived flags),
unless the caller gave them. Personal fields are compared in clear, decrypted with the stream's
data key; after an erasure they cannot be read, and only the other fields are compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, get_args

from ledger import events as ev
from ledger.aggregates import DERIVED_FIELDS

PROVENANCE = frozenset(
    {
        "originator_id",
        "originator_version",
        "timestamp",
        "recorded_by",
        "imported_by",
        "source",
        "idempotency_key",
    }
)
"""Who brought a fact into the ledger, how and when: a retry may differ in these."""


@cache
def filled_by_ledger(kind: type[ev.TrajectEvent]) -> frozenset[str]:
    """The fields of ``kind`` the ledger fills in when the caller leaves them out."""
    derived = DERIVED_FIELDS.get(kind, (frozenset(), ()))[1]
    control = ("occurred_on",) if issubclass(kind, ev.CONTROL_EVENTS) else ()
    return frozenset({"municipality", *derived, *control})


def fact_differences(
    recorded: ev.TrajectEvent,
    kind: type[ev.TrajectEvent],
    given: Mapping[str, Any],
    *,
    personal: bool = True,
    unchecked: frozenset[str] = frozenset(),
    target: type[ev.TrajectEvent] | None = None,
) -> list[str]:
    """The fields in which the fact ``given`` (a caller's fields of a ``kind``) differs from
    ``recorded``, in the model's order; ``["kind"]`` for another kind; [] for the same fact.

    ``personal``: whether ``recorded``'s personal fields could be read (False after an erasure:
    they are left out of the comparison). ``unchecked``: fields a repeat may change as well.
    ``target``: for a correction, the kind of the fact it changes (:func:`correction_target`),
    whose exact numbers among the new values are compared as numbers.

    Raises:
        pydantic.ValidationError: ``given`` is not a valid ``kind``.
    """
    if type(recorded) is not kind:
        return ["kind"]
    stated = {k: v for k, v in given.items() if v is not None and v != ()}
    kept = PROVENANCE | filled_by_ledger(kind)
    candidate = kind.model_validate(
        {**stated, **{name: getattr(recorded, name) for name in kept if name not in stated}}
    )
    skip = PROVENANCE | unchecked | (frozenset() if personal else kind.personal_fields())
    new, old = candidate.model_dump(mode="json"), recorded.model_dump(mode="json")
    numbers = decimal_fields(kind)
    changed = decimal_fields(target) if target is not None else frozenset()
    return [
        name
        for name in kind.model_fields
        if name not in skip
        and not (
            _same_changes(new[name], old[name], changed)
            if name in CHANGE_FIELDS
            else _same(new[name], old[name], number=name in numbers)
        )
    ]


CHANGE_FIELDS = frozenset({"changes", "personal_changes"})
"""A correction's new values by field name (of the fact it changes)."""


def correction_target(
    recorded: ev.TrajectEvent, stored: Mapping[int, ev.TrajectEvent]
) -> type[ev.TrajectEvent] | None:
    """The kind of the fact ``recorded`` corrects, found among its stream's ``stored`` facts;
    None when ``recorded`` is not a correction (or its target is not there)."""
    if not isinstance(recorded, ev.EventCorrected):
        return None
    target = stored.get(recorded.target_version)
    return None if target is None else type(target)


@cache
def decimal_fields(kind: type[ev.TrajectEvent]) -> frozenset[str]:
    """The fields of ``kind`` that hold an exact number (``Decimal``: hours, amounts)."""
    return frozenset(
        name for name, info in kind.model_fields.items() if _holds_decimal(info.annotation)
    )


def _holds_decimal(annotation: Any) -> bool:
    return annotation is Decimal or any(_holds_decimal(arg) for arg in get_args(annotation))


def _same(new: Any, old: Any, *, number: bool) -> bool:
    """Whether two JSON values are the same; with ``number``, the same number however written
    (``"1E+3"`` and ``"1000"``)."""
    if new == old:
        return True
    if not number:
        return False
    value = _number(new)
    return value is not None and value == _number(old)


def _same_changes(new: Any, old: Any, numbers: frozenset[str]) -> bool:
    """Whether two corrections' new values are the same, field by field (``numbers``: the
    fields compared as numbers)."""
    if not isinstance(new, dict) or not isinstance(old, dict) or new.keys() != old.keys():
        return bool(new == old)
    return all(_same(new[name], old[name], number=name in numbers) for name in new)


def _number(value: Any) -> Decimal | None:
    """A JSON value as the exact number it writes, or None (not a finite number)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None
