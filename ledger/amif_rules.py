"""AMIF indicator definitions and the activity-type mapping, as dated, versioned rule parameters.

Per fund (AMIF 2014–2020, AMIF 2021–2027) an :class:`IndicatorSet` lists the indicators the
ledger can compute at project level: the code, the wording, the events it is counted from and
the counting rule (one of :data:`COUNTING_RULES`). The wording and codes of both periods are
marked **[U]** in the domain reference (Annex IV of Reg. 516/2014 and Annex VIII of Reg.
2021/1147 were not checked against the Official Journal), so every indicator carries
``verified=False`` until they are; a checked reading is a new indicator set appended to
:data:`INDICATOR_SETS`, never an edit, so figures produced earlier stay reproducible.

The mapping from local activity types (a *taalcafé*, *interactief voorlezen*, a VCA course) to
an Annex VIII service category is versioned configuration in the same set: whether a taalcafé is
a "language course" is a policy choice the managing authority may revise.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from types import MappingProxyType

from ledger.values import Fund, ServiceCategory

COUNTING_RULES: MappingProxyType[str, str] = MappingProxyType(
    {
        "participants": "distinct persons with a ParticipantEnrolled in the project",
        "service": "distinct enrolled persons with a ServiceDelivered of the category (after the "
        "activity-type mapping)",
        "participant_service": "of the persons the participants indicator counts, those with a "
        "ServiceDelivered of the category (after the activity-type mapping) on or before the "
        "period's last day: an '… of which' sub-indicator, so never above its parent in the "
        "period, the cumulative or any municipality (the period value counts the participants "
        "enrolled in the period)",
        "family_reunification": "distinct enrolled persons with a "
        "FamilyReunificationAssistanceProvided for the project",
        "language_improved": "distinct enrolled persons whose exit LanguageLevelAssessed for the "
        "project is at least one CEFR level above their entry assessment (same skill; "
        "earliest entry, latest exit)",
        "helpful": "distinct enrolled persons with a ParticipantFeedbackRecorded helpful=yes",
        "qualification_applied": "distinct enrolled persons with a "
        "QualificationRecognitionApplied for the project",
        "long_term_residence_applied": "distinct enrolled persons with a "
        "LongTermResidenceApplied for the project",
        "partner_municipalities": "municipalities among the ProjectRegistered partners (a "
        "project attribute: the same in every period)",
        "authority_beneficiary": "1 when the ProjectRegistered beneficiary is a gemeente, else 0",
    }
)
"""Every counting rule an indicator can use, with its definition in words."""

SERVICE_RULES = frozenset({"service", "participant_service"})
"""The counting rules of a service category (an indicator of one of them names its category)."""


@dataclass(frozen=True)
class Indicator:
    """One indicator: its code, wording, source events and counting rule."""

    code: str
    wording: str
    source: str  # the events it is counted from
    rule: str  # a key of COUNTING_RULES
    category: ServiceCategory | None = None  # for the rules of SERVICE_RULES
    verified: bool = False  # False: wording/code [U] in the domain reference

    def __post_init__(self) -> None:
        if self.rule not in COUNTING_RULES:
            msg = f"indicator {self.code}: unknown counting rule {self.rule!r}"
            raise ValueError(msg)
        if (self.rule in SERVICE_RULES) != (self.category is not None):
            msg = f"indicator {self.code}: a service category goes with a service rule only"
            raise ValueError(msg)


@dataclass(frozen=True)
class IndicatorSet:
    """One version of a fund's indicators and of the activity-type mapping."""

    fund: Fund
    version: str
    valid_from: date
    indicators: tuple[Indicator, ...]
    activity_categories: MappingProxyType[str, ServiceCategory] = field(
        default_factory=lambda: MappingProxyType({})
    )
    source_note: str = ""

    def category_of(self, recorded: str, activity_type: str | None) -> str:
        """The category that counts: the mapped one when the activity type is mapped."""
        if activity_type is not None:
            mapped = self.activity_categories.get(activity_type.strip().lower())
            if mapped is not None:
                return mapped.value
        return recorded

    def indicator(self, code: str) -> Indicator:
        for item in self.indicators:
            if item.code == code:
                return item
        raise KeyError(code)


# §3.4 [U; practice]: is a taalcafé a language course? Kept as configuration (domain.md §3.4).
ACTIVITY_CATEGORIES_2026_1: MappingProxyType[str, ServiceCategory] = MappingProxyType(
    {
        "taalles": ServiceCategory.LANGUAGE_COURSE,
        "taalcafe": ServiceCategory.OTHER,
        "interactief_voorlezen": ServiceCategory.OTHER,
        "fietsles": ServiceCategory.OTHER,
        "vca_cursus": ServiceCategory.OTHER,
        "knm_les": ServiceCategory.CIVIC_ORIENTATION,
        "pvt_workshop": ServiceCategory.CIVIC_ORIENTATION,
        "orientatieworkshop": ServiceCategory.CIVIC_ORIENTATION,
        "werkcoach": ServiceCategory.PERSONAL_PROFESSIONAL_GUIDANCE,
        "jobcoach": ServiceCategory.PERSONAL_PROFESSIONAL_GUIDANCE,
        "vrijwillige_arbeidscoach": ServiceCategory.PERSONAL_PROFESSIONAL_GUIDANCE,
    }
)

