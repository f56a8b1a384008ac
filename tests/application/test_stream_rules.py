"""Whose facts a stream holds, and the ends of outflow and guidance, on SQLite and PostgreSQL:
each refusal stores nothing, by a single append and by an import batch alike."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import pytest
from builders import person_fields

from ledger import events as ev
from ledger.batch import BatchWriter, Write
from ledger.errors import RuleViolationError

if TYPE_CHECKING:
    from ledger.application import TrajectoryLedger


def fresh_gemeente() -> str:
    """A municipality code of this test's own (the PostgreSQL schema is shared by the run)."""
    return f"GM{uuid4().int % 10000:04d}"


def taakstelling(on: date = date(2024, 12, 1), **fields: Any) -> dict[str, Any]:
    return {"occurred_on": on, "period": "2025H1", "target": 10, "source_ref": "a"} | fields


def versions(app: TrajectoryLedger, stream: UUID) -> list[int]:
    return [e.originator_version for e in app.stream_events(stream)]


def refused(app: TrajectoryLedger, stream: UUID, record: Any, match: str) -> RuleViolationError:
    """Run ``record``, expect a hard rule to refuse it and ``stream`` to be left as it was."""
    before = versions(app, stream)
    with pytest.raises(RuleViolationError, match=match) as info:
        record()
    assert versions(app, stream) == before
    return info.value


def linked_person(app: TrajectoryLedger) -> UUID:
    """An asiel_bt permit holder linked by COA to GM0622 on 2024-01-15."""
    person = app.register_person(**person_fields()).stream_id
    app.record(
        person,
        ev.ResidencePermitRecorded,
        occurred_on=date(2023, 11, 1),
        permit_kind="asiel_bt",
    )
    app.record(person, ev.CoaLinked, occurred_on=date(2024, 1, 15), taakstelling_period="2024H1")
    return person


# --- a municipality's stream holds its own facts -------------------------------------------------


def test_a_target_for_another_municipality_is_refused_on_a_municipalitys_stream(app):
    own, other = fresh_gemeente(), fresh_gemeente()
    app.record_for_municipality(own, ev.TaakstellingSet, **taakstelling())
    stream = ev.municipality_stream_id(other)

    def record() -> object:
        # on `other`'s stream, naming `own`: it would replace own's target in the reports
        return app.record_for_municipality(
            other, ev.TaakstellingSet, **taakstelling(target=999, municipality=own)
        )

    error = refused(app, stream, record, f"{own} is not the municipality of this stream")
    assert (error.kind, error.field) == ("TaakstellingSet", "municipality")
    assert versions(app, ev.municipality_stream_id(own)) == [1]


def test_an_import_batch_refuses_a_fact_or_correction_onto_another_municipality(app):
    own, other = fresh_gemeente(), fresh_gemeente()
    stream = ev.municipality_stream_id(own)
    municipal = {"stream": ev.StreamKind.MUNICIPALITY}

    outcomes = BatchWriter(app).write(
        [
            Write(ev.TaakstellingSet, taakstelling(municipality=own), subject=own, **municipal),
            Write(ev.TaakstellingSet, taakstelling(municipality=own), subject=other, **municipal),
            Write(
                ev.EventCorrected,
                {"occurred_on": date(2024, 12, 2)},
                subject=own,
                target=1,
                changes={"municipality": other},
                reason="moved",
                **municipal,
            ),
        ]
    )

    assert [type(o).__name__ for o in outcomes] == [
        "Recorded",
        "RuleViolationError",
        "RuleViolationError",
    ]
    assert [(o.kind, o.field) for o in outcomes[1:]] == [
        ("TaakstellingSet", "municipality"),
        ("TaakstellingSet", "municipality"),
    ]
    assert versions(app, stream) == [1]
    assert versions(app, ev.municipality_stream_id(other)) == []


def test_a_projects_fact_belongs_to_a_municipality_taking_part(app):
    code = f"P{uuid4().hex[:8]}"
    app.record_for_project(
        code,
        ev.ProjectRegistered,
        occurred_on=date(2023, 12, 1),
        title="Meedoen",
        fund="AMIF_2127",
        beneficiary="Gemeente",
        beneficiary_kind="gemeente",
        grant_ref="UVB-1",
        eligibility_from=date(2024, 1, 1),
        eligibility_to=date(2026, 12, 31),
        cofin_rate="0.75",
        target_total=10,
        municipality="GM0622",
        partner_municipalities=("GM0599",),
    )
    cost = {"occurred_on": date(2024, 3, 1), "amount": "10.00", "category": "staff"}
    cost |= {"period": "2024", "doc_ref": "F-1"}
    app.record_for_project(code, ev.CostRecorded, municipality="GM0599", **cost)

    def record() -> object:
        return app.record_for_project(code, ev.CostRecorded, municipality="GM0556", **cost)

    error = refused(app, ev.project_stream_id(code), record, "GM0556 does not take part")
    assert error.field == "municipality"


# --- a koppeling is housed in its own municipality ----------------------------------------------


def test_housing_through_a_koppeling_elsewhere_is_refused(app):
    person = linked_person(app)
    housed = {"occurred_on": date(2024, 3, 4), "housing_kind": "regulier", "route": "koppeling"}

    def record() -> object:
        return app.record(person, ev.Housed, municipality="GM0556", **housed)

    error = refused(app, person, record, "housed in GM0556 through the koppeling to GM0622")
    assert error.field == "municipality"
    outcome = BatchWriter(app).write(
        [Write(ev.Housed, housed | {"municipality": "GM0556"}, person)]
    )
    assert isinstance(outcome[0], RuleViolationError) and outcome[0].field == "municipality"
    assert app.record(person, ev.Housed, **housed).version == 4  # in GM0622 it is accepted


# --- outflow and guidance end what is open ------------------------------------------------------


def test_guidance_ends_a_started_year_once(app):
    person = app.register_person(**person_fields()).stream_id

    def end() -> object:
        return app.record(person, ev.SocialGuidanceEnded, occurred_on=date(2024, 6, 1), year_no=2)

    assert "(not started)" in str(refused(app, person, end, "no open guidance year 2 to end"))
    app.record(
        person,
        ev.SocialGuidanceStarted,
        occurred_on=date(2024, 1, 15),
        year_no=1,
        provider="VluchtelingenWerk",
    )
    app.record(
        person,
        ev.SocialGuidanceStarted,
        occurred_on=date(2024, 5, 1),
        year_no=2,
        provider="VluchtelingenWerk",
    )
    end()
    assert "(already ended)" in str(refused(app, person, end, "no open guidance year 2 to end"))


def test_an_outflow_type_is_open_once_and_ends_after_its_start(app):
    person = app.register_person(**person_fields()).stream_id
    app.record(person, ev.OutflowStarted, occurred_on=date(2024, 6, 3), outflow_type="onderwijs")

    def again() -> object:
        return app.record(
            person, ev.OutflowStarted, occurred_on=date(2024, 7, 1), outflow_type="onderwijs"
        )

    def too_early() -> object:
        return app.record(
            person,
            ev.OutflowEnded,
            occurred_on=date(2024, 6, 2),
            outflow_type="onderwijs",
            reason="diploma",
        )

    def too_many_hours() -> object:
        return app.record(
            person,
            ev.OutflowStarted,
            occurred_on=date(2024, 7, 1),
            outflow_type="werk_volledig",
            hours_per_week="200",
        )

    assert refused(app, person, again, "already open").field == "outflow_type"
    assert refused(app, person, too_early, "before the start of 2024-06-03").field == "occurred_on"
    assert refused(app, person, too_many_hours, "more than a week holds").field == "hours_per_week"
