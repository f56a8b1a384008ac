"""Spans: what a person's facts say on every date, kept as runs of dates with the same value.

A read model that answers "on a date d" by folding each person's facts with ``occurred_on <= d``
can keep the answer for every date instead: the person's value changes only on the dates of
their facts, so it is constant over spans of dates. :func:`spans` folds the current facts of a
person in (``occurred_on``, stream version) order and yields one span per run of dates with the
same value: ``valid_from`` (the first date of the run: a fact's date) and ``valid_to`` (the date
the value next changes; None for the latest value). The value on d is that of the span with
``valid_from <= d`` and (``valid_to`` NULL or ``valid_to > d``); a person without a value on d
(``view`` gave None) has no span holding d. :func:`holding` is that condition in SQL.

The span tables are derived tables, refreshed for the streams whose facts changed (and for every
stream at the end of a rebuild); only "current" reports read them: "as known at" a moment, the
reports still fold the fact revisions known then.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from itertools import chain, groupby
from operator import itemgetter
from typing import Any, TypeVar

from projections.base import TEXT, Column, Projection, Table, Tx

V = TypeVar("V", bound=Hashable)

SPAN_COLUMNS = (
    Column("person_id", TEXT, nullable=False),
    Column("valid_from", TEXT, nullable=False),
    Column("valid_to", TEXT),
)


def span_table(name: str, *columns: Column) -> Table:
    """A span table: person, ``valid_from``, ``valid_to`` and the value's ``columns``; key
    (person_id, valid_from). No index on the dates: the spans holding a date in the middle of
    the history lie all over such an index, and one scan of the table reads them faster."""
    return Table(name, (*SPAN_COLUMNS, *columns), ("person_id", "valid_from"))


def holding() -> str:
    """The SQL condition (two ``?``: the date, twice) of the spans that hold a date."""
    return "valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)"


def spans(
    rows: Iterable[Sequence[Any]],
    fold: Callable[[dict[str, Any], Sequence[Any]], None],
    view: Callable[[dict[str, Any]], V | None],
) -> Iterator[tuple[str, str, str | None, V]]:
    """(person_id, valid_from, valid_to, value) for each run of dates with the same value.

    ``rows`` start with (stream_id, occurred_on) and are sorted by stream, ``occurred_on`` and
    stream version; ``fold`` applies one row to a person's state (a dict, empty at first);
    ``view`` is the value of a state, None for no value.
    """
    for person_id, facts in groupby(rows, key=itemgetter(0)):
        state: dict[str, Any] = {}
        current: V | None = None
        since = day = ""
        for row in chain(facts, (None,)):  # None: after the last fact
            if day and (row is None or row[1] != day):
                seen = view(state)  # the value after every fact of ``day``
                if seen != current:
                    if current is not None:
                        yield person_id, since, day, current
                    current, since = seen, day
            if row is None:
                break
            fold(state, row)
            day = row[1]
        if current is not None:
            yield person_id, since, None, current


def refresh_spans(
    tx: Tx,
    projection: Projection,
    stream_ids: set[str],
    columns: str,
    *,
    fold: Callable[[dict[str, Any], Sequence[Any]], None],
    view: Callable[[dict[str, Any]], tuple[Any, ...] | None],
) -> None:
    """Rewrite the spans of ``stream_ids`` in the projection's (only) derived table from their
    current facts: rows (stream_id, occurred_on, ``columns``) folded by :func:`spans`; a
    value is a tuple of the table's value columns."""
    (table,) = projection.derived_tables
    facts = projection.facts_table.name
    rows = []
    for marks, chunk in tx.in_chunks(sorted(stream_ids)):
        tx.execute(f"DELETE FROM {tx.table(table.name)} WHERE person_id IN ({marks})", chunk)
        of_chunk = tx.all(
            f"SELECT stream_id, occurred_on, {columns} FROM {tx.table(facts)}"
            f" WHERE known_to IS NULL AND stream_id IN ({marks})"
            " ORDER BY stream_id, occurred_on, version",
            chunk,
        )
        rows += [
            (person, since, until, *value)
            for person, since, until, value in spans(of_chunk, fold, view)
        ]
    tx.insert(table, rows)
