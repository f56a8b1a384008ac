"""The TrajectoryLedger write API and its reads, on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import orjson
import pytest
from builders import (
    close_case_long_ago,
    enrolment_fields,
    fresh_bsn,
    fresh_v_number,
    linked_person,
    person_fields,
    pip_fields,
    project_fields,
)
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from ledger import events as ev
from ledger.crypto import generate_master_key
from ledger.errors import (
    AmbiguousReferenceError,
    DuplicatePersonError,
    IdempotencyKeyReusedError,
    LaterFactsBrokenError,
    MasterKeyError,
    PersonNotFoundError,
    PersonReferenceError,
    RuleViolationError,
    TrajectError,
    UnchangedCorrectionError,
    ValidationFailedError,
)

# --- builders ------------------------------------------------------------------------------------


def register(app, **overrides) -> UUID:
    return app.register_person(**person_fields(**overrides)).stream_id


def assess(app, person, rung=3, **fields):
    assessed = {"occurred_on": date(2024, 6, 3), "rung": rung, "assessor": "r.jansen"}
    return app.record(person, ev.LadderAssessed, **(assessed | fields))


def moment() -> datetime:
    """A moment strictly between two recordings."""
    time.sleep(0.002)
    now = datetime.now(UTC)
    time.sleep(0.002)
    return now


# --- register and record -------------------------------------------------------------------------


def test_a_registered_person_reads_back_with_personal_fields_decrypted(app):
    bsn, v_number = fresh_bsn(), fresh_v_number()
    recorded = app.register_person(
        **person_fields(bsn=bsn, v_number=v_number, name="Amal Verzonnen")
    )
    assert (recorded.version, recorded.kind, recorded.duplicate) == (1, "PersonRegistered", False)
    person = app.person(recorded.stream_id)
    assert (person.registration.bsn, person.registration.v_number) == (bsn, v_number)
    assert person.registration.name == "Amal Verzonnen"
    # without a municipality the ledger's default is used
    assert person.municipality == "GM0622"
    assert person.status["case"] == "open"


def test_recorded_facts_append_in_order_and_change_the_state(app):
    person = linked_person(app)
    housed = app.record(
        person, ev.Housed, occurred_on=date(2024, 3, 4), housing_kind="regulier", route="koppeling"
    )
    assert housed.version == 4
    summary = app.person(person)
    assert summary.version == 4
    assert summary.status["koppeling"] == "-"
    assert summary.status["housed"] == "GM0622 regulier 2024-03-04"
    stored = app.repository.get(person).effective[4]
    assert stored.counts_for_taakstelling is True


def test_a_fact_recorded_late_comes_back_with_a_warning(app):
    person = register(app)
    recorded = assess(app, person)
    assert any("days after it happened" in warning for warning in recorded.warnings)


def test_a_refused_fact_stores_nothing(app):
    person = register(app)
    with pytest.raises(RuleViolationError, match="Housed: route: koppeling needs an active"):
        app.record(
            person,
            ev.Housed,
            occurred_on=date(2024, 3, 4),
            housing_kind="regulier",
            route="koppeling",
        )
    assert app.person(person).version == 1


def test_malformed_fields_are_refused_naming_the_field(app):
    person = register(app)
    with pytest.raises(ValidationFailedError, match="rung") as info:
        assess(app, person, rung=9)
    assert info.value.kind == "LadderAssessed"
    with pytest.raises(ValidationFailedError, match="bsn: not a valid BSN"):
        app.register_person(**person_fields(bsn="123456789"))
    with pytest.raises(ValidationFailedError, match="occurred_on"):
        app.record(person, ev.BrpRegistered, occurred_on="2024-13-01")


def test_recording_on_an_unknown_person_is_refused(app):
    with pytest.raises(PersonNotFoundError, match="no person"):
        assess(app, uuid4())


def test_control_events_are_recorded_only_through_their_own_methods(app):
    person = register(app)
    with pytest.raises(TrajectError, match="use correct/retract/shred"):
        app.record(person, ev.EventRetracted, target_version=1)


# --- correct, retract, timeline ------------------------------------------------------------------


def test_a_correction_is_applied_and_the_original_stays_in_the_timeline(app):
    person = register(app)
    assessed = assess(app, person, rung=3)
    # values come as text, as from the command line, and are stored in their JSON form
    correction = app.correct(person, assessed.version, {"rung": "4"}, reason="typo in rung")
    entries = app.timeline(person).entries
    assert [e.kind for e in entries] == ["PersonRegistered", "LadderAssessed", "EventCorrected"]
    original = entries[1]
    assert (original.event.rung, original.effective.rung) == (3, 4)
    assert original.corrected_by == (correction.version,)
    assert entries[2].event.changes == {"rung": 4}
    assert entries[2].event.reason == "typo in rung"


def test_a_correction_of_a_field_the_event_does_not_have_is_refused(app):
    person = register(app)
    assessed = assess(app, person)
    with pytest.raises(ValidationFailedError, match="LadderAssessed has no correctable field"):
        app.correct(person, assessed.version, {"route": "nareis"}, reason="wrong")
    with pytest.raises(ValidationFailedError, match="give at least one field"):
        app.correct(person, assessed.version, {}, reason="nothing")
    with pytest.raises(ValidationFailedError, match="EventCorrected of LadderAssessed: rung"):
        app.correct(person, assessed.version, {"rung": "seven"}, reason="wrong")


def test_a_correction_of_a_missing_version_is_refused_by_the_rule(app):
    person = register(app)
    with pytest.raises(RuleViolationError, match="this stream has no version 5"):
        app.correct(person, 5, {"rung": "4"}, reason="typo")


def test_a_retracted_event_stays_in_the_timeline_without_effect(app):
    person = linked_person(app)
    retraction = app.retract(person, 3, reason="linked to the wrong person")
    entries = app.timeline(person).entries
    assert entries[2].kind == "CoaLinked"
    assert entries[2].effective is None
    assert entries[2].retracted_by == retraction.version
    # the retraction re-derives the state: housing through koppeling is now refused
    with pytest.raises(RuleViolationError, match="koppeling needs an active koppeling"):
        app.record(
            person,
            ev.Housed,
            occurred_on=date(2024, 3, 4),
            housing_kind="regulier",
            route="koppeling",
        )


def housed_person(app) -> UUID:
    """v2 an asiel_bt permit of 2023-11-01, v3 the koppeling, v4 the housing through it."""
    person = linked_person(app)
    app.record(
        person, ev.Housed, occurred_on=date(2024, 3, 4), housing_kind="regulier", route="koppeling"
    )
    return person


def test_a_retraction_that_would_break_a_later_housing_is_refused_and_stores_nothing(app, make_app):
    person = housed_person(app)

    with pytest.raises(LaterFactsBrokenError, match="v4 Housed of 2024-03-04: route: koppeling"):
        app.retract(person, 3, reason="linked by mistake")

    # nothing was appended: a fresh ledger reads four events
    assert make_app().repository.get(person).version == 4
    # retracted in the other order, housing first, both go ahead
    app.retract(person, 4, reason="moved in elsewhere")
    app.retract(person, 3, reason="linked by mistake")
    assert app.person(person).status["koppeling"] == "-"


def test_a_duty_start_corrected_into_wi2013_would_leave_a_later_pip_under_the_wrong_regime(app):
    person = register(app)
    duty = app.record(
        person,
        ev.InburgeringDutyEstablished,
        occurred_on=date(2024, 3, 10),
        duty_start=date(2024, 3, 1),
    )
    app.record(person, ev.PipAdopted, **pip_fields())

    # the regime is derived again from the corrected start: Wi2013, where no PIP exists
    with pytest.raises(LaterFactsBrokenError) as info:
        app.correct(person, duty.version, {"duty_start": "2021-12-20"}, reason="DUO letter")

    assert (info.value.kind, info.value.field) == ("EventCorrected", "changes")
    assert [(b.version, b.kind, b.field) for b in info.value.broken] == [
        (3, "PipAdopted", "regime")
    ]
    assert "only under Wi2021; this person's duty is wi2013" in str(info.value)


def test_an_inconsistency_left_by_an_earlier_release_does_not_block_an_unrelated_correction(
    app, make_app
):
    person = housed_person(app)
    # an earlier release appended this retraction of the koppeling without re-checking the
    # housing after it: through the aggregate's own apply and the library's save
    stream = app.repository.get(person)
    old = app.build_event(stream, ev.EventRetracted, {"target_version": 3, "reason": "old"})
    stream.apply(old)
    stream.pending.append(old)
    app.save(stream)

    # the housing (v4) breaks its rule already; a correction before it goes ahead
    app.correct(person, 2, {"notified_on": "2023-11-06"}, reason="date on the letter")
    # one that breaks another later fact is refused, naming only that one
    with pytest.raises(LaterFactsBrokenError) as info:
        app.correct(person, 1, {"birth_date": "2024-01-10"}, reason="passport")
    assert [b.version for b in info.value.broken] == [2]
    assert make_app().repository.get(person).version == 6


def test_the_timeline_as_known_at_a_moment_leaves_out_what_was_recorded_later(app):
    person = register(app)
    assessed = assess(app, person, rung=3)
    before_correction = moment()
    app.correct(person, assessed.version, {"rung": "5"}, reason="rung 5, not 3")
    later = assess(app, person, rung=6)
    before_retraction = moment()
    app.retract(person, later.version, reason="duplicate")

    # as known before the correction: the original rung, no correction, no later event
    then = app.timeline(person, as_known_at=before_correction)
    assert [e.version for e in then.entries] == [1, 2]
    assert then.entries[1].effective.rung == 3
    assert then.entries[1].corrected_by == ()

    # as known before the retraction: the correction applies, the later event still counts
    middle = app.timeline(person, as_known_at=before_retraction)
    assert [e.version for e in middle.entries] == [1, 2, 3, 4]
    assert middle.entries[1].effective.rung == 5
    assert middle.entries[3].retracted_by is None

    # as known now: the later event is retracted
    now = app.timeline(person)
    assert now.entries[3].retracted_by == 5
    assert now.entries[3].effective is None


def test_the_timeline_before_registration_is_empty_and_an_unknown_stream_is_not_found(app):
    before = datetime.now(UTC)
    person = register(app)
    assert app.timeline(person, as_known_at=before).entries == ()
    with pytest.raises(PersonNotFoundError):
        app.timeline(uuid4())


def test_correcting_the_duty_start_derives_the_regime_again(app):
    person = register(app)
    duty = app.record(
        person,
        ev.InburgeringDutyEstablished,
        occurred_on=date(2022, 1, 5),
        duty_start=date(2021, 12, 20),
    )
    assert app.person(person).status["duty"] == "wi2013 since 2021-12-20"
    # the obligation really started in 2022: Wi2021 applies, and Wi2021 events are accepted
    app.correct(person, duty.version, {"duty_start": "2022-01-03"}, reason="DUO letter")
    assert app.person(person).status["duty"] == "wi2021 since 2022-01-03"
    effective = app.repository.get(person).effective[duty.version]
    assert (effective.ona_required, effective.pvt_required) == (False, True)
    app.record(person, ev.BroadIntakeStarted, occurred_on=date(2022, 2, 1), by="r.jansen")


def test_a_regime_given_in_the_correction_is_kept(app):
    person = register(app)
    duty = app.record(
        person,
        ev.InburgeringDutyEstablished,
        occurred_on=date(2022, 1, 5),
        duty_start=date(2021, 12, 20),
    )
    app.correct(
        person,
        duty.version,
        {"duty_start": "2022-01-03", "regime": "wi2013"},
        reason="DUO says Wi2013",
    )
    assert app.person(person).status["duty"] == "wi2013 since 2022-01-03"


def test_personal_and_evidence_fields_can_be_corrected(app):
    person = register(app, name="Naam Met Typfout")
    intake = app.record(
        person,
        ev.BroadIntakeCompleted,
        occurred_on=date(2024, 4, 1),
        by="r.jansen",
        health_barrier=True,
    )
    # a personal flag, a personal name and the evidence references are correctable
    app.correct(person, intake.version, {"health_barrier": False}, reason="misread")
    app.correct(person, 1, {"name": "Naam Zonder Typfout"}, reason="spelling")
    evidence = [{"kind": "beschikking", "reference": "Z/24/001", "sha256": "ab" * 32}]
    app.correct(person, intake.version, {"evidence": evidence}, reason="letter added")
    effective = app.repository.get(person).effective
    assert effective[intake.version].health_barrier is False
    assert effective[intake.version].evidence[0].reference == "Z/24/001"
    assert app.person(person).registration.name == "Naam Zonder Typfout"


# --- municipality and project streams ------------------------------------------------------------


def fresh_gemeente() -> str:
    return f"GM{uuid4().int % 10000:04d}"


def test_a_municipality_has_one_taakstelling_per_half_year(app):
    code = fresh_gemeente()
    first = app.record_for_municipality(
        code,
        ev.TaakstellingSet,
        occurred_on=date(2023, 12, 1),
        period="2024H1",
        target=40,
        source_ref="Circulaire",
    )
    assert first.stream_id == ev.municipality_stream_id(code)
    with pytest.raises(RuleViolationError, match="2024H1 already has a target"):
        app.record_for_municipality(
            code,
            ev.TaakstellingSet,
            occurred_on=date(2023, 12, 2),
            period="2024H1",
            target=41,
            source_ref="Circulaire",
        )
    second = app.record_for_municipality(
        code,
        ev.TaakstellingCorrected,
        occurred_on=date(2024, 2, 1),
        period="2024H1",
        target=38,
        source_ref="Brief",
    )
    assert second.version == 2


def test_a_project_stream_is_registered_by_its_code(app):
    code = f"P{uuid4().hex[:8]}"
    registered = app.record_for_project(
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
    )
    assert registered.stream_id == ev.project_stream_id(code)
    # a person fact does not belong on a project stream
    with pytest.raises(TrajectError, match="belongs on a person stream"):
        assess(app, registered.stream_id)


# --- finding people ------------------------------------------------------------------------------


def test_a_person_is_found_by_bsn_through_the_keyed_index(app):
    bsn = fresh_bsn()
    person = register(app, bsn=bsn)
    assert app.find_person_by_bsn(bsn) == person
    assert app.find_person_by_bsn(f" {bsn} ") == person
    assert app.find_person_by_bsn(fresh_bsn()) is None


def test_an_eight_digit_bsn_is_found_in_its_nine_digit_form(app):
    while (bsn := fresh_bsn()).startswith("0") is False:
        pass
    person = register(app, bsn=bsn[1:])
    assert app.person(person).registration.bsn == bsn
    assert app.find_person_by_bsn(bsn) == person
    assert app.find_person_by_bsn(bsn[1:]) == person


def test_a_bsn_is_registered_once(app):
    bsn = fresh_bsn()
    register(app, bsn=bsn)
    with pytest.raises(DuplicatePersonError, match="already registered"):
        register(app, bsn=bsn, name="Iemand Anders")


def test_a_correction_to_a_bsn_another_person_holds_is_refused_and_stores_nothing(app, raw):
    bsn, own = fresh_bsn(), fresh_bsn()
    holder = register(app, bsn=bsn)
    person = register(app, bsn=own)

    with pytest.raises(DuplicatePersonError, match="bsn: a person with this BSN is already"):
        app.correct(person, 1, {"bsn": bsn}, reason="typo")

    assert app.person(person).version == 1
    assert (app.find_person_by_bsn(bsn), app.find_person_by_bsn(own)) == (holder, person)
    assert raw.query(
        "SELECT COUNT(*) FROM {events} WHERE originator_id = ?", [raw.stream_key(person)]
    ) == [(1,)]


def test_a_corrected_bsn_moves_the_index_entry_and_frees_the_old_one(app):
    old, new = fresh_bsn(), fresh_bsn()
    person = register(app, bsn=old)

    app.correct(person, 1, {"bsn": new}, reason="typo")

    assert (app.find_person_by_bsn(new), app.find_person_by_bsn(old)) == (person, None)
    # the old BSN is nobody's now: it registers, and the corrected person may get it back
    # only once it is free again
    newcomer = register(app, bsn=old)
    assert app.find_person_by_bsn(old) == newcomer
    with pytest.raises(DuplicatePersonError):
        app.correct(person, 1, {"bsn": old}, reason="typo after all")
    # a correction to the BSN the person has is no conflict with themselves: it changes
    # nothing, and is refused as such (not as a BSN held by another person)
    with pytest.raises(UnchangedCorrectionError):
        app.correct(person, 1, {"bsn": new}, reason="again")
    assert app.find_person_by_bsn(new) == person
    app.correct(person, 1, {"bsn": None}, reason="not known")
    assert app.find_person_by_bsn(new) is None
    # a person registered without a BSN gets one by a correction
    unknown = register(app)
    app.correct(unknown, 1, {"bsn": new}, reason="found")
    assert app.find_person_by_bsn(new) == unknown


def test_a_bsn_correction_that_lost_a_race_on_the_bsn_stores_nothing(app, make_app, raw):
    bsn = fresh_bsn()
    person = register(app, bsn=fresh_bsn())
    other = make_app()
    original = app.save
    raced = []

    def save_after_other(aggregate, **kwargs):
        if not raced:
            raced.append(True)
            register(other, bsn=bsn)
        return original(aggregate, **kwargs)

    app.save = save_after_other
    with pytest.raises(DuplicatePersonError):
        app.correct(person, 1, {"bsn": bsn}, reason="typo")
    # the losing correction left no event, and the index entry of the winner stands
    assert raw.query(
        "SELECT COUNT(*) FROM {events} WHERE originator_id = ?", [raw.stream_key(person)]
    ) == [(1,)]
    assert other.find_person_by_bsn(bsn) not in (None, person)


def test_a_person_is_resolved_from_a_unique_prefix(app, monkeypatch):
    # two people whose ids share their first eight characters
    shared = uuid4().hex[:8]
    ids = iter([UUID(shared + uuid4().hex[8:]), UUID(shared + uuid4().hex[8:])])
    monkeypatch.setattr("ledger.application.uuid4", lambda: next(ids))
    first, second = register(app), register(app)
    assert app.resolve_person(str(first)) == first
    assert app.resolve_person(str(first)[:13].upper()) == first
    assert app.resolve_person(str(second)[:20]) == second
    with pytest.raises(AmbiguousReferenceError, match="matches 2 persons"):
        app.resolve_person(shared)
    with pytest.raises(PersonNotFoundError):
        app.resolve_person(str(uuid4()))
    # too short, or not hexadecimal: not a reference at all, whatever the ledger holds
    for malformed in (shared[:5], "zzzzzzzz"):
        with pytest.raises(PersonReferenceError, match="at least 6 characters"):
            app.resolve_person(malformed)


# --- idempotency ---------------------------------------------------------------------------------


def test_an_idempotency_key_appends_once(app):
    person = register(app)
    key = f"import-{uuid4()}"
    first = assess(app, person, idempotency_key=key)
    # the same fact again, by another user: who recorded it is not part of the fact
    again = assess(app, person, idempotency_key=key, recorded_by="a.devries")
    assert (again.duplicate, again.version, again.stream_id) == (True, first.version, person)
    assert app.person(person).version == first.version


@pytest.mark.parametrize(
    ("other", "differs"),
    [
        ({"rung": 5}, "rung"),
        ({"on_person": "b"}, "stream"),
        ({"evidence": [{"kind": "verslag", "reference": "Z-1", "sha256": "a" * 64}]}, "evidence"),
        ({"occurred_on": date(2024, 6, 4)}, "occurred_on"),
    ],
)
def test_an_idempotency_key_used_for_another_fact_is_refused_and_appends_nothing(
    app, other, differs
):
    a_person, b_person = register(app), register(app)
    key = f"import-{uuid4()}"
    first = assess(app, a_person, idempotency_key=key)
    target = b_person if "on_person" in other else a_person
    changed = {k: v for k, v in other.items() if k != "on_person"}

    with pytest.raises(IdempotencyKeyReusedError) as refused:
        assess(app, target, idempotency_key=key, **changed)

    # a value changed in the source: the fact can be corrected; on another stream it is not it
    advice = (
        ", or, to change the fact it names, correct that fact (traject correct, or an "
        f"event-corrected line with target {key!r})"
    )
    assert str(refused.value) == (
        f"LadderAssessed: idempotency_key: {key!r} was used for another fact: LadderAssessed "
        f"version {first.version} of {a_person} (this one differs in {differs}); a key names "
        "one fact: give a new key for a new fact" + ("" if differs == "stream" else advice)
    )
    assert (app.person(a_person).version, app.person(b_person).version) == (2, 1)


def test_an_idempotency_key_used_for_another_kind_of_fact_is_refused(app):
    person = register(app)
    key = f"import-{uuid4()}"
    assess(app, person, idempotency_key=key)
    with pytest.raises(IdempotencyKeyReusedError, match="differs in kind"):
        app.record(
            person,
            ev.HelpRequestRecorded,
            occurred_on=date(2024, 6, 3),
            category="wonen",
            idempotency_key=key,
        )
    assert app.person(person).version == 2


def test_a_repeated_key_compares_personal_fields_and_after_erasure_the_others(app):
    person = register(app)
    key = f"import-{uuid4()}"
    help_request = {"occurred_on": date(2024, 2, 1), "category": "wonen", "idempotency_key": key}
    app.record(person, ev.HelpRequestRecorded, note="vraag over huurtoeslag", **help_request)
    with pytest.raises(IdempotencyKeyReusedError, match="differs in note"):
        app.record(person, ev.HelpRequestRecorded, note="iets anders", **help_request)
    close_case_long_ago(app, person)
    app.shred(person, approved_by="f.o.g")
    # the note can no longer be read: only the other fields are compared
    again = app.record(person, ev.HelpRequestRecorded, note="iets anders", **help_request)
    assert again.duplicate
    with pytest.raises(IdempotencyKeyReusedError, match="differs in category"):
        app.record(person, ev.HelpRequestRecorded, **(help_request | {"category": "juridisch"}))


def test_an_idempotency_key_appends_once_across_ledger_instances(app, make_app):
    person = register(app)
    key = f"import-{uuid4()}"
    assess(app, person, idempotency_key=key)
    other = make_app()
    assert assess(other, person, idempotency_key=key).duplicate
    assert app.person(person).version == 2


def test_an_idempotency_key_seen_after_a_lost_race_appends_nothing(app, make_app, raw):
    # A checks the key, then B appends with the same key, then A saves: A's save fails on the
    # key, nothing of it is stored, and A's retry refuses A's fact: the key names B's
    a_person, b_person = register(app), register(app)
    key = f"race-{uuid4()}"
    other = make_app()
    original = app.save
    attempts = []

    def save_after_b(aggregate, **kwargs):
        if not attempts:
            attempts.append(aggregate.version)
            assess(other, b_person, idempotency_key=key)
        return original(aggregate, **kwargs)

    app.save = save_after_b
    with pytest.raises(IdempotencyKeyReusedError, match=f"LadderAssessed version 2 of {b_person}"):
        assess(app, a_person, idempotency_key=key)
    # no partial rows: A's stream did not move, and the key names B's event only
    assert app.person(a_person).version == 1
    assert raw.query(
        "SELECT COUNT(*) FROM {events} WHERE originator_id = ?", [raw.stream_key(a_person)]
    ) == [(1,)]
    assert raw.query(
        "SELECT stream_id, version FROM {p}traject_idempotency WHERE key = ?", [key]
    ) == [(str(b_person), 2)]


def test_a_write_that_lost_a_race_on_the_stream_is_retried_on_the_fresh_stream(app, make_app):
    person = register(app)
    other = make_app()
    original = app.save
    raced = []

    def save_after_other(aggregate, **kwargs):
        if not raced:
            raced.append(True)
            assess(other, person, rung=2)
        return original(aggregate, **kwargs)

    app.save = save_after_other
    recorded = assess(app, person, rung=4)
    # the rival's event took version 2; ours was checked again and appended as version 3
    assert recorded.version == 3
    assert [e.effective.rung for e in app.timeline(person).entries[1:]] == [2, 4]


def test_a_registration_that_lost_a_race_on_the_bsn_leaves_no_rows(app, make_app, raw):
    bsn = fresh_bsn()
    other = make_app()
    original = app.save
    attempted = []

    def save_after_other(aggregate, **kwargs):
        attempted.append(aggregate.id)
        register(other, bsn=bsn)
        return original(aggregate, **kwargs)

    app.save = save_after_other
    with pytest.raises(DuplicatePersonError):
        register(app, bsn=bsn)
    # the losing registration left neither an event nor an index row
    (loser,) = attempted
    assert raw.query(
        "SELECT COUNT(*) FROM {events} WHERE originator_id = ?", [raw.stream_key(loser)]
    ) == [(0,)]
    assert raw.query(
        "SELECT COUNT(*) FROM {p}traject_person_index WHERE person_id = ?", [str(loser)]
    ) == [(0,)]
    assert other.find_person_by_bsn(bsn) not in (None, loser)


# --- erasure -------------------------------------------------------------------------------------


def test_after_shredding_personal_fields_read_as_none_and_other_data_stays(app, make_app):
    bsn = fresh_bsn()
    person = register(app, bsn=bsn, name="Te Vergeten Persoon", v_number=fresh_v_number())
    app.record(
        person,
        ev.HelpRequestRecorded,
        occurred_on=date(2024, 2, 1),
        category="wonen",
        note="vraag over huurtoeslag",
    )
    assess(app, person, rung=4)
    close_case_long_ago(app, person)
    shredded = app.shred(person, approved_by="privacy officer")
    assert shredded.recorded.kind == "PersonalDataShredded"

    for reader in (app, make_app()):  # this instance and a fresh one, without cached keys
        summary = reader.person(person)
        registration = summary.registration
        assert (registration.bsn, registration.name, registration.v_number) == (None,) * 3
        assert summary.erased
        # the non-personal facts stay
        assert registration.birth_date == date(1990, 4, 2)
        timeline = reader.timeline(person)
        assert timeline.erased
        assert timeline.entries[1].event.note is None
        assert timeline.entries[1].event.category == "wonen"
        assert timeline.entries[2].effective.rung == 4
    # the keyed hash of the BSN went with the key: the person is not found by it any more
    assert app.find_person_by_bsn(bsn) is None


def test_a_field_stored_in_clear_before_it_became_personal_reads_as_erased_too(app):
    # DispensationGranted v1 stored its ground in clear (personal from v2): such a fact, as an
    # older release stored it, for a person of this ledger
    person = register(app, name="Te Vergeten Persoon")
    state = {
        "decided_by": "DUO",
        "ground": "medisch",
        "municipality": "GM0622",
        "occurred_on": "2024-03-04",
        "recorded_by": "r.jansen",
        "source": "cli",
        "timestamp": "2024-03-04T12:30:00Z",
    }
    stored = StoredEvent(person, 9, get_topic(ev.DispensationGranted), orjson.dumps(state))
    assert app.mapper.to_domain_event(stored).ground == "medisch"
    # a read without personal fields leaves it out, as it leaves out the encrypted ones
    assert app.mapper.to_domain_event(stored, personal=False).ground is None
    close_case_long_ago(app, person)
    app.shred(person, approved_by="privacy officer")
    # its bytes cannot change (stored events are immutable), but it reads as erased
    assert app.mapper.to_domain_event(stored).ground is None
    assert b"medisch" in stored.state


def test_nothing_can_be_recorded_for_a_person_after_her_erasure(app, make_app):
    person = register(app, name="Te Vergeten Persoon")
    close_case_long_ago(app, person)
    assessed = assess(app, person, idempotency_key="intake-17")
    erased = app.shred(person, approved_by="privacy officer").recorded
    refused = rf"person: erased on [0-9-]{{10}} \(v{erased.version}\): nothing more is recorded"
    # a personal fact, a fact without personal fields, a correction, a hold: this instance
    # and a fresh one, without cached keys
    for writer in (app, make_app()):
        with pytest.raises(RuleViolationError, match="HelpRequestRecorded: " + refused):
            writer.record(person, ev.HelpRequestRecorded, occurred_on=date(2024, 2, 1),
                          category="wonen", note="nieuwe notitie")  # fmt: skip
        with pytest.raises(RuleViolationError, match="LadderAssessed: " + refused):
            assess(writer, person)
        with pytest.raises(RuleViolationError, match="EventCorrected: " + refused):
            writer.correct(person, 2, {"reason": "moved"}, reason="typo")
        with pytest.raises(RuleViolationError, match="LegalHoldPlaced: " + refused):
            writer.place_hold(person, hold_ref="BZW-1", reason="objection")
    assert app.person(person).version == erased.version
    assert app.keyring.erased(person)  # no new data key either
    # a repeat of a fact recorded before the erasure still records nothing, as before
    repeat = assess(app, person, idempotency_key="intake-17")
    assert (repeat.duplicate, repeat.version) == (True, assessed.version)


# --- the master key ------------------------------------------------------------------------------


def test_a_wrong_master_key_is_detected(app, make_app):
    person = register(app, name="Geheime Naam")
    app.verify_master_key()
    wrong = make_app(generate_master_key(), initialise=False)
    with pytest.raises(MasterKeyError, match="does not match this ledger"):
        wrong.verify_master_key()
    with pytest.raises(MasterKeyError, match="initialised with another master key"):
        wrong.initialise()
    with pytest.raises(MasterKeyError, match="does not open with this master key"):
        wrong.person(person)


# --- cross-stream and lookup rules ---------------------------------------------------------------


def test_enrolment_needs_a_registered_project_and_falls_in_its_eligibility_window(app):
    person = register(app)
    code = f"P{uuid4().hex[:6]}".upper()
    # no project yet: refused, naming the field
    with pytest.raises(RuleViolationError, match="project_id: no project"):
        app.record(person, ev.ParticipantEnrolled, **enrolment_fields(code))
    fields = project_fields(code)
    app.record_for_project(code, ev.ProjectRegistered, **fields)
    # before the window opens: refused
    too_early = enrolment_fields(code)
    too_early["occurred_on"] = fields["eligibility_from"].replace(year=2010)
    too_early["checked_on"] = too_early["occurred_on"]
    with pytest.raises(RuleViolationError, match="eligibility window"):
        app.record(person, ev.ParticipantEnrolled, **too_early)
    # inside the window: accepted
    recorded = app.record(person, ev.ParticipantEnrolled, **enrolment_fields(code))
    assert recorded.kind == "ParticipantEnrolled"


def test_finding_a_person_by_an_invalid_bsn_names_the_11_proef(app):
    with pytest.raises(ValidationFailedError, match=r"bsn: .*11-proef"):
        app.find_person_by_bsn("123456789")


def test_a_member_of_a_housed_referents_household_may_sign_a_tenancy_without_a_koppeling(app):
    referent = linked_person(app)
    member = register(app, household_id=referent)
    tenancy = {"occurred_on": date(2024, 5, 1), "housing_kind": "regulier"}
    # the referent has no home yet: the household has none to sign for
    with pytest.raises(RuleViolationError, match="TenancySigned: person: the household's referent"):
        app.record(member, ev.TenancySigned, **tenancy)
    app.record(
        referent,
        ev.Housed,
        occurred_on=date(2024, 4, 1),
        housing_kind="regulier",
        route="koppeling",
    )
    recorded = app.record(member, ev.TenancySigned, **tenancy)
    assert recorded.version == 2


# --- derived flags follow a correction of what they were derived from ---------------------------


def test_correcting_the_route_of_a_housing_derives_its_taakstelling_flag_again(app):
    person = linked_person(app)
    housed = app.record(
        person, ev.Housed, occurred_on=date(2024, 3, 4), housing_kind="regulier", route="koppeling"
    )
    # housed on the koppeling: it counts for the taakstelling
    assert app.timeline(person).entries[-1].effective.counts_for_taakstelling is True
    # it turns out she found a home herself: the flag is derived again, from the stream before it
    app.correct(person, housed.version, {"route": "eigen"}, reason="eigen woning")
    entries = app.timeline(person).entries
    correction = entries[-1].event
    assert correction.changes["counts_for_taakstelling"] is False
    assert entries[housed.version - 1].effective.counts_for_taakstelling is False


def test_moving_a_reunification_application_past_the_nareis_window_flags_it_late(app):
    person = register(app)
    app.record(
        person,
        ev.ResidencePermitRecorded,
        occurred_on=date(2023, 11, 1),
        permit_kind="asiel_bt",
        notified_on=date(2023, 11, 3),
    )
    # filed within three months of the permit notice: not late
    applied = app.record(
        person, ev.FamilyReunificationApplied, occurred_on=date(2024, 1, 10), members=["partner"]
    )
    assert app.timeline(person).entries[-1].effective.late is False
    # the date was mistyped: it was filed in March, after the window closed on 3 February
    recorded = app.correct(
        person, applied.version, {"occurred_on": "2024-03-10"}, reason="datum verkeerd"
    )
    entries = app.timeline(person).entries
    assert entries[-1].event.changes["late"] is True
    assert entries[applied.version - 1].effective.late is True
    assert recorded.version == applied.version + 1
