"""The municipality stream (taakstelling per half-year) and the AMIF project stream."""

from __future__ import annotations

from datetime import date

import pytest
from builders import correct, give, municipality, project, project_fields, retract
from pydantic import ValidationError

from ledger import events as ev
from ledger.errors import RuleViolationError


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
    with pytest.raises(ValidationError, match="eligibility_to must not be before"):
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
