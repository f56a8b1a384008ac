"""The event catalog's models: one frozen pydantic model per fact, all sharing one envelope.

This module is pure data. Stored topics are ``ledger.events:<ClassName>`` and are kept forever:
never rename or move a class here without registering the old topic
(``eventsourcing.utils.register_topic``).

The envelope's ``occurred_on`` is the date the fact happened (valid time); for each event the
catalog says which domain date it is (housed_on, dagtekening, exam date, …), so no event repeats
it as a second field. ``timestamp`` is when the ledger recorded it (transaction time, UTC).
Fields marked personal (``personal=True`` in ``json_schema_extra``) are encrypted at rest with
the stream's own data key and read as ``None`` once that key is shredded; they are therefore
always optional in the model. A field made personal by a later class version
(``personal_since``) stays in clear in the facts stored by the earlier versions: stored events
are never rewritten. Special-category fields (GDPR Art. 9: health and the like, declared with
``special_category``) are personal too, and marked ``special_category=True`` as well: a command
shows their values in clear only for a stated purpose, after recording the read as a
``SpecialCategoryRead`` on the person's stream (``ledger.special``). Fields that name a member of
staff (``staff_name``: the coach, the assessor, …) are not personal in that sense: stored in
clear, as the recorder is, but pseudonymised like the recorder in a pseudonymised export.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cache, lru_cache
from typing import Annotated, Any, ClassVar, Protocol, Self, get_args
from uuid import NAMESPACE_URL, UUID, uuid5

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticUndefined

from ledger import rules
from ledger.values import (
    AssessmentContext,
    BeneficiaryKind,
    BenefitAfter,
    BenefitKind,
    Bsn,
    CaseCloseReason,
    Cefr,
    CostCategory,
    CountryCode,
    Destination,
    ExamComponent,
    ExamLevel,
    ExamOutcome,
    FinalInterviewOutcome,
    FulfilmentBasis,
    Fund,
    GemeenteCode,
    HelpCategory,
    Helpful,
    HousingKind,
    HousingRoute,
    LearningRoute,
    MainGoal,
    ObjectionOutcome,
    OntzorgenEndReason,
    OntzorgenItem,
    OutflowType,
    PermitKind,
    Regime,
    Relation,
    RetentionBasisKind,
    ReunificationClosure,
    ReunificationOutcome,
    ServiceCategory,
    Sex,
    Source,
    StaffName,
    StaffRole,
    Text,
    VerificationOutcome,
    VerifyingBody,
    without_nul,
)

PeriodText = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}H[12]$")]
"""A half-year such as ``2024H1``."""
ReportingPeriodText = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}(H[12]|Q[1-4])?$")]
"""A reporting period: a year (``2021``), a half-year (``2021H1``) or a quarter (``2021Q3``)."""
PERIOD_PATTERNS = frozenset(
    item.pattern for text in (PeriodText, ReportingPeriodText) for item in get_args(text)[1:]
)
"""The patterns of the period types: a field of either type holds a period, whose year (its
first four digits) lies in ``values.REPORT_YEARS`` (a rule of the aggregate, so that facts stored
before it still load)."""
Hours = Annotated[Decimal, Field(ge=0, le=10000, decimal_places=2)]
Amount = Annotated[Decimal, Field(ge=0, decimal_places=2)]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
ProjectCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")]
ChangeValue = str | int | bool | None | list[str] | list[dict[str, str]] | dict[str, int]
"""A corrected field's new value in its JSON form (dates and amounts as strings; evidence as a
list of objects; per-municipality targets as an object)."""

STREAM_NAMESPACE = NAMESPACE_URL


class StreamKind(StrEnum):
    PERSON = "person"
    MUNICIPALITY = "municipality"
    PROJECT = "project"


STREAM_IDS_KEPT = 1024
"""The stream ids of codes each of the functions below keeps (a SHA-1 hash per call else)."""


@lru_cache(maxsize=STREAM_IDS_KEPT)
def municipality_stream_id(code: str) -> UUID:
    """The stream of a municipality's own facts (taakstelling), derived from its CBS code
    (kept: an import asks for the same few codes on many lines)."""
    return uuid5(STREAM_NAMESPACE, f"traject:municipality/{code}")


@lru_cache(maxsize=STREAM_IDS_KEPT)
def project_stream_id(code: str) -> UUID:
    """The stream of an AMIF project, derived from its project code (kept: an import asks for
    it on each of a project's facts, and its enrolments' rules once more)."""
    return uuid5(STREAM_NAMESPACE, f"traject:project/{code.upper()}")


def personal(description: str) -> Any:
    """A personal field: encrypted at rest under the stream's data key, erasable."""
    return Field(default=None, description=description, json_schema_extra={"personal": True})


def special_category(description: str) -> Any:
    """A special-category field (GDPR Art. 9: health, ethnic origin, religion, …): personal
    (encrypted at rest, erasable), and every read of its value in clear is recorded
    (``SpecialCategoryRead``). Categorical flags only, never free text (domain.md §5.2)."""
    return Field(
        default=None,
        description=description,
        json_schema_extra={"personal": True, "special_category": True},
    )


def past_date(description: str, *, optional: bool = True) -> Any:
    """A date of something that has happened by the time it is recorded (a notice, a result, a
    check), besides the fact's own ``occurred_on``: like that date, never after the (Dutch) day
    the fact is recorded. Optional (empty by default) unless ``optional`` is false."""
    default = None if optional else PydanticUndefined  # the latter: required
    return Field(default, description=description, json_schema_extra={"past": True})


def staff_name(description: str, *, optional: bool = False, example: str = "r.jansen") -> Any:
    """A field that names a member of staff by user name (the coach, the assessor, …).

    Not personal in the ledger's sense: stored in clear, never erased with a person's data key,
    and read by projections (the caseload per coach). A pseudonymised export replaces its value
    by the member of staff's pseudonym, the one their name has as recorder (``ledger.export``).
    Required unless ``optional`` (then empty by default). ``example`` is the value a command's
    help shows for it.
    """
    default = None if optional else PydanticUndefined  # the latter: required
    return Field(
        default, description=description, examples=[example], json_schema_extra={"staff": True}
    )


class FieldRuleError(ValueError):
    """A rule between fields of one event, raised by its model's validator, naming the field it
    holds against: the message names that field and the rule (``valid_until: must not be
    before valid from (--on)``), as for a rule of one field, rather than the whole event."""

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        super().__init__(rule)


class Aggregate(Protocol):
    def apply(self, event: TrajectEvent) -> None: ...


AGGREGATE_FACTORIES: dict[StreamKind, Callable[[UUID], Any]] = {}
"""Filled by ``ledger.aggregates``: how the first event of a stream builds its aggregate."""


class Evidence(BaseModel):
    """A reference to a supporting document: never the document itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Text = Field(description="document kind, e.g. beschikking, contract, presentielijst")
    reference: Text = Field(description="where the document is kept (case system reference)")
    sha256: Sha256 = Field(description="SHA-256 of the document, lowercase hex")


class DomainEvent(BaseModel):
    """The library's event shape as a frozen pydantic model."""

    # defer_build: a model's validator is built on first use, not at import; a CLI run touches
    # a handful of the ~70 event classes, and building them all cost ~0.1 s per invocation
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False, defer_build=True)

    originator_id: UUID
    originator_version: int = Field(ge=1)
    timestamp: AwareDatetime

    class_version: ClassVar[int] = 1


