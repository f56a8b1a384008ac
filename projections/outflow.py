"""P2 outflow per period: persons who started outflow, per type, and the stock in outflow.

For a period T (normally a half-year) and each outflow type (werk_volledig, werk_gedeeltelijk,
onbetaald_vrijwilligerswerk, onderwijs):

* ``started``: distinct persons with an ``OutflowStarted`` of that type whose ``occurred_on`` lies
  in T. Retracted starts do not count; a corrected start counts with its corrected type and date.
  A person counts at most once per type per period, and may count under several types.
* ``in_outflow_at_end``: distinct persons whose latest ``OutflowStarted``/``OutflowEnded`` of
  that type with ``occurred_on`` on or before the last day of T (ties broken by stream version)
  is a start: the stock in outflow at the end of T. A person who died (``Deceased``) or moved
  away (their latest ``MovedOut``/``CaseReopened``, ties by stream version, is a move) on or
  before that day is not in the stock: nobody records the end of an outflow of a person who has
  left, so they would otherwise stay in it for good. A move is over once a later fact places the
  person in a municipality (a koppeling, housing or BRP registration: ``projections.moves``),
  and the person is in the stock again. A closed case (``CaseClosed``) stays in it: a case is
  often closed because the person works. Per municipality, the stock counts a person where
  their outflow started, or where a later fact placed them: the municipality they live in.

The ``total`` row counts distinct persons over all types. ``MovedOut`` is not outflow: it is
counted apart as ``moved_out``, the distinct persons with a ``MovedOut`` whose ``occurred_on``
lies in T (corrections and retractions apply), per municipality of the move when grouped.

"As known at" a moment M uses only the fact revisions known at M: events recorded after M are
left out, and corrections or retractions recorded after M are ignored (the fact counts as it was
known then). Both figures come from one scan of ``outflow_facts``, which keeps every revision
with its ``occurred_on`` and its ``known_from``/``known_to`` recorded times.

The current figures read less: ``started`` and ``moved_out`` from the current facts dated in T
(through the index on ``occurred_on``), the stock from ``outflow_spans``, which keeps for each
person the outflow types they are in over the dates (``projections.spans``), with the
municipality of each type's latest start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from ledger import events as ev
from ledger.values import OutflowType, Period
from projections.base import (
    TEXT,
    Column,
    Projection,
    Tx,
    Views,
    catch_up,
    collector_paused,
    known_at_clause,
    timestamp_text,
)
from projections.moves import (
    MOVED_OUT,
    PLACING,
    Placed,
    arrivals_of,
    lives_in,
    mark,
    move_ended,
)
from projections.spans import holding, refresh_spans, span_table

TOTAL = "total"
STARTED = "OutflowStarted"
DECEASED = "Deceased"
REOPENED = "CaseReopened"
GONE = "_gone"
"""The key of a person's span state while they have moved away (see :func:`_fold`)."""
DEAD = "_dead"
"""The key of a person's span state once they have died: no reopening takes it away."""
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
    municipality: str | None = None  # only this municipality's facts were counted


class OutflowProjection(Projection):
    name = "outflow"
    kinds: ClassVar[Mapping[type[ev.TrajectEvent], tuple[str, ...]]] = {
        ev.OutflowStarted: ("outflow_type",),
        ev.OutflowEnded: ("outflow_type",),
        ev.MovedOut: (),
        ev.Deceased: (),
        ev.CaseReopened: (),
        ev.CoaLinked: (),
        ev.Housed: (),
        ev.BrpRegistered: (),
    }
    version = 6  # a fact placing a person after a move ends it; the stock counts them there
    fact_columns = (Column("outflow_type", TEXT, nullable=False),)
    fact_indexes = (("occurred_on",),)
    derived_tables = (span_table("outflow_spans", Column("open", TEXT, nullable=False)),)

    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        return (str(payload.get("outflow_type", "")),)

    def refresh(self, tx: Tx, stream_ids: set[str]) -> None:
        refresh_spans(
            tx, self, stream_ids, "kind, outflow_type, municipality", fold=_fold, view=_open
        )


