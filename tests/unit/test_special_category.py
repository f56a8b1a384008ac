"""Special-category fields (GDPR Art. 9) in the catalog, and the read fact as a control fact."""

from __future__ import annotations

from datetime import date

import pytest
from builders import build, correct, give, registered, retract

from ledger import events as ev
from ledger.catalog import CATALOG
from ledger.errors import RuleViolationError
from ledger.special import special_values, target_class, values_in, withhold


def intake(person, health_barrier=True):
    give(
        person,
        ev.BroadIntakeCompleted,
        occurred_on=date(2024, 6, 3),
        by="r.jansen",
        health_barrier=health_barrier,
    )
    return person.version


def correct_flag(person, target, value, **changes):
    """A correction as the ledger makes it: personal values in its encrypted personal changes."""
    give(
        person,
        ev.EventCorrected,
        target_version=target,
        changes=changes,
        personal_changes={"health_barrier": value},
        occurred_on=date(2024, 11, 1),
    )


def read(person, **fields):
    fields = {
        "read_by": "r.jansen",
        "command": "timeline",
        "field_names": ("health_barrier",),
        "purpose": "bezwaar BZW-2026-014",
    } | fields
    return give(person, ev.SpecialCategoryRead, **fields)


def test_health_barrier_is_a_special_category_field_and_personal_too() -> None:
    assert ev.BroadIntakeCompleted.special_category_fields() == frozenset({"health_barrier"})
    assert "health_barrier" in ev.BroadIntakeCompleted.personal_fields()
    schema = ev.BroadIntakeCompleted.model_json_schema()["properties"]["health_barrier"]
    assert schema["special_category"] is True
    assert schema["personal"] is True


def test_every_special_category_field_is_personal() -> None:
    for item in CATALOG.values():
        assert item.event.special_category_fields() <= item.event.personal_fields(), item.name


def test_a_registration_holds_no_special_category_field() -> None:
    # `traject person show` shows the registration in clear without recording a read: a
    # special-category field added to it would need the read recorded there too
    assert ev.PersonRegistered.special_category_fields() == frozenset()


def test_the_read_fact_holds_no_personal_data_and_is_a_control_fact() -> None:
    assert ev.SpecialCategoryRead.personal_fields() == frozenset()
    assert ev.SpecialCategoryRead in ev.CONTROL_EVENTS
    assert not CATALOG["special-category-read"].recordable


def test_special_values_names_the_fields_that_hold_a_value() -> None:
    person = registered()
    given = intake(person)
    unknown = intake(person, health_barrier=None)
    assert special_values(person.stored[given]) == frozenset({"health_barrier"})
    assert special_values(person.stored[unknown]) == frozenset()
    assert special_values(person.stored[1]) == frozenset()
    # a correction of the flag holds it in its personal changes, by its target's class
    correct_flag(person, given, False)
    correction = person.stored[person.version]
    assert special_values(correction) == frozenset()  # target unknown: none
    target = target_class(correction, person.stored)
    assert target is ev.BroadIntakeCompleted
    assert special_values(correction, target) == frozenset({"health_barrier"})
    assert values_in(person.stored.values()) == ("health_barrier",)
    assert values_in([person.stored[1], person.stored[unknown]]) == ()


def test_withhold_leaves_the_values_out_of_a_copy_only() -> None:
    person = registered()
    given = intake(person)
    correct_flag(person, given, False, by="s.bakker")
    original, correction = person.stored[given], person.stored[person.version]
    assert isinstance(original, ev.BroadIntakeCompleted)
    assert isinstance(correction, ev.EventCorrected)
    hidden = withhold(original, {"health_barrier"})
    assert isinstance(hidden, ev.BroadIntakeCompleted)
    assert hidden.health_barrier is None
    assert hidden.by == "r.jansen"
    assert original.health_barrier is True
    assert withhold(correction, {"health_barrier"}).personal_changes is None
    assert withhold(original, ()) is original


def test_a_read_changes_nothing_in_the_trajectory() -> None:
    person = registered()
    intake(person)
    before = (person.state, dict(person.effective))
    warnings = read(person)
    assert warnings == []
    assert person.state == before[0]
    assert isinstance(person.effective[person.version], ev.SpecialCategoryRead)


def test_a_read_can_be_neither_corrected_nor_retracted() -> None:
    person = registered()
    intake(person)
    read(person)
    fact = person.version
    with pytest.raises(RuleViolationError, match=r"\(special-category-read\) is a fact about"):
        correct(person, fact, purpose="something else")
    with pytest.raises(RuleViolationError, match="cannot themselves be changed"):
        retract(person, fact)


def test_a_read_is_recorded_after_death_as_other_control_facts() -> None:
    person = registered()
    intake(person)
    give(person, ev.Deceased, occurred_on=date(2024, 7, 1))
    read(person, occurred_on=date(2024, 8, 1))
    assert isinstance(person.stored[person.version], ev.SpecialCategoryRead)


def test_a_read_names_at_least_one_well_formed_field() -> None:
    person = registered()
    with pytest.raises(ValueError, match="field_names"):
        build(person, ev.SpecialCategoryRead, read_by="a", command="timeline", purpose="x",
              field_names=())  # fmt: skip
    with pytest.raises(ValueError, match="field_names"):
        build(person, ev.SpecialCategoryRead, read_by="a", command="timeline", purpose="x",
              field_names=("Health Barrier",))  # fmt: skip
