"""Hypothesis strategies derived from the event models' own field types and constraints.

A new event class or field is covered without touching this module: each field's annotation
(dates, enums, constrained strings and numbers, tuples, dicts, optionals) becomes a strategy.
Only identifiers with a check digit (the BSN) need a hand-written strategy.
"""

from __future__ import annotations

import types
import typing
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, get_args, get_origin
from uuid import UUID

import annotated_types as at
from hypothesis import strategies as st
from pydantic import AwareDatetime, ValidationError
from pydantic.fields import FieldInfo

from ledger import events as ev

FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2026, 6, 30)
TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
    min_size=1,
    max_size=30,
)


@st.composite
def bsns(draw: st.DrawFn) -> str:
    """Valid BSNs: eight random digits and the check digit that makes the 11-proef pass."""
    digits = draw(st.lists(st.integers(0, 9), min_size=8, max_size=8).filter(any))
    check = sum(w * d for w, d in zip((9, 8, 7, 6, 5, 4, 3, 2), digits, strict=True)) % 11
    if check == 10:
        digits[0] = (digits[0] + 1) % 10 or 1
        check = sum(w * d for w, d in zip((9, 8, 7, 6, 5, 4, 3, 2), digits, strict=True)) % 11
    if check == 10:
        return "123456782"
    return "".join(map(str, digits)) + str(check)


FIELD_OVERRIDES: dict[str, st.SearchStrategy[Any]] = {"bsn": bsns()}


