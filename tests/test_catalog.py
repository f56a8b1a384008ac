"""The event catalog is complete and consistent: one entry per event, every field described."""

from __future__ import annotations

import inspect
import re
import typing
from collections import Counter
from typing import Any, get_args

import pytest
from eventsourcing.utils import get_topic
from pydantic import BaseModel

from ledger import events as ev
from ledger.catalog import CATALOG, CatalogEntry
from ledger.seals import READ_MODELS
from projections import PROJECTIONS

ENTRIES = list(CATALOG.values())
KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def by_name(entries: list[CatalogEntry]) -> Any:
    return pytest.mark.parametrize("item", entries, ids=[e.name for e in entries])


def defined_event_classes() -> set[type[ev.TrajectEvent]]:
    """Every public event class written in ledger/events.py, found independently of the catalog."""
    return {
        cls
        for _, cls in inspect.getmembers(ev, inspect.isclass)
        if issubclass(cls, ev.TrajectEvent)
        and cls is not ev.TrajectEvent
        and cls.__module__ == ev.__name__
        and not cls.__name__.startswith("_")
    }


def test_every_event_class_has_exactly_one_catalog_entry() -> None:
    # count entries per class, then compare with the classes the module defines
    counts = Counter(item.event for item in ENTRIES)
    assert [cls.__name__ for cls, n in counts.items() if n > 1] == []
    assert set(counts) == defined_event_classes()
    assert set(counts) == set(ev.EVENT_CLASSES)


def test_catalog_names_are_unique_kebab_case_and_match_their_keys() -> None:
    names = [item.name for item in ENTRIES]
    assert len(set(names)) == len(names)
    assert [n for n in names if not KEBAB.match(n)] == []
    assert all(key == item.name for key, item in CATALOG.items())


@by_name(ENTRIES)
def test_an_entry_has_a_dutch_term_and_a_summary(item: CatalogEntry) -> None:
    assert item.dutch.strip()
    assert item.summary.strip(" .")
    # the summary is a sentence for help texts: the occurred_on note is shown separately
    assert "occurred_on" not in item.summary
    assert item.occurred_on_means.strip()


@by_name(ENTRIES)
def test_an_event_is_stored_under_its_own_topic(item: CatalogEntry) -> None:
    assert get_topic(item.event) == f"ledger.events:{item.kind}"
    assert item.stream in set(ev.StreamKind)


@by_name(ENTRIES)
def test_every_field_has_a_description(item: CatalogEntry) -> None:
    undescribed = [
        name
        for name, info in item.event.model_fields.items()
        if name not in {"originator_id", "originator_version", "timestamp"}
        and not (info.description or "").strip()
    ]
    assert undescribed == []


def mentions_any(annotation: Any) -> bool:
    if annotation is Any or annotation is object:
        return True
    return any(mentions_any(arg) for arg in get_args(annotation))


@by_name(ENTRIES)
def test_no_field_is_typed_any(item: CatalogEntry) -> None:
    hints = typing.get_type_hints(item.event, include_extras=True)
    assert [name for name in item.event.model_fields if mentions_any(hints[name])] == []


@pytest.mark.parametrize(
    "model",
    [*ev.EVENT_CLASSES, ev.TrajectEvent, ev.Evidence],
    ids=lambda cls: cls.__name__,
)
def test_every_model_is_frozen_and_forbids_extra_fields(model: type[BaseModel]) -> None:
    assert model.model_config.get("frozen") is True
    assert model.model_config.get("extra") == "forbid"


@by_name(ENTRIES)
def test_personal_fields_are_optional(item: CatalogEntry) -> None:
    # a shredded stream reads its personal fields as None, so the model must accept that
    for name in item.event.personal_fields():
        info = item.event.model_fields[name]
        assert not info.is_required(), name
        assert info.default is None, name


def test_the_envelope_has_no_personal_fields() -> None:
    assert ev.TrajectEvent.personal_fields() == frozenset()


def test_the_fields_that_name_staff_are_marked_and_bodies_are_not() -> None:
    # a pseudonymised export replaces these values by the staff member's pseudonym; the
    # envelope's recorder has a way of its own (under _pseudonyms), organisations none
    marked = {(item.event.__name__, name) for item in ENTRIES for name in item.event.staff_fields()}
    assert marked == {
        ("CoachAssigned", "staff_id"),
        ("CoachUnassigned", "staff_id"),
        ("StaffTimeRecorded", "staff_id"),
        ("BroadIntakeStarted", "by"),
        ("BroadIntakeCompleted", "by"),
        ("PipAdopted", "contact_person"),
        ("LadderAssessed", "assessor"),
        ("FamilyReunificationApplied", "assisted_by"),
        ("ParticipantEnrolled", "checked_by"),
        ("PersonalDataShredded", "approved_by"),
        ("SpecialCategoryRead", "read_by"),
    }
    assert ev.TrajectEvent.staff_fields() == frozenset()


@by_name(ENTRIES)
def test_a_name_of_staff_is_a_user_name_and_not_personal(item: CatalogEntry) -> None:
    # stored in clear for the read models (the caseload per coach), never erased with a person;
    # a user name in lower case, but for the reader of special-category values, who is the
    # recorder (--user) and kept as typed, like recorded_by
    hints = typing.get_type_hints(item.event, include_extras=True)
    for name in item.event.staff_fields():
        assert name not in item.event.personal_fields(), name
        typed = (ev.Text,) if name == "read_by" else (ev.StaffName, ev.StaffName | None)
        assert hints[name] in typed, name


def test_control_events_are_not_recorded_with_traject_record() -> None:
    assert {item.event for item in ENTRIES if not item.recordable} == {
        ev.PersonRegistered,
        *ev.CONTROL_EVENTS,
    }


def test_the_ledger_knows_every_read_model_a_seal_may_name() -> None:
    """A seal's read_models may name only these (ledger.seals.READ_MODELS): the ledger may not
    import the projections, so it keeps their names, and they must stay the same."""
    assert set(READ_MODELS) == set(PROJECTIONS)
