"""Small pieces shared by the life-course reports (P4, P8–P11): counts per key and fact rows.

A :class:`Count` is one line of a breakdown (a key and a number of persons, files or events);
:func:`breakdown` turns a tally into counts sorted the same way on every store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.base import Projection, Tx, known_at_clause


@dataclass(frozen=True)
class Count:
    """One line of a breakdown: ``key`` (a code or category) and how many."""

    key: str
    count: int


def breakdown(
    tally: Counter[str], keys: Iterable[str] = (), *, by_size: bool = False
) -> tuple[Count, ...]:
    """Counts for ``keys`` (zeros included, in that order) and then any other key, sorted.

    With ``by_size`` the other keys come largest first (ties by key), as for nationalities.
    """
    fixed = list(keys)
    rest = [k for k in tally if k not in fixed]
    rest.sort(key=(lambda k: (-tally[k], k)) if by_size else (lambda k: k))
    return tuple(Count(k, tally.get(k, 0)) for k in [*fixed, *rest])


def current_facts(
    tx: Tx,
    projection: Projection,
    columns: str,
    where: str,
    params: list[Any],
    *,
    as_known_at: datetime | None,
) -> list[tuple[Any, ...]]:
    """``SELECT columns`` from the projection's facts known at ``as_known_at`` (None: now)."""
    known, known_params = known_at_clause(as_known_at)
    facts = tx.table(projection.facts_table.name)
    return tx.all(
        f"SELECT {columns} FROM {facts} WHERE {known} AND {where}", [*known_params, *params]
    )
