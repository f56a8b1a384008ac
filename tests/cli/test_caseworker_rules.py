"""Facts a caseworker may get wrong that the person's own stream shows to be impossible:
`traject record` and `traject correct` refuse them with exit 1, naming the field and the rule,
and write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import Traject, days_ago, initialised_ledger, project_registration, refused


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Traject:
    return initialised_ledger(request, tmp_path, "traject_caseworker")


def kinds(traject: Traject, person: str) -> list[str]:
    return [e["kind"] for e in traject.json("timeline", person)["events"]]


def enrolment(person: str, on: str) -> tuple[str, ...]:
    return (
        "record", "participant-enrolled", person, "--on", on, "--project-id", "MWP", "--tcn",
        "--permit-kind", "asiel_bt", "--permit-valid", "--checked-on", on,
        "--checked-by", "r.jansen", "--eligibility-evidence-ref", "E-1", "--consent-ref", "C-1",
    )  # fmt: skip


def test_no_enrolment_as_a_third_country_national_after_naturalisation(store: Traject) -> None:
    store.ok(*project_registration("2024-01-01"))
    person = store.register()
    store.ok("record", "naturalisation-granted", person, "--on", "2024-05-01")

    refused(
        store,
        *enrolment(person, "2024-06-01"),
        stderr="ParticipantEnrolled: --tcn: naturalised on 2024-05-01, so not a third-country "
        "national at enrolment on 2024-06-01: AMIF participants must be third-country "
        "nationals at enrolment",
    )
    # enrolled before the naturalisation, the person was one; a correction cannot move the
    # enrolment past it
    store.ok(*enrolment(person, "2024-04-01"))
    refused(
        store,
        "correct", person, "3", "--set", "occurred_on=2024-05-01", "--reason", "date typo",
        stderr="ParticipantEnrolled: tcn: naturalised on 2024-05-01, so not a third-country "
        "national at enrolment on 2024-05-01: AMIF participants must be third-country "
        "nationals at enrolment",
    )  # fmt: skip
    assert kinds(store, person) == [
        "PersonRegistered",
        "NaturalisationGranted",
        "ParticipantEnrolled",
    ]


def test_dates_of_what_has_happened_are_not_in_the_future(store: Traject) -> None:
    store.ok(*project_registration("2024-01-01"))
    person = store.register()
    tomorrow = days_ago(-1)
    refused(
        store,
        "record", "residence-permit-recorded", person, "--on", days_ago(10),
        "--permit-kind", "asiel_bt", "--notified-on", tomorrow,
        stderr="ResidencePermitRecorded: --notified-on: must not be in the future",
    )  # fmt: skip
    exam = (
        "record", "exam-result-recorded", person, "--on", days_ago(10), "--component", "knm",
        "--level", "a2", "--result", "geslaagd",
    )  # fmt: skip
    refused(
        store,
        *exam,
        "--result-date",
        tomorrow,
        stderr="ExamResultRecorded: --result-date: must not be in the future",
    )
    refused(
        store,
        "record", "pvt-completed", person, "--on", days_ago(10), "--provider", "VWN",
        "--hours", "12", "--reported-to-duo-on", tomorrow,
        stderr="PvtCompleted: --reported-to-duo-on: must not be in the future",
    )  # fmt: skip
    enrol = list(enrolment(person, days_ago(10)))
    enrol[enrol.index("--checked-on") + 1] = tomorrow
    refused(store, *enrol, stderr="ParticipantEnrolled: --checked-on: must not be in the future")
    # today is not the future, and a correction is judged alike
    store.ok(*exam, "--result-date", days_ago(0))
    refused(
        store,
        "correct", person, "2", "--set", f"result_date={tomorrow}", "--reason", "typo",
        stderr="ExamResultRecorded: result_date: must not be in the future",
    )  # fmt: skip
    assert kinds(store, person) == ["PersonRegistered", "ExamResultRecorded"]


def test_a_step_is_not_dated_before_the_step_it_follows(store: Traject) -> None:
    person = store.register()
    record = ("record",)
    # a koppeling is withdrawn after it is made
    store.ok(
        *record, "residence-permit-recorded", person, "--on", "2024-01-10",
        "--permit-kind", "asiel_bt",
    )  # fmt: skip
    store.ok(*record, "coa-linked", person, "--on", "2024-01-20", "--taakstelling-period", "2024H1")
    refused(
        store,
        *record, "coa-link-withdrawn", person, "--on", "2024-01-19",
        stderr="CoaLinkWithdrawn: --on (occurred_on): dated 2024-01-19, before the koppeling of "
        "2024-01-20 it follows (a koppeling is withdrawn after it is made)",
    )  # fmt: skip
    # a brede intake is completed after it starts; a PIP revision follows the PIP it revises
    store.ok(
        *record, "inburgering-duty-established", person, "--on", "2024-03-20",
        "--duty-start", "2024-03-20",
    )  # fmt: skip
    store.ok(*record, "broad-intake-started", person, "--on", "2024-04-01", "--by", "r.jansen")
    refused(
        store,
        *record, "broad-intake-completed", person, "--on", "2024-03-25", "--by", "r.jansen",
        stderr="BroadIntakeCompleted: --on (occurred_on): dated 2024-03-25, before the start of "
        "the "
        "brede intake of 2024-04-01 it follows (a brede intake is completed after it starts)",
    )  # fmt: skip
    pip = (
        "--leerroute", "b1", "--hoofddoel", "werk", "--pvt-intensity", "standaard",
        "--map-intensity", "standaard",
    )  # fmt: skip
    store.ok(*record, "pip-adopted", person, "--on", "2024-05-01", "--version", "1", *pip,
             "--decision-ref", "PIP-1")  # fmt: skip
    refused(
        store,
        *record, "pip-adopted", person, "--on", "2024-04-01", "--version", "2", *pip,
        "--decision-ref", "PIP-2",
        stderr="PipAdopted: --on (occurred_on): dated 2024-04-01, before the PIP version 1 of "
        "2024-05-01 it follows (a PIP version follows the one it revises)",
    )  # fmt: skip
    # a PVT is reported to DUO once it is signed
    refused(
        store,
        *record, "pvt-completed", person, "--on", "2024-09-10", "--provider", "VWN",
        "--hours", "12", "--reported-to-duo-on", "2024-09-01",
        stderr="PvtCompleted: --reported-to-duo-on: 2024-09-01 is before the signing on "
        "2024-09-10: a PVT is reported to DUO once it is signed",
    )  # fmt: skip
    # a case is reopened after it closes, and closes again after it was reopened
    store.ok(*record, "case-closed", person, "--on", "2024-10-01", "--reason", "other")
    refused(
        store,
        *record, "case-reopened", person, "--on", "2024-09-01",
        stderr="CaseReopened: --on (occurred_on): dated 2024-09-01, before the close of "
        "2024-10-01 it "
        "follows (a case is reopened after it closes)",
    )  # fmt: skip
    store.ok(*record, "case-reopened", person, "--on", "2024-11-01")
    refused(
        store,
        *record, "case-closed", person, "--on", "2024-10-15", "--reason", "other",
        stderr="CaseClosed: --on (occurred_on): dated 2024-10-15, before the reopening of "
        "2024-11-01 "
        "it follows (a reopened case closes again after it was reopened)",
    )  # fmt: skip
    # nor can a correction move a step before the one it follows
    refused(
        store,
        "correct", person, "7", "--set", "occurred_on=2024-11-15", "--reason", "typo",
        stderr="EventCorrected: --set (changes): later facts would break the rules: v8 "
        "CaseReopened of "
        "2024-11-01: occurred_on: dated 2024-11-01, before the close of 2024-11-15 it follows "
        "(a case is reopened after it closes) — correct or retract v8 first, or make the "
        "corrections in the other order",
    )  # fmt: skip
    assert kinds(store, person)[-2:] == ["CaseClosed", "CaseReopened"]
    # the IND decides on a reunification file after it was applied for; so follow the mvv, the
    # arrival and the closing of the file
    store.ok(*record, "family-reunification-applied", person, "--on", "2024-04-01",
             "--members", "partner")  # fmt: skip
    for follow_up in (
        ("family-reunification-decided", "--outcome", "ingewilligd"),
        ("mvv-issued", "--relation", "partner"),
        ("nareiziger-arrived", "--relation", "partner"),
        ("family-reunification-closed", "--closure", "herenigd"),
    ):
        kind = "".join(word.title() for word in follow_up[0].split("-"))
        refused(
            store,
            *record, follow_up[0], person, "--on", "2024-03-25", *follow_up[1:],
            stderr=f"{kind}: --on (occurred_on): dated 2024-03-25, before the application of file "
            "1 of "
            "2024-04-01 it follows (an IND decision, an mvv, an arrival and the closing of a "
            "file follow its application)",
        )  # fmt: skip


def housed_in_2024(store: Traject) -> str:
    """A person linked by COA on 2024-01-20, with a tenancy of 2024-03-01 and housed through
    the koppeling on 2024-03-04 (versions 2, 3 and 4)."""
    person = store.register()
    store.ok("record", "coa-linked", person, "--on", "2024-01-20", "--taakstelling-period",
             "2024H1")  # fmt: skip
    store.ok("record", "tenancy-signed", person, "--on", "2024-03-01", "--housing-kind",
             "regulier")  # fmt: skip
    store.ok("record", "housed", person, "--on", "2024-03-04", "--housing-kind", "regulier",
             "--route", "koppeling")  # fmt: skip
    return person


def test_a_koppeling_recorded_again_after_the_housing_that_used_it_is_refused(
    store: Traject,
) -> None:
    person = housed_in_2024(store)
    # the same koppeling entered a second time (its date, or any date up to the housing) would
    # open a koppeling for a second housing of the same person: refused
    for on in ("2024-01-20", "2024-03-04"):
        refused(
            store,
            "record", "coa-linked", person, "--on", on, "--taakstelling-period", "2024H1",
            stderr=f"CoaLinked: --on (occurred_on): dated {on}, not after the housing through a "
            "koppeling of 2024-03-04, which used the koppeling made before it: is this "
            "koppeling recorded already? (see traject timeline)",
        )  # fmt: skip
    assert kinds(store, person) == ["PersonRegistered", "CoaLinked", "TenancySigned", "Housed"]


def test_a_housed_person_is_not_linked_by_coa_again_unless_back_from_abroad(
    store: Traject,
) -> None:
    person = housed_in_2024(store)
    # the housing ended COA's reception: a koppeling after it is refused
    linked = ("record", "coa-linked", person, "--taakstelling-period", "2024H2")
    after_housing = (
        "CoaLinked: --on (occurred_on): dated 2024-08-01, after the person was housed on "
        "2024-03-04: "
        "COA links only a permit holder still in its reception, which the housing ended "
        "(record a move as housed; if the housing was recorded wrongly, correct or retract it "
        "first)"
    )
    refused(
        store,
        *linked, "--on", "2024-08-01",
        stderr=after_housing,
    )  # fmt: skip
    # a move within the Netherlands does not bring the person back into reception
    store.ok("record", "moved-out", person, "--on", "2024-05-01", "--destination", "gemeente",
             "--destination-municipality", "GM0556")  # fmt: skip
    refused(
        store,
        *linked, "--on", "2024-08-01",
        stderr=after_housing,
    )  # fmt: skip
    # one who left the Netherlands and came back into reception is linked anew
    store.ok("record", "moved-out", person, "--on", "2024-06-01", "--destination", "abroad")
    store.ok(*linked, "--on", "2024-08-01")
    assert kinds(store, person)[-1] == "CoaLinked"


def test_person_show_says_a_moved_out_case_ended_until_the_person_arrives_again(
    store: Traject,
) -> None:
    person = housed_in_2024(store)
    assert store.json("person", "show", person)["status"]["case"] == "open"
    store.ok("record", "moved-out", person, "--on", "2024-05-01", "--destination", "gemeente",
             "--destination-municipality", "GM0556")  # fmt: skip
    # the caseload no longer counts the person where they lived; person show says so
    assert store.json("person", "show", person)["status"]["case"] == "moved out on 2024-05-01"
    assert "moved out on 2024-05-01" in store.ok("person", "show", person).stdout
    # the same move-out entered twice is recorded, with a warning
    again = store.ok("record", "moved-out", person, "--on", "2024-05-01", "--destination",
                     "gemeente", "--destination-municipality", "GM0556")  # fmt: skip
    assert "a move-out on 2024-05-01 is recorded already, with no arrival (housing, BRP" in (
        again.stderr
    )
    store.ok("retract", person, "6", "--reason", "recorded twice")
    # registered in the BRP where they moved to: a case there, as the caseload counts it
    store.ok("record", "brp-registered", person, "--on", "2024-05-02", "--municipality",
             "GM0556")  # fmt: skip
    assert store.json("person", "show", person)["status"]["case"] == "open"
    assert [
        row["municipality"] for row in store.json("caseload", "--on", "2024-05-02")["rows"]
    ] == ["GM0556"]
    # housed there too: still a case there
    store.ok("record", "housed", person, "--on", "2024-05-03", "--housing-kind", "regulier",
             "--route", "eigen", "--municipality", "GM0556")  # fmt: skip
    assert store.json("person", "show", person)["status"]["case"] == "open"


def test_a_hand_over_and_a_benefit_end_follow_what_they_end(store: Traject) -> None:
    person = store.register()
    # a regisseur hands the person over after taking them on
    coach = ("--staff-id", "r.jansen", "--role", "regisseur")
    store.ok("record", "coach-assigned", person, "--on", "2024-07-01", *coach)
    refused(
        store,
        "record", "coach-unassigned", person, "--on", "2024-06-15", *coach,
        stderr="CoachUnassigned: --on (occurred_on): dated 2024-06-15, before the assignment of "
        "r.jansen as regisseur of 2024-07-01 it follows (a staff member hands a person over "
        "after taking them on)",
    )  # fmt: skip
    # a benefit ends once it was granted, and not before
    benefit = ("--benefit-kind", "algemene_bijstand")
    refused(
        store,
        "record", "benefit-ended", person, "--on", "2024-06-15", *benefit,
        stderr="BenefitEnded: --benefit-kind: no granted algemene_bijstand benefit to end (record "
        "benefit-granted first, dated when it was granted)",
    )  # fmt: skip
    store.ok("record", "benefit-granted", person, "--on", "2024-07-15", *benefit)
    refused(
        store,
        "record", "benefit-ended", person, "--on", "2024-07-01", *benefit,
        stderr="BenefitEnded: --on (occurred_on): dated 2024-07-01, before the grant of "
        "2024-07-15 it "
        "follows (a benefit ends after it is granted)",
    )  # fmt: skip
    store.ok("record", "benefit-ended", person, "--on", "2024-09-30", *benefit)
    store.ok("record", "coach-unassigned", person, "--on", "2024-09-30", *coach)


def housed_referent(store: Traject, on: str) -> str:
    """A statushouder linked by COA and housed through the koppeling on ``on``."""
    referent = store.linked_person()
    store.ok("record", "tenancy-signed", referent, "--on", days_ago(14), "--housing-kind",
             "regulier")  # fmt: skip
    store.ok("record", "housed", referent, "--on", on, "--housing-kind", "regulier",
             "--route", "koppeling")  # fmt: skip
    return referent


def family_member(store: Traject, referent: str) -> str:
    return store.register("--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY",
                          "--household-id", referent)  # fmt: skip


def test_a_nareiziger_is_housed_only_in_a_housed_referents_household(store: Traject) -> None:
    # the referent is linked by COA but has no home yet: the family member cannot join it
    referent = store.linked_person()
    member = family_member(store, referent)
    nareis = ("--housing-kind", "regulier", "--route", "nareis")
    refused(
        store,
        "record", "housed", member, "--on", days_ago(6), *nareis,
        stderr=f"Housed: --route: the household's referent {referent} is not housed: a "
        "nareiziger joins a housed referent's household (record the referent's housing first)",
    )  # fmt: skip
    # nor sign a tenancy of their own without a koppeling
    refused(
        store,
        "record", "tenancy-signed", member, "--on", days_ago(6), "--housing-kind", "regulier",
        stderr=f"TenancySigned: person: the household's referent {referent} is not housed: a "
        "nareiziger joins a housed referent's household (record the referent's housing first)",
    )  # fmt: skip
    # the referent moves in; a housing of the member dated before it is still refused
    store.ok("record", "tenancy-signed", referent, "--on", days_ago(14), "--housing-kind",
             "regulier")  # fmt: skip
    store.ok("record", "housed", referent, "--on", days_ago(8), "--housing-kind", "regulier",
             "--route", "koppeling")  # fmt: skip
    refused(
        store,
        "record", "housed", member, "--on", days_ago(9), *nareis,
        stderr=f"Housed: --on (occurred_on): dated {days_ago(9)}, before the housing of the "
        "household's "
        f"referent {referent} on {days_ago(8)}: a nareiziger joins a housed referent's household",
    )  # fmt: skip
    # joining the housed referent: accepted
    store.ok("record", "housed", member, "--on", days_ago(6), *nareis)
    assert kinds(store, member) == ["PersonRegistered", "Housed"]


def test_a_correction_cannot_move_a_nareis_housing_before_the_referents(store: Traject) -> None:
    referent = housed_referent(store, days_ago(8))
    member = family_member(store, referent)
    store.ok("record", "housed", member, "--on", days_ago(6), "--housing-kind", "regulier",
             "--route", "nareis")  # fmt: skip

    refused(
        store,
        "correct", member, "2", "--set", f"occurred_on={days_ago(10)}", "--reason", "typo",
        stderr=f"Housed: on (occurred_on): dated {days_ago(10)}, before the housing of the "
        f"household's referent {referent} on {days_ago(8)}: a nareiziger joins a housed "
        "referent's household",
    )  # fmt: skip


def test_nareis_housing_needs_the_link_to_the_referents_household(store: Traject) -> None:
    # a family member with a derived asylum permit, registered without a household
    member = store.register()
    store.ok("record", "residence-permit-recorded", member, "--on", days_ago(15),
             "--permit-kind", "asiel_afgeleid")  # fmt: skip
    nareis = ("record", "housed", member, "--on", days_ago(6), "--housing-kind", "regulier",
              "--route", "nareis")  # fmt: skip
    refused(
        store,
        *nareis,
        stderr="Housed: --route: nareis is for a nareiziger in a referent's household: a "
        "nareiziger joins a housed referent's household (correct the registration's "
        "household_id to the referent's person id first)",
    )  # fmt: skip
    # nor signs a tenancy without a koppeling
    refused(
        store,
        "record", "tenancy-signed", member, "--on", days_ago(6), "--housing-kind", "regulier",
        stderr="TenancySigned: person: needs an active koppeling, or a nareiziger's household",
    )  # fmt: skip
    # linked to the housed referent's household, the member joins it
    referent = housed_referent(store, days_ago(8))
    store.ok("correct", member, "1", "--set", f"household_id={referent}", "--reason",
             "household from the BRP")  # fmt: skip
    store.ok(*nareis)
    # the link cannot be taken away afterwards: the housing would lose its referent
    result = store("correct", member, "1", "--set", "household_id=", "--reason", "typo")
    assert result.exit_code == 1
    assert "v4 Housed of" in result.stderr
    assert "route: nareis is for a nareiziger in a referent's household" in result.stderr


def test_the_referents_housing_is_not_retracted_or_moved_past_a_members(store: Traject) -> None:
    # the referent is housed (v5), the family member joins two days later
    referent = housed_referent(store, days_ago(8))
    member = family_member(store, referent)
    store.ok("record", "housed", member, "--on", days_ago(6), "--housing-kind", "regulier",
             "--route", "nareis")  # fmt: skip
    joined = f"Housed v2 of {member} on {days_ago(6)}"
    # retracted, the referent would not be housed at all: the member's housing would break
    refused(
        store,
        "retract", referent, "5", "--reason", "wrong person",
        stderr="EventRetracted: VERSION (target_version): "
        "the referent would no longer be housed, but "
        f"the household's members rest on an earlier housing: {joined}: a nareiziger "
        "joins a housed referent's household (correct or retract the member's facts first)",
    )  # fmt: skip
    # nor moved past the member's housing
    refused(
        store,
        "correct", referent, "5", "--set", f"occurred_on={days_ago(5)}", "--reason", "typo",
        stderr="EventCorrected: --set (changes): the referent would be housed first on "
        f"{days_ago(5)}, "
        f"but the household's members rest on an earlier housing: {joined}: a "
        "nareiziger joins a housed referent's household (correct or retract the member's "
        "facts first)",
    )  # fmt: skip
    # a correction that keeps the referent housed on or before the member's day is accepted
    store.ok("correct", referent, "5", "--set", f"occurred_on={days_ago(6)}", "--reason", "typo")
    # and once the member's housing is retracted, the referent's can go too
    store.ok("retract", member, "2", "--reason", "recorded too early")
    store.ok("retract", referent, "5", "--reason", "wrong person")


def test_a_member_joined_by_a_correction_keeps_the_referents_housing(store: Traject) -> None:
    """A member who joined the household by a correction of their registration (the
    referent's id written in capitals, without hyphens) is found as a member too, and one
    who left it by a correction no longer holds the referent's housing."""
    referent = housed_referent(store, days_ago(8))
    joined, left = store.register(), family_member(store, referent)
    written = referent.replace("-", "").upper()
    store.ok("correct", joined, "1", "--set", f"household_id={written}", "--reason", "family")
    store.ok("record", "housed", joined, "--on", days_ago(6), "--housing-kind", "regulier",
             "--route", "nareis")  # fmt: skip
    store.ok("record", "housed", left, "--on", days_ago(6), "--housing-kind", "regulier",
             "--route", "nareis")  # fmt: skip
    other = housed_referent(store, days_ago(8))
    store.ok("correct", left, "1", "--set", f"household_id={other}", "--reason", "other family")
    refused(
        store,
        "retract", referent, "5", "--reason", "wrong person",
        stderr="EventRetracted: VERSION (target_version): "
        "the referent would no longer be housed, but "
        f"the household's members rest on an earlier housing: Housed v3 of {joined} on "
        f"{days_ago(6)}: a nareiziger joins a housed referent's household (correct or "
        "retract the member's facts first)",
    )  # fmt: skip
    store.ok("retract", joined, "3", "--reason", "recorded too early")
    store.ok("retract", referent, "5", "--reason", "wrong person")


def test_a_person_housed_as_a_nareiziger_is_not_linked_by_coa(store: Traject) -> None:
    # a family member joins the housed referent's household (no permit recorded yet) and
    # moves in
    referent = housed_referent(store, days_ago(8))
    member = family_member(store, referent)
    store.ok("record", "housed", member, "--on", days_ago(5), "--housing-kind", "regulier",
             "--route", "nareis")  # fmt: skip
    refused(
        store,
        "record", "coa-linked", member, "--on", days_ago(4), "--taakstelling-period", "2024H1",
        stderr="CoaLinked: person: a nareiziger is not linked by COA: use housed --route nareis",
    )  # fmt: skip


def test_a_duty_is_fulfilled_once_after_it_started(store: Traject) -> None:
    person = store.register()
    fulfilled = ("record", "inburgering-duty-fulfilled", person, "--basis", "diploma", "--on")
    refused(
        store,
        *fulfilled,
        "2024-02-01",
        stderr="InburgeringDutyFulfilled: person: no inburgering duty to fulfil: record "
        "inburgering-duty-established first",
    )
    store.ok(
        "record", "inburgering-duty-established", person, "--on", "2024-03-20",
        "--duty-start", "2024-03-20",
    )  # fmt: skip
    refused(
        store,
        *fulfilled,
        "2024-03-01",
        stderr="InburgeringDutyFulfilled: --on (occurred_on): dated 2024-03-01, before the duty "
        "start "
        "of 2024-03-20 it follows (a duty is fulfilled once it has started)",
    )
    store.ok(*fulfilled, "2025-06-01")
    refused(
        store,
        *fulfilled,
        "2025-06-02",
        stderr="InburgeringDutyFulfilled: person: the wi2021 duty of 2024-03-20 is already "
        "fulfilled",
    )
    # a fulfilled duty takes no new step: a first PIP after it is a date typed wrongly, or a
    # fulfilment recorded too early
    pip = (
        "record", "pip-adopted", person, "--version", "1", "--leerroute", "b1", "--hoofddoel",
        "werk", "--pvt-intensity", "standaard", "--map-intensity", "standaard",
        "--decision-ref", "PIP-1",
    )  # fmt: skip
    refused(
        store,
        *pip, "--on", "2025-07-01",
        stderr="PipAdopted: --on (occurred_on): dated 2025-07-01, after the wi2021 duty was "
        "fulfilled "
        "on 2025-06-01: a fulfilled duty takes no new step (correct or retract the fulfilment "
        "if it was recorded wrongly)",
    )  # fmt: skip
    # one dated before the fulfilment, recorded late, is history
    store.ok(*pip, "--on", "2024-05-01")
    assert kinds(store, person) == [
        "PersonRegistered",
        "InburgeringDutyEstablished",
        "InburgeringDutyFulfilled",
        "PipAdopted",
    ]


def test_an_exam_attempt_has_one_result(store: Traject) -> None:
    person = store.register()
    exam = (
        "record", "exam-result-recorded", person, "--component", "lezen", "--level", "b1",
    )  # fmt: skip
    store.ok(*exam, "--on", "2024-09-01", "--result", "gezakt", "--attempt-no", "1")
    refused(
        store,
        *exam, "--on", "2024-09-01", "--result", "geslaagd", "--attempt-no", "1",
        stderr="ExamResultRecorded: --attempt-no: the result of attempt 1 at lezen B1 is already "
        "recorded (exam of 2024-09-01): correct that fact instead",
    )  # fmt: skip
    # the next attempt, or the same attempt at another level, is another exam
    store.ok(*exam, "--on", "2024-12-01", "--result", "geslaagd", "--attempt-no", "2")
    store.ok(
        "record", "exam-result-recorded", person, "--component", "lezen", "--level", "a2",
        "--on", "2025-03-01", "--result", "geslaagd", "--attempt-no", "1",
    )  # fmt: skip
    assert kinds(store, person).count("ExamResultRecorded") == 3


def test_a_move_out_names_another_municipality_only_when_it_moves_within_nl(
    store: Traject,
) -> None:
    person = store.register()
    moved = ("record", "moved-out", person, "--on", "2024-07-01", "--destination")
    refused(
        store,
        *moved, "abroad", "--destination-municipality", "GM0363",
        stderr="MovedOut: --destination-municipality: GM0363 is a municipality, but the "
        "destination is abroad: give a destination municipality only for a move within the "
        "Netherlands (destination gemeente)",
    )  # fmt: skip
    refused(
        store,
        *moved, "gemeente", "--destination-municipality", "Vlaardingen",
        stderr="MovedOut: --destination-municipality: GM0622 is the municipality the person moves "
        "out of: a move within it is no move out (record brp-registered or housed for a new "
        "address)",
    )  # fmt: skip
    store.ok(*moved, "gemeente", "--destination-municipality", "Amsterdam")
    assert kinds(store, person) == ["PersonRegistered", "MovedOut"]


def test_a_service_ends_on_or_after_the_day_it_starts(store: Traject) -> None:
    store.ok(*project_registration("2024-01-01"))
    person = store.register()
    store.ok(*enrolment(person, "2024-03-01"))
    service = (
        "record", "service-delivered", person, "--project-id", "MWP",
        "--category", "language_course", "--hours", "10", "--on", "2024-09-01",
    )  # fmt: skip
    refused(
        store,
        *service, "--until", "2024-08-01",
        stderr="ServiceDelivered: --until: 2024-08-01 is before the service's first day "
        "(2024-09-01, --on): a service ends on or after the day it starts",
    )  # fmt: skip
    store.ok(*service, "--until", "2024-09-01")
    assert kinds(store, person) == [
        "PersonRegistered",
        "ParticipantEnrolled",
        "ServiceDelivered",
    ]


def test_an_extension_moves_the_term_end_later(store: Traject) -> None:
    person = store.register()
    extended = ("record", "term-extended", person, "--on", "2024-02-01", "--new-end")
    refused(
        store,
        *extended,
        "2025-01-01",
        stderr="TermExtended: person: no inburgering duty whose term to extend: record "
        "inburgering-duty-established first",
    )
    duty = (
        "record", "inburgering-duty-established", person, "--on", "2020-03-20",
        "--duty-start", "2020-03-20", "--regime", "wi2013",
    )  # fmt: skip
    refused(
        store,
        *duty, "--term-end", "2019-01-01",
        stderr="InburgeringDutyEstablished: --term-end: 2019-01-01 is not after the duty's start "
        "on 2020-03-20: the term runs from the start of the duty",
    )  # fmt: skip
    store.ok(*duty, "--term-end", "2023-03-20")
    refused(
        store,
        *extended,
        "2020-01-01",
        stderr="TermExtended: --new-end: 2020-01-01 is not after the term end of 2023-03-20: an "
        "extension moves the end of the term later",
    )
    store.ok(*extended, "2024-03-20")
    refused(
        store,
        *extended,
        "2024-03-20",
        stderr="TermExtended: --new-end: 2024-03-20 is not after the term end of 2024-03-20: an "
        "extension moves the end of the term later",
    )
    assert kinds(store, person) == [
        "PersonRegistered",
        "InburgeringDutyEstablished",
        "TermExtended",
    ]


def test_a_derived_flag_stated_otherwise_is_recorded_with_a_warning(
    store: Traject,
) -> None:
    person = store.register()
    store.ok(
        "record", "residence-permit-recorded", person, "--on", "2024-01-10",
        "--permit-kind", "asiel_bt", "--notified-on", "2024-01-12",
    )  # fmt: skip
    applied = ("record", "family-reunification-applied", person, "--on", "2024-09-01")
    # eight months after the notice, said not to be late: recorded as given, and said so
    result = store(*applied, "--members", "partner", "--no-late")
    assert result.exit_code == 0, result.output
    assert (
        "Warning: late false: not what rule set 2026.1 derives from the permit notice of "
        "2024-01-12 (true): recorded as given, and the reunification report counts it so\n"
    ) in result.stderr
    # a housing of one's own said to count for the taakstelling
    result = store(
        "record", "housed", person, "--on", "2024-09-15", "--housing-kind", "regulier",
        "--route", "eigen", "--counts-for-taakstelling",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        "Warning: counts_for_taakstelling true: not what rule set 2026.1 derives for this eigen "
        "housing (false): recorded as given, and the housing report counts it so\n"
    ) in result.stderr
    # derived by the ledger: no warning
    result = store(
        "record", "housed", person, "--on", "2024-09-16", "--housing-kind", "regulier",
        "--route", "eigen",
    )  # fmt: skip
    assert "counts_for_taakstelling" not in result.stderr


FIELD_RULES = [
    # (kind, options refused, its message, options recorded)
    pytest.param(
        "long-term-residence-applied",
        # the asylum permit the person holds is not what a long-term application is for
        ("--residence-kind", "asiel_bt"),
        "LongTermResidenceApplied: --residence-kind: asiel_bt is not a long-term residence "
        "permit: the application is for onbepaalde_tijd (permanent) or eu_langdurig (EU "
        "long-term resident)",
        ("--residence-kind", "eu_langdurig"),
        id="long-term-residence-is-for-a-long-term-permit",
    ),
    pytest.param(
        "profile-updated",
        # nothing given: a fact that says nothing
        (),
        "ProfileUpdated: --occupation-direction: a profile update gives at least one of "
        "occupation_direction, education and language_level (one not given keeps its earlier "
        "value)",
        ("--occupation-direction", "timmerman"),
        id="a-profile-update-gives-something",
    ),
]


@pytest.mark.parametrize(("kind", "wrong", "message", "right"), FIELD_RULES)
def test_a_fact_whose_fields_cannot_be_true_is_refused(
    store: Traject, kind: str, wrong: tuple[str, ...], message: str, right: tuple[str, ...]
) -> None:
    person = store.register()
    fact = ("record", kind, person, "--on", days_ago(3))
    refused(store, *fact, *wrong, stderr=message)
    store.ok(*fact, *right)


def person_with_duty(store: Traject, start: str) -> str:
    """A person whose inburgering duty (Wi2021 for a recent ``start``) started on ``start``."""
    person = store.register()
    store.ok("record", "inburgering-duty-established", person, "--on", start,
             "--duty-start", start)  # fmt: skip
    return person


def test_a_wi2021_pvt_of_fewer_than_12_hours_is_recorded_with_a_warning(store: Traject) -> None:
    person = person_with_duty(store, days_ago(20))
    pvt = ("record", "pvt-completed", "--provider", "VWN")
    # 8 hours: signed, so recorded, but said to be short of the Wi2021 minimum
    result = store(*pvt, person, "--on", days_ago(5), "--hours", "8")
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "Warning: PVT of 8 hours: a Wi2021 PVT takes at least 12 hours (Besluit inburgering "
        "2021 art. 3.1): recorded as given (traject correct --set hours=… if it was mistyped)\n"
    )
    # 12 hours (with a decimal comma, as typed): no warning
    other = person_with_duty(store, days_ago(20))
    result = store(*pvt, other, "--on", days_ago(4), "--hours", "12,0")
    assert (result.exit_code, result.stderr) == (0, "")