class TrajectEvent(DomainEvent):
    """The envelope every traject event carries."""

    stream: ClassVar[StreamKind] = StreamKind.PERSON
    personal_since: ClassVar[Mapping[str, int]] = {}
    """Personal fields that were not personal in the first class versions, by the class version
    that made them personal: facts stored by an earlier version hold them in clear (stored
    events are immutable), see ``stored_in_clear``."""

    occurred_on: date = Field(description="the date the fact happened (valid time)")
    recorded_by: Text = Field(description="who recorded it (user name)")
    imported_by: Text | None = Field(
        default=None,
        description="who imported it, when recorded_by names its recorder in the ledger it came "
        "from (traject import --keep-recorded-by); absent otherwise",
    )
    source: Source = Field(default=Source.CLI, description="where the fact came from")
    municipality: GemeenteCode = Field(
        description="CBS code of the municipality the fact belongs to, e.g. GM0622"
    )
    idempotency_key: (
        Annotated[str, StringConstraints(max_length=300), AfterValidator(without_nul)] | None
    ) = Field(
        default=None,
        description="names one fact: seen again with the same fact it appends nothing (imports "
        "and retries), with another fact it is refused",
    )
    evidence: tuple[Evidence, ...] = Field(
        default=(), description="supporting documents as kind:reference:sha256"
    )

    def mutate(self, aggregate: Aggregate | None) -> Any:
        """Evolve ``aggregate`` (the library's projector calls this for every stored event)."""
        if aggregate is None:
            aggregate = AGGREGATE_FACTORIES[self.stream](self.originator_id)
        aggregate.apply(self)
        return aggregate

    @classmethod
    def personal_fields(cls) -> frozenset[str]:
        return _marked_fields(cls, "personal")

    @classmethod
    def stored_in_clear(cls, class_version: int) -> frozenset[str]:
        """The personal fields that a fact stored by ``class_version`` of this class holds in
        clear in its state: those made personal by a later version (``personal_since``)."""
        return frozenset(
            name for name, since in cls.personal_since.items() if class_version < since
        )

    @classmethod
    def special_category_fields(cls) -> frozenset[str]:
        """The personal fields that hold special-category data (GDPR Art. 9)."""
        return _marked_fields(cls, "special_category")

    @classmethod
    def past_fields(cls) -> frozenset[str]:
        """The dates besides ``occurred_on`` that must not be in the future (``past_date``)."""
        return _marked_fields(cls, "past")

    @classmethod
    def period_fields(cls) -> frozenset[str]:
        """The fields that hold a period (``PeriodText``, ``ReportingPeriodText``)."""
        return frozenset(
            name
            for name, info in cls.model_fields.items()
            if any(getattr(item, "pattern", None) in PERIOD_PATTERNS for item in info.metadata)
        )

    @classmethod
    def staff_fields(cls) -> frozenset[str]:
        """The fields that name a member of staff (``staff_name``): pseudonymised on export."""
        return _marked_fields(cls, "staff")

    @classmethod
    def payload_fields(cls) -> tuple[str, ...]:
        """The fields particular to this event (the envelope excluded)."""
        return tuple(name for name in cls.model_fields if name not in ENVELOPE_FIELDS)


ENVELOPE_FIELDS = frozenset(TrajectEvent.model_fields)
CORRECTABLE_ENVELOPE_FIELDS = frozenset({"occurred_on", "municipality", "evidence"})


@cache
def _marked_fields(cls: type[BaseModel], mark: str) -> frozenset[str]:
    """The fields of ``cls`` whose ``json_schema_extra`` sets ``mark``."""
    return frozenset(
        name
        for name, info in cls.model_fields.items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get(mark)
    )


# ---------------------------------------------------------------------------------------------
# A. Person, permit and reception
# ---------------------------------------------------------------------------------------------


class PersonRegistered(TrajectEvent):
    """A statushouder enters the ledger (occurred_on: the date of registration in traject).

    A ``household_id`` names the household's referent: a person registered in this ledger
    before (or the person themself), also when a correction changes it. A household has one
    referent: the person named is no member of another person's household, and a referent whose
    household has members joins no other household by a correction. The birth date is not
    after the registration, nor more than 120 years before it (a typo such as 1800-01-01).
    """

    birth_date: date = Field(description="date of birth")
    sex: Sex = Field(
        description="sex as registered in the BRP: f (or v, vrouw), m, or x (or o, onbekend)"
    )
    nationality: tuple[CountryCode, ...] = Field(
        min_length=1, description="ISO 3166 alpha-2 codes; XXA for stateless"
    )
    bsn: Bsn | None = personal(
        "burgerservicenummer (11-proef; 123456782 or 1234.56.782); encrypted, found by keyed hash"
    )
    v_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$")] | None = personal(
        "IND V-nummer (10 digits)"
    )
    name: Text | None = personal("full name")
    household_id: UUID | None = Field(default=None, description="household (referent's person id)")
    languages: tuple[Text, ...] = Field(default=(), description="languages spoken")


class ResidencePermitRecorded(TrajectEvent):
    """A residence permit granted or renewed (occurred_on: valid from).

    Not valid from on or after a recorded naturalisation: a Dutch citizen holds no residence
    permit.
    """

    permit_kind: PermitKind = Field(description="kind of permit")
    valid_until: date | None = Field(default=None, description="end of validity")
    notified_on: date | None = past_date("date the permit was notified (starts the nareis window)")
    document_no: Text | None = personal("permit document number")

    @model_validator(mode="after")
    def _validity(self) -> Self:
        if self.valid_until is not None and self.valid_until < self.occurred_on:
            raise FieldRuleError("valid_until", "must not be before valid from (--on)")
        return self


class NaturalisationGranted(TrajectEvent):
    """Naturalisation granted; ends third-country-national status (occurred_on: granted on).

    Once per person (correct the recorded one instead), and after the residence permits
    recorded: none is valid from on or after it.
    """


class PreIntegrationRecorded(TrajectEvent):
    """Voorinburgering at COA (occurred_on: from)."""

    provider: Text = Field(default="COA", description="provider of the pre-integration")
    hours: Hours | None = Field(default=None, description="hours followed")


class CoaLinked(TrajectEvent):
    """COA links the person to the municipality (koppeling; occurred_on: linked on).

    At most one koppeling is active, until a housing through it (route koppeling) uses it or it
    is withdrawn. COA links only a permit holder still in its reception, which housing ends: a
    koppeling is not dated after the person's first housing (by any route), unless the person
    left the Netherlands after their latest housing and is linked on or after that departure;
    one dated on or before the housing that used a koppeling is that koppeling recorded twice.
    A nareiziger (an asiel_afgeleid permit, or housed through route nareis) is not linked.
    """

    taakstelling_period: PeriodText = Field(description="half-year of the taakstelling, 2024H1")
    coa_location: Text | None = Field(default=None, description="AZC location")
    tvs_ref: Text | None = Field(default=None, description="TVS reference")
    household_size: int | None = Field(default=None, ge=1, le=30, description="household size")


