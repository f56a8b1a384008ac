"""P8 maatschappelijke begeleiding (MB, social guidance): trajectories per guidance year.

For a period T and each guidance year (``year_no`` 1 and 2 of ``SocialGuidanceStarted`` /
``SocialGuidanceEnded``):

* ``started``: distinct persons with a ``SocialGuidanceStarted`` of that year whose
  ``occurred_on`` lies in T;
* ``ended``: distinct persons with a ``SocialGuidanceEnded`` of that year in T;
* ``active_at_end``: distinct persons whose latest start or end of that year on or before the
  last day of T (a later stream version breaking a tie) is a start.

The ``total`` row counts distinct persons over both years. ``providers`` counts the persons who
started in T per provider (a person starting with two providers counts under both).
``municipality`` keeps facts recorded for that municipality (for ``active_at_end``: the latest
fact's). Corrections apply, retractions remove; "as known at" uses the revisions known then.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from ledger import events as ev
from ledger.municipalities import name_of
from ledger.values import Period
from projections.base import (
    INT,
    TEXT,
    Column,
    Projection,
    Views,
    catch_up,
    collector_paused,
    timestamp_text,
)
from projections.breakdown import Count, breakdown, current_facts

GUIDANCE_YEARS = (1, 2)
STARTED, ENDED = "SocialGuidanceStarted", "SocialGuidanceEnded"
TOTAL = "total"

GuidanceFact = tuple[str, int, str]
"""occurred_on, stream version and kind of one start or end of one guidance year."""


def in_guidance(facts: Iterable[GuidanceFact], on: str) -> bool:
    """Whether the latest start/end on or before ``on`` (ISO date) is a start."""
    latest = max((f for f in facts if f[0] <= on), default=None, key=lambda f: (f[0], f[1]))
    return latest is not None and latest[2] == STARTED


@dataclass(frozen=True)
class GuidanceRow:
    """One guidance year (``"1"``, ``"2"``) or the ``"total"`` over both."""

    year_no: str
    started: int
    ended: int
    active_at_end: int


@dataclass(frozen=True)
class GuidanceReport:
    period: str
    municipality: str | None
    municipality_name: str | None
    as_known_at: str | None
    rows: tuple[GuidanceRow, ...]
    providers: tuple[Count, ...]  # persons started in the period per provider
    position: int
    rule_version: str
    digest: str | None


class GuidanceProjection(Projection):
    name = "guidance"
    kinds: ClassVar[Mapping[type[ev.TrajectEvent], tuple[str, ...]]] = {
        ev.SocialGuidanceStarted: ("year_no", "provider"),
        ev.SocialGuidanceEnded: ("year_no", "reason"),
    }
    fact_columns = (Column("year_no", INT, nullable=False), Column("provider", TEXT))
    fact_indexes = (("occurred_on",),)

    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        return (int(payload["year_no"]), payload.get("provider"))


GUIDANCE = GuidanceProjection()


@collector_paused()
def guidance(
    views: Views,
    period: Period,
    *,
    municipality: str | None = None,
    as_known_at: datetime | None = None,
) -> GuidanceReport:
    """Starts, ends and active trajectories per guidance year in ``period``.

    Args:
        period: a year, half-year or quarter (``occurred_on`` dates).
        municipality: only facts of this municipality (CBS code).
        as_known_at: count only what was recorded by this moment.

    Catches up first.
    """
    result = catch_up(views, GUIDANCE)
    start, end = period.start.isoformat(), period.end.isoformat()
    with views.transaction(commit=False) as tx:
        rows = current_facts(
            tx,
            GUIDANCE,
            "stream_id, version, kind, occurred_on, municipality, year_no, provider",
            "occurred_on <= ?",
            [end],
            as_known_at=as_known_at,
        )
    started: dict[int, set[str]] = {y: set() for y in GUIDANCE_YEARS}
    ended: dict[int, set[str]] = {y: set() for y in GUIDANCE_YEARS}
    providers: dict[str, set[str]] = {}
    # (person, year) → its latest fact so far: (occurred_on, version, kind, municipality)
    latest: dict[tuple[str, int], tuple[str, int, str, str]] = {}
    for stream, version, kind, on, where, year_no, provider in rows:
        person, year = str(stream), int(year_no)
        seen = latest.get((person, year))
        if seen is None or on > seen[0] or (on == seen[0] and version > seen[1]):
            latest[person, year] = (on, version, kind, where)
        if on < start or municipality not in (None, where):
            continue
        if kind == STARTED:
            started[year].add(person)
            providers.setdefault(provider or "unknown", set()).add(person)
        else:
            ended[year].add(person)
    active: dict[int, set[str]] = {y: set() for y in GUIDANCE_YEARS}
    for (person, year), (_, _, kind, where) in latest.items():
        if kind == STARTED and municipality in (None, where):
            active[year].add(person)
    table = [
        GuidanceRow(str(y), len(started[y]), len(ended[y]), len(active[y])) for y in GUIDANCE_YEARS
    ]
    table.append(
        GuidanceRow(
            TOTAL,
            len(set().union(*started.values())),
            len(set().union(*ended.values())),
            len(set().union(*active.values())),
        )
    )
    return GuidanceReport(
        period=str(period),
        municipality=municipality,
        municipality_name=name_of(municipality) if municipality else None,
        as_known_at=timestamp_text(as_known_at) if as_known_at else None,
        rows=tuple(table),
        providers=breakdown(Counter({p: len(s) for p, s in providers.items()}), by_size=True),
        position=result.position,
        rule_version=GUIDANCE.rule_version,
        digest=result.digest,
    )
