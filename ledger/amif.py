"""AMIF figures (P12 indicators, P13 cost per participant) as a pure function of project facts.

Both the read model (``projections.amif``) and the offline check of an evidence pack
(``ledger.evidence``) count with :func:`compute`, so an auditor's recount from the proven facts
of a pack is the same code path as the report. A :class:`Fact` is one event as it counts: its
fields after every correction known at the cut, with the references (``stream_id:version``) of
the stored events it was built from (the original and each correction applied).

Counting rules are defined in words in ``ledger.amif_rules.COUNTING_RULES`` and docs/reports.md
(P12, P13). In short: a person counts once per indicator, only while enrolled in the project (a
retracted enrolment drops the person from every figure); the *period* value counts qualifying
facts whose ``occurred_on`` lies in the period, the *cumulative* value those on or before its last
day; per municipality means the municipality of the enrolment.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ledger.amif_rules import COST_METHOD, SERVICE_RULES, IndicatorSet
from ledger.values import Cefr, Period, ServiceCategory

CENT = Decimal("0.01")
CEFR_ORDER: tuple[str, ...] = tuple(level.value for level in Cefr)
CATEGORIES: tuple[str, ...] = tuple(c.value for c in ServiceCategory)
UNALLOCATED = "unallocated"
TOTAL = "total"

FACT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "ProjectRegistered": (
        "project_code",
        "title",
        "fund",
        "beneficiary",
        "beneficiary_kind",
        "grant_ref",
        "eligibility_from",
        "eligibility_to",
        "target_total",
        "targets_by_municipality",
        "partner_municipalities",
    ),
    "ParticipantEnrolled": (
        "project_id",
        "tcn",
        "permit_kind",
        "permit_valid",
        "checked_on",
        "checked_by",
        "eligibility_evidence_ref",
        "consent_ref",
    ),
    "ServiceDelivered": ("project_id", "category", "hours", "until", "activity_type"),
    "ParticipantFeedbackRecorded": ("project_id", "helpful"),
    "ParticipantExited": ("project_id", "reason", "completed"),
    "LanguageLevelAssessed": ("project_id", "skill", "cefr", "context"),
    "FamilyReunificationAssistanceProvided": ("project_id",),
    "QualificationRecognitionApplied": ("project_id",),
    "LongTermResidenceApplied": ("project_id",),
    "StaffTimeRecorded": ("staff_id", "hours", "activity", "person_id"),
    "CostRecorded": ("amount", "category", "period", "doc_ref"),
    "ExpenditureDeclared": ("declaration_ref", "period", "amount"),
    "ManagementVerificationRecorded": ("by", "scope", "outcome", "findings_ref"),
}
"""The fields each kind of fact keeps (in the read model and in an evidence pack)."""

PERSON_KINDS = frozenset(
    {
        "ParticipantEnrolled",
        "ServiceDelivered",
        "ParticipantFeedbackRecorded",
        "ParticipantExited",
        "LanguageLevelAssessed",
        "FamilyReunificationAssistanceProvided",
        "QualificationRecognitionApplied",
        "LongTermResidenceApplied",
    }
)


def project_of(kind: str, payload: Mapping[str, Any]) -> str:
    """The (upper-case) project code a fact names, or "" for project-stream facts."""
    if kind == "ProjectRegistered":
        return str(payload.get("project_code") or "").upper()
    value = payload.get("project_id") if kind in PERSON_KINDS else None
    return str(value).upper() if value else ""


@dataclass(frozen=True)
class Fact:
    """One fact as it counts, with the stored events (``stream:version``) it was built from."""

    stream_id: str
    version: int
    kind: str
    occurred_on: date
    municipality: str
    payload: Mapping[str, Any]
    refs: tuple[str, ...]

    @property
    def ref(self) -> str:
        return fact_ref(self.stream_id, self.version)


def fact_ref(stream_id: str, version: int) -> str:
    return f"{stream_id}:{version}"


def revise(
    kind: str, fact: tuple[dict[str, Any], str, str], changes: Mapping[str, Any]
) -> tuple[dict[str, Any], str, str]:
    """``(payload, occurred_on, municipality)`` of a fact after one correction's ``changes``.

    The same rule as the projection engine's revisions: only the kept fields, the date and the
    municipality change.
    """
    payload, occurred_on, municipality = fact
    fields = FACT_FIELDS[kind]
    revised = dict(payload)
    revised.update({k: v for k, v in changes.items() if k in fields})
    return (
        revised,
        str(changes.get("occurred_on", occurred_on)),
        str(changes.get("municipality", municipality)),
    )


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorValue:
    code: str
    wording: str
    verified: bool
    period: int
    cumulative: int
    by_municipality: tuple[tuple[str, int, int], ...]  # (municipality, period, cumulative)
    facts: tuple[str, ...]  # refs of every stored event behind the two values


@dataclass(frozen=True)
class ProgressRow:
    municipality: str  # a CBS code, "unallocated" or "total"
    target: int
    realised: int  # cumulative participants at the end of the period

    @property
    def remaining(self) -> int:
        return max(0, self.target - self.realised)


@dataclass(frozen=True)
class HoursRow:
    category: str
    hours: Decimal
    participants: int
    hours_per_participant: Decimal | None
    facts: tuple[str, ...]


@dataclass(frozen=True)
class CostFigures:
    method: str
    eligible_costs: Decimal
    active_participants: int
    cost_per_participant: Decimal | None
    declared: Decimal
    staff_hours: Decimal
    costs_by_category: tuple[tuple[str, Decimal], ...]
    facts: tuple[str, ...]


@dataclass(frozen=True)
class ParticipantRow:
    """One participant's evidence; ``person`` is the stream id (pseudonymised on output)."""

    person: str
    municipality: str
    enrolled_on: str
    tcn: bool
    permit_kind: str
    permit_valid: bool
    checked_on: str
    checked_by: str
    eligibility_evidence_ref: str
    consent_ref: str
    hours: tuple[tuple[str, Decimal], ...]  # per category, in the period
    services: int  # services delivered in the period
    entry_cefr: str | None
    exit_cefr: str | None
    improved: bool
    helpful: str | None
    family_reunification: bool
    qualification_applied: bool
    long_term_residence_applied: bool
    exited_on: str | None
    exit_reason: str | None
    completed: bool | None
    facts: tuple[str, ...]


