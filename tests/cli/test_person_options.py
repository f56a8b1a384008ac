"""A person named by an option of a fact, as a caseworker types it: a prefix, or a mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import Traject, days_ago, initialised_ledger, project_registration, refused


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Traject:
    """An initialised ledger on a SQLite file or in a PostgreSQL schema of its own."""
    return initialised_ledger(request, tmp_path, "traject_person_options")


def referent_with_a_file(ledger: Traject) -> str:
    """A referent who applied for family reunification (file 1) with a partner."""
    referent = ledger.register()
    ledger.ok("record", "family-reunification-applied", referent, "--on", days_ago(15),
              "--members", "partner")  # fmt: skip
    return referent


def test_a_nareiziger_is_named_by_a_prefix_of_her_id_as_every_person(ledger: Traject) -> None:
    referent = referent_with_a_file(ledger)
    member = ledger.register("--birth-date", "1992-01-01", "--sex", "f", "--nationality", "SY",
                             "--household-id", referent)  # fmt: skip

    # The caseworker types the first 8 characters of the nareiziger's id, as for PERSON.
    ledger.ok("record", "nareiziger-arrived", referent, "--on", days_ago(10),
              "--relation", "partner", "--member-person-id", member[:8])  # fmt: skip

    timeline = ledger.json("timeline", referent)
    arrived = [e for e in timeline["events"] if e["kind"] == "NareizigerArrived"]
    assert [e["recorded"]["fields"]["member_person_id"] for e in arrived] == [member]


def test_a_nareiziger_who_is_not_in_the_ledger_is_refused_by_her_option(
    ledger: Traject,
) -> None:
    referent = referent_with_a_file(ledger)
    nobody = "00000000-0000-4000-8000-000000000001"

    refused(ledger, "record", "nareiziger-arrived", referent, "--on", days_ago(10),
            "--relation", "partner", "--member-person-id", nobody,
            stderr=f"NareizigerArrived: --member-person-id: no person {nobody} in this "
            "ledger")  # fmt: skip


def test_a_short_nareiziger_reference_is_bad_input_naming_the_option(ledger: Traject) -> None:
    referent = referent_with_a_file(ledger)
    before = ledger.event_count()

    result = ledger("record", "nareiziger-arrived", referent, "--on", days_ago(10),
                    "--relation", "partner", "--member-person-id", "abc")  # fmt: skip

    assert result.exit_code == 2
    assert result.stderr == (
        "Error: NareizigerArrived: --member-person-id: 'abc' is too short for a person "
        "reference: give a person id, or a unique prefix of it of at least 6 characters "
        "(0-9, a-f)\n"
    )
    assert ledger.event_count() == before


def test_a_correction_names_a_person_by_a_prefix_as_recording_does(ledger: Traject) -> None:
    referent = referent_with_a_file(ledger)
    member = ledger.register("--birth-date", "1992-01-01", "--sex", "f", "--nationality", "SY",
                             "--household-id", referent)  # fmt: skip
    ledger.ok("record", "nareiziger-arrived", referent, "--on", days_ago(10),
              "--relation", "partner")  # fmt: skip
    arrived = ledger.json("timeline", referent)["events"][-1]["version"]

    # The nareiziger is registered later: her id is added by a correction, typed as PERSON.
    ledger.ok("correct", referent, str(arrived), "--set", f"member_person_id={member[:8]}",
              "--reason", "registered")  # fmt: skip
    refused(ledger, "correct", referent, str(arrived), "--set", "member_person_id=0000000",
            "--reason", "typo",
            stderr="EventCorrected of NareizigerArrived: member_person_id: no person 0000000 "
            "in this ledger")  # fmt: skip

    event = ledger.json("timeline", referent)["events"][arrived - 1]
    assert event["effective"]["fields"]["member_person_id"] == member


def test_a_participant_served_is_named_by_a_prefix_and_must_be_in_the_ledger(
    ledger: Traject,
) -> None:
    person = ledger.register()
    ledger.ok(*project_registration(days_ago(30)))
    hours = ("record", "staff-time-recorded", "MWP", "--on", days_ago(5), "--staff-id",
             "r.jansen", "--hours", "2", "--activity", "intake")  # fmt: skip

    ledger.ok(*hours, "--person-id", person[:8])
    refused(
        ledger,
        *hours,
        "--person-id",
        "0000000",
        stderr="StaffTimeRecorded: --person-id: no person 0000000 in this ledger",
    )

    (served,) = [e for e in ledger.json("timeline", "MWP")["events"]
                 if e["kind"] == "StaffTimeRecorded"]  # fmt: skip
    assert served["recorded"]["fields"]["person_id"] == person
