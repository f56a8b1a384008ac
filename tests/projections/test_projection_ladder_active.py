"""P5 Participatieladder over active clients: closed, moved-out and deceased persons are counted
apart; figures worked out by hand from a hand-built log."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import pytest
from projection_events import LogBuilder, append

from ledger import events as ev
from ledger.application import TrajectoryLedger
from projections import Views
from projections.ladder import ladder
from tests.projections.test_projection_ladder import assess, distribution, transitions

ON, FROM = date(2024, 6, 30), date(2024, 1, 31)


def closed(log: LogBuilder, pid: UUID, on: date) -> int:
    return log.add(pid, ev.CaseClosed, occurred_on=on, reason="other").originator_version


@pytest.fixture
def cut(ledger: TrajectoryLedger) -> datetime:
    """Six persons (A–F); the originals, then the cut, then F's closure is retracted."""
    log = LogBuilder(seed=7)
    a, b, c, d, e, f = (log.register(date(2023, 10, 1)) for _ in range(6))
    assess(log, a, date(2024, 1, 10), 2)  # A active throughout: 2 → 3
    assess(log, a, date(2024, 4, 1), 3)
    assess(log, b, date(2024, 1, 5), 1)  # B closed in May: not active on ON
    closed(log, b, date(2024, 5, 1))
    assess(log, c, date(2024, 1, 5), 4)  # C closed on FROM, reopened in March: 4 → 5
    closed(log, c, date(2024, 1, 20))
    log.add(c, ev.CaseReopened, occurred_on=date(2024, 3, 1))
    assess(log, c, date(2024, 4, 1), 5)
    assess(log, d, date(2024, 2, 10), 2)  # D died on ON itself: not active on ON
    log.add(d, ev.Deceased, occurred_on=ON)
    assess(log, e, date(2024, 1, 1), 6)  # E moves out after ON: still active on ON
    log.add(e, ev.MovedOut, occurred_on=date(2024, 7, 1), destination="abroad")
    assess(log, f, date(2024, 3, 1), 1)  # F first assessed after FROM; closure retracted
    f_closed = closed(log, f, date(2024, 4, 1))
    moment = log.clock
    log.retract(f, f_closed)
    append(ledger, log.events)
    return moment


def test_the_distribution_counts_active_clients_only(views: Views, cut: datetime) -> None:
    report = ladder(views, ON, from_date=FROM)
    # active on ON: A rung 3, C rung 5, E rung 6, F rung 1; B (closed) and D (died) apart
    assert distribution(report) == {1: 1, 3: 1, 5: 1, 6: 1}
    assert (report.assessed, report.inactive_assessed) == (4, 2)
    # active and assessed on both dates: A 2 → 3, E 6 → 6; C was closed on FROM; F is new
    assert transitions(report) == {(2, 3): 1, (6, 6): 1}
    assert (report.first_assessed, report.inactive_on_from) == (1, 1)
    cells = sum(t.persons for t in report.transitions)
    assert cells + report.first_assessed + report.inactive_on_from == report.assessed


def test_on_the_first_date_only_the_open_cases_count(views: Views, cut: datetime) -> None:
    report = ladder(views, FROM)
    # on FROM: A rung 2, B rung 1, E rung 6 active; C (closed on 20 January) apart
    assert distribution(report) == {1: 1, 2: 1, 6: 1}
    assert (report.assessed, report.inactive_assessed) == (3, 1)
    assert (report.first_assessed, report.inactive_on_from) == (0, 0)


def test_as_known_at_uses_the_closure_before_its_retraction(views: Views, cut: datetime) -> None:
    report = ladder(views, ON, from_date=FROM, as_known_at=cut)
    # F's closure was not yet retracted: F is not active on ON
    assert distribution(report) == {3: 1, 5: 1, 6: 1}
    assert (report.assessed, report.inactive_assessed) == (3, 3)
    assert (report.first_assessed, report.inactive_on_from) == (0, 1)