def _fold(state: dict[str, Any], row: Sequence[Any]) -> None:
    """One fact (stream_id, occurred_on, kind, outflow_type, municipality) into a person's
    state: outflow type → the municipality of its start (or of a later fact placing the
    person), while it is open; ``GONE`` while the person has moved away (a ``CaseReopened`` or
    a fact placing them after a move brings them back) and ``DEAD`` from
    their death on (a reopening dated after it does not, as the scan of an as-known-at report
    counts it)."""
    kind, outflow_type = row[2], str(row[3])
    if kind == STARTED:
        state[outflow_type] = str(row[4])
    elif kind == DECEASED:
        state[DEAD] = True
    elif kind == MOVED_OUT:
        state[GONE] = True
    elif kind == REOPENED:
        state.pop(GONE, None)
    elif kind in PLACING:  # the move is over; the open types count where the person lives
        state.pop(GONE, None)
        for open_type in [key for key in state if key in OUTFLOW_TYPES]:
            state[open_type] = str(row[4])
    else:
        state.pop(outflow_type, None)


def _open(state: dict[str, Any]) -> tuple[str] | None:
    """The open types as ``type=municipality`` words, sorted; None when there are none or the
    person has died or moved away."""
    if not state or GONE in state or DEAD in state:
        return None
    return (" ".join(f"{kind}={where}" for kind, where in sorted(state.items())),)


def _open_types(text: str) -> Iterable[tuple[str, str]]:
    """(type, municipality) of each open type in an ``open`` column."""
    for word in text.split():
        kind, _, where = word.partition("=")
        yield kind, where


OUTFLOW = OutflowProjection()


@collector_paused()
def outflow(
    views: Views,
    period: Period,
    *,
    as_known_at: datetime | None = None,
    by: str | None = None,
    municipality: str | None = None,
) -> OutflowReport:
    """The outflow figures of ``period``, one row per type plus a total (per group if ``by``).

    Args:
        period: the period whose ``occurred_on`` dates count (any year, half-year or quarter).
        as_known_at: count only what was recorded by this moment.
        by: ``"municipality"`` for one set of rows per municipality of the outflow fact.
        municipality: count only the facts of this municipality (CBS code).

    Raises:
        ValueError: ``by`` is not a known grouping.

    Catches up first, so the answer includes every stored event.
    """
    if by is not None and by not in GROUPINGS:
        msg = f"outflow can be grouped by {', '.join(GROUPINGS)}, not {by!r}"
        raise ValueError(msg)
    result = catch_up(views, OUTFLOW)
    start, end = period.start.isoformat(), period.end.isoformat()
    grouped = by is not None or municipality is not None
    found = _Counts(start, grouped, {}, {}, [])
    with views.transaction(commit=False) as tx:
        if as_known_at is None:
            _current(tx, found, end)
        else:
            _scan(tx, found, end, as_known_at, grouped=grouped)
    started, moved = found.started, found.moved
    stock: dict[tuple[str, str], set[str]] = {}
    for stream_id, kind_of_outflow, where in found.stock:
        grp = where if grouped else ""
        stock.setdefault((grp, kind_of_outflow), set()).add(stream_id)
        stock.setdefault((grp, TOTAL), set()).add(stream_id)
    counts = {
        key: [len(started.get(key, ())), len(stock.get(key, ()))]
        for key in started.keys() | stock.keys()
    }
    if municipality is not None:
        groups = [municipality]
    else:
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
        municipality=municipality,
    )


