"""Value objects of the trajectory domain: municipality codes, BSN, periods and enums."""

from __future__ import annotations

import calendar
import operator
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, StringConstraints

GEMEENTE_PATTERN = r"^GM[0-9]{4}$"  # ASCII digits only: \d matches any script

GemeenteCode = Annotated[
    str,
    StringConstraints(pattern=GEMEENTE_PATTERN),
]
"""CBS municipality code, e.g. ``GM0622`` (Vlaardingen)."""

CountryCode = Annotated[str, StringConstraints(pattern=r"^([A-Z]{2}|XXA|XXX)$")]
"""ISO 3166-1 alpha-2 country code, ``XXA`` (stateless) or ``XXX`` (unknown)."""

NUL_RULE = "holds a NUL character (\\u0000), which no text may hold"
"""Why a text with a NUL character is refused: PostgreSQL's text cannot hold one, and a ledger
must hold the same facts in either store."""


def without_nul(text: str) -> str:
    """``text`` as it is, or ValueError (:data:`NUL_RULE`) when it holds a NUL character."""
    if "\x00" in text:
        raise ValueError(NUL_RULE)
    return text


TEXT_MAX_LENGTH = 200
Text = Annotated[
    str,
    StringConstraints(min_length=1, max_length=TEXT_MAX_LENGTH, strip_whitespace=True),
    AfterValidator(without_nul),
]
"""A short free text: 1 to 200 characters once stripped, without a NUL character."""

StaffName = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=TEXT_MAX_LENGTH, strip_whitespace=True, to_lower=True
    ),
    AfterValidator(without_nul),
]
"""A member of staff's user name, as :data:`Text` but in lower case: a login name is the same
in any capitals (``R.Jansen`` is ``r.jansen``), so one member of staff is one name in the
ledger's rules and read models. A name stored in capitals by an earlier release reads the same
way."""


def bsn_is_valid(value: str) -> bool:
    """Return True when ``value`` passes the 11-proef for a BSN (9 digits, 8 with a leading 0).

    9·d1 + 8·d2 + … + 2·d8 − 1·d9 ≡ 0 (mod 11). Passing does not prove the number exists.
    """
    digits = value.strip()
    if not digits.isascii():  # str.isdigit() and int() also accept other scripts' digits
        return False
    if len(digits) == 8 and digits.isdigit():
        digits = "0" + digits
    if len(digits) != 9 or not digits.isdigit() or digits == "000000000":
        return False
    return sum(map(operator.mul, BSN_WEIGHTS, map(int, digits))) % 11 == 0


BSN_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)
"""The 11-proef's weight of each of a BSN's nine digits."""


BSN_RULE = (
    "not a valid BSN: it must be 9 digits (spaces or dots between them are fine) and pass the "
    "11-proef, e.g. 123456782 or 1234.56.782"
)
"""Why a BSN is refused; it never repeats the number given (it may be someone's real BSN)."""


def normalise_bsn(value: str) -> str:
    """Return the 9-digit form of a valid BSN, or raise ValueError naming the 11-proef.

    A BSN is often written in groups, as on a passport or a letter (``1234.56.782``,
    ``123 456 782``): spaces and dots between the digits are left out before the check.
    """
    digits = re.sub(r"[ .]", "", value.strip())
    if not bsn_is_valid(digits):
        raise ValueError(BSN_RULE)
    return digits.zfill(9)


Bsn = Annotated[str, AfterValidator(normalise_bsn)]


def add_months(day: date, months: int) -> date:
    """Add calendar months; a day that does not exist in the target month becomes its last day.

    31 January + 1 month = 28/29 February; 29 February + 12 months = 28 February.
    """
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day.day, last))


REPORT_YEARS = (1990, 2100)
"""The years a period lies in, when recorded (a taakstelling's half-year, an AMIF cost's period)
and when a report is asked for (a period, a quarter, a day, a cohort's year, an as-known-at
moment): the reports count dates around them (deadlines, warning windows), which must stay
within the calendar a date can hold."""


def outside_report_years(value: object, year: int) -> str | None:
    """The rule ``value`` breaks when its ``year`` is outside :data:`REPORT_YEARS`, or None."""
    first, last = REPORT_YEARS
    if first <= year <= last:
        return None
    return (
        f"{str(value)!r} is outside the years traject reports on: use a year from {first} to {last}"
    )


