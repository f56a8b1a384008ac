"""`traject audit replay`: a report as known at a past moment equals the report of a ledger that
holds only the events recorded by then, and carries its digest, last event and checkpoint."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cli_helpers import (
    Traject,
    canonical_sha256,
    days_ago,
    initialised_ledger,
    open_app,
    outflow_person,
    start_outflow,
)
from pg_schemas import PostgresSchemas

from ledger.aggregates import dutch_day


def figures(result: dict[str, Any]) -> dict[str, int]:
    return {row["outflow_type"]: row["started"] for row in result["rows"]}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Traject:
    """An initialised ledger on a SQLite file or in a PostgreSQL schema of its own."""
    return initialised_ledger(request, tmp_path, "traject_replay")


@pytest.fixture
def history(ledger: Traject, tmp_path: Path) -> dict[str, Any]:
    """Two outflow starts, a checkpoint, the cut; then a correction, a third start, a checkpoint."""
    app = open_app(ledger)
    try:
        p1, p2, p3 = outflow_person(app), outflow_person(app), outflow_person(app)
        start_outflow(app, p1, date(2024, 2, 1), "werk_volledig")
        p2_start = start_outflow(app, p2, date(2024, 3, 1), "onderwijs")
        cut = list(app.stream_events(p2))[-1].timestamp
        last_at_cut = int(app.recorder.max_notification_id() or 0)
        ledger.ok("audit", "keygen", "--out", str(tmp_path / "a.key"))
        ledger.ok("audit", "checkpoint", "--key", str(tmp_path / "a.key"), "-q")
        # what became known after the cut: P2 really started part-time work; P3 started school
        app.correct(
            p2, p2_start, changes={"outflow_type": "werk_gedeeltelijk"}, reason="wrong type"
        )
        start_outflow(app, p3, date(2024, 4, 1), "onderwijs")
        total = int(app.recorder.max_notification_id() or 0)
    finally:
        app.close()
    ledger.ok("audit", "checkpoint", "--key", str(tmp_path / "a.key"), "-q")
    return {"cut": cut, "last": last_at_cut, "total": total, "p2": str(p2)}


def truncated_copy(
    ledger: Traject, tmp_path: Path, last: int, request: pytest.FixtureRequest
) -> Traject:
    """A second ledger holding only the stored rows up to notification id ``last``."""
    if ledger.database_url.startswith("postgresql"):
        schemas: PostgresSchemas = request.getfixturevalue("postgres_schemas")
        source_schema = parse_qs(urlsplit(ledger.database_url).query)["schema"][0]
        # its own master key: the copied rows' personal fields stay unreadable, reports
        # never read them
        copy = Traject(schemas.fresh("traject_replay_copy"), tmp_path / "copy.key")
        copy.init("--municipality", "GM0622")
        schemas.connection.execute(
            f'INSERT INTO "{schemas.created[-1]}".traject_events'
            f' SELECT * FROM "{source_schema}".traject_events WHERE notification_id <= %s',
            [last],
        )
        return copy
    source = Path(ledger.database_url.removeprefix("sqlite:///"))
    target = tmp_path / "copy.db"
    shutil.copy(source, target)
    with closing(sqlite3.connect(target)) as connection, connection:
        connection.execute("DROP TRIGGER traject_events_no_delete")
        connection.execute("DELETE FROM stored_events WHERE rowid > ?", [last])
        for table in ("traject_leaves", "traject_checkpoints"):
            connection.execute(f"DELETE FROM {table}")
        tables = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%facts%'"
            " OR name LIKE 'traject_projection%'"
        ).fetchall()
        for (name,) in tables:
            connection.execute(f'DROP TABLE "{name}"')
    return Traject(f"sqlite:///{target}", ledger.key_file)


def test_replay_equals_the_report_of_the_events_recorded_by_then(
    ledger: Traject, tmp_path: Path, history: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    cut = history["cut"].isoformat()
    replayed = ledger.json(
        "audit", "replay", "--as-known-at", cut, "report", "outflow", "--period", "2024H1"
    )
    result, block = replayed["result"], replayed["replay"]
    # the command as given, with its arguments: what was replayed, from the saved JSON alone
    assert replayed["command"] == ["report", "outflow", "--period", "2024H1"]
    # by hand: P1 full-time work, P2 education (as first recorded); P3 not yet known
    assert figures(result) == {"onderwijs": 1, "werk_volledig": 1, "total": 2} | {
        k: 0 for k in figures(result) if k not in ("onderwijs", "werk_volledig", "total")
    }
    copy = truncated_copy(ledger, tmp_path, history["last"], request)
    alone = copy.json("report", "outflow", "--period", "2024H1")
    assert result["rows"] == alone["rows"]
    assert result["period"] == alone["period"]
    # the replay block: digest of the result without its basis, last event, checkpoint
    assert block["digest"] == canonical_sha256({k: v for k, v in result.items() if k != "basis"})
    assert block["last_notification_id"] == history["last"]
    assert block["rule_version"] == result["basis"]["rule_version"]
    assert block["checkpoint"]["tree_size"] == history["last"]  # the first checkpoint covers it
    # now, the correction and P3 count
    now = ledger.json("report", "outflow", "--period", "2024H1")
    assert figures(now)["total"] == 3
    assert figures(now)["werk_gedeeltelijk"] == 1


def test_replay_a_timeline_and_refuse_what_cannot_be_replayed(
    ledger: Traject, history: dict[str, Any]
) -> None:
    cut = history["cut"].isoformat()
    replayed = ledger.json("audit", "replay", "--as-known-at", cut, "timeline", history["p2"])
    entries = replayed["result"]["events"]
    assert len(entries) == 2  # registered, outflow started; the correction came later
    assert replayed["command"] == ["timeline", history["p2"]]  # whose timeline
    assert replayed["replay"]["checkpoint"]["tree_size"] == history["last"]
    early = ledger.json("audit", "replay", "--as-known-at", "2000-01-01", "timeline", history["p2"])
    assert early["replay"]["last_notification_id"] == 0
    refused = ledger("audit", "replay", "--as-known-at", cut, "person", "register")
    assert refused.exit_code == 2
    assert "cannot be replayed" in refused.stderr
    doubled = ledger(
        "audit",
        "replay",
        "--as-known-at",
        cut,
        "report",
        "outflow",
        "--period",
        "2024H1",
        "--format",
        "csv",
    )
    assert doubled.exit_code == 2
    assert "--format" in doubled.stderr


def test_a_replayed_report_names_the_day_it_counted_and_replays_the_same_from_its_json(
    ledger: Traject, history: dict[str, Any]
) -> None:
    cut = history["cut"].isoformat()
    given = ["report", "ladder", "--municipality", "vlaardingen"]

    replayed = ledger.json("audit", "replay", "--as-known-at", cut, *given)

    # --on left to its default counted the day of --as-known-at, and the command says so
    day = dutch_day(history["cut"]).isoformat()
    assert replayed["command"] == [*given, "--on", day]
    assert replayed["result"]["on"] == day
    # the saved JSON alone is enough to run the very same replay again
    again = ledger.json("audit", "replay", "--as-known-at", replayed["replay"]["as_known_at"],
                        *replayed["command"])  # fmt: skip
    assert again["command"] == replayed["command"]
    assert again["replay"] == replayed["replay"]


def test_a_timeline_replayed_after_an_erasure_says_the_data_known_then_is_erased(
    ledger: Traject,
) -> None:
    """Replayed as known before her erasure, a person's timeline shows her name as erased (and
    says so), not as never recorded; the same replay made before the erasure showed it."""
    person = ledger.register(
        *("--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY"),
        *("--name", "Noor Vermeulen", "--bsn", "123456782"),
    )
    # her case closed twelve years ago: her trajectory file's retention has ended
    ledger.ok("record", "case-closed", person, "--on", days_ago(365 * 12), "--reason", "moved")
    moment = ledger.json("timeline", person, "--format", "json")["events"][-1]["recorded_at"]
    before = ledger.json("audit", "replay", "--as-known-at", moment, "timeline", person)
    registration = before["result"]["events"][0]["recorded"]["fields"]
    assert (registration["name"], before["result"]["erased"]) == ("Noor Vermeulen", False)

    ledger.ok("person", "shred", person, "--approved-by", "privacy officer", "--yes")
    after = ledger.json("audit", "replay", "--as-known-at", moment, "timeline", person)
    table = ledger.ok("timeline", person, "--as-known-at", moment).stdout

    fields = after["result"]["events"][0]["recorded"]["fields"]
    assert (fields["name"], fields["bsn"], after["result"]["erased"]) == (None, None, True)
    assert len(after["result"]["events"]) == 2  # the erasure itself is not known then
    assert after["replay"]["digest"] != before["replay"]["digest"]
    assert "(personal data erased)" in table.splitlines()[0]
    assert "Noor Vermeulen" not in table
