"""P3 housing against the taakstelling: per municipality and half-year, target, realised, balance.

For a half-year T and a municipality m:

* ``target``: the target of the latest ``TaakstellingSet``/``TaakstellingCorrected`` of m for T
  (latest by ``occurred_on``, stream version breaking ties). Corrections (``EventCorrected``) and
  retractions of those events apply, so a corrected target or period counts as corrected, and a
  retracted one not at all. ``None`` when m has no target for T. The facts of m are those whose
  ``municipality`` is m: the ledger keeps them on m's own stream (a fact naming another
  municipality is refused there), so the stream version orders them. Only a log written before
  that rule can tie two streams on date and version; the stream id then decides, so the result
  never depends on the order a store returns rows in.
* ``realised``: distinct persons with a ``Housed`` in m whose ``occurred_on`` lies in T and whose
  stored ``counts_for_taakstelling`` flag is true. The flag is the one the rule set named in the
  event's ``rule_version`` derived when it was recorded; it is never recomputed. Corrections of
  the ``Housed`` event apply (date, municipality, or the flag itself); a retracted housing does
  not count; a flag that was never derived (``null``) does not count.
* ``balance``: ``balance_T = balance_{T-1} + realised_T - target_T``, carried over half-year by
  half-year from the first half-year for which m has a target (the opening balance before it is
  0, and ``carry_in`` of a ``TaakstellingSet`` is not used; a half-year in between without a
  target counts with target 0). Housing before that first half-year does not enter the balance.
  ``None`` for a half-year before m's first target. Above 0 is a *voorsprong* (ahead), below 0 an
  *achterstand* (behind).
* ``official_realised``: for reconciliation, the figure of the latest
  ``HousingRealisationConfirmed`` of m for T (same "latest" and corrections as the target);
  ``None`` when none was recorded. It does not enter the balance.

"As known at" a moment M uses only the fact revisions known at M (see ``outflow``). All figures
are computed in SQL from ``housing_facts``, which keeps every revision of the four kinds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from ledger import events as ev
from ledger.values import Period
from projections.base import (
    INT,
    TEXT,
    Column,
    Projection,
    Views,
    catch_up,
    collector_paused,
    known_at_clause,
    timestamp_text,
)

TARGET_KINDS = ("TaakstellingSet", "TaakstellingCorrected")
CONFIRMED = "HousingRealisationConfirmed"


@dataclass(frozen=True)
class HousingRow:
    """One municipality in one half-year."""

    period: str
    municipality: str
    target: int | None  # None: no taakstelling for this half-year
    realised: int
    balance: int | None  # None: before the municipality's first taakstelling
    official_realised: int | None = None  # HousingRealisationConfirmed, for reconciliation

    @property
    def standing(self) -> str | None:
        """``voorsprong`` (ahead), ``achterstand`` (behind), ``op schema`` or None."""
        if self.balance is None:
            return None
        if self.balance > 0:
            return "voorsprong"
        return "achterstand" if self.balance < 0 else "op schema"


@dataclass(frozen=True)
class HousingReport:
    """The figures of one half-year, with what they were computed from."""

    period: str
    as_known_at: str | None
    municipality: str | None
    rows: tuple[HousingRow, ...]
    position: int
    rule_version: str
    digest: str | None


class HousingProjection(Projection):
    name = "housing"
    kinds: ClassVar[Mapping[type[ev.TrajectEvent], tuple[str, ...]]] = {
        ev.TaakstellingSet: ("period", "target", "carry_in"),
        ev.TaakstellingCorrected: ("period", "target"),
        ev.Housed: ("counts_for_taakstelling", "rule_version", "route", "housing_kind"),
        ev.HousingRealisationConfirmed: ("period", "official_realised"),
    }
    fact_columns = (
        Column("period", TEXT),
        Column("target", INT),
        Column("counts", INT),
        Column("official", INT),
    )
    fact_indexes = (("occurred_on",), ("period",))

    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        if kind in TARGET_KINDS:
            return (str(payload["period"]), int(payload["target"]), None, None)
        if kind == CONFIRMED:
            return (str(payload["period"]), None, None, int(payload["official_realised"]))
        if kind == "Housed":
            flag = payload.get("counts_for_taakstelling")
            return (None, None, None if flag is None else int(bool(flag)), None)
        msg = f"housing does not read {kind}"
        raise ValueError(msg)


HOUSING = HousingProjection()


def _half_years(first: Period, last: Period) -> list[Period]:
    """The half-years from ``first`` to ``last``, both included (empty if first > last)."""
    periods: list[Period] = []
    current = last
    while str(current) >= str(first):
        periods.append(current)
        current = current.previous()
    return periods[::-1]


@collector_paused()
def housing(
    views: Views,
    period: Period,
    *,
    municipality: str | None = None,
    as_known_at: datetime | None = None,
) -> HousingReport:
    """Target, realised and balance of ``period`` per municipality (sorted by CBS code).

    Args:
        period: a half-year (the taakstelling is half-yearly).
        municipality: only this municipality (CBS code).
        as_known_at: count only what was recorded by this moment.

    Raises:
        ValueError: ``period`` is not a half-year.

    Municipalities appear when they have a taakstelling for any half-year up to ``period``, a
    confirmed realisation for ``period`` or a counting housing in ``period``; the one asked for
    with ``municipality`` always appears (with no target, 0 realised and no balance when it has
    none of those). Catches up first.
    """
    if period.kind != "H":
        msg = f"the taakstelling is half-yearly: give a half-year such as 2024H1, not {period}"
        raise ValueError(msg)
    result = catch_up(views, HOUSING)
    known, known_params = known_at_clause(as_known_at)
    facts = views.table(HOUSING.facts_table.name)
    where_m, m_params = ("AND municipality = ?", [municipality]) if municipality else ("", [])
    half = (
        "substr(occurred_on, 1, 4) || CASE WHEN substr(occurred_on, 6, 2) <= '06'"
        " THEN 'H1' ELSE 'H2' END"
    )
    # the latest target and the latest confirmed figure per municipality and half-year
    targets_sql = (
        "SELECT municipality, period, grp, value FROM ("
        " SELECT municipality, period, grp, value, ROW_NUMBER() OVER ("
        " PARTITION BY municipality, period, grp"
        " ORDER BY occurred_on DESC, version DESC, stream_id DESC)"
        " AS latest FROM ("
        " SELECT municipality, period, occurred_on, version, stream_id,"
        f" CASE WHEN kind = '{CONFIRMED}' THEN 'official' ELSE 'target' END AS grp,"
        f" CASE WHEN kind = '{CONFIRMED}' THEN official ELSE target END AS value"
        f" FROM {facts} WHERE kind <> 'Housed' AND period <= ? AND {known} {where_m}"
        ") AS figures) AS ranked WHERE latest = 1"
    )
    realised_sql = (
        f"SELECT municipality, {half} AS half, COUNT(DISTINCT stream_id) FROM {facts}"
        f" WHERE kind = 'Housed' AND counts = 1 AND occurred_on <= ? AND {known} {where_m}"
        f" GROUP BY municipality, {half}"
    )
    targets: dict[str, dict[str, int]] = {}
    official: dict[str, int] = {}
    realised: dict[str, dict[str, int]] = {}
    with views.transaction(commit=False) as tx:
        for m, p, grp, value in tx.all(targets_sql, [str(period), *known_params, *m_params]):
            if grp == "target":
                targets.setdefault(str(m), {})[str(p)] = int(value)
            elif str(p) == str(period):
                official[str(m)] = int(value)
        for m, p, n in tx.all(realised_sql, [period.end.isoformat(), *known_params, *m_params]):
            realised.setdefault(str(m), {})[str(p)] = int(n)
    key = str(period)
    rows = []
    shown = set(targets) | set(official) | {m for m, by in realised.items() if key in by}
    for m in [municipality] if municipality else sorted(shown):
        own_targets = targets.get(m, {})
        own_realised = realised.get(m, {})
        balance: int | None = None
        if own_targets:
            balance = 0
            for half_year in _half_years(Period.parse(min(own_targets)), period):
                name = str(half_year)
                balance += own_realised.get(name, 0) - own_targets.get(name, 0)
        rows.append(
            HousingRow(
                key,
                m,
                own_targets.get(key),
                own_realised.get(key, 0),
                balance,
                official.get(m),
            )
        )
    return HousingReport(
        period=key,
        as_known_at=timestamp_text(as_known_at) if as_known_at else None,
        municipality=municipality,
        rows=tuple(rows),
        position=result.position,
        rule_version=HOUSING.rule_version,
        digest=result.digest,
    )