PIP = (
    "--hoofddoel", "werk", "--pvt-intensity", "standaard", "--map-intensity", "standaard",
)  # fmt: skip


def test_a_first_pip_is_not_dated_before_the_duty_starts(store: Traject) -> None:
    person = person_with_duty(store, "2024-03-01")
    pip = ("record", "pip-adopted", person, "--version", "1", "--leerroute", "b1", *PIP,
           "--decision-ref", "PIP-1")  # fmt: skip
    # the dagtekening starts the term: a term that begins before the duty cannot be true
    refused(
        store,
        *pip, "--on", "2024-02-20",
        stderr="PipAdopted: --on (occurred_on): dagtekening 2024-02-20 of PIP version 1 is "
        "before the "
        "start of the wi2021 duty on 2024-03-01: a PIP is adopted for a person under the duty, "
        "and starts the term (correct the duty's duty_start first if DUO's date was recorded "
        "wrongly)",
    )  # fmt: skip
    store.ok(*pip, "--on", "2024-03-01")


def test_a_duty_recorded_after_an_earlier_pip_is_kept_with_a_warning(store: Traject) -> None:
    # the PIP is recorded before DUO's notice reaches the ledger
    pip_on, later, earlier = days_ago(15), days_ago(10), days_ago(18)
    pip = ("--version", "1", "--leerroute", "b1", *PIP, "--decision-ref", "PIP-1")
    person = store.register()
    store.ok("record", "pip-adopted", person, "--on", pip_on, *pip)
    duty = ("record", "inburgering-duty-established", person, "--on", later)
    # DUO's duty starting after the PIP: recorded as DUO gives it, and said
    result = store(*duty, "--duty-start", later)
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"Warning: duty_start {later} is after the dagtekening {pip_on} of PIP version 1: "
        "a PIP is adopted for a person under the duty, so one of the two dates is wrong: "
        "recorded as given (traject correct the PIP's date, or this duty_start)\n"
    )
    # a duty that started before the PIP: nothing to say
    other = store.register()
    store.ok("record", "pip-adopted", other, "--on", pip_on, *pip)
    result = store("record", "inburgering-duty-established", other, "--on", later,
                   "--duty-start", earlier)  # fmt: skip
    assert (result.exit_code, result.stderr) == (0, "")


