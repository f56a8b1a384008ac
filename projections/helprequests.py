"""P10 spreekuur and hulpvragen (help requests) per category, split between MB and spreekuur.

For a period T, every ``HelpRequestRecorded`` whose ``occurred_on`` lies in T counts under
**MB** when the person was in maatschappelijke begeleiding (guidance year 1 or 2) on the request
date, else under **spreekuur** (walk-in hours). A person is in MB on a date when, for year 1 or
year 2, their latest ``SocialGuidanceStarted``/``SocialGuidanceEnded`` on or before that date (a
later stream version breaking a tie) is a start: the same rule as P8's ``active_at_end``.

Per category (onderwijs, financien, participatie, wonen, juridisch, gezondheid, overig) and in
total, for MB, spreekuur and both together:

* ``requests``: the number of help requests;
* ``persons``: distinct persons (*contacten*). A person with requests under both MB and
  spreekuur in T counts once in the ``all`` column.

``municipality`` keeps the requests recorded for that municipality (guidance is looked up for the
person wherever it was recorded). Corrections apply, retractions remove; "as known at" uses the
revisions known then, for the requests and for the guidance facts alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from ledger import events as ev
from ledger.municipalities import name_of
from ledger.values import HelpCategory, Period
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
from projections.breakdown import current_facts
from projections.guidance import ENDED, GUIDANCE_YEARS, STARTED, GuidanceFact, in_guidance

REQUEST = "HelpRequestRecorded"
TOTAL = "total"
CATEGORIES: tuple[str, ...] = tuple(c.value for c in HelpCategory)


@dataclass(frozen=True)
class HelpRequestRow:
    """One category (or ``total``): requests and distinct persons under MB, spreekuur and all."""

    category: str
    mb_requests: int
    mb_persons: int
    spreekuur_requests: int
    spreekuur_persons: int
    requests: int
    persons: int


@dataclass(frozen=True)
class HelpRequestReport:
    period: str
    municipality: str | None
    municipality_name: str | None
    as_known_at: str | None
    rows: tuple[HelpRequestRow, ...]  # one per category, then the total
    position: int
    rule_version: str
    digest: str | None


class HelpRequestProjection(Projection):
    name = "helprequests"
    kinds: ClassVar[Mapping[type[ev.TrajectEvent], tuple[str, ...]]] = {
        ev.HelpRequestRecorded: ("category", "channel", "resolved"),
        ev.SocialGuidanceStarted: ("year_no",),
        ev.SocialGuidanceEnded: ("year_no",),
    }
    fact_columns = (Column("category", TEXT), Column("year_no", INT))
    fact_indexes = (("occurred_on",), ("stream_id",), ("kind", "occurred_on"))

    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        if kind == REQUEST:
            return (payload.get("category"), None)
        return (None, int(payload["year_no"]))


HELP_REQUESTS = HelpRequestProjection()


@collector_paused()
def help_requests(
    views: Views,
    period: Period,
    *,
    municipality: str | None = None,
    as_known_at: datetime | None = None,
) -> HelpRequestReport:
    """Help requests of ``period`` per category, under MB or spreekuur.

    Args:
        period: a year, half-year or quarter (``occurred_on`` dates).
        municipality: only requests recorded for this municipality (CBS code).
        as_known_at: count only what was recorded by this moment.

    Catches up first.
    """
    result = catch_up(views, HELP_REQUESTS)
    start, end = period.start.isoformat(), period.end.isoformat()
    # the requests of the period and the guidance facts: each one range of the
    # (kind, occurred_on) index
    in_period = f"kind = '{REQUEST}' AND occurred_on >= ? AND occurred_on <= ?"
    where_m, m_params = (" AND municipality = ?", [municipality]) if municipality else ("", [])
    with views.transaction(commit=False) as tx:
        request_rows = current_facts(
            tx,
            HELP_REQUESTS,
            "stream_id, occurred_on, category",
            in_period + where_m,
            [start, end, *m_params],
            as_known_at=as_known_at,
        )
        # the guidance facts up to the period's end of the persons with a request found above:
        # the requesters first, each stream's facts then by its key (CROSS JOIN keeps that
        # order on SQLite; a scan of every guidance fact up to the end cost five times more);
        # the outer known_from/known_to are g's (r has only stream_id)
        known, known_params = known_at_clause(as_known_at)
        facts = tx.table(HELP_REQUESTS.facts_table.name)
        guidance_rows = tx.all(
            "SELECT g.stream_id, g.version, g.kind, g.occurred_on, g.year_no FROM"
            f" (SELECT DISTINCT stream_id FROM {facts} WHERE {known} AND {in_period}{where_m})"
            f" AS r CROSS JOIN {facts} AS g WHERE g.stream_id = r.stream_id AND {known}"
            f" AND g.kind IN ('{STARTED}', '{ENDED}') AND g.occurred_on <= ?",
            [*known_params, start, end, *m_params, *known_params, end],
        )
    requests = [(str(stream), on, str(category)) for stream, on, category in request_rows]
    requesters = {person for person, _, _ in requests}
    guidance: dict[tuple[str, int], list[GuidanceFact]] = {}
    for stream, version, kind, on, year_no in guidance_rows:
        if str(stream) in requesters:
            guidance.setdefault((str(stream), int(year_no)), []).append((on, int(version), kind))
    guided = {person for person, _ in guidance}
    tagged = [
        (
            category,
            "mb"
            if person in guided
            and any(in_guidance(guidance.get((person, y), ()), on) for y in GUIDANCE_YEARS)
            else "spreekuur",
            person,
        )
        for person, on, category in requests
    ]
    # each request counts under its category and the total, in its column and in "all";
    # a person counts once per cell
    counts = Counter((cat, where) for cat, where, _ in tagged)
    persons = Counter((cat, where) for cat, where, _ in set(tagged))
    by_category = {(cat, person) for cat, _, person in tagged}
    by_column = {(where, person) for _, where, person in tagged}
    for where in ("mb", "spreekuur"):
        counts[(TOTAL, where)] = sum(n for (_, w), n in list(counts.items()) if w == where)
    for cat in CATEGORIES:
        counts[(cat, "all")] = counts[(cat, "mb")] + counts[(cat, "spreekuur")]
    counts[(TOTAL, "all")] = len(tagged)
    persons.update((cat, "all") for cat, _ in by_category)
    persons.update((TOTAL, where) for where, _ in by_column)
    persons[(TOTAL, "all")] = len({person for _, _, person in tagged})

    def row(cat: str) -> HelpRequestRow:
        figures = [
            figure
            for column in ("mb", "spreekuur", "all")
            for figure in (counts[(cat, column)], persons[(cat, column)])
        ]
        return HelpRequestRow(cat, *figures)

    return HelpRequestReport(
        period=str(period),
        municipality=municipality,
        municipality_name=name_of(municipality) if municipality else None,
        as_known_at=timestamp_text(as_known_at) if as_known_at else None,
        rows=tuple(row(cat) for cat in (*CATEGORIES, TOTAL)),
        position=result.position,
        rule_version=HELP_REQUESTS.rule_version,
        digest=result.digest,
    )