AMIF_2127_V1 = IndicatorSet(
    fund=Fund.AMIF_2127,
    version="AMIF_2127.2026.1",
    valid_from=date(2021, 1, 1),
    source_note="Reg. (EU) 2021/1147 Annex VIII, specific objective 2 (domain.md §3.4) [U]",
    activity_categories=ACTIVITY_CATEGORIES_2026_1,
    indicators=(
        Indicator(
            "O.2.2",
            "Number of local and regional authorities supported to implement integration measures",
            "ProjectRegistered.partner_municipalities",
            "partner_municipalities",
        ),
        Indicator(
            "O.2.3",
            "Number of participants supported",
            "ParticipantEnrolled",
            "participants",
        ),
        Indicator(
            "O.2.3.1",
            "… of which in a language course",
            "ServiceDelivered(category=language_course)",
            "service",
            ServiceCategory.LANGUAGE_COURSE,
        ),
        Indicator(
            "O.2.3.2",
            "… of which in a civic orientation course",
            "ServiceDelivered(category=civic_orientation)",
            "service",
            ServiceCategory.CIVIC_ORIENTATION,
        ),
        Indicator(
            "O.2.3.3",
            "… of which who received personal professional guidance",
            "ServiceDelivered(category=personal_professional_guidance)",
            "service",
            ServiceCategory.PERSONAL_PROFESSIONAL_GUIDANCE,
        ),
        Indicator(
            "O.2.5",
            "Number of participants receiving information and/or assistance to apply for "
            "family reunification",
            "FamilyReunificationAssistanceProvided",
            "family_reunification",
        ),
        Indicator(
            "O.2.7",
            "Number of integration projects where local and regional authorities are the "
            "beneficiary",
            "ProjectRegistered.beneficiary_kind",
            "authority_beneficiary",
        ),
        Indicator(
            "R.2.8",
            "Participants in language courses who improved their host-country language "
            "proficiency by at least one CEFR level on leaving the course",
            "LanguageLevelAssessed (entry, exit)",
            "language_improved",
        ),
        Indicator(
            "R.2.9",
            "Participants who report that the activity was helpful for their integration",
            "ParticipantFeedbackRecorded(helpful=yes)",
            "helpful",
        ),
        Indicator(
            "R.2.10",
            "Participants who applied for recognition/assessment of a qualification or skills "
            "acquired in a third country",
            "QualificationRecognitionApplied",
            "qualification_applied",
        ),
        Indicator(
            "R.2.11",
            "Participants who applied for long-term residence status",
            "LongTermResidenceApplied",
            "long_term_residence_applied",
        ),
    ),
)

AMIF_1420_V1 = IndicatorSet(
    fund=Fund.AMIF_1420,
    version="AMIF_1420.2026.1",
    valid_from=date(2014, 1, 1),
    source_note="Reg. (EU) 516/2014 Annex IV, specific objective 2 (domain.md §3.3) [U]",
    activity_categories=ACTIVITY_CATEGORIES_2026_1,
    indicators=(
        Indicator(
            "SO2.b.ii",
            "Number of target-group persons assisted through integration measures in the "
            "framework of national, local and regional strategies",
            "ParticipantEnrolled",
            "participants",
        ),
        Indicator(
            "SO2.b.ii.lang",
            "… of which in education and training, including language training",
            "ServiceDelivered(category=language_course)",
            "service",
            ServiceCategory.LANGUAGE_COURSE,
        ),
        Indicator(
            "SO2.b.ii.civic",
            "… of which in civic orientation (preparatory actions)",
            "ServiceDelivered(category=civic_orientation)",
            "service",
            ServiceCategory.CIVIC_ORIENTATION,
        ),
        Indicator(
            "SO2.b.ii.guidance",
            "… of which in personal guidance towards the labour market",
            "ServiceDelivered(category=personal_professional_guidance)",
            "service",
            ServiceCategory.PERSONAL_PROFESSIONAL_GUIDANCE,
        ),
    ),
)


def _of_participants(indicators: IndicatorSet, version: str) -> IndicatorSet:
    """``indicators`` as version ``version``, with its service sub-indicators counted as "… of
    which" the participants (rule ``participant_service``) instead of by the services of the
    period (rule ``service``), under which a participant enrolled in an earlier period and served
    in this one made a sub-indicator's period value exceed its parent's."""
    return replace(
        indicators,
        version=version,
        indicators=tuple(
            replace(item, rule="participant_service") if item.rule == "service" else item
            for item in indicators.indicators
        ),
    )


AMIF_2127_V2 = _of_participants(AMIF_2127_V1, "AMIF_2127.2026.2")
AMIF_1420_V2 = _of_participants(AMIF_1420_V1, "AMIF_1420.2026.2")

INDICATOR_SETS: tuple[IndicatorSet, ...] = (AMIF_1420_V1, AMIF_2127_V1, AMIF_1420_V2, AMIF_2127_V2)
"""Every indicator set ever in force, oldest first per fund. Append; never edit."""

COST_METHOD = (
    "real costs: the eligible costs recorded (CostRecorded) for periods inside the reporting "
    "period, divided by the distinct participants active in it (enrolled on or before its last "
    "day and not exited before its first day)"
)
"""How cost per participant (P13) is computed; stated in every report and evidence pack."""


def indicator_set(fund: Fund | str, on: date) -> IndicatorSet:
    """The indicator set of ``fund`` in force on ``on`` (the latest not valid after it).

    Raises:
        KeyError: no set of that fund is valid on that date.
    """
    chosen: IndicatorSet | None = None
    for item in INDICATOR_SETS:
        if item.fund == Fund(fund) and item.valid_from <= on:
            chosen = item
    if chosen is None:
        raise KeyError(f"{fund} on {on}")
    return chosen


def indicator_set_by_version(version: str) -> IndicatorSet:
    """The indicator set with this version (for replaying an evidence pack)."""
    for item in INDICATOR_SETS:
        if item.version == version:
            return item
    raise KeyError(version)
