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
    known_at_clause,
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
    known, known_params = known_at_clause(as_known_at)
    facts = views.table(GUIDANCE.facts_table.name)
    where_m, m_params = (" AND municipality = ?", [municipality]) if municipality else ("", [])
    with views.transaction(commit=False) as tx:
        # the starts and ends in the period: one range of the occurred_on index
        rows = current_facts(
            tx,
            GUIDANCE,
            "stream_id, kind, year_no, provider",
            "occurred_on >= ? AND occurred_on <= ?" + where_m,
            [start, end, *m_params],
            as_known_at=as_known_at,
        )
        # each person's latest start or end of each year up to the period's end (a later
        # version breaking a tie), kept when it is a start: the database picks them, so that
        # only the persons in guidance come back, not every fact up to the end
        active_rows = tx.all(
            "SELECT stream_id, year_no FROM (SELECT stream_id, year_no, kind, municipality,"
            " ROW_NUMBER() OVER (PARTITION BY stream_id, year_no"
            " ORDER BY occurred_on DESC, version DESC) AS nth"
            f" FROM {facts} WHERE {known} AND occurred_on <= ?) AS latest"
            f" WHERE nth = 1 AND kind = '{STARTED}'{where_m}",
            [*known_params, end, *m_params],
        )
    started: dict[int, set[str]] = {y: set() for y in GUIDANCE_YEARS}
    ended: dict[int, set[str]] = {y: set() for y in GUIDANCE_YEARS}
    providers: dict[str, set[str]] = {}
    for stream, kind, year_no, provider in rows:
        person, year = str(stream), int(year_no)
        if kind == STARTED:
            started[year].add(person)
            providers.setdefault(provider or "unknown", set()).add(person)
        else:
            ended[year].add(person)
    active: dict[int, set[str]] = {y: set() for y in GUIDANCE_YEARS}
    for stream, year_no in active_rows:
        active[int(year_no)].add(str(stream))
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
