"""P5 Participatieladder: the distribution of rungs on a date, and transitions between two dates.

* A person's **rung on a date d** is the rung of their latest ``LadderAssessed`` with
  ``occurred_on <= d`` (a later stream version wins a tie). Corrections of an assessment apply
  (rung, date, municipality); a retracted assessment does not count.
* A person is **active on d** as in the caseload (P1): not deceased on d (no ``Deceased`` with
  ``occurred_on <= d``), and their latest ``CaseClosed`` / ``MovedOut`` / ``CaseReopened`` on or
  before d (ties by stream version) is not a closure or a move, nor a move followed by a fact
  placing the person in a municipality (``projections.moves``). The read model keeps these
  facts itself, so that it depends on its own facts only. Unlike the caseload, it does not ask
  for a fact placing the person in a municipality by d: the registration is the first fact of a
  person's stream, but an assessment may be dated before it (history recorded later).
* The **distribution on d** counts the active persons with a rung on d, per rung 1–6; the
  persons with a rung on d who are not active on d are counted apart (``inactive_assessed``).
* The **transitions between f and d** (f <= d) count, for every pair (rung on f, rung on d), the
  persons active on both dates with a rung on both dates; the diagonal holds those who stayed on
  their rung. Of the persons in the distribution, those without a rung on f are counted apart
  (``first_assessed``) and those with a rung on f but not active on f too
  (``inactive_on_from``): the distribution's total is the transitions' sum plus these two.
* ``municipality`` filters on the municipality of the person's latest assessment on d, or of
  a later fact placing the person in a municipality (koppeling, housing, BRP registration) by
  d: where the person lives, as in the caseload.

"As known at" a moment M uses only the fact revisions known at M (see ``outflow``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from ledger import events as ev
from projections.base import (
    INT,
    TEXT,
    Column,
    Projection,
    Tx,
    Views,
    catch_up,
    checked_on_failure,
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

RUNGS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
ASSESSED = "LadderAssessed"
CLOSING = frozenset({"CaseClosed", MOVED_OUT})


@dataclass(frozen=True)
class RungCount:
    """The number of persons on one rung on the date."""

    rung: int
    persons: int


@dataclass(frozen=True)
class Transition:
    """The number of persons on ``from_rung`` on the first date and ``to_rung`` on the second."""

    from_rung: int
    to_rung: int
    persons: int


@dataclass(frozen=True)
class LadderReport:
    """The distribution on ``on`` and, with ``from_date``, the transitions since then."""

    on: str
    from_date: str | None
    as_known_at: str | None
    municipality: str | None
    distribution: tuple[RungCount, ...]  # rungs 1–6, zeros included
    assessed: int  # active persons with a rung on ``on``
    transitions: tuple[Transition, ...]  # 36 cells with from_date, none without
    first_assessed: int  # active persons with a rung on ``on`` but none on ``from_date``
    inactive_assessed: int  # persons with a rung on ``on`` who are not active on ``on``
    inactive_on_from: int  # in the distribution, with a rung on but not active on ``from``
    position: int
    rule_version: str
    digest: str | None


class LadderProjection(Projection):
    name = "ladder"
    kinds: ClassVar[Mapping[type[ev.TrajectEvent], tuple[str, ...]]] = {
        ev.LadderAssessed: ("rung",),
        ev.CaseClosed: (),
        ev.CaseReopened: (),
        ev.MovedOut: (),
        ev.Deceased: (),
        ev.CoaLinked: (),
        ev.Housed: (),
        ev.BrpRegistered: (),
    }
    version = 4  # a fact placing a person after a move ends it (projections/definitions.py)
    fact_columns = (Column("rung", INT),)  # null for the case and death facts
    fact_indexes = (("occurred_on",),)
    derived_tables = (
        span_table(
            "ladder_spans",
            Column("rung", INT, nullable=False),
            Column("municipality", TEXT, nullable=False),
            Column("active", INT, nullable=False),
        ),
    )

    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        return (int(payload["rung"]) if kind == ASSESSED else None,)

    def refresh(self, tx: Tx, stream_ids: set[str]) -> None:
        refresh_spans(tx, self, stream_ids, "kind, rung, municipality", fold=_fold, view=_rung)


def _fold(state: dict[str, Any], row: Sequence[Any]) -> None:
    """One fact (stream_id, occurred_on, kind, rung, municipality) into a person's state."""
    kind = row[2]
    if kind == ASSESSED:
        state["rung"] = (int(row[3]), str(row[4]))
    elif kind == "Deceased":
        state["deceased"] = True
    elif kind in PLACING:
        if state.get("case") == MOVED_OUT:
            state["case"] = kind  # the move is over
        if "rung" in state:  # placed after the assessment: counted where they live
            state["rung"] = (state["rung"][0], str(row[4]))
    else:
        state["case"] = kind


def _rung(state: dict[str, Any]) -> tuple[int, str, int] | None:
    """(rung, municipality, active: 1 or 0) of a person with a rung, else None."""
    if "rung" not in state:
        return None
    active = "deceased" not in state and state.get("case") not in CLOSING
    return (*state["rung"], int(active))


LADDER = LadderProjection()


@dataclass
class _OnDay:
    """What the scan keeps for one date: each person's latest assessment, latest case fact
    and latest fact placing them (``occurred_on``, version, …) on or before it, and who had
    died by then."""

    cutoff: str
    rungs: dict[str, tuple[str, int, int, str]]
    cases: dict[str, tuple[str, int, str]]
    placed: dict[str, Placed]
    deceased: set[str]

    def active(self, person: str) -> bool:
        case = self.cases.get(person)
        return person not in self.deceased and (
            case is None
            or case[2] not in CLOSING
            or (case[2] == MOVED_OUT and move_ended(case[:2], mark(self.placed.get(person))))
        )

    def municipality(self, person: str) -> str:
        """The municipality of the latest assessment, or of a fact placing the person after
        it."""
        on, version, _, where = self.rungs[person]
        return lives_in((on, version), self.placed.get(person), where)