@dataclass(frozen=True)
class AmifFigures:
    project: str
    title: str
    fund: str
    period: str
    indicator_set: str
    indicators: tuple[IndicatorValue, ...]
    progress: tuple[ProgressRow, ...]
    hours: tuple[HoursRow, ...]
    cost: CostFigures
    participants: tuple[ParticipantRow, ...]
    project_facts: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------------------------


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class _Span:
    """A period's first and last day, computed once (``Period.end`` is computed per call)."""

    start: date
    end: date

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


def _period_inside(text: str, period: _Span) -> bool:
    inner = Period.parse(text)
    return period.start <= inner.start and inner.end <= period.end


@dataclass
class _Person:
    enrolment: Fact
    facts: list[Fact] = field(default_factory=list)
    # the language assessments up to a date (see :func:`_language`): an indicator and the
    # participant's row both read them
    languages: dict[date, tuple[Fact | None, Fact | None, bool]] = field(default_factory=dict)
    # the services by category (see :meth:`services`): one indicator set per computation
    by_category: dict[str, list[Fact]] | None = None

    @functools.cached_property
    def by_kind(self) -> dict[str, list[Fact]]:
        """The person's facts by kind, each kind's in the order of ``facts``: an indicator
        reads only the kind its rule counts (``facts`` is complete before the first read)."""
        kinds: dict[str, list[Fact]] = {}
        for fact in self.facts:
            kinds.setdefault(fact.kind, []).append(fact)
        return kinds

    def services(self, indicators: IndicatorSet) -> dict[str, list[Fact]]:
        """The person's services delivered by the category they count under (in the order of
        ``facts``), mapped once per person: the service indicators and the hours read them."""
        found = self.by_category
        if found is None:
            found = self.by_category = {}
            for fact in self.by_kind.get("ServiceDelivered", ()):
                payload = fact.payload
                counted = indicators.category_of(
                    str(payload["category"]), payload.get("activity_type")
                )
                found.setdefault(counted, []).append(fact)
        return found


