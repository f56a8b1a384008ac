"""Bad input, for every kind of argument: the exact message, the exit code, nothing written.

Malformed input exits 2: a usage error caught by click before the ledger is touched, or a value
the event's model refuses (an empty text, a correction's value of the wrong kind), named with
its field and rule. Input that is well-formed but refused by the ledger for what it holds (an
unknown person, a broken rule) exits 1.
"""

from __future__ import annotations

import pytest
from cli_helpers import Traject, days_ago, last_line, project_registration

YESTERDAY = days_ago(1)
HUGE = "1" + "0" * 30  # a whole number no stored fact can hold (JSON numbers are 64-bit)


def pip_adopted(version: str) -> tuple[str, ...]:
    """`traject record pip-adopted` of PIP ``version``, every other option valid."""
    return (
        "record", "pip-adopted", "{person}", "--on", YESTERDAY, "--version", version,
        "--leerroute", "B1", "--hoofddoel", "werk", "--pvt-intensity", "standaard",
        "--map-intensity", "standaard", "--decision-ref", "PIP-1",
    )  # fmt: skip


def ladder_on(day: str) -> tuple[str, ...]:
    """`traject record ladder-assessed` dated ``day``, every other option valid."""
    return (
        "record", "ladder-assessed", "{person}", "--on", day, "--rung", "3",
        "--assessor", "r.jansen",
    )  # fmt: skip


def benefit_of(amount: str) -> tuple[str, ...]:
    """`traject record benefit-granted` of ``amount``, every other option valid."""
    return (
        "record", "benefit-granted", "{person}", "--on", YESTERDAY, "--benefit-kind",
        "bijzondere", "--amount", amount,
    )  # fmt: skip


