"""The ``--period`` of a report as an analyst types it: the half-year or quarter before or after
the year, with a space or a dash (``2025 H1``, ``H1-2025``, ``Q2 2025``), is the period; a month
or anything else is refused, naming the forms that are taken."""

from __future__ import annotations

from datetime import date

import pytest
from cli_helpers import Traject, days_ago, last_line
from test_life_reports import built

FORMS = (
    "use a year (2024), a half-year (2024H1, 2024-H1, 2024 H1, H1 2024 or H1-2024) or a quarter "
    "(2024Q3, 2024-Q3, 2024 Q3, Q3 2024 or Q3-2024)"
)


def spellings(kind: str, number: int, year: int) -> list[str]:
    part = f"{kind}{number}"
    return [f"{year} {part}", f"{part} {year}", f"{part}-{year}", f"{part.lower()} {year}",
            f" {year}-{part} "]  # fmt: skip


def test_a_half_year_or_quarter_spelled_either_way_is_the_same_period(ledger: Traject) -> None:
    person = ledger.register()
    started = date.fromisoformat(days_ago(3))
    ledger.ok("record", "outflow-started", person, "--on", started.isoformat(),
              "--outflow-type", "werk_volledig")  # fmt: skip
    half, quarter = (started.month - 1) // 6 + 1, (started.month - 1) // 3 + 1
    for kind, number in (("H", half), ("Q", quarter)):
        canonical = f"{started.year}{kind}{number}"
        expected = ledger.json("report", "outflow", "--period", canonical)
        assert [r["started"] for r in expected["rows"] if r["outflow_type"] == "total"] == [1]
        for text in spellings(kind, number, started.year):
            assert ledger.json("report", "outflow", "--period", text) == expected, text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("2025-06", "the reports count years, half-years and quarters, not months: give the "
                    "quarter, half-year or year that holds it, 2025Q2, 2025H1 or 2025"),
        ("2025-11", "the reports count years, half-years and quarters, not months: give the "
                    "quarter, half-year or year that holds it, 2025Q4, 2025H2 or 2025"),
        ("H1", FORMS),  # no year
        ("25 H1", FORMS),  # which century?
        ("H12025", FORMS),  # H1 of 2025, or H12 of 025?
        ("2025-6", FORMS),  # a month, a half-year or a quarter?
        ("2025-06-30", FORMS),
        ("H3 2025", "a half-year is H1 or H2"),
    ],
)  # fmt: skip
def test_a_month_or_an_ambiguous_period_is_refused_naming_the_forms(
    ledger: Traject, text: str, problem: str
) -> None:
    result = ledger("report", "outflow", "--period", text)
    assert result.exit_code == 2
    assert last_line(result.stderr) == (
        f"Error: Invalid value for '--period': {text!r} is not a period: {problem}"
    )
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert built(ledger) == []


def test_a_quarter_option_takes_the_quarter_spelled_either_way(ledger: Traject) -> None:
    for text in ("2024 Q2", "Q2 2024", "q2-2024"):
        assert ledger.json("report", "dashboard", "--quarter", text)["quarter"] == "2024Q2"