class _Counter:
    """Distinct persons per municipality for one indicator, period and cumulative."""

    def __init__(self) -> None:
        self.period: dict[str, str] = {}  # person → municipality
        self.cumulative: dict[str, str] = {}
        self.facts: set[str] = set()

    def add(self, person: _Person, facts: Iterable[Fact], in_period: bool) -> None:
        who = person.enrolment.stream_id
        where = person.enrolment.municipality
        self.cumulative[who] = where
        if in_period:
            self.period[who] = where
        self.facts.add(person.enrolment.ref)
        for fact in facts:
            self.facts.update(fact.refs)
        self.facts.update(person.enrolment.refs)

    def value(self, indicator: Any) -> IndicatorValue:
        period, cumulative = Counter(self.period.values()), Counter(self.cumulative.values())
        by = tuple((place, period[place], cumulative[place]) for place in sorted(cumulative))
        return IndicatorValue(
            indicator.code,
            indicator.wording,
            indicator.verified,
            len(self.period),
            len(self.cumulative),
            by,
            tuple(sorted(self.facts)),
        )


def _language(person: _Person, end: date) -> tuple[Fact | None, Fact | None, bool]:
    """Earliest entry and latest exit assessment up to ``end`` (same skill), and whether the
    exit is at least one CEFR level above the entry (computed once per person and date)."""
    found = person.languages.get(end)
    if found is None:
        found = person.languages[end] = _assessed_language(person, end)
    return found


def _assessed_language(person: _Person, end: date) -> tuple[Fact | None, Fact | None, bool]:
    assessed = sorted(
        (f for f in person.by_kind.get("LanguageLevelAssessed", ()) if f.occurred_on <= end),
        key=lambda f: (f.occurred_on, f.version),
    )
    entry = next((f for f in assessed if f.payload.get("context") == "entry"), None)
    if entry is None:
        return None, None, False
    exits = [
        f
        for f in assessed
        if f.payload.get("context") == "exit"
        and f.payload.get("skill") == entry.payload.get("skill")
        and f.occurred_on >= entry.occurred_on
    ]
    if not exits:
        return entry, None, False
    exit_fact = exits[-1]
    improved = CEFR_ORDER.index(str(exit_fact.payload["cefr"])) >= (
        CEFR_ORDER.index(str(entry.payload["cefr"])) + 1
    )
    return entry, exit_fact, improved


_SIMPLE_RULES: dict[str, tuple[str, str | None]] = {
    # rule → the kind of fact that meets it, and the `helpful` answer it needs (if any)
    "service": ("ServiceDelivered", None),
    "family_reunification": ("FamilyReunificationAssistanceProvided", None),
    "helpful": ("ParticipantFeedbackRecorded", "yes"),
    "qualification_applied": ("QualificationRecognitionApplied", None),
    "long_term_residence_applied": ("LongTermResidenceApplied", None),
}


def _simple_test(rule: str) -> Callable[[Fact], bool]:
    """Whether a fact of the rule's kind (:data:`_SIMPLE_RULES`) meets the rule (a service's
    category is tested by :meth:`_Person.services`)."""
    helpful = _SIMPLE_RULES[rule][1]
    return lambda fact: helpful is None or fact.payload.get("helpful") == helpful


def _project_value(indicator: Any, registered: Fact) -> IndicatorValue:
    payload = registered.payload
    if indicator.rule == "partner_municipalities":
        value = len(payload.get("partner_municipalities") or ())
    else:
        value = 1 if payload.get("beneficiary_kind") == "gemeente" else 0
    return IndicatorValue(
        indicator.code,
        indicator.wording,
        indicator.verified,
        value,
        value,
        (),
        tuple(sorted(registered.refs)),
    )


def _indicator(
    indicator: Any, persons: Mapping[str, _Person], period: _Span, indicators: IndicatorSet
) -> IndicatorValue:
    counter = _Counter()
    end = period.end
    rule = indicator.rule
    # a simple rule: the kind of fact it counts, and the test such a fact must meet
    if rule not in ("participants", "language_improved", *SERVICE_RULES):
        kind = _SIMPLE_RULES[rule][0]
        meets = _simple_test(rule)
    category = indicator.category.value if indicator.category is not None else None
    for person in persons.values():
        if rule == "participants":
            counter.add(person, (), period.contains(person.enrolment.occurred_on))
            continue
        if rule == "language_improved":
            entry, exit_fact, improved = _language(person, end)
            if improved and entry is not None and exit_fact is not None:
                counter.add(person, (entry, exit_fact), period.contains(exit_fact.occurred_on))
            continue
        if rule in SERVICE_RULES:
            services = person.services(indicators)
            hits = [f for f in services.get(category or "", ()) if f.occurred_on <= end]
        else:
            hits = [f for f in person.by_kind.get(kind, ()) if f.occurred_on <= end and meets(f)]
        if not hits:
            continue
        if rule == "participant_service":  # "… of which": in the period as a participant is
            counter.add(person, hits, period.contains(person.enrolment.occurred_on))
        else:
            counter.add(person, hits, any(period.contains(f.occurred_on) for f in hits))
    return counter.value(indicator)


