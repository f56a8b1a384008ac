"""How a rebuild writes its ``__new`` tables: corrections whose target lies in an earlier page,
the staging tables in SQLite's temporary database, and the time per phase."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import date
from typing import Any

from projection_events import GEMEENTEN, LogBuilder, append, random_log

from ledger import events as ev
from projections import CASELOAD, PROJECTIONS, Views, catch_up, rebuild, rebuild_many
from projections.base import NEW_SUFFIX, STAGED_SUFFIX, STAGING_PAGE_BYTES
from projections.ladder import LadderProjection
from projections.outflow import OutflowProjection

ALL = list(PROJECTIONS.values())


def corrected_log() -> tuple[list[ev.TrajectEvent], str, str]:
    """A registration corrected twice and a closing retracted (then corrected: ignored), each
    control event well after its target; returns the log and the two stream ids."""
    builder = LogBuilder(5)
    person = builder.register(date(2024, 3, 1))  # version 1
    other = builder.register(date(2024, 3, 2))
    builder.add(other, ev.CaseClosed, occurred_on=date(2024, 4, 1), reason="other")  # version 2
    builder.correct(person, 1, occurred_on="2024-03-04")  # version 2
    builder.correct(person, 1, municipality=GEMEENTEN[1])  # version 3
    builder.retract(other, 2)  # version 3
    builder.correct(other, 2, occurred_on="2024-04-02")  # version 4: of a retracted fact
    return builder.events, str(person), str(other)


def views_of(make_ledger: Any, url: str, events: list[ev.TrajectEvent]) -> Views:
    """The read models of a fresh ledger at ``url`` holding ``events``."""
    app = make_ledger(url)
    append(app, events)
    return Views(app)


def revisions(views: Views, stream_id: str, version: int) -> list[tuple[Any, ...]]:
    with views.transaction(commit=False) as tx:
        return tx.all(
            "SELECT revision, occurred_on, municipality, known_to, superseded_by"
            f" FROM {tx.table(CASELOAD.facts_table.name)} WHERE stream_id = ? AND version = ?"
            " ORDER BY revision",
            [stream_id, version],
        )


def test_corrections_of_facts_in_earlier_pages_close_and_revise_them(
    make_ledger: Any, store_url: str
) -> None:
    events, person, other = corrected_log()
    views = views_of(make_ledger, store_url, events)
    at = {(str(e.originator_id), e.originator_version): e for e in events}

    def known(stream_id: str, version: int) -> str:
        return at[(stream_id, version)].timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    whole = rebuild(views, CASELOAD)  # one page: targets and corrections meet in memory
    paged = rebuild(views, CASELOAD, page_size=1)  # every target is in an earlier page
    assert paged.digest == whole.digest
    assert revisions(views, person, 1) == [
        (0, "2024-03-01", GEMEENTEN[0], known(person, 2), 2),
        (1, "2024-03-04", GEMEENTEN[0], known(person, 3), 3),
        (2, "2024-03-04", GEMEENTEN[1], None, None),
    ]
    assert revisions(views, other, 2) == [(0, "2024-04-01", GEMEENTEN[0], known(other, 3), 3)]


def test_a_paged_rebuild_of_every_read_model_equals_one_page_and_catching_up(
    make_ledger: Any, store_url: str
) -> None:
    views = views_of(make_ledger, store_url, random_log(21, 6, 160))
    caught_up = {p.name: catch_up(views, p, page_size=7).digest for p in ALL}
    assert {r.name: r.digest for r in rebuild_many(views, ALL, page_size=3)} == caught_up
    assert {r.name: r.digest for r in rebuild_many(views, ALL, page_size=10_000)} == caught_up


def test_sqlite_stages_fact_rows_in_the_temporary_database(
    make_ledger: Any, sqlite_store: str
) -> None:
    views = views_of(make_ledger, sqlite_store, random_log(4, 5, 120))
    staged = f"{CASELOAD.facts_table.name}{STAGED_SUFFIX}"
    seen: list[tuple[int, int]] = []

    pages: set[int] = set()
    journals: set[str] = set()

    def look(done: int, total: int) -> None:
        with views.transaction(commit=False) as tx:  # the connection the rebuild holds
            seen.append(
                (
                    tx.all(f"SELECT count(*) FROM temp.{staged}")[0][0],
                    tx.all(f"SELECT count(*) FROM {CASELOAD.facts_table.name}{NEW_SUFFIX}")[0][0],
                )
            )
            pages.add(tx.all("PRAGMA temp.page_size")[0][0])
            journals.add(tx.all("PRAGMA temp.journal_mode")[0][0])

    result = rebuild(views, CASELOAD, page_size=40, progress=look)
    assert seen[-1][0] > 0  # rows staged, while the __new table readers will get is empty
    assert all(new == 0 for _, new in seen)
    with views.transaction(commit=False) as tx:
        rows = tx.all(f"SELECT count(*) FROM {CASELOAD.facts_table.name}")[0][0]
    assert rows == seen[-1][0]  # every staged row was copied in
    assert pages == {STAGING_PAGE_BYTES}  # large pages for the staging tables
    assert journals == {"off"}  # and no rollback journal: a failed rebuild drops them
    with views.transaction(commit=False) as tx:
        assert tx.all("PRAGMA temp.journal_mode")[0][0] != "off"  # set back afterwards
    assert result.digest == rebuild(views, CASELOAD).digest


def test_a_rebuild_reports_the_time_of_each_phase(make_ledger: Any, store_url: str) -> None:
    timings: dict[str, float] = {}
    rebuild_many(views_of(make_ledger, store_url, random_log(2, 3, 40)), ALL, timings=timings)
    phases = {"read", "decode", "apply", "refresh", "digest", "index", "swap"}
    if store_url.startswith("sqlite"):
        phases.add("order")
    assert set(timings) == phases
    assert all(seconds >= 0 for seconds in timings.values())


def secondary_indexes(views: Views, table: str) -> list[tuple[str, ...]]:
    """The column lists of ``table``'s secondary indexes (not its key), sorted."""
    with views.transaction(commit=False) as tx:
        if tx.dialect.is_postgres:
            rows = tx.all(
                "SELECT pg_get_indexdef(indexrelid) FROM pg_index"
                " WHERE indrelid = ?::regclass AND NOT indisprimary",
                [tx.table(table)],
            )
            return sorted(
                tuple(str(row[0]).split("(", 1)[1].rstrip(")").split(", ")) for row in rows
            )
        names = [str(row[1]) for row in tx.all(f"PRAGMA index_list({table})") if row[3] == "c"]
        return sorted(
            tuple(str(col[2]) for col in tx.all(f"PRAGMA index_info({name})")) for name in names
        )