_PERIOD = re.compile(r"^([0-9]{4})(?:[- ]?([HQ])([1-4]))?$")
_PERIOD_PART_FIRST = re.compile(r"^([HQ])([1-4])[- ]([0-9]{4})$")
_MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
PERIOD_FORMS = (
    "a year (2024), a half-year (2024H1, 2024-H1, 2024 H1, H1 2024 or H1-2024) or a quarter"
    " (2024Q3, 2024-Q3, 2024 Q3, Q3 2024 or Q3-2024)"
)
"""The spellings of a period that :meth:`Period.parse` reads, for messages and help."""


@dataclass(frozen=True, order=True)
class Period:
    """A reporting period: a calendar year, a half-year (H1/H2) or a quarter (Q1–Q4)."""

    year: int
    kind: str = "Y"  # "Y", "H" or "Q"
    number: int = 1

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse a year (``2024``), a half-year or a quarter, the year first or last:
        ``2024H1``, ``2024-H1``, ``2024 H1``, ``H1 2024``, ``H1-2024`` (any case; likewise
        ``Q3``). A month (``2024-06``) is no period: the reports count years, half-years and
        quarters, and it is refused naming the quarter that holds it."""
        spelled = " ".join(text.split()).upper()
        match = _PERIOD.match(spelled)
        part_first = _PERIOD_PART_FIRST.match(spelled)
        if part_first:
            kind, number, year = part_first.groups()
        elif match:
            year, kind, number = match.groups()
        else:
            raise ValueError(_not_a_period(text, spelled))
        if kind is None:
            return cls(int(year))
        if kind == "H" and int(number) > 2:
            msg = f"{text!r} is not a period: a half-year is H1 or H2"
            raise ValueError(msg)
        return cls(int(year), kind, int(number))

    @property
    def start(self) -> date:
        months = {"Y": 0, "H": 6 * (self.number - 1), "Q": 3 * (self.number - 1)}[self.kind]
        return date(self.year, 1 + months, 1)

    @property
    def end(self) -> date:
        """The last day of the period (inclusive)."""
        length = {"Y": 12, "H": 6, "Q": 3}[self.kind]
        return add_months(self.start, length) - timedelta(days=1)

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def previous(self) -> Period:
        if self.kind == "Y":
            return Period(self.year - 1)
        count = 2 if self.kind == "H" else 4
        if self.number == 1:
            return Period(self.year - 1, self.kind, count)
        return Period(self.year, self.kind, self.number - 1)

    def __str__(self) -> str:
        return str(self.year) if self.kind == "Y" else f"{self.year}{self.kind}{self.number}"


def _not_a_period(text: str, spelled: str) -> str:
    """Why ``text`` (``spelled``: stripped, upper case) is not a period, with the forms that
    are."""
    month = _MONTH.match(spelled)
    if month:
        year, number = int(month.group(1)), int(month.group(2))
        quarter, half = (
            Period(year, kind, (number - 1) // size + 1) for kind, size in (("Q", 3), ("H", 6))
        )
        return (
            f"{text!r} is not a period: the reports count years, half-years and quarters, not"
            f" months: give the quarter, half-year or year that holds it, {quarter}, {half}"
            f" or {year}"
        )
    return f"{text!r} is not a period: use {PERIOD_FORMS}"


def half_year_of(day: date) -> Period:
    return Period(day.year, "H", 1 if day.month <= 6 else 2)


class Source(StrEnum):
    """Where a fact reached the ledger from."""

    CLI = "cli"
    IMPORT = "import"
    DUO = "duo"
    COA = "coa"
    IND = "ind"
    BRP = "brp"
    PROVIDER = "provider"


class Sex(StrEnum):
    """Sex as the BRP registers it (geslachtsaanduiding V, M, O): ``f`` for V (vrouw), ``m``
    for M (man) and ``x`` for O (onbekend, unknown), the X a Dutch passport shows for it.
    Stored values never change: V and O are read as ``f`` and ``x`` on input."""

    F = "f"
    M = "m"
    X = "x"


CHOICE_ALIASES: dict[type[StrEnum], dict[str, str]] = {
    # the Dutch a caseworker types for a value, as the BRP writes it: V (vrouw), M (man) and
    # O (onbekend, unknown); a Dutch passport shows the BRP's O as X, which traject stores
    Sex: {
        "v": Sex.F.value,
        "vrouw": Sex.F.value,
        "man": Sex.M.value,
        "o": Sex.X.value,
        "onbekend": Sex.X.value,
    },
}
"""Other words for an enumeration's values, read as those values on input (never stored)."""


