"""Span tables (``ladder_spans``, ``candidates_spans``, ``outflow_spans``): the current ladder,
candidate finder and outflow read from them equal the fold of every current fact, on every date
of random logs with profile facts, corrections, retractions and back-dated facts; caught up
batch by batch or rebuilt; on both stores."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from projection_events import LogBuilder, append, chunks, opened, sqlite_url

from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.values import Period
from projections import Views, catch_up, rebuild
from projections.candidates import CANDIDATES, find_candidates
from projections.ladder import LADDER, ladder
from projections.outflow import OUTFLOW, OutflowReport, outflow

EVERYTHING = datetime(2100, 1, 1, tzinfo=UTC)  # after every recording: every current fact
DATES = [date(2023, 6, 1) + timedelta(days=29 * n) for n in range(22)]
LEVELS = ("A1", "A2", "B1", "B2")
PROPERTY = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def profile_log(seed: int, persons: int, steps: int) -> list[ev.TrajectEvent]:
    """The random life courses of ``projection_events`` plus profile updates and language
    assessments (some with empty fields), their corrections and retractions, and deaths."""
    builder = LogBuilder(seed)
    rng = builder.rng
    people = [builder.register(builder.random_day()) for _ in range(persons)]
    profiles: dict[Any, list[int]] = {}
    for _ in range(steps):
        person = rng.choice(people)
        roll = rng.random()
        if roll < 0.2:
            event = builder.add(
                person,
                ev.ProfileUpdated,
                occurred_on=builder.random_day(),
                occupation_direction=rng.choice((None, "zorg", "techniek")),
                education=rng.choice((None, "mbo", "hbo")),
                language_level=rng.choice((None, *LEVELS)),
            )
            profiles.setdefault(person, []).append(event.originator_version)
        elif roll < 0.3:
            event = builder.add(
                person,
                ev.LanguageLevelAssessed,
                occurred_on=builder.random_day(),
                cefr=rng.choice(LEVELS),
                method="toets",
                context="interim",
            )
            profiles.setdefault(person, []).append(event.originator_version)
        elif roll < 0.38 and profiles.get(person):
            target = rng.choice(profiles[person])
            builder.correct(person, target, occurred_on=builder.random_day().isoformat())
        elif roll < 0.42 and profiles.get(person):
            builder.retract(person, profiles[person].pop(rng.randrange(len(profiles[person]))))
        elif roll < 0.43:
            builder.add(person, ev.Deceased, occurred_on=builder.random_day())
        else:
            builder.random_step(person)
    return builder.events


def current_and_folded(views: Views, day: date) -> list[tuple[Any, Any]]:
    """(from the spans, from the fold) for the ladder, the candidate finder and the outflow
    of the quarter ending on ``day`` (ungrouped and per municipality)."""
    start = day - timedelta(days=200)
    quarter = Period(day.year, "Q", (day.month - 1) // 3 + 1)
    return [
        (
            ladder(views, day, from_date=start),
            ladder(views, day, from_date=start, as_known_at=EVERYTHING),
        ),
        (
            find_candidates(views, day).candidates,
            find_candidates(views, day, as_known_at=EVERYTHING).candidates,
        ),
        *(
            (
                _outflow(outflow(views, quarter, by=by)),
                _outflow(outflow(views, quarter, by=by, as_known_at=EVERYTHING)),
            )
            for by in (None, "municipality")
        ),
    ]


def spans_equal_the_fold(app: TrajectoryLedger, events: list[ev.TrajectEvent], batch: int) -> int:
    """Returns the number of candidates compared."""
    views = Views(app)
    for chunk in chunks(events, batch):
        append(app, chunk)
        for (report, folded), (found, found_folded), *outflows in map(
            lambda d: current_and_folded(views, d), DATES[::6]
        ):
            assert found == found_folded
            assert _figures(report) == _figures(folded)
            assert all(current == scanned for current, scanned in outflows)
    compared = 0
    read = (LADDER, CANDIDATES, OUTFLOW)
    digests = {p.name: catch_up(views, p).digest for p in read}
    assert {p.name: rebuild(views, p).digest for p in read} == digests
    for day in DATES:
        (report, folded), (found, found_folded), *outflows = current_and_folded(views, day)
        assert _figures(report) == _figures(folded), day
        assert found == found_folded, day
        for current, scanned in outflows:
            assert current == scanned, day
        compared += len(found) + sum(row.in_outflow_at_end for row in outflows[0][0][0])
    return compared


def _outflow(report: OutflowReport) -> tuple[Any, ...]:
    return (report.rows, report.moved_out)


def _figures(report: Any) -> tuple[Any, ...]:
    return (
        report.distribution,
        report.assessed,
        report.transitions,
        report.first_assessed,
        report.inactive_assessed,
        report.inactive_on_from,
    )


@PROPERTY
@given(log=st.tuples(st.integers(0, 2**32), st.integers(1, 6), st.integers(0, 80)))
@example(log=(158526891, 2, 29))  # a case reopened after a death (outflow v5)
def test_span_tables_equal_the_fold_on_every_date(
    projection_key: bytes, log: tuple[int, int, int]
) -> None:
    with sqlite_url() as url, opened(url, projection_key) as app:
        spans_equal_the_fold(app, profile_log(*log), batch=1 + log[0] % 25)


@pytest.mark.postgres
def test_span_tables_equal_the_fold_on_postgresql(
    projection_key: bytes, projection_pg: Callable[[], str]
) -> None:
    with opened(projection_pg(), projection_key) as app:
        assert spans_equal_the_fold(app, profile_log(3, 8, 300), 19) > 0