USAGE_ERRORS = [
    pytest.param(
        ("projections", "rebuild", "caseloda"),
        "Error: Invalid value for 'NAME': 'caseloda' is not one of 'amif', 'candidates', "
        "'caseload', 'cohort', 'guidance', 'helprequests', 'housing', 'inburgering', 'ladder', "
        "'outflow', 'pvt', 'reunification'.",
        id="unknown-read-model",
    ),
    pytest.param(
        (
            "record",
            "family-reunification-applied",
            "{person}",
            "--on",
            YESTERDAY,
            "--members",
            "partner",
            "--file-no",
            HUGE,
        ),
        f"Error: Invalid value for '--file-no': {HUGE} is too large: at most {2**63 - 1}",
        id="too-large-for-the-ledger",
    ),
    pytest.param(
        pip_adopted(HUGE),
        f"Error: Invalid value for '--version': {HUGE} is too large: at most {2**63 - 1}",
        id="too-large-a-version",
    ),
    pytest.param(
        (
            "record",
            "ladder-assessed",
            "{person}",
            "--on",
            "2024-13-01",
            "--rung",
            "3",
            "--assessor",
            "r.jansen",
        ),
        "Error: Invalid value for '--on': '2024-13-01' is not a date: there is no month 13",
        id="bad-date",
    ),
    pytest.param(
        ladder_on("2026-02-30"),
        "Error: Invalid value for '--on': '2026-02-30' is not a date: februari 2026 has days 1 "
        "to 28",
        id="no-such-day",
    ),
    pytest.param(
        ladder_on("yesterday"),
        "Error: Invalid value for '--on': 'yesterday' is not a date: use YYYY-MM-DD, "
        "e.g. 2024-03-04",
        id="not-a-date",
    ),
    pytest.param(
        (
            "record",
            "ladder-assessed",
            "{person}",
            "--on",
            "1-6-2024",
            "--rung",
            "3",
            "--assessor",
            "r.jansen",
        ),
        "Error: Invalid value for '--on': '1-6-2024': write the year first, as YYYY-MM-DD: "
        "for 1 juni 2024 that is 2024-06-01",
        id="dutch-date-order",
    ),
    # a date written day first, as a Dutch caseworker writes it, is never read with day and
    # month swapped: refused, with the year-first form of the date it seems to mean, month in
    # words (so someone who meant 6 January sees "juni")
    pytest.param(
        ladder_on("07-12-2025"),
        "Error: Invalid value for '--on': '07-12-2025': write the year first, as YYYY-MM-DD: "
        "for 7 december 2025 that is 2025-12-07",
        id="dutch-date-padded",
    ),
    pytest.param(
        ladder_on("7 december 2025"),
        "Error: Invalid value for '--on': '7 december 2025': write the year first, as "
        "YYYY-MM-DD: for 7 december 2025 that is 2025-12-07",
        id="dutch-date-in-words",
    ),
    pytest.param(
        ladder_on("7/12/2025"),
        "Error: Invalid value for '--on': '7/12/2025': write the year first, as YYYY-MM-DD: "
        "for 7 december 2025 that is 2025-12-07",
        id="dutch-date-with-slashes",
    ),
    pytest.param(
        ("correct", "{person}", "1", "--set", "occurred_on=3-11-2025", "--reason", "datum"),
        "Error: EventCorrected of PersonRegistered: on (occurred_on): '3-11-2025': write the year "
        "first, as YYYY-MM-DD: for 3 november 2025 that is 2025-11-03",
        id="dutch-date-in-a-correction",
    ),
    pytest.param(
        (
            "record",
            "housed",
            "{person}",
            "--on",
            YESTERDAY,
            "--housing-kind",
            "villa",
            "--route",
            "koppeling",
        ),
        "Error: Invalid value for '--housing-kind': 'villa' is not one of 'regulier', 'gva', "
        "'tijdelijk', 'onzelfstandig'.",
        id="unknown-enum-value",
    ),
    pytest.param(
        (
            "record",
            "ladder-assessed",
            "{person}",
            "--on",
            YESTERDAY,
            "--rung",
            "7",
            "--assessor",
            "r.jansen",
        ),
        "Error: Invalid value for '--rung': 7 is not in the range 1<=x<=6.",
        id="int-out-of-range",
    ),
    pytest.param(
        (
            "record",
            "ladder-assessed",
            "{person}",
            "--on",
            YESTERDAY,
            "--rung",
            "three",
            "--assessor",
            "r.jansen",
        ),
        "Error: Invalid value for '--rung': 'three' is not a whole number, e.g. 4",
        id="not-an-int",
    ),
    pytest.param(
        (
            "record",
            "benefit-granted",
            "{person}",
            "--on",
            YESTERDAY,
            "--benefit-kind",
            "bijzondere",
            "--amount",
            "12.50 euro",
        ),
        "Error: Invalid value for '--amount': '12.50 euro' is not a number, e.g. 12.5",
        id="not-a-decimal",
    ),
    # 1.250 is 1250 to a Dutch writer and 1.25 to an English one: never guessed
    pytest.param(
        benefit_of("1.250"),
        "Error: Invalid value for '--amount': '1.250' can be read two ways: write 1250 if the "
        "'.' separates thousands, or 1,25 if it marks the decimals",
        id="thousands-dot-or-decimal-point",
    ),
    pytest.param(
        (
            "record",
            "benefit-granted",
            "{person}",
            "--on",
            YESTERDAY,
            "--benefit-kind",
            "bijzondere",
            "--amount",
            "-5",
        ),
        "Error: Invalid value for '--amount': '-5' is below the minimum 0",
        id="negative-amount",
    ),
    pytest.param(
        ("record", "ladder-assessed", "{person}", "--on", YESTERDAY, "--rung", "3"),
        "Error: Missing option '--assessor'.",
        id="missing-required-field",
    ),
    pytest.param(
        ("record", "ladder-assessed", "{person}", "--rung", "3", "--assessor", "r.jansen"),
        "Error: Missing option '--on'.",
        id="missing-occurred-on",
    ),
    pytest.param(
        (
            "person",
            "register",
            "--birth-date",
            "1990-04-02",
            "--sex",
            "f",
            "--nationality",
            "SY",
            "--bsn",
            "123456789",
        ),
        "Error: Invalid value for '--bsn': not a valid BSN: it must be 9 digits (spaces or dots "
        "between them are fine) and pass the 11-proef, e.g. 123456782 or 1234.56.782",
        id="invalid-bsn",
    ),
    pytest.param(
        (
            "person",
            "register",
            "--birth-date",
            "1990-04-02",
            "--sex",
            "f",
            "--nationality",
            "Syria",
        ),
        "Error: Invalid value for '--nationality': 'Syria' is not an ISO 3166 alpha-2 country "
        "code (XXA: stateless, XXX: unknown), e.g. SY",
        id="bad-country-code",
    ),
    pytest.param(
        ("record", "coa-linked", "{person}", "--on", YESTERDAY, "--taakstelling-period", "2024-H3"),
        "Error: Invalid value for '--taakstelling-period': '2024-H3' is not a half-year: "
        "the year, H and 1 or 2, e.g. 2024H1",
        id="bad-half-year",
    ),
    pytest.param(
        (
            "record",
            "ladder-assessed",
            "{person}",
            "--on",
            YESTERDAY,
            "--rung",
            "3",
            "--assessor",
            "r.jansen",
            "--municipality",
            "Vlaardinge",
        ),
        "Error: Invalid value for '--municipality': 'Vlaardinge' is not a municipality in the "
        "CBS list of 2025: give a CBS code such as GM0363 or a name such as Amsterdam; did you "
        "mean Vlaardingen?",
        id="misspelt-municipality",
    ),
    pytest.param(
        (
            "record",
            "ladder-assessed",
            "{person}",
            "--on",
            YESTERDAY,
            "--rung",
            "3",
            "--assessor",
            "r.jansen",
            "--municipality",
            "GM9999",
        ),
        "Error: Invalid value for '--municipality': 'GM9999' is not a municipality in the CBS "
        "list of 2025: give a CBS code such as GM0363 or a name such as Amsterdam",
        id="unknown-municipality-code",
    ),
    pytest.param(
        (
            "record",
            "ladder-assessed",
            "{person}",
            "--on",
            YESTERDAY,
            "--rung",
            "3",
            "--assessor",
            "r.jansen",
            "--evidence",
            "verslag:ZK-1:not-a-digest",
        ),
        "Error: Invalid value for '--evidence': 'verslag:ZK-1:not-a-digest': the SHA-256 must "
        "be 64 hex digits",
        id="bad-evidence",
    ),
    pytest.param(
        (
            "record",
            "taakstelling-set",
            "{person}",
            "--on",
            YESTERDAY,
            "--period",
            "2024H1",
            "--target",
            "40",
            "--source-ref",
            "circulaire",
        ),
        "Error: Invalid value for 'MUNICIPALITY': '{person}' is not a municipality in the CBS "
        "list of 2025: give a CBS code such as GM0363 or a name such as Amsterdam",
        id="municipality-event-on-a-person",
    ),
    pytest.param(
        project_registration(YESTERDAY, "--targets-by-municipality", "GM0622:4"),
        "Error: Invalid value for '--targets-by-municipality': 'GM0622:4' is not KEY=N with a "
        "whole number N, e.g. GM0622=40",
        id="malformed-key-count",
    ),
    pytest.param(
        ("correct", "{person}", "1", "--set", "rung4", "--reason", "typo"),
        "Error: Invalid value for '--set': 'rung4' is not FIELD=VALUE, e.g. rung=4",
        id="malformed-set",
    ),
    pytest.param(
        ("correct", "{person}", "1", "--set", "rung=4"),
        "Error: Missing option '--reason'.",
        id="correction-without-reason",
    ),
    pytest.param(
        ("timeline", "{person}", "--as-known-at", "yesterday"),
        "Error: Invalid value for '--as-known-at': 'yesterday' is not a date or date-time: "
        "use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+HH:MM], e.g. 2024-06-02T12:00",
        id="bad-moment",
    ),
    pytest.param(
        ("timeline", "{person}", "--as-known-at", "1-6-2024"),
        "Error: Invalid value for '--as-known-at': '1-6-2024': write the year first, as "
        "YYYY-MM-DD: for 1 juni 2024 that is 2024-06-01",
        id="moment-written-day-first",
    ),
    pytest.param(
        ("record", "no-such-fact", "{person}"),
        "Error: No such command 'no-such-fact'.",
        id="unknown-kind",
    ),
    pytest.param(
        (
            "record",
            "ladder-assessed",
            "{person}",
            "--on",
            YESTERDAY,
            "--rung",
            "3",
            "--rung",
            "4",
            "--assessor",
            "r.jansen",
        ),
        "Error: --rung is given more than once; it takes one value",
        id="option-given-twice",
    ),
    pytest.param(
        (
            "record",
            "ladder-assessed",
            "{person}",
            "--on",
            "2024-06-01",
            "--rung",
            "3",
            "--assessor",
            "r.jansen",
            "--on",
            "2024-06-02",
        ),
        "Error: --on is given more than once; it takes one value",
        id="date-given-twice",
    ),
    pytest.param(
        (
            "record",
            "participant-enrolled",
            "{person}",
            "--on",
            YESTERDAY,
            "--project-id",
            "MWP",
            "--tcn",
            "--no-tcn",
            "--permit-kind",
            "asiel_bt",
            "--permit-valid",
            "--checked-on",
            YESTERDAY,
            "--checked-by",
            "r.jansen",
            "--eligibility-evidence-ref",
            "E-1",
            "--consent-ref",
            "C-1",
        ),
        "Error: --tcn / --no-tcn is given more than once; it takes one value",
        id="flag-given-both-ways",
    ),
    pytest.param(
        (
            "person",
            "register",
            "--birth-date",
            "1990-04-02",
            "--sex",
            "f",
            "--sex",
            "m",
            "--nationality",
            "SY",
        ),
        "Error: --sex is given more than once; it takes one value",
        id="registration-option-given-twice",
    ),
    pytest.param(
        project_registration(
            YESTERDAY,
            "--targets-by-municipality",
            "Vlaardingen=5",
            "--targets-by-municipality",
            "GM0622=3",
        ),
        "Error: Invalid value for '--targets-by-municipality': GM0622 is given more than once "
        "(5 and 3); give each key once",
        id="mapping-key-given-twice",
    ),
]

