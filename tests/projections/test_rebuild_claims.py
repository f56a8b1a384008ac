"""A rebuild's claim on a read model is alive while its process is, and dead once it is killed.

The rebuild runs in a process of its own (``rebuild_worker.py``), killed with SIGKILL half-way;
the claim it leaves is then told apart from the claim of a rebuild that runs, by a reader (who
takes a dead claim over and builds the read model in one pass), by the next rebuild, and by
``status``, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from projection_events import append, random_log
from workers import kill_when

from ledger.application import TrajectoryLedger
from projections import PROJECTIONS, Views, catch_up, rebuild, status
from projections import claims as run_locks
from projections.base import REBUILDS_TABLE, RebuildClaim

WORKER = Path(__file__).with_name("rebuild_worker.py")
LADDER = PROJECTIONS["ladder"]


def claim_rows(views: Views) -> list[tuple[str, str]]:
    with views.transaction(commit=False) as tx:
        return [
            (str(n), str(r))
            for n, r in tx.all(f"SELECT name, run_id FROM {tx.table(REBUILDS_TABLE)}")
        ]


def dead_within(views: Views, seconds: float = 10.0) -> RebuildClaim | None:
    """The ladder's claim once its run is seen dead (a PostgreSQL server ends the session of
    a killed client when it reads the closed socket: at once, but not within the kill)."""
    deadline = time.monotonic() + seconds
    while True:
        claim = status(views, LADDER).rebuild
        if claim is None or not claim.running or time.monotonic() > deadline:
            return claim
        time.sleep(0.1)


def killed_rebuild(ledger: TrajectoryLedger, url: str, key: bytes) -> list[RebuildClaim | None]:
    """Run a rebuild of the ladder in a process of its own and kill it half-way; what
    ``status`` (in this process) said of its claim while it ran."""
    views = Views(ledger)
    seen: list[RebuildClaim | None] = []

    def half_way(done: int, total: int) -> bool:
        if done > total // 4:
            seen.append(status(views, LADDER).rebuild)
        return total // 4 < done < total // 2

    kill_when(WORKER, [url, key.hex(), LADDER.name, "100"], half_way)
    return seen


def test_a_killed_rebuilds_claim_is_dead_and_a_reader_takes_it_over(
    ledger: TrajectoryLedger, store_url: str, projection_key: bytes
) -> None:
    append(ledger, random_log(31, 200, 2600))
    views = Views(ledger)

    running = killed_rebuild(ledger, store_url, projection_key)

    # while the rebuild ran, its claim was alive; once it is killed, it is dead
    assert running and all(claim is not None and claim.running for claim in running)
    ((name, run_id),) = claim_rows(views)
    assert name == LADDER.name
    left = dead_within(views)
    assert left == RebuildClaim(running[0].started_at, running=False)  # type: ignore[union-attr]

    # the first report builds the read model in one pass, taking the dead claim over
    result = catch_up(views, LADDER)
    assert result.rebuilt
    assert result.position == ledger.recorder.max_notification_id()
    assert claim_rows(views) == []
    assert status(views, LADDER).rebuild is None
    assert result.digest == rebuild(views, LADDER).digest
    path = run_locks.lock_path(views.recorder, run_id)
    assert path is None or not path.exists()  # the dead run's lock file is gone


def test_the_next_rebuild_replaces_a_killed_rebuilds_claim(
    ledger: TrajectoryLedger, store_url: str, projection_key: bytes
) -> None:
    append(ledger, random_log(32, 200, 2600))
    views = Views(ledger)
    before = catch_up(views, LADDER)  # built: a reader has nothing to take over

    running = killed_rebuild(ledger, store_url, projection_key)
    ((_, run_id),) = claim_rows(views)
    left = dead_within(views)
    assert left is not None and not left.running
    assert running and running[-1] == RebuildClaim(left.started_at, running=True)

    rerun = rebuild(views, LADDER)
    assert (rerun.position, rerun.digest) == (before.position, before.digest)
    assert claim_rows(views) == []
    path = run_locks.lock_path(views.recorder, run_id)
    assert path is None or not path.exists()


def test_a_reader_leaves_the_claim_of_a_rebuild_that_runs_alone(
    ledger: TrajectoryLedger, make_ledger: Any, store_url: str
) -> None:
    """A claim whose run holds its lock (here: this test, in another connection) is left to
    that run: the reader catches up page by page, and the claim stays."""
    append(ledger, random_log(33, 50, 500))
    views = Views(ledger)
    views.ensure_state_table()
    with views.transaction(commit=True) as tx:
        tx.execute(
            f"INSERT INTO {tx.table(REBUILDS_TABLE)} VALUES (?, ?, ?)",
            [LADDER.name, "a-running-run", "2026-01-01T00:00:00.000000Z"],
        )
    other = make_ledger(store_url)
    with run_locks.runs_held(other.recorder, ["a-running-run"]):
        assert status(views, LADDER).rebuild == RebuildClaim("2026-01-01T00:00:00.000000Z", True)
        result = catch_up(views, LADDER)
        assert not result.rebuilt
        assert claim_rows(views) == [(LADDER.name, "a-running-run")]
    assert result.position == ledger.recorder.max_notification_id()
    # its run has ended without swapping in (the lock is free): the claim is dead
    assert status(views, LADDER).rebuild == RebuildClaim("2026-01-01T00:00:00.000000Z", False)


def test_a_run_is_alive_while_its_lock_is_held(
    ledger: TrajectoryLedger, make_ledger: Any, store_url: str
) -> None:
    other = make_ledger(store_url)  # another connection (PostgreSQL) and open file (SQLite)
    with run_locks.runs_held(other.recorder, ["r1", "r2"]):
        assert run_locks.run_alive(ledger.recorder, "r1")
        assert run_locks.run_alive(ledger.recorder, "r2")
        assert not run_locks.run_alive(ledger.recorder, "r3")
        assert run_locks.run_alive(ledger.recorder, "r1")  # asking took nothing from the run
    assert not run_locks.run_alive(ledger.recorder, "r1")
    assert not run_locks.run_alive(ledger.recorder, "r2")