class CoaLinkWithdrawn(TrajectEvent):
    """An active koppeling is withdrawn (occurred_on: withdrawn on).

    Not dated before the koppeling it withdraws.
    """

    reason: Text | None = personal("why the link was withdrawn (free text)")


class TenancySigned(TrajectEvent):
    """Huurcontract signed (occurred_on: signed on).

    Not dated before the active koppeling it follows (koppeling → tenancy → housed). Without
    a koppeling, a member of another person's household (a nareiziger) signs a first tenancy
    only once that referent is housed, on or before the tenancy's date.
    """

    housing_kind: HousingKind = Field(description="kind of dwelling")
    contract_start: date | None = Field(default=None, description="start of the tenancy")
    landlord: Text | None = Field(default=None, description="housing corporation or landlord")
    address: Text | None = personal("address of the dwelling")


class Housed(TrajectEvent):
    """Gehuisvest: the person moves in (occurred_on: housed on; municipality: where).

    Not dated before the koppeling it uses (route koppeling), nor before a tenancy signed since
    the previous housing (koppeling → tenancy → housed). Through a koppeling (route koppeling)
    the move-in is in the municipality the koppeling links to: that municipality's taakstelling
    is what it realises. A koppeling houses once: a later move takes another route, and a second
    move-in through it is refused, naming the housing that used it. Route nareis is for a
    nareiziger: a member of another person's household (registered with the referent's
    ``household_id``; a derived permit alone is no link) joins a housed referent, so is not
    housed before that referent's first housing; a correction or retraction of the referent's
    housing that would put the referent's first housing after a member's nareis housing (or
    leave the referent not housed) is refused.
    ``counts_for_taakstelling`` is derived; given (stated, or kept by an export), it is recorded
    as given, with a warning when the rule set derives otherwise.
    """

    housing_kind: HousingKind = Field(description="kind of dwelling")
    route: HousingRoute = Field(description="how the person came to be housed here")
    counts_for_taakstelling: bool | None = Field(
        default=None, description="derived by the rule set named in rule_version"
    )
    rule_version: str | None = Field(default=None, description="rule set that derived the flag")


class BrpRegistered(TrajectEvent):
    """Inschrijving in the BRP of the municipality (occurred_on: registered on).

    A ``previous_municipality`` is the one the person came from, not the one registered in.
    """

    previous_municipality: GemeenteCode | None = Field(
        default=None, description="CBS code of the previous municipality"
    )


class _BenefitEvent(TrajectEvent):
    benefit_kind: BenefitKind = Field(description="kind of benefit")
    amount: Amount | None = Field(default=None, description="amount in euro")
    decision_ref: Text | None = Field(default=None, description="decision reference")


class BenefitApplied(_BenefitEvent):
    """Aanvraag uitkering or leenbijstand inrichtingskosten (occurred_on: applied on)."""


class BenefitGranted(_BenefitEvent):
    """A benefit is granted (occurred_on: granted from)."""


class BenefitEnded(_BenefitEvent):
    """A benefit ends (occurred_on: ended on).

    Ends a granted benefit of its kind, not before it was granted.
    """


class OntzorgenStarted(TrajectEvent):
    """Ontzorgen starts: fixed costs paid from the benefit (Wi2021; occurred_on: start).

    The municipality pays them on the person's behalf (Participatiewet art. 56a). For an
    asielstatushouder (an asiel_bt or asiel_afgeleid permit) with a Wi2021 inburgering duty,
    while an algemene_bijstand benefit runs: it starts on or after the benefit's grant and before
    its end. One ontzorgen is open at a time, and it is not dated inside an earlier one.
    It is planned to end 6 months after its start (the ontzorgen rule set in force on the
    start). Items the rule set requires (until April 2023: rent, energy, water and the
    health-insurance premium) and not given are recorded with a warning.
    """

    items: tuple[OntzorgenItem, ...] = Field(
        min_length=1,
        description="fixed costs paid from the benefit, each once",
        examples=["huur"],
    )


class OntzorgenEnded(TrajectEvent):
    """Ontzorgen ends (occurred_on: end).

    Ends the open ontzorgen, not before its start, and at the latest on the day the benefit it
    is paid from ended (it ends with the benefit). An end after the planned end (6 months after
    the start) is recorded with a warning.
    """

    end_reason: OntzorgenEndReason | None = Field(default=None, description="why it ended")


# ---------------------------------------------------------------------------------------------
# E. Guidance, coaching and help requests
# ---------------------------------------------------------------------------------------------


class SocialGuidanceStarted(TrajectEvent):
    """Maatschappelijke begeleiding year 1 or 2 starts (occurred_on: start).

    Each year starts once; year 2 follows year 1: it needs year 1 started, and is not dated
    before year 1's start.
    """

    year_no: int = Field(ge=1, le=2, description="guidance year, 1 or 2")
    provider: Text = Field(
        description="provider, e.g. VluchtelingenWerk", examples=["VluchtelingenWerk"]
    )


class SocialGuidanceEnded(TrajectEvent):
    """A guidance year ends (occurred_on: end).

    Ends a year that is open: started, not ended yet, and not dated before its start.
    """

    year_no: int = Field(ge=1, le=2, description="guidance year, 1 or 2")
    reason: Text | None = Field(default=None, description="end reason code")


class CoachAssigned(TrajectEvent):
    """A regisseur, klantmanager or coach takes the person on (occurred_on: from).

    One open assignment per staff member and role: the same staff member is assigned in the
    same role again only after coach-unassigned ends the first.
    """

    staff_id: StaffName = staff_name("staff member's user name")
    role: StaffRole = Field(description="role of the staff member")


class CoachUnassigned(TrajectEvent):
    """A staff member hands the person over (occurred_on: to).

    Ends an open assignment of the staff member in that role, not before it began.
    """

    staff_id: StaffName = staff_name("staff member's user name")
    role: StaffRole = Field(description="role of the staff member")


class HelpRequestRecorded(TrajectEvent):
    """A hulpvraag at the spreekuur (occurred_on: asked on)."""

    category: HelpCategory = Field(description="category of the help request")
    channel: Text = Field(default="spreekuur", description="spreekuur, telefoon, huisbezoek, …")
    referred_to: Text | None = Field(default=None, description="organisation referred to")
    resolved: bool = Field(default=False, description="resolved at the contact")
    note: Text | None = personal("free-text note")


# ---------------------------------------------------------------------------------------------
# F. Inburgering
# ---------------------------------------------------------------------------------------------


