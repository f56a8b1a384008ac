"""`traject person register | find | show | shred`."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_helpers import Traject, days_ago

from ledger.aggregates import dutch_day


def raw_event_bytes(traject: Traject) -> bytes:
    """Everything the events table stores, as one blob (what a database dump would show)."""
    path = Path(traject.database_url.removeprefix("sqlite:///"))
    with closing(sqlite3.connect(path)) as connection:
        rows = connection.execute("SELECT state FROM stored_events").fetchall()
    return b"".join(bytes(row[0]) for row in rows)


def test_register_prints_the_new_person_id(ledger: Traject) -> None:
    result = ledger.ok(
        "person",
        "register",
        "--birth-date",
        "1990-04-02",
        "--sex",
        "f",
        "--nationality",
        "SY",
        "--bsn",
        "123456782",
        "--name",
        "Noor Vermeulen",
    )

    person_id = result.stdout.removeprefix("Registered person ").strip()
    assert len(person_id) == 36
    assert result.stderr == ""
    # registration uses the default municipality given to `traject init`
    shown = ledger.json("person", "show", person_id)
    assert shown["municipality"] == "GM0622"
    assert shown["registration"]["recorded_by"] == "r.jansen"


def test_a_registration_without_on_is_dated_today_in_dutch_time(ledger: Traject) -> None:
    """As every fact: from 00:00 Dutch time (23:00 or 22:00 UTC) it is the next day."""
    before = dutch_day(datetime.now(UTC)).isoformat()
    result = ledger.ok(
        "person", "register", "--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY"
    )
    after = dutch_day(datetime.now(UTC)).isoformat()
    person_id = result.stdout.removeprefix("Registered person ").strip()
    registered_on = ledger.json("person", "show", person_id)["registration"]["occurred_on"]
    assert registered_on in {before, after}


def test_name_and_bsn_are_stored_encrypted(ledger: Traject) -> None:
    ledger.ok(
        "person",
        "register",
        "--birth-date",
        "1990-04-02",
        "--sex",
        "f",
        "--nationality",
        "SY",
        "--bsn",
        "123456782",
        "--name",
        "Noor Vermeulen",
    )

    stored = raw_event_bytes(ledger)
    assert b"Noor Vermeulen" not in stored
    assert b"123456782" not in stored
    assert b"1990-04-02" in stored  # non-personal fields stay readable for projections


def test_find_by_bsn_gives_the_person_id(ledger: Traject) -> None:
    person = ledger.register(
        "--birth-date", "1985-11-30", "--sex", "m", "--nationality", "ER", "--bsn", "123456782"
    )

    assert ledger.ok("person", "find", "--bsn", "123456782").stdout == f"{person}\n"
    # surrounding spaces are ignored
    assert ledger.json("person", "find", "--bsn", " 123456782 ") == {"person_id": person}


def test_a_bsn_written_in_groups_is_the_same_bsn(ledger: Traject) -> None:
    # a BSN as a passport or a letter writes it, with dots or spaces between the digits
    person = ledger.register(
        "--birth-date", "1985-11-30", "--sex", "m", "--nationality", "ER", "--bsn", "1234.56.782"
    )

    assert ledger.json("person", "find", "--bsn", "123 456 782") == {"person_id": person}
    assert ledger.json("person", "show", person)["registration"]["fields"]["bsn"] == "123456782"
    # and a second registration in another grouping is the same number
    again = ledger(
        "person", "register", "--birth-date", "1985-11-30", "--sex", "m", "--nationality", "ER",
        "--bsn", "123456782",
    )  # fmt: skip
    assert again.exit_code == 1


@pytest.mark.parametrize("typed", ["123456782", "1234.56.782"])
def test_a_bsn_typed_for_a_person_says_how_to_find_the_person_without_echoing_it(
    ledger: Traject, typed: str
) -> None:
    ledger.register(
        "--birth-date", "1985-11-30", "--sex", "m", "--nationality", "ER", "--bsn", "123456782"
    )

    result = ledger("person", "show", typed)

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: no person has this id or id prefix; it is a valid BSN: `traject person find "
        "--bsn BSN` gives the id of the person registered with it\n"
    )


def test_find_of_an_unregistered_bsn_fails_without_echoing_it(ledger: Traject) -> None:
    result = ledger("person", "find", "--bsn", "111222333")

    assert result.exit_code == 1
    assert result.stderr == "Error: no person with this BSN is registered in this ledger\n"


def test_a_bsn_is_registered_once(ledger: Traject) -> None:
    ledger.register(
        "--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY", "--bsn", "123456782"
    )
    before = ledger.event_count()

    result = ledger(
        "person",
        "register",
        "--birth-date",
        "1970-01-01",
        "--sex",
        "m",
        "--nationality",
        "IQ",
        "--bsn",
        "123456782",
    )

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: --bsn: a person with this BSN is already registered (see `person find`)\n"
    )
    assert ledger.event_count() == before


def test_show_decrypts_the_registration_and_gives_the_status(ledger: Traject) -> None:
    person = ledger.register(
        "--birth-date",
        "1990-04-02",
        "--sex",
        "f",
        "--nationality",
        "SY",
        "--nationality",
        "XXA",
        "--name",
        "Noor [bold]Vermeulen",
        "--languages",
        "Arabisch",
    )

    shown = ledger.ok("person", "show", person[:8]).stdout

    assert f"Person {person}" in shown
    # user text is shown as typed, never read as markup
    assert "Noor [bold]Vermeulen" in shown
    assert "SY,XXA" in shown
    assert "case" in shown and "open" in shown
    data = ledger.json("person", "show", person)
    assert data["person_id"] == person
    assert data["registration"]["fields"]["name"] == "Noor [bold]Vermeulen"
    assert data["registration"]["fields"]["nationality"] == ["SY", "XXA"]
    assert data["registration"]["occurred_on"] == days_ago(20)
    assert data["status"]["case"] == "open"
    assert data["erased"] is False
    assert json.loads(ledger.ok("person", "show", person, "--format", "json").stdout) == data


def test_show_gives_the_latest_rung_and_what_was_corrected_by_whom_and_why(
    ledger: Traject,
) -> None:
    person = ledger.register()
    status = ledger.json("person", "show", person)["status"]
    assert (status["ladder"], status["corrections"]) == ("-", "none")
    # two assessments; the later one is corrected, the earlier one retracted
    assessed = ("record", "ladder-assessed", person, "--assessor", "r.jansen")
    ledger.ok(*assessed, "--on", days_ago(9), "--rung", "2")
    ledger.ok(*assessed, "--on", days_ago(3), "--rung", "3")
    ledger.ok("--user", "a.bakker", "correct", person, "3", "--set", "rung=4", "--reason",
              "typo: rung 4")  # fmt: skip
    ledger.ok("--user", "m.devries", "retract", person, "2", "--reason", "dubbel ingevoerd")

    status = ledger.json("person", "show", person)["status"]

    assert status["ladder"] == f"4 on {days_ago(3)} (r.jansen)"
    assert status["corrections"] == (
        f"v3 corrected; v2 retracted; latest: v5 on {days_ago(0)} by m.devries "
        "(dubbel ingevoerd); see traject timeline"
    )


def test_register_needs_a_municipality_when_the_ledger_has_no_default(traject: Traject) -> None:
    traject.init()

    result = traject(
        "person", "register", "--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY"
    )

    assert result.exit_code == 2  # a missing value, as a missing option
    assert result.stderr == (
        "Error: PersonRegistered: --municipality: required: no current municipality; "
        "pass --municipality\n"
    )
    assert traject.event_count() == 0


def test_shred_erases_the_personal_fields_but_keeps_the_history(ledger: Traject) -> None:
    person = ledger.register(
        "--birth-date",
        "1990-04-02",
        "--sex",
        "f",
        "--nationality",
        "SY",
        "--name",
        "Noor Vermeulen",
        "--bsn",
        "123456782",
    )

    # the case closed twelve years ago: the trajectory file's retention has ended
    ledger.ok("record", "case-closed", person, "--on", days_ago(365 * 12), "--reason", "moved")

    result = ledger.ok("person", "shred", person, "--approved-by", "privacy officer", "--yes")

    assert result.stdout.startswith(f"Recorded PersonalDataShredded as version 3 of {person}\n")
    assert "\nPurged: " in result.stdout
    assert result.stderr == ""
    data = ledger.json("person", "show", person)
    assert data["erased"] is True
    assert data["registration"]["fields"]["name"] is None
    assert data["registration"]["fields"]["birth_date"] == "1990-04-02"
    assert "[erased]" in ledger.ok("person", "show", person).stdout
    timeline = ledger.json("timeline", person)
    assert timeline["erased"] is True
    assert [e["kind"] for e in timeline["events"]] == [
        "PersonRegistered",
        "CaseClosed",
        "PersonalDataShredded",
    ]


def test_shred_asks_for_confirmation(ledger: Traject) -> None:
    person = ledger.register()
    before = ledger.event_count()

    result = ledger("person", "shred", person, "--approved-by", "privacy officer", input="n\n")

    assert result.exit_code == 1
    assert ledger.event_count() == before


def test_a_household_is_a_registered_referent_named_like_any_person(ledger: Traject) -> None:
    referent = ledger.register()
    before = ledger.event_count()
    unknown = "0b09775e-263b-46c5-b8bc-857e0187f13a"

    result = ledger(
        "person", "register", "--birth-date", "2012-05-01", "--sex", "m", "--nationality", "SY",
        "--household-id", unknown,
    )  # fmt: skip

    # an unknown household would open the nareis route to housing for anyone: refused
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: PersonRegistered: --household-id: no person {unknown} in this ledger: the "
        "household is its referent's person id (register the referent first)\n"
    )
    assert ledger.event_count() == before
    # the referent by a prefix of their id, as everywhere a person is named
    member = ledger.register(
        "--birth-date", "2012-05-01", "--sex", "m", "--nationality", "SY",
        "--household-id", referent[:8],
    )  # fmt: skip
    shown = ledger.json("person", "show", member)
    assert shown["registration"]["fields"]["household_id"] == referent


def test_a_birth_date_after_the_registration_names_the_registrations_date(
    ledger: Traject,
) -> None:
    # Without --on the registration is today: the message says which day that is.
    today = dutch_day(datetime.now(UTC)).isoformat()
    before = ledger.event_count()

    result = ledger("person", "register", "--birth-date", "2999-01-01", "--sex", "f",
                    "--nationality", "SY")  # fmt: skip

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: PersonRegistered: --birth-date: must not be after the registration on {today}\n"
    )
    assert ledger.event_count() == before
