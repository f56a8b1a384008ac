"""P5 Participatieladder: the distribution of rungs on a date, and transitions between two dates.

* A person's **rung on a date d** is the rung of their latest ``LadderAssessed`` with
  ``occurred_on <= d`` (a later stream version wins a tie). Corrections of an assessment apply
  (rung, date, municipality); a retracted assessment does not count.
* The **distribution on d** counts the persons with a rung on d, per rung 1–6. Every person
  with an assessment counts, whether or not their case is still open on d: the caseload's
  notion of "active" (P1) is not applied, so that this read model depends on its own facts only.
* The **transitions between f and d** (f <= d) count, for every pair (rung on f, rung on d), the
  persons with a rung on both dates; the diagonal holds those who stayed on their rung. Persons
  first assessed after f are counted apart (``first_assessed``).
* ``municipality`` filters on the municipality of the person's latest assessment on d.

"As known at" a moment M uses only the fact revisions known at M (see ``outflow``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from ledger import events as ev
from projections.base import (
    INT,
    Column,
    Projection,
    Tx,
    Views,
    catch_up,
    known_at_clause,
    timestamp_text,
)

RUNGS: tuple[int, ...] = (1, 2, 3, 4, 5, 6)


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
    assessed: int  # persons with a rung on ``on``
    transitions: tuple[Transition, ...]  # 36 cells with from_date, none without
    first_assessed: int  # persons with a rung on ``on`` but none on ``from_date``
    position: int
    rule_version: str
    digest: str | None


class LadderProjection(Projection):
    name = "ladder"
    kinds: ClassVar[Mapping[type[ev.TrajectEvent], tuple[str, ...]]] = {
        ev.LadderAssessed: ("rung",),
    }
    fact_columns = (Column("rung", INT, nullable=False),)
    fact_indexes = (("occurred_on",),)

    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        return (int(payload["rung"]),)


LADDER = LadderProjection()


def _rungs_on(
    tx: Tx, days: tuple[date, ...], known: str, params: list[Any]
) -> list[dict[str, tuple[int, str]]]:
    """For each of ``days``: person → (rung, municipality) of their latest assessment on it.

    One scan of the assessments dated up to the last day, keeping each person's latest per day
    (a window function per day sorts far more slowly on a large table).
    """
    facts = tx.table(LADDER.facts_table.name)
    latest: list[dict[str, tuple[str, int, int, str]]] = [{} for _ in days]
    cutoffs = [day.isoformat() for day in days]
    for person, rung, municipality, on, version in tx.rows(
        "SELECT stream_id, rung, municipality, occurred_on, version"
        f" FROM {facts} WHERE occurred_on <= ? AND {known}",
        [max(cutoffs), *params],
    ):
        for cutoff, found in zip(cutoffs, latest, strict=True):
            if on <= cutoff:
                seen = found.get(person)
                if seen is None or (on, version) > seen[:2]:
                    found[person] = (on, version, rung, municipality)
    return [
        {str(person): (int(rung), str(m)) for person, (_, _, rung, m) in found.items()}
        for found in latest
    ]


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
    with views.transaction(commit=False) as tx:
        if from_date is None:
            (now,) = _rungs_on(tx, (on,), known, params)
            before: dict[str, tuple[int, str]] = {}
        else:
            now, before = _rungs_on(tx, (on, from_date), known, params)
    persons = {p: rung for p, (rung, m) in now.items() if municipality in (None, m)}
    counts = dict.fromkeys(RUNGS, 0)
    for rung in persons.values():
        counts[rung] += 1
    transitions: tuple[Transition, ...] = ()
    first_assessed = 0
    if from_date is not None:
        cells = {(a, b): 0 for a in RUNGS for b in RUNGS}
        for person, rung in persons.items():
            if person in before:
                cells[(before[person][0], rung)] += 1
            else:
                first_assessed += 1
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
        position=result.position,
        rule_version=LADDER.rule_version,
        digest=result.digest,
    )
