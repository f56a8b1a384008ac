"""Property: random life courses written to a SQLite ledger reload into the same aggregate state.

Each example writes the same operations to a pure, in-process Trajectory and to a ledger on a
fresh SQLite file: register, permit, koppeling (and withdrawal), tenancy, housing, ladder
assessments, outflow started and ended, guidance, corrections and retractions, with out-of-order
``occurred_on`` dates. Both must accept or refuse each operation alike, and the stream reloaded
from the file by a fresh ledger must fold to the very state of the in-process aggregate.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from builders import STAFF, give, person_fields
from hypothesis import currently_in_test_context, event, given
from hypothesis import strategies as st
from pydantic import ValidationError
from strategies import days, gemeenten, housing_kinds, person_facts

from ledger import events as ev
from ledger.aggregates import Trajectory
from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.crypto import generate_master_key
from ledger.errors import RuleViolationError, ValidationFailedError

MASTER_KEY = generate_master_key()
PEOPLE = 2

corrections = st.fixed_dictionaries(
    {},
    optional={
        "occurred_on": days.map(date.isoformat),
        "rung": st.integers(1, 6),
        "municipality": gemeenten,
    },
)
random_operations = st.lists(
    st.tuples(
        st.integers(0, PEOPLE - 1),
        days,
        st.one_of(
            person_facts,
            st.tuples(st.just("correct"), st.integers(2, 10), corrections),
            st.tuples(st.just("retract"), st.integers(2, 10)),
        ),
    ),
    max_size=20,
)


@st.composite
def spine(draw: st.DrawFn, number: int) -> list[Any]:
    """The usual start of a path, each step kept or left out: permit, koppeling, tenancy, housed."""
    steps = [
        (ev.ResidencePermitRecorded, {"permit_kind": "asiel_bt", "notified_on": date(2023, 2, 3)}),
        (ev.CoaLinked, {"taakstelling_period": "2023H1", "municipality": "GM0622"}),
        (ev.TenancySigned, {"housing_kind": draw(housing_kinds), "address": "Proefstraat 2"}),
        (ev.Housed, {"housing_kind": draw(housing_kinds), "route": "koppeling"}),
    ]
    kept = [step for step in steps if draw(st.booleans()) or draw(st.booleans())]
    return [(number, date(2023, 2, 1 + day), step) for day, step in enumerate(kept)]


operations = st.tuples(*(spine(n) for n in range(PEOPLE)), random_operations).map(
    lambda parts: [op for part in parts for op in part]
)


def applicable(person: Trajectory, target: int, changes: dict[str, Any]) -> dict[str, Any]:
    """The changes that the target event has fields for (a correction names real fields)."""
    event = person.effective.get(target) or person.stored.get(target)
    if event is None:
        return changes or {"occurred_on": "2024-01-01"}
    names = set(type(event).model_fields)
    kept = {name: value for name, value in changes.items() if name in names}
    return kept or {"occurred_on": event.occurred_on.isoformat()}


def mirrored(mirror: Trajectory, write, cls, **fields) -> None:
    """Apply one operation to the in-process aggregate and to the ledger: same outcome."""
    # like the ledger, default to the person's current municipality
    fields.setdefault("municipality", mirror.state.municipality)
    try:
        give(mirror, cls, timestamp=datetime.now(UTC), **fields)
    except RuleViolationError as refusal:
        with pytest.raises(RuleViolationError) as info:
            write()
        assert (info.value.kind, info.value.field) == (refusal.kind, refusal.field)
        note(f"refused {refusal.kind}.{refusal.field}")
        return
    except ValidationError:
        with pytest.raises(ValidationFailedError):
            write()
        return
    recorded = write()
    assert recorded.version == mirror.version
    note(f"accepted {cls.__name__}")


def note(outcome: str) -> None:
    """Count outcomes in hypothesis' statistics (pytest --hypothesis-show-statistics)."""
    if currently_in_test_context():
        event(outcome)


def comparable(aggregate: Trajectory) -> dict[str, Any]:
    return {
        "version": aggregate.version,
        "state": aggregate.state,
        "effective": {
            version: event.model_dump(exclude={"timestamp"})
            for version, event in aggregate.effective.items()
        },
        "corrected_by": aggregate.corrected_by,
        "retracted_by": aggregate.retracted_by,
    }


