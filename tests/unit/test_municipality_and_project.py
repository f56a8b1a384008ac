"""The municipality stream (taakstelling per half-year) and the AMIF project stream."""

from __future__ import annotations

from datetime import date

import pytest
from builders import build, correct, give, municipality, project, project_fields, retract
from pydantic import ValidationError

from ledger import events as ev
from ledger.aggregates import Municipality, project_stream
from ledger.errors import LaterFactsBrokenError, RuleViolationError


def taakstelling(stream, period="2024H1", target=40, on=date(2023, 12, 15)):
    return give(
        stream,
        ev.TaakstellingSet,
        occurred_on=on,
        period=period,
        target=target,
        source_ref=f"Circulaire {period}",
    )


def test_a_half_year_gets_one_taakstelling():
    gemeente = municipality()
    taakstelling(gemeente, "2024H1")
    with pytest.raises(RuleViolationError, match="2024H1 already has a target") as info:
        taakstelling(gemeente, "2024H1", target=45)
    assert info.value.field == "period"
    # the next half-year is a new target
    taakstelling(gemeente, "2024H2")
    assert gemeente.periods == {"2024H1", "2024H2"}


def test_a_taakstelling_is_changed_by_a_taakstelling_correction():
    gemeente = municipality()
    with pytest.raises(RuleViolationError, match="2024H1 has no target to correct"):
        give(gemeente, ev.TaakstellingCorrected, period="2024H1", target=38, source_ref="Brief BZK")
    taakstelling(gemeente, "2024H1")
    give(gemeente, ev.TaakstellingCorrected, period="2024H1", target=38, source_ref="Brief BZK")


def test_a_retracted_taakstelling_can_be_set_again():
    gemeente = municipality()
    taakstelling(gemeente, "2024H1")
    taakstelling(gemeente, "2024H2")
    retract(gemeente, 2)
    assert gemeente.periods == {"2024H1"}
    taakstelling(gemeente, "2024H2", target=30)


def test_a_later_taakstelling_cannot_be_corrected_onto_an_earlier_ones_half_year():
    gemeente = municipality()
    taakstelling(gemeente, "2024H1")
    taakstelling(gemeente, "2024H2")
    with pytest.raises(RuleViolationError, match="2024H1 already has a target") as info:
        correct(gemeente, 2, period="2024H1")
    assert info.value.field == "period"
    assert gemeente.periods == {"2024H1", "2024H2"}
    correct(gemeente, 2, period="2025H1")  # a half-year of its own is fine
    assert gemeente.periods == {"2024H1", "2025H1"}


def test_a_corrected_period_frees_the_old_one():
    gemeente = municipality()
    taakstelling(gemeente, "2024H1")
    correct(gemeente, 1, period="2025H1")
    assert gemeente.periods == {"2025H1"}
    taakstelling(gemeente, "2024H1")


def test_a_municipalitys_stream_holds_its_own_facts_only():
    gemeente = municipality("GM0556")
    version = gemeente.version
    with pytest.raises(RuleViolationError, match="GM0622 is not the municipality of this stream"):
        give(
            gemeente,
            ev.TaakstellingSet,
            municipality="GM0622",
            period="2024H1",
            target=999,
            source_ref="x",
        )
    assert gemeente.version == version
    for cls, fields in (
        (ev.HousingRealisationConfirmed, {"official_realised": 3, "confirmed_by": "COA"}),
        (ev.TaakstellingCorrected, {"target": 3, "source_ref": "x"}),
    ):
        with pytest.raises(RuleViolationError, match="not the municipality") as info:
            give(gemeente, cls, municipality="GM0622", period="2024H1", **fields)
        assert (info.value.kind, info.value.field) == (cls.__name__, "municipality")
    # its own code is fine, and so is a second municipality on its own stream
    give(
        gemeente,
        ev.TaakstellingSet,
        municipality="GM0556",
        period="2024H1",
        target=9,
        source_ref="a",
    )
    taakstelling(municipality("GM0622"), "2024H1")


def test_a_taakstelling_cannot_be_corrected_onto_another_municipality():
    gemeente = municipality()
    taakstelling(gemeente, "2024H1")
    with pytest.raises(RuleViolationError, match="GM0556 is not the municipality") as info:
        correct(gemeente, 1, municipality="GM0556")
    assert (info.value.kind, info.value.field) == ("TaakstellingSet", "municipality")
    assert gemeente.version == 1


