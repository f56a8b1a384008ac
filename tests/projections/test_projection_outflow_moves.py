"""P2 outflow: moves (``MovedOut``) are counted apart from outflow, by a hand-built scenario."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import pytest

from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.values import Period
from projections import Views
from projections.outflow import OutflowReport, outflow
from tests.projections.test_projection_outflow import last_recorded, person, start

H1 = Period.parse("2024H1")
H2 = Period.parse("2024H2")


def moved_out(app: TrajectoryLedger, pid: UUID, on: date) -> int:
    return app.record(pid, ev.MovedOut, occurred_on=on, destination="abroad").version


def moves(report: OutflowReport) -> dict[str | None, int]:
    return {m.group: m.persons for m in report.moved_out}


@pytest.fixture
def scenario(ledger: TrajectoryLedger) -> dict[str, Any]:
    """Four persons who move; A also started outflow before moving."""
    app = ledger
    a, b, c = (person(app) for _ in range(3))
    e = person(app, "GM0599")
    start(app, a, date(2024, 2, 1), "werk_volledig")
    moved_out(app, a, date(2024, 3, 1))  # A moves in H1
    b_move = moved_out(app, b, date(2024, 7, 5))  # B in July, corrected to June later
    c_move = moved_out(app, c, date(2024, 2, 1))  # C in February, retracted later
    moved_out(app, e, date(2024, 4, 1))  # E (GM0599) in April
    cut = max(last_recorded(app, p) for p in (a, b, c, e))
    app.correct(b, b_move, {"occurred_on": "2024-06-20"}, reason="move date")
    app.retract(c, c_move, reason="did not move")
    return {"cut": cut}


def test_moves_are_counted_apart_and_outflow_is_unchanged(
    views: Views, scenario: dict[str, Any]
) -> None:
    report = outflow(views, H1)
    # A, B (corrected into June) and E; C's move is retracted
    assert moves(report) == {None: 3}
    # outflow counts only A's start: a move is not outflow
    total = next(r for r in report.rows if r.outflow_type == "total")
    assert (total.started, total.in_outflow_at_end) == (1, 1)
    assert moves(outflow(views, H2)) == {None: 0}


def test_moves_as_known_at_the_cut(views: Views, scenario: dict[str, Any]) -> None:
    # before the correction and the retraction: A, C and E in H1, B still in July
    assert moves(outflow(views, H1, as_known_at=scenario["cut"])) == {None: 3}
    assert moves(outflow(views, H2, as_known_at=scenario["cut"])) == {None: 1}


def test_moves_by_municipality(views: Views, scenario: dict[str, Any]) -> None:
    report = outflow(views, H1, by="municipality")
    # A and B moved from GM0622, E from GM0599
    assert moves(report) == {"GM0599": 1, "GM0622": 2}


def test_an_empty_ledger_has_no_moves(views: Views) -> None:
    assert moves(outflow(views, H1)) == {None: 0}
