"""P1 caseload: a hand-built scenario; who is on whose caseload on which date."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import pytest

from ledger import events as ev
from ledger.application import TrajectoryLedger
from projections import Views
from projections.caseload import CASELOAD, CaseloadRow, caseload


def person(app: TrajectoryLedger, on: date, municipality: str = "GM0622") -> UUID:
    return app.register_person(
        occurred_on=on,
        birth_date=date(1988, 9, 1),
        sex="f",
        nationality=["AF"],
        municipality=municipality,
    ).stream_id


def assign(app: TrajectoryLedger, pid: UUID, on: date, staff: str, role: str = "regisseur") -> int:
    return app.record(pid, ev.CoachAssigned, occurred_on=on, staff_id=staff, role=role).version


def summary(rows: list[CaseloadRow], names: dict[UUID, str]) -> dict[str, tuple[Any, ...]]:
    """name → (municipality, regisseurs, coaches, rung, leerroute)."""
    by_id = {str(pid): name for pid, name in names.items()}
    return {
        by_id[row.person_id]: (
            row.municipality,
            row.regisseurs,
            row.coaches,
            row.rung,
            row.leerroute,
        )
        for row in rows
    }


@pytest.fixture
def scenario(ledger: TrajectoryLedger) -> dict[str, Any]:
    app = ledger
    a = person(app, date(2024, 1, 10))
    b = person(app, date(2024, 1, 15))
    c = person(app, date(2024, 2, 1), municipality="GM0599")
    d = person(app, date(2024, 1, 20))
    e = person(app, date(2024, 1, 25))

    # A: regisseur r.jansen; rung 2 in March, rung 3 in June (corrected to 4 later); B1 from April
    assign(app, a, date(2024, 2, 1), "r.jansen")
    app.record(a, ev.LadderAssessed, occurred_on=date(2024, 3, 1), rung=2, assessor="r.jansen")
    rung_june = app.record(
        a, ev.LadderAssessed, occurred_on=date(2024, 6, 1), rung=3, assessor="r.jansen"
    ).version
    app.record(
        a, ev.LearningRouteStarted, occurred_on=date(2024, 4, 1), route="B1", provider="Taalhuis"
    )
    # B: s.bakker hands over to r.jansen on 1 May; coach m.visser from 15 February
    assign(app, b, date(2024, 2, 1), "s.bakker")
    assign(app, b, date(2024, 2, 15), "m.visser", role="coach")
    app.record(
        b, ev.CoachUnassigned, occurred_on=date(2024, 5, 1), staff_id="s.bakker", role="regisseur"
    )
    assign(app, b, date(2024, 5, 1), "r.jansen")
    # C (GM0599): r.jansen; the case is closed in June (later retracted)
    assign(app, c, date(2024, 2, 10), "r.jansen")
    closed = app.record(c, ev.CaseClosed, occurred_on=date(2024, 6, 15), reason="other").version
    # D: r.jansen (recorded first as s.bakker, corrected later); moves abroad end of April
    wrong_staff = assign(app, d, date(2024, 2, 1), "s.bakker")
    app.record(d, ev.MovedOut, occurred_on=date(2024, 4, 30), destination="abroad")
    # E: no regisseur; dies in May
    app.record(e, ev.Deceased, occurred_on=date(2024, 5, 20))

    cut: datetime = list(app.stream_events(e))[-1].timestamp
    app.correct(a, rung_june, {"rung": "4"}, reason="typo")
    app.retract(c, closed, reason="closed in error")
    app.correct(d, wrong_staff, {"staff_id": "r.jansen"}, reason="wrong colleague")
    return {"app": app, "cut": cut, "names": {a: "A", b: "B", c: "C", d: "D", e: "E"}}


def test_caseload_on_a_date_uses_what_was_true_on_that_date(
    views: Views, scenario: dict[str, Any]
) -> None:
    names = scenario["names"]
    assert summary(caseload(views, date(2024, 3, 31)), names) == {
        "A": ("GM0622", ("r.jansen",), (), 2, None),
        "B": ("GM0622", ("s.bakker",), ("coach:m.visser",), None, None),
        "C": ("GM0599", ("r.jansen",), (), None, None),
        "D": ("GM0622", ("r.jansen",), (), None, None),
        "E": ("GM0622", (), (), None, None),
    }
    # by July: A's June rung is corrected to 4, B was handed over, C's closure was retracted,
    # D moved out and E died
    assert summary(caseload(views, date(2024, 7, 1)), names) == {
        "A": ("GM0622", ("r.jansen",), (), 4, "B1"),
        "B": ("GM0622", ("r.jansen",), ("coach:m.visser",), None, None),
        "C": ("GM0599", ("r.jansen",), (), None, None),
    }
    # before anyone was registered, the caseload is empty
    assert caseload(views, date(2024, 1, 1)) == []


def test_caseload_filters_by_coach_and_municipality(views: Views, scenario: dict[str, Any]) -> None:
    names = scenario["names"]
    july = date(2024, 7, 1)
    assert set(summary(caseload(views, july, coach="r.jansen"), names)) == {"A", "B", "C"}
    assert set(summary(caseload(views, july, coach="m.visser"), names)) == {"B"}
    assert set(summary(caseload(views, date(2024, 3, 1), coach="s.bakker"), names)) == {"B"}
    assert set(summary(caseload(views, july, municipality="GM0599"), names)) == {"C"}


def test_caseload_as_known_at_ignores_later_corrections_and_retractions(
    views: Views, scenario: dict[str, Any]
) -> None:
    names = scenario["names"]
    known = summary(caseload(views, date(2024, 7, 1), as_known_at=scenario["cut"]), names)
    # C was still closed, A's June rung still 3
    assert known == {
        "A": ("GM0622", ("r.jansen",), (), 3, "B1"),
        "B": ("GM0622", ("r.jansen",), ("coach:m.visser",), None, None),
    }
    # D was on s.bakker's caseload as then known
    march = caseload(views, date(2024, 3, 31), coach="s.bakker", as_known_at=scenario["cut"])
    assert set(summary(march, names)) == {"B", "D"}


def test_the_persons_table_holds_each_persons_latest_status_for_analysts(
    views: Views, scenario: dict[str, Any]
) -> None:
    caseload(views, date(2024, 7, 1))  # catches up
    names = {str(pid): name for pid, name in scenario["names"].items()}
    with views.transaction(commit=False) as tx:
        rows = tx.all(
            "SELECT person_id, municipality, active, regisseurs, coaches, rung, leerroute"
            f" FROM {views.table('caseload_persons')} ORDER BY person_id"
        )
    assert {names[r[0]]: r[1:] for r in rows} == {
        "A": ("GM0622", 1, "r.jansen", "", 4, "B1"),
        "B": ("GM0622", 1, "r.jansen", "coach:m.visser", None, None),
        "C": ("GM0599", 1, "r.jansen", "", None, None),
        "D": ("GM0622", 0, "r.jansen", "", None, None),
        "E": ("GM0622", 0, "", "", None, None),
    }
    # and the fact table keeps both revisions of A's corrected rung
    facts = views.table(CASELOAD.facts_table.name)
    with views.transaction(commit=False) as tx:
        rung_rows = tx.all(
            f"SELECT revision, value, known_to IS NULL FROM {facts}"
            " WHERE slot = 'rung' AND occurred_on = '2024-06-01' ORDER BY revision"
        )
    assert [(r[0], r[1], bool(r[2])) for r in rung_rows] == [(0, "3", False), (1, "4", True)]
