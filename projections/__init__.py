"""Read models kept current from the notification log, and the engine that keeps them.

The queries live beside their read model: ``projections.caseload.caseload`` and
``projections.outflow.outflow``.
"""

from __future__ import annotations

from projections.base import (
    Progress,
    Projection,
    ProjectionOutdatedError,
    ProjectionStatus,
    RebuildSupersededError,
    RunResult,
    UnknownProjectionError,
    Views,
    catch_up,
    digest,
    rebuild,
    status,
)
from projections.caseload import CASELOAD, CaseloadRow
from projections.outflow import OUTFLOW, OutflowReport, OutflowRow

PROJECTIONS: dict[str, Projection] = {p.name: p for p in (CASELOAD, OUTFLOW)}
"""Every read model, by name."""


def projection_named(name: str) -> Projection:
    """The read model called ``name``.

    Raises:
        UnknownProjectionError: there is none.
    """
    try:
        return PROJECTIONS[name]
    except KeyError:
        raise UnknownProjectionError(name, sorted(PROJECTIONS)) from None


__all__ = [
    "CASELOAD",
    "OUTFLOW",
    "PROJECTIONS",
    "CaseloadRow",
    "OutflowReport",
    "OutflowRow",
    "Progress",
    "Projection",
    "ProjectionOutdatedError",
    "ProjectionStatus",
    "RebuildSupersededError",
    "RunResult",
    "UnknownProjectionError",
    "Views",
    "catch_up",
    "digest",
    "projection_named",
    "rebuild",
    "status",
]
