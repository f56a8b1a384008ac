"""The changes of each read model's definition, by version: what a seal's restatement names
when a report counted by an earlier version no longer gives its sealed figures
(docs/projections.md, "Read model versions"; docs/reports.md, "report restate").

A read model's ``version`` (``projections.base.Projection.version``) goes up when the meaning of
its rows changes, with or without a change of rule set: every version above 1 is listed here
once, with the day it was released and what it changed. ``figures`` says whether the read
model's figures changed; a change of storage alone (a span table that answers faster, tested
to give the same figures) is listed too, since a stored copy of the older version must be
rebuilt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class DefinitionChange:
    """Version ``version`` of read model ``read_model``, released on ``on``."""

    read_model: str
    version: int
    on: date
    figures: bool  # the read model's figures changed (not its storage only)
    description: str


DEFINITION_CHANGES: tuple[DefinitionChange, ...] = (
    DefinitionChange(
        "amif",
        2,
        date(2026, 12, 7),
        True,
        "the '… of which' sub-indicators O.2.3.1-3 (and SO2 (b)(ii)'s breakdown) count of the "
        "participants O.2.3 counts, so never above it: indicator sets AMIF_2127.2026.2 and "
        "AMIF_1420.2026.2; a participant enrolled in an earlier period and served in this one "
        "no longer adds to this period's sub-indicator",
    ),
    DefinitionChange(
        "caseload",
        2,
        date(2026, 11, 23),
        False,
        "caseload_history keeps the active spans of every person's status (same figures)",
    ),
    DefinitionChange(
        "caseload",
        3,
        date(2026, 12, 7),
        True,
        "a member of staff is one user name in any capitals: an assignment to R.Jansen is "
        "closed by a hand-over by r.jansen, and both count as r.jansen",
    ),
    DefinitionChange(
        "caseload",
        4,
        date(2026, 12, 7),
        True,
        "a move out is over once a later fact places the person in a municipality (koppeling, "
        "housing, BRP registration): they are on that municipality's caseload, without the "
        "staff they had before the move",
    ),
    DefinitionChange(
        "candidates",
        2,
        date(2026, 11, 23),
        False,
        "candidates_spans keeps each person's profile over the dates (same figures)",
    ),
    DefinitionChange(
        "inburgering",
        2,
        date(2026, 11, 23),
        False,
        "inburgering_status keeps each person's status over runs of dates (same figures)",
    ),
    DefinitionChange(
        "inburgering",
        3,
        date(2026, 12, 7),
        True,
        "reads the objections against the PIP, the Z-route eindgesprek, ontzorgen, DUO loan "
        "reclaims and asylum permits: P7's new figures and P1's objection_overdue and "
        "ontzorgen_overdue signals (the figures of version 2 are unchanged)",
    ),
    DefinitionChange(
        "ladder",
        2,
        date(2026, 11, 23),
        True,
        "the distribution counts the clients active on the date, as the caseload does; "
        "assessed persons not active are counted apart (inactive_assessed)",
    ),
    DefinitionChange(
        "ladder",
        3,
        date(2026, 11, 23),
        False,
        "ladder_spans keeps each person's rung, municipality and activity over the dates "
        "(same figures)",
    ),
    DefinitionChange(
        "ladder",
        4,
        date(2026, 12, 7),
        True,
        "a move out is over once a later fact places the person in a municipality, and a "
        "person counts in the municipality of such a fact dated after their latest assessment",
    ),
    DefinitionChange(
        "outflow",
        2,
        date(2026, 11, 23),
        True,
        "persons who moved away in the period are counted apart (moved_out); the outflow "
        "figures are unchanged",
    ),
    DefinitionChange(
        "outflow",
        3,
        date(2026, 12, 7),
        False,
        "outflow_spans keeps the types each person is in over the dates (same figures)",
    ),
    DefinitionChange(
        "outflow",
        4,
        date(2026, 12, 7),
        True,
        "persons who died or moved away are no longer in outflow at the end of later periods",
    ),
    DefinitionChange(
        "outflow",
        5,
        date(2026, 12, 7),
        True,
        "a case reopened after a death no longer brings the person back into outflow at the "
        "end of later periods (the current report now counts as the as-known-at one did)",
    ),
    DefinitionChange(
        "outflow",
        6,
        date(2026, 12, 7),
        True,
        "a person who moved and was placed in a municipality again (koppeling, housing, BRP "
        "registration) is in the stock again, counted in the municipality they were placed in",
    ),
)
"""Every read-model version above 1, oldest first per read model."""


def changes_between(
    sealed: Mapping[str, int], now: Mapping[str, int]
) -> tuple[DefinitionChange, ...]:
    """The changes of each read model in ``sealed`` from its sealed version to its version
    ``now`` (a read model sealed at a version newer than now, by a later traject, names none)."""
    return tuple(
        change
        for change in DEFINITION_CHANGES
        if change.read_model in sealed
        and sealed[change.read_model] < change.version <= now.get(change.read_model, 0)
    )


def changes_since(read_models: Iterable[str], day: date) -> tuple[DefinitionChange, ...]:
    """The changes of the figures of ``read_models`` released on or after ``day``: the
    possible causes of a difference for a seal that did not record its read models' versions
    (a change released on the seal's own day may have come after it)."""
    names = set(read_models)
    return tuple(
        change
        for change in DEFINITION_CHANGES
        if change.read_model in names and change.figures and change.on >= day
    )
