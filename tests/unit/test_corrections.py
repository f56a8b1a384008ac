"""Corrections and retractions: compensating events that re-derive a stream's state."""

from __future__ import annotations

from datetime import date

import pytest
from builders import (
    correct,
    give,
    housed,
    linked,
    pip_fields,
    recorded_at,
    registered,
    retract,
    wi2021,
)
from pydantic import ValidationError

from ledger import events as ev
from ledger.aggregates import Trajectory
from ledger.errors import RuleViolationError


def ladder(person, rung=3, on=date(2024, 6, 3)):
    give(person, ev.LadderAssessed, occurred_on=on, rung=rung, assessor="r.jansen")
    return person.version


def test_a_correction_must_name_an_existing_version():
    person = registered()
    with pytest.raises(RuleViolationError, match="this stream has no version 9") as info:
        correct(person, 9, rung=2)
    assert (info.value.kind, info.value.field) == ("EventCorrected", "target_version")
    with pytest.raises(RuleViolationError, match="this stream has no version 9"):
        retract(person, 9)


def test_a_correction_or_retraction_cannot_itself_be_corrected_or_retracted():
    person = registered()
    target = ladder(person)
    correct(person, target, rung=4)
    correction = person.version
    with pytest.raises(RuleViolationError, match="cannot themselves be changed"):
        correct(person, correction, rung=5)
    with pytest.raises(RuleViolationError, match="cannot themselves be changed"):
        retract(person, correction)
    other = ladder(person)
    retract(person, other)
    with pytest.raises(RuleViolationError, match="cannot themselves be changed"):
        retract(person, person.version)


def test_a_retracted_event_can_be_neither_corrected_nor_retracted_again():
    person = registered()
    target = ladder(person)
    retract(person, target)
    retraction = person.version
    with pytest.raises(RuleViolationError, match=f"already retracted \\(by v{retraction}\\)"):
        correct(person, target, rung=4)
    with pytest.raises(RuleViolationError, match="already retracted"):
        retract(person, target)


def test_the_first_event_can_be_corrected_but_not_retracted():
    person = registered()
    with pytest.raises(RuleViolationError, match="first event of a stream cannot be retracted"):
        retract(person, 1)
    correct(person, 1, birth_date="1991-04-02")
    assert person.state.birth_date == date(1991, 4, 2)


def test_corrected_values_are_validated_by_the_target_model():
    person = registered()
    target = ladder(person)
    # rung 7 does not exist on the Participatieladder
    with pytest.raises(ValidationError, match="rung"):
        correct(person, target, rung=7)
    # an exam result cannot be corrected to before the exam
    person = wi2021()
    give(
        person,
        ev.ExamResultRecorded,
        occurred_on=date(2024, 6, 3),
        component="lezen",
        level="B1",
        result="gezakt",
        result_date=date(2024, 7, 1),
        timestamp=recorded_at(date(2024, 7, 1)),  # recorded once the result is out
    )
    with pytest.raises(ValidationError, match="must not be before the exam date"):
        correct(person, person.version, result_date="2024-06-01")


def test_a_rejected_correction_leaves_the_stream_unchanged():
    person = registered()
    target = ladder(person, rung=3)
    with pytest.raises(ValidationError):
        correct(person, target, rung=0)
    assert person.version == target
    assert person.effective[target].rung == 3


def test_a_correction_replaces_the_values_and_keeps_the_original():
    person = registered()
    target = ladder(person, rung=3)
    correct(person, target, rung=4)
    # the effective event has the new rung; the stored one still has the old
    assert person.effective[target].rung == 4
    assert person.stored[target].rung == 3
    assert person.corrected_by == {target: [person.version]}


def test_two_corrections_of_one_event_compose():
    person = registered()
    target = ladder(person, rung=3)
    correct(person, target, rung=4)
    correct(person, target, assessor="m.devries")
    effective = person.effective[target]
    assert (effective.rung, effective.assessor) == (4, "m.devries")
    assert len(person.corrected_by[target]) == 2


