"""A correction or retraction is refused when it would leave a later fact breaking a hard rule."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from builders import (
    build,
    correct,
    give,
    housed,
    linked,
    moved_on_from_gva,
    municipality,
    pip_fields,
    recorded_at,
    registered,
    retract,
    wi2021,
    with_permit,
)
from hypothesis import event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from strategies import days, gemeenten, housing_kinds, person_facts

from ledger import events as ev
from ledger.aggregates import StreamAggregate, Trajectory
from ledger.errors import LaterFactsBrokenError, RuleViolationError


def refused(change: Any, *args: Any, **kwargs: Any) -> LaterFactsBrokenError:
    """The refusal of a change that would break later facts; the stream must be unchanged."""
    stream: StreamAggregate = args[0]
    version, effective = stream.version, dict(stream.effective)
    with pytest.raises(LaterFactsBrokenError) as info:
        change(*args, **kwargs)
    assert (stream.version, stream.effective) == (version, effective)
    return info.value


def outflow(person: Trajectory, what: type[ev.TrajectEvent], **fields: Any) -> int:
    give(person, what, occurred_on=date(2024, 6, 3), outflow_type="werk_volledig", **fields)
    return person.version


# --- each kind of break is refused, naming the later fact --------------------------------------


def test_moving_the_koppeling_past_its_housing_is_refused():
    person = housed()  # v3 the koppeling of 2024-01-15, v4 the housing of 2024-03-04

    error = refused(correct, person, 3, occurred_on="2024-04-01")

    assert [(b.version, b.kind, b.field) for b in error.broken] == [(4, "Housed", "occurred_on")]
    assert "before the koppeling of 2024-04-01" in str(error)
    correct(person, 3, occurred_on="2024-03-04")  # the housing's own day is fine


def test_retracting_the_koppeling_a_later_housing_needed_is_refused():
    person = housed()  # v3 the koppeling, v4 the housing through it

    error = refused(retract, person, 3)

    assert (error.kind, error.field) == ("EventRetracted", "target_version")
    assert [(b.version, b.kind, b.occurred_on, b.field) for b in error.broken] == [
        (4, "Housed", date(2024, 3, 4), "route")
    ]
    assert str(error) == (
        "EventRetracted: target_version: later facts would break the rules: "
        "v4 Housed of 2024-03-04: route: koppeling needs an active koppeling "
        "(record coa-linked first) — correct or retract v4 first, "
        "or make the corrections in the other order"
    )


def test_the_same_retraction_is_allowed_once_the_later_housing_is_put_right_first():
    person = housed()
    # the housing was in fact found by the person herself: corrected first
    correct(person, 4, route="eigen")
    retract(person, 3)
    assert 3 not in person.effective
    # or, on another person, the housing is retracted first and then the koppeling
    other = housed()
    retract(other, 4)
    retract(other, 3)
    assert other.state.active_link is None


def test_a_departure_corrected_past_a_new_koppeling_would_link_a_person_still_housed():
    # housed on 2024-03-04 (v4), left the Netherlands (v5), back in reception and linked (v6)
    person = housed()
    give(person, ev.MovedOut, occurred_on=date(2024, 5, 1), destination="abroad")
    give(person, ev.CoaLinked, occurred_on=date(2024, 9, 2), taakstelling_period="2024H2")

    error = refused(correct, person, 5, occurred_on="2024-10-01")

    assert (error.kind, error.field) == ("EventCorrected", "changes")
    assert "v6 CoaLinked of 2024-09-02: occurred_on: dated 2024-09-02, after the person was " \
        "housed on 2024-03-04" in str(error)  # fmt: skip


def test_a_gva_housing_corrected_to_regular_would_orphan_a_later_doorstroom():
    person = moved_on_from_gva()

    error = refused(correct, person, 4, housing_kind="regulier")

    assert "v5 Housed of 2024-09-02: route: gva_doorstroom needs an earlier GVA housing" in str(
        error
    )


def test_a_permit_corrected_to_a_derived_one_would_make_the_later_koppeling_wrong():
    person = linked()  # v2 an asiel_bt permit, v3 the koppeling

    error = refused(correct, person, 2, permit_kind="asiel_afgeleid")

    assert "v3 CoaLinked of 2024-01-15: person: a nareiziger is not linked by COA" in str(error)


def test_a_birth_date_corrected_past_later_facts_names_each_of_them():
    person = with_permit()  # v2: the permit of 2023-11-01, before the registration
    give(person, ev.CoaLinked, occurred_on=date(2024, 1, 15), taakstelling_period="2024H1")
    give(person, ev.LadderAssessed, occurred_on=date(2023, 12, 1), rung=2, assessor="r.jansen")

    error = refused(correct, person, 1, birth_date="2024-01-10")

    assert [(b.version, b.kind, b.field) for b in error.broken] == [
        (2, "ResidencePermitRecorded", "occurred_on"),
        (4, "LadderAssessed", "occurred_on"),
    ]
    assert "v2 ResidencePermitRecorded of 2023-11-01: occurred_on: must not be before birth" in (
        str(error)
    )
    assert "correct or retract v2, v4 first" in str(error)
    # a birth date that leaves every fact after birth is fine
    correct(person, 1, birth_date="1991-04-02")


def test_retracting_a_reopening_would_make_the_later_closing_a_second_one():
    person = registered()
    give(person, ev.CaseClosed, reason="guidance_ended")
    give(person, ev.CaseReopened, occurred_on=date(2024, 7, 1))
    give(person, ev.CaseClosed, occurred_on=date(2024, 8, 1), reason="moved")

    error = refused(retract, person, 3)

    assert "v4 CaseClosed of 2024-08-01: person: the case is already closed" in str(error)
    # and retracting the first closing would leave the reopening nothing to reopen
    assert "v3 CaseReopened of 2024-07-01: person: the case is not closed" in str(
        refused(retract, person, 2)
    )


def test_an_outflow_cannot_be_retracted_or_retyped_under_its_later_end():
    person = registered()
    started = outflow(person, ev.OutflowStarted)
    outflow(person, ev.OutflowEnded, reason="contract ended")

    assert "outflow_type: no open werk_volledig outflow to end" in str(
        refused(retract, person, started)
    )
    refused(correct, person, started, outflow_type="onderwijs")


def test_an_outflow_start_cannot_move_past_its_end_nor_its_end_be_retracted_under_a_restart():
    person = registered()
    started = outflow(person, ev.OutflowStarted)  # 2024-06-03
    ended = outflow(person, ev.OutflowEnded, reason="contract ended")  # the same day
    give(person, ev.OutflowStarted, occurred_on=date(2024, 9, 2), outflow_type="werk_volledig")

    assert "v3 OutflowEnded of 2024-06-03: occurred_on: dated 2024-06-03, before the start" in str(
        refused(correct, person, started, occurred_on="2024-06-04")
    )
    # without the end, the later start would be a second open werk_volledig outflow
    assert "v4 OutflowStarted of 2024-09-02: outflow_type: a werk_volledig outflow is already" in (
        str(refused(retract, person, ended))
    )


def test_a_guidance_year_cannot_be_retracted_or_moved_under_its_end():
    person = registered()
    give(person, ev.SocialGuidanceStarted, year_no=1, provider="VluchtelingenWerk")
    give(person, ev.SocialGuidanceEnded, occurred_on=date(2024, 9, 1), year_no=1)

    assert "v3 SocialGuidanceEnded of 2024-09-01: year_no: no open guidance year 1 to end" in (
        str(refused(retract, person, 2))
    )
    assert "v3 SocialGuidanceEnded of 2024-09-01: occurred_on: dated 2024-09-01, before" in str(
        refused(correct, person, 2, occurred_on="2024-09-02")
    )


def test_a_koppeling_cannot_move_to_another_municipality_under_its_housing():
    person = housed()  # v3 the koppeling to GM0622, v4 the housing through it

    error = refused(correct, person, 3, municipality="GM0599")

    assert [(b.version, b.kind, b.field) for b in error.broken] == [(4, "Housed", "municipality")]
    # and the housing itself cannot move away from its koppeling
    with pytest.raises(RuleViolationError, match="through the koppeling to GM0622") as info:
        correct(person, 4, municipality="GM0599")
    assert info.value.field == "municipality"


def test_a_taakstelling_cannot_be_retracted_or_moved_under_its_later_correction():
    gemeente = municipality()
    for period in ("2024H2", "2024H1"):
        give(
            gemeente,
            ev.TaakstellingSet,
            occurred_on=date(2023, 12, 15),
            period=period,
            target=40,
            source_ref="Circulaire",
        )
    give(gemeente, ev.TaakstellingCorrected, period="2024H1", target=38, source_ref="Brief BZK")

    assert "v3 TaakstellingCorrected of 2024-06-03: period: 2024H1 has no target" in str(
        refused(retract, gemeente, 2)
    )
    refused(correct, gemeente, 2, period="2025H1")
    # moving the first target onto the second's period makes the later one a second target
    assert "v2 TaakstellingSet of 2023-12-15: period: 2024H1 already has a target" in str(
        refused(correct, gemeente, 1, period="2024H1")
    )


# --- how later facts are judged -----------------------------------------------------------------


def test_a_later_fact_is_judged_as_of_its_own_latest_recording():
    person = housed()  # the housing of 2024-03-04 was recorded that day
    # on 2024-11-01 the housing date is corrected to a week later: a date after the housing's
    # own recording, but not in the future when the correction was recorded
    correct(person, 4, occurred_on="2024-03-11")

    # judged as of its correction, the housing met every rule: the retraction breaks it
    error = refused(retract, person, 3)

    assert [(b.version, b.occurred_on) for b in error.broken] == [(4, date(2024, 3, 11))]


def test_a_later_deadline_warning_is_no_reason_to_refuse():
    person = wi2021()  # v5: the duty, notified on 2024-03-10
    give(person, ev.PipAdopted, **pip_fields())  # PIP v1 of 2024-04-15: in time
    # a notice ten weeks earlier makes that PIP late: a warning for the PIP, not a refusal
    correct(person, 5, occurred_on="2024-01-05")
    assert person.effective[5].occurred_on == date(2024, 1, 5)


def test_an_inconsistency_the_stream_already_held_does_not_block_other_changes():
    person = housed()  # v2 the permit, v3 the koppeling, v4 the housing through it
    # an earlier release appended this retraction without re-checking the housing after it
    old_retraction = build(person, ev.EventRetracted, target_version=3, reason="old release")
    person.apply(old_retraction)

    # the housing already breaks its rule: a change before it that does not touch it goes ahead
    correct(person, 2, notified_on="2023-11-06")
    assert person.effective[2].notified_on == date(2023, 11, 6)
    # a change that breaks another later fact is still refused, naming only that fact
    error = refused(correct, person, 1, birth_date="2024-01-10")
    assert [(b.version, b.kind) for b in error.broken] == [(2, "ResidencePermitRecorded")]


# --- property: whatever is accepted leaves a stream that passes every check -------------------

OTHER_FACTS = st.one_of(
    st.tuples(st.just(ev.CaseClosed), st.just({"reason": "other"})),
    st.tuples(st.just(ev.CaseReopened), st.just({})),
    st.tuples(
        st.just(ev.ResidencePermitRecorded),
        st.fixed_dictionaries({"permit_kind": st.sampled_from(["asiel_bt", "asiel_afgeleid"])}),
    ),
)
CHANGED_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "occurred_on": days.map(date.isoformat),
        "birth_date": st.dates(date(1990, 1, 1), date(2024, 1, 10)).map(date.isoformat),
        "route": st.sampled_from(["koppeling", "eigen", "nareis", "gva_doorstroom"]),
        "housing_kind": housing_kinds,
        "permit_kind": st.sampled_from(["asiel_bt", "asiel_afgeleid"]),
        "outflow_type": st.sampled_from(["werk_volledig", "onderwijs"]),
        "year_no": st.sampled_from([1, 2]),
        "rung": st.integers(1, 6),
        "municipality": gemeenten,
    },
)
CHANGED_ON = date(2025, 12, 31)  # every change is recorded after every fact's date
changes = st.one_of(
    st.tuples(st.just("correct"), st.integers(1, 14), CHANGED_FIELDS),
    st.tuples(st.just("retract"), st.integers(2, 14)),
)
steps = st.lists(
    st.tuples(days, st.one_of(person_facts, OTHER_FACTS, changes, changes)), max_size=25
)


def attempt(person: Trajectory, on: date, what: Any, *arguments: Any) -> None:
    """Record one step; a refusal leaves the stream as it was."""
    try:
        if what == "correct":
            target, changes = arguments
            kept = {k: v for k, v in changes.items() if k in type_fields(person, target)}
            give(
                person,
                ev.EventCorrected,
                target_version=target,
                changes=kept or {"occurred_on": on.isoformat()},
                occurred_on=CHANGED_ON,
                timestamp=recorded_at(CHANGED_ON),
            )
        elif what == "retract":
            give(person, ev.EventRetracted, target_version=arguments[0], occurred_on=CHANGED_ON)
        else:
            fields = {"municipality": person.state.municipality or "GM0622", **arguments[0]}
            give(person, what, occurred_on=on, **fields)
    except LaterFactsBrokenError:
        event("refused: later facts would break")
    except (RuleViolationError, ValidationError):
        event("refused")
    else:
        event(f"accepted {what if isinstance(what, str) else what.__name__}")


def type_fields(person: Trajectory, target: int) -> set[str]:
    found = person.stored.get(target)
    return set(type(found).model_fields) if found is not None else set()


def recorded_right_first_time(person: Trajectory) -> None:
    """Record the effective events anew, each as when it was last judged: every one passes."""
    fresh = Trajectory(person.id)
    for version in sorted(person.effective):
        effective = person.effective[version]
        changes = person.corrected_by.get(version)
        moment = person.stored[changes[-1]].timestamp if changes else effective.timestamp
        fresh.record(
            effective.model_copy(
                update={"originator_version": fresh.version + 1, "timestamp": moment}
            )
        )


@settings(max_examples=max(settings.default.max_examples, 300))  # ~2 ms each; few break
@given(plan=steps)
def test_an_accepted_change_leaves_every_effective_fact_passing_its_rules(plan):
    person = housed()  # the usual start (permit, koppeling, housing), then anything
    for on, (what, *arguments) in plan:
        attempt(person, on, what, *arguments)
    recorded_right_first_time(person)
