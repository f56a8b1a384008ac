"""A rebuild killed with SIGKILL half-way leaves the old tables, and a rerun starts clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from projection_events import append, random_log
from workers import kill_when

from projections import PROJECTIONS, Views, catch_up, digest, rebuild, rebuild_many, status
from projections.base import NEW_SUFFIX

WORKER = Path(__file__).with_name("rebuild_worker.py")


def kill_half_way(url: str, key: bytes, *args: str) -> None:
    """Run ``rebuild_worker.py`` and kill it with SIGKILL between a quarter and half of the
    log (several pages are committed by then)."""
    kill_when(WORKER, [url, key.hex(), *args], lambda done, total: total // 4 < done < total // 2)


@pytest.mark.slow
def test_a_rebuild_killed_half_way_changes_nothing_readers_see(
    make_ledger: Any, sqlite_store: str, projection_key: bytes
) -> None:
    name = "caseload"
    projection = PROJECTIONS[name]
    events = random_log(99, 300, 3700)
    app = make_ledger(sqlite_store)
    views = Views(app)
    append(app, events[:2000])
    before = catch_up(views, projection)
    append(app, events[2000:])  # the rebuild has more to do than the live tables know

    kill_half_way(sqlite_store, projection_key, name, "100")

    # readers still see the old tables at the old position, unchanged
    kept = status(views, projection)
    assert (kept.position, kept.digest) == (before.position, before.digest)
    assert digest(views, projection) == before.digest
    assert views.tables_exist(projection.tables, suffix=NEW_SUFFIX)  # the half-built leftovers

    # a rerun starts clean and ends where an incremental catch-up of the old tables ends
    caught_up = catch_up(views, projection)
    rerun = rebuild(views, projection, page_size=500)
    assert rerun.digest == caught_up.digest
    assert rerun.position == caught_up.position == app.recorder.max_notification_id()
    assert not views.tables_exist(projection.tables[:1], suffix=NEW_SUFFIX)


@pytest.mark.slow
def test_a_rebuild_in_workers_whose_parent_is_killed_changes_nothing_readers_see(
    make_ledger: Any, sqlite_store: str, projection_key: bytes
) -> None:
    chosen = [PROJECTIONS["caseload"], PROJECTIONS["outflow"]]
    events = random_log(98, 300, 3700)
    app = make_ledger(sqlite_store)
    views = Views(app)
    append(app, events[:2000])
    before = {p.name: catch_up(views, p) for p in chosen}
    append(app, events[2000:])

    names = ",".join(p.name for p in chosen)
    kill_half_way(sqlite_store, projection_key, names, "100", "2")  # the parent only

    for projection in chosen:
        kept = status(views, projection)
        old = before[projection.name]
        assert (kept.position, kept.digest) == (old.position, old.digest)
        assert digest(views, projection) == old.digest

    # the orphaned workers stop at their next page; a rerun ends where catching up ends
    caught_up = {p.name: catch_up(views, p).digest for p in chosen}
    rerun = rebuild_many(views, chosen, page_size=500, workers=2)
    assert {r.name: r.digest for r in rerun} == caught_up
    assert {r.position for r in rerun} == {app.recorder.max_notification_id()}