def test_a_retracted_koppeling_no_longer_allows_housing_through_koppeling():
    person = linked()
    koppeling = person.version
    retract(person, koppeling)
    assert person.state.active_link is None
    with pytest.raises(RuleViolationError, match="koppeling needs an active koppeling"):
        give(
            person,
            ev.Housed,
            occurred_on=date(2024, 11, 2),
            housing_kind="regulier",
            route="koppeling",
        )
    # the retracted link stays in the history
    assert isinstance(person.stored[koppeling], ev.CoaLinked)
    assert koppeling not in person.effective


def test_retracting_a_housing_gives_the_koppeling_back():
    person = housed()
    retract(person, person.version)
    assert person.state.active_link == "GM0622"
    assert person.state.housed_in == []


def test_a_corrected_koppeling_municipality_is_the_active_link():
    person = linked()
    correct(person, person.version, municipality="GM0599")
    assert person.state.active_link == "GM0599"


def test_a_correction_re_derives_state_that_later_rules_use():
    # a corrected PIP route decides whether the MAP is allowed
    person = wi2021()
    give(person, ev.PipAdopted, **pip_fields(leerroute="B1"))
    correct(person, person.version, leerroute="onderwijs")
    with pytest.raises(RuleViolationError, match="MAP is not part of the onderwijsroute"):
        give(person, ev.MapCompleted, occurred_on=date(2024, 11, 2))


def test_a_corrected_date_cannot_lie_before_birth():
    person = registered(birth_date=date(1990, 4, 2))
    target = ladder(person)
    with pytest.raises(RuleViolationError, match="must not be before birth"):
        correct(person, target, occurred_on="1990-04-01")


def test_a_corrected_date_cannot_lie_after_the_correction_is_recorded():
    person = registered()
    target = ladder(person, on=date(2024, 6, 3))
    # the correction is recorded on 2024-11-01 (see builders.correct)
    with pytest.raises(RuleViolationError, match="must not be in the future"):
        correct(person, target, occurred_on="2024-11-02")


def test_a_corrected_date_after_the_original_recording_is_not_in_the_future():
    # recorded on 2024-06-03 as happening that day; it actually happened a week later, and
    # that is corrected on 2024-11-01, when the corrected date is in the past
    person = registered()
    target = ladder(person, on=date(2024, 6, 3))
    correct(person, target, occurred_on="2024-06-10")
    assert person.effective[target].occurred_on == date(2024, 6, 10)


def test_a_correction_is_itself_checked_for_a_future_date():
    person = registered()
    target = ladder(person)
    with pytest.raises(RuleViolationError, match="must not be in the future"):
        give(
            person,
            ev.EventCorrected,
            target_version=target,
            changes={"rung": 2},
            occurred_on=date(2024, 12, 2),
            timestamp=recorded_at(date(2024, 12, 1)),
        )


def test_replaying_the_stored_events_gives_the_same_state():
    person = housed()
    target = ladder(person)
    correct(person, target, rung=5)
    retract(person, 4)  # the housing, then the koppeling it needed
    retract(person, 3)
    copy = Trajectory(person.id)
    for version in sorted(person.stored):
        copy.apply(person.stored[version])
    assert copy.state == person.state
    assert copy.effective == person.effective


# --- a corrected event meets the rules an original would have met ------------------------------


def test_a_birth_date_cannot_be_corrected_to_after_the_registration():
    person = registered()
    registration = person.effective[1]
    later = registration.occurred_on.replace(year=registration.occurred_on.year + 1)
    with pytest.raises(RuleViolationError, match="birth_date: must not be after the registration"):
        correct(person, 1, birth_date=later.isoformat())


def test_a_later_pip_cannot_be_corrected_into_a_second_version_1():
    person = wi2021()
    give(person, ev.PipAdopted, **pip_fields(version=1))
    second = person.version + 1
    give(person, ev.PipAdopted, **pip_fields(version=2, occurred_on=date(2024, 5, 1)))
    # checked against the stream before it, version 1 already exists
    with pytest.raises(RuleViolationError, match="version: must be above the latest version"):
        correct(person, second, version=1)


def test_a_koppeling_housing_cannot_be_corrected_onto_the_nareis_route_of_a_linked_person():
    person = linked()
    give(
        person,
        ev.Housed,
        occurred_on=date(2024, 3, 4),
        housing_kind="regulier",
        route="koppeling",
    )
    with pytest.raises(RuleViolationError, match="route: nareis is for a nareiziger"):
        correct(person, person.version, route="nareis")
