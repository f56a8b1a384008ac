"""What the command line accepts as input, the same everywhere: a knowledge cut-off that is not in
the future, a municipality from the CBS list, values named with their field and rule, and the
exit status of bad input (2) beside that of a refusal (1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import click
import pytest
from cli_helpers import Traject, days_ago, now, project_registration

from cli import cli
from ledger.values import NUL_RULE

FUTURE = "2100-01-01"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def commands_with(option: str) -> list[tuple[str, ...]]:
    """The command paths under `traject` that take ``option``."""
    found: list[tuple[str, ...]] = []

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None:
                    walk(sub, (*path, name))
        elif any(option in getattr(param, "opts", ()) for param in command.params):
            found.append(path)

    walk(cli, ())
    return found


KNOWN_AT_COMMANDS = commands_with("--as-known-at")


# --- --as-known-at ------------------------------------------------------------------------------


def test_every_read_with_a_cut_off_is_found() -> None:
    # the reports, the caseload, the timeline, the replay and the AMIF evidence pack
    assert {("timeline",), ("caseload",), ("audit", "replay"), ("audit", "evidence")} <= set(
        KNOWN_AT_COMMANDS
    )
    assert ("report", "ladder") in KNOWN_AT_COMMANDS


@pytest.mark.parametrize("path", KNOWN_AT_COMMANDS, ids=" ".join)
def test_a_cut_off_in_the_future_is_refused_by_every_command(
    ledger: Traject, path: tuple[str, ...]
) -> None:
    result = ledger(*path, "--as-known-at", FUTURE)

    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1] == (
        "Error: Invalid value for '--as-known-at': 2100-01-01T00:00:00+01:00 is in the future; "
        "the ledger can only say what it knew up to now"
    )
    assert result.stdout == ""


def test_a_future_moment_keeps_its_offset_in_the_message(ledger: Traject) -> None:
    # a minute from now, written in Dutch time
    soon = (datetime.now(UTC) + timedelta(minutes=1)).astimezone(AMSTERDAM).replace(microsecond=0)

    result = ledger("caseload", "--as-known-at", soon.isoformat())

    assert result.exit_code == 2
    assert f"{soon.isoformat()} is in the future" in result.stderr


def test_a_replay_as_known_now_is_reproducible(ledger: Traject) -> None:
    person = ledger.assessed_person(rung="2")
    # this very moment, given exactly, is not in the future
    moment = now()
    replay = ("audit", "replay", "--as-known-at", moment, "report", "ladder", "--on", days_ago(1))
    before = ledger.json(*replay)["replay"]["digest"]

    # a fact recorded afterwards does not change what the ledger knew at that moment
    ledger.ok(
        "record",
        "ladder-assessed",
        person,
        "--on",
        days_ago(2),
        "--rung",
        "4",
        "--assessor",
        "r.jansen",
    )

    assert ledger.json(*replay)["replay"]["digest"] == before


def test_a_date_is_the_start_of_that_dutch_day_so_today_is_accepted(ledger: Traject) -> None:
    today = days_ago(0)  # the Dutch date
    start = datetime.fromisoformat(today).replace(tzinfo=AMSTERDAM).astimezone(UTC)

    result = ledger("--json", "timeline", ledger.register(), "--as-known-at", today)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["as_known_at"] == start.isoformat()


def test_a_date_written_year_first_without_leading_zeros_is_that_date(ledger: Traject) -> None:
    # 2025-3-7 cannot be read any other way than 7 March 2025: stored as 2025-03-07
    person = ledger.register()
    ledger.ok("record", "ladder-assessed", person, "--on", "2025-3-7", "--rung", "3",
              "--assessor", "r.jansen")  # fmt: skip

    assessed = ledger.json("timeline", person)["events"][1]
    assert assessed["effective"]["occurred_on"] == "2025-03-07"


def test_a_code_in_capitals_may_be_typed_in_small_letters(ledger: Traject) -> None:
    # a country code and a half-year have one reading in small letters: stored in capitals
    person = ledger.register("--birth-date", "1990-04-02", "--sex", "f", "--nationality", "sy",
                             "--nationality", "xxa")  # fmt: skip
    ledger.ok("record", "coa-linked", person, "--on", days_ago(1), "--taakstelling-period",
              "2024h1")  # fmt: skip

    registered, linked = ledger.json("timeline", person)["events"]
    assert registered["effective"]["fields"]["nationality"] == ["SY", "XXA"]
    assert linked["effective"]["fields"]["taakstelling_period"] == "2024H1"


@pytest.mark.parametrize("given", ["v", "V", "vrouw", "f"])
def test_sex_is_taken_as_the_brp_writes_it(ledger: Traject, given: str) -> None:
    # the BRP writes V (vrouw) where traject stores f
    person = ledger.register("--birth-date", "1990-04-02", "--sex", given, "--nationality", "SY")

    assert ledger.json("person", "show", person)["registration"]["fields"]["sex"] == "f"


@pytest.mark.parametrize("given", ["o", "O", "onbekend", "x", "X"])
def test_the_brps_unknown_sex_is_stored_as_x_and_counted_in_the_cohort(
    ledger: Traject, given: str
) -> None:
    # the BRP writes O (onbekend) where a Dutch passport shows X: traject stores both as x
    person = ledger.register("--birth-date", "1990-04-02", "--sex", given, "--nationality", "SY")
    assert ledger.json("person", "show", person)["registration"]["fields"]["sex"] == "x"
    ledger.ok("record", "housed", person, "--on", days_ago(5), "--housing-kind", "regulier",
              "--route", "eigen")  # fmt: skip

    # the housed cohort has its row, beside f and m
    cohort = ledger.json("report", "cohort", "--year", days_ago(5)[:4])
    assert cohort["sex"] == {"f": 0, "m": 0, "x": 1}


def test_a_sex_code_the_brp_does_not_use_is_refused(ledger: Traject) -> None:
    result = ledger("person", "register", "--on", days_ago(20), "--birth-date", "1990-04-02",
                    "--sex", "q", "--nationality", "SY")  # fmt: skip

    assert result.exit_code == 2
    assert "Invalid value for '--sex': 'q' is not one of 'f', 'm', 'x'." in result.stderr
    assert ledger.event_count() == 0


DUTCH_MOMENTS = [
    # given -> the UTC moment used: without an offset a moment is Dutch time
    ("2024-06-30T23:30", "2024-06-30T21:30:00+00:00"),  # summer time, +02:00
    ("2024-01-15T09:00", "2024-01-15T08:00:00+00:00"),  # winter time, +01:00
    ("2024-07-15", "2024-07-14T22:00:00+00:00"),  # a date: 00:00 Dutch time that day
    ("2024-01-15", "2024-01-14T23:00:00+00:00"),
    # the clocks go back at 03:00: 02:30 occurs twice, the first (summer time) is taken
    ("2024-10-27T02:30", "2024-10-27T00:30:00+00:00"),
    # the clocks skip 02:00-03:00: 02:30 is read in winter time, as 03:30 summer time
    ("2024-03-31T02:30", "2024-03-31T01:30:00+00:00"),
    # an offset or Z is kept as given
    ("2024-06-30T23:30Z", "2024-06-30T23:30:00+00:00"),
    ("2024-06-30T23:30+00:00", "2024-06-30T23:30:00+00:00"),
    ("2024-06-30T23:30+05:00", "2024-06-30T18:30:00+00:00"),
]


@pytest.mark.parametrize(("given", "used"), DUTCH_MOMENTS, ids=[g for g, _ in DUTCH_MOMENTS])
def test_a_moment_without_an_offset_is_dutch_time(ledger: Traject, given: str, used: str) -> None:
    result = ledger("--json", "timeline", ledger.register(), "--as-known-at", given)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["as_known_at"] == used


def test_a_report_as_known_late_on_a_dutch_evening_is_true_on_that_dutch_day(
    ledger: Traject,
) -> None:
    """23:30 on 30 June in the Netherlands is 21:30 UTC: the report counts 30 June, the day
    an analyst printing it then would have had (not 1 July, as when it was read as UTC)."""
    dutch = ledger.json("caseload", "--as-known-at", "2024-06-30T23:30")
    utc = ledger.json("caseload", "--as-known-at", "2024-06-30T23:30Z")

    assert (dutch["on"], dutch["as_known_at"]) == ("2024-06-30", "2024-06-30T21:30:00.000000Z")
    assert (utc["on"], utc["as_known_at"]) == ("2024-07-01", "2024-06-30T23:30:00.000000Z")


def test_the_first_dutch_day_of_the_reported_years_is_accepted(ledger: Traject) -> None:
    # 00:00 Dutch time on 1 January 1990 is 23:00 UTC on 31 December 1989
    report = ledger.json("caseload", "--as-known-at", "1990-01-01")

    assert (report["on"], report["as_known_at"]) == ("1990-01-01", "1989-12-31T23:00:00.000000Z")


def test_a_moment_beyond_the_calendar_is_a_usage_error(ledger: Traject) -> None:
    # 0001-01-01 in Dutch (local mean) time is before the first moment a UTC time can hold
    result = ledger("timeline", ledger.register(), "--as-known-at", "0001-01-01")

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.splitlines()[-1] == (
        "Error: Invalid value for '--as-known-at': '0001-01-01' is outside the calendar a moment "
        "can hold"
    )


# --- municipalities -----------------------------------------------------------------------------

UNKNOWN_GM9999 = (
    "'GM9999' is not a municipality in the CBS list of 2025: give a CBS code such as GM0363 or "
    "a name such as Amsterdam"
)


def test_init_refuses_an_unknown_municipality_and_creates_nothing(traject: Traject) -> None:
    result = traject("init", "--municipality", "GM9999")

    assert result.exit_code == 2
    assert last_error(result.stderr) == f"Invalid value for '--municipality': {UNKNOWN_GM9999}"
    assert not traject.key_file.exists()


def test_init_takes_a_municipality_by_name(traject: Traject) -> None:
    result = traject.init("--municipality", "Vlaardingen")

    assert "Default municipality: GM0622" in result.stdout


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (
            (
                "person",
                "register",
                "--birth-date",
                "1990-04-02",
                "--sex",
                "f",
                "--nationality",
                "SY",
                "--municipality",
                "GM9999",
            ),
            "'--municipality'",
        ),
        (
            (
                "record",
                "ladder-assessed",
                "{person}",
                "--on",
                days_ago(1),
                "--rung",
                "3",
                "--assessor",
                "r.jansen",
                "--municipality",
                "GM9999",
            ),
            "'--municipality'",
        ),
        (
            (
                "record",
                "taakstelling-set",
                "GM9999",
                "--on",
                days_ago(1),
                "--period",
                "2024H1",
                "--target",
                "40",
                "--source-ref",
                "circulaire",
            ),
            "'MUNICIPALITY'",
        ),
        (
            project_registration(days_ago(1), "--targets-by-municipality", "GM9999=4"),
            "'--targets-by-municipality'",
        ),
        (
            (
                "report",
                "seal",
                "--label",
                "x",
                "--municipality",
                "GM9999",
                "report",
                "outflow",
                "--period",
                "2024H1",
            ),
            "'--municipality'",
        ),
        (("caseload", "--municipality", "GM9999"), "'--municipality'"),
    ],
    ids=["register", "envelope", "stream", "payload-key", "seal", "report"],
)
def test_an_unknown_municipality_is_refused_before_anything_is_recorded(
    ledger: Traject, args: tuple[str, ...], where: str
) -> None:
    person = ledger.register()
    before = ledger.event_count()

    result = ledger(*(a.format(person=person) for a in args))

    assert result.exit_code == 2, result.output
    assert last_error(result.stderr) == f"Invalid value for {where}: {UNKNOWN_GM9999}"
    assert ledger.event_count() == before


def test_a_municipality_is_recorded_by_name_as_its_code(ledger: Traject) -> None:
    result = ledger.ok(
        "record",
        "taakstelling-set",
        "Vlaardingen",
        "--on",
        days_ago(1),
        "--period",
        "2024H1",
        "--target",
        "40",
        "--source-ref",
        "circulaire",
    )
    person = ledger.register(
        "--birth-date",
        "1990-04-02",
        "--sex",
        "f",
        "--nationality",
        "SY",
        "--municipality",
        "Den Haag",
    )

    assert result.stdout == "Recorded TaakstellingSet as version 1 of municipality GM0622\n"
    registered = ledger.json("timeline", person)["events"][0]
    assert registered["effective"]["municipality"] == "GM0518"


def test_a_dissolved_municipality_is_accepted_for_a_back_dated_fact(ledger: Traject) -> None:
    # Weesp (GM0457) merged into Amsterdam on 24 March 2022: its old facts keep its code
    result = ledger(
        "record",
        "taakstelling-set",
        "GM0457",
        "--on",
        "2021-01-05",
        "--period",
        "2021H1",
        "--target",
        "4",
        "--source-ref",
        "circulaire",
    )

    assert result.exit_code == 0, result.output
    assert result.stdout == "Recorded TaakstellingSet as version 1 of municipality GM0457\n"


# --- values the event refuses: bad input, named with the field and the rule ---------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            (
                "record",
                "ladder-assessed",
                "{person}",
                "--on",
                days_ago(1),
                "--rung",
                "3",
                "--assessor",
                "",
            ),
            "LadderAssessed: --assessor: must not be empty",
        ),
        (
            (
                "record",
                "ladder-assessed",
                "{person}",
                "--on",
                days_ago(1),
                "--rung",
                "3",
                "--assessor",
                "x" * 201,
            ),
            "LadderAssessed: --assessor: at most 200 characters",
        ),
        (
            ("correct", "{person}", "1", "--set", "bsn=123456789", "--reason", "typo"),
            "EventCorrected of PersonRegistered: bsn: not a valid BSN: it must be 9 digits "
            "(spaces or dots between them are fine) and pass the 11-proef, e.g. 123456782 or "
            "1234.56.782",
        ),
        (
            ("correct", "{person}", "2", "--set", "assessor=", "--reason", "typo"),
            "EventCorrected of LadderAssessed: assessor: required: it cannot be empty",
        ),
        (
            ("correct", "{person}", "2", "--set", "rung=5", "--set", "rung=6", "--reason", "typo"),
            "EventCorrected of LadderAssessed: rung: given more than once; it takes one value",
        ),
        (
            ("correct", "{person}", "2", "--set", "rung=five", "--reason", "typo"),
            "EventCorrected of LadderAssessed: rung: 'five' is not a whole number, e.g. 4",
        ),
        (
            ("correct", "{person}", "2", "--set", "rung=9", "--reason", "typo"),
            "EventCorrected of LadderAssessed: rung: 9 is not in the range 1<=x<=6.",
        ),
        (
            ("correct", "{person}", "2", "--set", "occurred_on=yesterday", "--reason", "typo"),
            "EventCorrected of LadderAssessed: on (occurred_on): 'yesterday' is not a date: use "
            "YYYY-MM-DD, e.g. 2024-03-04",
        ),
        # a NUL character, which no text may hold (PostgreSQL's cannot): in-process, as a
        # program calling traject could pass one (a shell's arguments cannot hold one)
        (
            (
                "record",
                "ladder-assessed",
                "{person}",
                "--on",
                days_ago(1),
                "--rung",
                "3",
                "--assessor",
                "r.\x00jansen",
            ),
            f"LadderAssessed: --assessor: {NUL_RULE}",
        ),
        (
            ("correct", "{person}", "2", "--set", "assessor=r.\x00jansen", "--reason", "typo"),
            f"EventCorrected of LadderAssessed: assessor: {NUL_RULE}",
        ),
        (
            ("correct", "{person}", "2", "--set", "rung=4", "--reason", "ty\x00po"),
            f"EventCorrected: --reason: {NUL_RULE}",
        ),
    ],
    ids=[
        "empty",
        "too-long",
        "bsn",
        "cleared",
        "twice",
        "not-a-number",
        "too-high",
        "not-a-date",
        "nul",
        "nul-set",
        "nul-reason",
    ],
)
def test_a_value_the_event_refuses_is_bad_input(
    ledger: Traject, args: tuple[str, ...], message: str
) -> None:
    person = ledger.assessed_person(rung="2")
    before = ledger.event_count()

    result = ledger(*(a.format(person=person) for a in args))

    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: {message}\n"
    assert ledger.event_count() == before


def test_a_whole_number_option_says_what_it_needs(ledger: Traject) -> None:
    person = ledger.register()

    result = ledger(
        "record",
        "ladder-assessed",
        person,
        "--on",
        days_ago(1),
        "--rung",
        "true",
        "--assessor",
        "r.jansen",
    )

    assert result.exit_code == 2
    assert (
        last_error(result.stderr)
        == "Invalid value for '--rung': 'true' is not a whole number, e.g. 4"
    )


def test_a_correction_of_a_correction_is_a_refusal_naming_the_kind(ledger: Traject) -> None:
    person = ledger.assessed_person(rung="2")
    ledger.ok("correct", person, "2", "--set", "rung=3", "--reason", "typo")

    result = ledger("correct", person, "3", "--set", "rung=4", "--reason", "typo")

    # well-formed, refused by a rule of the ledger: exit 1
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: EventCorrected: VERSION (target_version): "
        "v3 (event-corrected) is a fact about the record: "
        "corrections, retractions and the other control facts cannot themselves be changed\n"
    )


def last_error(stderr: str) -> str:
    return stderr.strip().splitlines()[-1].removeprefix("Error: ")