def test_a_leerroute_other_than_the_latest_pips_is_recorded_with_a_warning(
    store: Traject,
) -> None:
    person = person_with_duty(store, days_ago(20))
    pip_on = days_ago(15)
    store.ok("record", "pip-adopted", person, "--on", pip_on, "--version", "1",
             "--leerroute", "b1", *PIP, "--decision-ref", "PIP-1")  # fmt: skip
    route = ("--provider", "Taalschool De Brug")
    # the route the PIP decided: no warning
    result = store("record", "learning-route-started", person, "--on", days_ago(12),
                   "--route", "b1", *route)  # fmt: skip
    assert (result.exit_code, result.stderr) == (0, "")
    # a change to the Z-route without a new PIP version: recorded, and said
    changed = ("record", "learning-route-changed", person, "--route", "z", *route)
    result = store(*changed, "--on", days_ago(8))
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"Warning: route Z is not the leerroute B1 of PIP version 1 (dagtekening {pip_on}): a "
        "leerroute is decided in the PIP, so a change of route comes with a new PIP version "
        "(record pip-adopted): recorded as given\n"
    )
    # with the PIP revised to the Z-route first, the change is what it decided
    store.ok("record", "pip-adopted", person, "--on", days_ago(5), "--version", "2",
             "--leerroute", "z", *PIP, "--decision-ref", "PIP-2")  # fmt: skip
    result = store(*changed, "--on", days_ago(4))
    assert (result.exit_code, result.stderr) == (0, "")


