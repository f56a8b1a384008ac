"""P9 family reunification (nareis): files, closures, arrivals and late applications per period.

A **file** is a referent's reunification file: the referent's stream and its ``file_no``. It is
**opened** on the earliest ``FamilyReunificationApplied`` of the file and belongs to that
application's municipality; it is **closed** on a ``FamilyReunificationClosed``. For a period T:

* ``open_at_start``: files opened before T and not closed before T;
* ``new_files``: files opened in T; ``handled`` = ``open_at_start`` + ``new_files``;
* ``closed``: files with a closure in T, per closure (herenigd, afgewezen, ingetrokken);
  ``closed_successfully`` is the herenigd count; ``families_reunited`` counts the distinct
  referents (households) with a herenigd closure in T;
* ``open_at_end``: files opened by the end of T and not closed by then;
* ``applications``: ``FamilyReunificationApplied`` events in T; ``late_applications``: those
  whose stored ``late`` flag is true: filed after the nareis window (rule parameter
  ``nareis_window_months`` from the permit's notification date), as derived by the rule set
  named on the event when it was recorded, never recomputed; ``late_unknown``: those without a
  flag (no permit notification date was known);
* ``decisions``: IND decisions (``FamilyReunificationDecided``) in T per outcome;
* ``nareizigers_arrived``: ``NareizigerArrived`` events in T (one per family member).

``municipality`` keeps the files of that municipality (for arrivals, applications and decisions:
the file's municipality, or the fact's own when the file has no application). Corrections apply,
retractions remove; "as known at" uses the revisions known then.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from ledger import events as ev
from ledger.municipalities import name_of
from ledger.values import Period, ReunificationClosure, ReunificationOutcome
from projections.base import (
    INT,
    TEXT,
    Column,
    Projection,
    Views,
    catch_up,
    collector_paused,
    timestamp_text,
)
from projections.breakdown import Count, breakdown, current_facts

APPLIED = "FamilyReunificationApplied"
DECIDED = "FamilyReunificationDecided"
ARRIVED = "NareizigerArrived"
CLOSED = "FamilyReunificationClosed"
SUCCESS = ReunificationClosure.HERENIGD.value


@dataclass(frozen=True)
class ReunificationReport:
    period: str
    municipality: str | None
    municipality_name: str | None
    as_known_at: str | None
    open_at_start: int
    new_files: int
    handled: int
    closed: tuple[Count, ...]  # files closed in the period, per closure
    closed_successfully: int
    families_reunited: int
    open_at_end: int
    applications: int
    late_applications: int
    late_unknown: int
    decisions: tuple[Count, ...]  # per outcome
    nareizigers_arrived: int
    position: int
    rule_version: str
    digest: str | None


class ReunificationProjection(Projection):
    name = "reunification"
    kinds: ClassVar[Mapping[type[ev.TrajectEvent], tuple[str, ...]]] = {
        ev.FamilyReunificationApplied: ("file_no", "members", "late", "rule_version"),
        ev.FamilyReunificationDecided: ("file_no", "outcome", "members_granted"),
        ev.NareizigerArrived: ("file_no", "relation"),
        ev.FamilyReunificationClosed: ("file_no", "closure"),
    }
    fact_columns = (
        Column("file_no", INT, nullable=False),
        Column("late", INT),
        Column("detail", TEXT),
    )
    fact_indexes = (("occurred_on",),)

    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        file_no = int(payload.get("file_no") or 1)
        if kind == APPLIED:
            late = payload.get("late")
            return (file_no, None if late is None else int(bool(late)), None)
        detail = {DECIDED: "outcome", ARRIVED: "relation", CLOSED: "closure"}[kind]
        return (file_no, None, payload.get(detail))


REUNIFICATION = ReunificationProjection()


@dataclass
class _File:
    opened_on: str | None = None
    municipality: str | None = None
    closures: list[tuple[str, str]] = field(default_factory=list)  # (closed on, closure)

    def open_on(self, day: str, *, inclusive: bool) -> bool:
        """Opened and not closed before ``day`` (or on it, when ``inclusive``)."""
        if self.opened_on is None or not (
            self.opened_on <= day if inclusive else self.opened_on < day
        ):
            return False
        return not any((on <= day if inclusive else on < day) for on, _ in self.closures)


@collector_paused()
def reunification(
    views: Views,
    period: Period,
    *,
    municipality: str | None = None,
    as_known_at: datetime | None = None,
) -> ReunificationReport:
    """The family-reunification figures of ``period``.

    Args:
        period: a year, half-year or quarter (``occurred_on`` dates).
        municipality: only files of this municipality (CBS code).
        as_known_at: count only what was recorded by this moment.

    Catches up first.
    """
    result = catch_up(views, REUNIFICATION)
    start, end = period.start.isoformat(), period.end.isoformat()
    with views.transaction(commit=False) as tx:
        rows = current_facts(
            tx,
            REUNIFICATION,
            "stream_id, version, kind, occurred_on, municipality, file_no, late, detail",
            "occurred_on <= ?",
            [end],
            as_known_at=as_known_at,
        )
    rows.sort(key=lambda r: (str(r[0]), int(r[5]), str(r[3]), int(r[1])))
    files: dict[tuple[str, int], _File] = {}
    for stream, _, kind, on, where, file_no, _, detail in rows:
        file = files.setdefault((str(stream), int(file_no)), _File())
        if kind == APPLIED and file.opened_on is None:
            file.opened_on, file.municipality = on, where  # rows are in date order per file
        elif kind == CLOSED:
            file.closures.append((on, str(detail)))

    def ours(key: tuple[str, int], where: str) -> bool:
        return municipality in (None, files[key].municipality or where)

    closed: Counter[str] = Counter()
    decisions: Counter[str] = Counter()
    reunited: set[str] = set()
    applications = late = late_unknown = arrived = 0
    for stream, _, kind, on, where, file_no, late_flag, detail in rows:
        key = (str(stream), int(file_no))
        if on < start or not ours(key, where):
            continue
        if kind == APPLIED:
            applications += 1
            late += late_flag == 1
            late_unknown += late_flag is None
        elif kind == DECIDED:
            decisions[str(detail)] += 1
        elif kind == ARRIVED:
            arrived += 1
        else:
            closed[str(detail)] += 1
            if detail == SUCCESS:
                reunited.add(key[0])
    mine = [f for f in files.values() if municipality in (None, f.municipality)]
    open_at_start = sum(f.open_on(start, inclusive=False) for f in mine)
    new_files = sum(f.opened_on is not None and f.opened_on >= start for f in mine)
    return ReunificationReport(
        period=str(period),
        municipality=municipality,
        municipality_name=name_of(municipality) if municipality else None,
        as_known_at=timestamp_text(as_known_at) if as_known_at else None,
        open_at_start=open_at_start,
        new_files=new_files,
        handled=open_at_start + new_files,
        closed=breakdown(closed, [c.value for c in ReunificationClosure]),
        closed_successfully=closed[SUCCESS],
        families_reunited=len(reunited),
        open_at_end=sum(f.open_on(end, inclusive=True) for f in mine),
        applications=applications,
        late_applications=late,
        late_unknown=late_unknown,
        decisions=breakdown(decisions, [o.value for o in ReunificationOutcome]),
        nareizigers_arrived=arrived,
        position=result.position,
        rule_version=REUNIFICATION.rule_version,
        digest=result.digest,
    )
