"""Dated, versioned rule parameters and the deadline functions built on them.

Every [S]/[U] fact of the domain reference that drives a check or a count lives here as a field
of a :class:`RuleSet`. A rule set has a ``version`` and a ``valid_from`` date; the set in force on
a date is the latest whose ``valid_from`` is on or before it. A new legal reading is a new rule set
appended to :data:`RULESETS`, never an edit of an old one, so that old figures stay reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Protocol, TypeVar

from ledger.values import OntzorgenItem, Regime, add_months


@dataclass(frozen=True)
class RuleSet:
    """One version of every rule parameter. Field comments give the source tag of domain.md."""

    version: str
    valid_from: date
    # §2.2 regime boundaries [V]
    wi2013_from: date = date(2013, 1, 1)
    wi2021_from: date = date(2022, 1, 1)
    ona_required_from: date = date(2015, 1, 1)  # [S]
    pvt_required_from: date = date(2017, 10, 1)  # [S]
    # §2.3 F.13 PIP v1 due within 10 weeks of the later of DUO notice / BRP registration [S]
    pip_due_weeks: int = 10
    # §2.3 F.14 inburgeringstermijn: 3 years from the day after the dagtekening of PIP v1 [S]
    term_years: int = 3
    # §2.4 PVT deadline under Wi2013: 1 year after first housing / registration [S; practice]
    pvt_wi2013_months: int = 12
    # §2.4 late recording flag: recorded_at − occurred_on above this many days [U]
    late_recording_days: int = 30
    # §2.3 H.29 nareiscriterium: application within 3 months of the permit notice [V]
    nareis_window_months: int = 3
    # §2.3 F.15 afschalen needs at least 600 NT2 hours [S]
    afschalen_min_nt2_hours: int = 600
    # §2.3 F.16 a Wi2021 PVT takes at least 12 hours (Besluit inburgering 2021 art. 3.1) [S]
    pvt_min_hours_wi2021: int = 12
    # §2.3 H.31 mvv validity [V]
    mvv_valid_days: int = 90
    # §2.3 B.4 / C.6: whether nareizigers and GVA placements count for the taakstelling [U]
    taakstelling_counts_nareizigers: bool = True
    taakstelling_counts_gva: bool = True
    # §4.2 P1 deadline signals [practice]
    ladder_stale_months: int = 6
    term_warning_months: int = 6
    # §4.2 P1 deadline signals, continued [practice: policy choices of the municipality]
    pip_warning_weeks: int = 2  # signal PIP v1 from this many weeks before it is due
    pvt_warning_months: int = 3  # signal a PVT not signed this long before its deadline
    late_recording_window_months: int = 3  # late recordings of facts this recent are signals


RULESETS: tuple[RuleSet, ...] = (RuleSet(version="2026.1", valid_from=date(2007, 1, 1)),)
"""Every rule set ever in force, oldest first. Append; never edit."""


@dataclass(frozen=True)
class OntzorgenRules:
    """One version of the ontzorgen parameters (domain.md §2 E.9). A rule set of its own, so
    that a change to ontzorgen never changes the version other derived facts record."""

    version: str
    valid_from: date
    # §2 E.9 ontzorgen (Pw art. 56a): mandatory for 6 months from the start [V SCHULINCK]
    planned_months: int = 6
    # §2 E.9 the fixed costs paid from the benefit; one not paid is recorded with a warning
    required_items: tuple[OntzorgenItem, ...] = (
        OntzorgenItem.HUUR,
        OntzorgenItem.ENERGIE,
        OntzorgenItem.WATER,
        OntzorgenItem.ZORGVERZEKERING,
    )


ONTZORGEN_RULES: tuple[OntzorgenRules, ...] = (
    OntzorgenRules(version="ontzorgen.2022.1", valid_from=date(2022, 1, 1)),
    # April 2023: maatwerk ahead of a law amendment; the municipality no longer has to pay the
    # fixed costs itself, the duty to ontzorgen remains [V GEMNU-2023]. The day in April is not
    # known [U]: the first of the month is assumed.
    OntzorgenRules(version="ontzorgen.2023.1", valid_from=date(2023, 4, 1), required_items=()),
)
"""Every ontzorgen rule set ever in force, oldest first. Append; never edit."""


@dataclass(frozen=True)
class ObjectionRules:
    """One version of the parameters for a bezwaar (objection) against a PIP decision. A rule
    set of its own, so that it never changes the version other derived facts record."""

    version: str
    valid_from: date
    # Awb art. 7:10(1): an objection is decided within 6 weeks (counted here from its filing) [U]
    decision_weeks: int = 6  # a decision dated later is recorded with a warning
    # Awb art. 7:10(3): the decision may be postponed once, by at most 6 weeks [U]
    extension_weeks: int = 6


OBJECTION_RULES: tuple[ObjectionRules, ...] = (
    ObjectionRules(version="bezwaar.2022.1", valid_from=date(2022, 1, 1)),
)
"""Every objection rule set ever in force, oldest first. Append; never edit."""


@dataclass(frozen=True)
class LoanReclaimRules:
    """One version of how a Wi2013 DUO loan reclaim of an asielstatushouder is judged (domain.md
    §2.3 F.22). The set in force on a report's date applies; a reclaim dated on or after
    ``flag_reclaims_from`` is flagged (None: none is)."""

    version: str
    valid_from: date
    # §2.3 F.22 loan recovery for asielstatushouders breaches EU law [V RO-2025-07, RO-2026-02]
    flag_reclaims_from: date | None = None


LOAN_RECLAIM_RULES: tuple[LoanReclaimRules, ...] = (
    LoanReclaimRules(version="lening.2013.1", valid_from=date(2013, 1, 1)),
    # RvS 9-7-2025: recovering the loan of an asielstatushouder breaches EU law: a reclaim dated
    # on or after the ruling is flagged
    LoanReclaimRules(
        version="lening.2025.1", valid_from=date(2025, 7, 9), flag_reclaims_from=date(2025, 7, 9)
    ),
    # RvS 18-2-2026: the rulings also affect decisions that were already final: from then every
    # reclaim of an asielstatushouder is flagged, whatever its date
    LoanReclaimRules(
        version="lening.2026.1", valid_from=date(2026, 2, 18), flag_reclaims_from=date(2013, 1, 1)
    ),
)
"""Every loan-reclaim rule set ever in force, oldest first. Append; never edit."""


class Dated(Protocol):
    @property
    def valid_from(self) -> date: ...


D = TypeVar("D", bound=Dated)


def in_force(sets: Sequence[D], day: date) -> D:
    """The set of ``sets`` (oldest first) in force on ``day``: the latest whose ``valid_from``
    is not after it, or the oldest."""
    chosen = sets[0]
    for item in sets:
        if item.valid_from <= day:
            chosen = item
    return chosen


def rules_on(day: date) -> RuleSet:
    """The rule set in force on ``day`` (the latest whose ``valid_from`` is not after it)."""
    return in_force(RULESETS, day)


def current_rules() -> RuleSet:
    return RULESETS[-1]


def rule_parameters(
    ruleset: RuleSet | OntzorgenRules | ObjectionRules | LoanReclaimRules,
) -> dict[str, str]:
    """The parameters as strings, for documentation and for storing beside a projection (a
    list of values comma-separated, ``none`` when empty)."""
    return {f.name: _parameter_text(getattr(ruleset, f.name)) for f in fields(ruleset)}


def _parameter_text(value: object) -> str:
    if isinstance(value, tuple):
        return ", ".join(str(item) for item in value) or "none"
    return str(value)


def ontzorgen_rules_on(day: date) -> OntzorgenRules:
    """The ontzorgen rule set in force on ``day`` (an ontzorgen's start)."""
    return in_force(ONTZORGEN_RULES, day)


def ontzorgen_planned_end(start: date) -> date:
    """Ontzorgen started on ``start`` ends, as planned, this many months later (6)."""
    return add_months(start, ontzorgen_rules_on(start).planned_months)


def objection_rules_on(day: date) -> ObjectionRules:
    """The objection rule set in force on ``day`` (an objection's filing)."""
    return in_force(OBJECTION_RULES, day)


def objection_decision_due(filed_on: date) -> date:
    """An objection filed on ``filed_on`` is to be decided by this day (6 weeks later)."""
    return filed_on + timedelta(weeks=objection_rules_on(filed_on).decision_weeks)


def objection_decision_latest(filed_on: date) -> date:
    """The decision term of an objection filed on ``filed_on`` with its one extension."""
    ruleset = objection_rules_on(filed_on)
    return filed_on + timedelta(weeks=ruleset.decision_weeks + ruleset.extension_weeks)


def loan_reclaim_rules_on(day: date) -> LoanReclaimRules:
    """The loan-reclaim rule set in force on ``day`` (a report's date)."""
    return in_force(LOAN_RECLAIM_RULES, day)


def reclaim_flagged(reclaimed_on: date, on: date) -> bool:
    """Whether a DUO loan reclaim of an asielstatushouder dated ``reclaimed_on`` is flagged on
    ``on``, by the loan-reclaim rule set in force on ``on``."""
    since = loan_reclaim_rules_on(on).flag_reclaims_from
    return since is not None and since <= reclaimed_on <= on


def derive_regime(duty_start: date) -> Regime:
    """``wi2021`` from 2022-01-01, ``wi2013`` from 2013-01-01, else ``wi2007``."""
    rules = rules_on(duty_start)
    if duty_start >= rules.wi2021_from:
        return Regime.WI2021
    if duty_start >= rules.wi2013_from:
        return Regime.WI2013
    return Regime.WI2007


def ona_required(duty_start: date) -> bool:
    return derive_regime(duty_start) is Regime.WI2013 and (
        duty_start >= rules_on(duty_start).ona_required_from
    )


def pvt_required(duty_start: date) -> bool:
    regime = derive_regime(duty_start)
    if regime is Regime.WI2021:
        return True
    return regime is Regime.WI2013 and duty_start >= rules_on(duty_start).pvt_required_from


def pip_due_date(notified_on: date | None, brp_registered_on: date | None) -> date | None:
    """PIP v1 is due 10 weeks after the later of the DUO notice and the BRP registration."""
    known = [d for d in (notified_on, brp_registered_on) if d is not None]
    if not known:
        return None
    start = max(known)
    return start + timedelta(weeks=rules_on(start).pip_due_weeks)


def term_start(pip_v1_dagtekening: date) -> date:
    """The inburgeringstermijn starts the day after the dagtekening of the first PIP."""
    return pip_v1_dagtekening + timedelta(days=1)


def term_end(pip_v1_dagtekening: date) -> date:
    start = term_start(pip_v1_dagtekening)
    return add_months(start, 12 * rules_on(start).term_years)


def pvt_deadline_wi2013(first_settled_on: date) -> date:
    return add_months(first_settled_on, rules_on(first_settled_on).pvt_wi2013_months)


def nareis_deadline(permit_notified_on: date) -> date:
    return add_months(permit_notified_on, rules_on(permit_notified_on).nareis_window_months)


def is_late_recording(occurred_on: date, recorded_on: date) -> bool:
    return (recorded_on - occurred_on).days > rules_on(occurred_on).late_recording_days


def shortest_late_recording_days() -> int:
    """The smallest ``late_recording_days`` of any rule set: no fact recorded within it is
    late, whatever its date (a bound for narrowing a search before the exact check)."""
    return min(ruleset.late_recording_days for ruleset in RULESETS)