class InburgeringDutyEstablished(TrajectEvent):
    """DUO's kennisgeving inburgeringsplicht (occurred_on: notified on).

    The regime and the Wi2013 sub-cohort flags are derived once, from duty_start, by the rule
    set named in rule_version, and stored: they are never recomputed. A regime or flag given
    (as DUO stated it) is recorded as given, with a warning when it differs from what the rule
    set derives from duty_start (a flag not given acts as false). A ``term_end`` DUO states
    lies after ``duty_start``. A duty recorded after a PIP version 1 dated before its start is
    recorded with a warning (one of the two dates is wrong).
    """

    duty_start: date = Field(description="start of the obligation")
    regime: Regime | None = Field(default=None, description="derived from duty_start if omitted")
    term_end: date | None = Field(default=None, description="term end as stated by DUO (Wi2013)")
    ona_required: bool | None = Field(default=None, description="derived: Wi2013 from 2015")
    pvt_required: bool | None = Field(default=None, description="derived: from 2017-10-01")
    duo_ref: Text | None = Field(default=None, description="DUO reference")
    rule_version: str | None = Field(default=None, description="rule set used for derivation")

    @model_validator(mode="before")
    @classmethod
    def _derive(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("duty_start") and data.get("regime") is None:
            start = date.fromisoformat(str(data["duty_start"]))
            data = {
                **data,
                "regime": rules.derive_regime(start),
                "ona_required": rules.ona_required(start),
                "pvt_required": rules.pvt_required(start),
                "rule_version": rules.rules_on(start).version,
            }
        return data


class ExemptionGranted(TrajectEvent):
    """Vrijstelling decided by DUO (occurred_on: decided on).

    ``ground`` is free text that can hold health data: personal from class version 2. A fact
    stored by version 1 holds it in clear (its bytes stay, also after the person's erasure,
    when it reads as erased).
    """

    class_version: ClassVar[int] = 2  # v2: ground is personal
    personal_since: ClassVar[Mapping[str, int]] = {"ground": 2}
    component: ExamComponent | None = Field(default=None, description="component, or all")
    ground: Text | None = personal("free-text ground of the exemption")
    decided_by: Text = Field(default="DUO", description="deciding body")

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Version 1 stored ``ground`` in clear: it loads as stored (stored events are
        immutable); written again, it is encrypted."""


class DispensationGranted(TrajectEvent):
    """Ontheffing decided by DUO (occurred_on: decided on).

    ``ground`` is free text that is often medical: personal from class version 2. A fact
    stored by version 1 holds it in clear (its bytes stay, also after the person's erasure,
    when it reads as erased).
    """

    class_version: ClassVar[int] = 2  # v2: ground is personal
    personal_since: ClassVar[Mapping[str, int]] = {"ground": 2}
    component: ExamComponent | None = Field(default=None, description="component, or all")
    ground: Text | None = personal("free-text ground of the dispensation")
    decided_by: Text = Field(default="DUO", description="deciding body")

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Version 1 stored ``ground`` in clear: it loads as stored (stored events are
        immutable); written again, it is encrypted."""


class BroadIntakeStarted(TrajectEvent):
    """Brede intake starts (Wi2021; occurred_on: started on)."""

    by: StaffName = staff_name("who conducts the intake")


class BroadIntakeCompleted(TrajectEvent):
    """Brede intake completed (Wi2021; occurred_on: completed on).

    Not dated before the start of the brede intake, when one is recorded.
    ``work_experience`` is free text about the person: personal from class version 2. A fact
    stored by version 1 holds it in clear (its bytes stay, also after the person's erasure,
    when it reads as erased).
    """

    class_version: ClassVar[int] = 2  # v2: work_experience is personal
    personal_since: ClassVar[Mapping[str, int]] = {"work_experience": 2}
    by: StaffName = staff_name("who conducted the intake")
    education_level: Text | None = Field(default=None, description="highest education")
    work_experience: Text | None = personal("free-text summary of work experience")
    health_barrier: bool | None = special_category("categorical flag: health is a barrier")

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Version 1 stored ``work_experience`` in clear: it loads as stored (stored events
        are immutable); written again, it is encrypted."""


class LearnabilityTestTaken(TrajectEvent):
    """Leerbaarheidstoets (occurred_on: taken on)."""

    outcome: Text = Field(description="outcome of the test", examples=["B1 haalbaar"])
    test_ref: Text | None = Field(default=None, description="test reference")


class PipAdopted(TrajectEvent):
    """PIP vastgesteld (Wi2021; occurred_on: the dagtekening).

    The first PIP is version 1; each later version is numbered above the latest and not dated
    before it (a revision follows the PIP it revises). Version 1 is not dated before the start
    of the inburgering duty recorded: its dagtekening starts the term.
    """

    version: int = Field(ge=1, description="PIP version; 1 starts the inburgeringstermijn")
    leerroute: LearningRoute = Field(description="learning route")
    hoofddoel: MainGoal = Field(description="main goal")
    pvt_intensity: Text = Field(description="intensity of the PVT", examples=["standaard"])
    map_intensity: Text = Field(description="intensity of the MAP", examples=["standaard"])
    decision_ref: Text = Field(
        description="reference of the decision (beschikking)", examples=["PIP-2024-0012"]
    )
    contact_person: StaffName | None = staff_name("contact person", optional=True)


class PipObjectionFiled(TrajectEvent):
    """Bezwaar (objection) against the PIP decision filed (Wi2021; occurred_on: filed on).

    Needs an adopted PIP, and is not dated before the first PIP's dagtekening. One objection is
    open at a time: the next is filed after the open one is decided.
    """


class PipObjectionDecided(TrajectEvent):
    """The objection against the PIP is decided (occurred_on: decided on).

    Decides the open objection, not before it was filed. A decision dated past the decision
    term of the objection rule set in force on the filing is recorded with a warning.
    """

    outcome: ObjectionOutcome = Field(description="the decision on the objection")


class LearningRouteStarted(TrajectEvent):
    """A leerroute starts (occurred_on: start).

    A route other than the leerroute of the latest PIP version is recorded with a warning: the
    PIP decides the route, so a new PIP version comes first.
    """

    route: LearningRoute = Field(description="learning route")
    provider: Text = Field(
        description="language school (keurmerk)", examples=["Taalschool De Brug"]
    )
    contract_id: Text | None = Field(default=None, description="contract reference")
    alfabetisering: bool = Field(default=False, description="includes literacy training")


class LearningRouteChanged(TrajectEvent):
    """The leerroute changes (occurred_on: change date).

    A route other than the leerroute of the latest PIP version is recorded with a warning: the
    PIP decides the route, so a new PIP version comes first.
    """

    route: LearningRoute = Field(description="new learning route")
    provider: Text = Field(
        description="language school (keurmerk)", examples=["Taalschool De Brug"]
    )


class DowngradedToA2(TrajectEvent):
    """Afschalen B1→A2 (occurred_on: decided on)."""

    evidence_ref: Text | None = Field(default=None, description="decision reference")


class CourseComponent(StrEnum):
    NT2 = "NT2"
    KNM = "KNM"
    ALFA = "alfa"
    PARTICIPATIE = "participatie"
    MAP = "MAP"
    PVT = "PVT"
    TAALSCHAKEL = "taalschakel"


class CourseHoursReported(TrajectEvent):
    """Hours attended in a period (occurred_on: end of the period)."""

    period_from: date = Field(
        description="first day of the reported period", examples=["2024-02-01"]
    )
    component: CourseComponent = Field(description="course component")
    hours_attended: Hours = Field(description="hours attended", examples=["40"])
    hours_excused: Hours = Field(default=Decimal(0), description="excused absence")
    hours_unexcused: Hours = Field(default=Decimal(0), description="unexcused absence")
    provider: Text | None = Field(default=None, description="provider")

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.period_from > self.occurred_on:
            raise FieldRuleError("period_from", "must not be after the end of the period (--on)")
        return self


class PvtCompleted(TrajectEvent):
    """Participatieverklaring signed (occurred_on: signed on).

    Reported to DUO on or after the day it was signed. Under Wi2021 a PVT of fewer hours than
    the rule set's minimum (12) is recorded with a warning. Signed once per inburgering duty: a
    second PVT for the same duty (one signed on or after its start) is refused; a new duty,
    after one fulfilled, takes its own.
    """

    provider: Text = Field(description="PVT provider", examples=["VluchtelingenWerk"])
    hours: Hours = Field(description="hours of the PVT course", examples=["12"])
    activity_id: Text | None = Field(default=None, description="group activity (ceremony)")
    reported_to_duo_on: date | None = past_date("date reported to DUO")


class MapCompleted(TrajectEvent):
    """Module Arbeidsmarkt en Participatie completed (Wi2021; occurred_on: completed on)."""

    result: Text = Field(default="afgerond", description="result")


class OnaMode(StrEnum):
    EINDGESPREK = "eindgesprek"
    CURSUS_64U = "cursus_64u"


class OnaCompleted(TrajectEvent):
    """ONA completed (Wi2013; occurred_on: completed on)."""

    mode: OnaMode = Field(description="how ONA was completed")


class ExamResultRecorded(TrajectEvent):
    """Examenuitslag for one component and attempt (occurred_on: exam date).

    One result per attempt: a second result for the same component, level and attempt number
    is refused (correct the recorded one instead).
    """

    component: ExamComponent = Field(description="exam component")
    level: ExamLevel = Field(description="exam level")
    result: ExamOutcome = Field(description="passed or failed")
    attempt_no: int = Field(default=1, ge=1, le=20, description="attempt number")
    result_date: date | None = past_date("date of the result")
    grade: Text | None = Field(default=None, description="grade")
    free_attempt: bool | None = Field(default=None, description="a free attempt")

    @model_validator(mode="after")
    def _result_after_exam(self) -> Self:
        if self.result_date is not None and self.result_date < self.occurred_on:
            raise FieldRuleError("result_date", "must not be before the exam date (--on)")
        return self


class ZRouteFinalInterviewHeld(TrajectEvent):
    """Eindgesprek of the Z-route held (Wi2021; occurred_on: held on).

    Only while the person's leerroute is Z; once one is held with outcome voldaan (the Z-route
    completed), no other is.
    """

    outcome: FinalInterviewOutcome = Field(description="whether the Z-route is completed")


class LanguageLevelAssessed(TrajectEvent):
    """Language level assessed (occurred_on: assessed on)."""

    skill: Text = Field(default="overall", description="skill assessed")
    cefr: Cefr = Field(description="CEFR level")
    method: Text = Field(description="assessment method", examples=["intaketoets"])
    context: AssessmentContext = Field(description="entry, interim or exit")
    project_id: ProjectCode | None = Field(default=None, description="AMIF project code")


class TermExtended(TrajectEvent):
    """DUO extends the inburgeringstermijn (occurred_on: decided on).

    Extends the term of the person's inburgering duty: ``new_end`` is after the term end as it
    stands (the latest extension, else PIP version 1 plus the term under Wi2021, else the term
    end DUO stated), or, when none is known, after the decision.
    ``ground`` is free text that can hold health data: personal from class version 2. A fact
    stored by version 1 holds it in clear (its bytes stay, also after the person's erasure,
    when it reads as erased).
    """

    class_version: ClassVar[int] = 2  # v2: ground is personal
    personal_since: ClassVar[Mapping[str, int]] = {"ground": 2}
    new_end: date = Field(description="new term end", examples=["2027-09-04"])
    ground: Text | None = personal("free-text ground of the extension")

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Version 1 stored ``ground`` in clear: it loads as stored (stored events are
        immutable); written again, it is encrypted."""


