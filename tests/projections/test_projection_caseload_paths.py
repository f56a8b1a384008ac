"""P1 caseload: the current caseload (from the spans of ``caseload_history``) equals the one
folded from every current fact, on every date of a generated history and of random logs with
corrections, retractions and back-dated facts, on both stores, caught up or rebuilt."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from projection_events import append, chunks, opened, random_log, sqlite_url

from commands.importing import import_lines
from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.synthetic import Settings, generate
from projections import Views, catch_up, rebuild
from projections.caseload import CASELOAD, caseload, caseload_report

GENERATED = Settings(
    municipalities=3, persons=60, years=3, seed=5, start_year=2022, until=date(2024, 12, 31),
    recorded_at=True, corrections=True, person_ids=True,
)  # fmt: skip
# "as known at" a moment after every recording reads the same current facts, by a full scan
EVERYTHING = datetime(2100, 1, 1, tzinfo=UTC)


def test_current_caseload_equals_the_full_fold_on_every_date(ledger: TrajectoryLedger) -> None:
    lines = list(generate(GENERATED))
    imported = import_lines(ledger, enumerate(lines, start=1), source="generated.jsonl")
    assert imported.rejected == 0
    views = Views(ledger)
    day, compared = date(2021, 12, 1), 0
    while day <= date(2025, 1, 31):
        current = caseload(views, day)
        assert current == caseload(views, day, as_known_at=EVERYTHING), day
        compared += len(current)
        day += timedelta(days=47)
    assert compared > 0  # the history does put persons on the caseload
    # the report with its deadline signals too, on a date with persons who have later facts
    on = date(2023, 9, 30)
    report = caseload_report(views, on)
    assert report.entries == caseload_report(views, on, as_known_at=EVERYTHING).entries
    assert report.entries
    # and after the last fact, every person's latest status is the one kept
    assert caseload(views, date(2025, 6, 30)) == caseload(
        views, date(2025, 6, 30), as_known_at=EVERYTHING
    )


# --- the spans of caseload_history against the fold, over random logs -------------------------

PROPERTY = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
logs = st.tuples(st.integers(0, 2**32), st.integers(1, 6), st.integers(0, 60))
# every 23 days across the random days (2023-07-01 + 540 days), before the first and after the last
DATES = [date(2023, 6, 1) + timedelta(days=23 * n) for n in range(28)]


def spans_equal_the_fold(app: TrajectoryLedger, events: list[ev.TrajectEvent], batch: int) -> int:
    """Append in batches, catching up after each (so spans are refreshed per touched stream);
    then on every date the caseload from the spans equals the fold of every current fact, and a
    rebuild keeps the same spans. Returns the number of rows compared."""
    views = Views(app)
    compared = 0
    for chunk in chunks(events, batch):
        append(app, chunk)
        for day in DATES[::5]:
            assert caseload(views, day) == caseload(views, day, as_known_at=EVERYTHING), day
    for day in DATES:
        current = caseload(views, day)
        assert current == caseload(views, day, as_known_at=EVERYTHING), day
        compared += len(current)
    caught_up = catch_up(views, CASELOAD).digest
    assert rebuild(views, CASELOAD).digest == caught_up
    assert [caseload(views, day) for day in DATES] == [
        caseload(views, day, as_known_at=EVERYTHING) for day in DATES
    ]
    return compared


@PROPERTY
@given(log=logs, batch=st.integers(1, 30))
def test_caseload_history_equals_the_fold_on_every_date(
    projection_key: bytes, log: tuple[int, int, int], batch: int
) -> None:
    with sqlite_url() as url, opened(url, projection_key) as app:
        spans_equal_the_fold(app, random_log(*log), batch)


@pytest.mark.postgres
def test_caseload_history_equals_the_fold_on_postgresql(
    projection_key: bytes, projection_pg: Callable[[], str]
) -> None:
    with opened(projection_pg(), projection_key) as app:
        assert spans_equal_the_fold(app, random_log(11, 8, 200), 17) > 0
