"""Read models kept current from the notification log, and the engine that keeps them.

The queries live beside their read model: ``projections.caseload.caseload``,
``projections.outflow.outflow``, ``projections.housing.housing`` and
``projections.ladder.ladder``.
"""

from __future__ import annotations

from projections.amif import AMIF, AmifReport
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
    rebuild_many,
    status,
    statuses,
)
from projections.candidates import CANDIDATES
from projections.caseload import CASELOAD, CaseloadRow
from projections.cohort import COHORT
from projections.duty import INBURGERING
from projections.guidance import GUIDANCE
from projections.helprequests import HELP_REQUESTS
from projections.housing import HOUSING, HousingReport, HousingRow
from projections.ladder import LADDER, LadderReport
from projections.outflow import OUTFLOW, OutflowReport, OutflowRow
from projections.pvt import PVT
from projections.reunification import REUNIFICATION

PROJECTIONS: dict[str, Projection] = {p.name: p for p in (CASELOAD, OUTFLOW, HOUSING, LADDER, AMIF)}
"""Every read model, by name."""
PROJECTIONS |= {p.name: p for p in (INBURGERING, CANDIDATES)}
PROJECTIONS |= {p.name: p for p in (COHORT, GUIDANCE, REUNIFICATION, HELP_REQUESTS, PVT)}


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
    "AMIF",
    "CANDIDATES",
    "CASELOAD",
    "HOUSING",
    "INBURGERING",
    "LADDER",
    "OUTFLOW",
    "PROJECTIONS",
    "AmifReport",
    "CaseloadRow",
    "HousingReport",
    "HousingRow",
    "LadderReport",
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
    "rebuild_many",
    "status",
    "statuses",
]