class FineImposed(TrajectEvent):
    """A fine (occurred_on: imposed on)."""

    component: Text = Field(description="leerroute, PVT, MAP or diploma", examples=["leerroute"])
    amount: Amount = Field(description="amount in euro", examples=["500"])


class FineWithdrawn(TrajectEvent):
    """A fine is withdrawn (occurred_on: withdrawn on)."""

    component: Text = Field(description="leerroute, PVT, MAP or diploma", examples=["leerroute"])
    reason: Text = Field(
        description="e.g. HvJ EU 4-2-2025 / RvS 9-7-2025", examples=["RvS 9-7-2025"]
    )


class DuoLoanGranted(TrajectEvent):
    """Wi2013 DUO loan granted (occurred_on: granted on)."""

    amount: Amount = Field(description="amount in euro", examples=["6500"])


class DuoLoanWaived(TrajectEvent):
    """Wi2013 DUO loan waived (occurred_on: waived on)."""

    amount: Amount = Field(description="amount in euro", examples=["6500"])


class DuoLoanReclaimed(TrajectEvent):
    """Wi2013 DUO loan reclaimed (occurred_on: reclaimed on).

    After a DUO loan is granted, not dated before the first grant, and not more than the loan
    still outstanding (granted, less what was waived or reclaimed before).
    """

    amount: Amount = Field(description="amount in euro", examples=["1200"])


class InburgeringDutyFulfilled(TrajectEvent):
    """Inburgeringsplicht voldaan (occurred_on: fulfilled on).

    Fulfils the person's open inburgering duty, once, and not before the duty's start. After
    it no brede intake, PIP, leerroute, afschalen, term extension or Z-route eindgesprek of
    that duty is dated.
    """

    basis: FulfilmentBasis = Field(description="basis of fulfilment")


# ---------------------------------------------------------------------------------------------
# G. Participation and outflow
# ---------------------------------------------------------------------------------------------


class LadderAssessed(TrajectEvent):
    """Participatieladder assessment (occurred_on: assessed on)."""

    rung: int = Field(ge=1, le=6, description="rung 1 (isolated) to 6 (paid work)")
    assessor: StaffName = staff_name("who assessed")


class ProfileUpdated(TrajectEvent):
    """Occupational direction, education, language level (occurred_on: updated on).

    Gives at least one of them; one not given keeps its earlier value.
    """

    occupation_direction: Text | None = Field(
        default=None, description="e.g. zorg, techniek", examples=["zorg"]
    )
    education: Text | None = Field(default=None, description="education level", examples=["mbo-2"])
    language_level: Cefr | None = Field(
        default=None, description="Dutch language level", examples=["A2"]
    )


class CertificateObtained(TrajectEvent):
    """A certificate such as VCA or mbo-1 (occurred_on: obtained on)."""

    certificate_kind: Text = Field(description="kind of certificate, e.g. VCA", examples=["VCA"])
    issuer: Text = Field(description="issuer", examples=["examencentrum"])


class OutflowStarted(TrajectEvent):
    """Uitstroom starts (occurred_on: started on).

    Several types may be open at once (part-time work beside volunteering), but one outflow of
    a type at a time: a second start of an open type is refused. Outflows of one type do not
    overlap: a start recorded late is refused when it is dated inside an ended outflow of its
    type (on or after that outflow's start, before its end); the day it ended is fine.
    ``hours_per_week`` is at most 168, the hours in a week.
    """

    outflow_type: OutflowType = Field(description="type of outflow")
    hours_per_week: Hours | None = Field(default=None, description="contract hours per week")
    contract_kind: Text | None = Field(default=None, description="kind of contract")
    benefit_after: BenefitAfter | None = Field(default=None, description="benefit after outflow")