BAD_VALUES = [
    # well-formed on the command line, refused by the event's model or the ledger's reference
    # rules whatever the ledger holds: bad input, named with the field and the rule
    pytest.param(
        (
            "record",
            "residence-permit-recorded",
            "{person}",
            "--on",
            "2024-01-10",
            "--permit-kind",
            "asiel_bt",
            "--valid-until",
            "2023-01-10",
        ),
        "Error: ResidencePermitRecorded: --valid-until: must not be before valid from (--on)",
        id="rule-between-fields",
    ),
    pytest.param(
        (
            "record",
            "ladder-assessed",
            "3219",
            "--on",
            YESTERDAY,
            "--rung",
            "3",
            "--assessor",
            "r.jansen",
        ),
        "Error: '3219' is too short for a person reference: give a person id, or a unique prefix "
        "of it of at least 6 characters (0-9, a-f)",
        id="person-prefix-too-short",
    ),
    pytest.param(
        (
            "record",
            "housed",
            "GM0622",
            "--on",
            YESTERDAY,
            "--housing-kind",
            "regulier",
            "--route",
            "eigen",
        ),
        "Error: 'GM0622' is not a person reference: give a person id, or a unique prefix of it "
        "of at least 6 characters (0-9, a-f)",
        id="person-event-on-a-municipality",
    ),
    pytest.param(
        (
            "record",
            "ladder-assessed",
            "{person}",
            "--on",
            YESTERDAY,
            "--rung",
            "3",
            "--assessor",
            " ",
        ),
        "Error: LadderAssessed: --assessor: must not be empty",
        id="blank-text",
    ),
    pytest.param(
        ("correct", "{person}", "1", "--set", "rungs=4", "--reason", "typo"),
        "Error: EventCorrected of PersonRegistered: rungs: PersonRegistered has no correctable "
        "field 'rungs' "
        "(fields: birth_date, bsn, evidence, household_id, languages, municipality, name, "
        "nationality, occurred_on, sex, v_number)",
        id="correct-unknown-field",
    ),
    pytest.param(
        ("correct", "{person}", "1", "--set", "sex=q", "--reason", "typo"),
        "Error: EventCorrected of PersonRegistered: sex: 'q' is not one of 'f', 'm', 'x'.",
        id="correct-bad-value",
    ),
]