class Regime(StrEnum):
    """The inburgering law that governs an obligation."""

    WI2007 = "wi2007"
    WI2013 = "wi2013"
    WI2021 = "wi2021"


class PermitKind(StrEnum):
    ASIEL_BT = "asiel_bt"
    ASIEL_AFGELEID = "asiel_afgeleid"
    REGULIER_GEZIN = "regulier_gezin"
    REGULIER_OVERIG = "regulier_overig"
    ONBEPAALDE_TIJD = "onbepaalde_tijd"
    EU_LANGDURIG = "eu_langdurig"


class HousingKind(StrEnum):
    REGULIER = "regulier"
    GVA = "gva"
    TIJDELIJK = "tijdelijk"
    ONZELFSTANDIG = "onzelfstandig"


class HousingRoute(StrEnum):
    KOPPELING = "koppeling"
    NAREIS = "nareis"
    GVA_DOORSTROOM = "gva_doorstroom"
    EIGEN = "eigen"


class BenefitKind(StrEnum):
    ALGEMENE_BIJSTAND = "algemene_bijstand"
    LEENBIJSTAND_INRICHTING = "leenbijstand_inrichting"
    BIJZONDERE = "bijzondere"


class OntzorgenItem(StrEnum):
    """A fixed cost the municipality pays from the benefit on the person's behalf (Pw art. 56a)."""

    HUUR = "huur"  # rent
    ENERGIE = "energie"  # gas and electricity
    WATER = "water"
    ZORGVERZEKERING = "zorgverzekering"  # health-insurance premium


class OntzorgenEndReason(StrEnum):
    TERMIJN_VERSTREKEN = "termijn_verstreken"  # the planned months have passed
    BIJSTAND_BEEINDIGD = "bijstand_beeindigd"  # the benefit it is paid from ended
    ZELFREDZAAM = "zelfredzaam"  # ended early: the person pays the fixed costs themself
    VERHUISD = "verhuisd"  # moved to another municipality
    OVERIG = "overig"


class StaffRole(StrEnum):
    REGISSEUR = "regisseur"
    KLANTMANAGER = "klantmanager"
    COACH = "coach"
    MB = "mb"
    ARBEIDSCOACH = "arbeidscoach"
    TAALCOACH = "taalcoach"


class HelpCategory(StrEnum):
    ONDERWIJS = "onderwijs"
    FINANCIEN = "financien"
    PARTICIPATIE = "participatie"
    WONEN = "wonen"
    JURIDISCH = "juridisch"
    GEZONDHEID = "gezondheid"
    OVERIG = "overig"


class LearningRoute(StrEnum):
    B1 = "B1"
    ONDERWIJS = "onderwijs"
    Z = "Z"


class MainGoal(StrEnum):
    WERK = "werk"
    ONDERWIJS = "onderwijs"
    PARTICIPATIE = "participatie"


class ExamComponent(StrEnum):
    LEZEN = "lezen"
    LUISTEREN = "luisteren"
    SCHRIJVEN = "schrijven"
    SPREKEN = "spreken"
    KNM = "knm"
    ONA = "ona"


class ExamLevel(StrEnum):
    A2 = "A2"
    B1 = "B1"
    B2 = "B2"


class ObjectionOutcome(StrEnum):
    """The decision on a bezwaar (objection, Awb chapter 7)."""

    GEGROND = "gegrond"  # upheld: the PIP is revised
    DEELS_GEGROND = "deels_gegrond"  # partly upheld
    ONGEGROND = "ongegrond"  # dismissed: the PIP stands
    NIET_ONTVANKELIJK = "niet_ontvankelijk"  # inadmissible (late, incomplete)
    INGETROKKEN = "ingetrokken"  # withdrawn by the person