def test_a_projects_facts_belong_to_its_lead_or_partner_municipalities():
    mwp = project()
    give(
        mwp,
        ev.ProjectRegistered,
        **project_fields(partner_municipalities=("GM0599",), targets_by_municipality={"GM0505": 5}),
    )
    cost = {"amount": "100.00", "category": "staff", "doc_ref": "F-1", "period": "2024"}
    # the lead (GM0622), a partner and a municipality with a target are taking part
    for code in ("GM0622", "GM0599", "GM0505"):
        give(mwp, ev.CostRecorded, municipality=code, **cost)
    with pytest.raises(
        RuleViolationError, match="GM0556 does not take part in this project"
    ) as info:
        give(mwp, ev.CostRecorded, municipality="GM0556", **cost)
    assert (info.value.field, mwp.version) == ("municipality", 4)
    assert "(GM0505, GM0599, GM0622)" in str(info.value)
    # nor can a fact be corrected onto one, or a partner be dropped under its facts
    with pytest.raises(RuleViolationError, match="GM0556 does not take part"):
        correct(mwp, 2, municipality="GM0556")
    with pytest.raises(LaterFactsBrokenError, match="v3 CostRecorded of 2024-06-03: municipality"):
        correct(mwp, 1, partner_municipalities=[])
    assert mwp.version == 4


def test_a_taakstelling_period_is_a_half_year():
    with pytest.raises(ValidationError, match="period"):
        taakstelling(municipality(), "2024Q1")


def test_a_project_is_registered_before_anything_else_and_once():
    mwp = project()
    with pytest.raises(RuleViolationError, match="register the project first"):
        give(mwp, ev.TaakstellingSet, period="2024H1", target=1, source_ref="x")
    give(mwp, ev.ProjectRegistered, **project_fields())
    assert mwp.registered is not None
    with pytest.raises(RuleViolationError, match="this project is already registered"):
        give(mwp, ev.ProjectRegistered, **project_fields(occurred_on=date(2024, 1, 5)))


def test_a_project_eligibility_window_cannot_end_before_it_starts():
    with pytest.raises(ValidationError, match="must not be before eligibility_from"):
        give(project(), ev.ProjectRegistered, **project_fields(eligibility_to=date(2023, 12, 31)))


def test_municipality_targets_cannot_exceed_the_project_total():
    with pytest.raises(ValidationError, match="must not add up to more than target_total"):
        give(
            project(),
            ev.ProjectRegistered,
            **project_fields(target_total=50, targets_by_municipality={"GM0622": 40, "GM0599": 11}),
        )


def test_stream_ids_of_municipalities_and_projects_are_derived_from_their_codes():
    assert ev.municipality_stream_id("GM0622") == municipality("GM0622").id
    assert ev.project_stream_id("mwp") == ev.project_stream_id("MWP")
    assert ev.project_stream_id("MWP") != ev.municipality_stream_id("MWP")


def test_a_project_code_cannot_be_corrected():
    """The code names the project's stream: a corrected code would leave the stream and its
    participants' enrolments under the old one. Other fields, and the code's case, may be
    corrected."""
    mwp = project()
    give(mwp, ev.ProjectRegistered, **project_fields())
    with pytest.raises(RuleViolationError, match="cannot be corrected") as info:
        correct(mwp, 1, project_code="NEW")
    assert info.value.field == "project_code"
    assert mwp.version == 1
    correct(mwp, 1, project_code=mwp.registered.project_code.lower(), title="Samen verder")
    assert mwp.registered.title == "Samen verder"


def test_a_period_stored_before_the_years_rule_still_loads_and_can_be_mended():
    """The years of a period (1990 to 2100) are the aggregate's rule, not the model's: a
    taakstelling for 9999H2 stored before it loads, does not block the next half-year, and a
    correction to a half-year in those years is recorded (one outside them is refused)."""
    stored = municipality()
    target = build(stored, ev.TaakstellingSet, period="9999H2", target=40, source_ref="Circulaire")
    stored.apply(target)  # as stored before the rule: not checked
    gemeente = project_stream(None, [target])

    assert isinstance(gemeente, Municipality)
    assert gemeente.periods == {"9999H2"}
    taakstelling(gemeente, "2024H2")
    with pytest.raises(RuleViolationError, match="'9999H1' is outside the years") as info:
        correct(gemeente, 1, period="9999H1")
    assert info.value.field == "period"
    correct(gemeente, 1, period="2024H1")
    assert gemeente.periods == {"2024H1", "2024H2"}