REFUSALS = [
    pytest.param(
        (
            "record",
            "ladder-assessed",
            "00000000",
            "--on",
            YESTERDAY,
            "--rung",
            "3",
            "--assessor",
            "r.jansen",
        ),
        "Error: no person 00000000 in this ledger",
        id="unknown-person",
    ),
    pytest.param(
        (
            "record",
            "housed",
            "{person}",
            "--on",
            YESTERDAY,
            "--housing-kind",
            "regulier",
            "--route",
            "koppeling",
        ),
        "Error: Housed: --route: koppeling needs an active koppeling (record coa-linked first)",
        id="housed-without-koppeling",
    ),
    pytest.param(
        (
            "record",
            "ladder-assessed",
            "{person}",
            "--on",
            days_ago(-2),
            "--rung",
            "3",
            "--assessor",
            "r.jansen",
        ),
        "Error: LadderAssessed: --on (occurred_on): must not be in the future",
        id="date-in-the-future",
    ),
    pytest.param(
        pip_adopted("2"),
        "Error: PipAdopted: --version: the first PIP is version 1",
        id="pip-version-rule",
    ),
    pytest.param(
        (
            "record",
            "taakstelling-corrected",
            "GM0622",
            "--on",
            YESTERDAY,
            "--period",
            "2024H1",
            "--target",
            "40",
            "--source-ref",
            "circulaire",
        ),
        "Error: TaakstellingCorrected: --period: 2024H1 has no target to correct",
        id="municipality-rule",
    ),
    pytest.param(
        ("correct", "{person}", "9", "--set", "sex=m", "--reason", "typo"),
        "Error: EventCorrected: VERSION (target_version): "
        "this stream has no version 9: its versions are "
        "1 to 1 (see traject timeline)",
        id="correct-unknown-version",
    ),
    pytest.param(
        ("retract", "{person}", "1", "--reason", "wrong person"),
        "Error: EventRetracted: VERSION (target_version): the first event of a stream cannot be "
        "retracted (v1, person-registered, opens it): correct its fields instead",
        id="retract-the-registration",
    ),
]


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS)
def test_malformed_input_is_a_usage_error_and_writes_nothing(
    ledger: Traject, args: tuple[str, ...], message: str
) -> None:
    person = ledger.register()
    before = ledger.event_count()

    result = ledger(*(a.format(person=person) for a in args))

    assert result.exit_code == 2, result.output
    assert last_line(result.stderr) == message.format(person=person)
    assert result.stdout == ""
    assert ledger.event_count() == before


