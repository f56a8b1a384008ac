"""Retention terms as dated, versioned rule parameters, and the erasure decision built on them.

A person's personal data may be erased (crypto-shredded) only when no retention basis is still
open on the day of erasure and no legal hold is open on the person or on an AMIF project the
person took part in (domain.md §5.4, §5.5). The bases are computed from the facts in the ledger
at the moment of erasure, never read from a recorded ``RetentionScheduled``, so a schedule
recorded before a case was reopened or a final payment was recorded cannot let an erasure
through.

Each basis uses the rule set in force on the day its clock starts (the case closed, the last
payment); a basis whose clock has not started uses the newest. A new legal reading is a new
rule set appended to :data:`RETENTION_RULES`, never an edit of an old one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date
from uuid import UUID

from ledger.rules import in_force
from ledger.values import Fund, RetentionBasisKind, add_months


@dataclass(frozen=True)
class RetentionRules:
    """One version of the retention terms. Field comments give the source tag of domain.md."""

    version: str
    valid_from: date
    # §5.4 trajectory file: kept 10 years after it closes (Selectielijst 2020, proces 8.1) [S]
    trajectory_file_years: int = 10
    # §3.5 CPR Art. 82: AMIF 2021–27 evidence kept 5 years from 31 Dec of the last payment [V]
    amif_2127_years: int = 5
    # §3.1 AMIF 2014–20: term follows the national HPA, unknown (open question 4) [U]; None: open
    amif_1420_years: int | None = None


RETENTION_RULES: tuple[RetentionRules, ...] = (
    RetentionRules(version="retention.2026.1", valid_from=date(2007, 1, 1)),
)
"""Every retention rule set ever in force, oldest first. Append; never edit."""


def retention_rules_on(day: date) -> RetentionRules:
    """The retention rule set in force on ``day`` (the latest not valid after it)."""
    return in_force(RETENTION_RULES, day)


def retention_parameters(ruleset: RetentionRules) -> dict[str, str]:
    """The parameters as strings, for documentation."""
    return {f.name: str(getattr(ruleset, f.name)) for f in fields(ruleset)}


@dataclass(frozen=True)
class Basis:
    """One reason to keep a person's data, and until when."""

    kind: RetentionBasisKind
    project_id: str | None
    delete_after: date | None  # the last day kept; None: open until a missing fact is recorded
    grounds: str
    rule_version: str

    @property
    def label(self) -> str:
        return f"{self.kind} {self.project_id}" if self.project_id else str(self.kind)

    def open_on(self, day: date) -> bool:
        return self.delete_after is None or day <= self.delete_after


@dataclass(frozen=True)
class Hold:
    """An open legal hold on the person, or on a project the person took part in."""

    hold_ref: str
    held: str  # "person", or "project <code>"
    placed_on: date
    reason: str


@dataclass(frozen=True)
class ProjectFacts:
    """What the retention of a project's participant evidence depends on."""

    fund: Fund | None  # None: the project is not registered
    last_payment_on: date | None  # None: no final payment recorded yet
    holds: tuple[Hold, ...] = ()


@dataclass(frozen=True)
class RetentionStatus:
    """A person's retention bases and holds as of a day, and whether erasure is allowed."""

    person_id: UUID
    on: date
    bases: tuple[Basis, ...]
    holds: tuple[Hold, ...]

    @property
    def open_bases(self) -> tuple[Basis, ...]:
        return tuple(b for b in self.bases if b.open_on(self.on))

    @property
    def delete_after(self) -> date | None:
        """The effective deletion date: the latest end over the bases still open (domain.md
        §5.4); None while one of them has no end yet, or when none is open any more."""
        ends = [b.delete_after for b in self.open_bases]
        if not ends or None in ends:
            return None
        return max(d for d in ends if d is not None)

    @property
    def erasable(self) -> bool:
        return not self.open_bases and not self.holds

    def refusals(self) -> list[str]:
        """Why erasure is refused on ``on``: every open basis with its date, every open hold."""
        reasons = []
        for basis in self.open_bases:
            until = f"until {basis.delete_after}" if basis.delete_after else "with no end date yet"
            reasons.append(
                f"retention basis {basis.label} is open {until} "
                f"({basis.grounds}; rule set {basis.rule_version})"
            )
        reasons += [
            f"legal hold {h.hold_ref} on the {h.held} is open since {h.placed_on}: {h.reason}"
            for h in self.holds
        ]
        return reasons


def trajectory_basis(closed_on: date | None, deceased_on: date | None) -> Basis:
    """The trajectory file: kept for a term after the case closes (or the person died)."""
    kind = RetentionBasisKind.TRAJECTORY_FILE
    end = closed_on or deceased_on
    if end is None:
        ruleset = RETENTION_RULES[-1]
        return Basis(kind, None, None, "the case is not closed", ruleset.version)
    ruleset = retention_rules_on(end)
    event = "case closed" if closed_on else "died"
    years = ruleset.trajectory_file_years
    return Basis(
        kind,
        None,
        add_months(end, 12 * years),
        f"{event} on {end} + {years} years",
        ruleset.version,
    )


def amif_basis(project_id: str, project: ProjectFacts) -> Basis:
    """A project's participant evidence: kept for a term from 31 December of the year of the
    last payment to the beneficiary (CPR Art. 82)."""
    kind = RetentionBasisKind.AMIF_EVIDENCE
    paid = project.last_payment_on
    ruleset = retention_rules_on(paid) if paid else RETENTION_RULES[-1]
    years = (
        {
            Fund.AMIF_2127: ruleset.amif_2127_years,
            Fund.AMIF_1420: ruleset.amif_1420_years,
        }.get(project.fund)
        if project.fund
        else None
    )
    if years is None:
        grounds = f"no retention term for {project.fund or 'an unregistered project'} is set"
        return Basis(kind, project_id, None, grounds, ruleset.version)
    if paid is None:
        grounds = "no final payment to the beneficiary is recorded (grant-payment-received --final)"
        return Basis(kind, project_id, None, grounds, ruleset.version)
    return Basis(
        kind,
        project_id,
        date(paid.year + years, 12, 31),
        f"last payment on {paid}: 31 December {paid.year} + {years} years",
        ruleset.version,
    )


def assess(
    person_id: UUID,
    on: date,
    *,
    closed_on: date | None,
    deceased_on: date | None,
    holds: tuple[Hold, ...],
    projects: Mapping[str, ProjectFacts],
) -> RetentionStatus:
    """Every retention basis of a person and every hold that covers them, as of ``on``."""
    bases = [trajectory_basis(closed_on, deceased_on)]
    bases += [amif_basis(code, projects[code]) for code in sorted(projects)]
    covering = holds + tuple(h for code in sorted(projects) for h in projects[code].holds)
    return RetentionStatus(person_id, on, tuple(bases), covering)
