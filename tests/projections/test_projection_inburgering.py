"""P1 deadline signals, P6 plans, P7 inburgering and the candidate finder on one hand-built
scenario (SQLite and PostgreSQL), with a correction, a retraction, a back-dated fact and an
as-known-at cut-off. Every expected figure is worked out by hand in the comments."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from ledger import events as ev
from ledger import rules
from ledger.aggregates import LEDGER_TIMEZONE
from ledger.application import TrajectoryLedger
from ledger.values import Period
from projections import Views, catch_up, rebuild
from projections.candidates import CANDIDATES, find_candidates
from projections.caseload import CaseloadReport, caseload_report
from projections.duty import INBURGERING
from projections.inburgering import inburgering
from projections.plans import plans

JULY = date(2024, 7, 31)


def person(app: TrajectoryLedger, on: date, staff: str, municipality: str = "GM0622") -> UUID:
    pid = app.register_person(
        occurred_on=on,
        birth_date=date(1990, 1, 1),
        sex="m",
        nationality=["ER"],
        municipality=municipality,
    ).stream_id
    app.record(pid, ev.CoachAssigned, occurred_on=on, staff_id=staff, role="regisseur")
    return pid


def duty(app: TrajectoryLedger, pid: UUID, notified: date, start: date, **more: Any) -> None:
    app.record(pid, ev.InburgeringDutyEstablished, occurred_on=notified, duty_start=start, **more)


def pip(app: TrajectoryLedger, pid: UUID, on: date, leerroute: str) -> int:
    return app.record(
        pid,
        ev.PipAdopted,
        occurred_on=on,
        version=1,
        leerroute=leerroute,
        hoofddoel="werk",
        pvt_intensity="standaard",
        map_intensity="standaard",
        decision_ref="PIP-1",
    ).version


def exam(
    app: TrajectoryLedger, pid: UUID, on: date, component: str, attempt: int, result: str
) -> int:
    return app.record(
        pid,
        ev.ExamResultRecorded,
        occurred_on=on,
        component=component,
        level="B1",
        result=result,
        attempt_no=attempt,
    ).version


@pytest.fixture
def scenario(ledger: TrajectoryLedger) -> dict[str, Any]:
    app = ledger
    # P: Wi2021 from 2024-02-01, notified 2024-02-10, BRP 2024-02-01 → PIP v1 due 2024-04-20;
    # intake 2024-03-01 (29 days), PIP v1 2024-04-15 on time (74 days), B1-route; term ends
    # 2027-04-16. Rung 3 (2024-05-01). Exams: lezen 1 failed, lezen 2 passed, knm 1 passed.
    # PVT 2024-06-01, 600 NT2 hours, afgeschaald 2024-07-15. Profile: zorg en welzijn, mbo-2;
    # language A2 (2024-05-01), corrected to B1 after the cut-off.
    p = person(app, date(2024, 1, 10), "r.jansen")
    app.record(p, ev.BrpRegistered, occurred_on=date(2024, 2, 1))
    duty(app, p, date(2024, 2, 10), date(2024, 2, 1))
    app.record(p, ev.BroadIntakeStarted, occurred_on=date(2024, 3, 1), by="r.jansen")
    pip(app, p, date(2024, 4, 15), "B1")
    app.record(p, ev.LadderAssessed, occurred_on=date(2024, 5, 1), rung=3, assessor="r.jansen")
    exam(app, p, date(2024, 5, 10), "lezen", 1, "gezakt")
    exam(app, p, date(2024, 6, 10), "lezen", 2, "geslaagd")
    exam(app, p, date(2024, 5, 20), "knm", 1, "geslaagd")
    app.record(p, ev.PvtCompleted, occurred_on=date(2024, 6, 1), provider="Taalhuis", hours=12)
    app.record(
        p,
        ev.CourseHoursReported,
        occurred_on=date(2024, 7, 1),
        period_from=date(2024, 4, 16),
        component="NT2",
        hours_attended=600,
    )
    app.record(p, ev.DowngradedToA2, occurred_on=date(2024, 7, 15))
    app.record(
        p,
        ev.ProfileUpdated,
        occurred_on=date(2024, 3, 1),
        occupation_direction="zorg en welzijn",
        education="mbo-2",
    )
    level = app.record(
        p,
        ev.LanguageLevelAssessed,
        occurred_on=date(2024, 5, 1),
        cefr="A2",
        method="toets",
        context="interim",
    ).version

    # Q: Wi2021 from 2024-01-20, notified 2024-01-25 → PIP v1 due 2024-04-04; PIP v1 recorded
    # as 2024-05-01 (late, 102 days), corrected after the cut-off to 2024-04-02 (on time, 73
    # days); Z-route; no intake. Rung 2 on 2024-01-16 (stale by July). Spreken attempt 1 passed,
    # corrected to failed after the cut-off. Profile: zorg, language B1.
    q = person(app, date(2024, 1, 15), "r.jansen")
    app.record(q, ev.BrpRegistered, occurred_on=date(2024, 1, 20))
    duty(app, q, date(2024, 1, 25), date(2024, 1, 20))
    q_pip = pip(app, q, date(2024, 5, 1), "Z")
    app.record(q, ev.LadderAssessed, occurred_on=date(2024, 1, 16), rung=2, assessor="r.jansen")
    q_exam = exam(app, q, date(2024, 4, 20), "spreken", 1, "geslaagd")
    app.record(
        q,
        ev.ProfileUpdated,
        occurred_on=date(2024, 2, 1),
        occupation_direction="zorg",
        language_level="B1",
    )

    # R (GM0599, s.bakker): Wi2021 from 2023-12-01 (cohort 2023), BRP 2024-05-01, notified
    # 2024-05-10 → PIP v1 due 2024-07-19, still open in July; intake 2024-06-01 (183 days).
    r = person(app, date(2024, 1, 10), "s.bakker", municipality="GM0599")
    app.record(r, ev.BrpRegistered, occurred_on=date(2024, 5, 1), municipality="GM0599")
    duty(app, r, date(2024, 5, 10), date(2023, 12, 1), municipality="GM0599")
    app.record(
        r,
        ev.BroadIntakeStarted,
        occurred_on=date(2024, 6, 1),
        by="s.bakker",
        municipality="GM0599",
    )

    # S: Wi2013 from 2021-03-01 (BRP 2021-03-01 → PVT due 2022-03-01, never signed); DUO's term
    # end 2024-03-01, extended to 2024-09-30 (the extension is retracted after the cut-off);
    # ONA done 2024-04-01; a fine that no figure may count.
    s = person(app, date(2024, 1, 10), "r.jansen")
    app.record(s, ev.BrpRegistered, occurred_on=date(2021, 3, 1))
    duty(app, s, date(2021, 3, 10), date(2021, 3, 1), term_end=date(2024, 3, 1))
    extension = app.record(
        s,
        ev.TermExtended,
        occurred_on=date(2024, 2, 15),
        new_end=date(2024, 9, 30),
        ground="ziekte",
    ).version
    app.record(s, ev.OnaCompleted, occurred_on=date(2024, 4, 1), mode="eindgesprek")
    app.record(s, ev.FineImposed, occurred_on=date(2024, 3, 5), component="diploma", amount=1250)

    # T: Wi2021, a zorg profile, but the case closed on 2024-06-30: never counted from then on.
    t = person(app, date(2024, 1, 10), "r.jansen")
    duty(app, t, date(2024, 1, 10), date(2024, 1, 5))
    app.record(t, ev.ProfileUpdated, occurred_on=date(2024, 2, 1), occupation_direction="zorg")
    app.record(t, ev.CaseClosed, occurred_on=date(2024, 6, 30), reason="other")

    cut: datetime = list(app.stream_events(t))[-1].timestamp
    # after the cut-off: two corrections, a retraction and a back-dated MAP
    app.correct(q, q_pip, {"occurred_on": "2024-04-02"}, reason="wrong dagtekening")
    app.correct(q, q_exam, {"result": "gezakt"}, reason="misread result")
    app.correct(p, level, {"cefr": "B1"}, reason="typo")
    app.retract(s, extension, reason="extension refused")
    app.record(p, ev.MapCompleted, occurred_on=date(2024, 6, 20))

    # U: registered today by r.jansen, nothing else: no signal today
    u = person(app, datetime.now(UTC).date(), "r.jansen")
    names = {p: "P", q: "Q", r: "R", s: "S", t: "T", u: "U"}
    return {"app": app, "cut": cut, "names": {str(k): v for k, v in names.items()}}


def signals(result: CaseloadReport, names: dict[str, str]) -> dict[str, set[str]]:
    return {names[e.row.person_id]: {s.code for s in e.signals} for e in result.entries}


def test_caseload_signals_deadlines_as_true_on_a_date(
    views: Views, scenario: dict[str, Any]
) -> None:
    names = scenario["names"]
    result = caseload_report(views, JULY)
    # thresholds: PIP 2 weeks ahead, PVT 3 months, term 6 months, ladder 6 months
    # (stale if last assessed on or before 2024-01-31), late recordings of facts after
    # 2024-04-30 that were recorded more than 30 days later (everything here was recorded in
    # or after 2026)
    assert signals(result, names) == {
        # facts from May to July recorded late
        "P": {"late_recording"},
        # rung of 2024-01-16; the corrected PIP (2024-04-02) is before the window
        "Q": {"ladder_stale"},
        # PIP v1 overdue since 2024-07-19; never assessed since 2024-01-10; BRP in May
        "R": {"pip_due", "ladder_stale", "late_recording"},
        # PVT due 2022-03-01; term ended 2024-03-01 (extension retracted); never assessed
        "S": {"pvt_due", "term_ending", "ladder_stale"},
    }
    details = {
        names[e.row.person_id]: {s.code: (s.due_on, s.detail) for s in e.signals}
        for e in result.entries
    }
    assert details["R"]["pip_due"] == ("2024-07-19", "PIP v1 overdue since 2024-07-19")
    assert details["S"]["term_ending"] == ("2024-03-01", "inburgeringstermijn ended on 2024-03-01")
    assert details["S"]["pvt_due"][0] == "2022-03-01"
    assert {c.group: c.persons for c in result.by_rung} == {
        "1": 0,
        "2": 1,
        "3": 1,
        "4": 0,
        "5": 0,
        "6": 0,
        "none": 2,
    }
    assert {c.group: c.persons for c in result.by_leerroute} == {
        "B1": 1,
        "onderwijs": 0,
        "Z": 1,
        "none": 2,
    }
    assert {c.group: c.persons for c in result.by_signal} == {
        "pip_due": 1,
        "pvt_due": 1,
        "term_ending": 1,
        "ladder_stale": 3,
        "late_recording": 2,
        "objection_overdue": 0,
        "ontzorgen_overdue": 0,
    }
    assert len(result.digest or "") == 64
    assert result.projections == ("caseload", "inburgering")


def test_a_late_recording_is_one_recorded_more_than_the_threshold_after_it_happened(
    ledger: TrajectoryLedger, views: Views
) -> None:
    # recorded today: an assessment of 31 days ago is late, one of 30 days ago is not (the
    # threshold of the rule set, 30 days); the registrations lie before the recent window
    today = datetime.now(LEDGER_TIMEZONE).date()  # the Dutch date the facts are recorded on
    limit = rules.current_rules().late_recording_days
    late, on_time = (person(ledger, today - timedelta(days=200), "r.jansen") for _ in range(2))
    for pid, days in ((late, limit + 1), (on_time, limit)):
        ledger.record(
            pid, ev.LadderAssessed, occurred_on=today - timedelta(days=days), rung=2, assessor="a"
        )
    result = caseload_report(views, today)
    found = {e.row.person_id: [s.detail for s in e.signals] for e in result.entries}
    happened = (today - timedelta(days=limit + 1)).isoformat()
    assert found == {
        str(late): [f"LadderAssessed of {happened} recorded {limit + 1} days later"],
        str(on_time): [],
    }


def test_caseload_signals_as_known_at_the_cut_off(views: Views, scenario: dict[str, Any]) -> None:
    names = scenario["names"]
    result = caseload_report(views, JULY, as_known_at=scenario["cut"])
    found = signals(result, names)
    # Q's PIP was still dated 2024-05-01: in the window, recorded late
    assert found["Q"] == {"ladder_stale", "late_recording"}
    # S's term still ran to 2024-09-30: within 6 months of July, extended
    (term,) = [
        s
        for e in result.entries
        if names[e.row.person_id] == "S"
        for s in e.signals
        if s.code == "term_ending"
    ]
    assert (term.due_on, term.detail) == (
        "2024-09-30",
        "inburgeringstermijn ends on 2024-09-30 (extended)",
    )


def test_caseload_filters_and_signals_only(views: Views, scenario: dict[str, Any]) -> None:
    names = scenario["names"]
    assert set(signals(caseload_report(views, JULY, coach="r.jansen"), names)) == {"P", "Q", "S"}
    assert set(signals(caseload_report(views, JULY, municipality="GM0599"), names)) == {"R"}
    today = datetime.now(UTC).date()
    everyone = signals(caseload_report(views, today), names)
    # today U (registered today) has no signal; the others' ladder assessments are stale
    assert everyone["U"] == set()
    flagged = caseload_report(views, today, signals_only=True)
    assert set(signals(flagged, names)) == {"P", "Q", "R", "S"}
    assert sum(c.persons for c in flagged.by_leerroute) == 4


def test_plans_coverage_and_pip_timeliness(views: Views, scenario: dict[str, Any]) -> None:
    report = plans(views, Period.parse("2024H1"))
    # active on 2024-06-30: P, Q, R, S (T closed that day); with a PIP: P and Q
    assert (report.active, report.with_plan, report.plan_share) == (4, 2, 0.5)
    # due in H1: P (04-20, adopted 04-15) and Q (04-04, adopted 04-02 after correction);
    # R's PIP is due 07-19, after H1
    assert (report.pip_due, report.pip_on_time, report.pip_late, report.pip_open) == (2, 2, 0, 0)
    cohorts = {c.cohort: c for c in report.cohorts}
    assert list(cohorts) == ["2023", "2024", "total"]
    # 2023: R, intake after 183 days, no PIP
    assert (cohorts["2023"].persons, cohorts["2023"].intake_started) == (1, 1)
    assert cohorts["2023"].median_days_to_intake == 183
    assert (cohorts["2023"].pip_adopted, cohorts["2023"].median_days_to_pip) == (0, None)
    # 2024: P (intake 29 days, PIP 74 days) and Q (no intake, PIP 73 days)
    assert (cohorts["2024"].persons, cohorts["2024"].intake_started) == (2, 1)
    assert cohorts["2024"].median_days_to_intake == 29
    assert cohorts["2024"].median_days_to_pip == 73.5
    # total: intake days 29 and 183 → 106
    assert (cohorts["total"].persons, cohorts["total"].median_days_to_intake) == (3, 106)


def test_plans_as_known_at_the_cut_off_and_per_municipality(
    views: Views, scenario: dict[str, Any]
) -> None:
    known = plans(views, Period.parse("2024H1"), as_known_at=scenario["cut"])
    # Q's PIP was dated 2024-05-01: late, 102 days after the duty's start
    assert (known.pip_on_time, known.pip_late, known.pip_open) == (1, 1, 0)
    cohorts = {c.cohort: c for c in known.cohorts}
    assert cohorts["2024"].median_days_to_pip == (74 + 102) / 2
    # in Q1 (T still active) only T's PIP v1 was due: 2024-03-20, 10 weeks after the notice of
    # 2024-01-10 (T has no BRP registration); T never got one
    q1 = plans(views, Period.parse("2024Q1"))
    assert (q1.active, q1.pip_due, q1.pip_on_time, q1.pip_late, q1.pip_open) == (5, 1, 0, 0, 1)
    only = plans(views, Period.parse("2024H1"), municipality="GM0599")
    assert (only.active, only.with_plan, only.pip_due) == (1, 0, 0)


def test_inburgering_status_per_route_exams_and_risk(
    views: Views, scenario: dict[str, Any]
) -> None:
    names = scenario["names"]
    report = inburgering(views, JULY)
    routes = {r.leerroute: r for r in report.routes}
    # B1: P, afgeschaald, PVT, MAP (back-dated), KNM passed
    b1 = routes["B1"]
    assert (b1.persons, b1.afgeschaald, b1.pvt_done, b1.map_done, b1.knm_done) == (1, 1, 1, 1, 1)
    assert (routes["Z"].persons, routes["Z"].pvt_done) == (1, 0)
    # R and S have no route; S did ONA
    assert (routes["none"].persons, routes["none"].ona_done) == (2, 1)
    assert routes["onderwijs"].persons == 0
    total = routes["total"]
    assert (total.persons, total.pvt_done, total.map_done, total.fulfilled) == (4, 1, 1, 0)
    exams = {(e.component, e.attempt_no): (e.taken, e.passed) for e in report.exams}
    # Q's spreken was corrected to failed
    assert exams == {
        ("knm", 1): (1, 1),
        ("lezen", 1): (1, 0),
        ("lezen", 2): (1, 1),
        ("spreken", 1): (1, 0),
    }
    # risk: only S, whose term ended 2024-03-01 once the extension was retracted (152 days ago)
    assert [(names[r.person_id], r.term_end, r.extended, r.days_left) for r in report.risk] == [
        ("S", "2024-03-01", False, -152)
    ]
    assert report.risk_months == 6


def test_inburgering_as_known_at_the_cut_off(views: Views, scenario: dict[str, Any]) -> None:
    names = scenario["names"]
    report = inburgering(views, JULY, as_known_at=scenario["cut"])
    routes = {r.leerroute: r for r in report.routes}
    assert routes["B1"].map_done == 0  # the MAP was recorded after the cut-off
    exams = {(e.component, e.attempt_no): (e.taken, e.passed) for e in report.exams}
    assert exams[("spreken", 1)] == (1, 1)
    # S's extension to 2024-09-30 still stood: 61 days left (August 31 + September 30)
    assert [(names[r.person_id], r.term_end, r.extended, r.days_left) for r in report.risk] == [
        ("S", "2024-09-30", True, 61)
    ]


def test_find_candidates_by_occupation_language_and_rung(
    views: Views, scenario: dict[str, Any]
) -> None:
    names = scenario["names"]

    def found(**criteria: Any) -> list[str]:
        report = find_candidates(views, JULY, **criteria)
        return sorted(names[c.person_id] for c in report.candidates)

    # T (zorg) is no longer active; P's occupation "zorg en welzijn" contains "zorg"
    assert found(occupation="zorg") == ["P", "Q"]
    assert found(occupation="ZORG", min_language="A2", min_rung=3) == ["P"]
    # P's A2 was corrected to B1
    assert found(min_language="B1") == ["P", "Q"]
    assert found(education="mbo") == ["P"]
    assert found(min_rung=4) == []
    assert found(municipality="GM0599") == ["R"]
    known = find_candidates(views, JULY, min_language="B1", as_known_at=scenario["cut"])
    assert [names[c.person_id] for c in known.candidates] == ["Q"]
    (p,) = find_candidates(views, JULY, occupation="welzijn").candidates
    assert (p.rung, p.language_level, p.education, p.regisseurs) == (
        3,
        "B1",
        "mbo-2",
        ("r.jansen",),
    )


def test_find_candidates_refuses_an_unknown_language_level(views: Views) -> None:
    with pytest.raises(ValueError, match="min_language"):
        find_candidates(views, JULY, min_language="B3")


def test_a_rebuild_gives_the_same_rows_and_report_as_catching_up(
    views: Views, scenario: dict[str, Any]
) -> None:
    caught_up = inburgering(views, JULY)
    candidates_digest = find_candidates(views, JULY).digest
    facts_digest = catch_up(views, INBURGERING).digest
    # rebuilding both read models from position zero gives the same digests, so the same basis
    assert rebuild(views, INBURGERING).digest == facts_digest
    assert rebuild(views, CANDIDATES).digest == catch_up(views, CANDIDATES).digest
    again = inburgering(views, JULY)
    assert again == caught_up
    assert find_candidates(views, JULY).digest == candidates_digest


def test_the_pip_due_date_runs_from_dutys_notice_when_a_correction_moves_the_start_later(
    ledger: TrajectoryLedger, views: Views
) -> None:
    app = ledger
    v = person(app, date(2024, 1, 10), "r.jansen")
    app.record(v, ev.BrpRegistered, occurred_on=date(2024, 1, 10))
    # notified 2024-01-20 (later than the BRP registration): PIP v1 due 2024-03-30
    duty(app, v, date(2024, 1, 20), date(2024, 1, 15))
    established = len(list(app.stream_events(v)))
    app.correct(v, established, {"duty_start": "2024-05-01"}, reason="DUO's date")

    (entry,) = [e for e in caseload_report(views, JULY).entries if e.row.person_id == str(v)]
    pip_due = [(s.due_on, s.detail) for s in entry.signals if s.code == "pip_due"]
    # still ten weeks after DUO's notice, though before the corrected start: the term runs
    # from the notice (domain §2.4), and a due date before the start shows the dates disagree
    assert pip_due == [("2024-03-30", "PIP v1 overdue since 2024-03-30")]
    # a PIP after the corrected start is late by that same due date, as the ledger says
    recorded = app.record(
        v, ev.PipAdopted, occurred_on=date(2024, 5, 2), version=1, leerroute="B1",
        hoofddoel="werk", pvt_intensity="standaard", map_intensity="standaard",
        decision_ref="PIP-1",
    )  # fmt: skip
    late = "PIP v1 is late: it was due on 2024-03-30 (10 weeks after notice/BRP)"
    assert late in recorded.warnings
