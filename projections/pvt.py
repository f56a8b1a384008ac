"""P11 participatieverklaringstraject (PVT): signatures, participants and groups per period.

For a period T, from the ``PvtCompleted`` events (a participatieverklaring signed) whose
``occurred_on`` lies in T:

* ``signatures``: the number of signatures (events); ``participants``: distinct persons;
* ``groups``: distinct ``activity_id`` values (the group activity or ceremony the signature was
  recorded with); ``without_group``: signatures recorded without one;
* ``reported_to_duo``: signatures with a ``reported_to_duo_on`` date;
* ``ceremonies``: per ``activity_id``: signatures, distinct participants, the first and last
  signing date in T and the provider(s);
* ``providers``: signatures per provider.

What the events do not allow yet: a PVT *traject* (course group) and its closing *ceremony* are
one ``activity_id``, so groups and ceremonies cannot be told apart; certificates handed out at a
ceremony are not recorded by any event (``CertificateObtained`` is for VCA and similar), so
certificates per ceremony cannot be counted — the signature is the nearest figure.

``municipality`` keeps the signatures recorded for that municipality. Corrections apply,
retractions remove; "as known at" uses the revisions known then.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from ledger import events as ev
from ledger.municipalities import name_of
from ledger.values import Period
from projections.base import (
    TEXT,
    Column,
    Projection,
    Views,
    catch_up,
    collector_paused,
    timestamp_text,
)
from projections.breakdown import Count, breakdown, current_facts


@dataclass(frozen=True)
class Ceremony:
    """One group activity (``activity_id``) with signatures in the period."""

    activity_id: str
    providers: str  # comma-separated
    first_signed_on: str
    last_signed_on: str
    signatures: int
    participants: int


@dataclass(frozen=True)
class PvtReport:
    period: str
    municipality: str | None
    municipality_name: str | None
    as_known_at: str | None
    signatures: int
    participants: int
    groups: int
    without_group: int
    reported_to_duo: int
    ceremonies: tuple[Ceremony, ...]  # by first signing date, then activity id
    providers: tuple[Count, ...]  # signatures per provider, largest first
    position: int
    rule_version: str
    digest: str | None


class PvtProjection(Projection):
    name = "pvt"
    kinds: ClassVar[Mapping[type[ev.TrajectEvent], tuple[str, ...]]] = {
        ev.PvtCompleted: ("provider", "hours", "activity_id", "reported_to_duo_on"),
    }
    fact_columns = (
        Column("activity_id", TEXT),
        Column("provider", TEXT),
        Column("reported_on", TEXT),
    )
    fact_indexes = (("occurred_on",),)

    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        return (
            payload.get("activity_id"),
            payload.get("provider"),
            payload.get("reported_to_duo_on"),
        )


PVT = PvtProjection()


@collector_paused()
def pvt(
    views: Views,
    period: Period,
    *,
    municipality: str | None = None,
    as_known_at: datetime | None = None,
) -> PvtReport:
    """PVT signatures of ``period``: totals, per group activity and per provider.

    Args:
        period: a year, half-year or quarter (``occurred_on`` dates).
        municipality: only signatures recorded for this municipality (CBS code).
        as_known_at: count only what was recorded by this moment.

    Catches up first.
    """
    result = catch_up(views, PVT)
    where, params = (
        "occurred_on >= ? AND occurred_on <= ?",
        [
            period.start.isoformat(),
            period.end.isoformat(),
        ],
    )
    if municipality:
        where, params = f"{where} AND municipality = ?", [*params, municipality]
    with views.transaction(commit=False) as tx:
        rows = current_facts(
            tx,
            PVT,
            "stream_id, occurred_on, activity_id, provider, reported_on",
            where,
            params,
            as_known_at=as_known_at,
        )
    persons: set[str] = set()
    providers: Counter[str] = Counter()
    groups: dict[str, list[tuple[str, str, str]]] = {}  # activity → (person, date, provider)
    without_group = reported = 0
    for stream, on, activity, provider, reported_on in rows:
        persons.add(str(stream))
        providers[provider or "unknown"] += 1
        reported += reported_on is not None
        if activity is None:
            without_group += 1
        else:
            groups.setdefault(str(activity), []).append((str(stream), on, provider or "unknown"))
    ceremonies = sorted(
        (
            Ceremony(
                activity_id=activity,
                providers=", ".join(sorted({p for _, _, p in signed})),
                first_signed_on=min(on for _, on, _ in signed),
                last_signed_on=max(on for _, on, _ in signed),
                signatures=len(signed),
                participants=len({person for person, _, _ in signed}),
            )
            for activity, signed in groups.items()
        ),
        key=lambda c: (c.first_signed_on, c.activity_id),
    )
    return PvtReport(
        period=str(period),
        municipality=municipality,
        municipality_name=name_of(municipality) if municipality else None,
        as_known_at=timestamp_text(as_known_at) if as_known_at else None,
        signatures=len(rows),
        participants=len(persons),
        groups=len(groups),
        without_group=without_group,
        reported_to_duo=reported,
        ceremonies=tuple(ceremonies),
        providers=breakdown(providers, by_size=True),
        position=result.position,
        rule_version=PVT.rule_version,
        digest=result.digest,
    )
