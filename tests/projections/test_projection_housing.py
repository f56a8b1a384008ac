"""P3 housing against the taakstelling: a hand-built log whose figures are worked out by hand.

The log is appended straight to the store (as in ``projection_events``), with the
``counts_for_taakstelling`` flag given on each ``Housed`` as a rule set would have stored it, and
with fixed recorded times, so that SQLite and PostgreSQL receive identical events.
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
from ledger.values import Period
from projections import Views, catch_up, digest, rebuild, status
from projections.housing import HOUSING, HousingReport, housing

A, B = "GM0622", "GM0599"
TRAJECT_VARIABLES = ("TRAJECT_DB", "TRAJECT_KEY_FILE", "TRAJECT_USER", "TRAJECT_JSON")
H1, H2 = Period.parse("2024H1"), Period.parse("2024H2")


def target(
    log: LogBuilder, code: str, on: date, period: str, value: int, *, fix: bool = False
) -> int:
    kind = ev.TaakstellingCorrected if fix else ev.TaakstellingSet
    event = log.add(
        ev.municipality_stream_id(code),
        kind,
        occurred_on=on,
        municipality=code,
        period=period,
        target=value,
        source_ref="circulaire",
    )
    return event.originator_version


def confirmed(log: LogBuilder, code: str, on: date, period: str, value: int) -> int:
    event = log.add(
        ev.municipality_stream_id(code),
        ev.HousingRealisationConfirmed,
        occurred_on=on,
        municipality=code,
        period=period,
        official_realised=value,
        confirmed_by="COA",
    )
    return event.originator_version


def fix(log: LogBuilder, code: str, version: int, **changes: Any) -> None:
    """An EventCorrected on a municipality stream (LogBuilder.correct takes `target` itself)."""
    log.add(
        ev.municipality_stream_id(code),
        ev.EventCorrected,
        occurred_on=date(2025, 2, 1),
        municipality=code,
        target_version=version,
        changes=changes,
    )


def housed(log: LogBuilder, pid: UUID, on: date, *, counts: bool | None, where: str = A) -> int:
    event = log.add(
        pid,
        ev.Housed,
        occurred_on=on,
        municipality=where,
        housing_kind="regulier",
        route="koppeling" if counts else "eigen",
        counts_for_taakstelling=counts,
        rule_version=None if counts is None else "2026.1",
    )
    return event.originator_version


def scenario() -> tuple[list[ev.TrajectEvent], datetime]:
    """Two municipalities, nine persons; the originals, then the cut, then later knowledge."""
    log = LogBuilder(seed=3)
    p1, p2, p3, p4, p5, p6, p7, p8, p9 = (log.register(date(2023, 10, 1)) for _ in range(9))
    target(log, A, date(2023, 12, 1), "2024H1", 4)
    target(log, A, date(2024, 6, 1), "2024H2", 3)
    b_h1 = target(log, B, date(2023, 12, 1), "2024H1", 2)
    housed(log, p1, date(2024, 2, 1), counts=True)
    housed(log, p2, date(2024, 3, 1), counts=True)
    housed(log, p2, date(2024, 5, 1), counts=True)  # the same person twice: counted once
    housed(log, p3, date(2024, 4, 1), counts=False)  # route eigen: does not count
    p4_housed = housed(log, p4, date(2024, 6, 10), counts=True)  # later: it was in GM0599
    p5_housed = housed(log, p5, date(2024, 5, 15), counts=True)  # later retracted
    housed(log, p6, date(2023, 11, 1), counts=True)  # before A's first taakstelling
    housed(log, p7, date(2024, 8, 1), counts=True)
    housed(log, p9, date(2024, 3, 3), counts=None)  # flag never derived: does not count
    a_confirmed = confirmed(log, A, date(2024, 7, 15), "2024H1", 4)
    cut = log.clock

    log.correct(p4, p4_housed, municipality=B)
    log.retract(p5, p5_housed)
    target(log, A, date(2024, 3, 1), "2024H1", 5, fix=True)  # A's target raised to 5
    fix(log, B, b_h1, target=1)  # B's target was 1, not 2
    fix(log, A, a_confirmed, official_realised=3)  # COA's figure for A was 3
    confirmed(log, B, date(2024, 7, 20), "2024H1", 1)
    housed(log, p8, date(2024, 1, 20), counts=True)  # back-dated into January
    return log.events, cut


def figures(report: HousingReport) -> dict[str, tuple[Any, ...]]:
    """municipality → (target, realised, balance, standing)."""
    return {r.municipality: (r.target, r.realised, r.balance, r.standing) for r in report.rows}


@pytest.fixture
def cut(ledger: TrajectoryLedger) -> datetime:
    events, moment = scenario()
    append(ledger, events)
    return moment


def test_target_realised_and_balance_per_municipality(views: Views, cut: datetime) -> None:
    report = housing(views, H1)
    assert figures(report) == {
        # target 5 (TaakstellingCorrected); realised P1, P2 (once), P8 (back-dated); P3 does not
        # count, P4 moved to GM0599, P5 retracted, P9 has no flag; balance 0 + 3 - 5 = -2
        A: (5, 3, -2, "achterstand"),
        # target 2 corrected to 1; realised P4 (corrected municipality); balance 0 + 1 - 1 = 0
        B: (1, 1, 0, "op schema"),
    }
    assert report.period == "2024H1"
    assert report.as_known_at is None
    assert report.digest is not None


def test_the_balance_carries_over_to_the_next_half_year(views: Views, cut: datetime) -> None:
    assert figures(housing(views, H2)) == {
        # -2 carried in, P7 housed in August, target 3: -2 + 1 - 3 = -4
        A: (3, 1, -4, "achterstand"),
        # no target for 2024H2: 0 + 0 - 0 carried on
        B: (None, 0, 0, "op schema"),
    }


def test_housing_before_the_first_taakstelling_has_no_balance(views: Views, cut: datetime) -> None:
    # P6 counts in 2023H2, but A's first taakstelling is for 2024H1; GM0599 has nothing yet
    assert figures(housing(views, Period.parse("2023H2"))) == {A: (None, 1, None, None)}


def test_as_known_at_ignores_later_corrections_retractions_and_facts(
    views: Views, cut: datetime
) -> None:
    report = housing(views, H1, as_known_at=cut)
    assert figures(report) == {
        # target 4; realised P1, P2, P4 (still in GM0622), P5 (not yet retracted): 0 + 4 - 4
        A: (4, 4, 0, "op schema"),
        # target 2, nothing housed yet: 0 + 0 - 2
        B: (2, 0, -2, "achterstand"),
    }
    assert report.as_known_at is not None
    assert figures(housing(views, H2, as_known_at=cut)) == {
        A: (3, 1, -2, "achterstand"),
        B: (None, 0, -2, "achterstand"),
    }


def test_the_confirmed_realisation_is_shown_beside_for_reconciliation(
    views: Views, cut: datetime
) -> None:
    def official(report: HousingReport) -> dict[str, int | None]:
        return {row.municipality: row.official_realised for row in report.rows}

    # A's confirmed 4 was corrected to 3; B's 1 came later; neither enters the balance
    assert official(housing(views, H1)) == {A: 3, B: 1}
    assert official(housing(views, H1, as_known_at=cut)) == {A: 4, B: None}
    assert official(housing(views, H2)) == {A: None, B: None}


def test_one_municipality_and_only_half_years(views: Views, cut: datetime) -> None:
    assert figures(housing(views, H1, municipality=B)) == {B: (1, 1, 0, "op schema")}
    # a municipality asked for by name is always shown: GM0599 has nothing in 2023H2, and
    # GM0363 nothing at all (no target, nothing housed: no balance), rather than an empty table
    assert figures(housing(views, Period.parse("2023H2"), municipality=B)) == {
        B: (None, 0, None, None)
    }
    assert figures(housing(views, H1, municipality="GM0363")) == {"GM0363": (None, 0, None, None)}
    with pytest.raises(ValueError, match="half-yearly"):
        housing(views, Period.parse("2024Q1"))


def test_the_fact_table_keeps_every_revision_of_a_corrected_target(
    views: Views, cut: datetime
) -> None:
    housing(views, H1)
    facts = views.table(HOUSING.facts_table.name)
    with views.transaction(commit=False) as tx:
        rows = tx.all(
            f"SELECT revision, target, known_to IS NULL FROM {facts}"
            " WHERE municipality = ? AND kind = 'TaakstellingSet' ORDER BY revision",
            [B],
        )
    assert [(r[0], r[1], bool(r[2])) for r in rows] == [(0, 2, False), (1, 1, True)]


def test_rebuild_equals_catch_up_in_steps(ledger: TrajectoryLedger, views: Views) -> None:
    events, _ = scenario()
    for start in range(0, len(events), 7):
        append(ledger, events[start : start + 7])
        catch_up(views, HOUSING, page_size=3)
    caught_up = status(views, HOUSING).digest
    before = housing(views, H1).rows
    assert rebuild(views, HOUSING, page_size=5).digest == caught_up == digest(views, HOUSING)
    assert housing(views, H1).rows == before


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
        report = housing(views, H1)
        results.append((report.digest, report.rows, housing(views, H2, as_known_at=cut).rows))
    assert results[0] == results[1]


def test_report_housing_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'traject.db'}"
    key = generate_master_key()
    env = dict.fromkeys(TRAJECT_VARIABLES) | {
        "TRAJECT_DATABASE_URL": url,
        "TRAJECT_MASTER_KEY": encode_master_key(key),
        "COLUMNS": "160",
    }

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    assert run("init", "--municipality", A).exit_code == 0
    app = TrajectoryLedger(parse_database_url(url).library_env, key)
    try:
        append(app, scenario()[0])
    finally:
        app.close()
    data = json.loads(run("report", "housing", "--period", "2024H2", "--format", "json").stdout)
    assert [
        (r["municipality"], r["target"], r["realised"], r["balance"]) for r in data["rows"]
    ] == [
        (B, None, 0, 0),
        (A, 3, 1, -4),
    ]
    assert data["rows"][1]["standing"] == "achterstand"
    assert len(data["basis"]["digest"]) == 64
    rows = list(
        csv.DictReader(
            io.StringIO(
                run(
                    "report",
                    "housing",
                    "--period",
                    "2024H1",
                    "--municipality",
                    "gm0599",
                    "--format",
                    "csv",
                ).stdout
            )
        )
    )
    assert [(r["municipality"], r["target"], r["balance"]) for r in rows] == [(B, "1", "0")]
    table = run("report", "housing", "--period", "2024-H1", "--as-known-at", "2025-01-01").stdout
    assert "as known at 2024-12-31T23:00:00.000000Z" in table  # 00:00 Dutch time, in UTC
    refused = run("report", "housing", "--period", "2024Q1")
    assert refused.exit_code == 2
    assert "half-yearly" in refused.stderr


def tied_targets(order: tuple[str, str]) -> list[ev.TrajectEvent]:
    """A log from before a municipality's stream held only its own facts: two targets for A of
    one date, each version 1 of its stream (A's own, and B's naming A), in ``order``."""
    log = LogBuilder(seed=5)
    for stream_code in order:
        log.add(
            ev.municipality_stream_id(stream_code),
            ev.TaakstellingSet,
            occurred_on=date(2023, 12, 1),
            municipality=A,
            period="2024H1",
            target=4 if stream_code == A else 999,
            source_ref="circulaire",
        )
    return log.events


@pytest.mark.postgres
def test_targets_tied_on_date_and_version_resolve_alike_in_any_order_and_store(
    make_ledger: Any, tmp_path: Path, projection_pg: Any
) -> None:
    """Which of two tied targets is the latest must not depend on the order a store returns
    them in: after the date and the stream version, the stream id decides."""
    reports = []
    for order in ((A, B), (B, A)):
        for url in (f"sqlite:///{tmp_path / '-'.join(order)}.db", projection_pg()):
            app = make_ledger(url)
            append(app, tied_targets(order))
            reports.append(figures(housing(Views(app), H1)))
    assert reports[1:] == reports[:1] * 3
    assert set(reports[0]) == {A}
