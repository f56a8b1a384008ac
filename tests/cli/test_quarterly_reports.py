"""Bad input for the quarterly reports (P15 dashboard, P14 SWI extract).

The figures are tested in tests/projections/test_projection_dashboard.py; here each command must
refuse a malformed or non-quarterly --quarter and an unknown municipality with the exact
message and exit 2, without a traceback and before any read model is built.
"""

from __future__ import annotations

from datetime import date

import pytest
from cli_helpers import Traject, days_ago, last_line
from test_life_reports import UNKNOWN, built

COMMANDS = ("dashboard", "swi")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("quarter", ["2024H1", "2024Q5", "2024", "Q2"])
def test_a_quarter_is_required_in_the_quarter_option(
    ledger: Traject, command: str, quarter: str
) -> None:
    result = ledger("report", command, "--quarter", quarter)
    assert result.exit_code == 2
    assert last_line(result.stderr) == (
        f"Error: Invalid value for '--quarter': {quarter!r} is not a quarter: use the year, Q "
        "and 1 to 4, such as 2024Q2"
    )
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert built(ledger) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_the_quarter_is_required(ledger: Traject, command: str) -> None:
    result = ledger("report", command)
    assert result.exit_code == 2
    assert last_line(result.stderr) == "Error: Missing option '--quarter'."


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_municipality_is_refused(ledger: Traject, command: str) -> None:
    result = ledger("report", command, "--quarter", "2024Q2", "--municipality", "Amsterdm")
    assert result.exit_code == 2
    assert last_line(result.stderr) == UNKNOWN
    assert built(ledger) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_a_quarter_in_either_spelling_runs_on_an_empty_ledger(
    ledger: Traject, command: str
) -> None:
    data = ledger.json("report", command, "--quarter", "2024-q2")
    assert data["quarter"] == "2024Q2"


def test_the_dashboard_table_gives_a_share_as_a_percentage(ledger: Traject) -> None:
    """plan_share was printed as 0.3333 in the table, where report plans prints 33%."""
    people = [ledger.register() for _ in range(3)]
    on = days_ago(15)
    ledger.ok("record", "inburgering-duty-established", people[0], "--on", on,
              "--duty-start", on)  # fmt: skip
    ledger.ok("record", "pip-adopted", people[0], "--on", days_ago(10), "--version", "1",
              "--leerroute", "b1", "--hoofddoel", "werk", "--pvt-intensity", "standaard",
              "--map-intensity", "standaard", "--decision-ref", "B-1")  # fmt: skip
    today = date.fromisoformat(days_ago(0))
    quarter = f"{today.year}Q{(today.month - 1) // 3 + 1}"
    data = ledger.json("report", "dashboard", "--quarter", quarter)
    assert data["sections"]["plans"]["plan_share"] == 0.3333  # the JSON keeps the fraction
    table = ledger.ok("report", "dashboard", "--quarter", quarter).stdout
    (line,) = [line for line in table.splitlines() if "plan_share" in line]
    assert line.split() == ["plan_share", "33%"]
