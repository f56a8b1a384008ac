"""`traject projections`, `traject caseload` and `traject report outflow`, end to end."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli import cli
from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.crypto import encode_master_key, generate_master_key
from projections import PROJECTIONS

TRAJECT_VARIABLES = ("TRAJECT_DB", "TRAJECT_KEY_FILE", "TRAJECT_USER", "TRAJECT_JSON")


class Run:
    """`traject …` in-process against one SQLite file, with the master key in the environment."""

    def __init__(self, tmp_path: Path) -> None:
        self.url = f"sqlite:///{tmp_path / 'traject.db'}"
        self.key = generate_master_key()
        self.env: dict[str, str | None] = dict.fromkeys(TRAJECT_VARIABLES) | {
            "TRAJECT_DATABASE_URL": self.url,
            "TRAJECT_MASTER_KEY": encode_master_key(self.key),
            "COLUMNS": "120",
        }

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=self.env, catch_exceptions=False)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result

    def ledger(self) -> TrajectoryLedger:
        return TrajectoryLedger(parse_database_url(self.url).library_env, self.key)


@pytest.fixture
def traject(tmp_path: Path) -> Run:
    """An initialised ledger with two persons: one on r.jansen's caseload, both in outflow."""
    run = Run(tmp_path)
    run.ok("init", "--municipality", "GM0622")
    app = run.ledger()
    try:
        for staff, kind in (("r.jansen", "werk_volledig"), ("s.bakker", "onderwijs")):
            pid = app.register_person(
                occurred_on=date(2024, 1, 10),
                birth_date=date(1990, 4, 2),
                sex="f",
                nationality=["SY"],
            ).stream_id
            app.record(
                pid,
                ev.CoachAssigned,
                occurred_on=date(2024, 2, 1),
                staff_id=staff,
                role="regisseur",
            )
            app.record(pid, ev.OutflowStarted, occurred_on=date(2024, 3, 1), outflow_type=kind)
    finally:
        app.close()
    return run


def test_status_shows_unbuilt_read_models_and_their_lag(traject: Run) -> None:
    rows = json.loads(traject.ok("projections", "status", "--format", "json").stdout)
    # every registered read model, in registry order (other read models are appended)
    assert [(r["name"], r["built"], r["position"], r["lag"]) for r in rows] == [
        (name, False, 0, 6) for name in PROJECTIONS
    ]
    assert [r["name"] for r in rows][:4] == ["caseload", "outflow", "housing", "ladder"]
    assert "not built" in traject.ok("projections", "status").stdout


def test_rebuild_shows_progress_on_stderr_and_results_on_stdout(traject: Run) -> None:
    result = traject.ok("projections", "rebuild", "outflow", "--format", "json")
    assert "outflow" in result.stderr  # the progress bar
    (row,) = json.loads(result.stdout)
    assert (row["name"], row["position"], row["events"]) == ("outflow", 6, 2)
    status = {
        r["name"]: r for r in json.loads(traject.ok("--json", "projections", "status").stdout)
    }
    assert status["outflow"]["digest"] == row["digest"]
    assert status["outflow"]["lag"] == 0
    assert not status["caseload"]["built"]


def test_rebuild_refuses_an_unknown_read_model(traject: Run) -> None:
    result = traject("projections", "rebuild", "stock")
    assert result.exit_code == 2
    assert "'stock' is not one of" in result.stderr


def test_caseload_lists_a_coachs_persons_as_csv(traject: Run) -> None:
    result = traject.ok("caseload", "--coach", "r.jansen", "--on", "2024-06-30", "--format", "csv")
    (row,) = list(csv.DictReader(io.StringIO(result.stdout)))
    assert (row["municipality"], row["regisseurs"], row["status_on"]) == (
        "GM0622",
        "r.jansen",
        "2024-02-01",
    )
    table = traject.ok("report", "caseload", "--on", "2024-06-30").stdout
    assert "2 active person(s)" in table
    # the coach's user name in other capitals is the same member of staff
    again = traject.ok("caseload", "--coach", "R.Jansen", "--on", "2024-06-30", "--format", "csv")
    assert again.stdout == result.stdout


