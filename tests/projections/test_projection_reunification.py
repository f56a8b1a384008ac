"""P9 family reunification: a hand-built log whose figures are worked out by hand."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from life_helpers import A, B, ReportCli, fact, rebuild_equals_catch_up
from projection_events import LogBuilder, append

from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.values import Period
from projections import Views
from projections.reunification import REUNIFICATION, ReunificationReport, reunification

Y2024 = Period.parse("2024")


def applied(
    log: LogBuilder, pid: UUID, on: date, *, file_no: int = 1, late: bool | None, where: str = A
) -> int:
    return fact(
        log,
        pid,
        ev.FamilyReunificationApplied,
        on,
        where,
        file_no=file_no,
        members=["partner"],
        late=late,
        rule_version=None if late is None else "2026.1",
    )


def closed(log: LogBuilder, pid: UUID, on: date, closure: str, file_no: int = 1) -> int:
    return fact(log, pid, ev.FamilyReunificationClosed, on, file_no=file_no, closure=closure)


def arrived(log: LogBuilder, pid: UUID, on: date, relation: str) -> int:
    return fact(log, pid, ev.NareizigerArrived, on, relation=relation)


def scenario() -> tuple[list[ev.TrajectEvent], datetime]:
    log = LogBuilder(seed=9)
    r1, r2, r3, r4, r5, r6, r7 = (log.register(date(2022, 1, 1)) for _ in range(7))
    applied(log, r1, date(2023, 5, 1), late=False)
    fact(log, r1, ev.FamilyReunificationDecided, date(2023, 11, 1), outcome="ingewilligd")
    arrived(log, r1, date(2024, 2, 10), "partner")
    arrived(log, r1, date(2024, 2, 10), "kind")
    closed(log, r1, date(2024, 3, 1), "herenigd")
    applied(log, r1, date(2024, 4, 1), file_no=2, late=True)  # a second file, filed late
    applied(log, r2, date(2022, 1, 1), late=False)
    closed(log, r2, date(2023, 6, 1), "afgewezen")  # closed before 2024
    applied(log, r3, date(2024, 2, 2), late=False)
    fact(log, r3, ev.FamilyReunificationDecided, date(2024, 8, 1), outcome="afgewezen")
    closed(log, r3, date(2024, 9, 1), "afgewezen")
    r4_applied = applied(log, r4, date(2024, 3, 3), late=None)  # no flag; later retracted
    applied(log, r5, date(2023, 10, 10), late=False)
    r5_closed = closed(log, r5, date(2024, 5, 5), "ingetrokken")  # later corrected: herenigd
    applied(log, r6, date(2024, 6, 6), late=False, where=B)
    cut = log.clock

    log.retract(r4, r4_applied)
    log.correct(r5, r5_closed, closure="herenigd")
    # R7's whole file is recorded late, after the cut
    applied(log, r7, date(2023, 9, 9), late=False)
    arrived(log, r7, date(2024, 7, 7), "kind")
    closed(log, r7, date(2024, 8, 8), "herenigd")
    return log.events, cut


def figures(report: ReunificationReport) -> dict[str, Any]:
    return {
        "files": (report.open_at_start, report.new_files, report.handled, report.open_at_end),
        "closed": {c.key: c.count for c in report.closed},
        "reunited": (report.closed_successfully, report.families_reunited),
        "applications": (report.applications, report.late_applications, report.late_unknown),
        "decisions": {c.key: c.count for c in report.decisions if c.count},
        "arrived": report.nareizigers_arrived,
    }


@pytest.fixture
def cut(ledger: TrajectoryLedger) -> datetime:
    events, moment = scenario()
    append(ledger, events)
    return moment


def test_files_closures_arrivals_and_late_applications(views: Views, cut: datetime) -> None:
    report = reunification(views, Y2024, municipality=A)
    assert figures(report) == {
        # open on 1 January: R1 file 1, R5, R7 (back-dated); R2 closed in 2023
        # new: R1 file 2, R3 (R4 retracted); handled 3 + 2; open at the end: R1 file 2
        "files": (3, 2, 5, 1),
        # R1 file 1, R5 (corrected from ingetrokken), R7 reunited; R3 refused
        "closed": {"herenigd": 3, "afgewezen": 1, "ingetrokken": 0},
        "reunited": (3, 3),
        # R1 file 2 (late) and R3 filed in 2024
        "applications": (2, 1, 0),
        "decisions": {"afgewezen": 1},
        # R1's partner and child, R7's child
        "arrived": 3,
    }
    assert report.municipality_name == "Vlaardingen"


def test_as_known_at_ignores_later_corrections_retractions_and_facts(
    views: Views, cut: datetime
) -> None:
    report = reunification(views, Y2024, municipality=A, as_known_at=cut)
    assert figures(report) == {
        # open: R1 file 1, R5; new: R1 file 2, R3, R4; open at the end: R1 file 2, R4
        "files": (2, 3, 5, 2),
        "closed": {"herenigd": 1, "afgewezen": 1, "ingetrokken": 1},
        "reunited": (1, 1),
        # R4's application had no late flag
        "applications": (3, 1, 1),
        "decisions": {"afgewezen": 1},
        "arrived": 2,
    }


def test_every_municipality_and_an_earlier_period(views: Views, cut: datetime) -> None:
    # R6's file in GM0599 joins: new, applied and still open
    assert figures(reunification(views, Y2024))["files"] == (3, 3, 6, 2)
    # 2023: open on 1 January R2; new R1, R5, R7; R2 closed; open at the end R1, R5, R7
    earlier = figures(reunification(views, Period.parse("2023"), municipality=A))
    assert earlier["files"] == (1, 3, 4, 3)
    assert earlier["decisions"] == {"ingewilligd": 1}


def test_rebuild_equals_catch_up(ledger: TrajectoryLedger, views: Views) -> None:
    rebuild_equals_catch_up(ledger, views, REUNIFICATION, scenario()[0])
    assert figures(reunification(views, Y2024, municipality=A))["files"] == (3, 2, 5, 1)


def test_report_reunification_command(tmp_path: Path) -> None:
    events, cut = scenario()
    run = ReportCli(tmp_path, events)
    data = run.json("report", "reunification", "--period", "2024", "--municipality", "GM0622")
    assert (data["open_at_start"], data["new_files"], data["handled"]) == (3, 2, 5)
    assert data["closed"] == {"afgewezen": 1, "herenigd": 3, "ingetrokken": 0}
    assert (data["late_applications"], data["nareizigers_arrived"]) == (1, 3)
    assert data["basis"]["projection"] == "reunification"
    rows = run.csv_as_known_at(
        "report", "reunification", "--period", "2024", "--as-known-at", cut.isoformat()
    )
    assert {"municipality": "", "figure": "late_unknown", "key": "", "count": "1"} in rows
    assert {"municipality": "", "figure": "closed", "key": "ingetrokken", "count": "1"} in rows
    table = run.table("report", "reunification", "--period", "2024H2")
    assert "Family reunification 2024H2" in table
    assert "files handled" in table
