"""The person stream's hard rules and warnings, on pure Trajectory aggregates (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest
from builders import (
    GEMEENTE,
    build,
    enrolment_fields,
    give,
    housed,
    linked,
    moved_on_from_gva,
    nareiziger,
    person_fields,
    pip_fields,
    recorded_at,
    registered,
    under_duty,
    wi2013,
    wi2021,
    with_permit,
)
from pydantic import ValidationError

from ledger import events as ev
from ledger import rules
from ledger.aggregates import Trajectory, project_stream, recorded_day
from ledger.errors import RuleViolationError, StreamIntegrityError
from ledger.values import StaffRole


def refused(person, cls, match: str, **fields) -> RuleViolationError:
    """Record ``cls`` and expect a hard rule to refuse it; the stream must not move."""
    version, pending = person.version, len(person.pending)
    with pytest.raises(RuleViolationError, match=match) as info:
        give(person, cls, **fields)
    assert (person.version, len(person.pending)) == (version, pending)
    return info.value


# --- registration and terminal states ------------------------------------------------------------


def test_nothing_can_be_recorded_before_the_person_is_registered():
    person = Trajectory(uuid4())
    error = refused(
        person, ev.LadderAssessed, "PersonRegistered must come first", rung=2, assessor="a"
    )
    assert (error.kind, error.field) == ("LadderAssessed", "person")


def test_a_person_is_registered_once():
    person = registered()
    refused(
        person,
        ev.PersonRegistered,
        "registered once",
        birth_date=date(1990, 4, 2),
        sex="f",
        nationality=["SY"],
        occurred_on=date(2024, 1, 11),
    )


def test_a_registration_cannot_precede_the_birth_date():
    person = Trajectory(uuid4())
    refused(
        person,
        ev.PersonRegistered,
        "birth_date: must not be after the registration on 2024-01-10",
        birth_date=date(2024, 2, 1),
        sex="m",
        nationality=["ER"],
        occurred_on=date(2024, 1, 10),
    )


def test_a_registration_is_the_first_event_and_fills_the_state():
    person = registered(birth_date=date(1985, 7, 1), household_id=None)
    assert person.version == 1
    assert person.state.registered
    assert person.state.birth_date == date(1985, 7, 1)
    assert person.state.municipality == "GM0622"
    assert [type(e) for e in person.collect_events()] == [ev.PersonRegistered]
    assert person.collect_events() == []


def test_after_a_death_only_closing_facts_are_dated_later():
    person = housed()
    give(person, ev.Deceased, occurred_on=date(2024, 9, 1))
    died = person.version
    # an ordinary fact dated after the death is refused
    refused(
        person,
        ev.LadderAssessed,
        "LadderAssessed: occurred_on: 2024-09-02 is after the death on 2024-09-01",
        occurred_on=date(2024, 9, 2),
        rung=1,
        assessor="a",
    )
    # a death is recorded once, whatever its date
    refused(
        person,
        ev.Deceased,
        "Deceased: person: the death on 2024-09-01 is recorded already",
        occurred_on=date(2024, 8, 1),
    )
    # one dated on the day of death or before it, recorded late, is a fact of the path
    give(person, ev.LadderAssessed, occurred_on=date(2024, 9, 1), rung=2, assessor="a")
    give(person, ev.LadderAssessed, occurred_on=date(2024, 8, 1), rung=2, assessor="a")
    # what closes the case is dated after the death
    give(person, ev.CaseClosed, occurred_on=date(2024, 9, 3), reason="deceased")
    assert person.state.closed_on == date(2024, 9, 3)
    # a correction of the date of death and the erasure of personal data are not refused
    give(
        person,
        ev.EventCorrected,
        target_version=died,
        changes={"occurred_on": "2024-09-02"},
        occurred_on=date(2024, 9, 5),
    )
    assert person.state.deceased_on == date(2024, 9, 2)
    give(
        person,
        ev.PersonalDataShredded,
        approved_by="privacy officer",
        occurred_on=date(2024, 10, 1),
    )


def test_a_retracted_death_lets_the_path_continue():
    person = housed()
    give(person, ev.Deceased, occurred_on=date(2024, 9, 1))
    give(person, ev.EventRetracted, target_version=person.version, occurred_on=date(2024, 9, 3))
    # the death was recorded on the wrong person: facts may be recorded again
    give(person, ev.LadderAssessed, occurred_on=date(2024, 9, 4), rung=3, assessor="a")
    assert person.state.deceased_on is None


# --- dates ---------------------------------------------------------------------------------------


def test_an_event_cannot_have_happened_after_it_was_recorded():
    person = registered()
    refused(
        person,
        ev.LadderAssessed,
        "occurred_on: must not be in the future",
        occurred_on=date(2024, 6, 4),
        timestamp=recorded_at(date(2024, 6, 3)),
        rung=2,
        assessor="a",
    )


def test_an_event_cannot_have_happened_before_the_person_was_born():
    person = registered(birth_date=date(2000, 5, 5))
    refused(
        person,
        ev.BrpRegistered,
        r"must not be before birth \(2000-05-05\)",
        occurred_on=date(2000, 5, 4),
    )
    give(person, ev.BrpRegistered, occurred_on=date(2000, 5, 5))


def test_a_fact_recorded_more_than_thirty_days_late_is_accepted_with_a_warning():
    person = registered()
    # exactly thirty days late: no flag
    warnings = give(
        person,
        ev.LadderAssessed,
        occurred_on=date(2024, 6, 3),
        rung=2,
        assessor="a",
        timestamp=recorded_at(date(2024, 7, 3)),
    )
    assert warnings == []
    # thirty-one days late: flagged, not refused
    warnings = give(
        person,
        ev.LadderAssessed,
        occurred_on=date(2024, 6, 3),
        rung=2,
        assessor="a",
        timestamp=recorded_at(date(2024, 7, 4)),
    )
    assert warnings == ["recorded 31 days after it happened (flagged above 30 days)"]
    assert person.version == 3


def test_an_exam_result_cannot_be_dated_before_the_exam():
    person = wi2021()
    with pytest.raises(ValidationError, match="must not be before the exam date"):
        build(
            person,
            ev.ExamResultRecorded,
            occurred_on=date(2024, 6, 3),
            component="lezen",
            level="B1",
            result="geslaagd",
            result_date=date(2024, 6, 2),
        )
    # on the same day, or weeks later, is fine
    give(
        person,
        ev.ExamResultRecorded,
        occurred_on=date(2024, 6, 3),
        component="lezen",
        level="B1",
        result="geslaagd",
        result_date=date(2024, 6, 3),
    )
    give(
        person,
        ev.ExamResultRecorded,
        occurred_on=date(2024, 6, 3),
        component="knm",
        level="A2",
        result="gezakt",
        result_date=date(2024, 7, 29),
        attempt_no=2,
        timestamp=recorded_at(date(2024, 7, 29)),  # recorded once the result is out
    )


def test_a_permit_cannot_expire_before_it_is_valid():
    person = registered()
    with pytest.raises(ValidationError, match="must not be before valid from"):
        build(
            person,
            ev.ResidencePermitRecorded,
            occurred_on=date(2023, 11, 1),
            permit_kind="asiel_bt",
            valid_until=date(2023, 10, 31),
        )


def test_reported_course_hours_cannot_start_after_their_period_ends():
    person = wi2021()
    with pytest.raises(ValidationError, match="must not be after the end of the period"):
        build(
            person,
            ev.CourseHoursReported,
            occurred_on=date(2024, 6, 30),
            period_from=date(2024, 7, 1),
            component="NT2",
            hours_attended="10",
        )


# --- koppeling, tenancy and housing (§2.4: koppeling → tenancy → housed) -------------------------


def test_a_nareiziger_is_not_linked_by_coa():
    person = nareiziger()
    refused(
        person,
        ev.CoaLinked,
        "a nareiziger is not linked by COA",
        occurred_on=date(2024, 1, 15),
        taakstelling_period="2024H1",
    )


def test_koppeling_is_for_asylum_permits_only():
    person = with_permit("regulier_gezin", notified_on=None)
    error = refused(
        person,
        ev.CoaLinked,
        "koppeling is for asiel_bt permits, not regulier_gezin",
        occurred_on=date(2024, 1, 15),
        taakstelling_period="2024H1",
    )
    assert error.field == "permit_kind"


def test_a_person_has_at_most_one_active_koppeling():
    person = linked()
    refused(
        person,
        ev.CoaLinked,
        "already linked to GM0622: withdraw that link first",
        occurred_on=date(2024, 1, 20),
        taakstelling_period="2024H1",
        municipality="GM0599",
    )
    # once the link is withdrawn COA may link again, to another municipality
    give(person, ev.CoaLinkWithdrawn, occurred_on=date(2024, 1, 22))
    give(
        person,
        ev.CoaLinked,
        occurred_on=date(2024, 1, 23),
        taakstelling_period="2024H1",
        municipality="GM0599",
    )
    assert person.state.active_link == "GM0599"


def test_only_an_active_koppeling_can_be_withdrawn():
    person = with_permit()
    refused(person, ev.CoaLinkWithdrawn, "no active koppeling to withdraw")


def test_a_tenancy_needs_an_active_koppeling():
    person = with_permit()
    refused(person, ev.TenancySigned, "needs an active koppeling", housing_kind="regulier")
    person = linked()
    give(person, ev.TenancySigned, housing_kind="regulier", address="Kade 1, Vlaardingen")


def test_koppeling_tenancy_and_housing_follow_each_other_in_time():
    """Koppeling → tenancy → housed is an order of dates (domain.md §2.4), whatever order the
    facts are recorded in; the same day is fine."""
    person = linked()  # the koppeling of 2024-01-15
    error = refused(
        person,
        ev.TenancySigned,
        r"dated 2024-01-10, before the koppeling of 2024-01-15 it follows",
        occurred_on=date(2024, 1, 10),
        housing_kind="regulier",
    )
    assert error.field == "occurred_on"
    give(person, ev.TenancySigned, occurred_on=date(2024, 2, 1), housing_kind="regulier")
    housing = {"housing_kind": "regulier", "route": "koppeling"}
    refused(
        person,
        ev.Housed,
        "before the tenancy of 2024-02-01",
        occurred_on=date(2024, 1, 20),
        **housing,
    )
    give(person, ev.Housed, occurred_on=date(2024, 2, 1), **housing)
    # a later move needs a tenancy of its own date or before
    give(person, ev.TenancySigned, occurred_on=date(2025, 5, 1), housing_kind="regulier")
    refused(
        person,
        ev.Housed,
        "before the tenancy of 2025-05-01",
        occurred_on=date(2025, 4, 1),
        housing_kind="regulier",
        route="eigen",
    )


def test_housing_through_a_koppeling_is_not_dated_before_it():
    person = linked()
    error = refused(
        person,
        ev.Housed,
        "before the koppeling of 2024-01-15",
        occurred_on=date(2024, 1, 14),
        housing_kind="regulier",
        route="koppeling",
    )
    assert error.field == "occurred_on"


def test_a_nareiziger_signs_a_tenancy_without_a_koppeling():
    person = nareiziger()
    give(person, ev.TenancySigned, housing_kind="regulier")


def test_housed_through_a_koppeling_needs_an_active_koppeling():
    person = with_permit()
    error = refused(
        person,
        ev.Housed,
        "koppeling needs an active koppeling",
        housing_kind="regulier",
        route="koppeling",
    )
    assert error.field == "route"


def test_housing_through_a_koppeling_is_in_the_koppelings_municipality():
    person = linked()  # the koppeling is to GM0622
    error = refused(
        person,
        ev.Housed,
        "housed in GM0599 through the koppeling to GM0622",
        municipality="GM0599",
        housing_kind="regulier",
        route="koppeling",
    )
    assert error.field == "municipality"
    # housing elsewhere on the person's own initiative is another route, and does not count
    give(person, ev.Housed, municipality="GM0599", housing_kind="regulier", route="eigen")
    assert person.effective[person.version].counts_for_taakstelling is False
    # the koppeling stays open for its own municipality
    give(
        person, ev.Housed, occurred_on=date(2024, 9, 2), housing_kind="regulier", route="koppeling"
    )
    assert person.effective[person.version].counts_for_taakstelling is True


def test_a_koppeling_linked_again_elsewhere_is_housed_there():
    person = linked()
    give(person, ev.CoaLinkWithdrawn, occurred_on=date(2024, 2, 1))
    give(
        person,
        ev.CoaLinked,
        occurred_on=date(2024, 2, 2),
        municipality="GM0599",
        taakstelling_period="2024H1",
    )
    refused(
        person,
        ev.Housed,
        "through the koppeling to GM0599",
        municipality="GM0622",
        housing_kind="regulier",
        route="koppeling",
    )
    give(person, ev.Housed, municipality="GM0599", housing_kind="regulier", route="koppeling")


def test_housing_uses_up_the_koppeling():
    person = housed()
    assert person.state.active_link is None
    refused(
        person,
        ev.Housed,
        "koppeling needs an active koppeling",
        housing_kind="regulier",
        route="koppeling",
        occurred_on=date(2024, 6, 3),
    )


def test_the_nareis_route_is_for_a_member_of_a_referents_household():
    nareis = {"housing_kind": "regulier", "route": "nareis"}
    refused(with_permit(), ev.Housed, "nareis is for a nareiziger in a referent's", **nareis)
    # a derived asylum permit alone links to no household, nor does heading one's own
    refused(
        with_permit("asiel_afgeleid", notified_on=None),
        ev.Housed,
        "correct the registration's household_id",
        **nareis,
    )
    refused(_own_household(), ev.Housed, "nareis is for a nareiziger in a", **nareis)
    # membership of a referent's household opens the route
    give(nareiziger(), ev.Housed, **nareis)
    give(registered(household_id=uuid4()), ev.Housed, **nareis)


def _own_household() -> Trajectory:
    """A person registered as the referent of their own household."""
    person = Trajectory(uuid4())
    give(person, ev.PersonRegistered, **person_fields(household_id=person.id))
    return person


def test_moving_on_from_gva_needs_an_earlier_gva_housing():
    refused(
        housed(),
        ev.Housed,
        "gva_doorstroom needs an earlier GVA housing",
        housing_kind="regulier",
        route="gva_doorstroom",
    )
    person = moved_on_from_gva()
    assert [kind for _, kind, _ in person.state.housed_in] == ["gva", "regulier"]


def test_only_the_first_housing_through_koppeling_or_nareis_counts_for_the_taakstelling():
    version = rules.current_rules().version
    person = housed()
    first = person.effective[person.version]
    assert (first.counts_for_taakstelling, first.rule_version) == (True, version)
    # a second housing in the same municipality does not count again
    give(person, ev.Housed, occurred_on=date(2024, 9, 2), housing_kind="regulier", route="eigen")
    assert person.effective[person.version].counts_for_taakstelling is False
    # a nareiziger's housing counts under the rule set in force
    other = nareiziger()
    give(other, ev.Housed, housing_kind="regulier", route="nareis")
    assert other.effective[other.version].counts_for_taakstelling is True


def test_a_stated_taakstelling_flag_is_kept_as_given():
    person = linked()
    give(
        person,
        ev.Housed,
        housing_kind="regulier",
        route="koppeling",
        counts_for_taakstelling=False,
        rule_version="manual",
    )
    assert person.effective[person.version].counts_for_taakstelling is False


# --- regimes (§2.2) ------------------------------------------------------------------------------

WI2021_ONLY = {
    ev.BroadIntakeStarted: {"by": "r.jansen"},
    ev.BroadIntakeCompleted: {"by": "r.jansen"},
    ev.PipAdopted: pip_fields(),
    ev.LearningRouteStarted: {"route": "B1", "provider": "Taalschool Maas"},
    ev.LearningRouteChanged: {"route": "Z", "provider": "Taalschool Maas"},
    ev.MapCompleted: {},
    ev.DowngradedToA2: {},
    ev.PreIntegrationRecorded: {},
    ev.OntzorgenStarted: {"items": ["huur"]},
    ev.PipObjectionFiled: {},
    ev.ZRouteFinalInterviewHeld: {"outcome": "voldaan"},
}
WI2013_ONLY = {
    ev.OnaCompleted: {"mode": "eindgesprek"},
    ev.DuoLoanGranted: {"amount": "10000.00"},
    ev.DuoLoanWaived: {"amount": "10000.00"},
}


@pytest.mark.parametrize("cls", list(WI2021_ONLY), ids=lambda c: c.__name__)
def test_a_wi2021_only_event_is_refused_under_a_wi2013_duty(cls):
    person = wi2013()
    error = refused(
        person, cls, "only under Wi2021; this person's duty is wi2013", **WI2021_ONLY[cls]
    )
    assert error.field == "regime"


@pytest.mark.parametrize("cls", list(WI2013_ONLY), ids=lambda c: c.__name__)
def test_a_wi2013_only_event_is_refused_under_a_wi2021_duty_or_without_a_duty(cls):
    refused(wi2021(), cls, "only under Wi2013; this person's duty is wi2021", **WI2013_ONLY[cls])
    refused(housed(), cls, "only under Wi2013; this person's duty is not set", **WI2013_ONLY[cls])
    # and accepted under a Wi2013 duty
    give(wi2013(), cls, **WI2013_ONLY[cls])


def test_a_brede_intake_may_start_before_the_duty_is_known():
    person = linked()
    give(person, ev.BroadIntakeStarted, by="r.jansen")


def test_the_regime_is_derived_once_and_stored_with_the_rule_version():
    person = under_duty(date(2021, 12, 31))
    duty = person.effective[person.version]
    assert (duty.regime, duty.ona_required, duty.pvt_required) == ("wi2013", True, True)
    assert duty.rule_version == rules.current_rules().version
    person = under_duty(date(2022, 1, 1))
    duty = person.effective[person.version]
    assert (duty.regime, duty.ona_required, duty.pvt_required) == ("wi2021", False, True)


def test_a_regime_stated_by_duo_is_not_recomputed_but_a_difference_is_flagged():
    person = housed()
    warnings = give(
        person, ev.InburgeringDutyEstablished, duty_start=date(2022, 1, 1), regime="wi2013"
    )
    assert person.state.duty.regime == "wi2013"
    assert warnings == [
        "regime wi2013, pvt_required not given: not what rule set 2026.1 derives from "
        "duty_start 2022-01-01 (regime wi2021, ona_required False, pvt_required True): recorded "
        "as given, and the regime's rules and deadlines follow it"
    ]
    # the derivation itself, or the same values given, raise no warning
    assert under_duty(date(2022, 1, 1)).pending[-1].regime == "wi2021"
    person = housed()
    stated = {"regime": "wi2021", "ona_required": False, "pvt_required": True}
    assert give(person, ev.InburgeringDutyEstablished, duty_start=date(2022, 1, 1), **stated) == []


def test_a_second_duty_waits_until_the_first_is_fulfilled():
    person = wi2021()
    refused(
        person,
        ev.InburgeringDutyEstablished,
        "an open wi2021 duty exists since 2024-03-01",
        duty_start=date(2024, 5, 1),
    )
    give(person, ev.InburgeringDutyFulfilled, occurred_on=date(2024, 6, 1), basis="diploma")
    give(
        person,
        ev.InburgeringDutyEstablished,
        occurred_on=date(2024, 6, 2),
        duty_start=date(2024, 6, 2),
    )


# --- PIP and term (§2.3 F.13–14) -----------------------------------------------------------------


def test_the_first_pip_is_version_1():
    refused(wi2021(), ev.PipAdopted, "the first PIP is version 1", **pip_fields(version=2))


def test_pip_versions_only_go_up():
    person = wi2021()
    give(person, ev.PipAdopted, **pip_fields(version=1))
    refused(
        person,
        ev.PipAdopted,
        r"must be above the latest version \(1\)",
        **pip_fields(version=1, occurred_on=date(2024, 5, 1)),
    )
    give(person, ev.PipAdopted, **pip_fields(version=3, occurred_on=date(2024, 5, 1)))
    refused(
        person,
        ev.PipAdopted,
        r"must be above the latest version \(3\)",
        **pip_fields(version=2, occurred_on=date(2024, 5, 2)),
    )


def test_a_later_pip_version_does_not_move_the_term_start():
    person = wi2021()
    give(person, ev.PipAdopted, **pip_fields(version=1, occurred_on=date(2024, 4, 15)))
    give(
        person, ev.PipAdopted, **pip_fields(version=2, occurred_on=date(2024, 8, 1), leerroute="Z")
    )
    assert person.state.pip_v1_on == date(2024, 4, 15)
    assert person.state.leerroute == "Z"


def test_a_late_first_pip_is_accepted_with_a_warning():
    # the DUO notice came on 2024-03-10, so PIP v1 is due on 2024-05-19
    on_time = wi2021()
    assert give(on_time, ev.PipAdopted, **pip_fields(occurred_on=date(2024, 5, 19))) == []
    late = wi2021()
    warnings = give(late, ev.PipAdopted, **pip_fields(occurred_on=date(2024, 5, 20)))
    assert warnings == ["PIP v1 is late: it was due on 2024-05-19 (10 weeks after notice/BRP)"]
    assert late.state.pip_version == 1


def test_a_later_brp_registration_postpones_the_pip_due_date():
    person = wi2021()
    give(person, ev.BrpRegistered, occurred_on=date(2024, 4, 1))
    # ten weeks after 2024-04-01 is 2024-06-10
    assert give(person, ev.PipAdopted, **pip_fields(occurred_on=date(2024, 6, 10))) == []


def test_a_late_pip_revision_is_not_flagged():
    person = wi2021()
    give(person, ev.PipAdopted, **pip_fields(version=1, occurred_on=date(2024, 4, 15)))
    assert give(person, ev.PipAdopted, **pip_fields(version=2, occurred_on=date(2025, 1, 6))) == []


# --- PVT deadlines (§2.4) ------------------------------------------------------------------------


def pvt(person, on):
    return give(person, ev.PvtCompleted, occurred_on=on, provider="Participatiehuis", hours="12")


def test_a_wi2021_pvt_after_the_term_end_is_flagged():
    # PIP v1 dated 2024-04-15: the term runs from 2024-04-16 to 2027-04-16
    def planned():
        person = wi2021()
        give(person, ev.PipAdopted, **pip_fields(occurred_on=date(2024, 4, 15)))
        return person

    assert pvt(planned(), date(2027, 4, 16)) == []
    late = pvt(planned(), date(2027, 4, 17))
    assert late == ["PVT signed after its wi2021 deadline of 2027-04-16"]


def test_a_wi2013_pvt_more_than_a_year_after_settling_is_flagged():
    # housed on 2024-03-04, registered in the BRP earlier, on 2024-02-01
    def settled():
        person = wi2013()
        give(person, ev.BrpRegistered, occurred_on=date(2024, 2, 1))
        return person

    assert pvt(settled(), date(2025, 2, 1)) == []
    late = pvt(settled(), date(2025, 2, 2))
    assert late == ["PVT signed after its wi2013 deadline of 2025-02-01"]


def test_a_second_pvt_for_the_same_duty_is_refused():
    person = wi2021()
    pvt(person, date(2024, 9, 10))
    refused(
        person,
        ev.PvtCompleted,
        "a PVT signed on 2024-09-10 is recorded already",
        provider="VWN",
        hours="12",
    )


def test_a_pvt_without_a_known_duty_has_no_deadline():
    assert pvt(housed(), date(2030, 1, 1)) == []


# --- leerroute rules (§2.3 F.15–17) --------------------------------------------------------------


def test_map_is_not_part_of_the_onderwijsroute():
    person = wi2021()
    give(person, ev.PipAdopted, **pip_fields(leerroute="onderwijs"))
    refused(person, ev.MapCompleted, "MAP is not part of the onderwijsroute")
    # after a change to the B1-route the MAP can be completed
    give(person, ev.LearningRouteChanged, route="B1", provider="Taalschool Maas")
    give(person, ev.MapCompleted)


def nt2_hours(person, hours, component="NT2"):
    give(
        person,
        ev.CourseHoursReported,
        occurred_on=date(2024, 6, 30),
        period_from=date(2024, 1, 1),
        component=component,
        hours_attended=hours,
    )


def test_afschalen_is_for_the_b1_route_only():
    person = wi2021()
    give(person, ev.PipAdopted, **pip_fields(leerroute="Z"))
    nt2_hours(person, "700")
    error = refused(
        person,
        ev.DowngradedToA2,
        "afschalen is for the B1-route only",
        occurred_on=date(2024, 7, 1),
    )
    assert error.field == "leerroute"


def test_afschalen_needs_at_least_600_nt2_hours():
    person = wi2021()
    give(person, ev.PipAdopted, **pip_fields(leerroute="B1"))
    nt2_hours(person, "400")
    nt2_hours(person, "199.5")
    # KNM hours do not count towards the 600
    nt2_hours(person, "100", component="KNM")
    refused(
        person,
        ev.DowngradedToA2,
        "at least 600 NT2 hours; 599.5 reported",
        occurred_on=date(2024, 7, 1),
    )
    nt2_hours(person, "0.5")
    give(person, ev.DowngradedToA2, occurred_on=date(2024, 7, 1))


# --- outflow, guidance, coaches, case ------------------------------------------------------------


def test_an_outflow_can_only_end_while_it_is_open():
    person = housed()
    refused(
        person,
        ev.OutflowEnded,
        "no open werk_volledig outflow to end",
        outflow_type="werk_volledig",
        reason="contract ended",
    )
    give(person, ev.OutflowStarted, outflow_type="werk_gedeeltelijk")
    # ending another type is still refused
    refused(
        person,
        ev.OutflowEnded,
        "no open werk_volledig outflow to end",
        outflow_type="werk_volledig",
        reason="contract ended",
    )
    give(
        person,
        ev.OutflowEnded,
        outflow_type="werk_gedeeltelijk",
        reason="contract ended",
        occurred_on=date(2024, 9, 1),
    )
    refused(
        person,
        ev.OutflowEnded,
        "no open werk_gedeeltelijk",
        occurred_on=date(2024, 9, 2),
        outflow_type="werk_gedeeltelijk",
        reason="again",
    )
    # outflow is not terminal: the person may start again
    give(person, ev.OutflowStarted, outflow_type="werk_gedeeltelijk", occurred_on=date(2024, 10, 1))


def test_an_outflow_cannot_end_before_it_started():
    person = housed()
    give(person, ev.OutflowStarted, outflow_type="werk_volledig", occurred_on=date(2024, 6, 3))
    error = refused(
        person,
        ev.OutflowEnded,
        "dated 2024-06-02, before the start of 2024-06-03",
        occurred_on=date(2024, 6, 2),
        outflow_type="werk_volledig",
        reason="contract ended",
    )
    assert (error.kind, error.field) == ("OutflowEnded", "occurred_on")
    # the day it started is fine
    give(
        person,
        ev.OutflowEnded,
        occurred_on=date(2024, 6, 3),
        outflow_type="werk_volledig",
        reason="contract ended",
    )


def test_an_outflow_type_is_open_once_and_several_types_may_be_open():
    person = housed()
    give(person, ev.OutflowStarted, outflow_type="werk_gedeeltelijk")
    error = refused(
        person,
        ev.OutflowStarted,
        "a werk_gedeeltelijk outflow is already open \\(started 2024-06-03\\)",
        occurred_on=date(2024, 7, 1),
        outflow_type="werk_gedeeltelijk",
    )
    assert error.field == "outflow_type"
    # partial work beside volunteering or education: another type opens beside it
    give(person, ev.OutflowStarted, outflow_type="onbetaald_vrijwilligerswerk")
    assert set(person.state.open_outflows) == {"werk_gedeeltelijk", "onbetaald_vrijwilligerswerk"}
    # once ended, the type may start again (people fall back and go out again)
    give(
        person,
        ev.OutflowEnded,
        occurred_on=date(2024, 8, 1),
        outflow_type="werk_gedeeltelijk",
        reason="contract ended",
    )
    give(person, ev.OutflowStarted, outflow_type="werk_gedeeltelijk", occurred_on=date(2024, 9, 2))


def test_outflows_of_one_type_do_not_overlap():
    person = housed()
    give(person, ev.OutflowStarted, outflow_type="werk_volledig", occurred_on=date(2024, 9, 2))
    give(
        person,
        ev.OutflowEnded,
        outflow_type="werk_volledig",
        reason="contract ended",
        occurred_on=date(2024, 12, 31),
    )
    # a start recorded late, dated inside the ended spell: the stock would count it twice
    for inside in (date(2024, 9, 2), date(2024, 12, 30)):
        error = refused(
            person,
            ev.OutflowStarted,
            f"dated {inside}, inside the werk_volledig outflow of 2024-09-02 to 2024-12-31",
            outflow_type="werk_volledig",
            occurred_on=inside,
        )
        assert (error.kind, error.field) == ("OutflowStarted", "occurred_on")
    # another type may run beside it
    give(
        person,
        ev.OutflowStarted,
        outflow_type="onbetaald_vrijwilligerswerk",
        occurred_on=date(2024, 10, 1),
    )
    # an earlier spell recorded late: it starts before and must end before the later one began
    give(person, ev.OutflowStarted, outflow_type="werk_volledig", occurred_on=date(2024, 6, 3))
    # (the day the later one began is one day of both: the stock on it would be ambiguous)
    for end in (date(2024, 9, 2), date(2025, 1, 6)):
        error = refused(
            person,
            ev.OutflowEnded,
            f"the werk_volledig outflow started 2024-06-03 would end on {end}, not before the "
            "one of 2024-09-02 to 2024-12-31 began",
            outflow_type="werk_volledig",
            reason="contract ended",
            occurred_on=end,
        )
        assert (error.kind, error.field) == ("OutflowEnded", "occurred_on")
    give(
        person,
        ev.OutflowEnded,
        outflow_type="werk_volledig",
        reason="contract ended",
        occurred_on=date(2024, 9, 1),
    )
    # the day a spell ended, the same type may start again
    give(person, ev.OutflowStarted, outflow_type="werk_volledig", occurred_on=date(2024, 12, 31))


def test_contract_hours_fit_in_a_week():
    person = housed()
    error = refused(
        person,
        ev.OutflowStarted,
        "hours_per_week: 168.5 hours is more than a week holds \\(168\\)",
        outflow_type="werk_volledig",
        hours_per_week="168.5",
    )
    assert error.field == "hours_per_week"
    give(person, ev.OutflowStarted, outflow_type="werk_volledig", hours_per_week="168")


def test_guidance_year_2_follows_year_1_and_each_year_starts_once():
    person = housed()
    refused(
        person,
        ev.SocialGuidanceStarted,
        "guidance year 2 follows year 1",
        year_no=2,
        provider="VluchtelingenWerk",
    )
    give(person, ev.SocialGuidanceStarted, year_no=1, provider="VluchtelingenWerk")
    refused(
        person,
        ev.SocialGuidanceStarted,
        "year 1 already started",
        year_no=1,
        provider="VluchtelingenWerk",
    )
    # nor before year 1 started (year 1 started on the default date, 2024-06-03)
    error = refused(
        person,
        ev.SocialGuidanceStarted,
        "dated 2024-06-02, before the start of year 1 of 2024-06-03",
        year_no=2,
        provider="VluchtelingenWerk",
        occurred_on=date(2024, 6, 2),
    )
    assert (error.kind, error.field) == ("SocialGuidanceStarted", "occurred_on")
    give(
        person,
        ev.SocialGuidanceStarted,
        year_no=2,
        provider="VluchtelingenWerk",
        occurred_on=date(2025, 6, 3),
    )
    assert person.state.guidance_years == {1, 2}


def test_only_an_open_guidance_year_can_end():
    person = housed()
    # year 2 never started
    error = refused(
        person,
        ev.SocialGuidanceEnded,
        "no open guidance year 2 to end \\(not started\\)",
        year_no=2,
    )
    assert (error.kind, error.field) == ("SocialGuidanceEnded", "year_no")
    give(
        person,
        ev.SocialGuidanceStarted,
        year_no=1,
        provider="VluchtelingenWerk",
        occurred_on=date(2024, 4, 1),
    )
    # not before its start
    error = refused(
        person,
        ev.SocialGuidanceEnded,
        "dated 2024-03-31, before the start of 2024-04-01",
        year_no=1,
        occurred_on=date(2024, 3, 31),
    )
    assert error.field == "occurred_on"
    give(person, ev.SocialGuidanceEnded, year_no=1, occurred_on=date(2025, 3, 31))
    # and once
    refused(
        person,
        ev.SocialGuidanceEnded,
        "no open guidance year 1 to end \\(already ended\\)",
        year_no=1,
        occurred_on=date(2025, 4, 1),
    )


def test_only_an_assigned_coach_can_be_unassigned():
    person = housed()
    refused(
        person,
        ev.CoachUnassigned,
        "r.jansen is not assigned as regisseur",
        staff_id="r.jansen",
        role="regisseur",
    )
    give(person, ev.CoachAssigned, staff_id="r.jansen", role="regisseur")
    # the same staff member in another role is another assignment
    refused(
        person,
        ev.CoachUnassigned,
        "r.jansen is not assigned as coach",
        staff_id="r.jansen",
        role="coach",
    )
    give(person, ev.CoachUnassigned, staff_id="r.jansen", role="regisseur")
    assert person.state.coaches == {}


def test_a_case_is_closed_and_reopened_in_turn():
    person = housed()
    refused(person, ev.CaseReopened, "the case is not closed")
    give(person, ev.CaseClosed, reason="guidance_ended")
    refused(person, ev.CaseClosed, "the case is already closed", reason="other")
    give(person, ev.CaseReopened, reason="asked for help again")
    give(person, ev.CaseClosed, reason="moved")
    assert person.state.closed


# --- AMIF participation --------------------------------------------------------------------------


def test_a_person_enrols_in_a_project_once():
    person = housed()
    give(person, ev.ParticipantEnrolled, **enrolment_fields("MWP"))
    # project codes are compared without regard to case
    refused(person, ev.ParticipantEnrolled, "already enrolled in mwp", **enrolment_fields("mwp"))
    # another project is another enrolment
    give(person, ev.ParticipantEnrolled, **enrolment_fields("TAAL2"))


def test_a_participant_who_exited_is_not_enrolled_again():
    person = housed()
    give(person, ev.ParticipantEnrolled, **enrolment_fields())
    give(person, ev.ParticipantExited, project_id="MWP", reason="work", completed=True)
    refused(
        person,
        ev.ParticipantEnrolled,
        "already enrolled in MWP",
        **enrolment_fields(occurred_on=date(2024, 8, 1)),
    )


def test_an_amif_participant_must_be_a_third_country_national():
    error = refused(
        housed(),
        ev.ParticipantEnrolled,
        "must be third-country nationals",
        **enrolment_fields(tcn=False),
    )
    assert error.field == "tcn"


FOLLOW_UPS = {
    ev.ServiceDelivered: {"category": "language_course", "hours": "12"},
    ev.ParticipantFeedbackRecorded: {"helpful": "yes"},
    ev.ParticipantExited: {"reason": "work", "completed": True},
}


@pytest.mark.parametrize("cls", list(FOLLOW_UPS), ids=lambda c: c.__name__)
def test_project_follow_ups_need_an_open_enrolment(cls):
    person = housed()
    refused(person, cls, "not enrolled in MWP", project_id="MWP", **FOLLOW_UPS[cls])
    give(person, ev.ParticipantEnrolled, **enrolment_fields())
    give(person, cls, project_id="mwp", **FOLLOW_UPS[cls])


def test_nothing_follows_an_exit_from_the_project():
    person = housed()
    give(person, ev.ParticipantEnrolled, **enrolment_fields())
    exit_fields = {"project_id": "MWP", "reason": "moved", "completed": False}
    give(person, ev.ParticipantExited, occurred_on=date(2024, 9, 30), **exit_fields)
    service = {"project_id": "MWP", "category": "other", "hours": "1"}
    error = refused(
        person,
        ev.ServiceDelivered,
        "dated 2024-10-01, after the exit from MWP on 2024-09-30",
        occurred_on=date(2024, 10, 1),
        **service,
    )
    assert error.field == "occurred_on"
    # a service recorded late, delivered up to the exit, still counts for it
    give(person, ev.ServiceDelivered, occurred_on=date(2024, 9, 30), **service)
    error = refused(
        person,
        ev.ParticipantExited,
        "already exited MWP on 2024-09-30",
        occurred_on=date(2024, 10, 2),
        **exit_fields,
    )
    assert error.field == "project_id"


@pytest.mark.parametrize("cls", list(FOLLOW_UPS), ids=lambda c: c.__name__)
def test_project_follow_ups_are_not_dated_before_the_enrolment(cls):
    person = housed()
    give(person, ev.ParticipantEnrolled, **enrolment_fields(occurred_on=date(2024, 5, 1)))
    error = refused(
        person,
        cls,
        "dated 2024-04-30, before the enrolment in MWP of 2024-05-01",
        project_id="MWP",
        occurred_on=date(2024, 4, 30),
        **FOLLOW_UPS[cls],
    )
    assert (error.kind, error.field) == (cls.__name__, "occurred_on")
    give(person, cls, project_id="MWP", occurred_on=date(2024, 5, 1), **FOLLOW_UPS[cls])


# --- family reunification (§2.3 H) ---------------------------------------------------------------


def apply_for_reunification(person, on, file_no=1):
    return give(
        person,
        ev.FamilyReunificationApplied,
        occurred_on=on,
        file_no=file_no,
        members=["partner", "kind"],
    )


def test_an_application_within_three_months_of_the_permit_notice_is_not_late():
    # permit notified on 2023-11-03: the window closes on 2024-02-03
    person = with_permit()
    assert apply_for_reunification(person, date(2024, 2, 3)) == []
    applied = person.effective[person.version]
    assert (applied.late, applied.rule_version) == (False, rules.current_rules().version)


def test_a_late_application_is_accepted_with_a_warning_and_flagged():
    person = with_permit()
    warnings = apply_for_reunification(person, date(2024, 2, 4))
    assert warnings == [
        "filed after the 3-month nareis window (nareiscriterium) of the permit notice"
    ]
    assert person.effective[person.version].late is True


def test_without_a_notified_asylum_permit_lateness_is_unknown():
    person = with_permit(notified_on=None)
    assert apply_for_reunification(person, date(2025, 1, 6)) == []
    assert person.effective[person.version].late is None


def test_a_reunification_file_number_is_used_once():
    person = with_permit()
    apply_for_reunification(person, date(2024, 1, 20))
    refused(
        person,
        ev.FamilyReunificationApplied,
        "file 1 already exists",
        occurred_on=date(2024, 1, 21),
        members=["ouder"],
    )
    apply_for_reunification(person, date(2024, 1, 21), file_no=2)


REUNIFICATION_FOLLOW_UPS = {
    ev.FamilyReunificationDecided: {"outcome": "ingewilligd"},
    ev.MvvIssued: {"relation": "partner"},
    ev.NareizigerArrived: {"relation": "partner"},
    ev.FamilyReunificationClosed: {"closure": "herenigd"},
}


@pytest.mark.parametrize("cls", list(REUNIFICATION_FOLLOW_UPS), ids=lambda c: c.__name__)
def test_reunification_follow_ups_need_an_open_file(cls):
    person = with_permit()
    fields = REUNIFICATION_FOLLOW_UPS[cls]
    refused(person, cls, "no family-reunification file 1", **fields)
    apply_for_reunification(person, date(2024, 1, 20))
    give(person, cls, **fields)
    if cls is not ev.FamilyReunificationClosed:
        give(
            person,
            ev.FamilyReunificationClosed,
            closure="ingetrokken",
            occurred_on=date(2024, 7, 1),
        )
    refused(person, cls, "file 1 is closed", occurred_on=date(2024, 7, 2), **fields)


def test_the_aggregate_refuses_an_event_out_of_sequence():
    person = registered()
    stray = build(person, ev.LadderAssessed, rung=1, assessor="a")
    person.apply(stray)
    with pytest.raises(
        StreamIntegrityError, match="version 2 follows version 2, so version 2 is stored twice"
    ):
        person.apply(stray)


def test_occurred_on_dates_may_arrive_out_of_order():
    person = housed()
    give(person, ev.LadderAssessed, occurred_on=date(2024, 8, 1), rung=3, assessor="a")
    give(
        person,
        ev.LadderAssessed,
        occurred_on=date(2024, 5, 1) - timedelta(days=1),
        rung=2,
        assessor="a",
    )
    assert person.version == 6


def test_today_in_dutch_time_is_not_the_future_shortly_after_midnight():
    # 23:30 UTC on 1 March is 00:30 on 2 March in Amsterdam: 2 March is today, not the future
    late_evening_utc = datetime(2024, 3, 1, 23, 30, tzinfo=UTC)
    aggregate = registered()
    event = build(aggregate, ev.LadderAssessed, occurred_on=date(2024, 3, 2), rung=3, assessor="a")
    event = event.model_copy(update={"timestamp": late_evening_utc})
    assert recorded_day(event) == date(2024, 3, 2)
    assert aggregate.record(event) == []


def test_a_death_recorded_late_is_not_dated_before_the_facts_of_the_path():
    person = housed()
    give(person, ev.LadderAssessed, occurred_on=date(2024, 9, 10), rung=2, assessor="a")
    assessed = person.version
    give(person, ev.CaseClosed, occurred_on=date(2024, 9, 20), reason="deceased")
    refused(
        person,
        ev.Deceased,
        f"Deceased: occurred_on: 2024-09-01 is before v{assessed} LadderAssessed of 2024-09-10",
        occurred_on=date(2024, 9, 1),
    )
    # once that fact is retracted, the death is recorded; the case's closing may follow it
    give(person, ev.EventRetracted, target_version=assessed, occurred_on=date(2024, 9, 21))
    give(person, ev.Deceased, occurred_on=date(2024, 9, 1))
    assert person.state.deceased_on == date(2024, 9, 1)


def test_facts_stored_before_the_person_rules_still_load_and_the_stream_goes_on():
    """The rules on naturalisation, permits, the previous municipality, open coach assignments
    and the age at registration are the aggregate's: a stream that holds facts they now refuse
    still loads, and takes new facts that meet them."""
    stored = Trajectory(uuid4())
    facts = [
        (ev.PersonRegistered, person_fields(birth_date=date(1800, 1, 1))),
        (ev.NaturalisationGranted, {"occurred_on": date(2024, 2, 1)}),
        (ev.NaturalisationGranted, {"occurred_on": date(2024, 3, 1)}),
        (ev.ResidencePermitRecorded, {"occurred_on": date(2024, 4, 1), "permit_kind": "asiel_bt"}),
        (ev.BrpRegistered, {"occurred_on": date(2024, 4, 2), "previous_municipality": GEMEENTE}),
        (ev.CoachAssigned, {"staff_id": "r.jansen", "role": "regisseur"}),
        (ev.CoachAssigned, {"staff_id": "r.jansen", "role": "regisseur"}),
    ]
    events = []
    for cls, fields in facts:
        event = build(stored, cls, **fields)
        stored.apply(event)  # as stored before the rules: not checked
        events.append(event)

    person = project_stream(None, events)

    assert isinstance(person, Trajectory)
    assert person.version == len(facts)
    assert person.state.naturalised_on == date(2024, 2, 1)
    give(person, ev.CoachUnassigned, staff_id="r.jansen", role="regisseur")
    give(person, ev.CoachAssigned, staff_id="r.jansen", role="regisseur")
    assert person.state.coaches == {("r.jansen", StaffRole.REGISSEUR): date(2024, 6, 3)}