def test_a_pvt_is_signed_once_per_duty(store: Traject) -> None:
    person = person_with_duty(store, "2024-03-01")
    pvt = ("record", "pvt-completed", person, "--provider", "VWN", "--hours", "12")
    store.ok(*pvt, "--on", "2024-09-10")
    # the same signing recorded again (another date typed) would count twice in the PVT report
    refused(
        store,
        *pvt, "--on", "2024-09-12",
        stderr="PvtCompleted: person: a PVT signed on 2024-09-10 is recorded already for the "
        "wi2021 duty of 2024-03-01: the participatieverklaring is signed once per duty (correct "
        "that fact instead, see traject timeline)",
    )  # fmt: skip
    # correcting the one recorded is what to do
    store.ok("correct", person, "3", "--set", "occurred_on=2024-09-12", "--reason", "typo")
    # a new duty, once the first is fulfilled, takes its own PVT
    store.ok("record", "inburgering-duty-fulfilled", person, "--on", "2025-01-10",
             "--basis", "vrijstelling")  # fmt: skip
    store.ok("record", "inburgering-duty-established", person, "--on", "2025-03-01",
             "--duty-start", "2025-03-01")  # fmt: skip
    store.ok(*pvt, "--on", "2025-06-01")
    assert kinds(store, person).count("PvtCompleted") == 2


