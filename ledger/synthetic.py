"""Synthetic trajectories: seeded, streaming, in the JSON Lines import format (docs/import.md).

No real person's data: names come from short built-in lists, birth dates and every other fact
are drawn from a seeded random generator, and BSNs are made from the person's index so that they
pass the 11-proef without belonging to anyone (see docs/generate.md).

The generator is pure: no I/O, no clock. :func:`generate` yields one import record (a dict) at a
time — first the municipalities' taakstelling per half-year, then the AMIF project, then one
household after another (a statushouder linked by COA, followed by the nareizigers that join
them) — so memory stays bounded however many persons are asked for. Each household draws from
its own ``random.Random`` seeded by the global seed and the household's index, so the output is
the same byte for byte for the same settings, and one household's choices never shift another's.

Every line is meant to pass the aggregates' rules when imported in file order: within a stream,
facts are ordered by when they were recorded, and a fact that a rule depends on (the koppeling
before the housing, the enrolment before a service, the intake before the PIP) is never recorded
after the facts that depend on it. Facts that nothing depends on (ladder assessments, help
requests, exam results, profile updates) are sometimes recorded late — weeks or months after
they happened, as coaches do — which the ledger flags but accepts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from ledger import rules
from ledger.municipalities import municipality_list
from ledger.values import add_months, half_year_of

Record = dict[str, Any]

# Real CBS gemeentecodes, largest first after the demo's cooperation of three, with a weight;
# beyond this list the generator takes the other municipalities of the newest CBS list (by code,
# with a made-up weight), and beyond those codes from GM3000 upwards, outside CBS's range.
MUNICIPALITIES: tuple[tuple[str, str, int], ...] = (
    # code, name, population in thousands (rounded; a weight, not a statistic)
    ("GM0622", "Vlaardingen", 75),
    ("GM0556", "Maassluis", 33),
    ("GM0606", "Schiedam", 80),
    ("GM0363", "Amsterdam", 930),
    ("GM0599", "Rotterdam", 670),
    ("GM0518", "'s-Gravenhage", 560),
    ("GM0344", "Utrecht", 370),
    ("GM0772", "Eindhoven", 240),
    ("GM0014", "Groningen", 240),
    ("GM0034", "Almere", 220),
    ("GM0855", "Tilburg", 225),
    ("GM0758", "Breda", 185),
    ("GM0268", "Nijmegen", 180),
    ("GM0193", "Zwolle", 132),
    ("GM0080", "Leeuwarden", 125),
    ("GM0546", "Leiden", 127),
    ("GM0503", "Delft", 105),
    ("GM0935", "Maastricht", 122),
    ("GM0202", "Arnhem", 165),
    ("GM0153", "Enschede", 160),
)
SYNTHETIC_CODES_FROM = 3000

NATIONALITIES: tuple[tuple[str, int], ...] = (
    ("SY", 40),
    ("ER", 20),
    ("AF", 10),
    ("TR", 8),
    ("YE", 6),
    ("IQ", 5),
    ("SO", 5),
)
NATIONALITIES += (("IR", 4), ("XXA", 2))
LANGUAGES = {
    "SY": ("Arabisch", "Koerdisch"),
    "ER": ("Tigrinya", "Arabisch"),
    "AF": ("Dari", "Pashto"),
    "TR": ("Turks", "Koerdisch"),
    "YE": ("Arabisch",),
    "IQ": ("Arabisch", "Koerdisch"),
    "SO": ("Somalisch",),
    "IR": ("Farsi",),
    "XXA": ("Arabisch",),
}
GIVEN_NAMES = {
    "f": ("Amal", "Rania", "Lina", "Hiwet", "Selam", "Nour", "Mariam", "Zahra", "Hawa", "Elif"),
    "m": ("Ahmad", "Omar", "Yonas", "Dawit", "Karim", "Samir", "Farid", "Mehmet", "Abdi", "Reza"),
}
SURNAMES: tuple[str, ...] = (
    "Haddad",
    "Kassem",
    "Tesfay",
    "Ghebre",
    "Rahimi",
    "Yilmaz",
    "Saleh",
    "Warsame",
)
SURNAMES += ("Hosseini", "Mansour", "Berhane", "Karimi", "Demir", "Nasser", "Ali", "Hassan")
HELP_CATEGORIES: tuple[tuple[str, int], ...] = (
    ("financien", 30),
    ("wonen", 20),
    ("onderwijs", 12),
    ("participatie", 12),
)
HELP_CATEGORIES += (("juridisch", 10), ("gezondheid", 10), ("overig", 6))
LANGUAGE_SCHOOLS = ("Taalschool De Brug", "NT2 Rijnmond", "Inburgeringsacademie West")
STREETS = ("Dorpsstraat", "Kerklaan", "Havenweg", "Lindelaan", "Schiedamseweg")
HELPFUL = ("yes", "no", "no_answer")
OCCUPATIONS = ("zorg", "techniek", "logistiek", "horeca", "schoonmaak", "detailhandel", "ict")
LATE_KINDS = frozenset(
    {"ladder-assessed", "help-request-recorded", "exam-result-recorded", "profile-updated"}
)
"""Facts no rule depends on: these may be recorded late (or retracted) without breaking a rule."""
EXAM_COMPONENTS = ("lezen", "luisteren", "schrijven", "spreken", "knm")
HELP_RATE_GUIDANCE = 3.0
"""Help requests a year of an adult in the two guidance years; later years see fewer."""
HELP_RATE_LATER = 1.3
TERM_GROUNDS = ("alfabetisering", "ziekte", "geen verwijt", "zwangerschap", "onderwijs")
FINES_PAUSED_FROM = date(2023, 3, 1)
FINES_WITHDRAWN_FROM = date(2025, 7, 10)
TAALCOACH_SHARE = 0.35
OBJECTION_SHARE = 0.06  # of the first PIPs, an objection is filed against this share
OBJECTION_OUTCOMES: tuple[tuple[str, int], ...] = (
    *(("ongegrond", 45), ("gegrond", 15), ("deels_gegrond", 15)),
    *(("ingetrokken", 15), ("niet_ontvankelijk", 10)),
)
Z_SECOND_INTERVIEW_SHARE = 0.2  # a first eindgesprek niet_voldaan, a second one voldaan
LOAN_RECLAIM_SHARE = 0.8  # of the Wi2013 loans not waived, before collection was paused
ZELFREDZAAM_SHARE = 0.1  # an ontzorgen ended early: the person pays the fixed costs
ALL_ONTZORGEN_ITEMS = ("huur", "energie", "water", "zorgverzekering")
BIJZONDERE_RATE = 0.9
"""Applications for bijzondere bijstand a year of an adult."""
ADULT_AGE = 18


@dataclass(frozen=True)
class Settings:
    """What to generate. ``until`` is the last day any fact may have happened or be recorded on
    (pass today when importing into a ledger, which refuses dates in the future)."""

    municipalities: int = 3
    persons: int = 300
    years: int = 4
    seed: int = 7
    start_year: int = 2022
    until: date | None = None
    project: str | None = "AMIF-SAMEN"
    project_municipalities: int = 3
    recorded_at: bool = False
    """Emit ``recorded_at`` on every line (the import's transaction time)."""
    corrections: bool = False
    """Emit event-corrected / event-retracted lines aimed at earlier lines' idempotency keys."""
    person_ids: bool = False
    """Emit ``person_id`` on person-registered lines, and link nareizigers to the referent."""

    @property
    def first_day(self) -> date:
        return date(self.start_year, 1, 1)

    @property
    def last_day(self) -> date:
        end = date(self.start_year + self.years - 1, 12, 31)
        return min(end, self.until) if self.until else end


@dataclass(frozen=True)
class Municipality:
    code: str
    name: str
    weight: int


def municipalities(count: int) -> list[Municipality]:
    """``count`` municipalities: the weighted real ones first, then the rest of the newest CBS
    list by code (342 in all for 2025), then synthetic codes."""
    chosen = [Municipality(*row) for row in MUNICIPALITIES[:count]]
    taken = {place.code for place in chosen}
    others = [item for item in sorted(municipality_list().names.items()) if item[0] not in taken]
    for number in range(count - len(chosen)):
        if number < len(others):
            code, name = others[number]
        else:
            code = f"GM{SYNTHETIC_CODES_FROM + number - len(others):04d}"
            name = f"Gemeente {code}"
        chosen.append(Municipality(code, name, 20 + (number * 37) % 80))
    return chosen


def synthetic_bsn(index: int) -> str:
    """A BSN that passes the 11-proef, made from ``index`` (0 ≤ index < 1,000,000)."""
    for prefix in ("99", "98"):
        body = f"{prefix}{index:06d}"
        total = sum((9 - i) * int(d) for i, d in enumerate(body))
        check = total % 11
        if check < 10:  # the 11-proef's one impossible check digit
            return body + str(check)
    raise AssertionError(index)  # pragma: no cover - 99… and 98… never both fail


def half_years(first: date, last: date) -> list[str]:
    """The half-years ``2024H1`` … from the one containing ``first`` to the one of ``last``."""
    periods = []
    period = half_year_of(first)
    while period.start <= last:
        periods.append(str(period))
        period = half_year_of(period.end + timedelta(days=1))
    return periods


def _weighted(rng: random.Random, options: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _days(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(days=rng.randint(low, high))


def _uuid(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


@dataclass
class Fact:
    """One line of a person's stream, before it is ordered and numbered."""

    kind: str
    on: date
    fields: Record
    late: bool = False
    recorded: datetime | None = None
    key: str | None = None

    @property
    def known_on(self) -> date:
        """The first day the fact can be recorded: the day it happened, or for an exam result
        the day of the result (the ledger refuses a ``result_date`` in the future)."""
        result_date = self.fields.get("result_date")
        return max(self.on, date.fromisoformat(result_date)) if result_date else self.on


@dataclass
class PersonPlan:
    """The facts of one person, gathered in the order they happen."""

    key: str
    municipality: str
    facts: list[Fact] = field(default_factory=list)
    stop: date | None = None  # moved away or died: nothing after this day
    died: bool = False

    def add(self, kind: str, on: date, **fields: Any) -> Fact:
        fact = Fact(kind, on, {k: v for k, v in fields.items() if v is not None})
        self.facts.append(fact)
        return fact


class Generator:
    """Yields the import records for :class:`Settings` (see the module's docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.places = municipalities(settings.municipalities)
        self.weights = [m.weight for m in self.places]
        self.partners = [m.code for m in self.places[: settings.project_municipalities]]
        self.last = settings.last_day
        self.last_moment = datetime.combine(self.last, time(17, 0), tzinfo=UTC)
        self.window = (settings.first_day, date(settings.start_year + settings.years - 1, 12, 31))

    # --- streams of their own ---------------------------------------------------------------

    def municipality_records(self) -> Iterator[Record]:
        """TaakstellingSet per municipality per half-year, roughly matching the expected links."""
        periods = half_years(self.s.first_day, self.last)
        total_weight = sum(self.weights)
        referents = self.s.persons / 1.25  # about one in five persons is a nareiziger
        for place in self.places:
            rng = random.Random(f"{self.s.seed}:municipality:{place.code}")  # noqa: S311
            for period in periods:
                expected = referents * place.weight / total_weight / len(periods)
                start = date.fromisoformat(f"{period[:4]}-{'01' if period[5] == '1' else '07'}-01")
                set_on = max(start - timedelta(days=rng.randint(60, 100)), date(1990, 1, 1))
                if set_on > self.last:
                    continue
                record: Record = {
                    "kind": "taakstelling-set",
                    "municipality": place.code,
                    "occurred_on": set_on.isoformat(),
                    "period": period,
                    "target": max(0, round(expected * rng.uniform(0.8, 1.25))),
                    "source_ref": f"circulaire taakstelling {period}",
                    "idempotency_key": f"gen{self.s.seed}:{place.code}:{period}",
                }
                yield self._stamp(record, set_on, rng)

    def project_records(self) -> Iterator[Record]:
        """The AMIF project that the first municipalities run together, with its targets."""
        if not self.s.project:
            return
        rng = random.Random(f"{self.s.seed}:project")  # noqa: S311 - not for secrets
        registered_on = self.window[0] - timedelta(days=45)
        total_weight = sum(self.weights)
        share = self.s.persons * 0.4 / total_weight
        targets = {code: max(1, round(share * m.weight)) for code, m in self._partner_places()}
        record: Record = {
            "kind": "project-registered",
            "project": self.s.project,
            "municipality": self.partners[0],
            "occurred_on": registered_on.isoformat(),
            "title": "Samen aan de slag: integratie en participatie van statushouders",
            "fund": "AMIF_2127" if self.s.start_year >= 2021 else "AMIF_1420",
            "beneficiary": f"Gemeente {self.places[0].name}",
            "beneficiary_kind": "gemeente",
            "grant_ref": f"UVB-AMIF-{self.s.start_year}-{self.s.seed:04d}",
            "eligibility_from": self.window[0].isoformat(),
            "eligibility_to": self.window[1].isoformat(),
            "cofin_rate": "0.75",
            "target_total": sum(targets.values()) + 5,
            "targets_by_municipality": targets,
            "partner_municipalities": list(self.partners),
            "idempotency_key": f"gen{self.s.seed}:project:{self.s.project}",
        }
        yield self._stamp(record, registered_on, rng)

    def _partner_places(self) -> list[tuple[str, Municipality]]:
        return [(m.code, m) for m in self.places if m.code in self.partners]

    def _stamp(self, record: Record, on: date, rng: random.Random) -> Record:
        if self.s.recorded_at:
            record["recorded_at"] = _moment(on + _days(rng, 0, 3), rng).isoformat()
        return record

    # --- households -------------------------------------------------------------------------

    def records(self) -> Iterator[Record]:
        yield from self.municipality_records()
        yield from self.project_records()
        index = 0
        household = 0
        while index < self.s.persons:
            rng = random.Random(f"{self.s.seed}:household:{household}")  # noqa: S311
            plans = self.household(rng, index)
            yield from self.household_lines([list(self.stream(plan, rng)) for plan in plans])
            index += len(plans)
            household += 1

    @staticmethod
    def household_lines(streams: list[list[Record]]) -> Iterator[Record]:
        """A household's lines, stream by stream (the referent's first), but a member's
        registration right before the referent's arrival line that names the member: an
        arrival names a registered person."""
        referent, *members = streams
        registrations = {
            lines[0]["person_id"]: lines.pop(0)
            for lines in members
            if lines and lines[0]["kind"] == "person-registered" and "person_id" in lines[0]
        }
        for line in referent:
            named = registrations.pop(line.get("member_person_id"), None)
            if named is not None:
                yield named
            yield line
        yield from registrations.values()  # not named by an arrival line kept
        for lines in members:
            yield from lines

    def household(self, rng: random.Random, index: int) -> list[PersonPlan]:
        """A referent and, after a successful nareis, the family members who join them."""
        room = self.s.persons - index
        place = rng.choices(self.places, weights=self.weights)[0]
        span = (self.last - self.s.first_day).days
        linked_on = self.s.first_day + _days(rng, 0, max(0, span - 14))
        referent = PersonPlan(self.key(index), place.code)
        person_id = _uuid(rng)
        arrivals = self.referent(rng, referent, index, linked_on, person_id, slots=room - 1)
        plans = [referent]
        # the family joins a housed referent: not before the referent's first housing (and
        # recorded after it, which is recorded in at most two days)
        joins_from = min(f.on for f in referent.facts if f.kind == "housed") + timedelta(days=3)
        for number, (relation, arrived_on, member_id) in enumerate(arrivals, start=1):
            member = PersonPlan(self.key(index + number), referent.municipality)
            self.nareiziger(
                rng, member, index=index + number, relation=relation, arrived=arrived_on,
                household_id=person_id, person_id=member_id, joins_from=joins_from,
            )  # fmt: skip
            plans.append(member)
        return plans

    def key(self, index: int) -> str:
        return f"gen{self.s.seed}-{index:06d}"

    def register(
        self,
        rng: random.Random,
        plan: PersonPlan,
        *,
        index: int,
        on: date,
        birth: date,
        household_id: UUID | None,
        person_id: UUID | None = None,
    ) -> None:
        sex = rng.choice(("f", "m"))
        nationality = _weighted(rng, NATIONALITIES)
        name = f"{rng.choice(GIVEN_NAMES[sex])} {rng.choice(SURNAMES)}"
        fields: Record = {
            "birth_date": birth.isoformat(),
            "sex": sex,
            "nationality": [nationality],
            "bsn": synthetic_bsn(index),
            "name": name,
            "languages": list(LANGUAGES[nationality][: rng.randint(1, 2)]),
        }
        if self.s.person_ids:
            fields["person_id"] = str(person_id or _uuid(rng))
            if household_id is not None:
                fields["household_id"] = str(household_id)
        plan.add("person-registered", on, **fields)

    def referent(
        self,
        rng: random.Random,
        p: PersonPlan,
        index: int,
        linked_on: date,
        person_id: UUID,
        *,
        slots: int,
    ) -> list[tuple[str, date, UUID]]:
        """A statushouder's path from permit to outflow; returns the nareizigers' arrivals."""
        notified = linked_on - _days(rng, 7, 20)
        birth = linked_on - _days(rng, 19 * 365, 55 * 365)
        self.register(rng, p, index=index, on=linked_on, birth=birth, household_id=None,
                      person_id=person_id)  # fmt: skip
        p.add(
            "residence-permit-recorded", notified, permit_kind="asiel_bt",
            notified_on=notified.isoformat(),
            valid_until=add_months(notified, 60).isoformat(), source="ind",
        )  # fmt: skip
        p.add(
            "coa-linked", linked_on, taakstelling_period=str(half_year_of(linked_on)),
            coa_location=rng.choice(("AZC Budel", "AZC Ter Apel", "AZC Zweeloo", "AZC Dronten")),
            household_size=rng.randint(1, 5), source="coa",
        )  # fmt: skip
        arrivals = self.reunification(rng, p, notified, slots)
        first_day = linked_on + _days(rng, 35, 140)
        self.settle(rng, p, first_day, koppeling=True)
        self.life(rng, p, first_day, birth)
        return arrivals

    def settle(
        self, rng: random.Random, p: PersonPlan, first_day: date, *, koppeling: bool
    ) -> None:
        """The first day (BRP, tenancy, benefit and leenbijstand), the move-in, guidance."""
        gva = koppeling and rng.random() < 0.07
        kind = "gva" if gva else rng.choice(("regulier",) * 9 + ("tijdelijk",))
        p.add("brp-registered", first_day, source="brp")
        if koppeling:
            p.add(
                "tenancy-signed", first_day, housing_kind=kind,
                landlord=rng.choice(("Woonstichting Rijnmond", "Havensteder", "Waterweg Wonen")),
                address=f"{rng.choice(STREETS)} {rng.randint(1, 200)}",
            )  # fmt: skip
        p.add("benefit-applied", first_day, benefit_kind="algemene_bijstand")
        if koppeling:
            p.add("benefit-applied", first_day, benefit_kind="leenbijstand_inrichting")
        moved_in = first_day + _days(rng, 7, 21) if koppeling else first_day
        p.add(
            "housed", moved_in, housing_kind=kind,
            route="koppeling" if koppeling else "nareis",
        )  # fmt: skip
        if gva:
            regular = moved_in + _days(rng, 120, 400)
            p.add("housed", regular, housing_kind="regulier", route="gva_doorstroom")
        p.add("benefit-granted", first_day + _days(rng, 10, 30), benefit_kind="algemene_bijstand")
        staff = f"regisseur.{p.municipality.lower()}.{rng.randint(1, 3)}"
        p.add("coach-assigned", first_day, staff_id=staff, role="regisseur")
        if rng.random() < 0.25:  # the regisseur hands the person over to a colleague
            handover = first_day + _days(rng, 200, 900)
            successor = f"regisseur.{p.municipality.lower()}.{rng.randint(4, 6)}"
            p.add("coach-unassigned", handover, staff_id=staff, role="regisseur")
            p.add("coach-assigned", handover, staff_id=successor, role="regisseur")
        if rng.random() < 0.5:
            p.add("coach-assigned", first_day, staff_id=f"coach.{rng.randint(1, 9)}", role="coach")
        start = first_day + _days(rng, 0, 14)
        p.add("social-guidance-started", start, year_no=1, provider="VluchtelingenWerk")
        if rng.random() < TAALCOACH_SHARE:  # a volunteer language coach for some months
            taalcoach = f"taalcoach.vwn.{rng.randint(1, 40)}"
            coached = start + _days(rng, 30, 200)
            p.add("coach-assigned", coached, staff_id=taalcoach, role="taalcoach")
            p.add("coach-unassigned", coached + _days(rng, 180, 540), staff_id=taalcoach,
                  role="taalcoach")  # fmt: skip
        mb_coach = f"mb.vwn.{rng.randint(1, 12)}"  # the VluchtelingenWerk guide of both years
        p.add("coach-assigned", start, staff_id=mb_coach, role="mb")
        end = start + timedelta(days=365)
        p.add("social-guidance-ended", end, year_no=1)
        p.add("social-guidance-started", end + timedelta(days=1), year_no=2,
              provider="VluchtelingenWerk")  # fmt: skip
        p.add("social-guidance-ended", end + timedelta(days=366), year_no=2)
        p.add("coach-unassigned", end + timedelta(days=366), staff_id=mb_coach, role="mb")

    def life(self, rng: random.Random, p: PersonPlan, settled: date, birth: date) -> None:
        """Inburgering, ladder, outflow, help requests, AMIF, and perhaps a move or death."""
        adult = (settled - birth).days >= ADULT_AGE * 365
        if adult:
            self.inburgering(rng, p, settled)
            self.participation(rng, p, settled)
            self.amif(rng, p, settled)
            self.income(rng, p, settled)
            self.permits(rng, p, settled)
            self.regie(p)
        self.help_requests(rng, p, settled, adult=adult)
        roll = rng.random()
        if roll < 0.06:  # moves away
            moved = settled + _days(rng, 90, 1100)
            destination = rng.choice(("gemeente", "gemeente", "gemeente", "abroad", "unknown"))
            other = rng.choice([m.code for m in self.places if m.code != p.municipality] or [None])
            p.add(
                "moved-out", moved, destination=destination,
                destination_municipality=other if destination == "gemeente" else None,
            )  # fmt: skip
            p.add("case-closed", moved + _days(rng, 0, 20), reason="moved")
            p.stop = moved + timedelta(days=20)
        elif roll < 0.063:  # dies
            died = settled + _days(rng, 30, 1100)
            p.add("deceased", died)
            p.stop = died
            p.died = True

    def regie(self, p: PersonPlan) -> None:
        """Wi2021 ontzorgen and objections against the PIP, the Z-route eindgesprek and the
        Wi2013 loan reclaim, read off the person's other facts. They draw from a generator of
        their own, so that adding them changed none of the other facts' choices."""
        rng = random.Random(f"{self.s.seed}:regie:{p.key}")  # noqa: S311
        firsts: dict[str, Fact] = {}
        for fact in p.facts:
            firsts.setdefault(fact.kind, fact)
        duty = firsts.get("inburgering-duty-established")
        if duty is None:
            return
        ends = [f.on for f in p.facts if f.kind in ("moved-out", "deceased")]
        # nothing of these is dated on or after a move or death
        until = min([*ends, self.last + timedelta(days=1)])
        regime = rules.derive_regime(date.fromisoformat(duty.fields["duty_start"])).value
        if regime == "wi2021":
            self.ontzorgen(rng, p, duty.on, until)
            self.objection(rng, p, until)
            self.final_interview(rng, p, until)
        else:
            self.loan_reclaim(rng, p, date.fromisoformat(duty.fields["duty_start"]), until)

    def ontzorgen(self, rng: random.Random, p: PersonPlan, notified: date, until: date) -> None:
        """Ontzorgen for every Wi2021 asielstatushouder on bijstand (all generated persons hold
        an asylum permit): from near the start of the first algemene bijstand, for the planned
        six months, ended earlier with the benefit or, now and then, because the person can
        pay the fixed costs themself."""
        bijstand = [
            f for f in p.facts
            if f.fields.get("benefit_kind") == "algemene_bijstand" and f.kind != "benefit-applied"
        ]  # fmt: skip
        grant = next((f for f in bijstand if f.kind == "benefit-granted"), None)
        if grant is None:
            return
        start = max(grant.on, notified) + _days(rng, 0, 14)
        benefit_end = next(
            (f for f in bijstand if f.kind == "benefit-ended" and f.on >= grant.on), None
        )
        if start >= until or (benefit_end is not None and start >= benefit_end.on):
            return
        required = rules.ontzorgen_rules_on(start).required_items
        items = [
            item for item in ALL_ONTZORGEN_ITEMS
            if item in required or item in ("huur", "zorgverzekering") or rng.random() < 0.6
        ]  # fmt: skip
        p.add("ontzorgen-started", start, items=items)
        end = rules.ontzorgen_planned_end(start)
        reason = "termijn_verstreken"
        if rng.random() < ZELFREDZAAM_SHARE:
            end, reason = start + _days(rng, 80, 150), "zelfredzaam"
        if benefit_end is not None and benefit_end.on <= end:
            end, reason = benefit_end.on, "bijstand_beeindigd"
        if end >= until:
            return
        ended = Fact("ontzorgen-ended", end, {"end_reason": reason})
        # ended before the benefit it is paid from, when both end on one day
        same_day = benefit_end is not None and reason == "bijstand_beeindigd"
        at = p.facts.index(benefit_end) if benefit_end is not None and same_day else len(p.facts)
        p.facts.insert(at, ended)

    def objection(self, rng: random.Random, p: PersonPlan, until: date) -> None:
        """Now and then a bezwaar against the first PIP, filed within its six weeks and decided
        within the decision term (mostly the first six weeks)."""
        pip = next((f for f in p.facts if f.kind == "pip-adopted"), None)
        if pip is None or rng.random() >= OBJECTION_SHARE:
            return
        filed = pip.on + _days(rng, 5, 42)
        if filed >= until:
            return
        p.add("pip-objection-filed", filed)
        decided = filed + (_days(rng, 14, 42) if rng.random() < 0.8 else _days(rng, 43, 84))
        if decided < until:
            p.add("pip-objection-decided", decided, outcome=_weighted(rng, OBJECTION_OUTCOMES))

    def final_interview(self, rng: random.Random, p: PersonPlan, until: date) -> None:
        """The eindgesprek near the end of the Z-route, weeks before DUO records the duty
        fulfilled; sometimes a first one does not complete the route."""
        done = next(
            (f for f in p.facts if f.kind == "inburgering-duty-fulfilled"
             and f.fields.get("basis") == "z_route"),
            None,
        )  # fmt: skip
        if done is None:
            return
        held = done.on - _days(rng, 14, 45)
        if rng.random() < Z_SECOND_INTERVIEW_SHARE:
            first = held - _days(rng, 90, 180)
            if first < until:
                p.add("z-route-final-interview-held", first, outcome="niet_voldaan")
        if held < until:
            p.add("z-route-final-interview-held", held, outcome="voldaan")

    def loan_reclaim(
        self, rng: random.Random, p: PersonPlan, duty_start: date, until: date
    ) -> None:
        """Wi2013: a loan not waived is mostly reclaimed by DUO after the term (as extended)
        ended, in part or in full, but never once collection was paused (March 2023)."""
        granted = next((f for f in p.facts if f.kind == "duo-loan-granted"), None)
        if granted is None or any(f.kind == "duo-loan-waived" for f in p.facts):
            return
        if rng.random() >= LOAN_RECLAIM_SHARE:
            return
        term_end = add_months(duty_start, 36)
        for fact in p.facts:
            if fact.kind == "term-extended":
                term_end = date.fromisoformat(fact.fields["new_end"])
        reclaimed = max(term_end, granted.on) + _days(rng, 60, 300)
        if reclaimed >= min(until, FINES_PAUSED_FROM):
            return
        amount = rng.choice(("10000.00", "5000.00", "2500.00"))
        p.add("duo-loan-reclaimed", reclaimed, amount=amount, source="duo")

    def help_requests(
        self, rng: random.Random, p: PersonPlan, settled: date, *, adult: bool
    ) -> None:
        """Hulpvragen at random over the years: most in the two guidance years, fewer later."""
        busy, later = (HELP_RATE_GUIDANCE, HELP_RATE_LATER) if adult else (0.6, 0.25)
        for on in _arrivals(rng, settled, settled + timedelta(days=730), busy):
            self.help_request(rng, p, on)
        for on in _arrivals(rng, settled + timedelta(days=731), self.last, later):
            self.help_request(rng, p, on)

    def help_request(self, rng: random.Random, p: PersonPlan, on: date) -> None:
        p.add(
            "help-request-recorded", on, category=_weighted(rng, HELP_CATEGORIES),
            channel=rng.choice(("spreekuur", "spreekuur", "telefoon", "huisbezoek")),
            resolved=rng.random() < 0.6,
        )  # fmt: skip

    def income(self, rng: random.Random, p: PersonPlan, settled: date) -> None:
        """Bijzondere bijstand (furniture, glasses, a school trip …) about once a year: applied
        for, and granted a few weeks later in most cases."""
        for on in _arrivals(rng, settled + timedelta(days=60), self.last, BIJZONDERE_RATE):
            p.add("benefit-applied", on, benefit_kind="bijzondere")
            if rng.random() < 0.8:
                p.add("benefit-granted", on + _days(rng, 14, 56), benefit_kind="bijzondere",
                      amount=f"{rng.randint(4, 60) * 25}.00")  # fmt: skip

    def permits(self, rng: random.Random, p: PersonPlan, settled: date) -> None:
        """After five years the asylum permit runs out: most apply for a permanent (or EU
        long-term) permit and get it; some naturalise a year or two later."""
        expires = settled + _days(rng, 1700, 1800)
        applied = expires - _days(rng, 30, 120)
        if applied > self.last or rng.random() < 0.1:
            return
        kind = "onbepaalde_tijd" if rng.random() < 0.85 else "eu_langdurig"
        p.add("long-term-residence-applied", applied, residence_kind=kind)
        granted = applied + _days(rng, 40, 180)
        p.add("residence-permit-recorded", granted, permit_kind=kind, source="ind")
        if rng.random() < 0.3:
            p.add("naturalisation-granted", granted + _days(rng, 300, 900), source="ind")

    def inburgering(self, rng: random.Random, p: PersonPlan, settled: date) -> None:
        notified = (
            settled - _days(rng, 0, 30) if rng.random() < 0.5 else settled + _days(rng, 0, 40)
        )
        duty_start = notified - _days(rng, 0, 10)
        p.add(
            "inburgering-duty-established", notified, duty_start=duty_start.isoformat(),
            duo_ref=f"DUO-{rng.randint(10**7, 10**8 - 1)}", source="duo",
        )  # fmt: skip
        if rules.derive_regime(duty_start).value == "wi2021":
            self.wi2021(rng, p, settled, notified)
        else:
            self.wi2013(rng, p, max(settled, notified), duty_start)

    def wi2021(self, rng: random.Random, p: PersonPlan, settled: date, notified: date) -> None:
        intake = max(settled, notified) + _days(rng, 7, 120)
        p.add("broad-intake-started", intake, by=f"regisseur.{p.municipality.lower()}")
        completed = intake + _days(rng, 7, 28)
        p.add("learnability-test-taken", completed,
              outcome=rng.choice(("hoog", "gemiddeld", "gemiddeld", "laag")))  # fmt: skip
        p.add(
            "broad-intake-completed", completed, by=f"regisseur.{p.municipality.lower()}",
            education_level=rng.choice(("geen", "basis", "voortgezet", "mbo", "hbo", "wo")),
            work_experience=rng.choice(("geen", "1-5 jaar", "meer dan 5 jaar")),
        )  # fmt: skip
        route = rng.choices(("B1", "onderwijs", "Z"), weights=(55, 15, 30))[0]
        due = max(settled, notified) + timedelta(weeks=10)
        pip_on = max(completed, due - _days(rng, 0, 30)) + _days(rng, 0, 40)
        goal = {"B1": "werk", "onderwijs": "onderwijs", "Z": "participatie"}[route]
        p.add(
            "pip-adopted", pip_on, version=1, leerroute=route, hoofddoel=goal,
            pvt_intensity="standaard", decision_ref=f"PIP-{p.key}-1",
            map_intensity="standaard" if route != "onderwijs" else "geen",
        )  # fmt: skip
        school = rng.choice(LANGUAGE_SCHOOLS)
        started = pip_on + _days(rng, 14, 42)
        p.add("learning-route-started", started, route=route, provider=school,
              alfabetisering=route == "Z" and rng.random() < 0.5)  # fmt: skip
        enough = self.course_hours(rng, p, started, route, school)
        p.add("pvt-completed", started + _days(rng, 90, 400), provider=school,
              hours=rng.choice((12, 16, 24)))  # fmt: skip
        if route != "onderwijs":
            p.add("map-completed", started + _days(rng, 120, 500))
        if route == "Z":
            p.add("inburgering-duty-fulfilled", add_months(pip_on, 36) - _days(rng, 0, 60),
                  basis="z_route", source="duo")  # fmt: skip
            return
        level = "B1"
        exams_from = started + _days(rng, 420, 720)
        # the two free B1 attempts; after them the municipality may decide to afschalen
        passed = self.exams(rng, p, exams_from, level, EXAM_COMPONENTS, attempts=2)
        failed = [c for c in EXAM_COMPONENTS if c not in passed and c != "knm"]
        downgraded = exams_from + _days(rng, 200, 260)
        if failed and route == "B1" and enough is not None and rng.random() < 0.6:
            downgraded = max(downgraded, enough)
            p.add("downgraded-to-a2", downgraded, evidence_ref=f"BESL-A2-{p.key}")
            passed |= self.exams(rng, p, downgraded + _days(rng, 30, 90), "A2", tuple(failed))
        fulfilled = len(passed) == len(EXAM_COMPONENTS)
        if fulfilled:
            p.add("inburgering-duty-fulfilled", downgraded + _days(rng, 100, 160),
                  basis="diploma", source="duo")  # fmt: skip
        version = 1
        for year in (1, 2):  # the yearly PIP evaluation sometimes adjusts the plan
            if rng.random() < 0.3:
                version += 1
                p.add(
                    "pip-adopted", pip_on + _days(rng, 365 * year - 60, 365 * year + 60),
                    version=version, leerroute=route, hoofddoel=goal, pvt_intensity="standaard",
                    map_intensity="standaard" if route != "onderwijs" else "geen",
                    decision_ref=f"PIP-{p.key}-{version}",
                )  # fmt: skip
        if not fulfilled:
            self.term_end(rng, p, add_months(pip_on, 36), wi2013=False)

    def course_hours(
        self, rng: random.Random, p: PersonPlan, started: date, route: str, school: str
    ) -> date | None:
        """Quarterly NT2 hours over the three years of the route, and half-yearly hours of the
        route's other part (KNM; participation in the Z-route; the taalschakeltraject); returns
        the day after the report that brought the NT2 hours to what afschalen needs."""
        hours = 0
        enough: date | None = None
        minimum = rules.rules_on(started).afschalen_min_nt2_hours
        other = {"B1": "KNM", "Z": "participatie", "onderwijs": "taalschakel"}[route]
        period_from = started
        for quarter in range(12):
            period_to = add_months(period_from, 3) - timedelta(days=1)
            attended = rng.randint(60, 160)
            hours += attended
            p.add(
                "course-hours-reported", period_to, period_from=period_from.isoformat(),
                component="NT2", hours_attended=attended, hours_excused=rng.randint(0, 10),
                hours_unexcused=rng.choice((0, 0, 0, 2, 6)), provider=school,
            )  # fmt: skip
            if quarter % 2:
                p.add(
                    "course-hours-reported", period_to,
                    period_from=add_months(period_from, -3).isoformat(), component=other,
                    hours_attended=rng.randint(10, 40 if other == "KNM" else 140),
                    hours_excused=rng.randint(0, 6), provider=school,
                )  # fmt: skip
            if quarter % 4 == 3:  # the school's yearly progress test
                p.add("language-level-assessed", period_to + _days(rng, 1, 20),
                      cefr=("A1", "A2", "B1")[min(2, quarter // 4 + rng.randint(-1, 0))],
                      method="voortgangstoets", context="interim")  # fmt: skip
            if enough is None and hours >= minimum:
                enough = period_to + timedelta(days=1)
            period_from = period_to + timedelta(days=1)
        return enough

    def term_end(self, rng: random.Random, p: PersonPlan, end: date, *, wi2013: bool) -> None:
        """The duty is not met by the end of the term: DUO mostly extends it; otherwise a fine,
        withdrawn after the 2025-26 rulings (collection was paused from March 2023)."""
        if rng.random() < 0.7:
            new_end = add_months(end, 12).isoformat()
            p.add("term-extended", end - _days(rng, 20, 90), new_end=new_end,
                  ground=rng.choice(TERM_GROUNDS), source="duo")  # fmt: skip
            return
        fined = end + _days(rng, 30, 150)
        if fined >= FINES_PAUSED_FROM:
            return
        p.add("fine-imposed", fined, component="diploma" if wi2013 else "leerroute",
              amount="1250.00" if wi2013 else "1000.00", source="duo")  # fmt: skip
        p.add("fine-withdrawn", FINES_WITHDRAWN_FROM + _days(rng, 0, 260),
              component="diploma" if wi2013 else "leerroute",
              reason="HvJ EU 4-2-2025; RvS 9-7-2025", source="duo")  # fmt: skip

    def exams(
        self,
        rng: random.Random,
        p: PersonPlan,
        first: date,
        level: str,
        components: tuple[str, ...],
        *,
        attempts: int = 3,
    ) -> set[str]:
        """Up to ``attempts`` tries per component; returns the components passed."""
        passed: set[str] = set()
        for component in components:
            on = first + _days(rng, 0, 60)
            for attempt in range(1, attempts + 1):
                ok = rng.random() < (0.7 if level == "B1" else 0.85)
                p.add(
                    "exam-result-recorded", on, component=component,
                    level="B1" if component == "knm" else level,
                    result="geslaagd" if ok else "gezakt", attempt_no=attempt,
                    result_date=(on + _days(rng, 20, 110)).isoformat(),
                    free_attempt=attempt <= 2, source="duo",
                )  # fmt: skip
                if ok:
                    passed.add(component)
                    break
                on += _days(rng, 60, 150)
        return passed

    def wi2013(self, rng: random.Random, p: PersonPlan, settled: date, duty_start: date) -> None:
        """Wi2013: the DUO loan, ONA for cohorts from 2015, PVT, A2 exams; ``settled`` is the
        later of the move-in and DUO's notice, so every Wi2013-only fact follows the duty."""
        p.add("duo-loan-granted", settled + _days(rng, 20, 90), amount="10000.00", source="duo")
        if rules.ona_required(duty_start):
            p.add("ona-completed", settled + _days(rng, 200, 700),
                  mode=rng.choice(("eindgesprek", "cursus_64u")))  # fmt: skip
        p.add("pvt-completed", settled + _days(rng, 90, 330), provider="VluchtelingenWerk",
              hours=12)  # fmt: skip
        passed = self.exams(rng, p, settled + _days(rng, 400, 800), "A2", EXAM_COMPONENTS)
        if len(passed) == len(EXAM_COMPONENTS):
            done = settled + _days(rng, 900, 1000)
            p.add("inburgering-duty-fulfilled", done, basis="diploma", source="duo")
            p.add("duo-loan-waived", done + _days(rng, 30, 90), amount="10000.00", source="duo")
        else:
            self.term_end(rng, p, add_months(duty_start, 36), wi2013=True)

    def participation(self, rng: random.Random, p: PersonPlan, settled: date) -> None:
        """Ladder assessments every quarter in the two guidance years and about twice a year
        after them, moving up and sometimes down; outflow."""
        rung = rng.choice((1, 2, 2, 3))
        on = settled + _days(rng, 20, 60)
        assessor = f"klantmanager.{p.municipality.lower()}"
        p.add("coach-assigned", on, staff_id=f"{assessor}.{rng.randint(1, 8)}", role="klantmanager")
        guidance_end = settled + timedelta(days=730)
        outflow: str | None = None
        coached_until = settled
        while on <= self.last:
            p.add("ladder-assessed", on, rung=rung, assessor=assessor)
            wanted = {4: "onbetaald_vrijwilligerswerk", 5: "werk_gedeeltelijk", 6: "werk_volledig"}
            target = wanted.get(rung)
            if target != outflow:
                if outflow is not None:
                    reason = "doorgestroomd" if target else "contract beëindigd"
                    p.add("outflow-ended", on, outflow_type=outflow, reason=reason)
                    if outflow == "werk_volledig":  # back on bijstand after full-time work
                        p.add("benefit-granted", on + _days(rng, 7, 40),
                              benefit_kind="algemene_bijstand")  # fmt: skip
                if target is not None:
                    p.add(
                        "outflow-started", on, outflow_type=target,
                        hours_per_week=rng.choice((8, 16, 24, 32, 36)) if rung > 4 else None,
                        contract_kind=rng.choice(("bepaalde tijd", "uitzend", "proeftijd"))
                        if rung > 4 else None,
                        benefit_after="beeindigd" if rung == 6 else "aanvullend" if rung == 5
                        else None,
                    )  # fmt: skip
                    if target == "werk_volledig":  # full-time work ends the benefit
                        p.add("benefit-ended", on, benefit_kind="algemene_bijstand")
                    if rung > 4 and on > coached_until:  # a job coach for the first months
                        coach = f"arbeidscoach.{p.municipality.lower()}.{rng.randint(1, 6)}"
                        coached_until = on + _days(rng, 120, 365)
                        p.add("coach-assigned", on, staff_id=coach, role="arbeidscoach")
                        p.add("coach-unassigned", coached_until, staff_id=coach,
                              role="arbeidscoach")  # fmt: skip
                outflow = target
            if rng.random() < 0.35:
                p.add("profile-updated", on, occupation_direction=rng.choice(OCCUPATIONS),
                      language_level=rng.choice(("A1", "A2", "B1")))  # fmt: skip
            if rung >= 3 and rng.random() < 0.08:
                p.add("certificate-obtained", on + _days(rng, 5, 40),
                      certificate_kind=rng.choice(("VCA", "mbo-1 entree", "BHV")),
                      issuer=rng.choice(("SSVV", "ROC Albeda", "NIBHV")))  # fmt: skip
            # half the chance of a step between quarterly assessments as between half-yearly ones
            quarterly = on < guidance_end
            up, down = (0.19, 0.07) if quarterly else (0.38, 0.14)
            step = rng.random()
            rung = min(6, rung + 1) if step < up else max(1, rung - 1) if step > 1 - down else rung
            on += _days(rng, 80, 100) if quarterly else _days(rng, 150, 200)
        if rng.random() < 0.05:  # education instead of work
            p.add("outflow-started", settled + _days(rng, 500, 900), outflow_type="onderwijs")

    def amif(self, rng: random.Random, p: PersonPlan, settled: date) -> None:
        """Enrolment, services, language levels, feedback and exit in the AMIF project."""
        project = self.s.project
        if not project or p.municipality not in self.partners or rng.random() > 0.55:
            return
        enrolled = settled + _days(rng, 20, 180)
        if not self.window[0] <= enrolled <= self.window[1]:
            return
        p.add(
            "participant-enrolled", enrolled, project_id=project, tcn=True,
            permit_kind="asiel_bt", permit_valid=True, checked_on=enrolled.isoformat(),
            checked_by=f"projectleider.{p.municipality.lower()}",
            eligibility_evidence_ref=f"ELIG-{p.key}", consent_ref=f"CONSENT-{p.key}",
            referred_by=rng.choice(("Werk en Inkomen", "VluchtelingenWerk", None)),
        )  # fmt: skip
        p.add("language-level-assessed", enrolled, cefr=rng.choice(("pre-A1", "A1", "A1", "A2")),
              method="intaketoets", context="entry", project_id=project)  # fmt: skip
        on = enrolled + _days(rng, 7, 30)
        categories = ("language_course", "civic_orientation", "personal_professional_guidance")
        for _ in range(rng.randint(2, 6)):
            until = on + _days(rng, 20, 90)
            p.add("service-delivered", on, project_id=project, category=rng.choice(categories),
                  until=until.isoformat(), hours=rng.randint(4, 60))  # fmt: skip
            on = until + _days(rng, 1, 30)
        if rng.random() < 0.3:
            p.add("qualification-recognition-applied", on, project_id=project)
        if rng.random() < 0.7:
            p.add("participant-feedback-recorded", on, project_id=project,
                  helpful=rng.choices(HELPFUL, weights=(75, 10, 15))[0])  # fmt: skip
        p.add("language-level-assessed", on, cefr=rng.choice(("A1", "A2", "A2", "B1")),
              method="eindtoets", context="exit", project_id=project)  # fmt: skip
        p.add("participant-exited", on + _days(rng, 0, 14), project_id=project,
              reason=rng.choice(("programma afgerond", "werk gevonden", "verhuisd")),
              completed=rng.random() < 0.8)  # fmt: skip

    def reunification(
        self, rng: random.Random, p: PersonPlan, notified: date, slots: int
    ) -> list[tuple[str, date, UUID]]:
        """A nareis file for about a quarter of referents; returns the members who arrive (by
        ``until``, and no more than ``slots``: the persons still to generate), with their ids."""
        if rng.random() > 0.25:
            return []
        window_end = rules.nareis_deadline(notified)
        late = rng.random() < 0.08
        applied = window_end + _days(rng, 1, 60) if late else notified + _days(rng, 5, 80)
        applied = min(applied, window_end + timedelta(days=60))
        members = rng.choices(("partner", "kind"), weights=(1, 2), k=rng.randint(1, 4))
        p.add("family-reunification-assistance-provided", applied, provider="VluchtelingenWerk")
        p.add("family-reunification-applied", applied, members=members,
              ind_ref=f"IND-{rng.randint(10**6, 10**7 - 1)}",
              assisted_by="VluchtelingenWerk")  # fmt: skip
        decided = applied + _days(rng, 60, 180)
        outcome = rng.choices(("ingewilligd", "afgewezen", "gedeeltelijk"), weights=(80, 10, 10))[0]
        granted = {"ingewilligd": len(members), "afgewezen": 0}.get(outcome, len(members) // 2)
        p.add("family-reunification-decided", decided, outcome=outcome, members_granted=granted,
              source="ind")  # fmt: skip
        arrivals: list[tuple[str, date, UUID]] = []
        latest = decided
        for relation in members[:granted]:
            issued = decided + _days(rng, 14, 60)
            p.add("mvv-issued", issued, relation=relation, source="ind")
            arrived = issued + _days(rng, 7, 80)
            latest = max(latest, arrived)
            member_id = _uuid(rng)
            # a member joins as a person of their own only where the lines can link them to
            # the referent's household (person ids given): nareis housing needs that link
            joins = self.s.person_ids and arrived <= self.last and len(arrivals) < slots
            p.add(
                "nareiziger-arrived", arrived, relation=relation, ind_location="Zevenaar",
                member_person_id=str(member_id) if joins and self.s.person_ids else None,
            )  # fmt: skip
            if joins:
                arrivals.append((relation, arrived, member_id))
        last = latest + _days(rng, 7, 40)  # after the last arrival, or the refusal
        closure = "herenigd" if granted else "afgewezen"
        p.add("family-reunification-closed", last, closure=closure)
        return arrivals

    def nareiziger(
        self,
        rng: random.Random,
        p: PersonPlan,
        *,
        index: int,
        relation: str,
        arrived: date,
        household_id: UUID,
        person_id: UUID,
        joins_from: date,
    ) -> None:
        """A family member: registered on arrival, derived permit, housed with the referent
        (from ``joins_from``: once the referent is housed)."""
        adult = relation == "partner"
        age_days = rng.randint(19 * 365, 50 * 365) if adult else rng.randint(200, 17 * 365)
        birth = arrived - timedelta(days=age_days)
        self.register(rng, p, index=index, on=arrived, birth=birth, household_id=household_id,
                      person_id=person_id)  # fmt: skip
        permit_on = arrived + _days(rng, 3, 30)
        p.add("residence-permit-recorded", permit_on, permit_kind="asiel_afgeleid",
              valid_until=add_months(permit_on, 60).isoformat(), source="ind")  # fmt: skip
        settled = max(permit_on + _days(rng, 0, 14), joins_from)
        self.settle(rng, p, settled, koppeling=False)
        self.life(rng, p, settled, birth)

    # --- ordering, recording times and corrections ------------------------------------------

    def stream(self, plan: PersonPlan, rng: random.Random) -> Iterator[Record]:
        """The person's lines in recording order, cut at ``until`` and at a move or death."""
        facts = [f for f in plan.facts if plan.stop is None or f.on < plan.stop]
        facts += [f for f in plan.facts if plan.stop is not None and f.on == plan.stop]
        if plan.died:  # the death is the last fact: nothing else on that day either
            facts = [f for f in facts if f.on < (plan.stop or f.on) or f.kind == "deceased"]
        registration = facts[0]
        rest = sorted(facts[1:], key=lambda f: f.on)  # stable: same-day facts keep their order
        registered_at = _moment(registration.on, rng)
        registration.recorded = registered_at
        previous = registered_at
        for fact in rest:
            fact.late = fact.kind in LATE_KINDS and not plan.died and rng.random() < 0.08
            delay = _days(rng, 31, 150) if fact.late else _days(rng, 0, 2)
            moment = max(_moment(fact.known_on + delay, rng), registered_at)
            if not fact.late and fact.known_on == fact.on:  # a result waits for its day
                moment = max(moment, previous)
                previous = moment
            fact.recorded = moment
        ordered = [registration, *sorted(rest, key=lambda f: f.recorded or registered_at)]
        kept = [f for f in ordered if f.recorded is not None and f.recorded <= self.last_moment]
        for number, fact in enumerate(kept, start=1):
            fact.key = f"{plan.key}:{number}"
            yield self.line(plan, fact)
        if self.s.corrections:
            yield from self.corrections(plan, kept, rng)

    def line(self, plan: PersonPlan, fact: Fact) -> Record:
        record: Record = {"kind": fact.kind, "person": plan.key, "occurred_on": fact.on.isoformat()}
        record.update(fact.fields)
        if fact.kind == "person-registered" or "municipality" not in record:
            record["municipality"] = plan.municipality
        record["idempotency_key"] = fact.key
        if self.s.recorded_at and fact.recorded is not None:
            record["recorded_at"] = fact.recorded.isoformat()
        return record

    def corrections(
        self, plan: PersonPlan, kept: list[Fact], rng: random.Random
    ) -> Iterator[Record]:
        """A few corrections of ladder rungs and retractions of help requests, recorded later."""
        last = kept[-1].recorded if kept else None
        if last is None or plan.died:
            return
        for fact in kept:
            when = last + _days(rng, 1, 30)
            if when > self.last_moment:
                return
            if fact.kind == "ladder-assessed" and rng.random() < 0.04:
                rung = int(fact.fields["rung"])
                record: Record = {
                    "kind": "event-corrected", "person": plan.key, "target": fact.key,
                    "changes": {"rung": rung + 1 if rung < 6 else rung - 1},
                    "reason": "trede verkeerd overgenomen uit het gespreksverslag",
                }  # fmt: skip
            elif fact.kind == "help-request-recorded" and rng.random() < 0.05:
                record = {
                    "kind": "event-retracted", "person": plan.key, "target": fact.key,
                    "reason": "dubbel geregistreerd",
                }  # fmt: skip
            else:
                continue
            record["idempotency_key"] = f"{fact.key}:fix"
            if self.s.recorded_at:
                record["recorded_at"] = when.isoformat()
            last = when
            yield record


def _arrivals(rng: random.Random, start: date, end: date, per_year: float) -> Iterator[date]:
    """Days from ``start`` to ``end`` at random, ``per_year`` of them a year on average."""
    on = start
    while True:
        on += timedelta(days=1 + int(rng.expovariate(per_year / 365)))
        if on > end:
            return
        yield on


def _moment(day: date, rng: random.Random) -> datetime:
    """A working-hours moment on ``day`` (UTC, so the Dutch calendar day is the same)."""
    return datetime.combine(day, time(7 + rng.randint(0, 8), rng.randint(0, 59)), tzinfo=UTC)


def generate(settings: Settings) -> Iterator[Record]:
    """Every import record for ``settings``, in an order the import accepts line by line."""
    return Generator(settings).records()