class OutflowEnded(TrajectEvent):
    """Uitstroom ends; the person may fall back (occurred_on: ended on).

    Ends the open outflow of its type, and is not dated before its start. An outflow recorded
    late must end before (not on) the day a later ended outflow of its type began (outflows of
    one type do not overlap).
    """

    outflow_type: OutflowType = Field(description="type of the outflow that ends")
    reason: Text = Field(description="end reason", examples=["contract niet verlengd"])


class QualificationRecognitionApplied(TrajectEvent):
    """Diplomawaardering applied for (occurred_on: applied on)."""

    issuer: Text = Field(default="IDW", description="body assessing the qualification")
    project_id: ProjectCode | None = Field(default=None, description="AMIF project code")


class LongTermResidenceApplied(TrajectEvent):
    """Application for permanent / EU long-term residence (occurred_on: applied on).

    The residence kind is onbepaalde_tijd or eu_langdurig: the permit applied for.
    """

    residence_kind: PermitKind = Field(
        description="onbepaalde_tijd or eu_langdurig", examples=["onbepaalde_tijd"]
    )
    project_id: ProjectCode | None = Field(default=None, description="AMIF project code")


class MovedOut(TrajectEvent):
    """The person moved or left (occurred_on: moved on).

    A destination municipality is given only for a move within the Netherlands (destination
    gemeente), and is another municipality than the one moved out of. A second move-out on the
    same day, with no arrival (housing, BRP registration, koppeling) or reopening since the
    first, is recorded with a warning (the same move entered twice, most often). An arrival
    dated after the move ends it: the person is a client of the municipality they arrived in.
    """

    destination: Destination = Field(description="where to")
    destination_municipality: GemeenteCode | None = Field(
        default=None, description="CBS code when moving within NL"
    )


class CaseClosed(TrajectEvent):
    """The case is closed; reopenable (occurred_on: closed on).

    Closes an open case; a reopened case closes again no earlier than the day it was reopened.
    A fact dated after the closure, while the case is closed, is recorded with a warning (reopen
    the case first when the person is back in care), unless it closes what was left open, as
    after a death.
    """

    reason: CaseCloseReason = Field(description="why the case closes")


class CaseReopened(TrajectEvent):
    """A closed case is reopened (occurred_on: reopened on).

    Reopens a closed case, not dated before the day it closed.
    """

    reason: Text | None = personal("why the case is reopened (free text)")


class Deceased(TrajectEvent):
    """The person died (occurred_on: date of death); recorded once.

    After it, a fact dated after the death is refused unless it closes what the death left
    open: the case, an AMIF participation, a coach's assignment, a guidance, outflow, benefit,
    ontzorgen or reunification file, an objection against the PIP. A fact dated on or before the
    death may still be recorded late. A death recorded late is not dated before a fact of the
    path already recorded (other than those closing facts).
    """


# ---------------------------------------------------------------------------------------------
# H. Family reunification (on the referent's stream)
# ---------------------------------------------------------------------------------------------


class FamilyReunificationAssistanceProvided(TrajectEvent):
    """Help with a family-reunification application (occurred_on: assisted on)."""

    provider: Text = Field(
        description="who assisted, e.g. VluchtelingenWerk", examples=["VluchtelingenWerk"]
    )
    project_id: ProjectCode | None = Field(default=None, description="AMIF project code")


class FamilyReunificationApplied(TrajectEvent):
    """Aanvraag mvv nareis filed by the referent (occurred_on: applied on).

    ``late`` is derived from the referent's asylum permit notice; given (stated, or kept by an
    export), it is recorded as given, with a warning when the rule set derives otherwise. The
    file's IND decision, mvv, arrivals and closing are not dated before it. A correction of
    ``members`` keeps every member already granted (``members_granted``) or arrived.
    """

    file_no: int = Field(default=1, ge=1, description="the referent's file number")
    members: tuple[Relation, ...] = Field(min_length=1, description="relation of each member")
    ind_ref: Text | None = personal("IND reference")
    assisted_by: StaffName | None = staff_name("who assisted", optional=True)
    late: bool | None = Field(
        default=None, description="derived: filed after the nareis window (rule_version)"
    )
    rule_version: str | None = Field(default=None, description="rule set that derived `late`")


class FamilyReunificationDecided(TrajectEvent):
    """IND decision on a file (occurred_on: decided on).

    ``members_granted`` is at most the number of members the file applied for.
    """

    file_no: int = Field(default=1, ge=1, description="the referent's file number")
    outcome: ReunificationOutcome = Field(description="decision")
    members_granted: int | None = Field(default=None, ge=0, description="members granted")


class MvvIssued(TrajectEvent):
    """Mvv issued to a member (occurred_on: issued on; valid 90 days).

    The member's relation is one the file applied for, as is an arrival's.
    """

    file_no: int = Field(default=1, ge=1, description="the referent's file number")
    relation: Relation = Field(description="relation of the member")


class NareizigerArrived(TrajectEvent):
    """A family member arrives in NL (occurred_on: arrived on).

    A ``member_person_id`` names a person registered in this ledger before, other than the
    referent whose stream this is, also when a correction sets it. The member's relation is one
    the file applied for, and a member arrives once: no more arrivals of a relation than the
    file applied for members of it.
    """

    file_no: int = Field(default=1, ge=1, description="the referent's file number")
    relation: Relation = Field(description="relation of the member")
    member_person_id: UUID | None = Field(
        default=None, description="the nareiziger's own person id, once registered"
    )
    ind_location: Text | None = Field(default=None, description="IND registration location")


class FamilyReunificationClosed(TrajectEvent):
    """The reunification file is closed (occurred_on: closed on)."""

    file_no: int = Field(default=1, ge=1, description="the referent's file number")
    closure: ReunificationClosure = Field(description="outcome of the file")


# ---------------------------------------------------------------------------------------------
# AMIF participation (on the person's stream, with project_id)
# ---------------------------------------------------------------------------------------------


class ParticipantEnrolled(TrajectEvent):
    """Enrolment in an AMIF project, eligibility checked at enrolment (occurred_on: enrolled on)."""

    project_id: ProjectCode = Field(description="AMIF project code")
    tcn: bool = Field(description="third-country national at enrolment")
    permit_kind: PermitKind = Field(description="permit checked at enrolment")
    permit_valid: bool = Field(description="permit valid on the enrolment date")
    checked_on: date = past_date("date eligibility was checked", optional=False)
    checked_by: StaffName = staff_name("who checked eligibility")
    eligibility_evidence_ref: Text = Field(
        description="reference of the eligibility evidence", examples=["BRP-uittreksel 2024-031"]
    )
    consent_ref: Text = Field(
        description="reference of the signed consent / privacy notice",
        examples=["toestemming 2024-031"],
    )
    referred_by: Text | None = Field(default=None, description="referring organisation")


