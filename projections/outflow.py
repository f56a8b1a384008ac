"""P2 outflow per period: persons who started outflow, per type, and the stock in outflow.

For a period T (normally a half-year) and each outflow type (werk_volledig, werk_gedeeltelijk,
onbetaald_vrijwilligerswerk, onderwijs):

* ``started``: distinct persons with an ``OutflowStarted`` of that type whose ``occurred_on`` lies
  in T. Retracted starts do not count; a corrected start counts with its corrected type and date.
  A person counts at most once per type per period, and may count under several types.
* ``in_outflow_at_end``: distinct persons whose latest ``OutflowStarted``/``OutflowEnded`` of
  that type with ``occurred_on`` on or before the last day of T (ties broken by stream version)
  is a start: the stock in outflow at the end of T.

The ``total`` row counts distinct persons over all types. ``MovedOut`` is not outflow: it is
counted apart as ``moved_out``, the distinct persons with a ``MovedOut`` whose ``occurred_on``
lies in T (corrections and retractions apply), per municipality of the move when grouped.

"As known at" a moment M uses only the fact revisions known at M: events recorded after M are
left out, and corrections or retractions recorded after M are ignored (the fact counts as it was
known then). Both figures come from one scan of ``outflow_facts``, which keeps every revision
with its ``occurred_on`` and its ``known_from``/``known_to`` recorded times.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from ledger import events as ev
from ledger.values import OutflowType, Period
from projections.base import (
    TEXT,
    Column,
    Projection,
    Views,
    catch_up,
    known_at_clause,
    timestamp_text,
)

TOTAL = "total"
STARTED = "OutflowStarted"
MOVED_OUT = "MovedOut"
OUTFLOW_TYPES: tuple[str, ...] = tuple(t.value for t in OutflowType)
GROUPINGS = ("municipality",)


@dataclass(frozen=True)
class OutflowRow:
    period: str
    group: str | None  # the municipality when grouped by municipality
    outflow_type: str  # one of OUTFLOW_TYPES, or "total"
    started: int
    in_outflow_at_end: int


@dataclass(frozen=True)
class MovedOutCount:
    """Distinct persons who moved out in the period (not outflow), per group."""

    period: str
    group: str | None  # the municipality when grouped by municipality
    persons: int


@dataclass(frozen=True)
class OutflowReport:
    """The figures of one period, with what they were computed from."""

    period: str
    as_known_at: str | None
    by: str | None
    rows: tuple[OutflowRow, ...]
    moved_out: tuple[MovedOutCount, ...]  # one per group (one, with group None, ungrouped)
    position: int  # the last notification id the projection had processed
    rule_version: str
    digest: str | None


class OutflowProjection(Projection):
    name = "outflow"
    kinds: ClassVar[Mapping[type[ev.TrajectEvent], tuple[str, ...]]] = {
        ev.OutflowStarted: ("outflow_type",),
        ev.OutflowEnded: ("outflow_type",),
        ev.MovedOut: (),
    }
    version = 2  # MovedOut facts (outflow_type "") for the moved-out count
    fact_columns = (Column("outflow_type", TEXT, nullable=False),)
    fact_indexes = (("occurred_on",),)

    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        return (str(payload.get("outflow_type", "")),)


OUTFLOW = OutflowProjection()


def outflow(
    views: Views,
    period: Period,
    *,
    as_known_at: datetime | None = None,
    by: str | None = None,
) -> OutflowReport:
    """The outflow figures of ``period``, one row per type plus a total (per group if ``by``).

    Args:
        period: the period whose ``occurred_on`` dates count (any year, half-year or quarter).
        as_known_at: count only what was recorded by this moment.
        by: ``"municipality"`` for one set of rows per municipality of the outflow fact.

    Raises:
        ValueError: ``by`` is not a known grouping.

    Catches up first, so the answer includes every stored event.
    """
    if by is not None and by not in GROUPINGS:
        msg = f"outflow can be grouped by {', '.join(GROUPINGS)}, not {by!r}"
        raise ValueError(msg)
    result = catch_up(views, OUTFLOW)
    known, known_params = known_at_clause(as_known_at)
    facts = views.table(OUTFLOW.facts_table.name)
    start, end = period.start.isoformat(), period.end.isoformat()
    # one scan of the facts dated up to the end of the period: ``started`` from the rows
    # dated in the period, the stock from each person's latest start or end per type (a
    # window function over the whole table sorts far more slowly)
    scan = (
        "SELECT stream_id, outflow_type, kind, municipality, occurred_on, version"
        f" FROM {facts} WHERE occurred_on <= ? AND {known}"
    )
    started: dict[tuple[str, str], set[str]] = {}
    moved: dict[str, set[str]] = {}
    latest: dict[tuple[str, str], tuple[str, int, str, str]] = {}
    with views.transaction(commit=False) as tx:
        for stream_id, kind_of_outflow, kind, municipality, on, version in tx.rows(
            scan, [end, *known_params]
        ):
            if kind == MOVED_OUT:
                if on >= start:
                    moved.setdefault(municipality if by else "", set()).add(stream_id)
                continue
            key = (stream_id, kind_of_outflow)
            mark = (on, version, kind, municipality)
            if key not in latest or mark[:2] > latest[key][:2]:
                latest[key] = mark
            if kind == STARTED and on >= start:
                grp = municipality if by else ""
                started.setdefault((grp, kind_of_outflow), set()).add(stream_id)
                started.setdefault((grp, TOTAL), set()).add(stream_id)
    stock: dict[tuple[str, str], set[str]] = {}
    for (stream_id, kind_of_outflow), (_, _, kind, municipality) in latest.items():
        if kind == STARTED:
            grp = municipality if by else ""
            stock.setdefault((grp, kind_of_outflow), set()).add(stream_id)
            stock.setdefault((grp, TOTAL), set()).add(stream_id)
    counts = {
        key: [len(started.get(key, ())), len(stock.get(key, ()))]
        for key in started.keys() | stock.keys()
    }
    groups = sorted({grp for grp, _ in counts} | moved.keys()) if by else [""]
    rows = tuple(
        OutflowRow(
            str(period),
            grp if by else None,
            kind,
            *counts.get((grp, kind), [0, 0]),
        )
        for grp in groups
        for kind in (*OUTFLOW_TYPES, TOTAL)
    )
    return OutflowReport(
        period=str(period),
        as_known_at=timestamp_text(as_known_at) if as_known_at else None,
        by=by,
        rows=rows,
        moved_out=tuple(
            MovedOutCount(str(period), grp if by else None, len(moved.get(grp, ())))
            for grp in groups
        ),
        position=result.position,
        rule_version=OUTFLOW.rule_version,
        digest=result.digest,
    )