def test_after_a_death_the_case_and_the_participation_are_closed(store: Traject) -> None:
    store.ok(*project_registration("2024-01-01"))
    person = store.register()
    store.ok(*enrolment(person, "2024-04-01"))
    store.ok("record", "deceased", person, "--on", "2024-06-01")

    refused(
        store,
        "record", "ladder-assessed", person, "--on", "2024-06-02", "--rung", "2",
        "--assessor", "r.jansen",
        stderr="LadderAssessed: --on (occurred_on): 2024-06-02 is after the death on 2024-06-01: "
        "after "
        "a death only what closes the case (case-closed, participant-exited, coach-unassigned, "
        "the end of a guidance, outflow, benefit, ontzorgen or reunification file, the decision "
        "on an objection) is dated; a fact of before it may still be recorded",
    )  # fmt: skip
    refused(
        store,
        "record", "deceased", person, "--on", "2024-06-01",
        stderr="Deceased: person: the death on 2024-06-01 is recorded already",
    )  # fmt: skip
    # a service of before the death, recorded late; then the participation and the case close
    store.ok(
        "record", "service-delivered", person, "--on", "2024-05-15", "--project-id", "MWP",
        "--category", "language_course", "--hours", "2",
    )  # fmt: skip
    store.ok(
        "record", "participant-exited", person, "--on", "2024-06-10", "--project-id", "MWP",
        "--reason", "deceased", "--no-completed",
    )  # fmt: skip
    store.ok("record", "case-closed", person, "--on", "2024-06-10", "--reason", "deceased")
    assert kinds(store, person)[-4:] == [
        "Deceased",
        "ServiceDelivered",
        "ParticipantExited",
        "CaseClosed",
    ]