class ServiceDelivered(TrajectEvent):
    """A service delivered to a participant (occurred_on: from).

    Needs the person's enrolment in the project; dated from the enrolment up to the exit. Its
    last day (``until``) is not before its first.
    """

    class_version: ClassVar[int] = 2  # v2 added activity_type
    project_id: ProjectCode = Field(description="AMIF project code")
    category: ServiceCategory = Field(description="Annex VIII service category")
    until: date | None = Field(default=None, description="last day of the service")
    hours: Hours = Field(description="hours delivered", examples=["2"])
    activity_id: Text | None = Field(default=None, description="group activity")
    activity_type: Text | None = Field(
        default=None,
        description="local activity type (taalcafe, vca_cursus, …); when the AMIF rule set maps "
        "it, the mapped category is what counts",
    )

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Version 1 had no activity type."""
        state["activity_type"] = None


class ParticipantFeedbackRecorded(TrajectEvent):
    """Voluntary feedback: was the activity helpful (occurred_on: given on).

    Needs the person's enrolment in the project; dated from the enrolment up to the exit.
    """

    project_id: ProjectCode = Field(description="AMIF project code")
    helpful: Helpful = Field(description="helpful for integration")
    instrument_ref: Text | None = Field(default=None, description="questionnaire reference")


class ParticipantExited(TrajectEvent):
    """A participant leaves the project (occurred_on: exited on).

    Once per enrolment, not dated before it. Nothing of the project is dated after the exit;
    a service or feedback recorded later but dated up to the exit day is accepted.
    """

    project_id: ProjectCode = Field(description="AMIF project code")
    reason: Text = Field(description="exit reason", examples=["werk gevonden"])
    completed: bool = Field(description="completed the programme")


# ---------------------------------------------------------------------------------------------
# Corrections, retractions, erasure, retention and legal holds (control events)
# ---------------------------------------------------------------------------------------------


class EventCorrected(TrajectEvent):
    """A compensating correction of an earlier event in the same stream.

    ``changes`` holds new values of non-personal fields; ``personal_changes`` holds new values
    of personal fields and is encrypted like every personal field.
    """

    target_version: int = Field(ge=1, description="version of the corrected event")
    changes: dict[str, ChangeValue] = Field(default_factory=dict, description="field=value")
    personal_changes: dict[str, ChangeValue] | None = personal("new values of personal fields")
    reason: Text | None = personal("why the correction was made")


class EventRetracted(TrajectEvent):
    """An earlier event is withdrawn as if it had not happened; it stays in the history."""

    target_version: int = Field(ge=1, description="version of the retracted event")
    reason: Text | None = personal("why the event was retracted")


class PersonalDataShredded(TrajectEvent):
    """The stream's data key was destroyed: its personal fields read as erased.

    Only recorded when no retention basis is open on the day of erasure and no legal hold is
    open on the person or on an AMIF project they took part in (``ledger.retention``), and once
    per person. Saved in one transaction with the key's destruction, the removal of the
    person's BSN hash and the deletion of their external keys (a source's client numbers). The
    last fact of the person's stream: nothing is recorded after it, with personal fields or
    without (a person who comes back is registered anew, as a new person).
    """

    approved_by: StaffName = staff_name("who approved the erasure")


class RetentionScheduled(TrajectEvent):
    """The ledger's computation of how long one retention basis keeps a person's data.

    Written by ``traject person schedule-retention`` from the person's facts and the retention
    rule set named in rule_version; informational: erasure is decided from the facts at the
    time of erasure, never from a recorded schedule, so a schedule cannot go stale.
    """

    basis: RetentionBasisKind = Field(description="the retention basis")
    project_id: ProjectCode | None = Field(
        default=None, description="the AMIF project, for basis amif_evidence"
    )
    delete_after: date | None = Field(
        default=None,
        description="last day the data must be kept; empty: open until a fact is recorded "
        "(the case closed, the final grant payment)",
    )
    rule_version: str = Field(description="retention rule set that computed delete_after")


class LegalHoldPlaced(TrajectEvent):
    """A legal hold (audit, objection, litigation) suspends erasure (occurred_on: placed on).

    On a person stream it holds that person; on a project stream it holds every participant
    of the project (an AMIF audit or a Commission request interrupts the retention clock). It
    is open from the day it is placed until the day it is released.
    """

    hold_ref: Text = Field(
        description="reference of the hold: the audit, objection or case number; unique among "
        "the stream's open holds"
    )
    reason: Text = Field(
        description="why the hold is placed (kept after erasure: no personal data here)"
    )


class LegalHoldReleased(TrajectEvent):
    """An open legal hold is lifted (occurred_on: released on).

    Not dated before the day the hold was placed.
    """

    hold_ref: Text = Field(description="reference of the open hold that is released")
    reason: Text = Field(description="why the hold is released (no personal data here)")


FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
"""The name of an event field, e.g. ``health_barrier``."""


class SpecialCategoryRead(TrajectEvent):
    """Special-category values (GDPR Art. 9) were shown in clear (occurred_on: the day read).

    Recorded by the command that shows them (`traject timeline --purpose`, `traject export
    --include-personal --purpose`) before it shows them: who read which fields, with which
    command, and why. Holds no personal data: the fields are named, never their values. Changes
    nothing in the trajectory and no read model counts it; never corrected or retracted.
    """

    read_by: Text = staff_name(
        "who read the values (the user; kept when the fact is exported and imported)"
    )
    command: Text = Field(description="the command that showed them, e.g. timeline")
    field_names: tuple[FieldName, ...] = Field(
        min_length=1, description="the special-category fields whose values were shown"
    )
    purpose: Text = Field(
        description="why they were read, as stated with --purpose (no personal data here)"
    )


# ---------------------------------------------------------------------------------------------
# Municipality stream
# ---------------------------------------------------------------------------------------------


class TaakstellingSet(TrajectEvent):
    """The half-yearly housing quota of a municipality (occurred_on: set on)."""

    stream: ClassVar[StreamKind] = StreamKind.MUNICIPALITY

    period: PeriodText = Field(description="half-year, e.g. 2024H1")
    target: int = Field(
        ge=0, le=100000, description="number of statushouders to house", examples=[40]
    )
    source_ref: Text = Field(
        description="circulaire or decision reference", examples=["circulaire 2024-I"]
    )
    carry_in: int | None = Field(default=None, description="balance carried in, if stated")


class TaakstellingCorrected(TrajectEvent):
    """A corrected taakstelling for a half-year (occurred_on: corrected on)."""

    stream: ClassVar[StreamKind] = StreamKind.MUNICIPALITY

    period: PeriodText = Field(description="half-year, e.g. 2024H1")
    target: int = Field(ge=0, le=100000, description="corrected target", examples=[42])
    source_ref: Text = Field(
        description="reference of the correction", examples=["circulaire 2024-I, correctie"]
    )


class HousingRealisationConfirmed(TrajectEvent):
    """The official realisation figure for a half-year, for reconciliation (occurred_on)."""

    stream: ClassVar[StreamKind] = StreamKind.MUNICIPALITY

    period: PeriodText = Field(description="half-year, e.g. 2024H1")
    official_realised: int = Field(
        ge=0, description="realisation according to COA/province", examples=[38]
    )
    confirmed_by: Text = Field(description="source of the figure", examples=["COA"])


class ReportSealed(TrajectEvent):
    """A report's figures as delivered, sealed in the ledger (occurred_on: the day it was sealed).

    Written by ``traject report seal``, which runs the report as known at ``as_known_at``:
    ``result_json`` is the report's JSON without its ``basis``, as canonical JSON (keys sorted,
    compact), and ``digest`` its SHA-256, so the figures stay readable after a rule change.
    ``read_models`` names the version of each read model the report was counted from, so that
    a restatement can name the definition changes since; a seal of class version 1 (before
    2026-12-07) did not record them and reads as null.
    Aggregate figures only: no personal data. Never corrected: a restatement sits beside it.
    """

    class_version: ClassVar[int] = 2  # v2 added read_models
    stream: ClassVar[StreamKind] = StreamKind.MUNICIPALITY

    label: Text = Field(description="what was delivered, e.g. Q2 dashboard, raad 2024-07-10")
    command: tuple[Text, ...] = Field(
        min_length=2, description="the report command and its arguments: report outflow …"
    )
    as_known_at: AwareDatetime = Field(description="the knowledge cut-off the report ran with")
    last_notification_id: int = Field(ge=0, description="last event recorded by as_known_at")
    rule_version: Text = Field(description="rule set the figures were counted with")
    digest: Sha256 = Field(description="SHA-256 of result_json, lowercase hex")
    result_json: Annotated[str, StringConstraints(min_length=2)] = Field(
        description="the report's JSON result without its basis, as canonical JSON"
    )
    read_models: dict[FieldName, Annotated[int, Field(ge=1)]] | None = Field(
        default=None,
        description="the version of each read model the report was counted from, e.g. "
        "outflow=4; absent in seals made before traject recorded it",
    )

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Version 1 did not record the read models' versions."""
        state["read_models"] = None