def _progress(registered: Fact, persons: Mapping[str, _Person]) -> tuple[ProgressRow, ...]:
    payload = registered.payload
    targets: dict[str, int] = {
        str(k): int(v) for k, v in (payload.get("targets_by_municipality") or {}).items()
    }
    total = int(payload.get("target_total") or 0)
    realised: dict[str, int] = {}
    for person in persons.values():
        place = person.enrolment.municipality
        key = place if place in targets else UNALLOCATED
        realised[key] = realised.get(key, 0) + 1
    rows = [ProgressRow(code, targets[code], realised.get(code, 0)) for code in sorted(targets)]
    rows.append(
        ProgressRow(UNALLOCATED, total - sum(targets.values()), realised.get(UNALLOCATED, 0))
    )
    rows.append(ProgressRow(TOTAL, total, len(persons)))
    return tuple(rows)


def _hours(
    persons: Mapping[str, _Person], period: _Span, indicators: IndicatorSet
) -> tuple[HoursRow, ...]:
    hours = dict.fromkeys(CATEGORIES, Decimal(0))
    served: dict[str, set[str]] = {c: set() for c in CATEGORIES}
    refs: dict[str, set[str]] = {c: set() for c in CATEGORIES}
    for who, person in persons.items():
        for category, services in person.services(indicators).items():
            for fact in services:
                if not period.contains(fact.occurred_on):
                    continue
                hours[category] += _dec(fact.payload["hours"])
                served[category].add(who)
                refs[category].update(fact.refs)
    return tuple(
        HoursRow(
            category,
            _money(hours[category]),
            len(served[category]),
            _money(hours[category] / len(served[category])) if served[category] else None,
            tuple(sorted(refs[category])),
        )
        for category in CATEGORIES
    )


def _cost(project: list[Fact], persons: Mapping[str, _Person], period: _Span) -> CostFigures:
    refs: set[str] = set()
    costs = Decimal(0)
    by_category: dict[str, Decimal] = {}
    declared = Decimal(0)
    staff_hours = Decimal(0)
    for fact in project:
        payload = fact.payload
        if fact.kind == "CostRecorded" and _period_inside(str(payload["period"]), period):
            amount = _dec(payload["amount"])
            costs += amount
            category = str(payload["category"])
            by_category[category] = by_category.get(category, Decimal(0)) + amount
            refs.update(fact.refs)
        elif fact.kind == "ExpenditureDeclared" and _period_inside(str(payload["period"]), period):
            declared += _dec(payload["amount"])
            refs.update(fact.refs)
        elif fact.kind == "StaffTimeRecorded" and period.contains(fact.occurred_on):
            staff_hours += _dec(payload["hours"])
            refs.update(fact.refs)
    active = 0
    for person in persons.values():
        exits = [f for f in person.facts if f.kind == "ParticipantExited"]
        if exits and min(f.occurred_on for f in exits) < period.start:
            continue
        active += 1
        refs.update(person.enrolment.refs)
        for exit_fact in exits:
            refs.update(exit_fact.refs)
    return CostFigures(
        method=COST_METHOD,
        eligible_costs=_money(costs),
        active_participants=active,
        cost_per_participant=_money(costs / active) if active else None,
        declared=_money(declared),
        staff_hours=_money(staff_hours),
        costs_by_category=tuple(sorted((k, _money(v)) for k, v in by_category.items())),
        facts=tuple(sorted(refs)),
    )


