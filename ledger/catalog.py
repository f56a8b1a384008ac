"""The event catalog: one entry per event class, the single source of the CLI, imports and docs.

Field names, types, descriptions and required/optional come from the pydantic models in
``ledger.events``; an entry adds only what the model cannot say: the CLI name, the Dutch term
with its gloss, what ``occurred_on`` means for the event, and import column aliases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic.fields import FieldInfo

from ledger import events as ev

DUTCH_TERMS: dict[type[ev.TrajectEvent], str] = {
    ev.PersonRegistered: "inschrijving in traject (registration in the ledger)",
    ev.ResidencePermitRecorded: "verblijfsvergunning (residence permit)",
    ev.NaturalisationGranted: "naturalisatie (naturalisation)",
    ev.PreIntegrationRecorded: "voorinburgering (pre-integration at COA)",
    ev.CoaLinked: "koppeling (COA's linking to a municipality)",
    ev.CoaLinkWithdrawn: "koppeling ingetrokken (link withdrawn)",
    ev.TenancySigned: "huurcontract getekend (tenancy signed)",
    ev.Housed: "gehuisvest (housed, move-in)",
    ev.BrpRegistered: "inschrijving BRP (population register)",
    ev.BenefitApplied: "aanvraag uitkering / leenbijstand (benefit application)",
    ev.BenefitGranted: "uitkering toegekend (benefit granted)",
    ev.BenefitEnded: "uitkering beëindigd (benefit ended)",
    ev.OntzorgenStarted: "ontzorgen gestart (fixed costs paid from the benefit)",
    ev.OntzorgenEnded: "ontzorgen beëindigd (ontzorgen ended)",
    ev.SocialGuidanceStarted: "maatschappelijke begeleiding (social guidance) gestart",
    ev.SocialGuidanceEnded: "maatschappelijke begeleiding beëindigd",
    ev.CoachAssigned: "regisseur / klantmanager / coach toegewezen",
    ev.CoachUnassigned: "regisseur / coach overgedragen (handed over)",
    ev.HelpRequestRecorded: "hulpvraag (help request at the spreekuur)",
    ev.InburgeringDutyEstablished: "kennisgeving inburgeringsplicht (DUO notice of the duty)",
    ev.ExemptionGranted: "vrijstelling (exemption)",
    ev.DispensationGranted: "ontheffing (dispensation)",
    ev.BroadIntakeStarted: "brede intake gestart (broad intake started)",
    ev.BroadIntakeCompleted: "brede intake afgerond (broad intake completed)",
    ev.LearnabilityTestTaken: "leerbaarheidstoets (learnability test)",
    ev.PipAdopted: "PIP vastgesteld (personal integration and participation plan adopted)",
    ev.PipObjectionFiled: "bezwaar PIP ingediend (objection against the PIP filed)",
    ev.PipObjectionDecided: "beslissing op bezwaar PIP (objection decided)",
    ev.LearningRouteStarted: "leerroute gestart (learning route started)",
    ev.LearningRouteChanged: "leerroute gewijzigd (learning route changed)",
    ev.DowngradedToA2: "afschalen B1 naar A2 (downgrade of exams)",
    ev.CourseHoursReported: "gevolgde uren / verzuim (hours attended / absence)",
    ev.PvtCompleted: "participatieverklaring ondertekend (PVT signed)",
    ev.MapCompleted: "MAP afgerond (labour-market and participation module)",
    ev.OnaCompleted: "ONA afgerond (orientation on the Dutch labour market)",
    ev.ExamResultRecorded: "examenuitslag (exam result)",
    ev.ZRouteFinalInterviewHeld: "eindgesprek Z-route (final interview of the Z-route)",
    ev.LanguageLevelAssessed: "taalniveau (language level)",
    ev.TermExtended: "verlenging termijn (term extension)",
    ev.FineImposed: "boete (fine)",
    ev.FineWithdrawn: "boete ingetrokken (fine withdrawn)",
    ev.DuoLoanGranted: "lening DUO verstrekt (Wi2013 loan)",
    ev.DuoLoanWaived: "lening DUO kwijtgescholden (loan waived)",
    ev.DuoLoanReclaimed: "lening DUO teruggevorderd (loan reclaimed)",
    ev.InburgeringDutyFulfilled: "inburgeringsplicht voldaan (duty fulfilled)",
    ev.LadderAssessed: "Participatieladder (participation ladder, rungs 1-6)",
    ev.ProfileUpdated: "beroepsrichting, opleiding (occupational direction, education)",
    ev.CertificateObtained: "certificaat (certificate, e.g. VCA)",
    ev.OutflowStarted: "uitstroom (outflow to work, volunteering or education)",
    ev.OutflowEnded: "uitstroom beëindigd (outflow ended)",
    ev.QualificationRecognitionApplied: "diplomawaardering (qualification recognition)",
    ev.LongTermResidenceApplied: "vvr onbepaalde tijd / EU-langdurig (long-term residence)",
    ev.MovedOut: "verhuisd / vertrokken (moved / left)",
    ev.CaseClosed: "dossier gesloten (case closed)",
    ev.CaseReopened: "dossier heropend (case reopened)",
    ev.Deceased: "overleden (deceased)",
    ev.FamilyReunificationAssistanceProvided: "hulp bij gezinshereniging (assistance)",
    ev.FamilyReunificationApplied: "aanvraag mvv nareis (family-reunification application)",
    ev.FamilyReunificationDecided: "beslissing IND (IND decision)",
    ev.MvvIssued: "mvv afgegeven (entry visa issued)",
    ev.NareizigerArrived: "aankomst nareiziger (family member arrived)",
    ev.FamilyReunificationClosed: "dossier nareis afgesloten (file closed)",
    ev.ParticipantEnrolled: "deelnemer ingeschreven (AMIF participant enrolled)",
    ev.ServiceDelivered: "dienstverlening (AMIF service delivered)",
    ev.ParticipantFeedbackRecorded: "deelnemersfeedback (participant feedback)",
    ev.ParticipantExited: "deelnemer uitgestroomd (participant exited)",
    ev.EventCorrected: "correctie (correction)",
    ev.EventRetracted: "intrekking (retraction)",
    ev.PersonalDataShredded: "persoonsgegevens vernietigd (personal data erased)",
    ev.RetentionScheduled: "bewaartermijn berekend (retention term computed)",
    ev.LegalHoldPlaced: "bewaarplicht wegens procedure / audit (legal hold placed)",
    ev.LegalHoldReleased: "bewaarplicht opgeheven (legal hold released)",
    ev.SpecialCategoryRead: "inzage bijzondere persoonsgegevens (special-category data read)",
    ev.TaakstellingSet: "taakstelling (half-yearly housing quota)",
    ev.TaakstellingCorrected: "taakstelling gecorrigeerd (quota corrected)",
    ev.HousingRealisationConfirmed: "realisatie taakstelling (official realisation)",
    ev.ReportSealed: "vastgestelde rapportage (sealed report, as delivered)",
    ev.ProjectRegistered: "AMIF-project (EU-funded integration project)",
    ev.StaffTimeRecorded: "urenregistratie (time sheet)",
    ev.CostRecorded: "kostenpost (eligible project cost)",
    ev.ExpenditureDeclared: "declaratie (expenditure declaration)",
    ev.GrantPaymentReceived: "betaling voorschot / saldo (grant payment to the beneficiary)",
    ev.ManagementVerificationRecorded: "beheersverificatie / audit (management verification)",
}

IMPORT_ALIASES: dict[type[ev.TrajectEvent], dict[str, str]] = {
    # GGM Model Inburgering attribute names accepted as import columns
    ev.PipAdopted: {"DagtekeningInitielePIP": "occurred_on"},
    ev.PvtCompleted: {"DatumOndertekeningPVT": "occurred_on"},
    ev.LearnabilityTestTaken: {"UitkomstLeerbaarheidstoets": "outcome"},
}


def cli_name(cls: type[ev.TrajectEvent]) -> str:
    """``LadderAssessed`` → ``ladder-assessed``; ``ZRouteFinalInterviewHeld`` →
    ``z-route-final-interview-held`` (a capital before a word starts a word of its own)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", cls.__name__).lower()