def test_a_household_is_headed_by_a_registered_referent_in_every_write_path(
    store: Traject,
) -> None:
    referent = store.register()
    child = store.register()
    unknown = "33333333-3333-4333-8333-333333333333"
    message = (
        f"PersonRegistered: household_id: no person {unknown} in this ledger: the household is "
        "its referent's person id (register the referent first)"
    )
    # a correction of a registration's household: to an unknown id refused, to the referent not
    refused(
        store,
        "correct", child, "1", "--set", f"household_id={unknown}", "--reason", "typo",
        stderr=message,
    )  # fmt: skip
    store.ok("correct", child, "1", "--set", f"household_id={referent}", "--reason", "family")
    # an import: the referent registered earlier in the file, or in the ledger; an unknown one
    # is rejected, naming the field
    lines = [
        {"kind": "person-registered", "person_id": "11111111-1111-4111-8111-111111111111",
         "occurred_on": "2024-01-02", "birth_date": "1990-01-01", "sex": "f",
         "nationality": ["SY"]},
        {"kind": "person-registered", "person": "C-2", "occurred_on": "2024-03-02",
         "birth_date": "2015-01-01", "sex": "m", "nationality": ["SY"],
         "household_id": "11111111-1111-4111-8111-111111111111"},
        {"kind": "person-registered", "person": "C-3", "occurred_on": "2024-03-02",
         "birth_date": "2016-01-01", "sex": "m", "nationality": ["SY"], "household_id": referent},
        {"kind": "person-registered", "person": "C-4", "occurred_on": "2024-03-02",
         "birth_date": "2016-01-01", "sex": "m", "nationality": ["SY"], "household_id": unknown},
    ]  # fmt: skip
    path = store.key_file.parent / "household.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    before = store.event_count()
    result = store("import", str(path))
    assert result.exit_code == 1, result.output
    assert f"household.jsonl:4: household_id: no person {unknown} in this ledger" in result.stderr
    assert store.event_count() == before + 3


