"""Value objects: the BSN 11-proef, reporting periods and calendar-month arithmetic."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import TypeAdapter, ValidationError

from ledger.values import (
    Bsn,
    GemeenteCode,
    Period,
    add_months,
    bsn_is_valid,
    half_year_of,
    normalise_bsn,
)

# --- BSN (domain.md §5.3) ------------------------------------------------------------------------


def test_the_worked_example_123456782_passes_the_11_proef():
    # 9·1 + 8·2 + 7·3 + 6·4 + 5·5 + 4·6 + 3·7 + 2·8 − 1·2 = 154 = 14 × 11
    assert bsn_is_valid("123456782")


def test_changing_the_check_digit_of_a_valid_bsn_fails_the_11_proef():
    assert not bsn_is_valid("123456789")
    assert not bsn_is_valid("123456783")


@pytest.mark.parametrize(
    "text",
    ["", "12345678a", "1234567", "1234567820", "000000000", "12 3456782", "-23456782"],
    ids=["empty", "letter", "seven-digits", "ten-digits", "all-zero", "inner-space", "sign"],
)
def test_a_bsn_must_be_nine_digits(text):
    assert not bsn_is_valid(text)


def test_an_old_eight_digit_number_is_read_with_a_leading_zero():
    # 010000008: 9·0 + 8·1 + 0 … + 2·0 − 8 = 0 ≡ 0 (mod 11)
    assert bsn_is_valid("10000008")
    assert normalise_bsn("10000008") == "010000008"
    assert not bsn_is_valid("10000009")


def test_digits_of_other_scripts_are_not_bsn_digits():
    # Arabic-Indic ١٢٣٤٥٦٧٨٢ is 123456782 to int(), but would hash to another index entry
    assert not bsn_is_valid("١٢٣٤٥٦٧٨٢")
    assert not bsn_is_valid("１２３４５６７８２")  # full-width


def test_municipality_codes_and_periods_take_ascii_digits_only():
    with pytest.raises(ValidationError):
        TypeAdapter(GemeenteCode).validate_python("GM٠٦٢٢")
    assert TypeAdapter(GemeenteCode).validate_python("GM0622") == "GM0622"
    with pytest.raises(ValueError, match="is not a period"):
        Period.parse("٢٠٢٤H1")


def test_surrounding_whitespace_is_ignored():
    assert normalise_bsn(" 123456782 ") == "123456782"


def test_an_invalid_bsn_is_refused_with_a_message_naming_the_11_proef():
    with pytest.raises(ValueError, match="11-proef"):
        normalise_bsn("123456789")
    with pytest.raises(ValidationError, match="11-proef"):
        TypeAdapter(Bsn).validate_python("123456789")


# --- Period --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("2024", Period(2024)),
        ("2024H1", Period(2024, "H", 1)),
        ("2024-h2", Period(2024, "H", 2)),
        ("2024Q3", Period(2024, "Q", 3)),
        (" 2024-Q4 ", Period(2024, "Q", 4)),
        ("2024 H1", Period(2024, "H", 1)),
        ("H2 2024", Period(2024, "H", 2)),
        ("h1-2024", Period(2024, "H", 1)),
        ("2024  q3", Period(2024, "Q", 3)),
        ("Q4-2024", Period(2024, "Q", 4)),
    ],
)
def test_a_period_is_parsed_from_a_year_half_year_or_quarter(text, period):
    assert Period.parse(text) == period


@pytest.mark.parametrize(
    "text",
    ["2024H3", "2024Q5", "24H1", "2024-1", "H1", "H3 2024", "H12024", "2024-06", "2024 - H1"],
)
def test_a_malformed_period_is_refused(text):
    with pytest.raises(ValueError, match="is not a period"):
        Period.parse(text)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2024", date(2024, 1, 1), date(2024, 12, 31)),
        ("2024H1", date(2024, 1, 1), date(2024, 6, 30)),
        ("2024H2", date(2024, 7, 1), date(2024, 12, 31)),
        ("2024Q1", date(2024, 1, 1), date(2024, 3, 31)),
        ("2023Q1", date(2023, 1, 1), date(2023, 3, 31)),
        ("2024Q4", date(2024, 10, 1), date(2024, 12, 31)),
    ],
)
def test_a_period_starts_on_its_first_day_and_ends_on_its_last(text, start, end):
    period = Period.parse(text)
    assert (period.start, period.end) == (start, end)


def test_a_period_contains_its_first_and_last_day_but_not_the_days_around_it():
    h1 = Period.parse("2024H1")
    assert h1.contains(date(2024, 1, 1))
    assert h1.contains(date(2024, 6, 30))
    assert not h1.contains(date(2023, 12, 31))
    assert not h1.contains(date(2024, 7, 1))


@pytest.mark.parametrize(
    ("text", "previous"),
    [
        ("2024", "2023"),
        ("2024H1", "2023H2"),
        ("2024H2", "2024H1"),
        ("2024Q1", "2023Q4"),
        ("2024Q3", "2024Q2"),
    ],
)
def test_the_previous_period_crosses_year_boundaries(text, previous):
    assert str(Period.parse(text).previous()) == previous


def test_a_period_prints_in_its_compact_form():
    assert [str(Period.parse(t)) for t in ("2024", "2024-H1", "2024-q2")] == [
        "2024",
        "2024H1",
        "2024Q2",
    ]


def test_the_half_year_of_a_day_splits_at_the_first_of_july():
    assert half_year_of(date(2024, 6, 30)) == Period(2024, "H", 1)
    assert half_year_of(date(2024, 7, 1)) == Period(2024, "H", 2)


# --- add_months ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2024, 1, 31), 1, date(2024, 2, 29)),  # leap year: the last day of February
        (date(2023, 1, 31), 1, date(2023, 2, 28)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),  # no 29 February in 2025
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2024, 12, 15), 1, date(2025, 1, 15)),
        (date(2024, 3, 31), -1, date(2024, 2, 29)),
        (date(2024, 1, 15), -13, date(2022, 12, 15)),
        (date(2024, 5, 31), 0, date(2024, 5, 31)),
    ],
)
def test_adding_months_keeps_the_day_or_falls_back_to_the_month_end(day, months, expected):
    assert add_months(day, months) == expected
