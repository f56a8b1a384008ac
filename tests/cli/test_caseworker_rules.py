"""Facts a caseworker may get wrong that the person's own stream shows to be impossible:
`traject record` and `traject correct` refuse them with exit 1, naming the field and the rule,
and write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import Traject, days_ago, initialised_ledger, project_registration


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Traject:
    return initialised_ledger(request, tmp_path, "traject_caseworker")


def kinds(traject: Traject, person: str) -> list[str]:
    return [e["kind"] for e in traject.json("timeline", person)["events"]]


def refused(traject: Traject, *args: str, stderr: str) -> None:
    """Run a command the ledger must refuse: exit 1, the message, nothing written."""
    before = traject.event_count()
    result = traject(*args)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: {stderr}\n"
    assert traject.event_count() == before


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
        stderr="ParticipantEnrolled: tcn: naturalised on 2024-05-01, so not a third-country "
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
        stderr="ResidencePermitRecorded: notified_on: must not be in the future",
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
        stderr="ExamResultRecorded: result_date: must not be in the future",
    )
    refused(
        store,
        "record", "pvt-completed", person, "--on", days_ago(10), "--provider", "VWN",
        "--hours", "12", "--reported-to-duo-on", tomorrow,
        stderr="PvtCompleted: reported_to_duo_on: must not be in the future",
    )  # fmt: skip
    enrol = list(enrolment(person, days_ago(10)))
    enrol[enrol.index("--checked-on") + 1] = tomorrow
    refused(store, *enrol, stderr="ParticipantEnrolled: checked_on: must not be in the future")
    # today is not the future, and a correction is judged alike
    store.ok(*exam, "--result-date", days_ago(0))
    refused(
        store,
        "correct", person, "2", "--set", f"result_date={tomorrow}", "--reason", "typo",
        stderr="ExamResultRecorded: result_date: must not be in the future",
    )  # fmt: skip
    assert kinds(store, person) == ["PersonRegistered", "ExamResultRecorded"]
