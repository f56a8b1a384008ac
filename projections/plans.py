"""P6 plan coverage and timeliness for a period.

All figures are about the **active clients at the end of the period** (P1's notion of active on
that date, optionally in one municipality), with facts as true on that date:

* **plan coverage**: how many of them have a PIP (any version adopted by the end);
* **PIP v1 timeliness** (Wi2021): of those whose PIP v1 was *due* within the period (10 weeks
  after the later of DUO's notice and the first BRP registration, ``ledger.rules``), how many
  had it adopted on or before the due date (on time), after it but by the period's end (late),
  or not at all by the end (open);
* **per cohort** (cohort = the year the Wi2021 duty started): persons, brede intake started by
  the end, median days from duty start to the intake's start, PIP v1 adopted by the end, median
  days from duty start to PIP v1. The ``total`` row covers all cohorts.

"As known at" a moment uses only the fact revisions known at that moment, in both read models.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from statistics import median

from ledger.values import Period
from projections.base import Views, catch_up, collector_paused, timestamp_text
from projections.caseload import CASELOAD, caseload
from projections.duty import INBURGERING, InburgeringStatus, combined_basis, shared_statuses


@dataclass(frozen=True)
class CohortRow:
    """Brede intake and PIP v1 for the Wi2021 clients whose duty started in one year."""

    cohort: str  # the duty's start year, or "total"
    persons: int
    intake_started: int
    median_days_to_intake: float | None
    pip_adopted: int
    median_days_to_pip: float | None


@dataclass(frozen=True)
class PlansReport:
    """P6 for one period."""

    period: str
    end: str
    as_known_at: str | None
    municipality: str | None
    active: int
    with_plan: int
    pip_due: int
    pip_on_time: int
    pip_late: int
    pip_open: int
    cohorts: tuple[CohortRow, ...]
    projections: tuple[str, ...]
    position: int
    rule_version: str
    digest: str | None

    @property
    def plan_share(self) -> float | None:
        """``with_plan / active``, or None without active clients."""
        return share(self.with_plan, self.active)


def share(part: int, whole: int) -> float | None:
    """``part / whole`` rounded to 4 decimals, or None when ``whole`` is 0."""
    return round(part / whole, 4) if whole else None


def _median_days(pairs: Iterable[tuple[date, date | None]]) -> float | None:
    days = [(later - start).days for start, later in pairs if later is not None]
    return float(median(days)) if days else None


def _cohort(name: str, people: list[InburgeringStatus]) -> CohortRow:
    return CohortRow(
        cohort=name,
        persons=len(people),
        intake_started=sum(1 for p in people if p.intake_started_on is not None),
        median_days_to_intake=_median_days(
            (p.duty_start, p.intake_started_on) for p in people if p.duty_start
        ),
        pip_adopted=sum(1 for p in people if p.pip_v1_on is not None),
        median_days_to_pip=_median_days(
            (p.duty_start, p.pip_v1_on) for p in people if p.duty_start
        ),
    )


@collector_paused()
def plans(
    views: Views,
    period: Period,
    *,
    municipality: str | None = None,
    as_known_at: datetime | None = None,
) -> PlansReport:
    """P6 plan coverage and PIP timeliness for ``period`` (see the module docstring).

    Args:
        period: a year, half-year or quarter; its last day is the reference date.
        municipality: only clients in this municipality at the period's end.
        as_known_at: only what was recorded by this moment.

    Catches up the ``caseload`` and ``inburgering`` read models first.
    """
    end = period.end
    rows = caseload(views, end, municipality=municipality, as_known_at=as_known_at)
    basis = combined_basis([catch_up(views, CASELOAD), catch_up(views, INBURGERING)])
    with views.transaction(commit=False) as tx:
        found = shared_statuses(views, tx, end, as_known_at, (row.person_id for row in rows))
    people = [found[row.person_id] for row in rows if row.person_id in found]
    due = [p for p in people if p.pip_due is not None and period.contains(p.pip_due)]
    on_time = sum(
        1 for p in due if p.pip_v1_on is not None and p.pip_due and p.pip_v1_on <= p.pip_due
    )
    opened = sum(1 for p in due if p.pip_v1_on is None)
    wi2021 = [p for p in people if p.wi2021 and p.duty_start is not None]
    years = sorted({p.duty_start.year for p in wi2021 if p.duty_start})
    cohorts = [
        _cohort(str(y), [p for p in wi2021 if p.duty_start and p.duty_start.year == y])
        for y in years
    ]
    cohorts.append(_cohort("total", wi2021))
    return PlansReport(
        period=str(period),
        end=end.isoformat(),
        as_known_at=timestamp_text(as_known_at) if as_known_at else None,
        municipality=municipality,
        active=len(rows),
        with_plan=sum(1 for p in people if p.pip_version > 0),
        pip_due=len(due),
        pip_on_time=on_time,
        pip_late=len(due) - on_time - opened,
        pip_open=opened,
        cohorts=tuple(cohorts),
        projections=basis.projections,
        position=basis.position,
        rule_version=CASELOAD.rule_version,
        digest=basis.digest,
    )
