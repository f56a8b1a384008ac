"""The engine: rebuild equals catch-up, determinism across stores, interrupted rebuilds, races."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from projection_events import append, chunks, random_log

from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.crypto import generate_master_key
from ledger.values import Period
from projections import (
    CASELOAD,
    OUTFLOW,
    PROJECTIONS,
    Projection,
    ProjectionOutdatedError,
    RebuildSupersededError,
    Views,
    catch_up,
    digest,
    rebuild,
    status,
)
from projections.base import NEW_SUFFIX, STATE_TABLE, canonical_timestamp, timestamp_text
from projections.caseload import caseload
from projections.outflow import outflow

KEY = generate_master_key()


@contextmanager
def sqlite_ledger() -> Iterator[TrajectoryLedger]:
    """A ledger on a fresh SQLite file (for hypothesis, which cannot use tmp_path per example)."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'traject.db'}"
        app = TrajectoryLedger(parse_database_url(url).library_env, KEY)
        try:
            yield app
        finally:
            app.close()


def dump(views: Views, projection: Projection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the projection's tables, in key order."""
    tables = {}
    with views.transaction(commit=False) as tx:
        for table in projection.tables:
            order = ", ".join(table.key)
            tables[table.name] = sorted(
                tx.all(f"SELECT * FROM {tx.table(table.name)} ORDER BY {order}")
            )
    return tables


def leftovers(views: Views, projection: Projection) -> bool:
    return views.tables_exist(projection.tables[:1], suffix=NEW_SUFFIX)


# --- rebuild equals catch-up ------------------------------------------------------------------


@given(
    seed=st.integers(0, 2**32),
    persons=st.integers(1, 12),
    steps=st.integers(0, 100),
    batches=st.lists(st.integers(1, 60), min_size=1, max_size=8),
    page_size=st.integers(2, 40),
)
def test_rebuild_equals_incremental_catch_up(
    seed: int, persons: int, steps: int, batches: list[int], page_size: int
) -> None:
    events = random_log(seed, persons, steps)
    with sqlite_ledger() as app:
        views = Views(app)
        # append in random batches, catching up after each with a random page size
        position = 0
        for size in batches * (len(events) // max(1, sum(batches)) + 1):
            if position >= len(events):
                break
            append(app, events[position : position + size])
            position += size
            for projection in PROJECTIONS.values():
                catch_up(views, projection, page_size=page_size)
        incremental = {name: dump(views, p) for name, p in PROJECTIONS.items()}
        digests = {name: status(views, p).digest for name, p in PROJECTIONS.items()}
        for name, projection in PROJECTIONS.items():
            result = rebuild(views, projection, page_size=page_size + 7)
            assert dump(views, projection) == incremental[name]
            assert result.digest == digests[name] == digest(views, projection)


# --- figures against an independent in-memory count ---------------------------------------------


def expected_outflow(
    events: Sequence[ev.TrajectEvent], period: Period, known_at: datetime | None
) -> dict[str, tuple[int, int]]:
    """The P2 figures computed straight from the event list, as a reference. The stock leaves
    out a person who died or moved away (latest move or reopening a move) by the period's end."""
    facts: dict[tuple[Any, int], dict[str, Any]] = {}
    for event in events:
        if known_at is not None and event.timestamp > known_at:
            continue
        key = (event.originator_id, event.originator_version)
        if isinstance(event, ev.OutflowStarted | ev.OutflowEnded):
            facts[key] = {
                "started": isinstance(event, ev.OutflowStarted),
                "type": event.outflow_type.value,
                "on": event.occurred_on,
            }
        elif isinstance(event, ev.MovedOut | ev.CaseReopened | ev.Deceased):
            facts[key] = {"life": type(event).__name__, "on": event.occurred_on}
        elif isinstance(event, ev.EventCorrected | ev.EventRetracted):
            target = (event.originator_id, event.target_version)
            if target not in facts:
                continue
            if isinstance(event, ev.EventRetracted):
                del facts[target]
                continue
            fact = facts[target]
            if "outflow_type" in event.changes:
                fact["type"] = event.changes["outflow_type"]
            if "occurred_on" in event.changes:
                fact["on"] = date.fromisoformat(str(event.changes["occurred_on"]))
    started: dict[str, set[Any]] = {}
    latest: dict[tuple[Any, str], tuple[date, int, bool]] = {}
    whereabouts: dict[Any, tuple[date, int, str]] = {}
    gone: set[Any] = set()
    for (stream, version), fact in facts.items():
        if "life" in fact:
            if fact["on"] > period.end:
                continue
            if fact["life"] == "Deceased":
                gone.add(stream)
            else:
                mark_life = (fact["on"], version, fact["life"])
                whereabouts[stream] = max(whereabouts.get(stream, mark_life), mark_life)
            continue
        if fact["started"] and period.contains(fact["on"]):
            started.setdefault(fact["type"], set()).add(stream)
            started.setdefault("total", set()).add(stream)
        if fact["on"] <= period.end:
            mark = (fact["on"], version, fact["started"])
            latest[(stream, fact["type"])] = max(latest.get((stream, fact["type"]), mark), mark)
    gone |= {stream for stream, (_, _, life) in whereabouts.items() if life == "MovedOut"}
    stock: dict[str, set[Any]] = {}
    for (stream, kind), (_, _, is_start) in latest.items():
        if is_start and stream not in gone:
            stock.setdefault(kind, set()).add(stream)
            stock.setdefault("total", set()).add(stream)
    kinds = ("werk_volledig", "werk_gedeeltelijk", "onbetaald_vrijwilligerswerk", "onderwijs")
    return {
        kind: (len(started.get(kind, ())), len(stock.get(kind, ()))) for kind in (*kinds, "total")
    }


@given(
    seed=st.integers(0, 2**32),
    steps=st.integers(0, 150),
    half=st.sampled_from(["2023H2", "2024H1", "2024H2"]),
    cut=st.none() | st.floats(0, 1),
)
def test_outflow_matches_a_count_straight_from_the_events(
    seed: int, steps: int, half: str, cut: float | None
) -> None:
    events = random_log(seed, 8, steps)
    known_at = None
    if cut is not None:
        first, last = events[0].timestamp, events[-1].timestamp
        known_at = first + (last - first) * cut
    with sqlite_ledger() as app:
        append(app, events)
        report = outflow(Views(app), Period.parse(half), as_known_at=known_at)
    figures = {row.outflow_type: (row.started, row.in_outflow_at_end) for row in report.rows}
    assert figures == expected_outflow(events, Period.parse(half), known_at)


# --- determinism across stores -----------------------------------------------------------------


@pytest.mark.postgres
def test_the_same_events_give_the_same_digest_on_sqlite_and_postgresql(
    make_ledger: Any, sqlite_store: str, projection_pg: Any
) -> None:
    events = random_log(20240601, 40, 600)
    results = {}
    for url in (sqlite_store, projection_pg()):
        app = make_ledger(url)
        views = Views(app)
        # different page sizes and batch boundaries on each store: the digest must not care
        for chunk in chunks(events, 250 if url.startswith("sqlite") else 333):
            append(app, chunk)
            for projection in PROJECTIONS.values():
                catch_up(views, projection, page_size=97)
        caught_up = {name: status(views, p).digest for name, p in PROJECTIONS.items()}
        rebuilt = {name: rebuild(views, p).digest for name, p in PROJECTIONS.items()}
        assert caught_up == rebuilt
        results[url.split(":")[0]] = (
            rebuilt,
            caseload(views, date(2024, 6, 30)),
            outflow(views, Period.parse("2024H1")).rows,
        )
    assert results["sqlite"] == results["postgresql"]


def test_rebuilding_twice_gives_the_same_digest(ledger: TrajectoryLedger, views: Views) -> None:
    append(ledger, random_log(7, 10, 200))
    for projection in PROJECTIONS.values():
        first = rebuild(views, projection)
        second = rebuild(views, projection)
        assert first.digest == second.digest == digest(views, projection)
        assert first.position == second.position == ledger.recorder.max_notification_id()
        assert not leftovers(views, projection)


# --- interrupted rebuilds ------------------------------------------------------------------------


class RebuildInterruptedError(Exception):
    pass


def test_an_interrupted_rebuild_leaves_the_old_tables_and_a_rerun_starts_clean(
    ledger: TrajectoryLedger, views: Views
) -> None:
    events = random_log(11, 30, 900)
    append(ledger, events[:500])
    before = {name: catch_up(views, p) for name, p in PROJECTIONS.items()}
    old_rows = {name: dump(views, p) for name, p in PROJECTIONS.items()}
    append(ledger, events[500:])

    def stop_half_way(done: int, total: int) -> None:
        if 0 < done < total:
            raise RebuildInterruptedError

    for projection in PROJECTIONS.values():
        with pytest.raises(RebuildInterruptedError):
            rebuild(views, projection, page_size=50, progress=stop_half_way)
        # readers still see the old tables, at the old position, with the old digest
        kept = status(views, projection)
        assert (kept.position, kept.digest) == (
            before[projection.name].position,
            before[projection.name].digest,
        )
        assert dump(views, projection) == old_rows[projection.name]
        assert digest(views, projection) == kept.digest
        assert leftovers(views, projection)

    # a rerun drops the leftovers, and ends where an incremental catch-up ends
    for projection in PROJECTIONS.values():
        caught_up = catch_up(views, projection)
        rerun = rebuild(views, projection, page_size=50)
        assert rerun.digest == caught_up.digest
        assert not leftovers(views, projection)


# --- concurrency ---------------------------------------------------------------------------------


def test_a_catch_up_overtaken_by_another_process_starts_again_from_its_position(
    ledger: TrajectoryLedger, views: Views, make_ledger: Any, store_url: str
) -> None:
    append(ledger, random_log(3, 10, 300))
    other = Views(make_ledger(store_url))
    for projection in PROJECTIONS.values():
        catch_up(views, projection)
    append(ledger, random_log(4, 10, 300))
    overtaken = []
    select = views.select

    def select_then_lose_the_race(projection: Projection, position: int, limit: int) -> Any:
        notes = select(projection, position, limit)
        if not overtaken:
            overtaken.append(catch_up(other, projection, page_size=60))  # the other process
        return notes

    views.select = select_then_lose_the_race  # type: ignore[method-assign]
    for projection in PROJECTIONS.values():
        overtaken.clear()
        result = catch_up(views, projection, page_size=60)
        assert overtaken[0].events > 0
        assert result.events == 0  # nothing applied twice
        assert result.digest == overtaken[0].digest == rebuild(other, projection).digest


def test_a_rebuild_overtaken_by_another_rebuild_stops_and_the_other_one_wins(
    ledger: TrajectoryLedger, views: Views, make_ledger: Any, store_url: str
) -> None:
    append(ledger, random_log(8, 20, 400))
    other = Views(make_ledger(store_url))
    winner = []

    def start_another_rebuild(done: int, total: int) -> None:
        if done and not winner:
            winner.append(rebuild(other, OUTFLOW, page_size=50))

    with pytest.raises(RebuildSupersededError, match="another rebuild of outflow"):
        rebuild(views, OUTFLOW, page_size=50, progress=start_another_rebuild)
    assert status(views, OUTFLOW).digest == winner[0].digest == digest(views, OUTFLOW)
    assert not leftovers(views, OUTFLOW)


# --- state and rules -----------------------------------------------------------------------------


def test_a_projection_built_with_other_rules_must_be_rebuilt(
    ledger: TrajectoryLedger, views: Views
) -> None:
    append(ledger, random_log(5, 3, 20))
    catch_up(views, OUTFLOW)
    with views.transaction(commit=True) as tx:
        tx.execute(
            f"UPDATE {tx.table(STATE_TABLE)} SET rule_version = '2007.0' WHERE name = ?",
            ["outflow"],
        )
    assert status(views, OUTFLOW).needs_rebuild
    with pytest.raises(ProjectionOutdatedError, match="traject projections rebuild outflow"):
        outflow(views, Period.parse("2024H1"))
    rebuild(views, OUTFLOW)
    assert not status(views, OUTFLOW).needs_rebuild
    outflow(views, Period.parse("2024H1"))


def test_position_passes_events_the_projection_does_not_read(
    ledger: TrajectoryLedger, views: Views
) -> None:
    pid = ledger.register_person(
        occurred_on=date(2024, 1, 2), birth_date=date(1990, 1, 1), sex="x", nationality=["SY"]
    ).stream_id
    ledger.record(pid, ev.HelpRequestRecorded, occurred_on=date(2024, 2, 1), category="wonen")
    ledger.record(pid, ev.HelpRequestRecorded, occurred_on=date(2024, 2, 2), category="wonen")
    result = catch_up(views, OUTFLOW)
    top = ledger.recorder.max_notification_id()
    assert (result.position, result.events) == (top, 0)
    assert status(views, OUTFLOW).lag == 0
    assert status(views, CASELOAD).lag == top  # not built yet: nothing read so far
    assert not status(views, CASELOAD).built


def test_timestamps_are_compared_in_one_fixed_width_utc_form() -> None:
    assert canonical_timestamp("2024-06-01T10:00:00Z") == "2024-06-01T10:00:00.000000Z"
    assert canonical_timestamp("2024-06-01T10:00:00.5Z") == "2024-06-01T10:00:00.500000Z"
    assert canonical_timestamp("2024-06-01T12:00:00+02:00") == "2024-06-01T10:00:00.000000Z"
    assert canonical_timestamp("2024-06-01T10:00:00.123456Z") == "2024-06-01T10:00:00.123456Z"
    # the basic and space-separated forms are parsed, not completed as text
    assert canonical_timestamp("20240601T100000.123Z") == "2024-06-01T10:00:00.123000Z"
    assert canonical_timestamp("2024-06-01 10:00:00Z") == "2024-06-01T10:00:00.000000Z"
    for altered in ("2024-13-01T10:00:00Z", "2024-06-01T10:00:00.12345xZ"):
        with pytest.raises(ValueError):
            canonical_timestamp(altered)
    moment = datetime(2024, 6, 1, 10, tzinfo=UTC) + timedelta(microseconds=1)
    assert timestamp_text(moment) == "2024-06-01T10:00:00.000001Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        timestamp_text(datetime(2024, 6, 1))  # noqa: DTZ001 - the point of the test
