"""P2 outflow: moves (``MovedOut``) are counted apart from outflow, by a hand-built scenario."""

from __future__ import annotations

from datetime import UTC, date, datetime
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


def test_moves_are_counted_apart_from_outflow(views: Views, scenario: dict[str, Any]) -> None:
    report = outflow(views, H1)
    # A, B (corrected into June) and E; C's move is retracted
    assert moves(report) == {None: 3}
    # outflow counts only A's start: a move is not outflow; A moved away in March, so A is
    # not in outflow at the end of H1 (nobody records the end of a departed person's outflow)
    total = next(r for r in report.rows if r.outflow_type == "total")
    assert (total.started, total.in_outflow_at_end) == (1, 0)
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


def stock(report: OutflowReport, outflow_type: str = "total") -> int:
    return next(r.in_outflow_at_end for r in report.rows if r.outflow_type == outflow_type)


def test_a_person_who_died_or_moved_away_is_not_in_the_stock(ledger: TrajectoryLedger) -> None:
    """D works from February and dies on 1 May; M studies from February, moves away on 1 April
    (case closed) and comes back (case reopened) on 1 September; neither outflow is ever ended.
    W works from March, and W's case is closed in April: a closed case stays in the stock."""
    app = ledger
    d, m, w = (person(app) for _ in range(3))
    start(app, d, date(2024, 2, 1), "werk_volledig")
    start(app, m, date(2024, 2, 1), "onderwijs")
    start(app, w, date(2024, 3, 1), "werk_gedeeltelijk")
    moved_out(app, m, date(2024, 4, 1))
    app.record(m, ev.CaseClosed, occurred_on=date(2024, 4, 1), reason="moved")
    app.record(w, ev.CaseClosed, occurred_on=date(2024, 4, 2), reason="guidance_ended")
    before_death = last_recorded(app, w)
    app.record(d, ev.Deceased, occurred_on=date(2024, 5, 1))
    app.record(m, ev.CaseReopened, occurred_on=date(2024, 9, 1), reason="came back")
    views = Views(app)
    q1, q2, q3 = (Period.parse(f"2024Q{n}") for n in (1, 2, 3))
    # 31 March: all three are in outflow
    assert [stock(outflow(views, q1), t) for t in ("werk_volledig", "onderwijs", "total")] == [
        1,
        1,
        3,
    ]
    # 30 June: D died, M moved away; W (case closed) is still in part-time work
    report = outflow(views, q2)
    assert [stock(report, t) for t in ("werk_volledig", "onderwijs", "total")] == [0, 0, 1]
    # the starts are not touched: all three started in H1
    assert next(r.started for r in outflow(views, H1).rows if r.outflow_type == "total") == 3
    # 30 September: M is back, still studying
    assert [stock(outflow(views, q3), t) for t in ("onderwijs", "total")] == [1, 2]
    # as known before the death was recorded, D was still in outflow on 30 June
    known = outflow(views, q2, as_known_at=before_death)
    assert [stock(known, t) for t in ("werk_volledig", "total")] == [1, 2]
    # the current figures (spans) and the fold of every current fact agree
    for period in (q1, q2, q3, H1, H2):
        for by in (None, "municipality"):
            assert outflow(views, period, by=by).rows == (
                outflow(views, period, by=by, as_known_at=datetime.now(UTC)).rows
            )