# ---------------------------------------------------------------------------------------------
# Project stream (AMIF operation)
# ---------------------------------------------------------------------------------------------


class ProjectRegistered(TrajectEvent):
    """An AMIF project (operation) and its targets (occurred_on: grant decision date)."""

    stream: ClassVar[StreamKind] = StreamKind.PROJECT

    project_code: ProjectCode = Field(description="short project code, e.g. MWP")
    title: Text = Field(description="project title", examples=["Meedoen werkt"])
    fund: Fund = Field(description="fund and programme period")
    specific_objective: Text = Field(default="SO2", description="specific objective")
    beneficiary: Text = Field(
        description="beneficiary organisation", examples=["Gemeente Vlaardingen"]
    )
    beneficiary_kind: BeneficiaryKind = Field(description="kind of beneficiary")
    grant_ref: Text = Field(description="grant decision reference", examples=["AMIF-2021-0042"])
    eligibility_from: date = Field(
        description="first day of the eligibility window", examples=["2024-01-01"]
    )
    eligibility_to: date = Field(
        description="last day of the eligibility window", examples=["2027-12-31"]
    )
    cofin_rate: Decimal = Field(
        ge=0, le=1, description="EU co-financing rate, e.g. 0.75", examples=["0.75"]
    )
    target_total: int = Field(ge=0, description="total participant target", examples=[120])
    targets_by_municipality: dict[GemeenteCode, int] = Field(
        default_factory=dict, description="participant targets per municipality, GM0622=40"
    )
    partner_municipalities: tuple[GemeenteCode, ...] = Field(
        default=(), description="participating municipalities"
    )

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.eligibility_to < self.eligibility_from:
            raise FieldRuleError("eligibility_to", "must not be before eligibility_from")
        if sum(self.targets_by_municipality.values()) > self.target_total:
            raise FieldRuleError(
                "targets_by_municipality", "must not add up to more than target_total"
            )
        return self


class StaffTimeRecorded(TrajectEvent):
    """Hours a staff member worked on the project, from a time sheet (occurred_on: date worked)."""

    stream: ClassVar[StreamKind] = StreamKind.PROJECT

    staff_id: StaffName = staff_name("staff member's user name")
    hours: Hours = Field(description="hours worked on the project", examples=["6"])
    activity: Text = Field(
        description="what the hours were spent on", examples=["intake deelnemers"]
    )
    person_id: UUID | None = Field(default=None, description="the participant served, if one")


class CostRecorded(TrajectEvent):
    """An eligible project cost, from an invoice or allocation (occurred_on: booking date)."""

    stream: ClassVar[StreamKind] = StreamKind.PROJECT

    amount: Amount = Field(description="amount in euro", examples=["1250"])
    category: CostCategory = Field(description="budget category")
    period: ReportingPeriodText = Field(description="period the cost belongs to: 2021, 2021H1")
    doc_ref: Text = Field(
        description="invoice, time sheet or allocation-key reference", examples=["factuur 2021-117"]
    )


class ExpenditureDeclared(TrajectEvent):
    """Expenditure declared to the grant executor for a period (occurred_on: declared on)."""

    stream: ClassVar[StreamKind] = StreamKind.PROJECT

    declaration_ref: Text = Field(description="reference of the declaration", examples=["D-2021-1"])
    period: ReportingPeriodText = Field(description="period declared: 2021, 2021H1")
    amount: Amount = Field(description="amount declared in euro", examples=["25000"])


class GrantPaymentReceived(TrajectEvent):
    """A payment of the grant to the beneficiary (occurred_on: paid on).

    The payment marked final (the saldo after the vaststelling) fixes the last payment: the
    CPR Art. 82 retention of the project's participant evidence runs from 31 December of its
    year. Until one is recorded the retention basis of the project stays open.
    """

    stream: ClassVar[StreamKind] = StreamKind.PROJECT

    payment_ref: Text = Field(description="reference of the payment", examples=["UVB-betaling 1"])
    amount: Amount = Field(description="amount paid in euro", examples=["20000"])
    final: bool = Field(
        default=False, description="the last payment to the beneficiary (saldobetaling)"
    )


class ManagementVerificationRecorded(TrajectEvent):
    """A management verification or audit of the project (occurred_on: verified on)."""

    stream: ClassVar[StreamKind] = StreamKind.PROJECT

    by: VerifyingBody = Field(description="verifying body")
    scope: Text = Field(
        description="what was verified, e.g. declaration 2021", examples=["declaratie 2021"]
    )
    outcome: VerificationOutcome = Field(description="outcome")
    findings_ref: Text | None = Field(default=None, description="reference of the findings")


EVENT_CLASSES: tuple[type[TrajectEvent], ...] = tuple(
    cls
    for cls in list(globals().values())
    if isinstance(cls, type)
    and issubclass(cls, TrajectEvent)
    and cls is not TrajectEvent
    and not cls.__name__.startswith("_")
)
"""Every concrete event class, in declaration order."""

HOLD_EVENTS: tuple[type[TrajectEvent], ...] = (LegalHoldPlaced, LegalHoldReleased)
"""Legal holds: on a person stream or on a project stream."""

CONTROL_EVENTS: tuple[type[TrajectEvent], ...] = (
    EventCorrected,
    EventRetracted,
    PersonalDataShredded,
    RetentionScheduled,
    *HOLD_EVENTS,
    ReportSealed,
    SpecialCategoryRead,
)
"""Facts about the record rather than the trajectory: written by commands of their own, never
by ``traject record``, allowed after death, and never corrected or retracted themselves."""
