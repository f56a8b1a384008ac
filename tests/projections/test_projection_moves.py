"""A move between two municipalities of one ledger: each report counts the person once, in the
municipality they live in (P1 caseload, P2 outflow, P5 ladder, P15 dashboard), by a hand-built
scenario whose figures are worked out in the comments.

All four persons are registered in Vlaardingen (GM0622) on 2 January 2024.

* A: regisseur r.jansen (10 Jan), rung 2 (20 Jan), part-time work from 1 Feb; moves to
  Schiedam (GM0606) on 15 May; registered in Schiedam's BRP on 20 May; regisseur s.devries
  there on 21 May. No one ends A's work or r.jansen's assignment.
* B: moves to Schiedam on 15 May; no arrival is recorded.
* C: case closed on 1 March; registered in Schiedam's BRP on 1 April (a closure is no move).
* D: regisseur r.jansen (10 Jan), rung 4 (20 Jan); stays in Vlaardingen.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import pytest

from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.values import Period
from projections import Views
from projections.caseload import caseload
from projections.dashboard import dashboard
from projections.ladder import ladder
from projections.outflow import OutflowReport, outflow
from tests.projections.test_projection_outflow import last_recorded, person, start

VLAARDINGEN, SCHIEDAM = "GM0622", "GM0606"
Q2 = Period.parse("2024Q2")
JUNE_30 = date(2024, 6, 30)


def regisseur(app: TrajectoryLedger, pid: UUID, on: date, staff: str, where: str) -> None:
    app.record(
        pid, ev.CoachAssigned, occurred_on=on, staff_id=staff, role="regisseur",
        municipality=where,
    )  # fmt: skip


def moves_to_schiedam(app: TrajectoryLedger, pid: UUID) -> None:
    app.record(
        pid, ev.MovedOut, occurred_on=date(2024, 5, 15), destination="gemeente",
        destination_municipality=SCHIEDAM, municipality=VLAARDINGEN,
    )  # fmt: skip


def brp(app: TrajectoryLedger, pid: UUID, on: date) -> None:
    app.record(pid, ev.BrpRegistered, occurred_on=on, municipality=SCHIEDAM)


@pytest.fixture
def people(ledger: TrajectoryLedger) -> dict[str, Any]:
    app = ledger
    a, b, c, d = (person(app) for _ in range(4))
    for pid, rung in ((a, 2), (d, 4)):
        regisseur(app, pid, date(2024, 1, 10), "r.jansen", VLAARDINGEN)
        app.record(
            pid, ev.LadderAssessed, occurred_on=date(2024, 1, 20), rung=rung, assessor="r.jansen"
        )
    start(app, a, date(2024, 2, 1), "werk_gedeeltelijk")
    moves_to_schiedam(app, a)
    moves_to_schiedam(app, b)
    app.record(c, ev.CaseClosed, occurred_on=date(2024, 3, 1), reason="guidance_ended")
    brp(app, c, date(2024, 4, 1))
    before_arrival = max(last_recorded(app, p) for p in (a, b, c, d))
    brp(app, a, date(2024, 5, 20))
    regisseur(app, a, date(2024, 5, 21), "s.devries", SCHIEDAM)
    return {"A": str(a), "D": str(d), "before_arrival": before_arrival}


def persons(views: Views, on: date, **options: Any) -> list[tuple[str, str, tuple[str, ...]]]:
    return [
        (row.person_id, row.municipality, row.regisseurs) for row in caseload(views, on, **options)
    ]


def stock(report: OutflowReport, group: str | None) -> int:
    return next(
        r.in_outflow_at_end for r in report.rows if r.group == group and r.outflow_type == "total"
    )


def test_the_caseload_counts_a_person_who_moved_in_the_municipality_they_live_in(
    views: Views, people: dict[str, Any]
) -> None:
    a, d = people["A"], people["D"]
    # between the move (15 May) and the arrival (20 May) A is on no caseload
    assert persons(views, date(2024, 5, 17)) == sorted([(d, VLAARDINGEN, ("r.jansen",))])
    # on 30 June: A in Schiedam with Schiedam's regisseur only (r.jansen's assignment ended
    # with the move); B moved without an arrival, C's case is closed: on none
    expected = sorted([(a, SCHIEDAM, ("s.devries",)), (d, VLAARDINGEN, ("r.jansen",))])
    assert sorted(persons(views, JUNE_30)) == expected
    assert persons(views, JUNE_30, municipality=SCHIEDAM) == [(a, SCHIEDAM, ("s.devries",))]
    assert persons(views, JUNE_30, municipality=VLAARDINGEN) == [(d, VLAARDINGEN, ("r.jansen",))]
    assert [row.person_id for row in caseload(views, JUNE_30, coach="r.jansen")] == [d]
    # the fold of every known fact gives the same
    now = datetime.now(UTC)
    assert sorted(persons(views, JUNE_30, as_known_at=now)) == expected
    # as known before the arrival was recorded, A was on no caseload
    before = people["before_arrival"]
    assert persons(views, JUNE_30, as_known_at=before) == [(d, VLAARDINGEN, ("r.jansen",))]


def test_the_stock_in_outflow_counts_a_person_who_moved_where_they_live(
    views: Views, people: dict[str, Any]
) -> None:
    now = datetime.now(UTC)
    for known in (None, now):
        report = outflow(views, Q2, by="municipality", as_known_at=known)
        # A still works on 30 June, now living in Schiedam; B and A moved out of Vlaardingen
        assert stock(report, SCHIEDAM) == 1
        assert stock(report, VLAARDINGEN) == 0
        assert {m.group: m.persons for m in report.moved_out} == {SCHIEDAM: 0, VLAARDINGEN: 2}
        assert stock(outflow(views, Q2, as_known_at=known), None) == 1  # once in the total
        assert stock(outflow(views, Q2, municipality=SCHIEDAM, as_known_at=known), None) == 1
    # the start stays where it happened: Vlaardingen, in Q1
    q1 = outflow(views, Period.parse("2024Q1"), by="municipality")
    assert [(r.group, r.started) for r in q1.rows if r.outflow_type == "total"] == [
        (VLAARDINGEN, 1)
    ]
    # as known before the arrival, A had moved away and was in no stock
    assert stock(outflow(views, Q2, as_known_at=people["before_arrival"]), None) == 0


def test_the_ladder_counts_a_person_who_moved_where_they_live(
    views: Views, people: dict[str, Any]
) -> None:
    for known in (None, datetime.now(UTC)):
        # A's rung 2 was assessed in Vlaardingen, but A lives in Schiedam on 30 June
        schiedam = ladder(views, JUNE_30, municipality=SCHIEDAM, as_known_at=known)
        assert (schiedam.assessed, schiedam.inactive_assessed) == (1, 0)
        assert [c.persons for c in schiedam.distribution] == [0, 1, 0, 0, 0, 0]
        vlaardingen = ladder(views, JUNE_30, municipality=VLAARDINGEN, as_known_at=known)
        assert (vlaardingen.assessed, vlaardingen.inactive_assessed) == (1, 0)  # D
        assert [c.persons for c in vlaardingen.distribution] == [0, 0, 0, 1, 0, 0]


def test_each_dashboard_counts_the_person_once(views: Views, people: dict[str, Any]) -> None:
    figures = {
        (where, name): dashboard(views, Q2, municipality=where).value(*name)
        for where in (VLAARDINGEN, SCHIEDAM)
        for name in (
            ("caseload", "active"),
            ("outflow", "in_outflow_at_end", "total"),
            ("outflow", "moved_out"),
            ("ladder", "assessed"),
        )
    }
    assert figures == {
        (VLAARDINGEN, ("caseload", "active")): 1,  # D
        (VLAARDINGEN, ("outflow", "in_outflow_at_end", "total")): 0,
        (VLAARDINGEN, ("outflow", "moved_out")): 2,  # A and B
        (VLAARDINGEN, ("ladder", "assessed")): 1,  # D
        (SCHIEDAM, ("caseload", "active")): 1,  # A
        (SCHIEDAM, ("outflow", "in_outflow_at_end", "total")): 1,  # A
        (SCHIEDAM, ("outflow", "moved_out")): 0,
        (SCHIEDAM, ("ladder", "assessed")): 1,  # A
    }
    # the municipalities add up to the ledger's dashboard
    whole = dashboard(views, Q2)
    assert whole.value("caseload", "active") == 2
    assert whole.value("outflow", "in_outflow_at_end", "total") == 1
    assert whole.value("ladder", "assessed") == 2


def test_an_arrival_dated_before_the_move_or_retracted_does_not_end_it(
    ledger: TrajectoryLedger, views: Views, people: dict[str, Any]
) -> None:
    a = UUID(people["A"])
    arrival = next(e for e in ledger.stream_events(a) if isinstance(e, ev.BrpRegistered))
    # the arrival corrected to 10 May, before the move of 15 May: the move is what came last
    ledger.correct(a, arrival.originator_version, {"occurred_on": "2024-05-10"}, reason="date")
    assert [row.person_id for row in caseload(views, JUNE_30)] == [people["D"]]
    assert stock(outflow(views, Q2), None) == 0
    assert ladder(views, JUNE_30, municipality=SCHIEDAM).assessed == 0
    # corrected back to 20 May: in Schiedam again
    ledger.correct(a, arrival.originator_version, {"occurred_on": "2024-05-20"}, reason="date")
    assert [row.municipality for row in caseload(views, JUNE_30, municipality=SCHIEDAM)] == [
        SCHIEDAM
    ]
    # retracted: no arrival at all
    ledger.retract(a, arrival.originator_version, reason="not registered there")
    for known in (None, datetime.now(UTC)):
        assert [row.person_id for row in caseload(views, JUNE_30, as_known_at=known)] == [
            people["D"]
        ]
        assert stock(outflow(views, Q2, as_known_at=known), None) == 0
        assert ladder(views, JUNE_30, as_known_at=known).inactive_assessed == 1  # A


def test_as_known_now_the_scan_counts_what_the_read_model_holds(
    ledger: TrajectoryLedger, views: Views, people: dict[str, Any]
) -> None:
    # E starts work and F is assessed in Vlaardingen; neither moves out, but each is registered
    # in Schiedam's BRP after that: both are counted where they live, without a move to end
    e, f = person(ledger), person(ledger)
    start(ledger, e, date(2024, 2, 1), "werk_volledig")
    ledger.record(f, ev.LadderAssessed, occurred_on=date(2024, 1, 20), rung=3, assessor="x")
    for pid in (e, f):
        brp(ledger, pid, date(2024, 4, 1))
    now = datetime.now(UTC)
    for period in (Period.parse(f"2024Q{n}") for n in (1, 2, 3)):
        for options in (
            {},
            {"by": "municipality"},
            {"municipality": SCHIEDAM},
            {"municipality": VLAARDINGEN},
        ):
            current = outflow(views, period, **options)
            assert replace(
                outflow(views, period, as_known_at=now, **options), as_known_at=None
            ) == (current)
    assert stock(outflow(views, Q2, as_known_at=now, municipality=SCHIEDAM), None) == 2  # A, E
    for day in (date(2024, 1, 31), date(2024, 4, 30), date(2024, 5, 17), JUNE_30):
        for where in (None, SCHIEDAM, VLAARDINGEN):
            for since in (None, date(2024, 1, 1)):
                current = ladder(views, day, from_date=since, municipality=where)
                known = ladder(views, day, from_date=since, municipality=where, as_known_at=now)
                assert replace(known, as_known_at=None) == current
    schiedam = ladder(views, JUNE_30, municipality=SCHIEDAM, as_known_at=now)
    assert [c.persons for c in schiedam.distribution] == [0, 1, 1, 0, 0, 0]  # A and F
