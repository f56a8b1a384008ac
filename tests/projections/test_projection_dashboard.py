"""P15 Kwartaaldashboard and P14 SWI extract: one hand-built log (SQLite and PostgreSQL) with a
correction, a retraction, back-dated facts and an as-known-at cut-off. Every expected figure is
worked out by hand in the comments; the composition tests compare each section with the
stand-alone report for the same dates."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from life_helpers import A, B, ReportCli, fact
from projection_events import LogBuilder, append

from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.swi_rules import SWI_SETS
from ledger.values import Period
from projections import Views
from projections.base import ProjectionStoreError
from projections.caseload import CASELOAD, DEADLINE_SIGNALS, caseload_report
from projections.dashboard import DashboardReport, dashboard, quarter_reports
from projections.duty import INBURGERING
from projections.guidance import guidance
from projections.helprequests import help_requests
from projections.inburgering import inburgering
from projections.ladder import LADDER, ladder
from projections.outflow import outflow
from projections.plans import plans
from projections.pvt import pvt
from projections.swi import select, swi_extract

LedgerFactory = Callable[[str], TrajectoryLedger]
Q2 = Period.parse("2024Q2")
APRIL_1, JUNE_30 = date(2024, 4, 1), date(2024, 6, 30)


def rung(log: LogBuilder, pid: UUID, on: date, value: int, where: str = A) -> int:
    return fact(log, pid, ev.LadderAssessed, on, where, rung=value, assessor="r.jansen")


def duty(log: LogBuilder, pid: UUID, notified: date, start: date) -> None:
    fact(log, pid, ev.InburgeringDutyEstablished, notified, duty_start=start)


def pip(log: LogBuilder, pid: UUID, on: date, route: str) -> None:
    fields = {"hoofddoel": "werk", "pvt_intensity": "standaard", "map_intensity": "standaard"}
    fact(log, pid, ev.PipAdopted, on, version=1, leerroute=route, decision_ref="PIP-1", **fields)


def outflow_started(log: LogBuilder, pid: UUID, on: date, kind: str, where: str = A) -> int:
    return fact(log, pid, ev.OutflowStarted, on, where, outflow_type=kind)


def scenario() -> tuple[list[ev.TrajectEvent], datetime]:
    log = LogBuilder(seed=15)
    # P1 (A): rung 2 on 1 Feb, rung 3 on 10 May (corrected to 1 after the cut: down, not up).
    # Wi2021 duty from 15 Jan, notified 20 Jan, BRP 10 Jan → PIP v1 due 30 Mar (Q1); intake
    # 1 Feb (17 days), PIP v1 1 Mar, B1 (46 days). Werk gedeeltelijk from 1 May. Help requests
    # 15 Apr and 1 Jun (spreekuur); the second is moved to 2 Jul after the cut.
    p1 = log.register(date(2024, 1, 5))
    fact(log, p1, ev.BrpRegistered, date(2024, 1, 10))
    rung(log, p1, date(2024, 2, 1), 2)
    p1_may = rung(log, p1, date(2024, 5, 10), 3)
    duty(log, p1, date(2024, 1, 20), date(2024, 1, 15))
    fact(log, p1, ev.BroadIntakeStarted, date(2024, 2, 1), by="r.jansen")
    pip(log, p1, date(2024, 3, 1), "B1")
    outflow_started(log, p1, date(2024, 5, 1), "werk_gedeeltelijk")
    fact(log, p1, ev.HelpRequestRecorded, date(2024, 4, 15), category="wonen")
    p1_june_request = fact(log, p1, ev.HelpRequestRecorded, date(2024, 6, 1), category="overig")
    # P2 (A): rung 4 on 1 Mar. Duty from 20 Feb, notified 1 Mar, BRP 15 Feb → PIP v1 due 10 May
    # (Q2); PIP v1 20 May, Z-route: late (90 days). Vrijwilligerswerk from 1 Feb (Q1, still on
    # 30 Jun). MB year 1 from 2 Apr, so the help request of 20 Apr is MB. PVT 1 Jun in G1.
    p2 = log.register(date(2024, 2, 1))
    fact(log, p2, ev.BrpRegistered, date(2024, 2, 15))
    rung(log, p2, date(2024, 3, 1), 4)
    duty(log, p2, date(2024, 3, 1), date(2024, 2, 20))
    pip(log, p2, date(2024, 5, 20), "Z")
    outflow_started(log, p2, date(2024, 2, 1), "onbetaald_vrijwilligerswerk")
    fact(log, p2, ev.SocialGuidanceStarted, date(2024, 4, 2), year_no=1, provider="VWN")
    fact(log, p2, ev.HelpRequestRecorded, date(2024, 4, 20), category="financien")
    fact(
        log, p2, ev.PvtCompleted, date(2024, 6, 1), provider="Taalhuis", hours=12, activity_id="G1"
    )
    # P3 (A): rung 1 on 5 Mar. Duty from 15 Mar, notified 20 Mar, no BRP → PIP v1 due 29 May
    # (Q2), none: open. Onderwijs from 15 Jun, retracted after the cut.
    p3 = log.register(date(2024, 3, 1))
    rung(log, p3, date(2024, 3, 5), 1)
    duty(log, p3, date(2024, 3, 20), date(2024, 3, 15))
    p3_outflow = outflow_started(log, p3, date(2024, 6, 15), "onderwijs")
    # P4 (A): rung 3 on 1 Feb, moved out on 10 Jun: not active on 30 Jun, a move (not outflow).
    p4 = log.register(date(2024, 1, 10))
    rung(log, p4, date(2024, 2, 1), 3)
    fact(log, p4, ev.MovedOut, date(2024, 6, 10), destination="gemeente")
    # P6 (B): rung 6 on 5 May, werk volledig from 5 May, a help request on 1 May (spreekuur).
    p6 = log.register(date(2024, 1, 1), B)
    rung(log, p6, date(2024, 5, 5), 6, B)
    outflow_started(log, p6, date(2024, 5, 5), "werk_volledig", B)
    fact(log, p6, ev.HelpRequestRecorded, date(2024, 5, 1), B, category="wonen")
    cut = log.clock

    log.correct(p1, p1_may, rung=1)
    log.correct(p1, p1_june_request, occurred_on="2024-07-02")
    log.retract(p3, p3_outflow)
    # P5 (A), all recorded after the cut (back-dated): registered 2 Apr, rung 2 on 10 Apr
    # (first assessed in the quarter), werk volledig from 20 Apr, PVT 1 Jun in G1. No duty.
    p5 = log.register(date(2024, 4, 2))
    rung(log, p5, date(2024, 4, 10), 2)
    outflow_started(log, p5, date(2024, 4, 20), "werk_volledig")
    fact(
        log, p5, ev.PvtCompleted, date(2024, 6, 1), provider="Taalhuis", hours=12, activity_id="G1"
    )
    return log.events, cut


def section(report: DashboardReport, name: str) -> dict[tuple[str, str | None], Any]:
    return {(f.figure, f.breakdown): f.value for f in report.figures if f.section == name}


def by(report: DashboardReport, name: str, figure: str) -> dict[str | None, Any]:
    return {b: v for (f, b), v in section(report, name).items() if f == figure}


@pytest.fixture
def cut(ledger: TrajectoryLedger) -> datetime:
    events, moment = scenario()
    append(ledger, events)
    return moment


def test_the_dashboard_figures_of_a_quarter(views: Views, cut: datetime) -> None:
    report = dashboard(views, Q2)
    # active on 30 Jun: P1, P2, P3, P5, P6 (P4 moved out); rungs P1 1 (corrected), P2 4, P3 1,
    # P5 2, P6 6; leerroute P1 B1, P2 Z, the others none
    assert report.value("caseload", "active") == 5
    assert by(report, "caseload", "by_rung") == {
        "1": 2, "2": 1, "3": 0, "4": 1, "5": 0, "6": 1, "none": 0
    }  # fmt: skip
    assert by(report, "caseload", "by_leerroute") == {"B1": 1, "onderwijs": 0, "Z": 1, "none": 3}
    # started in Q2: werk volledig P5, P6; gedeeltelijk P1; P3's onderwijs retracted; P2's
    # vrijwilligerswerk started in Q1 but is in the stock; P4's move is not outflow
    assert by(report, "outflow", "started") == {
        "werk_volledig": 2,
        "werk_gedeeltelijk": 1,
        "onbetaald_vrijwilligerswerk": 0,
        "onderwijs": 0,
        "total": 3,
    }
    assert by(report, "outflow", "in_outflow_at_end")["total"] == 4
    assert by(report, "outflow", "in_outflow_at_end")["onbetaald_vrijwilligerswerk"] == 1
    assert report.value("outflow", "moved_out") == 1
    # ladder: the same rungs; P4 (rung 3) not active. From 1 Apr: P1 2 → 1 down, P2 4 → 4 and
    # P3 1 → 1 the same, P5 and P6 first assessed in the quarter
    assert by(report, "ladder", "distribution") == {
        "1": 2, "2": 1, "3": 0, "4": 1, "5": 0, "6": 1
    }  # fmt: skip
    assert report.value("ladder", "assessed") == 5
    assert report.value("ladder", "inactive_assessed") == 1
    assert by(report, "ladder", "movement") == {"up": 0, "same": 2, "down": 1}
    assert report.value("ladder", "first_assessed") == 2
    assert report.value("ladder", "inactive_on_from") == 0
    # plans: 2 of the 5 active with a PIP; PIP v1 due in Q2: P2 (late) and P3 (open); the 2024
    # cohort: P1, P2, P3, intake P1 (17 days), PIP P1 (46) and P2 (90) → median 68
    expected_plans = {
        ("active", None): 5,
        ("with_plan", None): 2,
        ("plan_share", None): 0.4,
        ("pip_v1", "due_in_period"): 2,
        ("pip_v1", "on_time"): 0,
        ("pip_v1", "late"): 1,
        ("pip_v1", "open"): 1,
        ("cohort_persons", "2024"): 3,
        ("cohort_intake_started", "total"): 1,
        ("cohort_median_days_to_intake", "total"): 17.0,
        ("cohort_pip_adopted", "total"): 2,
        ("cohort_median_days_to_pip", "total"): 68.0,
    }
    assert expected_plans.items() <= section(report, "plans").items()
    # inburgering on 30 Jun: the active clients with a duty (P1 B1, P2 Z, P3 none); P2 signed
    # the PVT (P5 signed too but has no duty)
    assert by(report, "inburgering", "persons") == {
        "B1": 1, "onderwijs": 0, "Z": 1, "none": 1, "total": 3
    }  # fmt: skip
    assert by(report, "inburgering", "pvt_done")["total"] == 1
    # activities in Q2: requests P1 15 Apr (spreekuur), P2 20 Apr (MB), P6 1 May (spreekuur);
    # P1's 1 Jun request was moved to July. MB year 1: P2. PVT: P2 and P5 in G1
    assert by(report, "activities", "help_requests") == {"mb": 1, "spreekuur": 2, "all": 3}
    assert by(report, "activities", "help_request_persons") == {"mb": 1, "spreekuur": 2, "all": 3}
    assert by(report, "activities", "guidance_started") == {"1": 1, "2": 0, "total": 1}
    assert section(report, "activities")[("pvt_signatures", None)] == 2
    assert section(report, "activities")[("pvt_participants", None)] == 2
    assert section(report, "activities")[("pvt_groups", None)] == 1


def test_as_known_at_the_cut_off(views: Views, cut: datetime) -> None:
    report = dashboard(views, Q2, as_known_at=cut)
    # no P5 yet, P1's May rung still 3, P3's onderwijs not yet retracted, P1's June request
    # still in June
    assert report.value("caseload", "active") == 4
    assert by(report, "outflow", "started")["onderwijs"] == 1
    assert by(report, "outflow", "started")["total"] == 3  # P1, P3, P6
    assert by(report, "ladder", "movement") == {"up": 1, "same": 2, "down": 0}
    assert report.value("ladder", "first_assessed") == 1
    assert by(report, "activities", "help_requests") == {"mb": 1, "spreekuur": 3, "all": 4}
    assert section(report, "activities")[("pvt_signatures", None)] == 1
    assert report.as_known_at is not None


def test_one_municipality(views: Views, cut: datetime) -> None:
    report = dashboard(views, Q2, municipality=A)
    assert report.municipality_name == "Vlaardingen"
    assert report.value("caseload", "active") == 4  # P6 lives in GM0599
    # outflow: P2's --by municipality rows for A: P5 and P1 started; P6 is B's
    assert by(report, "outflow", "started")["total"] == 2
    assert by(report, "outflow", "in_outflow_at_end")["total"] == 3
    assert report.value("outflow", "moved_out") == 1
    assert report.value("ladder", "assessed") == 4
    assert by(report, "activities", "help_requests")["all"] == 2
    elsewhere = dashboard(views, Q2, municipality="GM0344")
    assert by(elsewhere, "outflow", "started")["total"] == 0
    assert elsewhere.value("caseload", "active") == 0


@pytest.mark.parametrize("municipality", [None, A])
@pytest.mark.parametrize("known", [False, True])
def test_each_section_equals_its_stand_alone_report(
    views: Views, cut: datetime, municipality: str | None, known: bool
) -> None:
    moment = cut if known else None
    where: dict[str, Any] = {"municipality": municipality, "as_known_at": moment}
    composed = quarter_reports(views, Q2, **where)
    # each report run stand-alone for the quarter's dates is the one the dashboard holds
    assert composed.caseload == caseload_report(views, JUNE_30, **where)
    assert composed.ladder == ladder(views, JUNE_30, from_date=APRIL_1, **where)
    assert composed.plans == plans(views, Q2, **where)
    assert composed.inburgering == inburgering(views, JUNE_30, **where)
    assert composed.help_requests == help_requests(views, Q2, **where)
    assert composed.guidance == guidance(views, Q2, **where)
    assert composed.pvt == pvt(views, Q2, **where)
    grouped = "municipality" if municipality else None
    assert composed.outflow == outflow(views, Q2, as_known_at=moment, by=grouped)
    # and the dashboard's figures are theirs
    report = dashboard(views, Q2, **where)
    assert report.value("caseload", "active") == len(composed.caseload.entries)
    assert report.value("plans", "with_plan") == composed.plans.with_plan
    assert report.value("ladder", "assessed") == composed.ladder.assessed
    assert report.value("activities", "pvt_signatures") == composed.pvt.signatures
    signals = {g.group: g.persons for g in composed.caseload.by_signal}
    # the five deadline signals only: not the objection and ontzorgen signals of P1
    deadline = {name: signals[name] for name in DEADLINE_SIGNALS}
    assert by(report, "caseload", "by_signal") == deadline
    assert set(signals) - set(deadline) == {"objection_overdue", "ontzorgen_overdue"}


def test_composed_reports_read_one_state(
    ledger: TrajectoryLedger, make_ledger: LedgerFactory, store_url: str, cut: datetime
) -> None:
    """In a snapshot (as the dashboard runs its reports) every read sees one state of the read
    models: facts recorded after the first report, and caught up meanwhile by another
    process, are in none of the later ones; after it, every report sees them."""
    views = Views(ledger)
    other = Views(make_ledger(store_url))  # another process's connection
    late = LogBuilder(seed=16, start=datetime.now(UTC))
    newcomer = late.register(APRIL_1)
    late.add(newcomer, ev.LadderAssessed, occurred_on=APRIL_1, rung=5, assessor="r.jansen")
    read = (CASELOAD, INBURGERING, LADDER)
    with views.snapshot(read):
        first = caseload_report(views, JUNE_30)
        rungs = ladder(views, JUNE_30)
        append(ledger, late.events)
        assert len(caseload_report(other, JUNE_30).entries) == len(first.entries) + 1
        assert ladder(other, JUNE_30).assessed == rungs.assessed + 1
        assert ladder(views, JUNE_30) == rungs
        assert caseload_report(views, JUNE_30) == first
        assert plans(views, Q2).active == len(first.entries)
        # a read model the snapshot did not catch up is a bug, not a stale answer
        with pytest.raises(ProjectionStoreError, match="did not catch it up"):
            outflow(views, Q2)
    after = caseload_report(views, JUNE_30)
    assert len(after.entries) == len(first.entries) + 1
    assert after.position > first.position
    assert ladder(views, JUNE_30).assessed == rungs.assessed + 1


@pytest.mark.parametrize("municipality", [None, A])
def test_a_quarter_outside_the_ledger_gives_zeros(
    views: Views, cut: datetime, municipality: str | None
) -> None:
    report = dashboard(views, Period.parse("2019Q1"), municipality=municipality)
    numbers = [f.value for f in report.figures if f.value is not None]
    assert numbers and set(numbers) == {0}
    assert report.value("plans", "plan_share") is None


def test_a_period_that_is_not_a_quarter_is_refused(views: Views) -> None:
    with pytest.raises(ValueError, match="2024H1 is not a quarter"):
        dashboard(views, Period.parse("2024H1"))


def test_the_swi_extract_takes_the_dashboard_figures(views: Views, cut: datetime) -> None:
    extract = swi_extract(views, Q2)
    values = {v.variable: v.value for v in extract.values}
    assert extract.rule_set == "swi-2026.1"
    assert extract.due_on == "2024-07-28"  # 30 Jun + 4 weeks
    # by hand, as in test_the_dashboard_figures_of_a_quarter
    assert values["duty_persons_total"] == 3
    assert values["duty_persons_z"] == 1
    assert values["pip_adopted"] == 2
    assert values["median_days_to_pip"] == 68.0
    assert (values["pip_v1_due_in_period"], values["pip_v1_late"]) == (2, 1)
    assert values["pvt_signed_in_quarter"] == 2
    assert values["outflow_started_werk_volledig"] == 2
    assert values["outflow_started_onderwijs"] == 0  # retracted
    assert values["ladder_rung_1"] == 2
    # the hash: SHA-256 of the payload as compact JSON with sorted keys
    text = json.dumps(extract.payload, sort_keys=True, separators=(",", ":"))
    assert extract.sha256 == hashlib.sha256(text.encode()).hexdigest()
    # as known at the cut-off a figure and the hash differ; the same moment gives the same hash
    earlier = swi_extract(views, Q2, as_known_at=cut)
    assert {v.variable: v.value for v in earlier.values}["outflow_started_onderwijs"] == 1
    assert earlier.sha256 != extract.sha256
    assert swi_extract(views, Q2, as_known_at=cut).sha256 == earlier.sha256


def test_every_swi_variable_names_a_dashboard_figure(views: Views) -> None:
    # on an empty ledger: the figures every dashboard has
    report = dashboard(views, Period.parse("2024Q1"))
    for rules in SWI_SETS:
        assert len(select(rules, report)) == len(rules.variables)
        assert len({v.name for v in rules.variables}) == len(rules.variables)


# --- the commands ---------------------------------------------------------------------------


def test_report_dashboard_equals_the_stand_alone_commands(tmp_path: Path) -> None:
    events, cut = scenario()
    run = ReportCli(tmp_path, events)
    known = ("--as-known-at", cut.isoformat())
    for extra in ((), known):
        data = run.json("report", "dashboard", "--quarter", "2024Q2", *extra)
        assert (data["quarter"], data["start"], data["end"]) == (
            "2024Q2",
            "2024-04-01",
            "2024-06-30",
        )
        sections = data["sections"]
        caseload = run.json("report", "caseload", "--on", "2024-06-30", *extra)
        for name in ("by_rung", "by_leerroute"):
            assert sections["caseload"][name] == caseload[name]
        # the dashboard counts the five deadline signals of P1
        signals = {name: caseload["by_signal"][name] for name in DEADLINE_SIGNALS}
        assert sections["caseload"]["by_signal"] == signals
        assert sections["caseload"]["active"] == len(caseload["rows"])
        plans = run.json("report", "plans", "--period", "2024Q2", *extra)
        assert sections["plans"]["pip_v1"] == plans["pip_v1"]
        assert sections["plans"]["plan_share"] == plans["plan_share"]
        flows = run.json("report", "outflow", "--period", "2024Q2", *extra)
        assert sections["outflow"]["started"] == {
            r["outflow_type"]: r["started"] for r in flows["rows"]
        }
        assert sections["outflow"]["moved_out"] == flows["moved_out"][0]["persons"]
        rungs = run.json("report", "ladder", "--on", "2024-06-30", "--from", "2024-04-01", *extra)
        assert sections["ladder"]["distribution"] == {
            str(c["rung"]): c["persons"] for c in rungs["distribution"]
        }
        signed = run.json("report", "pvt", "--period", "2024Q2", *extra)
        assert sections["activities"]["pvt_signatures"] == signed["signatures"]
    assert data["as_known_at"] is not None
    assert (
        data["basis"]["projection"]
        == "caseload+inburgering+outflow+ladder+helprequests+guidance+pvt"
    )


def test_report_dashboard_csv_and_table(tmp_path: Path) -> None:
    run = ReportCli(tmp_path, scenario()[0])
    rows = run.csv("report", "dashboard", "--quarter", "2024Q2", "--municipality", "Vlaardingen")
    assert list(rows[0]) == ["municipality", "section", "figure", "breakdown", "value"]
    assert {r["municipality"] for r in rows} == {"GM0622"}
    found = {(r["section"], r["figure"], r["breakdown"]): r["value"] for r in rows}
    assert found[("caseload", "active", "")] == "4"
    assert found[("outflow", "started", "total")] == "2"
    assert found[("plans", "plan_share", "")] == "0.5"  # P1, P2 of P1, P2, P3, P5
    table = run.table("report", "dashboard", "--quarter", "2024Q2")
    assert "Kwartaaldashboard 2024Q2" in table
    assert "Participatieladder (P5) on 2024-06-30, movement since 2024-04-01" in table
    empty = run.csv("report", "dashboard", "--quarter", "2019Q1")
    assert {r["value"] for r in empty} == {"0", ""}


def test_report_swi_json_csv_and_hash(tmp_path: Path) -> None:
    events, cut = scenario()
    run = ReportCli(tmp_path, events)
    known = ("--as-known-at", cut.isoformat())
    data = run.json("report", "swi", "--quarter", "2024Q2", *known)
    assert (data["rule_set"], data["due_on"], data["quarter"]) == (
        "swi-2026.1",
        "2024-07-28",
        "2024Q2",
    )
    values = {v["variable"]: v["value"] for v in data["variables"]}
    assert values["outflow_started_onderwijs"] == 1  # not yet retracted at the cut-off
    canonical = {k: v for k, v in data.items() if k not in ("sha256", "basis")}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert data["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert run.json("report", "swi", "--quarter", "2024Q2", *known)["sha256"] == data["sha256"]
    rows = run.csv("report", "swi", "--quarter", "2024Q2")
    assert list(rows[0]) == ["municipality", "variable", "value", "rule_set"]
    assert {r["rule_set"] for r in rows} == {"swi-2026.1"}
    assert [r["value"] for r in rows if r["variable"] == "outflow_started_onderwijs"] == ["0"]
    assert data["sha256"] in run.table("report", "swi", "--quarter", "2024Q2", *known)


def test_audit_replay_runs_the_quarterly_reports(tmp_path: Path) -> None:
    events, cut = scenario()
    run = ReportCli(tmp_path, events)
    moment = cut.isoformat()
    for command in ("dashboard", "swi"):
        replay = run(
            "audit", "replay", "--as-known-at", moment, "report", command, "--quarter", "2024Q2"
        )
        assert replay.exit_code == 0, replay.output
        replayed = json.loads(replay.stdout)
        direct = run.json("report", command, "--quarter", "2024Q2", "--as-known-at", moment)
        assert replayed["command"] == ["report", command, "--quarter", "2024Q2"]
        without_basis = {k: v for k, v in direct.items() if k != "basis"}
        assert {k: v for k, v in replayed["result"].items() if k != "basis"} == without_basis
    assert replayed["result"]["sha256"] == direct["sha256"]
