"""When a move out is over: the one rule P1 (caseload), P2 (outflow) and P5 (ladder) share.

A ``MovedOut`` ends the person's case in the municipality moved out of (domain reference §6.2:
terminal for *this* municipality's caseload). A later fact that places the person in a
municipality -- a koppeling, a housing or a BRP registration, dated after the move (on the same
day: later in the stream) -- ends the move: the person is a client again, of that fact's
municipality, as a ``CaseReopened`` would make them. A ``CaseClosed`` is not ended so: closing a
case is a decision that only a reopening undoes.
"""

from __future__ import annotations

MOVED_OUT = "MovedOut"
PLACING: frozenset[str] = frozenset({"PersonRegistered", "CoaLinked", "Housed", "BrpRegistered"})
"""The kinds of fact that place a person in a municipality (P1's ``municipality``)."""

Mark = tuple[str, int]
"""A fact's ``occurred_on`` and stream version: its place in the person's history."""


def move_ended(move: Mark, placed: Mark | None) -> bool:
    """Whether the move at ``move`` is over: ``placed``, the person's latest placing fact, came
    after it."""
    return placed is not None and placed > move


Placed = tuple[str, int, str]
"""A placing fact kept as (``occurred_on``, version, municipality)."""


def lives_in(since: Mark, placed: Placed | None, where: str) -> str:
    """Where a person counts after their fact at ``since`` in ``where``: in the municipality of
    their latest placing fact ``placed`` if that came later (they moved since), else there."""
    return placed[2] if placed is not None and placed[:2] > since else where


def mark(found: Placed | None) -> Mark | None:
    """The mark of a fact kept as (``occurred_on``, version, municipality), or None."""
    return None if found is None else (found[0], found[1])


def arrivals_of(table: str, kinds: tuple[str, ...]) -> str:
    """An SQL condition on the rows of the fact table ``table``: every fact but a placing one,
    and a placing fact only of a person with a fact of one of ``kinds`` (any revision, any
    date), whom it can concern.

    A scan of the facts known at a moment reads a person's placing facts only to tell whether
    their move is over, or where they live after a fact of theirs (a start of outflow, an
    assessment); for anyone else they add nothing, and they are most of the rows.
    """
    placing = ", ".join(f"'{kind}'" for kind in sorted(PLACING))
    anchors = ", ".join(f"'{kind}'" for kind in kinds)
    return (
        f"(kind NOT IN ({placing}) OR stream_id IN"
        f" (SELECT stream_id FROM {table} WHERE kind IN ({anchors})))"
    )