def test_a_person_is_naturalised_once_and_holds_no_permit_after_it(store: Traject) -> None:
    person = store.register()
    permit = ("record", "residence-permit-recorded", person, "--permit-kind")
    store.ok(*permit, "asiel_bt", "--on", "2019-03-01")
    store.ok(*permit, "onbepaalde_tijd", "--on", "2024-03-01")
    refused(
        store,
        "record", "naturalisation-granted", person, "--on", "2024-03-01",
        stderr="NaturalisationGranted: --on (occurred_on): 2024-03-01 is not after the residence "
        "permit valid from 2024-03-01: a Dutch citizen holds no residence permit, so a "
        "naturalisation follows the permits recorded",
    )  # fmt: skip
    store.ok("record", "naturalisation-granted", person, "--on", "2025-02-01")
    refused(
        store,
        "record", "naturalisation-granted", person, "--on", "2025-03-01",
        stderr="NaturalisationGranted: person: naturalised on 2025-02-01 already: "
        "naturalisation happens once (correct that fact instead)",
    )  # fmt: skip
    refused(
        store,
        *permit, "onbepaalde_tijd", "--on", "2025-02-01",
        stderr="ResidencePermitRecorded: --on (occurred_on): 2025-02-01 is on or after the "
        "naturalisation on 2025-02-01: a Dutch citizen holds no residence permit",
    )  # fmt: skip
    # a correction cannot move a permit past the naturalisation either
    refused(
        store,
        "correct", person, "3", "--set", "occurred_on=2025-03-01", "--reason", "typo",
        stderr="EventCorrected: --set (changes): later facts would break the rules: v4 "
        "NaturalisationGranted of 2025-02-01: occurred_on: 2025-02-01 is not after the "
        "residence permit valid from 2025-03-01: a Dutch citizen holds no residence permit, "
        "so a naturalisation follows the permits recorded — correct or retract v4 first, or "
        "make the corrections in the other order",
    )  # fmt: skip
    # a permit of before the naturalisation may still be recorded late
    store.ok(*permit, "onbepaalde_tijd", "--on", "2025-01-31")
    assert kinds(store, person).count("NaturalisationGranted") == 1


def test_the_previous_municipality_is_not_the_one_registered_in(store: Traject) -> None:
    person = store.register()
    brp = ("record", "brp-registered", person, "--on", "2024-02-01", "--municipality", "GM0622")
    refused(
        store,
        *brp, "--previous-municipality", "GM0622",
        stderr="BrpRegistered: --previous-municipality: GM0622 is the municipality the person "
        "registers in: the previous municipality is the one the person came from (leave it "
        "out for a new address within it)",
    )  # fmt: skip
    store.ok(*brp, "--previous-municipality", "GM0363")
    refused(
        store,
        "correct", person, "2", "--set", "previous_municipality=GM0622", "--reason", "typo",
        stderr="BrpRegistered: previous_municipality: GM0622 is the municipality the person "
        "registers in: the previous municipality is the one the person came from (leave it "
        "out for a new address within it)",
    )  # fmt: skip
    assert kinds(store, person) == ["PersonRegistered", "BrpRegistered"]


def test_a_staff_member_is_assigned_in_a_role_once_at_a_time(store: Traject) -> None:
    person = store.register()
    coach = ("--staff-id", "r.jansen", "--role", "klantmanager")
    store.ok("record", "coach-assigned", person, "--on", "2024-02-01", *coach)
    refused(
        store,
        "record", "coach-assigned", person, "--on", "2024-03-01", *coach,
        stderr="CoachAssigned: --staff-id: r.jansen is already assigned as klantmanager (since "
        "2024-02-01): record coach-unassigned first",
    )  # fmt: skip
    # in another role, or again after the hand-over, it is another assignment
    store.ok("record", "coach-assigned", person, "--on", "2024-03-01",
             "--staff-id", "r.jansen", "--role", "regisseur")  # fmt: skip
    store.ok("record", "coach-unassigned", person, "--on", "2024-04-01", *coach)
    store.ok("record", "coach-assigned", person, "--on", "2024-05-01", *coach)
    assert kinds(store, person).count("CoachAssigned") == 3


def test_a_birth_date_is_at_most_120_years_before_the_registration(store: Traject) -> None:
    register = ("person", "register", "--on", "2024-02-29", "--sex", "f", "--nationality", "SY")
    refused(
        store,
        *register, "--birth-date", "1800-01-01",
        stderr="PersonRegistered: --birth-date: 1800-01-01 is more than 120 years before the "
        "registration on 2024-02-29: a birth date lies on or after 1904-02-29",
    )  # fmt: skip
    refused(
        store,
        *register, "--birth-date", "1904-02-28",
        stderr="PersonRegistered: --birth-date: 1904-02-28 is more than 120 years before the "
        "registration on 2024-02-29: a birth date lies on or after 1904-02-29",
    )  # fmt: skip
    person = str(store.json(*register, "--birth-date", "1904-02-29")["stream_id"])
    refused(
        store,
        "correct", person, "1", "--set", "birth_date=1800-01-01", "--reason", "typo",
        stderr="PersonRegistered: birth_date: 1800-01-01 is more than 120 years before the "
        "registration on 2024-02-29: a birth date lies on or after 1904-02-29",
    )  # fmt: skip
    assert kinds(store, person) == ["PersonRegistered"]


