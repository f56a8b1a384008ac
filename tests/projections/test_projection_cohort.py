"""P4 housed-cohort profile: a hand-built log whose figures are worked out by hand."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from life_helpers import A, B, ReportCli, fact, rebuild_equals_catch_up
from projection_events import LogBuilder, append, person_uuid

from ledger import events as ev
from ledger.application import TrajectoryLedger
from projections import Views
from projections.cohort import COHORT, CohortReport, age_on, cohort


def person(log: LogBuilder, born: date, sex: str, *nationality: str) -> tuple[UUID, int]:
    pid = person_uuid(log.rng)
    version = fact(
        log,
        pid,
        ev.PersonRegistered,
        date(2023, 9, 1),
        birth_date=born,
        sex=sex,
        nationality=list(nationality),
    )
    return pid, version


def housed(
    log: LogBuilder, pid: UUID, on: date, route: str, kind: str = "regulier", where: str = A
) -> int:
    return fact(log, pid, ev.Housed, on, where, route=route, housing_kind=kind)


def scenario() -> tuple[list[ev.TrajectEvent], datetime]:
    log = LogBuilder(seed=4)
    p1, _ = person(log, date(1990, 5, 1), "f", "SY")
    p2, _ = person(log, date(2010, 3, 1), "m", "ER")
    p3, _ = person(log, date(2006, 6, 15), "m", "SY", "TR")  # 17 on 2024-06-14
    p4, _ = person(log, date(2006, 6, 14), "f", "AF")  # 18 on 2024-06-14
    p5, _ = person(log, date(1992, 1, 1), "m", "SY")
    p6, _ = person(log, date(1985, 8, 8), "m", "IQ")
    p7, _ = person(log, date(1970, 1, 1), "m", "SY")
    p8, _ = person(log, date(1980, 2, 2), "f", "SY")
    p9, p9_registered = person(log, date(2000, 3, 3), "m", "ER")
    p10, _ = person(log, date(2015, 4, 4), "f", "ER")
    housed(log, p1, date(2024, 2, 1), "koppeling")
    housed(log, p2, date(2024, 3, 1), "nareis")
    housed(log, p3, date(2024, 6, 14), "koppeling", "gva")
    housed(log, p3, date(2024, 9, 1), "gva_doorstroom")  # second housing in A: no new cohort
    housed(log, p4, date(2024, 6, 14), "eigen")
    housed(log, p5, date(2023, 12, 20), "koppeling")  # first housed in A in 2023
    housed(log, p5, date(2024, 1, 10), "gva_doorstroom")
    housed(log, p6, date(2022, 5, 1), "koppeling", where=B)
    housed(log, p6, date(2024, 4, 1), "koppeling")  # first housing in A
    p7_housed = housed(log, p7, date(2024, 5, 5), "koppeling")  # later retracted
    p8_housed = housed(log, p8, date(2024, 7, 7), "koppeling")  # later: it was in GM0599
    housed(log, p9, date(2024, 8, 8), "koppeling")
    cut = log.clock

    log.retract(p7, p7_housed)
    log.correct(p8, p8_housed, municipality=B)
    log.correct(p9, p9_registered, sex="f")
    housed(log, p10, date(2024, 3, 15), "nareis")  # back-dated: recorded after the cut
    return log.events, cut


def profile(report: CohortReport) -> dict[str, Any]:
    def counts(items: Any) -> dict[str, int]:
        return {c.key: c.count for c in items if c.count}

    return {
        "persons": report.persons,
        "age": counts(report.age_group),
        "sex": counts(report.sex),
        "nationality": [(c.key, c.count) for c in report.nationality],
        "route": counts(report.route),
        "kind": counts(report.housing_kind),
    }


@pytest.fixture
def cut(ledger: TrajectoryLedger) -> datetime:
    events, moment = scenario()
    append(ledger, events)
    return moment


def test_the_age_on_the_housing_date_counts_the_18th_birthday() -> None:
    assert age_on(date(2006, 6, 14), date(2024, 6, 14)) == 18
    assert age_on(date(2006, 6, 15), date(2024, 6, 14)) == 17


def test_the_profile_of_a_municipalitys_first_housings_in_a_year(
    views: Views, cut: datetime
) -> None:
    report = cohort(views, 2024, municipality=A)
    # P1, P2, P3 (once, with the GVA housing of June), P4, P6 (earlier housed in GM0599 only),
    # P9, P10 (back-dated); not P5 (first in A in 2023), P7 (retracted), P8 (moved to GM0599)
    assert profile(report) == {
        "persons": 7,
        # adults P1, P4 (18 that day), P6, P9; children P2 (14), P3 (17), P10 (8)
        "age": {"adult": 4, "child": 3},
        # P9's sex corrected from m to f
        "sex": {"f": 4, "m": 3},
        # first nationality: P3 (SY, TR) counts under SY; largest first, ties by code
        "nationality": [("ER", 3), ("SY", 2), ("AF", 1), ("IQ", 1)],
        "route": {"koppeling": 4, "nareis": 2, "eigen": 1},
        "kind": {"regulier": 6, "gva": 1},
    }
    assert report.municipality_name == "Vlaardingen"
    assert report.digest is not None


def test_as_known_at_ignores_later_corrections_retractions_and_facts(
    views: Views, cut: datetime
) -> None:
    report = cohort(views, 2024, municipality=A, as_known_at=cut)
    # P7 not yet retracted, P8 still in A, P9 still m, P10 not yet recorded
    assert profile(report) == {
        "persons": 8,
        "age": {"adult": 6, "child": 2},
        "sex": {"f": 3, "m": 5},
        "nationality": [("SY", 4), ("ER", 2), ("AF", 1), ("IQ", 1)],
        "route": {"koppeling": 6, "nareis": 1, "eigen": 1},
        "kind": {"regulier": 7, "gva": 1},
    }
    assert report.as_known_at is not None


def test_other_municipalities_and_all_of_them_together(views: Views, cut: datetime) -> None:
    # GM0599: P8 (corrected) in 2024; P6 in 2022
    assert profile(cohort(views, 2024, municipality=B))["persons"] == 1
    assert profile(cohort(views, 2022, municipality=B))["route"] == {"koppeling": 1}
    # everywhere: A's seven and P8, each person once
    everywhere = profile(cohort(views, 2024))
    assert (everywhere["persons"], everywhere["age"]) == (8, {"adult": 5, "child": 3})
    assert profile(cohort(views, 2023, municipality=A))["persons"] == 1  # P5


def test_rebuild_equals_catch_up(ledger: TrajectoryLedger, views: Views) -> None:
    rebuild_equals_catch_up(ledger, views, COHORT, scenario()[0])
    assert cohort(views, 2024, municipality=A).persons == 7


def test_report_cohort_command(tmp_path: Path) -> None:
    events, cut = scenario()
    run = ReportCli(tmp_path, events)
    data = run.json("report", "cohort", "--year", "2024", "--municipality", "vlaardingen")
    assert (data["municipality"], data["municipality_name"], data["persons"]) == (
        A,
        "Vlaardingen",
        7,
    )
    assert data["age_group"] == {"adult": 4, "child": 3, "unknown": 0}
    assert data["nationality"][0] == {"key": "ER", "count": 3}
    assert data["basis"]["projection"] == "cohort"
    assert len(data["basis"]["digest"]) == 64
    rows = run.csv("report", "cohort", "--year", "2024", "--municipality", "GM0599")
    assert rows[0] == {"municipality": "GM0599", "figure": "persons", "key": "", "persons": "1"}
    assert {"municipality": "GM0599", "figure": "sex", "key": "f", "persons": "1"} in rows
    table = run.table(
        "report",
        "cohort",
        "--year",
        "2024",
        "--municipality",
        "GM0622",
        "--as-known-at",
        cut.isoformat(),
    )
    assert "Housed cohort 2024 — GM0622 Vlaardingen as known at" in table
    assert "persons first housed" in table
    refused = run("report", "cohort", "--year", "twenty")
    assert refused.exit_code == 2
    assert "'--year'" in refused.stderr
