"""`traject correct`, `traject retract` and `traject timeline` (table, JSON, --as-known-at)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from uuid import UUID

import pytest
from cli_helpers import Traject, days_ago

from ledger.aggregates import LEDGER_TIMEZONE


def test_a_correction_is_a_new_event_and_the_original_stays(ledger: Traject) -> None:
    person = ledger.assessed_person()

    result = ledger.ok("correct", person[:8], "2", "--set", "rung=4", "--reason", "typo")

    assert result.stdout == f"Recorded EventCorrected as version 3 of {person}\n"
    events = ledger.json("timeline", person)["events"]
    original, correction = events[1], events[2]
    assert original["status"] == "corrected"
    assert original["corrected_by"] == [3]
    assert original["recorded"]["fields"]["rung"] == 3
    assert original["effective"]["fields"]["rung"] == 4
    assert correction["kind"] == "EventCorrected"
    assert correction["recorded"]["fields"]["target_version"] == 2
    assert correction["recorded"]["fields"]["changes"] == {"rung": 4}
    assert correction["recorded"]["fields"]["reason"] == "typo"


def test_a_correction_may_move_the_date_and_fix_a_list_field(ledger: Traject) -> None:
    person = ledger.assessed_person()

    ledger.ok(
        "correct", person, "2", "--set", "occurred-on=" + days_ago(6), "--reason", "wrong day"
    )
    ledger.ok(
        "correct",
        person,
        "1",
        "--set",
        "nationality=SY",
        "--set",
        "nationality=IQ",
        "--reason",
        "two nationalities",
    )

    events = ledger.json("timeline", person)["events"]
    assert events[1]["effective"]["occurred_on"] == days_ago(6)
    assert events[0]["effective"]["fields"]["nationality"] == ["SY", "IQ"]
    # one value for a list field is a list of one
    ledger.ok("correct", person, "1", "--set", "nationality=ER", "--reason", "one after all")
    assert ledger.json("timeline", person)["events"][0]["effective"]["fields"]["nationality"] == [
        "ER"
    ]


def test_a_retracted_event_stays_in_the_timeline_marked_as_retracted(ledger: Traject) -> None:
    person = ledger.assessed_person()

    result = ledger.ok("retract", person, "2", "--reason", "recorded on the wrong person")

    assert result.stdout == f"Recorded EventRetracted as version 3 of {person}\n"
    events = ledger.json("timeline", person)["events"]
    assert events[1]["status"] == "retracted"
    assert events[1]["retracted_by"] == 3
    assert events[1]["effective"] is None
    assert events[1]["recorded"]["fields"]["rung"] == 3
    # a retracted event cannot be retracted again
    again = ledger("retract", person, "2", "--reason", "twice")
    assert again.exit_code == 1
    assert again.stderr == (
        "Error: EventRetracted: VERSION (target_version): version 2 was already retracted (by v3)\n"
    )


def test_the_timeline_table_shows_what_happened_to_each_event(ledger: Traject) -> None:
    person = ledger.assessed_person()
    ledger.ok("correct", person, "2", "--set", "rung=4", "--reason", "typo")
    ledger.ok(
        "record",
        "help-request-recorded",
        person,
        "--on",
        days_ago(1),
        "--category",
        "wonen",
        "--note",
        "vraagt naar [urgentie]",
    )
    ledger.ok("retract", person, "4", "--reason", "dubbel")

    table = ledger.ok("timeline", person).stdout

    assert table.startswith(f"Timeline of {person}")
    for text in (
        "PersonRegistered",
        "LadderAssessed",
        "corrected by v3",
        "rung=4 (was 3)",
        "EventCorrected",
        "corrects v2",
        "reason=typo",
        "retracted by v5",
        "retracts v4",
        "note=vraagt naar [urgentie]",  # personal, decrypted: the user asked for this person
        "r.jansen (cli)",
        days_ago(5),
    ):
        assert text in table, text


def test_the_timeline_json_is_stable(ledger: Traject) -> None:
    person = ledger.assessed_person()

    data = ledger.json("timeline", person)

    assert set(data) == {"stream_id", "as_known_at", "erased", "special_category", "events"}
    assert data["special_category"] == {"fields": [], "shown": False}
    assert data["stream_id"] == person
    assert data["as_known_at"] is None
    event = data["events"][1]
    assert set(event) == {
        "version",
        "kind",
        "recorded_at",
        "recorded_by",
        "imported_by",
        "source",
        "idempotency_key",
        "status",
        "corrected_by",
        "retracted_by",
        "withheld",
        "recorded",
        "effective",
    }
    assert event["recorded"] == {
        "occurred_on": days_ago(5),
        "municipality": "GM0622",
        "evidence": [],
        "fields": {"rung": 3, "assessor": "r.jansen"},
    }
    assert datetime.fromisoformat(event["recorded_at"]).tzinfo is not None
    assert event["imported_by"] is None  # recorded here, not moved from another ledger
    # --format json gives the same as the global --json
    assert ledger.ok("timeline", person, "--format", "json").stdout == (
        ledger.ok("--json", "timeline", person).stdout
    )


def test_as_known_at_leaves_out_what_was_recorded_later(ledger: Traject) -> None:
    person = ledger.assessed_person()
    time.sleep(0.01)
    cut = datetime.now(UTC)
    time.sleep(0.01)
    ledger.ok("correct", person, "2", "--set", "rung=4", "--reason", "typo")

    # a moment without an offset is Dutch time
    moment = cut.astimezone(LEDGER_TIMEZONE).replace(tzinfo=None).isoformat()
    then = ledger.json("timeline", person, "--as-known-at", moment)
    now = ledger.json("timeline", person)

    assert [e["kind"] for e in then["events"]] == ["PersonRegistered", "LadderAssessed"]
    assert then["events"][1]["status"] == "current"
    assert then["events"][1]["effective"]["fields"]["rung"] == 3
    assert then["as_known_at"] == cut.isoformat()
    assert now["events"][1]["effective"]["fields"]["rung"] == 4
    # the same moment with an explicit offset
    for written in (cut.astimezone(LEDGER_TIMEZONE).isoformat(), cut.isoformat()):
        assert ledger.json("timeline", person, "--as-known-at", written) == then
    table = ledger.ok("timeline", person, "--as-known-at", moment).stdout
    assert "as known at" in table and "corrected by" not in table


def test_as_known_at_a_date_means_the_start_of_that_day(ledger: Traject) -> None:
    person = ledger.assessed_person()

    data = ledger.json("timeline", person, "--as-known-at", days_ago(1))

    start = datetime.fromisoformat(days_ago(1)).replace(tzinfo=LEDGER_TIMEZONE)  # 00:00 Dutch time
    assert data["as_known_at"] == start.astimezone(UTC).isoformat()
    assert data["events"] == []
    assert "no events were known at that moment" in (
        ledger.ok("timeline", person, "--as-known-at", days_ago(1)).stdout
    )


def test_a_retraction_that_would_break_a_later_fact_is_refused_naming_it(ledger: Traject) -> None:
    person = ledger.linked_person()  # v3: the koppeling
    housed_on = days_ago(10)
    ledger.ok(
        "record",
        "housed",
        person,
        "--on",
        housed_on,
        "--housing-kind",
        "regulier",
        "--route",
        "koppeling",
    )

    result = ledger("retract", person, "3", "--reason", "linked by mistake")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: EventRetracted: VERSION (target_version): later facts would break the rules: "
        f"v4 Housed of {housed_on}: route: koppeling needs an active koppeling "
        "(record coa-linked first) — correct or retract v4 first, "
        "or make the corrections in the other order\n"
    )
    assert ledger.event_count() == 4
    # the housing put right first, the same retraction goes ahead
    ledger.ok("correct", person, "4", "--set", "route=eigen", "--reason", "found it herself")
    ledger.ok("retract", person, "3", "--reason", "linked by mistake")


def test_a_birth_date_corrected_after_a_later_fact_is_refused_naming_it(ledger: Traject) -> None:
    person = ledger.register()  # registered 20 days ago
    # an assessment made before the registration, recorded after it
    ledger.ok(
        "record",
        "ladder-assessed",
        person,
        "--on",
        days_ago(25),
        "--rung",
        "2",
        "--assessor",
        "r.jansen",
    )

    result = ledger("correct", person, "1", "--set", f"birth-date={days_ago(22)}", "--reason", "x")

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr == (
        "Error: EventCorrected: --set (changes): later facts would break the rules: "
        f"v2 LadderAssessed of {days_ago(25)}: occurred_on: must not be before birth "
        f"({days_ago(22)}) — correct or retract v2 first, or make the corrections in the other "
        "order\n"
    )
    assert ledger.event_count() == 2


def test_a_municipality_s_facts_are_shown_corrected_and_retracted_by_its_code(
    ledger: Traject,
) -> None:
    """A taakstelling recorded wrongly is corrected from the command line, like a person's
    facts; the correction belongs to that municipality, not the ledger's default."""
    for code, target in (("GM0622", "40"), ("GM0599", "20")):
        ledger.ok(
            "record", "taakstelling-set", code, "--on", days_ago(9), "--period", "2025H1",
            "--target", target, "--source-ref", "circulaire 2025-I",
        )  # fmt: skip
    ledger.ok(
        "record", "housing-realisation-confirmed", "GM0599", "--on", days_ago(8),
        "--period", "2025H1", "--official-realised", "3", "--confirmed-by", "COA",
    )  # fmt: skip

    corrected = ledger.ok("correct", "gm0599", "1", "--set", "target=25", "--reason", "revised")
    retracted = ledger.ok("retract", "GM0599", "2", "--reason", "entered on the wrong day")

    assert corrected.stdout == "Recorded EventCorrected as version 3 of municipality GM0599\n"
    assert "as version 4 of municipality GM0599" in retracted.stdout
    timeline = ledger.json("timeline", "GM0599")
    assert [e["kind"] for e in timeline["events"]] == [
        "TaakstellingSet", "HousingRealisationConfirmed", "EventCorrected", "EventRetracted",
    ]  # fmt: skip
    assert {e["recorded"]["municipality"] for e in timeline["events"]} == {"GM0599"}
    assert timeline["events"][0]["effective"]["fields"]["target"] == 25
    assert timeline["events"][1]["status"] == "retracted"
    assert "Timeline of municipality GM0599" in ledger.ok("timeline", "GM0599").stdout
    housing = ledger.json("report", "housing", "--period", "2025H1")
    targets = {row["municipality"]: row["target"] for row in housing["rows"]}
    assert targets == {"GM0622": 40, "GM0599": 25}


