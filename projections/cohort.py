"""P4 housed-cohort profile: who was housed in a municipality for the first time in a year.

The **cohort of year Y in municipality m** is the persons whose first ``Housed`` in m (earliest
``occurred_on``, a lower stream version breaking a tie) lies in Y. A second housing in m (GVA to
regular housing, a move within m) does not bring a person into a later cohort; a person housed
earlier in another municipality does count in m's cohort. Without a municipality, every
municipality's cohort is taken together and a person counts once, with their earliest such
housing in Y.

For each person of the cohort, from that first housing and from their ``PersonRegistered``:

* **age group**: ``adult`` when 18 or older on the housing date (from ``birth_date``), else
  ``child``; ``unknown`` when the registration is missing (retracted);
* **sex** (f, m, x) and **nationality**: the first nationality registered (a person with several
  counts under the first), largest groups first;
* **route** (koppeling, nareis, gva_doorstroom, eigen) and **housing kind** (regulier, gva,
  tijdelijk, onzelfstandig) of the first housing, as recorded on the ``Housed`` event.

Corrections of either event apply; retracted facts do not count. "As known at" a moment uses
only the fact revisions known then. None of these fields is personal data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from ledger import events as ev
from ledger.municipalities import name_of
from ledger.values import HousingKind, HousingRoute, Sex
from projections.base import (
    TEXT,
    Column,
    Projection,
    Views,
    catch_up,
    check_streams,
    collector_paused,
    known_at_clause,
    timestamp_text,
)
from projections.breakdown import Count, breakdown

ADULT_AGE = 18
AGE_GROUPS = ("adult", "child", "unknown")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class CohortReport:
    """The profile of one year's housed cohort."""

    year: int
    municipality: str | None
    municipality_name: str | None
    as_known_at: str | None
    persons: int
    age_group: tuple[Count, ...]  # adult, child, unknown
    sex: tuple[Count, ...]  # f, m, x (then unknown)
    nationality: tuple[Count, ...]  # largest group first
    route: tuple[Count, ...]  # HousingRoute values
    housing_kind: tuple[Count, ...]  # HousingKind values
    position: int
    rule_version: str
    digest: str | None


class CohortProjection(Projection):
    name = "cohort"
    kinds: ClassVar[Mapping[type[ev.TrajectEvent], tuple[str, ...]]] = {
        ev.PersonRegistered: ("birth_date", "sex", "nationality"),
        ev.Housed: ("route", "housing_kind"),
    }
    fact_columns = (
        Column("birth_date", TEXT),
        Column("sex", TEXT),
        Column("nationality", TEXT),
        Column("route", TEXT),
        Column("housing_kind", TEXT),
    )
    fact_indexes = (("occurred_on",), ("stream_id",))

    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        if kind == "PersonRegistered":
            nationalities = payload.get("nationality") or []
            first = str(nationalities[0]) if nationalities else None
            return (payload.get("birth_date"), payload.get("sex"), first, None, None)
        return (None, None, None, payload.get("route"), payload.get("housing_kind"))


COHORT = CohortProjection()


def age_on(birth: date, day: date) -> int:
    """Completed years of age on ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@collector_paused()
def cohort(
    views: Views,
    year: int,
    *,
    municipality: str | None = None,
    as_known_at: datetime | None = None,
) -> CohortReport:
    """The profile of the persons first housed in ``year`` (in ``municipality``, or anywhere).

    Args:
        year: the calendar year of the first housing.
        municipality: only this municipality's cohort (CBS code).
        as_known_at: count only what was recorded by this moment.

    Catches up first.
    """
    result = catch_up(views, COHORT)
    known, known_params = known_at_clause(as_known_at)
    facts = views.table(COHORT.facts_table.name)
    where_m, m_params = ("AND h.municipality = ?", [municipality]) if municipality else ("", [])
    statement = (
        "SELECT h.stream_id, h.occurred_on, h.municipality, h.route, h.housing_kind,"
        " p.birth_date, p.sex, p.nationality FROM ("
        " SELECT stream_id, occurred_on, municipality, route, housing_kind, ROW_NUMBER() OVER ("
        " PARTITION BY stream_id, municipality ORDER BY occurred_on, version) AS nth"
        f" FROM {facts} WHERE kind = 'Housed' AND occurred_on <= ? AND {known}) AS h"
        " LEFT JOIN ("
        " SELECT stream_id, birth_date, sex, nationality, ROW_NUMBER() OVER ("
        " PARTITION BY stream_id ORDER BY version DESC) AS latest"
        f" FROM {facts} WHERE kind = 'PersonRegistered' AND {known}) AS p"
        " ON p.stream_id = h.stream_id AND p.latest = 1"
        f" WHERE h.nth = 1 AND h.occurred_on >= ? {where_m}"
        " ORDER BY h.stream_id, h.occurred_on, h.municipality"
    )
    params = [f"{year}-12-31", *known_params, *known_params, f"{year}-01-01", *m_params]
    with views.transaction(commit=False) as tx:
        rows = tx.all(statement, params)
    members: dict[str, tuple[Any, ...]] = {}
    for row in rows:
        members.setdefault(str(row[0]), row)  # the earliest housing in the year per person
    tallies: dict[str, Counter[str]] = {
        name: Counter() for name in ("age", "sex", "nationality", "route", "kind")
    }
    for person, housed_on, _, route, kind, birth, sex, nationality in members.values():
        if birth is None:
            age_group = UNKNOWN
        else:
            try:
                age = age_on(date.fromisoformat(birth), date.fromisoformat(housed_on))
            except (ValueError, TypeError):
                check_streams(views, [person])  # dates taken from the stored events as they are
                raise
            age_group = "adult" if age >= ADULT_AGE else "child"
        tallies["age"][age_group] += 1
        tallies["sex"][sex or UNKNOWN] += 1
        tallies["nationality"][nationality or UNKNOWN] += 1
        tallies["route"][route or UNKNOWN] += 1
        tallies["kind"][kind or UNKNOWN] += 1
    return CohortReport(
        year=year,
        municipality=municipality,
        municipality_name=name_of(municipality) if municipality else None,
        as_known_at=timestamp_text(as_known_at) if as_known_at else None,
        persons=len(members),
        age_group=breakdown(tallies["age"], AGE_GROUPS),
        sex=breakdown(tallies["sex"], [s.value for s in Sex]),
        nationality=breakdown(tallies["nationality"], by_size=True),
        route=breakdown(tallies["route"], [r.value for r in HousingRoute]),
        housing_kind=breakdown(tallies["kind"], [k.value for k in HousingKind]),
        position=result.position,
        rule_version=COHORT.rule_version,
        digest=result.digest,
    )
