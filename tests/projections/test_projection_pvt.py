"""P11 PVT: a hand-built log whose figures are worked out by hand."""

from __future__ import annotations

from dataclasses import astuple
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
from projections.pvt import PVT, PvtReport, pvt

Y2024 = Period.parse("2024")
TAALHUIS, BUURTHUIS = "Taalhuis", "Buurthuis"


def signed(
    log: LogBuilder,
    pid: UUID,
    on: date,
    activity: str | None,
    provider: str = TAALHUIS,
    *,
    reported: date | None = None,
    where: str = A,
) -> int:
    return fact(
        log,
        pid,
        ev.PvtCompleted,
        on,
        where,
        provider=provider,
        hours="12",
        activity_id=activity,
        reported_to_duo_on=reported,
    )


def scenario() -> tuple[list[ev.TrajectEvent], datetime]:
    log = LogBuilder(seed=11)
    v1, v2, v3, v4, v5, v6, v7, v8, v9 = (log.register(date(2023, 1, 2)) for _ in range(9))
    signed(log, v1, date(2024, 3, 10), "PVT-2024-03", reported=date(2024, 3, 20))
    signed(log, v2, date(2024, 3, 10), "PVT-2024-03")
    signed(log, v3, date(2024, 3, 12), "PVT-2024-03", BUURTHUIS, reported=date(2024, 4, 1))
    signed(log, v4, date(2024, 6, 1), None)  # signed without a group activity
    v5_signed = signed(log, v5, date(2024, 9, 9), "PVT-2024-09")  # later moved to PVT-2024-10
    v6_signed = signed(log, v6, date(2024, 9, 9), "PVT-2024-09")  # later retracted
    signed(log, v2, date(2024, 9, 9), "PVT-2024-09")  # V2 signs a second time
    signed(log, v8, date(2024, 5, 5), "PVT-2024-05", where=B)
    signed(log, v9, date(2023, 12, 12), "PVT-2023-12")  # the year before
    cut = log.clock

    log.correct(v5, v5_signed, activity_id="PVT-2024-10")
    log.retract(v6, v6_signed)
    signed(log, v7, date(2024, 2, 2), "PVT-2024-02", BUURTHUIS)  # back-dated, after the cut
    return log.events, cut


def figures(report: PvtReport) -> dict[str, Any]:
    return {
        "totals": (
            report.signatures,
            report.participants,
            report.groups,
            report.without_group,
            report.reported_to_duo,
        ),
        "ceremonies": [astuple(c) for c in report.ceremonies],
        "providers": [(c.key, c.count) for c in report.providers],
    }


@pytest.fixture
def cut(ledger: TrajectoryLedger) -> datetime:
    events, moment = scenario()
    append(ledger, events)
    return moment


def test_signatures_participants_and_groups(views: Views, cut: datetime) -> None:
    report = pvt(views, Y2024, municipality=A)
    assert figures(report) == {
        # V1, V2 twice, V3, V4, V5, V7 (back-dated): 7 signatures by 6 persons; groups
        # PVT-2024-02, -03, -09 (V2's second) and -10 (V5 corrected); V4 without a group;
        # V1 and V3 reported to DUO. V6 retracted, V8 in GM0599, V9 in 2023
        "totals": (7, 6, 4, 1, 2),
        "ceremonies": [
            ("PVT-2024-02", BUURTHUIS, "2024-02-02", "2024-02-02", 1, 1),
            ("PVT-2024-03", "Buurthuis, Taalhuis", "2024-03-10", "2024-03-12", 3, 3),
            ("PVT-2024-09", TAALHUIS, "2024-09-09", "2024-09-09", 1, 1),
            ("PVT-2024-10", TAALHUIS, "2024-09-09", "2024-09-09", 1, 1),
        ],
        "providers": [(TAALHUIS, 5), (BUURTHUIS, 2)],
    }
    assert report.municipality_name == "Vlaardingen"


def test_as_known_at_ignores_later_corrections_retractions_and_facts(
    views: Views, cut: datetime
) -> None:
    report = pvt(views, Y2024, municipality=A, as_known_at=cut)
    assert figures(report) == {
        # V1, V2 twice, V3, V4, V5, V6; no V7 yet
        "totals": (7, 6, 2, 1, 2),
        "ceremonies": [
            ("PVT-2024-03", "Buurthuis, Taalhuis", "2024-03-10", "2024-03-12", 3, 3),
            ("PVT-2024-09", TAALHUIS, "2024-09-09", "2024-09-09", 3, 3),
        ],
        "providers": [(TAALHUIS, 6), (BUURTHUIS, 1)],
    }


def test_every_municipality_and_a_quarter(views: Views, cut: datetime) -> None:
    assert figures(pvt(views, Y2024))["totals"] == (8, 7, 5, 1, 2)  # V8 in GM0599 joins
    quarter = figures(pvt(views, Period.parse("2024Q1"), municipality=A))
    assert quarter["totals"] == (4, 4, 2, 0, 2)  # V7, V1, V2, V3


def test_rebuild_equals_catch_up(ledger: TrajectoryLedger, views: Views) -> None:
    rebuild_equals_catch_up(ledger, views, PVT, scenario()[0])
    assert figures(pvt(views, Y2024, municipality=A))["totals"] == (7, 6, 4, 1, 2)


def test_report_pvt_command(tmp_path: Path) -> None:
    events, cut = scenario()
    run = ReportCli(tmp_path, events)
    data = run.json("report", "pvt", "--period", "2024", "--municipality", "Vlaardingen")
    assert (data["signatures"], data["participants"], data["groups"]) == (7, 6, 4)
    assert data["ceremonies"][1]["activity_id"] == "PVT-2024-03"
    assert data["providers"] == {BUURTHUIS: 2, TAALHUIS: 5}
    assert data["basis"]["projection"] == "pvt"
    rows = run.csv_as_known_at(
        "report",
        "pvt",
        "--period",
        "2024",
        "--municipality",
        "GM0622",
        "--as-known-at",
        cut.isoformat(),
    )
    # as known at the cut: a row per group activity, the signatures without one, the total
    # with every summary figure of the JSON, then the signatures per provider
    assert list(rows[0]) == [
        "municipality", "figure", "activity_id", "provider", "providers", "first_signed_on",
        "last_signed_on", "signatures", "participants", "groups", "reported_to_duo",
    ]  # fmt: skip
    assert {row["municipality"] for row in rows} == {"GM0622"}
    both = f"{BUURTHUIS}, {TAALHUIS}"
    assert [tuple(row.values())[1:] for row in rows] == [
        ("ceremony", "PVT-2024-03", "", both, "2024-03-10", "2024-03-12", "3", "3", "", ""),
        ("ceremony", "PVT-2024-09", "", TAALHUIS, "2024-09-09", "2024-09-09", "3", "3", "", ""),
        ("without_group", "(none)", "", "", "", "", "1", "", "", ""),
        ("total", "total", "", "", "", "", "7", "6", "2", "2"),  # V1 and V3 reported to DUO
        ("provider", "", TAALHUIS, "", "", "", "6", "", "", ""),
        ("provider", "", BUURTHUIS, "", "", "", "1", "", "", ""),
    ]  # fmt: skip
    table = run.table("report", "pvt", "--period", "2024")
    assert "Per group activity (ceremony)" in table
    assert "PVT-2024-05" in table
