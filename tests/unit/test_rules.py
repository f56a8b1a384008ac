"""Dated, versioned rule parameters and the deadline functions (domain.md §2.2–2.4)."""

from __future__ import annotations

from datetime import date

import pytest

from ledger import rules
from ledger.values import Regime


@pytest.mark.parametrize(
    ("duty_start", "regime"),
    [
        (date(2012, 12, 31), Regime.WI2007),
        (date(2013, 1, 1), Regime.WI2013),
        (date(2021, 12, 31), Regime.WI2013),
        (date(2022, 1, 1), Regime.WI2021),
        (date(2025, 6, 1), Regime.WI2021),
    ],
)
def test_the_regime_follows_from_the_duty_start(duty_start, regime):
    assert rules.derive_regime(duty_start) is regime


@pytest.mark.parametrize(
    ("duty_start", "required"),
    [
        (date(2014, 12, 31), False),
        (date(2015, 1, 1), True),
        (date(2021, 12, 31), True),
        (date(2022, 1, 1), False),  # Wi2021 has MAP instead of ONA
    ],
)
def test_ona_is_required_for_wi2013_cohorts_from_2015(duty_start, required):
    assert rules.ona_required(duty_start) is required


@pytest.mark.parametrize(
    ("duty_start", "required"),
    [
        (date(2012, 6, 1), False),  # Wi2007
        (date(2017, 9, 30), False),
        (date(2017, 10, 1), True),
        (date(2022, 1, 1), True),  # every Wi2021 route has a PVT
    ],
)
def test_the_pvt_is_required_from_the_october_2017_cohort(duty_start, required):
    assert rules.pvt_required(duty_start) is required


def test_pip_v1_is_due_ten_weeks_after_the_later_of_notice_and_brp_registration():
    # only the DUO notice is known
    assert rules.pip_due_date(date(2024, 1, 1), None) == date(2024, 3, 11)
    # the BRP registration came later, so the ten weeks run from it
    assert rules.pip_due_date(date(2024, 1, 1), date(2024, 2, 1)) == date(2024, 4, 11)
    # the notice came later
    assert rules.pip_due_date(date(2024, 2, 1), date(2024, 1, 1)) == date(2024, 4, 11)


def test_pip_v1_has_no_due_date_before_notice_or_registration():
    assert rules.pip_due_date(None, None) is None


def test_the_term_runs_three_years_from_the_day_after_the_dagtekening():
    assert rules.term_start(date(2024, 3, 11)) == date(2024, 3, 12)
    assert rules.term_end(date(2024, 3, 11)) == date(2027, 3, 12)


def test_a_term_starting_on_29_february_ends_on_28_february():
    assert rules.term_start(date(2024, 2, 28)) == date(2024, 2, 29)
    assert rules.term_end(date(2024, 2, 28)) == date(2027, 2, 28)


def test_the_wi2013_pvt_deadline_is_one_year_after_settling():
    assert rules.pvt_deadline_wi2013(date(2019, 5, 31)) == date(2020, 5, 31)
    assert rules.pvt_deadline_wi2013(date(2020, 2, 29)) == date(2021, 2, 28)


def test_the_nareis_window_closes_three_calendar_months_after_the_permit_notice():
    assert rules.nareis_deadline(date(2023, 11, 3)) == date(2024, 2, 3)
    assert rules.nareis_deadline(date(2023, 11, 30)) == date(2024, 2, 29)


def test_a_recording_is_late_only_above_thirty_days():
    occurred = date(2024, 1, 1)
    assert not rules.is_late_recording(occurred, date(2024, 1, 31))  # 30 days
    assert rules.is_late_recording(occurred, date(2024, 2, 1))  # 31 days
    assert not rules.is_late_recording(occurred, occurred)


def test_the_rule_set_in_force_is_the_latest_whose_valid_from_is_not_after_the_day():
    first = rules.RULESETS[0]
    assert rules.rules_on(first.valid_from) is first
    # a day before any rule set still gets the oldest one rather than nothing
    assert rules.rules_on(date(1990, 1, 1)) is first
    assert rules.rules_on(date(2030, 1, 1)) is rules.current_rules()


def test_rule_sets_are_listed_oldest_first_with_unique_versions():
    valid_from = [r.valid_from for r in rules.RULESETS]
    assert valid_from == sorted(valid_from)
    assert len({r.version for r in rules.RULESETS}) == len(rules.RULESETS)


def test_rule_parameters_are_stored_as_strings_with_the_version():
    parameters = rules.rule_parameters(rules.current_rules())
    assert parameters["version"] == rules.current_rules().version
    assert parameters["pip_due_weeks"] == "10"
    assert parameters["wi2021_from"] == "2022-01-01"
    assert all(isinstance(value, str) for value in parameters.values())