@given(plan=operations)
def test_random_life_courses_reload_from_sqlite_into_the_same_state(plan):
    with tempfile.TemporaryDirectory() as directory:
        env = parse_database_url(f"sqlite:///{Path(directory) / 'ledger.db'}").library_env
        app = TrajectoryLedger(env, MASTER_KEY)
        app.initialise(default_municipality="GM0622")
        try:
            run(app, plan)
        finally:
            app.close()


def run(app: TrajectoryLedger, plan) -> list[Trajectory]:
    # register everyone, in the ledger and in process
    mirrors: list[Trajectory] = []
    for number in range(PEOPLE):
        fields = person_fields(name=f"Proefpersoon {number}", recorded_by=STAFF)
        person_id = app.register_person(**fields).stream_id
        mirror = Trajectory(person_id)
        give(mirror, ev.PersonRegistered, timestamp=datetime.now(UTC), **fields)
        mirrors.append(mirror)

    for number, on, (what, *arguments) in plan:
        mirror = mirrors[number]
        person_id = mirror.id
        if what == "correct":
            target, changes = arguments
            changes = applicable(mirror, target, changes)
            mirrored(
                mirror,
                lambda t=target, c=changes, p=person_id: app.correct(
                    p, t, c, reason="proef", recorded_by=STAFF, occurred_on=date(2025, 12, 31)
                ),
                ev.EventCorrected,
                target_version=target,
                changes=changes,
                occurred_on=date(2025, 12, 31),
            )
        elif what == "retract":
            (target,) = arguments
            mirrored(
                mirror,
                lambda t=target, p=person_id: app.retract(
                    p, t, reason="proef", recorded_by=STAFF, occurred_on=date(2025, 12, 31)
                ),
                ev.EventRetracted,
                target_version=target,
                occurred_on=date(2025, 12, 31),
            )
        else:
            fields = {**arguments[0], "occurred_on": on}
            mirrored(
                mirror,
                lambda c=what, f=fields, p=person_id: app.record(p, c, recorded_by=STAFF, **f),
                what,
                **fields,
            )

    # a fresh ledger on the same file, with no key or aggregate cached, reloads every stream
    fresh = TrajectoryLedger(app.env, MASTER_KEY)
    try:
        for mirror in mirrors:
            expected = comparable(mirror)
            assert comparable(app.repository.get(mirror.id)) == expected
            assert comparable(fresh.repository.get(mirror.id)) == expected
            # loading with the fold-once projector gives the same aggregate as event by event
            assert comparable(fresh._get(mirror.id)) == expected
    finally:
        fresh.close()
    return mirrors


def test_a_hand_picked_life_course_is_mirrored_refusals_included():
    # the same machinery on a known plan: accepted facts, refused ones, a correction and
    # a retraction, and a refused retraction of the registration
    linked = (ev.CoaLinked, {"taakstelling_period": "2024H1", "municipality": "GM0622"})
    housed = (
        ev.Housed,
        {"housing_kind": "regulier", "route": "koppeling", "municipality": "GM0622"},
    )
    plan = [
        (0, date(2024, 1, 5), linked),
        (0, date(2024, 2, 1), housed),
        (0, date(2024, 3, 1), housed),  # refused: the koppeling is used up
        (1, date(2024, 3, 1), (ev.LadderAssessed, {"rung": 2, "assessor": "a.bakker"})),
        (1, date(2024, 3, 2), ("correct", 2, {"rung": 5})),
        (0, date(2024, 3, 3), ("retract", 3)),  # the housing: the koppeling is back
        (0, date(2024, 3, 3), ("retract", 1)),  # refused: the registration stays
    ]
    with tempfile.TemporaryDirectory() as directory:
        env = parse_database_url(f"sqlite:///{Path(directory) / 'ledger.db'}").library_env
        app = TrajectoryLedger(env, MASTER_KEY)
        app.initialise(default_municipality="GM0622")
        try:
            first, second = run(app, plan)
        finally:
            app.close()
    assert (first.version, first.state.active_link, first.state.housed_in) == (4, "GM0622", [])
    assert second.effective[2].rung == 5
