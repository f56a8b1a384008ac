"""P2 outflow per period: a hand-built scenario whose figures are worked out in the comments."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import pytest

from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.values import Period
from projections import Views
from projections.outflow import OutflowReport, outflow

H1 = Period.parse("2024H1")
H2 = Period.parse("2024H2")


def person(app: TrajectoryLedger, municipality: str = "GM0622") -> UUID:
    return app.register_person(
        occurred_on=date(2024, 1, 2),
        birth_date=date(1990, 4, 2),
        sex="m",
        nationality=["ER"],
        municipality=municipality,
    ).stream_id


def start(app: TrajectoryLedger, pid: UUID, on: date, kind: str, **more: Any) -> int:
    return app.record(pid, ev.OutflowStarted, occurred_on=on, outflow_type=kind, **more).version


def last_recorded(app: TrajectoryLedger, pid: UUID) -> datetime:
    return list(app.stream_events(pid))[-1].timestamp


def figures(report: OutflowReport, group: str | None = None) -> dict[str, tuple[int, int]]:
    """outflow type → (started in period, in outflow at the end)."""
    return {
        row.outflow_type: (row.started, row.in_outflow_at_end)
        for row in report.rows
        if row.group == group
    }


@pytest.fixture
def scenario(ledger: TrajectoryLedger) -> dict[str, Any]:
    """Seven persons; the originals are recorded first, then the cut, then later knowledge."""
    app = ledger
    p1, p2, p3, p4, p5, p6, p7 = (person(app) for _ in range(7))
    p2_other = p2
    app.record(p2_other, ev.BrpRegistered, occurred_on=date(2024, 1, 3), municipality="GM0599")

    # P1 works full-time from February and stops in May: started in H1, not in outflow at the end
    start(app, p1, date(2024, 2, 1), "werk_volledig")
    app.record(
        p1,
        ev.OutflowEnded,
        occurred_on=date(2024, 5, 1),
        outflow_type="werk_volledig",
        reason="contract ended",
    )
    # P2 (GM0599) works part-time and studies: counts under two types, once in the total
    start(app, p2, date(2024, 3, 1), "werk_gedeeltelijk")
    start(app, p2, date(2024, 4, 1), "onderwijs")
    # P3 starts full-time work twice in June, with a short stop between: counted once
    start(app, p3, date(2024, 6, 10), "werk_volledig")
    app.record(
        p3,
        ev.OutflowEnded,
        occurred_on=date(2024, 6, 14),
        outflow_type="werk_volledig",
        reason="contract ended",
    )
    start(app, p3, date(2024, 6, 20), "werk_volledig")
    # P4 starts education in May (later retracted)
    p4_start = start(app, p4, date(2024, 5, 5), "onderwijs")
    # P5 starts full-time work on 10 July (later corrected to 28 June)
    p5_start = start(app, p5, date(2024, 7, 10), "werk_volledig")
    # P7 starts full-time work in March (later corrected to part-time)
    p7_start = start(app, p7, date(2024, 3, 3), "werk_volledig")

    cut = max(last_recorded(app, p) for p in (p1, p2, p3, p4, p5, p7))

    # what became known after the cut
    app.retract(p4, p4_start, reason="entered twice")
    app.correct(p5, p5_start, {"occurred_on": "2024-06-28"}, reason="contract date")
    app.correct(p7, p7_start, {"outflow_type": "werk_gedeeltelijk"}, reason="24 hours")
    # P6's volunteering since January is recorded only now (back-dated)
    start(app, p6, date(2024, 1, 15), "onbetaald_vrijwilligerswerk")
    return {"app": app, "cut": cut}


def test_outflow_counts_distinct_persons_per_type_with_corrections_and_retractions(
    views: Views, scenario: dict[str, Any]
) -> None:
    report = outflow(views, H1)
    assert figures(report) == {
        # P1, P3 (once), P5 (corrected into June); in outflow at end: P3, P5 (P1 ended in May)
        "werk_volledig": (3, 2),
        # P2, and P7 corrected from werk_volledig
        "werk_gedeeltelijk": (2, 2),
        # P2; P4's start is retracted
        "onderwijs": (1, 1),
        # P6, back-dated into January
        "onbetaald_vrijwilligerswerk": (1, 1),
        # P1 P2 P3 P5 P6 P7 started; P2 P3 P5 P6 P7 still in outflow on 30 June
        "total": (6, 5),
    }
    assert report.period == "2024H1"
    assert report.as_known_at is None
    assert report.digest is not None


def test_a_back_dated_correction_moves_a_start_out_of_its_recorded_period(
    views: Views, scenario: dict[str, Any]
) -> None:
    # P5's start moved from July to June: H2 has no starts left, and P5's stock carries over
    assert figures(outflow(views, H2)) == {
        "werk_volledig": (0, 2),
        "werk_gedeeltelijk": (0, 2),
        "onderwijs": (0, 1),
        "onbetaald_vrijwilligerswerk": (0, 1),
        "total": (0, 5),
    }


def test_as_known_at_ignores_what_was_recorded_after_the_cut(
    views: Views, scenario: dict[str, Any]
) -> None:
    report = outflow(views, H1, as_known_at=scenario["cut"])
    assert figures(report) == {
        # P1, P3 and P7 (not yet corrected); P5 was still in July
        "werk_volledig": (3, 2),
        "werk_gedeeltelijk": (1, 1),
        # P2, and P4 (not yet retracted)
        "onderwijs": (2, 2),
        # P6 was not yet recorded
        "onbetaald_vrijwilligerswerk": (0, 0),
        # P1 P2 P3 P4 P7; in outflow at the end: P2 P3 P4 P7
        "total": (5, 4),
    }
    assert report.as_known_at is not None
    # and in H2 as then known, P5 started in July
    assert figures(outflow(views, H2, as_known_at=scenario["cut"]))["werk_volledig"] == (1, 3)


def test_outflow_by_municipality_splits_the_rows(views: Views, scenario: dict[str, Any]) -> None:
    report = outflow(views, H1, by="municipality")
    # P2 recorded their outflow after moving their BRP registration to GM0599
    assert figures(report, "GM0599") == {
        "werk_volledig": (0, 0),
        "werk_gedeeltelijk": (1, 1),
        "onderwijs": (1, 1),
        "onbetaald_vrijwilligerswerk": (0, 0),
        "total": (1, 1),
    }
    assert figures(report, "GM0622")["total"] == (5, 4)
    assert {row.group for row in report.rows} == {"GM0599", "GM0622"}


def test_outflow_of_one_municipality_counts_only_its_facts(
    views: Views, scenario: dict[str, Any]
) -> None:
    """The figures of --municipality are that municipality's rows of --by municipality, current
    and as known at the cut (hand counts in the test above), and zeros for one with none."""
    for as_known_at in (None, scenario["cut"]):
        grouped = outflow(views, H1, by="municipality", as_known_at=as_known_at)
        for code in ("GM0599", "GM0622"):
            only = outflow(views, H1, municipality=code, as_known_at=as_known_at)
            assert figures(only) == figures(grouped, code)
            assert only.municipality == code
            assert [m.persons for m in only.moved_out] == [
                m.persons for m in grouped.moved_out if m.group == code
            ]
    assert set(figures(outflow(views, H1, municipality="GM0344")).values()) == {(0, 0)}
    assert figures(outflow(views, H1, municipality="GM0599"))["total"] == (1, 1)


def test_an_unknown_grouping_is_refused(views: Views) -> None:
    with pytest.raises(ValueError, match="grouped by municipality"):
        outflow(views, H1, by="coach")


def test_an_empty_ledger_reports_zeros(views: Views) -> None:
    report = outflow(views, H1)
    assert [(r.outflow_type, r.started, r.in_outflow_at_end) for r in report.rows] == [
        ("werk_volledig", 0, 0),
        ("werk_gedeeltelijk", 0, 0),
        ("onbetaald_vrijwilligerswerk", 0, 0),
        ("onderwijs", 0, 0),
        ("total", 0, 0),
    ]
