"""P7's objections, Z-route eindgesprek, ontzorgen and flagged DUO loan reclaims, and P1's
objection and ontzorgen signals, on one hand-built scenario (SQLite and PostgreSQL), with a
retraction. Every expected figure is worked out by hand in the comments."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import pytest

from ledger import events as ev
from ledger.application import TrajectoryLedger
from projections import Views
from projections.caseload import caseload_report
from projections.inburgering import inburgering

ON = date(2025, 9, 30)


def person(app: TrajectoryLedger, on: date, permit: str, duty_start: date) -> UUID:
    """A registered client with a regisseur, a permit and an inburgering duty (notified on
    its start)."""
    pid = app.register_person(
        occurred_on=on, birth_date=date(1990, 1, 1), sex="m", nationality=["SY"],
        municipality="GM0622",
    ).stream_id  # fmt: skip
    app.record(pid, ev.CoachAssigned, occurred_on=on, staff_id="r.jansen", role="regisseur")
    app.record(pid, ev.ResidencePermitRecorded, occurred_on=on, permit_kind=permit)
    app.record(pid, ev.InburgeringDutyEstablished, occurred_on=duty_start, duty_start=duty_start)
    return pid


def pip(app: TrajectoryLedger, pid: UUID, on: date, leerroute: str) -> None:
    app.record(
        pid, ev.PipAdopted, occurred_on=on, version=1, leerroute=leerroute,
        hoofddoel="participatie", pvt_intensity="standaard", map_intensity="standaard",
        decision_ref="PIP-1",
    )  # fmt: skip


def bijstand(app: TrajectoryLedger, pid: UUID, on: date) -> None:
    app.record(pid, ev.BenefitGranted, occurred_on=on, benefit_kind="algemene_bijstand")


@pytest.fixture
def scenario(ledger: TrajectoryLedger) -> dict[str, Any]:
    app = ledger
    # A: asielstatushouder, Wi2021 from 2025-01-10, bijstand from 2025-01-15, ontzorgen from
    # 2025-01-20, never ended: planned end 2025-07-20, so past it on 2025-09-30. PIP v1
    # 2025-03-01 (Z-route); an objection filed 2025-03-20, undecided: decision due 6 weeks
    # later, 2025-05-01 (2025-06-12 with the extension). Eindgesprek 2025-09-01 niet_voldaan.
    a = person(app, date(2024, 12, 1), "asiel_bt", date(2025, 1, 10))
    bijstand(app, a, date(2025, 1, 15))
    app.record(a, ev.OntzorgenStarted, occurred_on=date(2025, 1, 20), items=["huur"])
    pip(app, a, date(2025, 3, 1), "Z")
    app.record(a, ev.PipObjectionFiled, occurred_on=date(2025, 3, 20))
    app.record(a, ev.ZRouteFinalInterviewHeld, occurred_on=date(2025, 9, 1), outcome="niet_voldaan")
    # B: asielstatushouder, Wi2021 from 2024-06-01, ontzorgen 2024-12-01 to 2025-05-31 (ended in
    # the period, started before it). B1-route; objections decided 2025-02-10 (gegrond) and
    # 2025-03-20 (ongegrond), none open.
    b = person(app, date(2024, 5, 1), "asiel_bt", date(2024, 6, 1))
    bijstand(app, b, date(2024, 6, 10))
    pip(app, b, date(2024, 8, 1), "B1")
    app.record(b, ev.PipObjectionFiled, occurred_on=date(2024, 8, 20))
    app.record(b, ev.OntzorgenStarted, occurred_on=date(2024, 12, 1), items=["huur", "energie"])
    app.record(b, ev.PipObjectionDecided, occurred_on=date(2025, 2, 10), outcome="gegrond")
    app.record(b, ev.PipObjectionFiled, occurred_on=date(2025, 3, 1))
    app.record(b, ev.PipObjectionDecided, occurred_on=date(2025, 3, 20), outcome="ongegrond")
    app.record(b, ev.OntzorgenEnded, occurred_on=date(2025, 5, 31))
    # C: asielstatushouder (asiel_afgeleid), Z-route, ontzorgen from 2025-08-01 (planned end
    # 2026-02-01: not past it); eindgesprek 2025-09-10 voldaan; an objection filed 2025-09-01
    # (due 2025-10-13: not overdue on 2025-09-30).
    c = person(app, date(2025, 5, 1), "asiel_afgeleid", date(2025, 5, 1))
    bijstand(app, c, date(2025, 5, 1))
    pip(app, c, date(2025, 7, 1), "Z")
    app.record(c, ev.OntzorgenStarted, occurred_on=date(2025, 8, 1), items=["huur"])
    app.record(c, ev.PipObjectionFiled, occurred_on=date(2025, 9, 1))
    app.record(c, ev.ZRouteFinalInterviewHeld, occurred_on=date(2025, 9, 10), outcome="voldaan")
    # D: a family migrant on the Z-route, no eindgesprek yet.
    d = person(app, date(2025, 1, 1), "regulier_gezin", date(2025, 1, 1))
    pip(app, d, date(2025, 3, 1), "Z")
    # E: asielstatushouder under Wi2013 (duty 2016), DUO loan 5000; reclaims 2025-03-01 (1000,
    # before the RvS ruling of 2025-07-09), 2025-08-01 (500, after it) and 2025-09-01 (200,
    # retracted: it does not count).
    e = person(app, date(2016, 1, 10), "asiel_bt", date(2016, 3, 1))
    app.record(e, ev.DuoLoanGranted, occurred_on=date(2016, 5, 1), amount="5000")
    app.record(e, ev.DuoLoanReclaimed, occurred_on=date(2025, 3, 1), amount="1000")
    app.record(e, ev.DuoLoanReclaimed, occurred_on=date(2025, 8, 1), amount="500")
    wrong = app.record(e, ev.DuoLoanReclaimed, occurred_on=date(2025, 9, 1), amount="200")
    app.retract(e, target_version=wrong.version, reason="recorded for the wrong person")
    # F: a family migrant under Wi2013 whose loan is reclaimed after the ruling: no flag (not
    # an asielstatushouder).
    f = person(app, date(2016, 1, 10), "regulier_gezin", date(2016, 3, 1))
    app.record(f, ev.DuoLoanGranted, occurred_on=date(2016, 5, 1), amount="5000")
    app.record(f, ev.DuoLoanReclaimed, occurred_on=date(2025, 8, 1), amount="700")
    return {"app": app, "a": str(a), "b": str(b), "c": str(c), "d": str(d), "e": str(e)}


def test_p7_counts_objections_the_eindgesprek_and_ontzorgen(scenario: dict[str, Any]) -> None:
    report = inburgering(Views(scenario["app"]), ON)
    # the period runs from 1 January of the date's year
    assert report.date_from == "2025-01-01"
    # open on the date: A (filed 2025-03-20, past 2025-05-01) and C (filed 2025-09-01);
    # decided in the period: B's two
    assert report.objections.open == 2
    assert report.objections.open_overdue == 1
    assert dict(report.objections.decided) == {
        "gegrond": 1, "deels_gegrond": 0, "ongegrond": 1, "niet_ontvankelijk": 0,
        "ingetrokken": 0,
    }  # fmt: skip
    # Z-route participants A, C and D: niet_voldaan, voldaan, none held
    assert report.z_route.participants == 3
    assert dict(report.z_route.final_interview) == {"voldaan": 1, "niet_voldaan": 1, "none": 1}
    # ontzorgd on the date: A and C; A past its planned end; started in 2025: A (01-20) and
    # C (08-01), not B (2024-12-01); ended in 2025: B (05-31)
    t = report.ontzorgen
    assert (t.ontzorgd, t.past_planned_end, t.started, t.ended) == (2, 1, 2, 1)


def test_p7_counts_in_the_period_from_a_given_date(scenario: dict[str, Any]) -> None:
    report = inburgering(Views(scenario["app"]), ON, date_from=date(2025, 3, 1))
    # from 2025-03-01: only B's decision of 2025-03-20 (ongegrond); only C's start; B's end
    assert dict(report.objections.decided)["gegrond"] == 0
    assert dict(report.objections.decided)["ongegrond"] == 1
    assert (report.ontzorgen.started, report.ontzorgen.ended) == (1, 1)
    # what holds on the date does not depend on the period
    assert (report.objections.open, report.ontzorgen.ontzorgd) == (2, 2)
    with pytest.raises(ValueError, match="must not be after"):
        inburgering(Views(scenario["app"]), ON, date_from=date(2025, 10, 1))


def test_a_loan_reclaim_of_an_asielstatushouder_is_flagged_by_the_rule_set_of_the_date(
    scenario: dict[str, Any],
) -> None:
    views = Views(scenario["app"])
    e = scenario["e"]
    # before the RvS ruling of 2025-07-09 nothing is flagged (rule set lening.2013.1)
    early = inburgering(views, date(2025, 7, 1))
    assert (early.reclaim_rule_set, early.flagged_reclaims) == ("lening.2013.1", ())
    # on 2025-09-30 (lening.2025.1): E's reclaim of 2025-08-01 only; the one of 2025-03-01 is
    # before the ruling, the one of 2025-09-01 is retracted, and F is no asielstatushouder
    report = inburgering(views, ON)
    assert report.reclaim_rule_set == "lening.2025.1"
    assert [(r.person_id, r.reclaimed_on, r.amount) for r in report.flagged_reclaims] == [
        (e, "2025-08-01", "500")
    ]
    # from the RvS ruling of 2026-02-18 decisions already final count too: both reclaims
    later = inburgering(views, date(2026, 3, 1))
    assert later.reclaim_rule_set == "lening.2026.1"
    assert [(r.reclaimed_on, r.amount) for r in later.flagged_reclaims] == [
        ("2025-03-01", "1000"),
        ("2025-08-01", "500"),
    ]


def test_p1_signals_an_overdue_objection_and_an_ontzorgen_past_its_planned_end(
    scenario: dict[str, Any],
) -> None:
    report = caseload_report(Views(scenario["app"]), ON)
    signals = {
        e.row.person_id: [(s.code, s.due_on, s.detail) for s in e.signals] for e in report.entries
    }
    new = [
        (person, code, due, detail)
        for person, found in signals.items()
        for code, due, detail in found
        if code in ("objection_overdue", "ontzorgen_overdue")
    ]
    # only A: the objection of 2025-03-20 (due 2025-05-01) and the ontzorgen of 2025-01-20
    # (planned end 2025-07-20); C's objection and ontzorgen are within their terms, B's
    # ontzorgen ended
    assert new == [
        (scenario["a"], "objection_overdue", "2025-05-01",
         "objection filed 2025-03-20 undecided; decision term ended 2025-05-01 (with the "
         "extension: 2025-06-12)"),
        (scenario["a"], "ontzorgen_overdue", "2025-07-20",
         "ontzorgen since 2025-01-20 still open after its planned end 2025-07-20"),
    ]  # fmt: skip
    by_signal = {c.group: c.persons for c in report.by_signal}
    assert (by_signal["objection_overdue"], by_signal["ontzorgen_overdue"]) == (1, 1)
    # on the planned end itself the ontzorgen is not yet past it
    on_the_day = caseload_report(Views(scenario["app"]), date(2025, 7, 20))
    codes = [s.code for e in on_the_day.entries for s in e.signals]
    assert "ontzorgen_overdue" not in codes
    assert codes.count("objection_overdue") == 1


def test_a_permit_read_to_tell_an_asielstatushouder_is_no_late_recording(
    ledger: TrajectoryLedger,
) -> None:
    # a client registered in 2020 whose permit is renewed on 2025-09-01, recorded today (more
    # than a year later): the permit is kept by the inburgering read model, but it is no
    # inburgering fact, so the caseload of 2025-09-30 signals no late recording
    pid = person(ledger, date(2020, 1, 10), "asiel_bt", date(2020, 2, 1))
    ledger.record(pid, ev.ResidencePermitRecorded, occurred_on=date(2025, 9, 1),
                  permit_kind="onbepaalde_tijd")  # fmt: skip
    report = caseload_report(Views(ledger), ON)
    (entry,) = report.entries
    assert [s.code for s in entry.signals if s.code == "late_recording"] == []
    # a recent inburgering fact recorded as late is one
    ledger.record(pid, ev.DuoLoanGranted, occurred_on=date(2020, 3, 1), amount="5000")
    ledger.record(pid, ev.DuoLoanReclaimed, occurred_on=date(2025, 9, 2), amount="100")
    (entry,) = caseload_report(Views(ledger), ON).entries
    late = [s.detail for s in entry.signals if s.code == "late_recording"]
    assert len(late) == 1 and late[0].startswith("DuoLoanReclaimed of 2025-09-02 recorded")
