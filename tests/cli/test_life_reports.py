"""Bad input for the life-course reports and the --municipality option of every report.

The figures themselves are tested in tests/projections/test_projection_<name>.py; here each
command must refuse malformed options with the exact message and exit 2, before any read model
is built.
"""

from __future__ import annotations

import pytest
from cli_helpers import Traject, last_line

PERIOD_COMMANDS = ("guidance", "reunification", "help-requests", "pvt")
BAD_PERIOD = (
    "Error: Invalid value for '--period': 'bad' is not a period: use a year (2024), a half-year "
    "(2024H1, 2024-H1, 2024 H1, H1 2024 or H1-2024) or a quarter (2024Q3, 2024-Q3, 2024 Q3, "
    "Q3 2024 or Q3-2024)"
)
UNKNOWN = (
    "Error: Invalid value for '--municipality': 'Amsterdm' is not a municipality in the CBS "
    "list of 2025: give a CBS code such as GM0363 or a name such as Amsterdam; did you mean "
    "Amsterdam?"
)


def built(ledger: Traject) -> list[str]:
    """The read models that have a state row (none until a report has run)."""
    return [row["name"] for row in ledger.json("projections", "status") if row["built"]]


@pytest.mark.parametrize("command", PERIOD_COMMANDS)
def test_a_bad_period_is_a_usage_error(ledger: Traject, command: str) -> None:
    result = ledger("report", command, "--period", "bad")
    assert result.exit_code == 2
    assert last_line(result.stderr) == BAD_PERIOD
    assert result.stdout == ""


@pytest.mark.parametrize("command", PERIOD_COMMANDS)
def test_the_period_is_required(ledger: Traject, command: str) -> None:
    result = ledger("report", command)
    assert result.exit_code == 2
    assert last_line(result.stderr) == "Error: Missing option '--period'."


@pytest.mark.parametrize(
    "args",
    [
        ("report", "cohort", "--year", "2024"),
        *(("report", command, "--period", "2024") for command in PERIOD_COMMANDS),
        ("report", "housing", "--period", "2024H1"),
        ("report", "ladder", "--on", "2024-06-30"),
        ("caseload", "--on", "2024-06-30"),
    ],
    ids=lambda args: args[1] if args[0] == "report" else args[0],
)
def test_an_unknown_municipality_names_close_matches(
    ledger: Traject, args: tuple[str, ...]
) -> None:
    result = ledger(*args, "--municipality", "Amsterdm")
    assert result.exit_code == 2
    assert last_line(result.stderr) == UNKNOWN
    assert built(ledger) == []


def test_a_municipality_by_name_shows_its_name_beside_the_code(ledger: Traject) -> None:
    data = ledger.json("report", "pvt", "--period", "2024", "--municipality", "Den Haag")
    assert (data["municipality"], data["municipality_name"]) == ("GM0518", "'s-Gravenhage")
    table = ledger.ok("report", "guidance", "--period", "2024", "--municipality", "den bosch")
    assert "GM0796 's-Hertogenbosch" in table.stdout
    ambiguous = ledger("report", "cohort", "--year", "2024", "--municipality", "Bergen")
    assert ambiguous.exit_code == 2
    assert last_line(ambiguous.stderr) == (
        "Error: Invalid value for '--municipality': 'Bergen' fits several municipalities: "
        "GM0373 Bergen (NH.), GM0893 Bergen (L.)"
    )


def test_a_year_out_of_range_is_a_usage_error(ledger: Traject) -> None:
    result = ledger("report", "cohort", "--year", "202")
    assert result.exit_code == 2
    assert "'--year'" in last_line(result.stderr)
    assert "202 is not in the range 1990<=x<=2100" in last_line(result.stderr)


OUT_OF_RANGE = [
    ("--period", ("report", "outflow", "--period", "9999H2")),
    ("--period", ("report", "outflow", "--period", "0000")),
    ("--period", ("report", "housing", "--period", "9999H2")),
    ("--period", ("report", "plans", "--period", "9999Q4")),
    *(("--period", ("report", command, "--period", "9999")) for command in PERIOD_COMMANDS),
    ("--period", ("report", "amif", "--project", "MWP", "--period", "1989")),
    ("--quarter", ("report", "dashboard", "--quarter", "9999Q4")),
    ("--quarter", ("report", "swi", "--quarter", "0000Q1")),
    ("--on", ("caseload", "--on", "0001-01-01")),
    ("--on", ("report", "inburgering", "--on", "9999-12-31")),
    ("--on", ("find-candidates", "--on", "9999-12-31")),
    ("--from", ("report", "ladder", "--on", "2024-06-30", "--from", "1000-01-01")),
    ("--on", ("report", "caseload", "--on", "9999-12-31")),
    ("--as-known-at", ("caseload", "--as-known-at", "0001-01-01")),
    ("--as-known-at", ("report", "outflow", "--period", "2024", "--as-known-at", "1989-12-31")),
]


@pytest.mark.parametrize(
    ("option", "args"), OUT_OF_RANGE, ids=[" ".join(args[-3:]) for _, args in OUT_OF_RANGE]
)
def test_a_period_or_day_outside_the_reported_years_is_a_usage_error(
    ledger: Traject, option: str, args: tuple[str, ...]
) -> None:
    """A year such as 0 or 9999 gave a traceback (a date out of Python's range) in every
    report: the years a report can be asked for are those of ``report cohort --year``
    (1990 to 2100)."""
    result = ledger(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    value = args[-1]
    assert last_line(result.stderr) == (
        f"Error: Invalid value for '{option}': {value!r} is outside the years traject reports "
        "on: use a year from 1990 to 2100"
    )
    assert result.stdout == ""
    assert built(ledger) == []