@dataclass
class _Counts:
    """What one period's facts add up to: persons who started each type (per group), persons
    who moved out (per group), and (person, type, municipality) in outflow at its end."""

    start: str
    by: bool
    started: dict[tuple[str, str], set[str]]
    moved: dict[str, set[str]]
    stock: list[tuple[str, str, str]]

    def add(self, stream_id: str, kind_of_outflow: str, kind: str, where: str, on: str) -> None:
        """A fact dated up to the period's end (one dated before its start adds nothing)."""
        if on < self.start:
            return
        grp = where if self.by else ""
        if kind == MOVED_OUT:
            self.moved.setdefault(grp, set()).add(stream_id)
        elif kind == STARTED:
            self.started.setdefault((grp, kind_of_outflow), set()).add(stream_id)
            self.started.setdefault((grp, TOTAL), set()).add(stream_id)


def _current(tx: Tx, counts: _Counts, end: str) -> None:
    """From the current facts dated in the period, and the spans holding its last day."""
    facts, spans = tx.table(OUTFLOW.facts_table.name), tx.table(OUTFLOW.derived_tables[0].name)
    for row in tx.rows(
        "SELECT stream_id, outflow_type, kind, municipality, occurred_on FROM"
        f" {facts} WHERE known_to IS NULL AND occurred_on >= ? AND occurred_on <= ?"
        f" AND kind IN ('{STARTED}', '{MOVED_OUT}')",
        [counts.start, end],
    ):
        counts.add(*row)
    counts.stock += [
        (str(person), kind, where)
        for person, text in tx.rows(
            f"SELECT person_id, open FROM {spans} WHERE {holding()}", [end, end]
        )
        for kind, where in _open_types(text)
    ]


def _scan(tx: Tx, counts: _Counts, end: str, as_known_at: datetime, *, grouped: bool) -> None:
    """From one scan of the fact revisions known at ``as_known_at`` dated up to the end of the
    period: ``started`` from the rows dated in it, the stock from each person's latest start or
    end per type (a window function over the whole table sorts far more slowly).

    The facts placing a person are read for those who moved out, and, when the stock is
    counted per municipality (``grouped``), for those with a start too: no one else's count or
    municipality depends on them."""
    known, params = known_at_clause(as_known_at)
    facts = tx.table(OUTFLOW.facts_table.name)
    arrivals = arrivals_of(facts, (MOVED_OUT, STARTED) if grouped else (MOVED_OUT,))
    latest: dict[tuple[str, str], tuple[str, int, str, str]] = {}
    deceased: set[str] = set()
    whereabouts: dict[str, tuple[str, int, str]] = {}  # the latest move or reopening
    placed: dict[str, Placed] = {}  # the latest fact placing the person
    for stream_id, kind_of_outflow, kind, municipality, on, version in tx.rows(
        "SELECT stream_id, outflow_type, kind, municipality, occurred_on, version"
        f" FROM {facts} WHERE {tx.dialect.unindexed('occurred_on')} <= ? AND {known}"
        f" AND {arrivals}",
        [end, *params],
    ):
        counts.add(stream_id, kind_of_outflow, kind, municipality, on)
        if kind == DECEASED:
            deceased.add(stream_id)
        elif kind in (MOVED_OUT, REOPENED):
            if stream_id not in whereabouts or (on, version) > whereabouts[stream_id][:2]:
                whereabouts[stream_id] = (on, version, kind)
        elif kind in PLACING:
            if stream_id not in placed or (on, version) > placed[stream_id][:2]:
                placed[stream_id] = (on, version, municipality)
        else:
            key = (stream_id, kind_of_outflow)
            latest_mark = (on, version, kind, municipality)
            if key not in latest or latest_mark[:2] > latest[key][:2]:
                latest[key] = latest_mark
    gone = deceased | {
        s
        for s, (on, version, kind) in whereabouts.items()
        if kind == MOVED_OUT and not move_ended((on, version), mark(placed.get(s)))
    }
    for (stream_id, kind_of_outflow), (on, version, kind, municipality) in latest.items():
        if kind == STARTED and stream_id not in gone:
            # placed after the start: counted where they live
            where = lives_in((on, version), placed.get(stream_id), municipality)
            counts.stock.append((stream_id, kind_of_outflow, where))
