"""`traject caseload`, `traject report plans|inburgering` and `traject find-candidates`, end to end:
table, JSON and CSV output, and bad input."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path
from uuid import UUID

import pytest
from cli_helpers import Traject

from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.crypto import read_key_file


def populate(traject: Traject) -> dict[str, str]:
    """Two Wi2021 clients of r.jansen: A with a PIP on time, B with none (due 2024-04-04)."""
    app = TrajectoryLedger(
        parse_database_url(traject.database_url).library_env, read_key_file(traject.key_file)
    )
    try:
        ids: dict[str, UUID] = {}
        for name, start in (("A", date(2024, 2, 1)), ("B", date(2024, 1, 20))):
            pid = app.register_person(
                occurred_on=date(2024, 1, 10),
                birth_date=date(1990, 1, 1),
                sex="f",
                nationality=["SY"],
            ).stream_id
            app.record(
                pid,
                ev.CoachAssigned,
                occurred_on=date(2024, 1, 10),
                staff_id="r.jansen",
                role="regisseur",
            )
            app.record(pid, ev.InburgeringDutyEstablished, occurred_on=start, duty_start=start)
            ids[name] = pid
        a = ids["A"]
        app.record(
            a,
            ev.PipAdopted,
            occurred_on=date(2024, 3, 1),
            version=1,
            leerroute="B1",
            hoofddoel="werk",
            pvt_intensity="standaard",
            map_intensity="standaard",
            decision_ref="PIP-1",
        )
        app.record(a, ev.LadderAssessed, occurred_on=date(2024, 5, 1), rung=4, assessor="r.jansen")
        app.record(
            a,
            ev.ProfileUpdated,
            occurred_on=date(2024, 5, 1),
            occupation_direction="zorg",
            education="mbo-3",
            language_level="A2",
        )
        app.record(
            a,
            ev.ExamResultRecorded,
            occurred_on=date(2024, 5, 2),
            component="lezen",
            level="B1",
            result="geslaagd",
            attempt_no=1,
        )
    finally:
        app.close()
    return {name: str(pid) for name, pid in ids.items()}


@pytest.fixture
def people(ledger: Traject) -> dict[str, str]:
    return populate(ledger)


def test_caseload_shows_signals_and_breakdowns_in_every_format(
    ledger: Traject, people: dict[str, str]
) -> None:
    # B's PIP v1 was due 2024-03-30 (10 weeks after the notice of 2024-01-20): overdue in June
    table = ledger.ok("caseload", "--on", "2024-06-30").stdout
    assert "PIP v1 overdue since 2024-03-30" in table
    assert "2 active person(s)" in table
    assert "Persons per leerroute" in table
    data = json.loads(ledger.ok("caseload", "--on", "2024-06-30", "--format", "json").stdout)
    rows = {r["person_id"]: r for r in data["rows"]}
    # A's ladder assessment and exam (May) were recorded long after; B has no recent fact
    assert [s["code"] for s in rows[people["B"]]["signals"]] == ["pip_due"]
    assert [s["code"] for s in rows[people["A"]]["signals"]] == ["late_recording"]
    assert data["by_rung"] == {"1": 0, "2": 0, "3": 0, "4": 1, "5": 0, "6": 0, "none": 1}
    assert data["by_leerroute"] == {"B1": 1, "onderwijs": 0, "Z": 0, "none": 1}
    assert data["basis"]["projection"] == "caseload+inburgering"
    assert len(data["basis"]["digest"]) == 64
    flagged = ledger.ok(
        "report", "caseload", "--on", "2024-06-30", "--signals-only", "--format", "csv"
    ).stdout
    by_id = {r["person_id"]: r for r in csv.DictReader(io.StringIO(flagged))}
    assert by_id[people["B"]]["signals"] == "pip_due"
    assert by_id[people["A"]]["signals"] == "late_recording"


def test_a_late_recording_is_measured_to_the_dutch_date_of_its_recording(
    ledger: Traject, tmp_path: Path
) -> None:
    # K's BRP registration of 2025-01-10 was recorded at 00:30 Dutch time on 2025-02-10 (still
    # 2025-02-09 in UTC): 31 days later, above the threshold of 30; L's at 23:30 on 2025-02-09
    # Dutch time: 30 days, not late
    lines = []
    for person, recorded in (
        ("K", "2025-02-10T00:30:00+01:00"),
        ("L", "2025-02-09T23:30:00+01:00"),
    ):
        lines += [
            {"kind": "person-registered", "person": person, "occurred_on": "2024-12-01",
             "recorded_at": "2024-12-01T12:00:00+01:00", "birth_date": "1990-01-01",
             "sex": "m", "nationality": ["SY"]},
            {"kind": "ladder-assessed", "person": person, "occurred_on": "2024-12-02",
             "recorded_at": "2024-12-02T12:00:00+01:00", "rung": 3, "assessor": "a"},
            {"kind": "brp-registered", "person": person, "occurred_on": "2025-01-10",
             "recorded_at": recorded},
        ]  # fmt: skip
    source = tmp_path / "late.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    ledger.ok("import", str(source), "--quiet")
    data = json.loads(ledger.ok("caseload", "--on", "2025-02-10", "--format", "json").stdout)
    signals = {
        r["person_id"]: [(s["code"], s["detail"]) for s in r["signals"]] for r in data["rows"]
    }
    assert sorted(signals.values()) == [
        [],
        [("late_recording", "BrpRegistered of 2025-01-10 recorded 31 days later")],
    ]


def test_report_plans_in_every_format(ledger: Traject, people: dict[str, str]) -> None:
    data = json.loads(ledger.ok("report", "plans", "--period", "2024H1", "--format", "json").stdout)
    # both active on 2024-06-30; A's PIP (2024-03-01) was due 2024-04-11 (notice 2024-02-01 +
    # 10 weeks): on time; B's was due 2024-03-30 and is still open
    assert (data["active"], data["with_plan"], data["plan_share"]) == (2, 1, 0.5)
    assert data["pip_v1"] == {"due_in_period": 2, "on_time": 1, "late": 0, "open": 1}
    total = data["cohorts"][-1]
    # A: 2024-02-01 → 2024-03-01 is 29 days
    assert (total["cohort"], total["persons"], total["median_days_to_pip"]) == ("total", 2, 29)
    table = ledger.ok("report", "plans", "--period", "2024H1").stdout
    assert "with a PIP" in table and "50%" in table
    rows = list(
        csv.DictReader(
            io.StringIO(
                ledger.ok("report", "plans", "--period", "2024H1", "--format", "csv").stdout
            )
        )
    )
    assert {"municipality": "", "figure": "pip_v1_open", "cohort": "", "value": "1"} in rows


def test_report_inburgering_in_every_format(ledger: Traject, people: dict[str, str]) -> None:
    data = json.loads(
        ledger.ok("report", "inburgering", "--on", "2024-06-30", "--format", "json").stdout
    )
    routes = {r["leerroute"]: r["persons"] for r in data["routes"]}
    assert (routes["B1"], routes["none"], routes["total"]) == (1, 1, 2)
    assert data["exams"] == [
        {"component": "lezen", "attempt_no": 1, "taken": 1, "passed": 1, "pass_rate": 1.0}
    ]
    # A's term ends 2027-03-02; B has no PIP, so no term yet: nobody at risk
    assert data["risk"] == []
    table = ledger.ok("report", "inburgering", "--on", "2024-06-30").stdout
    assert "Risk list" in table and "Exam results" in table
    rows = list(
        csv.DictReader(
            io.StringIO(
                ledger.ok("report", "inburgering", "--on", "2024-06-30", "--format", "csv").stdout
            )
        )
    )
    assert [r["section"] for r in rows].count("route") == 5


def test_report_inburgering_adds_objections_z_route_ontzorgen_and_reclaims(
    ledger: Traject, people: dict[str, str]
) -> None:
    # A objects to her PIP on 2024-04-01; decided 2024-05-01 (ingetrokken); neither A nor B is
    # on the Z-route, ontzorgd, or has a DUO loan
    ledger.ok("record", "pip-objection-filed", people["A"], "--on", "2024-04-01")
    ledger.ok("record", "pip-objection-decided", people["A"], "--on", "2024-05-01",
              "--outcome", "ingetrokken")  # fmt: skip
    report = ("report", "inburgering", "--on", "2024-06-30")
    data = json.loads(ledger.ok(*report, "--format", "json").stdout)
    # the keys of before are all still there
    assert {"on", "as_known_at", "municipality", "routes", "exams", "risk_months", "risk"} < set(
        data
    )
    assert data["from"] == "2024-01-01"
    assert data["pip_objections"] == {
        "open": 0,
        "open_overdue": 0,
        "decided": {
            "gegrond": 0, "deels_gegrond": 0, "ongegrond": 0, "niet_ontvankelijk": 0,
            "ingetrokken": 1,
        },
    }  # fmt: skip
    assert data["z_route"] == {
        "participants": 0,
        "final_interview": {"voldaan": 0, "niet_voldaan": 0, "none": 0},
    }
    assert data["ontzorgen"] == {"ontzorgd": 0, "past_planned_end": 0, "started": 0, "ended": 0}
    assert (data["reclaim_rule_set"], data["flagged_reclaims"]) == ("lening.2013.1", [])
    # a period from 2024-05-02 leaves the decision out; on 2024-04-15 the objection is open
    later = json.loads(ledger.ok(*report, "--from", "2024-05-02", "--format", "json").stdout)
    assert later["pip_objections"]["decided"]["ingetrokken"] == 0
    april = ("report", "inburgering", "--on", "2024-04-15", "--format", "json")
    assert json.loads(ledger.ok(*april).stdout)["pip_objections"]["open"] == 1
    rows = list(csv.DictReader(io.StringIO(ledger.ok(*report, "--format", "csv").stdout)))
    decided = [r for r in rows if r["section"] == "pip_objections" and r["figure"] == "decided"]
    assert {r["breakdown"]: r["value"] for r in decided}["ingetrokken"] == "1"
    table = ledger.ok(*report).stdout
    assert "PIP objections (bezwaar)" in table and "Flagged DUO loan reclaims" in table


def test_find_candidates_in_every_format(ledger: Traject, people: dict[str, str]) -> None:
    args = (
        "find-candidates",
        "--occupation",
        "zorg",
        "--min-language",
        "a2",
        "--min-rung",
        "3",
        "--on",
        "2024-06-30",
    )
    data = json.loads(ledger.ok(*args, "--format", "json").stdout)
    assert [(r["person_id"], r["rung"], r["language_level"]) for r in data["rows"]] == [
        (people["A"], 4, "A2")
    ]
    assert data["criteria"]["min_rung"] == 3
    table = ledger.ok(*args).stdout
    assert people["A"][:8] in table and "1 candidate(s)" in table
    assert ledger.ok(*args, "--format", "csv").stdout.startswith("person_id,municipality,")
    assert (
        json.loads(
            ledger.ok(
                "find-candidates", "--min-language", "B1", "--on", "2024-06-30", "--format", "json"
            ).stdout
        )["rows"]
        == []
    )
    # nobody found, nobody active: each CSV is its header alone
    nobody = ("find-candidates", "--min-language", "B1", "--on", "2024-06-30", "--format", "csv")
    assert ledger.ok(*nobody).stdout == (
        "person_id,municipality,regisseurs,rung,language_level,occupation,education\n"
    )
    before = ("caseload", "--on", "2019-01-01", "--format", "csv")
    assert ledger.ok(*before).stdout.splitlines() == [
        "person_id,municipality,regisseurs,coaches,rung,rung_on,leerroute,status_on,signals"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("report", "plans"), "Missing option '--period'"),
        (("report", "plans", "--period", "2024H3"), "'--period'"),
        (("report", "inburgering", "--on", "30-06-2024"), "'--on'"),
        (
            ("report", "inburgering", "--on", "2024-06-30", "--from", "2024-07-01"),
            "Invalid value for '--from': must not be after --on (2024-06-30)",
        ),
        (("caseload", "--as-known-at", "yesterday"), "'--as-known-at'"),
        (("find-candidates", "--min-language", "B3"), "'--min-language'"),
        (("find-candidates", "--min-rung", "7"), "'--min-rung'"),
        (("find-candidates", "--municipality", "Nergenshuizen"), "'--municipality'"),
    ],
)
def test_bad_input_is_refused_with_the_option_named(
    ledger: Traject, args: tuple[str, ...], message: str
) -> None:
    result = ledger(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.postgres
def test_the_reports_run_on_postgresql(cli_postgres_url: str, tmp_path: Path) -> None:
    traject = Traject(cli_postgres_url, tmp_path / "traject.key")
    traject.init("--municipality", "GM0622")
    people = populate(traject)
    data = json.loads(
        traject.ok("report", "plans", "--period", "2024H1", "--format", "json").stdout
    )
    assert data["pip_v1"] == {"due_in_period": 2, "on_time": 1, "late": 0, "open": 1}
    found = json.loads(
        traject.ok(
            "find-candidates", "--occupation", "zorg", "--on", "2024-06-30", "--format", "json"
        ).stdout
    )
    assert [r["person_id"] for r in found["rows"]] == [people["A"]]