def test_a_registration_dated_in_the_first_120_years_of_the_calendar_is_no_traceback(
    ledger: Traject,
) -> None:
    """`--on 0050-01-02` gave a traceback (year -70 is out of range) when the 120-year rule
    worked out the earliest birth date: no year lies that far back, so every birth date fits."""
    result = ledger(
        "person", "register", "--on", "0050-01-02", "--birth-date", "0001-01-01",
        "--sex", "f", "--nationality", "SY",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


def test_a_member_of_staff_is_one_user_name_in_any_capitals(store: Traject) -> None:
    """A login name is the same in any capitals: the ledger keeps staff names in lower case, so
    a hand-over typed in other capitals closes the assignment, and a second assignment of the
    same member of staff in other capitals is refused as a duplicate."""
    person = store.register()
    assigned_on = days_ago(0)
    store.ok("record", "coach-assigned", person, "--on", assigned_on, "--staff-id", " R.Jansen ",
             "--role", "regisseur")  # fmt: skip
    refused(
        store,
        "record", "coach-assigned", person, "--on", assigned_on, "--staff-id", "r.jansen",
        "--role", "regisseur",
        stderr="CoachAssigned: --staff-id: r.jansen is already assigned as regisseur (since "
        f"{assigned_on}): record coach-unassigned first",
    )  # fmt: skip
    (assigned,) = [e for e in store.json("timeline", person)["events"] if e["version"] == 2]
    assert assigned["recorded"]["fields"]["staff_id"] == "r.jansen"
    caseload = store.json("caseload", "--coach", "R.JANSEN")
    assert [row["regisseurs"] for row in caseload["rows"]] == ["r.jansen"]

    store.ok("record", "coach-unassigned", person, "--on", assigned_on, "--staff-id", "R.JANSEN",
             "--role", "regisseur")  # fmt: skip
    assert store.json("caseload", "--coach", "r.jansen")["rows"] == []


def test_a_caseload_of_a_coach_with_nobody_names_the_staff_who_have_persons(
    store: Traject,
) -> None:
    person = store.register()
    store.ok("record", "coach-assigned", person, "--on", days_ago(1), "--staff-id", "r.jansen",
             "--role", "regisseur")  # fmt: skip
    today = days_ago(0)
    # a typo: nobody listed, and the near name said on stderr; stdout stays the (empty) result
    typo = store("caseload", "--coach", "r.jansne", "--format", "csv")
    assert (typo.exit_code, typo.stdout.splitlines()[1:]) == (0, [])
    assert typo.stderr == (
        f"Note: no active person has 'r.jansne' as regisseur or coach on {today}: did you mean "
        "r.jansen?\n"
    )
    other = store("caseload", "--coach", "p.bakker", "--format", "csv")
    assert other.stderr == (
        f"Note: no active person has 'p.bakker' as regisseur or coach on {today}; staff with "
        "active persons then: r.jansen\n"
    )
    # a coach with a person is not told anything, signals or none
    for args in ((), ("--signals-only",)):
        result = store("caseload", "--coach", "R.Jansen", "--format", "csv", *args)
        assert (result.exit_code, result.stderr) == (0, ""), result.output


def test_a_second_move_in_through_a_used_koppeling_names_the_housing_that_used_it(
    store: Traject,
) -> None:
    person = housed_in_2024(store)
    # the slip of recording the move-in twice: the koppeling is there, but used up
    refused(
        store,
        "record", "housed", person, "--on", "2024-03-05", "--housing-kind", "regulier",
        "--route", "koppeling",
        stderr="Housed: --route: koppeling needs an active koppeling: the koppeling of "
        "2024-01-20 was used by the housing of 2024-03-04 (a koppeling houses once); a later "
        "move takes another route (eigen, gva_doorstroom)",
    )  # fmt: skip
    # a later move by another route is recorded
    store.ok("record", "housed", person, "--on", "2024-06-01", "--housing-kind", "regulier",
             "--route", "eigen")  # fmt: skip
    # a person never linked is asked for the koppeling itself, as is one whose koppeling was
    # withdrawn before any housing used it
    for withdrawn in (False, True):
        other = store.register()
        if withdrawn:
            store.ok("record", "coa-linked", other, "--on", "2024-01-20",
                     "--taakstelling-period", "2024H1")  # fmt: skip
            store.ok("record", "coa-link-withdrawn", other, "--on", "2024-02-01",
                     "--reason", "linked to the wrong municipality")  # fmt: skip
        refused(
            store,
            "record", "housed", other, "--on", "2024-03-05", "--housing-kind", "regulier",
            "--route", "koppeling",
            stderr="Housed: --route: koppeling needs an active koppeling (record coa-linked "
            "first)",
        )  # fmt: skip
    assert kinds(store, person) == [
        "PersonRegistered", "CoaLinked", "TenancySigned", "Housed", "Housed",
    ]  # fmt: skip


def test_a_fact_dated_after_the_case_closed_is_recorded_with_a_warning(store: Traject) -> None:
    person = store.register()
    store.ok("record", "coach-assigned", person, "--on", days_ago(15), "--staff-id", "r.jansen",
             "--role", "regisseur")  # fmt: skip
    closed_on = days_ago(10)
    store.ok("record", "case-closed", person, "--on", closed_on, "--reason", "guidance_ended")
    assessed = ("record", "ladder-assessed", person, "--rung", "3", "--assessor", "r.jansen")
    # an assessment dated after the closure: recorded, and said
    result = store(*assessed, "--on", days_ago(5))
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"Warning: the case is closed since {closed_on} and this fact is dated after it, on "
        f"{days_ago(5)}: recorded as given (record case-reopened first when the person is back "
        "in care; retract this fact when it belongs to another person)\n"
    )
    # one of before the closure, recorded late, and what closes what was left open: no warning
    for args in (
        (*assessed, "--on", days_ago(12)),
        ("record", "coach-unassigned", person, "--on", days_ago(4), "--staff-id", "r.jansen",
         "--role", "regisseur"),
    ):  # fmt: skip
        result = store(*args)
        assert (result.exit_code, result.stderr) == (0, ""), result.output
    # reopened, the case takes facts again without a word
    store.ok("record", "case-reopened", person, "--on", days_ago(3))
    result = store(*assessed, "--on", days_ago(2))
    assert (result.exit_code, result.stderr) == (0, ""), result.output
    assert kinds(store, person).count("LadderAssessed") == 3


def test_a_member_of_staff_named_with_a_space_is_recorded_with_a_warning(store: Traject) -> None:
    person = store.register()
    coach = ("record", "coach-assigned", person, "--on", "2024-07-01", "--role", "coach")
    spaced = store.ok(*coach, "--staff-id", "A. Bakker")
    assert (
        "staff_id: 'a. bakker' has a space, which a user name has not: recorded as given"
        in spaced.stderr
    )
    # a correction to the user name says nothing; one to a spaced name is flagged
    fixed = store.ok("correct", person, "2", "--set", "staff_id=a.bakker", "--reason", "typo")
    assert "has a space" not in fixed.stderr
    regisseur = ("record", "coach-assigned", person, "--on", "2024-07-01", "--role", "regisseur")
    assert "has a space" not in store.ok(*regisseur, "--staff-id", "r.jansen").stderr
    corrected = store.ok("correct", person, "4", "--set", "staff_id=R. Jansen",
                         "--reason", "typo")  # fmt: skip
    assert "staff_id: 'r. jansen' has a space" in corrected.stderr


def test_a_reunification_file_grants_and_brings_only_the_members_it_applied_for(
    store: Traject,
) -> None:
    person = store.register()
    record = ("record",)
    store.ok(*record, "family-reunification-applied", person, "--on", "2024-04-01",
             "--members", "partner", "--members", "kind", "--no-late")  # fmt: skip
    refused(
        store,
        *record, "family-reunification-decided", person, "--on", "2024-06-01",
        "--outcome", "ingewilligd", "--members-granted", "3",
        stderr="FamilyReunificationDecided: --members-granted: 3 members "
        "granted, but file 1 applied for 2 (partner, kind): the IND grants at most the members "
        "applied for (correct the application when a member is missing from it)",
    )  # fmt: skip
    store.ok(*record, "family-reunification-decided", person, "--on", "2024-06-01",
             "--outcome", "ingewilligd", "--members-granted", "2")  # fmt: skip
    for kind, name in (("mvv-issued", "MvvIssued"), ("nareiziger-arrived", "NareizigerArrived")):
        refused(
            store,
            *record, kind, person, "--on", "2024-07-01", "--relation", "ouder",
            stderr=f"{name}: --relation: ouder: file 1 applied for no member of "
            "that relation (partner, kind); an mvv and an arrival are of a member applied for "
            "(correct the application when a member is missing from it)",
        )  # fmt: skip
        store.ok(*record, kind, person, "--on", "2024-07-01", "--relation", "kind")