def test_the_indexes_are_built_before_the_swap_and_again_by_the_next_rebuild(
    make_ledger: Any, store_url: str
) -> None:
    views = views_of(make_ledger, store_url, random_log(4, 3, 40))
    declared = {
        table.name: sorted(table.indexes) for projection in ALL for table in projection.tables
    }
    timings: dict[str, float] = {}
    first = rebuild_many(views, ALL, timings=timings)
    assert timings["index"] > 0  # created on the __new tables, before the swap
    for table, indexes in declared.items():
        assert secondary_indexes(views, table) == indexes, table
    second = rebuild_many(views, ALL)  # the live tables' indexes do not stand in the way
    for table, indexes in declared.items():
        assert secondary_indexes(views, table) == indexes, table
    assert [r.digest for r in second] == [r.digest for r in first]


def test_text_columns_compare_bytes_on_both_stores(make_ledger: Any, store_url: str) -> None:
    views = views_of(make_ledger, store_url, random_log(6, 4, 60))
    rebuild_many(views, ALL)
    with views.transaction(commit=False) as tx:
        for projection in ALL:
            for table in projection.tables:
                texts = {c.name for c in table.columns if c.type == "text"}
                if tx.dialect.is_postgres:
                    collations = tx.all(
                        "SELECT a.attname, c.collname FROM pg_attribute AS a"
                        " JOIN pg_collation AS c ON c.oid = a.attcollation"
                        " WHERE a.attrelid = ?::regclass AND a.attnum > 0",
                        [tx.table(table.name)],
                    )
                    assert {name: "C" for name in texts} == dict(collations), table.name
                key = table.key[0]
                ordered = [
                    row[0]
                    for row in tx.all(f"SELECT {key} FROM {tx.table(table.name)} ORDER BY {key}")
                ]
                assert ordered == sorted(ordered, key=lambda text: text.encode())


def test_read_models_are_refreshed_while_another_writer_holds_the_lock(
    make_ledger: Any, sqlite_store: str
) -> None:
    # a parallel rebuild's other worker copying its tables: from the end of the log until
    # every read model is refreshed, another connection holds the database's write lock
    refreshed: list[str] = []

    class NotedOutflow(OutflowProjection):
        name = "outflow_noted"

        def refresh_all(self, tx: Any, chunk: int = 1000, rows: int = 20000) -> None:
            super().refresh_all(tx, chunk, rows)
            refreshed.append(self.name)

    class NotedLadder(LadderProjection):  # with a derived table
        name = "ladder_noted"

        def refresh_all(self, tx: Any, chunk: int = 1000, rows: int = 20000) -> None:
            super().refresh_all(tx, chunk, rows)
            refreshed.append(self.name)

    noted = [NotedOutflow(), NotedLadder()]
    views = views_of(make_ledger, sqlite_store, random_log(4, 3, 60))
    locked, released = threading.Event(), threading.Event()
    waited_for_all: list[bool] = []

    def hold_the_lock() -> None:
        other = sqlite3.connect(sqlite_store.removeprefix("sqlite:///"), isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            locked.set()
            deadline = time.monotonic() + 10
            while len(refreshed) < len(noted) and time.monotonic() < deadline:
                time.sleep(0.01)
            waited_for_all.append(len(refreshed) == len(noted))
            other.execute("ROLLBACK")
        finally:
            other.close()
            released.set()

    def at_the_end(done: int, total: int) -> None:
        if done == total and not locked.is_set():
            threading.Thread(target=hold_the_lock, daemon=True).start()
            assert locked.wait(10)

    results = rebuild_many(views, noted, progress=at_the_end)
    assert released.wait(10)
    assert waited_for_all == [True]  # no read model waited for the lock while one was left
    assert [r.digest for r in results] == [r.digest for r in rebuild_many(views, noted)]
    for projection in noted:
        assert secondary_indexes(views, projection.facts_table.name) == sorted(
            projection.facts_table.indexes
        )
