"""P8 maatschappelijke begeleiding: a hand-built log whose figures are worked out by hand."""

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
from projections.guidance import GUIDANCE, GuidanceReport, guidance, in_guidance

Y2024 = Period.parse("2024")
VWN, WELKOM = "VluchtelingenWerk", "Stichting Welkom"


def start(log: LogBuilder, pid: UUID, on: date, year: int, provider: str, where: str = A) -> int:
    return fact(log, pid, ev.SocialGuidanceStarted, on, where, year_no=year, provider=provider)


def end(log: LogBuilder, pid: UUID, on: date, year: int) -> int:
    return fact(log, pid, ev.SocialGuidanceEnded, on, year_no=year)


def scenario() -> tuple[list[ev.TrajectEvent], datetime]:
    log = LogBuilder(seed=8)
    g1, g2, g3, g4, g5, g6, g7, g8 = (log.register(date(2023, 1, 2)) for _ in range(8))
    start(log, g1, date(2023, 3, 1), 1, VWN)
    end(log, g1, date(2024, 2, 28), 1)
    start(log, g1, date(2024, 3, 1), 2, VWN)
    start(log, g2, date(2024, 5, 1), 1, VWN)
    start(log, g3, date(2024, 6, 1), 1, WELKOM)
    end(log, g3, date(2024, 11, 30), 1)
    g4_start = start(log, g4, date(2024, 7, 1), 1, VWN)  # later retracted
    g5_start = start(log, g5, date(2024, 2, 1), 1, VWN)  # later corrected to year 2
    start(log, g7, date(2025, 1, 5), 1, VWN)  # the next year
    start(log, g8, date(2024, 4, 4), 1, VWN, where=B)
    cut = log.clock

    log.retract(g4, g4_start)
    log.correct(g5, g5_start, year_no=2)
    start(log, g6, date(2024, 9, 9), 1, WELKOM)  # back-dated: recorded after the cut
    return log.events, cut


def figures(report: GuidanceReport) -> dict[str, tuple[int, int, int]]:
    return {r.year_no: (r.started, r.ended, r.active_at_end) for r in report.rows}


@pytest.fixture
def cut(ledger: TrajectoryLedger) -> datetime:
    events, moment = scenario()
    append(ledger, events)
    return moment


def test_a_person_is_in_guidance_from_a_start_until_an_end() -> None:
    facts = [("2024-01-01", 2, "SocialGuidanceStarted"), ("2024-06-30", 3, "SocialGuidanceEnded")]
    assert not in_guidance(facts, "2023-12-31")
    assert in_guidance(facts, "2024-01-01")
    assert not in_guidance(facts, "2024-06-30")


def test_started_ended_and_active_per_guidance_year(views: Views, cut: datetime) -> None:
    report = guidance(views, Y2024, municipality=A)
    assert figures(report) == {
        # started: G2, G3, G6 (back-dated); not G4 (retracted), G5 (now year 2), G8 (GM0599)
        # ended: G1, G3; active on 31 December: G2, G6
        "1": (3, 2, 2),
        # started and active: G1, G5 (corrected)
        "2": (2, 0, 2),
        "total": (5, 2, 4),
    }
    assert {c.key: c.count for c in report.providers} == {VWN: 3, WELKOM: 2}
    assert report.municipality_name == "Vlaardingen"


def test_as_known_at_ignores_later_corrections_retractions_and_facts(
    views: Views, cut: datetime
) -> None:
    report = guidance(views, Y2024, municipality=A, as_known_at=cut)
    assert figures(report) == {
        # started: G2, G3, G4, G5; active: G2, G4, G5
        "1": (4, 2, 3),
        "2": (1, 0, 1),
        "total": (5, 2, 4),
    }


def test_every_municipality_and_a_shorter_period(views: Views, cut: datetime) -> None:
    # G8 in GM0599 joins year 1
    assert figures(guidance(views, Y2024)) == {
        "1": (4, 2, 3),
        "2": (2, 0, 2),
        "total": (6, 2, 5),
    }
    # 2024H1: started G2, G3 (year 1), G1, G5 (year 2); ended G1; active on 30 June G2, G3, G1, G5
    assert figures(guidance(views, Period.parse("2024H1"), municipality=A)) == {
        "1": (2, 1, 2),
        "2": (2, 0, 2),
        "total": (4, 1, 4),
    }


def test_the_latest_fact_of_a_year_decides_a_later_version_breaking_a_tie(
    ledger: TrajectoryLedger, views: Views
) -> None:
    log = LogBuilder(seed=9)
    h1, h2, h3 = (log.register(date(2023, 1, 2)) for _ in range(3))
    start(log, h1, date(2024, 5, 1), 1, VWN)
    end(log, h1, date(2024, 5, 1), 1)  # the same day, a later version: not in guidance
    fact(log, h2, ev.SocialGuidanceEnded, date(2024, 5, 1), B, year_no=1)
    start(log, h2, date(2024, 5, 1), 1, VWN, where=B)  # the same day, later: in guidance
    start(log, h3, date(2024, 3, 1), 1, VWN)
    start(log, h3, date(2024, 4, 1), 1, VWN, where=B)  # the latest fact is in B
    start(log, h3, date(2025, 1, 6), 2, VWN)  # after the period
    append(ledger, log.events)
    assert figures(guidance(views, Y2024, municipality=A)) == {
        "1": (2, 1, 0),  # h1 and h3 started, h1 ended; h3's latest fact is in B
        "2": (0, 0, 0),
        "total": (2, 1, 0),
    }
    assert figures(guidance(views, Y2024)) == {
        "1": (3, 2, 2),
        "2": (0, 0, 0),
        "total": (3, 2, 2),
    }


def test_rebuild_equals_catch_up(ledger: TrajectoryLedger, views: Views) -> None:
    rebuild_equals_catch_up(ledger, views, GUIDANCE, scenario()[0])
    assert figures(guidance(views, Y2024, municipality=A))["total"] == (5, 2, 4)


def test_report_guidance_command(tmp_path: Path) -> None:
    events, cut = scenario()
    run = ReportCli(tmp_path, events)
    data = run.json("report", "guidance", "--period", "2024", "--municipality", "GM0622")
    assert [(r["year_no"], r["started"], r["ended"], r["active_at_end"]) for r in data["rows"]] == [
        ("1", 3, 2, 2),
        ("2", 2, 0, 2),
        ("total", 5, 2, 4),
    ]
    assert data["providers"] == {VWN: 3, WELKOM: 2}
    assert data["basis"]["projection"] == "guidance"
    rows = run.csv_as_known_at(
        "report", "guidance", "--period", "2024", "--as-known-at", cut.isoformat()
    )
    # as known at the cut, every municipality: a row per guidance year (year 1: G2, G3, G4, G5,
    # G8; year 2: G1), then the persons started per provider, as the JSON's providers
    header = ("municipality", "figure", "year_no", "provider", "started", "ended", "active_at_end")
    assert list(rows[0]) == list(header)
    assert [tuple(row.values()) for row in rows] == [
        ("", "year", "1", "", "5", "2", "4"),  # municipality empty: the whole cooperation
        ("", "year", "2", "", "1", "0", "1"),
        ("", "year", "total", "", "6", "2", "5"),
        ("", "provider", "", VWN, "5", "", ""),  # G1, G2, G4, G5, G8
        ("", "provider", "", WELKOM, "1", "", ""),  # G3
    ]
    table = run.table("report", "guidance", "--period", "2024", "--municipality", "Rotterdam")
    assert "Maatschappelijke begeleiding 2024 — GM0599 Rotterdam" in table
    assert "total" in table
