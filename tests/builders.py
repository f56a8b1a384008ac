"""Small builders for invented test people, events and aggregates (no real data, ever)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time
from typing import Any
from uuid import UUID, uuid4

from ledger import events as ev
from ledger.aggregates import Municipality, Project, StreamAggregate, Trajectory

GEMEENTE = "GM0622"
STAFF = "t.tester"

_random = random.Random()


def fresh_bsn() -> str:
    """A random 9-digit number that passes the 11-proef (and is surely nobody's)."""
    while True:
        digits = [_random.randrange(10) for _ in range(8)]
        total = sum(w * d for w, d in zip((9, 8, 7, 6, 5, 4, 3, 2), digits, strict=True))
        check = total % 11
        if check < 10 and any(digits):
            return "".join(map(str, digits)) + str(check)


def fresh_v_number() -> str:
    return "".join(str(_random.randrange(10)) for _ in range(10))


def person_fields(**overrides: Any) -> dict[str, Any]:
    """The fields of an invented person's registration (no personal fields unless given)."""
    fields: dict[str, Any] = {
        "occurred_on": date(2024, 1, 10),
        "birth_date": date(1990, 4, 2),
        "sex": "f",
        "nationality": ["SY"],
    }
    return fields | overrides


def referent_with_a_file(app: Any) -> UUID:
    """A person registered in ``app`` who applied for family reunification (file 1) with a
    partner (version 2)."""
    referent: UUID = app.register_person(**person_fields()).stream_id
    app.record(
        referent,
        ev.FamilyReunificationApplied,
        occurred_on=date(2024, 1, 10),
        members=["partner"],
    )
    return referent


def linked_person(app: Any, **overrides: Any) -> UUID:
    """A person registered in ``app`` (``person_fields`` with ``overrides``), with a permit
    and linked by the COA for 2024H1: ready to be housed (version 3)."""
    person: UUID = app.register_person(**person_fields(**overrides)).stream_id
    app.record(
        person,
        ev.ResidencePermitRecorded,
        occurred_on=date(2023, 11, 1),
        permit_kind="asiel_bt",
        notified_on=date(2023, 11, 3),
    )
    app.record(person, ev.CoaLinked, occurred_on=date(2024, 1, 15), taakstelling_period="2024H1")
    return person


def recorded_at(day: date) -> datetime:
    """Noon UTC on ``day``: the moment a fact recorded on its own day was recorded."""
    return datetime.combine(day, time(12), tzinfo=UTC)


def build(aggregate: StreamAggregate, cls: type[ev.TrajectEvent], **fields: Any) -> ev.TrajectEvent:
    """The next event of ``aggregate``: envelope filled, derived fields derived, validated.

    Unless given, the event happened on 2024-06-03 in GM0622 and was recorded the same day,
    so no late-recording warning gets in the way of the rule under test.
    """
    fields.setdefault("occurred_on", date(2024, 6, 3))
    fields.setdefault("recorded_by", STAFF)
    fields.setdefault("municipality", GEMEENTE)
    fields.setdefault("timestamp", recorded_at(fields["occurred_on"]))
    fields = aggregate.derive(cls, fields)
    return cls.model_validate(
        {
            **fields,
            "originator_id": aggregate.id,
            "originator_version": aggregate.version + 1,
        }
    )


def give(aggregate: StreamAggregate, cls: type[ev.TrajectEvent], **fields: Any) -> list[str]:
    """Record one event on ``aggregate`` and return its warnings."""
    return aggregate.record(build(aggregate, cls, **fields))


def correct(aggregate: StreamAggregate, target_version: int, **changes: Any) -> list[str]:
    return give(
        aggregate,
        ev.EventCorrected,
        target_version=target_version,
        changes=changes,
        occurred_on=date(2024, 11, 1),
    )


def retract(aggregate: StreamAggregate, target_version: int) -> list[str]:
    return give(
        aggregate, ev.EventRetracted, target_version=target_version, occurred_on=date(2024, 11, 1)
    )


# --- people at a stage of their path ----------------------------------------------------------


def registered(**overrides: Any) -> Trajectory:
    """A person whose stream holds only their registration."""
    person = Trajectory(uuid4())
    give(person, ev.PersonRegistered, **person_fields(**overrides))
    return person


def with_permit(
    permit_kind: str = "asiel_bt", notified_on: date | None = date(2023, 11, 3), **overrides: Any
) -> Trajectory:
    person = registered(**overrides)
    give(
        person,
        ev.ResidencePermitRecorded,
        occurred_on=date(2023, 11, 1),
        permit_kind=permit_kind,
        notified_on=notified_on,
        timestamp=recorded_at(date(2024, 1, 10)),
    )
    return person


def linked(**overrides: Any) -> Trajectory:
    """An asiel_bt permit holder with an active koppeling to GM0622."""
    person = with_permit(**overrides)
    give(person, ev.CoaLinked, occurred_on=date(2024, 1, 15), taakstelling_period="2024H1")
    return person


def housed(**overrides: Any) -> Trajectory:
    person = linked(**overrides)
    give(
        person,
        ev.Housed,
        occurred_on=date(2024, 3, 4),
        housing_kind="regulier",
        route="koppeling",
    )
    return person


def moved_on_from_gva() -> Trajectory:
    """A person housed through the koppeling in GVA (v4), then in regular housing (v5)."""
    person = linked()
    give(person, ev.Housed, occurred_on=date(2024, 3, 4), housing_kind="gva", route="koppeling")
    give(
        person,
        ev.Housed,
        occurred_on=date(2024, 9, 2),
        housing_kind="regulier",
        route="gva_doorstroom",
    )
    return person


def nareiziger() -> Trajectory:
    """A family member who arrived under nareis: registered into a referent's household, with
    a derived asylum permit."""
    return with_permit("asiel_afgeleid", notified_on=None, household_id=uuid4())


def under_duty(duty_start: date, *, notified_on: date | None = None) -> Trajectory:
    """A housed person with an inburgering duty starting on ``duty_start``."""
    person = housed()
    give(
        person,
        ev.InburgeringDutyEstablished,
        occurred_on=notified_on or duty_start,
        duty_start=duty_start,
    )
    return person


def wi2021() -> Trajectory:
    return under_duty(date(2024, 3, 1), notified_on=date(2024, 3, 10))


def wi2013() -> Trajectory:
    return under_duty(date(2020, 6, 1))


def pip_fields(version: int = 1, leerroute: str = "B1", **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "occurred_on": date(2024, 4, 15),
        "version": version,
        "leerroute": leerroute,
        "hoofddoel": "werk",
        "pvt_intensity": "standaard",
        "map_intensity": "standaard",
        "decision_ref": f"PIP-{version}",
    }
    return fields | overrides


def enrolment_fields(project_id: str = "MWP", **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "occurred_on": date(2024, 5, 1),
        "project_id": project_id,
        "tcn": True,
        "permit_kind": "asiel_bt",
        "permit_valid": True,
        "checked_on": date(2024, 5, 1),
        "checked_by": STAFF,
        "eligibility_evidence_ref": "ELIG-1",
        "consent_ref": "CONSENT-1",
    }
    return fields | overrides


def project_fields(code: str = "MWP", **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "occurred_on": date(2023, 12, 1),
        "project_code": code,
        "title": "Meedoen Werkt",
        "fund": "AMIF_2127",
        "beneficiary": "Gemeente Vlaardingen",
        "beneficiary_kind": "gemeente",
        "grant_ref": "UVB-2023-001",
        "eligibility_from": date(2024, 1, 1),
        "eligibility_to": date(2026, 12, 31),
        "cofin_rate": "0.75",
        "target_total": 100,
        "targets_by_municipality": {GEMEENTE: 40},
    }
    return fields | overrides


def municipality(code: str = GEMEENTE) -> Municipality:
    return Municipality(ev.municipality_stream_id(code))


def project(code: str = "MWP") -> Project:
    return Project(ev.project_stream_id(code))


class MemoryKeyStore:
    """A dict-backed KeyStore: wrapped data keys without a database (unit tests only)."""

    def __init__(self) -> None:
        self.wrapped: dict[UUID, bytes] = {}

    def select_wrapped_key(self, subject: UUID) -> bytes | None:
        return self.wrapped.get(subject)

    def insert_wrapped_key(self, subject: UUID, wrapped: bytes) -> None:
        self.wrapped.setdefault(subject, wrapped)

    def shred_wrapped_key(self, subject: UUID) -> None:
        self.wrapped[subject] = b""


def years_ago(years: int, month: int = 1, day: int = 15) -> date:
    """A day in the calendar year ``years`` before this one (UTC), never in the future."""
    return date(datetime.now(UTC).year - years, month, day)


def close_case_long_ago(app: Any, person: UUID) -> None:
    """Close the person's case twelve years ago: the trajectory file's retention has ended."""
    app.record(person, ev.CaseClosed, occurred_on=years_ago(12), reason="guidance_ended")
