"""The Dutch calendar day of a recorded moment: the day the rules compare dates with."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.aggregates import dutch_day

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@given(
    # hypothesis takes naive bounds and adds the zone itself
    moment=st.datetimes(
        min_value=datetime(1800, 1, 2),  # noqa: DTZ001
        max_value=datetime(2200, 12, 30),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_the_dutch_day_is_the_day_in_amsterdam_whatever_the_given_offset(moment, offset_minutes):
    given_as = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    assert dutch_day(given_as) == moment.astimezone(AMSTERDAM).date()


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        # winter time (+01:00): midnight in Amsterdam is 23:00 UTC
        ("2024-01-15T21:59:59+00:00", date(2024, 1, 15)),
        ("2024-01-15T22:00:00+00:00", date(2024, 1, 15)),
        ("2024-01-15T22:59:59+00:00", date(2024, 1, 15)),
        ("2024-01-15T23:00:00+00:00", date(2024, 1, 16)),
        # summer time (+02:00): midnight in Amsterdam is 22:00 UTC
        ("2024-07-15T21:59:59+00:00", date(2024, 7, 15)),
        ("2024-07-15T22:00:00+00:00", date(2024, 7, 16)),
        # the changes to and from summer time
        ("2024-03-30T22:30:00+00:00", date(2024, 3, 30)),
        ("2024-03-31T22:30:00+00:00", date(2024, 4, 1)),
        ("2024-10-26T22:30:00+00:00", date(2024, 10, 27)),
        ("2024-10-27T22:30:00+00:00", date(2024, 10, 27)),
        # an offset that is not UTC's, ahead of and behind it
        ("2024-07-16T00:30:00+02:00", date(2024, 7, 16)),
        ("2024-01-15T19:30:00-03:00", date(2024, 1, 15)),
        ("2024-01-15T20:00:00-03:00", date(2024, 1, 16)),
        # Amsterdam time in a winter before 1937 was 19 minutes 32 seconds ahead of UTC
        ("1930-01-15T23:35:00+00:00", date(1930, 1, 15)),
        ("1930-01-15T23:45:00+00:00", date(1930, 1, 16)),
    ],
)
def test_the_dutch_day_around_midnight_in_amsterdam(moment, day):
    assert dutch_day(datetime.fromisoformat(moment)) == day
