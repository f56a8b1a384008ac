"""When a repeated idempotency key names the same fact: the caller's fields against the record.

A key seen before appends nothing when it comes with the same fact (a retry, a re-run import),
and is refused when it comes with another one (``IdempotencyKeyReusedError``): that fact would
otherwise be lost without a word. "The same fact" is the same stream and kind (compared by the
ledger) and, field by field, the same values: the caller's fields are validated by the event's
model, with what the caller left out at the model's default, and compared with the recorded
event as first recorded (a later correction does not make a retry of the original different).

Not compared: provenance (:data:`PROVENANCE`: who recorded or imported the fact, from where, and
when), and the fields the ledger fills in itself when the caller leaves them out
(:func:`filled_by_ledger`: the stream's municipality, a control fact's date, derived flags),
unless the caller gave them. Personal fields are compared in clear, decrypted with the stream's
data key; after an erasure they cannot be read, and only the other fields are compared.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

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
) -> list[str]:
    """The fields in which the fact ``given`` (a caller's fields of a ``kind``) differs from
    ``recorded``, in the model's order; ``["kind"]`` for another kind; [] for the same fact.

    ``personal``: whether ``recorded``'s personal fields could be read (False after an erasure:
    they are left out of the comparison). ``unchecked``: fields a repeat may change as well.

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
    return [name for name in kind.model_fields if name not in skip and new[name] != old[name]]
