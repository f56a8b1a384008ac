"""Properties of the engine over random logs: a one-pass rebuild of every read model equals
catching up page by page, equals rebuilding each alone, and digests the same on both stores."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from projection_events import append, chunks, opened, random_log, sqlite_url

from ledger import events as ev
from ledger.application import TrajectoryLedger
from projections import PROJECTIONS, Projection, Views, catch_up, digest, rebuild, rebuild_many
from projections.base import NEW_SUFFIX

ALL = list(PROJECTIONS.values())
PROPERTY = settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def dump(views: Views, projection: Projection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the projection's tables, sorted."""
    with views.transaction(commit=False) as tx:
        return {
            table.name: sorted(tx.all(f"SELECT * FROM {tx.table(table.name)}"))
            for table in projection.tables
        }


def caught_up_then_rebuilt(
    app: TrajectoryLedger, events: list[ev.TrajectEvent], batch: int, page_size: int
) -> dict[str, str | None]:
    """Append in batches, catching every read model up page by page after each batch; then
    check that one rebuild of all of them gives the same rows and digests. Returns the digests."""
    views = Views(app)
    for chunk in chunks(events, batch):
        append(app, chunk)
        for projection in ALL:
            catch_up(views, projection, page_size=page_size)
    incremental = {p.name: dump(views, p) for p in ALL}
    stored = {p.name: catch_up(views, p).digest for p in ALL}
    results = rebuild_many(views, ALL, page_size=page_size + 3)
    assert {r.name: r.digest for r in results} == stored
    assert {r.position for r in results} == {views.max_notification_id()}
    assert {p.name: dump(views, p) for p in ALL} == incremental
    assert {p.name: digest(views, p) for p in ALL} == stored
    assert not views.tables_exist(ALL[0].tables[:1], suffix=NEW_SUFFIX)
    return stored


logs = st.tuples(st.integers(0, 2**32), st.integers(1, 8), st.integers(0, 80))


@PROPERTY
@given(log=logs, batch=st.integers(1, 40), page_size=st.integers(2, 25))
def test_one_pass_rebuild_equals_catch_up_page_by_page_and_separate_rebuilds(
    projection_key: bytes, log: tuple[int, int, int], batch: int, page_size: int
) -> None:
    events = random_log(*log)
    with sqlite_url() as url, opened(url, projection_key) as app:
        together = caught_up_then_rebuilt(app, events, batch, page_size)
        views = Views(app)
        alone = {p.name: rebuild(views, p, page_size=page_size).digest for p in ALL}
        assert alone == together


@pytest.mark.postgres
@PROPERTY
@given(log=logs, batch=st.integers(1, 40), page_size=st.integers(2, 25))
def test_digests_are_identical_on_sqlite_and_postgresql(
    projection_key: bytes,
    projection_pg: Callable[[], str],
    log: tuple[int, int, int],
    batch: int,
    page_size: int,
) -> None:
    events = random_log(*log)
    with sqlite_url() as url, opened(url, projection_key) as app:
        on_sqlite = caught_up_then_rebuilt(app, events, batch, page_size)
    # other batch and page boundaries on PostgreSQL: the digest must not depend on them
    with opened(projection_pg(), projection_key) as app:
        on_postgres = caught_up_then_rebuilt(app, events, batch + 5, page_size + 2)
    assert on_postgres == on_sqlite


# --- memory and the settings of a bulk load ------------------------------------------------------


def traced_peak_of_rebuild(app: TrajectoryLedger, page_size: int) -> int:
    """The peak of Python allocations while every read model is rebuilt (bytes)."""
    import tracemalloc  # noqa: PLC0415 - only this test traces

    views = Views(app)
    tracemalloc.start()
    try:
        rebuild_many(views, ALL, page_size=page_size)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_the_memory_of_a_rebuild_does_not_grow_with_the_log(projection_key: bytes) -> None:
    peaks = []
    for steps in (1500, 6000):  # four times the events, for the same persons
        with sqlite_url() as url, opened(url, projection_key) as app:
            append(app, random_log(7, 100, steps))
            peaks.append(traced_peak_of_rebuild(app, page_size=250))
    small, large = peaks
    assert large < small * 1.5, f"peak {small} bytes for the short log, {large} for the long one"


def test_a_rebuild_sets_the_sqlite_connection_back_as_it_was(
    make_ledger: Any, sqlite_store: str
) -> None:
    app = make_ledger(sqlite_store)
    append(app, random_log(3, 4, 40))
    views = Views(app)

    def pragmas(cursor: Any) -> tuple[int, int, int]:
        cursor.execute("PRAGMA synchronous")
        synchronous = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA cache_size")
        cache_size = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA secure_delete")
        return synchronous, cache_size, int(cursor.fetchone()[0])

    def writer() -> tuple[int, int, int]:
        with app.recorder.datastore.transaction(commit=True) as cursor:
            return pragmas(cursor)

    def during(done: int, total: int) -> None:
        with views.transaction(commit=False) as tx:  # the connection the rebuild holds
            seen.append(pragmas(tx.cursor))

    with app.recorder.datastore.transaction(commit=True) as cursor:
        cursor.execute("PRAGMA secure_delete = 1")  # as the store may have it
    before = writer()
    seen: list[tuple[int, int, int]] = []
    rebuild_many(views, ALL, page_size=10, progress=during)
    # NORMAL, a 64 MiB cache and freed pages not zeroed while the pages are written
    assert seen[-1] == (1, -64 * 1024, 0)
    assert writer() == before
    assert before[0] == 2  # the store's own setting (FULL) is back for everything else
    assert before[2] == 1  # and freed pages of the event store are zeroed again


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_during_a_one_pass_rebuild_leaves_every_read_model_as_it_was(
    make_ledger: Any, store_url: str, workers: int
) -> None:
    app = make_ledger(store_url)
    views = Views(app)
    events = random_log(5, 20, 600)
    append(app, events[:300])
    before = {p.name: catch_up(views, p) for p in ALL}
    rows = {p.name: dump(views, p) for p in ALL}
    append(app, events[300:])

    def interrupt(done: int, total: int) -> None:
        if 0 < done < total:
            raise KeyboardInterrupt  # what Ctrl-C raises in the rebuilding process

    with pytest.raises(KeyboardInterrupt):
        rebuild_many(views, ALL, page_size=60, progress=interrupt, workers=workers)
    assert multiprocessing.active_children() == []  # the workers are stopped
    for projection in ALL:
        state = views.read_state(projection.name)
        assert state is not None
        assert (state.position, state.digest) == (
            before[projection.name].position,
            before[projection.name].digest,
        )
        assert dump(views, projection) == rows[projection.name]
    # the rerun gives what catching the old tables up gives
    caught_up = {p.name: catch_up(views, p).digest for p in ALL}
    assert {r.name: r.digest for r in rebuild_many(views, ALL, workers=workers)} == caught_up
