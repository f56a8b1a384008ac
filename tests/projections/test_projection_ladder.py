"""P5 Participatieladder: a hand-built log; distribution and transitions worked out by hand.

The log is appended straight to the store with fixed recorded times (as in ``projection_events``),
so that SQLite and PostgreSQL receive identical events.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from click.testing import CliRunner, Result
from projection_events import LogBuilder, append

from cli import cli
from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.crypto import encode_master_key, generate_master_key
from projections import Views, catch_up, digest, rebuild, status
from projections.ladder import LADDER, LadderReport, ladder

ON, FROM = date(2024, 6, 30), date(2024, 1, 31)
TRAJECT_VARIABLES = ("TRAJECT_DB", "TRAJECT_KEY_FILE", "TRAJECT_USER", "TRAJECT_JSON")


def assess(log: LogBuilder, pid: UUID, on: date, rung: int, where: str = "GM0622") -> int:
    event = log.add(
        pid, ev.LadderAssessed, occurred_on=on, municipality=where, rung=rung, assessor="t.tester"
    )
    return event.originator_version


def scenario() -> tuple[list[ev.TrajectEvent], datetime]:
    """Five persons; the originals, then the cut, then later knowledge."""
    log = LogBuilder(seed=5)
    q1, q2, q3, q4, q5 = (log.register(date(2023, 10, 1)) for _ in range(5))
    assess(log, q1, date(2024, 1, 10), 2)
    q1_may = assess(log, q1, date(2024, 5, 1), 3)  # later corrected to rung 4
    assess(log, q2, date(2024, 2, 1), 1)
    assess(log, q2, date(2024, 6, 30), 2)  # on the date itself: counts
    assess(log, q2, date(2024, 7, 1), 5)  # after the date: does not
    assess(log, q3, date(2023, 12, 1), 2, where="GM0599")
    q3_march = assess(log, q3, date(2024, 3, 1), 3, where="GM0599")  # later retracted
    assess(log, q4, date(2024, 4, 1), 4)
    assess(log, q4, date(2024, 4, 1), 5)  # same day, later version: wins
    cut = log.clock

    log.correct(q1, q1_may, rung=4)
    log.retract(q3, q3_march)
    assess(log, q5, date(2024, 1, 15), 1)  # back-dated into January
    return log.events, cut


def distribution(report: LadderReport) -> dict[int, int]:
    """rung → persons, leaving out the empty rungs."""
    return {c.rung: c.persons for c in report.distribution if c.persons}


def transitions(report: LadderReport) -> dict[tuple[int, int], int]:
    """(rung on the first date, rung on the second) → persons, leaving out empty cells."""
    return {(t.from_rung, t.to_rung): t.persons for t in report.transitions if t.persons}


@pytest.fixture
def cut(ledger: TrajectoryLedger) -> datetime:
    events, moment = scenario()
    append(ledger, events)
    return moment


def test_distribution_and_transitions(views: Views, cut: datetime) -> None:
    report = ladder(views, ON, from_date=FROM)
    # Q1 rung 4 (corrected), Q2 rung 2 (30 June counts, 1 July not), Q3 rung 2 (March
    # retracted), Q4 rung 5 (the later of two on one day), Q5 rung 1 (back-dated)
    assert distribution(report) == {1: 1, 2: 2, 4: 1, 5: 1}
    assert report.assessed == 5
    # on 31 January: Q1 rung 2, Q3 rung 2, Q5 rung 1; Q2 and Q4 were not yet assessed
    assert transitions(report) == {(2, 4): 1, (2, 2): 1, (1, 1): 1}
    assert report.first_assessed == 2
    assert len(report.transitions) == 36
    assert (report.on, report.from_date, report.as_known_at) == ("2024-06-30", "2024-01-31", None)
    assert report.digest is not None


def test_without_a_first_date_there_are_no_transitions(views: Views, cut: datetime) -> None:
    report = ladder(views, ON)
    assert report.transitions == ()
    assert report.first_assessed == 0
    # before any assessment, every rung is empty
    early = ladder(views, date(2023, 6, 1))
    assert [(c.rung, c.persons) for c in early.distribution] == [(r, 0) for r in range(1, 7)]
    assert early.assessed == 0


def test_as_known_at_ignores_later_corrections_retractions_and_facts(
    views: Views, cut: datetime
) -> None:
    report = ladder(views, ON, from_date=FROM, as_known_at=cut)
    # Q1 still rung 3, Q3 still rung 3 (not yet retracted), Q5 not yet recorded
    assert distribution(report) == {2: 1, 3: 2, 5: 1}
    assert transitions(report) == {(2, 3): 2}
    assert report.first_assessed == 2
    assert report.as_known_at is not None


def test_municipality_of_the_latest_assessment(views: Views, cut: datetime) -> None:
    report = ladder(views, ON, from_date=FROM, municipality="GM0599")
    assert distribution(report) == {2: 1}
    assert transitions(report) == {(2, 2): 1}
    with pytest.raises(ValueError, match="must not be after"):
        ladder(views, FROM, from_date=ON)


def test_rebuild_equals_catch_up_in_steps(ledger: TrajectoryLedger, views: Views) -> None:
    events, _ = scenario()
    for start in range(0, len(events), 4):
        append(ledger, events[start : start + 4])
        catch_up(views, LADDER, page_size=2)
    caught_up = status(views, LADDER).digest
    before = ladder(views, ON, from_date=FROM)
    assert rebuild(views, LADDER, page_size=3).digest == caught_up == digest(views, LADDER)
    assert ladder(views, ON, from_date=FROM) == before


@pytest.mark.postgres
def test_the_same_digest_and_figures_on_sqlite_and_postgresql(
    make_ledger: Any, sqlite_store: str, projection_pg: Any
) -> None:
    events, cut = scenario()
    results = []
    for url in (sqlite_store, projection_pg()):
        app = make_ledger(url)
        append(app, events)
        views = Views(app)
        report = ladder(views, ON, from_date=FROM)
        known = ladder(views, ON, as_known_at=cut)
        results.append((report.digest, report.distribution, report.transitions, known.distribution))
    assert results[0] == results[1]


def test_report_ladder_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'traject.db'}"
    key = generate_master_key()
    env = dict.fromkeys(TRAJECT_VARIABLES) | {
        "TRAJECT_DATABASE_URL": url,
        "TRAJECT_MASTER_KEY": encode_master_key(key),
        "COLUMNS": "120",
    }

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    assert run("init", "--municipality", "GM0622").exit_code == 0
    app = TrajectoryLedger(parse_database_url(url).library_env, key)
    try:
        append(app, scenario()[0])
    finally:
        app.close()
    data = json.loads(
        run(
            "report", "ladder", "--on", "2024-06-30", "--from", "2024-01-31", "--format", "json"
        ).stdout
    )
    assert [c["persons"] for c in data["distribution"]] == [1, 2, 0, 1, 1, 0]
    assert (data["assessed"], data["first_assessed"], data["from"]) == (5, 2, "2024-01-31")
    assert {(t["from_rung"], t["to_rung"]) for t in data["transitions"] if t["persons"]} == {
        (1, 1),
        (2, 2),
        (2, 4),
    }
    assert data["basis"]["projection"] == "ladder"
    rows = list(
        csv.DictReader(
            io.StringIO(run("report", "ladder", "--on", "2024-06-30", "--format", "csv").stdout)
        )
    )
    assert [(r["figure"], r["rung"], r["persons"]) for r in rows][:2] == [
        ("rung", "1", "1"),
        ("rung", "2", "2"),
    ]
    assert len(rows) == 7  # six rungs and the inactive count, no transitions without --from
    assert (rows[-1]["figure"], rows[-1]["persons"]) == ("inactive_assessed", "0")
    table = run("report", "ladder", "--on", "2024-06-30", "--from", "2024-01-31").stdout
    assert "Transitions 2024-01-31 → 2024-06-30" in table
    assert "2 first assessed after 2024-01-31" in table
    refused = run("report", "ladder", "--on", "2024-01-01", "--from", "2024-06-30")
    assert refused.exit_code == 2
    assert "must not be after --on" in refused.stderr
    # with --from, the CSV has the two counts that reconcile the distribution with the matrix:
    # 5 assessed = 3 in the matrix + 2 first assessed + 0 not active on --from
    with_from = list(
        csv.DictReader(
            io.StringIO(
                run(
                    "report", "ladder", "--on", "2024-06-30", "--from", "2024-01-31",
                    "--format", "csv",
                ).stdout
            )
        )
    )  # fmt: skip
    counts = {r["figure"]: int(r["persons"]) for r in with_from if r["figure"] != "transition"}
    assert (counts["first_assessed"], counts["inactive_on_from"]) == (2, 0)
    matrix = sum(int(r["persons"]) for r in with_from if r["figure"] == "transition")
    rungs = sum(int(r["persons"]) for r in with_from if r["figure"] == "rung")
    assert rungs == matrix + counts["first_assessed"] + counts["inactive_on_from"] == 5