def test_report_outflow_as_json_names_what_it_was_computed_from(traject: Run) -> None:
    data = json.loads(
        traject.ok("report", "outflow", "--period", "2024H1", "--format", "json").stdout
    )
    figures = {r["outflow_type"]: (r["started"], r["in_outflow_at_end"]) for r in data["rows"]}
    assert figures["werk_volledig"] == (1, 1)
    assert figures["onderwijs"] == (1, 1)
    assert figures["total"] == (2, 2)
    assert data["basis"]["position"] == 6
    assert len(data["basis"]["digest"]) == 64
    # as known at a moment before anything was recorded, nothing counts
    early = json.loads(
        traject.ok(
            "report",
            "outflow",
            "--period",
            "2024-H1",
            "--as-known-at",
            "2024-01-01",
            "--format",
            "json",
        ).stdout
    )
    assert early["as_known_at"] == "2023-12-31T23:00:00.000000Z"  # 00:00 Dutch time, in UTC
    assert {(r["started"], r["in_outflow_at_end"]) for r in early["rows"]} == {(0, 0)}


def test_report_outflow_csv_of_one_municipality_names_it(traject: Run) -> None:
    """The JSON names the municipality of --municipality; the CSV names it in every row's
    `municipality` and `group`, as the same rows under --by municipality do."""
    args = ("report", "outflow", "--period", "2024H1", "--format", "csv")
    only = list(csv.DictReader(io.StringIO(traject.ok(*args, "--municipality", "GM0622").stdout)))
    by = list(csv.DictReader(io.StringIO(traject.ok(*args, "--by", "municipality").stdout)))

    assert {(row["municipality"], row["group"]) for row in only} == {("GM0622", "GM0622")}
    assert only == [row for row in by if row["group"] == "GM0622"]
    totals = [(r["outflow_type"], r["started"]) for r in only][-2:]
    assert totals == [("total", "2"), ("moved_out", "0")]
    # without --municipality or --by the rows are of every municipality: no group
    everywhere = list(csv.DictReader(io.StringIO(traject.ok(*args).stdout)))
    assert {(row["municipality"], row["group"]) for row in everywhere} == {("", "")}


def test_report_outflow_refuses_a_malformed_period(traject: Run) -> None:
    result = traject("report", "outflow", "--period", "2024H3")
    assert result.exit_code == 2
    assert "a half-year is H1 or H2" in result.stderr


def test_rebuild_without_names_rebuilds_every_read_model_in_one_pass(traject: Run) -> None:
    result = traject.ok("projections", "rebuild", "--format", "json")
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == set(PROJECTIONS)
    assert {row["position"] for row in rows.values()} == {6}
    # events seen per read model: 2 registrations + 2 assignments (caseload), 2 outflow starts
    assert (rows["caseload"]["events"], rows["outflow"]["events"]) == (4, 2)
    assert (rows["housing"]["events"], rows["ladder"]["events"]) == (0, 0)
    assert "events/s" in result.stderr  # the bar shows the rate
    assert "eta" in result.stderr
    status = {
        r["name"]: r for r in json.loads(traject.ok("--json", "projections", "status").stdout)
    }
    assert {name: status[name]["digest"] for name in rows} == {
        name: row["digest"] for name, row in rows.items()
    }


def test_rebuild_with_two_jobs_gives_the_digests_of_one(traject: Run) -> None:
    one = json.loads(traject.ok("projections", "rebuild", "--jobs", "1", "--format", "json").stdout)
    two = json.loads(traject.ok("projections", "rebuild", "-j", "2", "--format", "json").stdout)
    assert {row["name"]: row["digest"] for row in two} == {
        row["name"]: row["digest"] for row in one
    }
    assert {row["name"]: row["events"] for row in two} == {
        row["name"]: row["events"] for row in one
    }


def test_rebuild_refuses_zero_jobs(traject: Run) -> None:
    result = traject("projections", "rebuild", "--jobs", "0")
    assert result.exit_code == 2
    assert "--jobs" in result.stderr


def test_rebuild_quiet_shows_no_progress(traject: Run) -> None:
    result = traject.ok("projections", "rebuild", "ladder", "--quiet", "--format", "json")
    assert result.stderr == ""
    (row,) = json.loads(result.stdout)
    assert row["name"] == "ladder"
