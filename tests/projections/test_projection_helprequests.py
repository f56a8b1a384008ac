"""P10 help requests under MB or spreekuur: a hand-built log, its figures worked out by hand."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from uuid import UUID

import pytest
from life_helpers import A, B, ReportCli, fact, rebuild_equals_catch_up
from projection_events import LogBuilder, append

from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.values import Period
from projections import Views
from projections.helprequests import HELP_REQUESTS, HelpRequestReport, help_requests

Y2024 = Period.parse("2024")
Figures = tuple[int, int, int, int, int, int]


def request(log: LogBuilder, pid: UUID, on: date, category: str, where: str = A) -> int:
    return fact(log, pid, ev.HelpRequestRecorded, on, where, category=category)


def guided(log: LogBuilder, pid: UUID, on: date, year: int = 1) -> int:
    return fact(log, pid, ev.SocialGuidanceStarted, on, year_no=year, provider="VluchtelingenWerk")


def scenario() -> tuple[list[ev.TrajectEvent], datetime]:
    log = LogBuilder(seed=10)
    h1, h2, h3, h4, h5, h6, h7, h8, h9 = (log.register(date(2023, 1, 2)) for _ in range(9))
    guided(log, h1, date(2024, 1, 15))
    request(log, h1, date(2024, 2, 1), "wonen")  # MB
    request(log, h1, date(2024, 3, 1), "financien")  # MB
    request(log, h2, date(2024, 2, 2), "wonen")  # never in MB: spreekuur
    request(log, h2, date(2024, 2, 3), "wonen")
    guided(log, h3, date(2023, 1, 1))
    fact(log, h3, ev.SocialGuidanceEnded, date(2023, 12, 31), year_no=1)
    guided(log, h3, date(2024, 1, 1), year=2)
    fact(log, h3, ev.SocialGuidanceEnded, date(2024, 6, 30), year_no=2)
    request(log, h3, date(2024, 5, 5), "juridisch")  # in year 2: MB
    request(log, h3, date(2024, 8, 8), "juridisch")  # after year 2: spreekuur
    h4_request = request(log, h4, date(2024, 4, 4), "gezondheid")  # later corrected: onderwijs
    h5_request = request(log, h5, date(2024, 6, 6), "overig")  # later retracted
    request(log, h6, date(2024, 3, 10), "participatie")  # MB once its start is recorded
    request(log, h7, date(2024, 9, 9), "wonen", where=B)
    request(log, h8, date(2023, 12, 31), "wonen")  # the year before
    guided(log, h9, date(2024, 10, 10))
    request(log, h9, date(2024, 10, 10), "wonen")  # the day guidance starts: MB
    cut = log.clock

    log.correct(h4, h4_request, category="onderwijs")
    log.retract(h5, h5_request)
    guided(log, h6, date(2024, 3, 1))  # back-dated: recorded after the cut
    return log.events, cut


def figures(report: HelpRequestReport) -> dict[str, Figures]:
    """category → (MB requests, MB persons, spreekuur requests, spreekuur persons, all, all)."""
    return {
        r.category: (
            r.mb_requests,
            r.mb_persons,
            r.spreekuur_requests,
            r.spreekuur_persons,
            r.requests,
            r.persons,
        )
        for r in report.rows
        if r.requests
    }


@pytest.fixture
def cut(ledger: TrajectoryLedger) -> datetime:
    events, moment = scenario()
    append(ledger, events)
    return moment


def test_requests_and_persons_per_category_under_mb_or_spreekuur(
    views: Views, cut: datetime
) -> None:
    report = help_requests(views, Y2024, municipality=A)
    assert figures(report) == {
        # H1 and H9 (MB), H2 twice (spreekuur); H7 is GM0599's, H8's was in 2023
        "wonen": (2, 2, 2, 1, 4, 3),
        "financien": (1, 1, 0, 0, 1, 1),
        # H3 under MB in May, under spreekuur in August: one person in the "all" column
        "juridisch": (1, 1, 1, 1, 2, 1),
        # H4's gezondheid corrected to onderwijs; H5's overig retracted
        "onderwijs": (0, 0, 1, 1, 1, 1),
        # H6: guidance start (back-dated) before the request
        "participatie": (1, 1, 0, 0, 1, 1),
        "total": (5, 4, 4, 3, 9, 6),
    }
    assert [r.category for r in report.rows][-1] == "total"
    assert len(report.rows) == 8  # seven categories, zeros included, and the total


def test_as_known_at_ignores_later_corrections_retractions_and_facts(
    views: Views, cut: datetime
) -> None:
    report = help_requests(views, Y2024, municipality=A, as_known_at=cut)
    assert figures(report) == {
        "wonen": (2, 2, 2, 1, 4, 3),
        "financien": (1, 1, 0, 0, 1, 1),
        "juridisch": (1, 1, 1, 1, 2, 1),
        "gezondheid": (0, 0, 1, 1, 1, 1),
        "overig": (0, 0, 1, 1, 1, 1),
        # H6's guidance was not yet known: spreekuur
        "participatie": (0, 0, 1, 1, 1, 1),
        "total": (4, 3, 6, 5, 10, 7),
    }


def test_every_municipality(views: Views, cut: datetime) -> None:
    # H7's spreekuur request in GM0599 joins
    assert figures(help_requests(views, Y2024))["total"] == (5, 4, 5, 4, 10, 7)


def test_rebuild_equals_catch_up(ledger: TrajectoryLedger, views: Views) -> None:
    rebuild_equals_catch_up(ledger, views, HELP_REQUESTS, scenario()[0])
    assert figures(help_requests(views, Y2024, municipality=A))["total"] == (5, 4, 4, 3, 9, 6)


def test_report_help_requests_command(tmp_path: Path) -> None:
    events, cut = scenario()
    run = ReportCli(tmp_path, events)
    data = run.json("report", "help-requests", "--period", "2024", "--municipality", "GM0622")
    total = data["rows"][-1]
    assert (total["category"], total["mb_persons"], total["spreekuur_persons"]) == ("total", 4, 3)
    assert data["basis"]["projection"] == "helprequests"
    assert data["municipality_name"] == "Vlaardingen"
    rows = run.csv("report", "help-requests", "--period", "2024", "--as-known-at", cut.isoformat())
    assert [r["category"] for r in rows][:2] == ["onderwijs", "financien"]
    assert rows[-1]["requests"] == "11"  # as known at the cut, H7 included
    table = run.table("report", "help-requests", "--period", "2024Q1")
    assert "Help requests 2024Q1" in table
    assert "spreekuur" in table