def _participant(person: _Person, period: _Span, indicators: IndicatorSet) -> ParticipantRow:
    enrolment = person.enrolment
    e = enrolment.payload
    hours = dict.fromkeys(CATEGORIES, Decimal(0))
    services = 0
    helpful: str | None = None
    flags = {"family": False, "qualification": False, "residence": False}
    exit_fact: Fact | None = None
    end = period.end
    for fact in sorted(person.facts, key=lambda f: (f.occurred_on, f.version)):
        if fact.occurred_on > end:
            continue
        p = fact.payload
        if fact.kind == "ServiceDelivered" and period.contains(fact.occurred_on):
            counted = indicators.category_of(str(p["category"]), p.get("activity_type"))
            hours[counted] += _dec(p["hours"])
            services += 1
        elif fact.kind == "ParticipantFeedbackRecorded":
            helpful = str(p["helpful"])
        elif fact.kind == "FamilyReunificationAssistanceProvided":
            flags["family"] = True
        elif fact.kind == "QualificationRecognitionApplied":
            flags["qualification"] = True
        elif fact.kind == "LongTermResidenceApplied":
            flags["residence"] = True
        elif fact.kind == "ParticipantExited" and exit_fact is None:
            exit_fact = fact
    entry, exit_level, improved = _language(person, end)
    refs = set(enrolment.refs)
    for fact in person.facts:
        if fact.occurred_on <= end:
            refs.update(fact.refs)
    return ParticipantRow(
        person=enrolment.stream_id,
        municipality=enrolment.municipality,
        enrolled_on=enrolment.occurred_on.isoformat(),
        tcn=bool(e["tcn"]),
        permit_kind=str(e["permit_kind"]),
        permit_valid=bool(e["permit_valid"]),
        checked_on=str(e["checked_on"]),
        checked_by=str(e["checked_by"]),
        eligibility_evidence_ref=str(e["eligibility_evidence_ref"]),
        consent_ref=str(e["consent_ref"]),
        hours=tuple((c, _money(h)) for c, h in hours.items()),
        services=services,
        entry_cefr=str(entry.payload["cefr"]) if entry else None,
        exit_cefr=str(exit_level.payload["cefr"]) if exit_level else None,
        improved=improved,
        helpful=helpful,
        family_reunification=flags["family"],
        qualification_applied=flags["qualification"],
        long_term_residence_applied=flags["residence"],
        exited_on=exit_fact.occurred_on.isoformat() if exit_fact else None,
        exit_reason=str(exit_fact.payload["reason"]) if exit_fact else None,
        completed=bool(exit_fact.payload["completed"]) if exit_fact else None,
        facts=tuple(sorted(refs)),
    )


class NoProjectError(LookupError):
    """The facts hold no ProjectRegistered for the project."""


def compute(
    facts: Iterable[Fact],
    project: str,
    period: Period,
    choose: Callable[[str, date], IndicatorSet],
    *,
    participants: bool = True,
) -> AmifFigures:
    """Every P12/P13 figure of ``project`` for ``period`` from its facts.

    ``choose(fund, day)`` picks the indicator set (normally ``amif_rules.indicator_set``, or a
    fixed version when an evidence pack is rechecked). Without ``participants`` the
    participants' evidence rows are not made (``AmifFigures.participants`` is empty): the
    report shows none of them, only an evidence pack does.

    Raises:
        NoProjectError: no ProjectRegistered fact for ``project`` is among the facts.
    """
    code = project.upper()
    registered: Fact | None = None
    project_facts: list[Fact] = []
    person_facts: dict[str, list[Fact]] = {}
    for fact in facts:
        if fact.kind == "ProjectRegistered" and project_of(fact.kind, fact.payload) == code:
            registered = fact
        elif fact.kind in PERSON_KINDS:
            if project_of(fact.kind, fact.payload) == code:
                person_facts.setdefault(fact.stream_id, []).append(fact)
        else:
            project_facts.append(fact)
    if registered is None:
        raise NoProjectError(code)
    indicators = choose(str(registered.payload["fund"]), period.start)
    span = _Span(period.start, period.end)
    persons: dict[str, _Person] = {}
    for stream_id, items in sorted(person_facts.items()):
        enrolments = sorted(
            (f for f in items if f.kind == "ParticipantEnrolled"),
            key=lambda f: (f.occurred_on, f.version),
        )
        if not enrolments or enrolments[0].occurred_on > span.end:
            continue  # not enrolled (by the end of the period): counts nowhere
        others = [f for f in items if f.kind != "ParticipantEnrolled"]
        persons[stream_id] = _Person(enrolments[0], others)
    values = tuple(
        _project_value(item, registered)
        if item.rule in ("partner_municipalities", "authority_beneficiary")
        else _indicator(item, persons, span, indicators)
        for item in indicators.indicators
    )
    return AmifFigures(
        project=code,
        title=str(registered.payload.get("title") or ""),
        fund=str(registered.payload["fund"]),
        period=str(period),
        indicator_set=indicators.version,
        indicators=values,
        progress=_progress(registered, persons),
        hours=_hours(persons, span, indicators),
        cost=_cost(project_facts, persons, span),
        participants=(
            tuple(_participant(p, span, indicators) for p in persons.values())
            if participants
            else ()
        ),
        project_facts=tuple(sorted(registered.refs)),
    )