def test_a_subject_that_names_nothing_is_refused_by_what_it_looks_like(ledger: Traject) -> None:
    for subject, message in (
        ("GM0344", "no fact of municipality GM0344 in this ledger"),
        ("project:MWP", "no project MWP in this ledger"),
        ("MWP", "no person, municipality or AMIF project MWP in this ledger"),
    ):
        result = ledger("timeline", subject)
        assert result.exit_code == 1, result.output
        assert message in result.stderr


@pytest.mark.parametrize("command", ["correct", "retract"])
def test_a_change_to_a_subject_that_names_nothing_names_its_kind(
    ledger: Traject, command: str
) -> None:
    args = ("--set", "target=3") if command == "correct" else ()
    for subject, message in (
        ("gm0344", "no fact of municipality GM0344 in this ledger"),
        ("project:MWP", "no project MWP in this ledger"),
        (str(UUID(int=7)), f"no person {UUID(int=7)} in this ledger"),
    ):
        result = ledger(command, subject, "2", *args, "--reason", "typo")
        assert result.exit_code == 1, result.output
        assert result.stderr == f"Error: {message}\n"
    assert ledger.event_count() == 0


def test_a_correction_reads_each_value_as_record_reads_its_option(ledger: Traject) -> None:
    person = ledger.register()
    ledger.ok("record", "benefit-granted", person, "--on", days_ago(4),
              "--benefit-kind", "algemene_bijstand", "--amount", "10")  # fmt: skip
    texts = {"amount": "1e3", "benefit-kind": "Bijzondere", "municipality": "schiedam"}
    options = [part for name, text in texts.items() for part in (f"--{name}", text)]
    ledger.ok("record", "benefit-granted", person, "--on", days_ago(4), *options)

    changes = [part for name, text in texts.items() for part in ("--set", f"{name}={text}")]
    ledger.ok("correct", person, "2", *changes, "--reason", "typo")

    events = ledger.json("timeline", person)["events"]
    corrected, recorded = events[1]["effective"], events[2]["effective"]
    assert corrected == recorded
    assert corrected["fields"]["amount"] == "1000"  # not 1E+3
    assert corrected["fields"]["benefit_kind"] == "bijzondere"
    assert corrected["municipality"] == "GM0606"
    assert events[3]["recorded"]["fields"]["changes"]["amount"] == "1000"
    ledger.ok("correct", person, "2", "--set", "amount=1234,56", "--reason", "decimal comma")
    assert ledger.json("timeline", person)["events"][1]["effective"]["fields"]["amount"] == (
        "1234.56"
    )
    # an amount as a Dutch caseworker writes it: a euro sign, thousands dots, a decimal comma
    ledger.ok("correct", person, "2", "--set", "amount=€ 1.234,50", "--reason", "Dutch")
    assert ledger.json("timeline", person)["events"][1]["effective"]["fields"]["amount"] == (
        "1234.50"
    )


