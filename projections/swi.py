"""P14 SWI quarterly extract: the variables of the SWI variable set in force, for one quarter.

The variable set (``ledger/swi_rules.py``) in force on the quarter's last day names, for each
variable, one figure of the Kwartaaldashboard (P15) of the same quarter, municipality and "as
known at" moment: the extract takes the values from :func:`projections.dashboard.dashboard`
and counts nothing itself. The extract carries the variable set's version, the delivery due
date (the quarter's last day plus the set's ``due_weeks``) and the SHA-256 of its canonical JSON
(:func:`ledger.seals.canonical_digest`, the digest ``traject audit replay`` uses) over
:attr:`SwiExtract.payload`, so a delivered file can be identified later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.seals import canonical_digest
from ledger.swi_rules import SwiVariableSet, swi_set_on
from ledger.values import Period
from projections.base import Views, collector_paused
from projections.dashboard import DashboardReport, Value, dashboard


@dataclass(frozen=True)
class SwiValue:
    """One variable and its value."""

    variable: str
    value: Value


@dataclass(frozen=True)
class SwiExtract:
    """P14 for one quarter."""

    quarter: str
    municipality: str | None
    municipality_name: str | None
    as_known_at: str | None
    rule_set: str
    due_on: str
    values: tuple[SwiValue, ...]
    projections: tuple[str, ...]
    position: int
    rule_version: str
    digest: str | None

    @property
    def payload(self) -> dict[str, Any]:
        """The canonical extract: everything of the JSON output but its ``sha256`` and
        ``basis``."""
        return {
            "quarter": self.quarter,
            "municipality": self.municipality,
            "municipality_name": self.municipality_name,
            "as_known_at": self.as_known_at,
            "rule_set": self.rule_set,
            "due_on": self.due_on,
            "variables": [{"variable": v.variable, "value": v.value} for v in self.values],
        }

    @property
    def sha256(self) -> str:
        """SHA-256 (hex) of :attr:`payload` as canonical JSON."""
        return canonical_digest(self.payload)


def select(rules: SwiVariableSet, report: DashboardReport) -> tuple[SwiValue, ...]:
    """The value of each variable of ``rules``, from the dashboard figure it names.

    Raises:
        KeyError: a variable names a figure the dashboard does not have.
    """
    return tuple(
        SwiValue(v.name, report.value(v.section, v.figure, v.breakdown)) for v in rules.variables
    )


@collector_paused()
def swi_extract(
    views: Views,
    quarter: Period,
    *,
    municipality: str | None = None,
    as_known_at: datetime | None = None,
) -> SwiExtract:
    """P14: the SWI extract of ``quarter`` (see the module docstring).

    Args:
        quarter: a quarter (``Period`` of kind ``"Q"``).
        municipality: only this municipality (CBS code).
        as_known_at: only what was recorded by this moment.

    Raises:
        ValueError: ``quarter`` is not a quarter.

    Catches up every read model the dashboard reads first.
    """
    report = dashboard(views, quarter, municipality=municipality, as_known_at=as_known_at)
    rules = swi_set_on(quarter.end)
    return SwiExtract(
        quarter=report.quarter,
        municipality=report.municipality,
        municipality_name=report.municipality_name,
        as_known_at=report.as_known_at,
        rule_set=rules.version,
        due_on=rules.due_on(quarter.end).isoformat(),
        values=select(rules, report),
        projections=report.projections,
        position=report.position,
        rule_version=report.rule_version,
        digest=report.digest,
    )