@pytest.mark.parametrize(
    ("args", "message", "status"),
    [
        pytest.param(*case.values, status, id=case.id, marks=case.marks)
        for cases, status in ((BAD_VALUES, 2), (REFUSALS, 1))
        for case in cases
    ],
)
def test_bad_input_and_refused_facts_say_why_and_write_nothing(
    ledger: Traject, args: tuple[str, ...], message: str, status: int
) -> None:
    """A value the ledger refuses on sight is bad input (exit 2); a well-formed fact the ledger
    refuses for what it holds is an error (exit 1); neither writes anything."""
    person = ledger.register()
    before = ledger.event_count()

    result = ledger(*(a.format(person=person) for a in args))

    assert result.exit_code == status, result.output
    assert result.stderr == message.format(person=person) + "\n"
    assert result.stdout == ""
    assert ledger.event_count() == before


def test_an_ambiguous_person_prefix_is_refused(ledger: Traject) -> None:
    # register until two person ids share their first hex digit: at most 17 persons
    seen: dict[str, str] = {}
    while True:
        person = ledger.register()
        if person[0] in seen:
            break
        seen[person[0]] = person
    prefix = person[0]
    before = ledger.event_count()

    # a prefix shorter than 6 characters is refused as such; a full-length shared prefix is
    # ambiguous
    result = ledger("timeline", prefix)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {prefix!r} is too short for a person reference: give a person id, or a unique "
        "prefix of it of at least 6 characters (0-9, a-f)\n"
    )
    common = 0
    while seen[prefix][common] == person[common]:
        common += 1
    if common >= 6:  # pragma: no cover - astronomically rare with random ids
        result = ledger("timeline", person[:common])
        assert "matches 2 persons: give more characters" in result.stderr
    assert ledger.event_count() == before