def test_a_correction_names_a_field_as_its_record_option_does(ledger: Traject) -> None:
    # the date as --on, a field as its option with or without the dashes
    person = ledger.register()
    ledger.ok("record", "benefit-granted", person, "--on", days_ago(4),
              "--benefit-kind", "algemene_bijstand")  # fmt: skip

    ledger.ok("correct", person, "2", "--set", f"on={days_ago(5)}", "--set",
              "--benefit-kind=bijzondere", "--reason", "datum en soort")  # fmt: skip

    corrected = ledger.json("timeline", person)["events"][1]["effective"]
    assert corrected["occurred_on"] == days_ago(5)
    assert corrected["fields"]["benefit_kind"] == "bijzondere"


@pytest.mark.parametrize(
    ("option", "text"),
    [
        ("amount", "1e40"),
        ("amount", "-5"),
        ("amount", "1,250"),  # 1250 or 1.25: never guessed
        ("benefit-kind", "wajong"),
        ("on", "4-3-2024"),
    ],
)
def test_a_correction_refuses_a_value_with_the_message_of_its_record_option(
    ledger: Traject, option: str, text: str
) -> None:
    person = ledger.register()
    ledger.ok("record", "benefit-granted", person, "--on", days_ago(4),
              "--benefit-kind", "bijzondere", "--amount", "10")  # fmt: skip
    before = ledger.event_count()
    options = {"--on": days_ago(4), "--benefit-kind": "bijzondere", f"--{option}": text}
    recorded = ledger("record", "benefit-granted", person, *sum(options.items(), ()))
    name = "occurred_on" if option == "on" else option.replace("-", "_")

    corrected = ledger("correct", person, "2", "--set", f"{name}={text}", "--reason", "typo")

    assert recorded.exit_code == corrected.exit_code == 2
    rule = recorded.stderr.strip().splitlines()[-1].split(f"'--{option}': ", 1)[1]
    # named as --set takes it: the date as on, its stored name after it
    shown = "on (occurred_on)" if option == "on" else name
    assert corrected.stderr == f"Error: EventCorrected of BenefitGranted: {shown}: {rule}\n"
    assert ledger.event_count() == before


def test_an_empty_value_clears_a_list_field_to_no_items(ledger: Traject) -> None:
    person = ledger.register("--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY",
                             "--languages", "ar")  # fmt: skip

    ledger.ok("correct", person, "1", "--set", "languages=", "--reason", "none known")
    refused = ledger("correct", person, "1", "--set", "nationality=", "--reason", "typo")

    assert ledger.json("timeline", person)["events"][0]["effective"]["fields"]["languages"] == []
    assert refused.exit_code == 2
    assert (
        refused.stderr
        == "Error: EventCorrected of PersonRegistered: nationality: at least 1 item\n"
    )