@dataclass(frozen=True)
class CatalogEntry:
    event: type[ev.TrajectEvent]
    name: str
    dutch: str
    aliases: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.event.__name__

    @property
    def stream(self) -> ev.StreamKind:
        return self.event.stream

    @property
    def summary(self) -> str:
        doc = (self.event.__doc__ or "").strip().splitlines()[0]
        # "(occurred_on: …)" goes; "(Wi2021; occurred_on: …)" keeps "(Wi2021)"
        doc = re.sub(r"\s*\(occurred_on(?::[^)]*)?\)", "", doc)
        doc = re.sub(r";\s*occurred_on:[^)]*\)", ")", doc)
        return doc.rstrip(".") + "."

    @property
    def occurred_on_means(self) -> str:
        match = re.search(r"occurred_on: ([^)]*)\)", self.event.__doc__ or "")
        return match.group(1) if match else "the date it happened"

    @property
    def recordable(self) -> bool:
        """Recorded with ``traject record``; the others have commands of their own."""
        return self.event not in ev.CONTROL_EVENTS and self.event is not ev.PersonRegistered

    def payload_fields(self) -> dict[str, FieldInfo]:
        return {name: self.event.model_fields[name] for name in self.event.payload_fields()}

    def is_personal(self, name: str) -> bool:
        return name in self.event.personal_fields()

    def json_schema(self) -> dict[str, Any]:
        return self.event.model_json_schema()


CATALOG: dict[str, CatalogEntry] = {
    cli_name(cls): CatalogEntry(
        event=cls,
        name=cli_name(cls),
        dutch=DUTCH_TERMS[cls],
        aliases=IMPORT_ALIASES.get(cls, {}),
    )
    for cls in ev.EVENT_CLASSES
}

BY_CLASS: dict[type[ev.TrajectEvent], CatalogEntry] = {e.event: e for e in CATALOG.values()}


def entry(name_or_kind: str) -> CatalogEntry:
    """Look an entry up by CLI name (``ladder-assessed``) or class name (``LadderAssessed``)."""
    if name_or_kind in CATALOG:
        return CATALOG[name_or_kind]
    for item in CATALOG.values():
        if item.kind == name_or_kind:
            return item
    raise KeyError(name_or_kind)