class FinalInterviewOutcome(StrEnum):
    """The outcome of the eindgesprek that completes the Z-route."""

    VOLDAAN = "voldaan"  # the Z-route is completed
    NIET_VOLDAAN = "niet_voldaan"


class ExamOutcome(StrEnum):
    GESLAAGD = "geslaagd"
    GEZAKT = "gezakt"


class Cefr(StrEnum):
    PRE_A1 = "pre-A1"
    A1 = "A1"
    A2 = "A2"
    B1 = "B1"
    B2 = "B2"
    C1 = "C1"
    C2 = "C2"


class AssessmentContext(StrEnum):
    ENTRY = "entry"
    INTERIM = "interim"
    EXIT = "exit"


class OutflowType(StrEnum):
    WERK_VOLLEDIG = "werk_volledig"
    WERK_GEDEELTELIJK = "werk_gedeeltelijk"
    ONBETAALD_VRIJWILLIGERSWERK = "onbetaald_vrijwilligerswerk"
    ONDERWIJS = "onderwijs"


class BenefitAfter(StrEnum):
    BEEINDIGD = "beeindigd"
    AANVULLEND = "aanvullend"


class Destination(StrEnum):
    GEMEENTE = "gemeente"
    ABROAD = "abroad"
    UNKNOWN = "unknown"


class ReunificationOutcome(StrEnum):
    INGEWILLIGD = "ingewilligd"
    AFGEWEZEN = "afgewezen"
    GEDEELTELIJK = "gedeeltelijk"


class ReunificationClosure(StrEnum):
    HERENIGD = "herenigd"
    AFGEWEZEN = "afgewezen"
    INGETROKKEN = "ingetrokken"


class Relation(StrEnum):
    PARTNER = "partner"
    KIND = "kind"
    OUDER = "ouder"
    OVERIG = "overig"


class ServiceCategory(StrEnum):
    LANGUAGE_COURSE = "language_course"
    CIVIC_ORIENTATION = "civic_orientation"
    PERSONAL_PROFESSIONAL_GUIDANCE = "personal_professional_guidance"
    OTHER = "other"


class Helpful(StrEnum):
    YES = "yes"
    NO = "no"
    NO_ANSWER = "no_answer"


class Fund(StrEnum):
    AMIF_1420 = "AMIF_1420"
    AMIF_2127 = "AMIF_2127"


class RetentionBasisKind(StrEnum):
    """Why a person's data must still be kept (domain.md §5.4)."""

    TRAJECTORY_FILE = "trajectory_file"  # the municipality's trajectory file (selectielijst)
    AMIF_EVIDENCE = "amif_evidence"  # per-participant evidence of an AMIF project (CPR Art. 82)


class BeneficiaryKind(StrEnum):
    GEMEENTE = "gemeente"
    STICHTING = "stichting"
    REGIONALE_DIENST = "regionale_dienst"
    OVERIG = "overig"


class FulfilmentBasis(StrEnum):
    DIPLOMA = "diploma"
    Z_ROUTE = "z_route"
    ONTHEFFING = "ontheffing"
    VRIJSTELLING = "vrijstelling"


class CaseCloseReason(StrEnum):
    MOVED = "moved"
    DECEASED = "deceased"
    LEFT_NL = "left_nl"
    GUIDANCE_ENDED = "guidance_ended"
    OTHER = "other"


class CostCategory(StrEnum):
    """Cost categories of an AMIF project budget (real costs)."""

    STAFF = "staff"
    TRAVEL = "travel"
    EQUIPMENT = "equipment"
    SUBCONTRACTING = "subcontracting"
    MATERIALS = "materials"
    INDIRECT = "indirect"
    OTHER = "other"


class VerifyingBody(StrEnum):
    """Who carried out a management verification or audit (domain.md §3.6)."""

    UVB = "UVB"
    ADR = "ADR"
    EC = "EC"
    ECA = "ECA"
    AR = "AR"


class VerificationOutcome(StrEnum):
    NO_FINDINGS = "no_findings"
    FINDINGS = "findings"
    IRREGULARITY = "irregularity"


def as_id(given: object) -> UUID | None:
    """The id a fact, a correction or a typed value gives (``household_id``, a person id): None
    for none, or for text that is no UUID (which the event's model refuses, naming the field)."""
    try:
        return None if given is None else UUID(str(given))
    except ValueError:
        return None