def _rungs_on(
    tx: Tx, days: tuple[date, ...], known: str, params: list[Any], *, where: bool
) -> list[dict[str, tuple[int, str, bool]]]:
    """For each of ``days``: person → (rung, municipality, active on the day) of their latest
    assessment on it.

    One scan of the facts dated up to the last day, keeping each person's latest per day
    (a window function per day sorts far more slowly on a large table). The facts placing a
    person are read for those who moved out, and, if ``where`` (the municipality is asked
    for), for every assessed person; without ``where`` the municipality is the latest
    assessment's, which nobody then reads.
    """
    facts = tx.table(LADDER.facts_table.name)
    arrivals = arrivals_of(facts, (MOVED_OUT, ASSESSED) if where else (MOVED_OUT,))
    found = [_OnDay(day.isoformat(), {}, {}, {}, set()) for day in days]
    for person, kind, rung, municipality, on, version in tx.rows(
        "SELECT stream_id, kind, rung, municipality, occurred_on, version"
        f" FROM {facts} WHERE {tx.dialect.unindexed('occurred_on')} <= ? AND {known}"
        f" AND {arrivals}",
        [max(day.cutoff for day in found), *params],
    ):
        for day in found:
            if on > day.cutoff:
                continue
            if kind == ASSESSED:
                seen = day.rungs.get(person)
                if seen is None or (on, version) > seen[:2]:
                    day.rungs[person] = (on, version, rung, municipality)
            elif kind == "Deceased":
                day.deceased.add(person)
            elif kind in PLACING:
                seen_placed = day.placed.get(person)
                if seen_placed is None or (on, version) > seen_placed[:2]:
                    day.placed[person] = (on, version, municipality)
            else:
                case = day.cases.get(person)
                if case is None or (on, version) > case[:2]:
                    day.cases[person] = (on, version, kind)
    return [
        {
            str(person): (int(rung), str(day.municipality(person)), day.active(person))
            for person, (_, _, rung, _) in day.rungs.items()
        }
        for day in found
    ]


def _spans_on(tx: Tx, day: date) -> dict[str, tuple[int, str, bool]]:
    """Person → (rung, municipality, active) on ``day``, from ``ladder_spans``."""
    table = tx.table(LADDER.derived_tables[0].name)
    return {
        str(person): (int(rung), str(municipality), bool(active))
        for person, rung, municipality, active in tx.rows(
            f"SELECT person_id, rung, municipality, active FROM {table} WHERE {holding()}",
            [day.isoformat(), day.isoformat()],
        )
    }


@collector_paused()
def ladder(
    views: Views,
    on: date,
    *,
    from_date: date | None = None,
    as_known_at: datetime | None = None,
    municipality: str | None = None,
) -> LadderReport:
    """The rung distribution on ``on`` and, with ``from_date``, the transitions since then.

    Args:
        on: the date the distribution is true on.
        from_date: the earlier date of the transition matrix (not after ``on``).
        as_known_at: count only what was recorded by this moment.
        municipality: only persons whose latest assessment on ``on`` was in this municipality.

    Raises:
        ValueError: ``from_date`` is after ``on``.

    Catches up first.
    """
    if from_date is not None and from_date > on:
        msg = f"--from ({from_date}) must not be after --on ({on})"
        raise ValueError(msg)
    result = catch_up(views, LADDER)
    known, params = known_at_clause(as_known_at)
    days = (on,) if from_date is None else (on, from_date)
    with views.transaction(commit=False) as tx:
        if as_known_at is None:
            found = [_spans_on(tx, day) for day in days]
        else:
            found = _rungs_on(tx, days, known, params, where=municipality is not None)
    now, before = found if from_date is not None else (found[0], {})
    here = {p: (rung, active) for p, (rung, m, active) in now.items() if municipality in (None, m)}
    persons = {p: rung for p, (rung, active) in here.items() if active}
    counts = dict.fromkeys(RUNGS, 0)
    transitions: tuple[Transition, ...] = ()
    first_assessed = inactive_on_from = 0

    def off_the_ladder() -> set[str]:  # rungs the read model kept as stored, none of 1-6
        off = {p for p, (rung, _) in here.items() if rung not in counts}
        return off | {p for p, (rung, _, _) in before.items() if rung not in counts}

    with checked_on_failure(views, off_the_ladder, (KeyError,)):
        for rung in persons.values():
            counts[rung] += 1
        if from_date is not None:
            cells = {(a, b): 0 for a in RUNGS for b in RUNGS}
            for person, rung in persons.items():
                if person not in before:
                    first_assessed += 1
                elif before[person][2]:
                    cells[(before[person][0], rung)] += 1
                else:
                    inactive_on_from += 1
            transitions = tuple(Transition(a, b, n) for (a, b), n in sorted(cells.items()))
    return LadderReport(
        on=on.isoformat(),
        from_date=from_date.isoformat() if from_date else None,
        as_known_at=timestamp_text(as_known_at) if as_known_at else None,
        municipality=municipality,
        distribution=tuple(RungCount(r, counts[r]) for r in RUNGS),
        assessed=len(persons),
        transitions=transitions,
        first_assessed=first_assessed,
        inactive_assessed=len(here) - len(persons),
        inactive_on_from=inactive_on_from,
        position=result.position,
        rule_version=LADDER.rule_version,
        digest=result.digest,
    )