def _bounds(metadata: list[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in metadata:
        for name in ("ge", "le", "gt", "lt", "min_length", "max_length", "pattern"):
            value = getattr(item, name, None)
            if value is not None:
                found[name] = value
    return found


def for_type(tp: Any, metadata: list[Any] | None = None) -> st.SearchStrategy[Any]:
    """A strategy for values of annotation ``tp`` under constraints ``metadata``."""
    metadata = list(metadata or [])
    origin = get_origin(tp)
    if origin is typing.Annotated:
        base, *extra = get_args(tp)
        grouped: list[Any] = []
        for item in extra:
            grouped.extend(item if isinstance(item, at.GroupedMetadata) else [item])
        return for_type(base, grouped + metadata)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([for_type(arg, metadata) for arg in get_args(tp)])
    bounds = _bounds(metadata)
    if tp is type(None):
        return st.none()
    if origin is tuple:
        item, *_ = get_args(tp)
        return st.lists(for_type(item), min_size=bounds.get("min_length", 0), max_size=3).map(tuple)
    if origin is list:
        return st.lists(for_type(get_args(tp)[0]), max_size=3)
    if origin is dict:
        key, value = get_args(tp)
        return st.dictionaries(for_type(key), for_type(value), max_size=3)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return st.sampled_from(list(tp))
    if tp is bool:
        return st.booleans()
    if tp is int:
        low = bounds.get("ge", bounds.get("gt", -1) + 1 if "gt" in bounds else 0)
        high = bounds.get("le", bounds.get("lt", 10_001) - 1 if "lt" in bounds else 10_000)
        return st.integers(low, high)
    if tp is Decimal:
        return st.decimals(
            min_value=bounds.get("ge", 0),
            max_value=bounds.get("le", 1_000_000),
            places=2,
            allow_nan=False,
            allow_infinity=False,
        )
    if tp is date:
        return st.dates(FIRST_DAY, LAST_DAY)
    if tp in (datetime, AwareDatetime):
        # hypothesis takes naive bounds and adds the zone itself
        return st.datetimes(
            min_value=datetime(2020, 1, 1),  # noqa: DTZ001
            max_value=datetime(2026, 6, 30),  # noqa: DTZ001
            timezones=st.just(UTC),
        )
    if tp is UUID:
        return st.uuids()
    if tp is str:
        if "pattern" in bounds:
            return st.from_regex(
                bounds["pattern"], fullmatch=True, alphabet=st.characters(codec="ascii")
            )
        return TEXT
    if isinstance(tp, type) and issubclass(tp, ev.Evidence):
        return events_of(tp, envelope=False)
    msg = f"no strategy for {tp!r}"
    raise NotImplementedError(msg)


def for_field(name: str, info: FieldInfo) -> st.SearchStrategy[Any]:
    if name in FIELD_OVERRIDES:
        base = FIELD_OVERRIDES[name]
        return st.none() | base if not info.is_required() else base
    return for_type(info.annotation, list(info.metadata))


def _validated(cls: type[Any]) -> Any:
    def validate(fields: dict[str, Any]) -> Any:
        try:
            return cls.model_validate(fields)
        except ValidationError:
            return None  # a model validator refused the combination: filtered out below

    return validate


@cache
def events_of(
    cls: type[Any],
    *,
    envelope: bool = True,
    originator_id: st.SearchStrategy[UUID] | None = None,
) -> st.SearchStrategy[Any]:
    """Valid instances of ``cls`` (an event or a nested model), every field drawn."""
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name, info in cls.model_fields.items():
        if name == "originator_id" and originator_id is not None:
            required[name] = originator_id
            continue
        strategy = for_field(name, info)
        (required if info.is_required() or not envelope else optional)[name] = strategy
    return (
        st.fixed_dictionaries(required, optional=optional)
        .map(_validated(cls))
        .filter(lambda value: value is not None)
    )


# --- a person's life course: the facts of the usual path, with the fields their rules read -----

days = st.dates(date(2023, 1, 1), date(2025, 12, 31))
outflow_types = st.sampled_from(["werk_volledig", "werk_gedeeltelijk", "onderwijs"])
housing_kinds = st.sampled_from(["regulier", "gva", "tijdelijk"])
gemeenten = st.sampled_from(["GM0622", "GM0599"])

person_facts = st.one_of(
    st.tuples(
        st.just(ev.ResidencePermitRecorded),
        st.fixed_dictionaries(
            {
                "permit_kind": st.sampled_from(["asiel_bt", "asiel_bt", "asiel_afgeleid"]),
                "notified_on": days,
                "document_no": st.just("NL-PERMIT-1"),
            }
        ),
    ),
    st.tuples(
        st.just(ev.CoaLinked),
        st.fixed_dictionaries(
            {
                "taakstelling_period": st.sampled_from(["2024H1", "2024H2"]),
                "municipality": gemeenten,
            }
        ),
    ),
    st.tuples(st.just(ev.CoaLinkWithdrawn), st.fixed_dictionaries({})),
    st.tuples(
        st.just(ev.TenancySigned),
        st.fixed_dictionaries(
            {
                "housing_kind": housing_kinds,
                "address": st.just("Proefstraat 1"),
            }
        ),
    ),
    st.tuples(
        st.just(ev.Housed),
        st.fixed_dictionaries(
            {
                "housing_kind": housing_kinds,
                "route": st.sampled_from(
                    ["koppeling", "koppeling", "nareis", "gva_doorstroom", "eigen"]
                ),
                "municipality": gemeenten,
            }
        ),
    ),
    st.tuples(
        st.just(ev.LadderAssessed),
        st.fixed_dictionaries(
            {
                "rung": st.integers(1, 6),
                "assessor": st.sampled_from(["a.bakker", "r.jansen"]),
            }
        ),
    ),
    st.tuples(st.just(ev.OutflowStarted), st.fixed_dictionaries({"outflow_type": outflow_types})),
    st.tuples(
        st.just(ev.OutflowEnded),
        st.fixed_dictionaries(
            {
                "outflow_type": outflow_types,
                "reason": st.just("contract ended"),
            }
        ),
    ),
    st.tuples(
        st.just(ev.SocialGuidanceStarted),
        st.fixed_dictionaries(
            {
                "year_no": st.sampled_from([1, 2]),
                "provider": st.just("VluchtelingenWerk"),
            }
        ),
    ),
)
"""Facts of a person's usual path as (event class, fields), occurred_on left to the caller."""
