"""``inburgering_status``: each person's inburgering status read from the span table equals the
fold of every current fact, on every date of random logs with duties, plans, exams, term
extensions and the rest, their corrections (back-dating included) and retractions; caught up
batch by batch or rebuilt; and so do the reports that read it (caseload signals, plans,
inburgering); on both stores."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from projection_events import GEMEENTEN, LogBuilder, append, chunks, opened, sqlite_url

from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.values import Period
from projections import Views, catch_up, rebuild
from projections.caseload import CASELOAD, caseload, caseload_report
from projections.duty import INBURGERING, InburgeringStatus, statuses
from projections.inburgering import inburgering
from projections.plans import plans

EVERYTHING = datetime(2100, 1, 1, tzinfo=UTC)  # after every recording: every current fact
DATES = [date(2023, 6, 1) + timedelta(days=37 * n) for n in range(30)]
PROPERTY = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _duty_fact(builder: LogBuilder, person: UUID) -> tuple[type[ev.TrajectEvent], dict[str, Any]]:
    """A random inburgering fact of ``person`` (class and fields)."""
    rng = builder.rng
    day = builder.random_day()
    choices: list[tuple[type[ev.TrajectEvent], dict[str, Any]]] = [
        (
            ev.InburgeringDutyEstablished,
            {
                "duty_start": day - timedelta(days=rng.randrange(900)),
                "term_end": rng.choice((None, day + timedelta(days=1000))),
            },
        ),
        (ev.BrpRegistered, {}),
        (ev.Housed, {"housing_kind": "regulier", "route": "koppeling"}),
        (ev.BroadIntakeStarted, {"by": "t.tester"}),
        (
            ev.PipAdopted,
            {
                "version": rng.randint(1, 3),
                "leerroute": rng.choice(("B1", "onderwijs", "Z")),
                "hoofddoel": "werk",
                "pvt_intensity": "standaard",
                "map_intensity": "standaard",
                "decision_ref": "PIP",
            },
        ),
        (ev.LearningRouteChanged, {"route": rng.choice(("B1", "Z")), "provider": "school"}),
        (ev.DowngradedToA2, {}),
        (ev.PvtCompleted, {"provider": "pvt", "hours": 12}),
        (ev.MapCompleted, {}),
        (ev.OnaCompleted, {"mode": "eindgesprek"}),
        (
            ev.ExamResultRecorded,
            {
                "component": rng.choice(("lezen", "knm", "spreken")),
                "level": "B1",
                "result": rng.choice(("geslaagd", "gezakt")),
                "attempt_no": rng.randint(1, 3),
            },
        ),
        (
            ev.TermExtended,
            {"new_end": day + timedelta(days=rng.randrange(1500)), "ground": "ziekte"},
        ),
        (ev.InburgeringDutyFulfilled, {"basis": "diploma"}),
    ]
    cls, fields = rng.choice(choices)
    return cls, {"occurred_on": day, **fields}


def duty_log(seed: int, persons: int, steps: int) -> list[ev.TrajectEvent]:
    """Registrations, ladder assessments and coaches (``LogBuilder``'s random steps) plus
    random inburgering facts, their corrections (to another date, sometimes another
    municipality) and retractions."""
    builder = LogBuilder(seed)
    rng = builder.rng
    people = [builder.register(builder.random_day()) for _ in range(persons)]
    duties: dict[UUID, list[int]] = {}
    for _ in range(steps):
        person = rng.choice(people)
        roll = rng.random()
        if roll < 0.55:
            cls, fields = _duty_fact(builder, person)
            fields["municipality"] = rng.choice(GEMEENTEN)
            event = builder.add(person, cls, **fields)
            duties.setdefault(person, []).append(event.originator_version)
        elif roll < 0.68 and duties.get(person):
            target = rng.choice(duties[person])
            builder.correct(person, target, occurred_on=builder.random_day().isoformat())
        elif roll < 0.74 and duties.get(person):
            builder.retract(person, duties[person].pop(rng.randrange(len(duties[person]))))
        else:
            builder.random_step(person)
    return builder.events


def _relevant(status: InburgeringStatus) -> InburgeringStatus:
    """What a report reads of a status: without a duty and a PIP, nothing (the empty status)."""
    if status.has_duty or status.pip_version:
        return status
    return InburgeringStatus(status.person_id)


def _compare(views: Views, day: date) -> int:
    """The span table's statuses and the reports on ``day`` equal the fold's; returns the
    number of persons with a status that a report reads."""
    fast, fold = caseload_report(views, day), caseload_report(views, day, as_known_at=EVERYTHING)
    with views.transaction(commit=False) as tx:  # every person, on the caseload or not
        facts = tx.table(CASELOAD.facts_table.name)
        persons = [str(p) for (p,) in tx.all(f"SELECT DISTINCT stream_id FROM {facts}")]
        current = statuses(tx, day, None, persons)
        folded = statuses(tx, day, EVERYTHING, persons)
    assert current == {p: _relevant(s) for p, s in folded.items()}, day
    assert (fast.entries, fast.by_signal) == (fold.entries, fold.by_signal), day
    fast_p7, fold_p7 = inburgering(views, day), inburgering(views, day, as_known_at=EVERYTHING)
    assert (fast_p7.routes, fast_p7.exams, fast_p7.risk) == (
        fold_p7.routes,
        fold_p7.exams,
        fold_p7.risk,
    ), day
    period = Period.parse(f"{day.year}H{1 if day.month <= 6 else 2}")
    fast_p6, fold_p6 = plans(views, period), plans(views, period, as_known_at=EVERYTHING)
    assert (fast_p6.with_plan, fast_p6.pip_due, fast_p6.pip_on_time, fast_p6.cohorts) == (
        fold_p6.with_plan,
        fold_p6.pip_due,
        fold_p6.pip_on_time,
        fold_p6.cohorts,
    ), day
    assert caseload(views, day) == caseload(views, day, as_known_at=EVERYTHING)
    return sum(1 for s in current.values() if s.has_duty)


def status_equals_the_fold(app: TrajectoryLedger, events: list[ev.TrajectEvent], batch: int) -> int:
    """Returns the number of statuses with a duty compared."""
    views = Views(app)
    for chunk in chunks(events, batch):
        append(app, chunk)
        for day in DATES[::9]:
            _compare(views, day)
    digest = catch_up(views, INBURGERING).digest
    assert rebuild(views, INBURGERING).digest == digest
    return sum(_compare(views, day) for day in DATES)


@PROPERTY
@given(log=st.tuples(st.integers(0, 2**32), st.integers(1, 6), st.integers(0, 80)))
def test_inburgering_status_equals_the_fold_on_every_date(
    projection_key: bytes, log: tuple[int, int, int]
) -> None:
    with sqlite_url() as url, opened(url, projection_key) as app:
        status_equals_the_fold(app, duty_log(*log), batch=1 + log[0] % 25)


def test_inburgering_status_compares_duties(projection_key: bytes) -> None:
    """The random logs do reach statuses with a duty (the property is not vacuous)."""
    with sqlite_url() as url, opened(url, projection_key) as app:
        assert status_equals_the_fold(app, duty_log(5, 6, 200), 23) > 0


@pytest.mark.postgres
def test_inburgering_status_equals_the_fold_on_postgresql(
    projection_key: bytes, projection_pg: Callable[[], str]
) -> None:
    with opened(projection_pg(), projection_key) as app:
        assert status_equals_the_fold(app, duty_log(3, 8, 300), 19) > 0