# --------------------------------------------------------------------------------------------
# JSON form (the report's JSON and the evidence pack's tables share it)
# --------------------------------------------------------------------------------------------


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def indicators_json(figures: AmifFigures, *, with_facts: bool) -> dict[str, Any]:
    """Indicators, progress, hours and cost as JSON-ready data with stable keys."""

    def facts(refs: tuple[str, ...]) -> dict[str, Any]:
        return {"facts": list(refs)} if with_facts else {"fact_count": len(refs)}

    cost = figures.cost
    return {
        "project": figures.project,
        "title": figures.title,
        "fund": figures.fund,
        "period": figures.period,
        "indicator_set": figures.indicator_set,
        "indicators": [
            {
                "code": v.code,
                "wording": v.wording,
                "verified": v.verified,
                "period": v.period,
                "cumulative": v.cumulative,
                "by_municipality": [
                    {"municipality": m, "period": p, "cumulative": c}
                    for m, p, c in v.by_municipality
                ],
                **facts(v.facts),
            }
            for v in figures.indicators
        ],
        "progress": [
            {
                "municipality": r.municipality,
                "target": r.target,
                "realised": r.realised,
                "remaining": r.remaining,
            }
            for r in figures.progress
        ],
        "hours": [
            {
                "category": h.category,
                "hours": _text(h.hours),
                "participants": h.participants,
                "hours_per_participant": _text(h.hours_per_participant),
                **facts(h.facts),
            }
            for h in figures.hours
        ],
        "cost": {
            "method": cost.method,
            "eligible_costs": _text(cost.eligible_costs),
            "active_participants": cost.active_participants,
            "cost_per_participant": _text(cost.cost_per_participant),
            "declared": _text(cost.declared),
            "staff_hours": _text(cost.staff_hours),
            "costs_by_category": [
                {"category": k, "amount": _text(v)} for k, v in cost.costs_by_category
            ],
            **facts(cost.facts),
        },
    }


PARTICIPANT_COLUMNS: tuple[str, ...] = (
    "participant",
    "municipality",
    "enrolled_on",
    "tcn",
    "permit_kind",
    "permit_valid",
    "checked_on",
    "checked_by",
    "eligibility_evidence_ref",
    "consent_ref",
    *(f"hours_{c}" for c in CATEGORIES),
    "services",
    "entry_cefr",
    "exit_cefr",
    "improved",
    "helpful",
    "family_reunification",
    "qualification_applied",
    "long_term_residence_applied",
    "exited_on",
    "exit_reason",
    "completed",
)


def participant_json(row: ParticipantRow, pseudonym: str, *, with_facts: bool) -> dict[str, Any]:
    """One participant's evidence row; the person appears only under ``pseudonym``."""
    data: dict[str, Any] = {
        "participant": pseudonym,
        "municipality": row.municipality,
        "enrolled_on": row.enrolled_on,
        "tcn": row.tcn,
        "permit_kind": row.permit_kind,
        "permit_valid": row.permit_valid,
        "checked_on": row.checked_on,
        "checked_by": row.checked_by,
        "eligibility_evidence_ref": row.eligibility_evidence_ref,
        "consent_ref": row.consent_ref,
        **{f"hours_{c}": str(h) for c, h in row.hours},
        "services": row.services,
        "entry_cefr": row.entry_cefr,
        "exit_cefr": row.exit_cefr,
        "improved": row.improved,
        "helpful": row.helpful,
        "family_reunification": row.family_reunification,
        "qualification_applied": row.qualification_applied,
        "long_term_residence_applied": row.long_term_residence_applied,
        "exited_on": row.exited_on,
        "exit_reason": row.exit_reason,
        "completed": row.completed,
    }
    if with_facts:
        data["facts"] = list(row.facts)
    return data
