"""Whether the run behind a read model's rebuild claim is still alive.

A rebuild registers a claim (a row of ``traject_projection_rebuilds``: the read model, the
run id, when it started) and holds a lock named after its run for as long as the claim is
its own: on PostgreSQL a session-level advisory lock of a connection it keeps for the
rebuild, on SQLite an exclusive ``flock`` of a file beside the database
(``<database>-rebuild-<run id>.lock``). Neither lock outlives its holder: the server ends a
dead client's session, and the kernel drops the file locks of a process that is gone. A
claim whose lock anyone else can take is therefore dead (its rebuild was killed, or failed),
and one whose lock is held is a rebuild that runs. See ``docs/projections.md``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TypeAlias

from ledger.persistence import TrajectPostgresRecorder, TrajectSQLiteRecorder

Recorder: TypeAlias = TrajectSQLiteRecorder | TrajectPostgresRecorder

NAMESPACE = "traject_projection_rebuilds"
"""The first key of a run's advisory lock (``hashtext`` of it; the second: of the run id)."""

_KEYS = "hashtext(%s), hashtext(%s)"


@contextmanager
def runs_held(recorder: Recorder, run_ids: Sequence[str]) -> Iterator[None]:
    """Hold the lock of each of ``run_ids`` for the block (before their claims are written,
    until after they are released or the run has failed)."""
    if isinstance(recorder, TrajectPostgresRecorder):
        # a connection of the rebuild's own, out of the pool for the block (autocommit: the
        # lock is the session's, and no transaction stays open); a dead process's session
        # ends and its locks with it
        with recorder.datastore.get_connection() as connection:
            for run_id in run_ids:
                connection.execute(f"SELECT pg_advisory_lock({_KEYS})", [NAMESPACE, run_id])
            try:
                yield
            finally:
                for run_id in run_ids:
                    connection.execute(f"SELECT pg_advisory_unlock({_KEYS})", [NAMESPACE, run_id])
        return
    with ExitStack() as stack:
        for run_id in run_ids:
            path = lock_path(recorder, run_id)
            if path is not None:
                stack.enter_context(_file_held(path))
        yield


@contextmanager
def _file_held(path: Path) -> Iterator[None]:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                path.unlink()  # still locked: a reader that opened it sees a dead run after
    finally:
        os.close(descriptor)


def run_alive(recorder: Recorder, run_id: str, *, clear: bool = False) -> bool:
    """Whether the rebuild run ``run_id`` holds its lock (its process is alive and has not
    finished). ``clear``: remove a dead run's lock file (SQLite), for the run that takes its
    claim over.

    An in-memory SQLite database has no file to lock beside it, and only one process: its
    claims count as alive (a rebuild that fails there leaves a claim that only a
    ``traject projections rebuild`` replaces, as before)."""
    if isinstance(recorder, TrajectPostgresRecorder):
        with recorder.datastore.get_connection() as connection:
            row = connection.execute(
                f"SELECT pg_try_advisory_lock({_KEYS}) AS free", [NAMESPACE, run_id]
            ).fetchone()
            free = bool(row and row["free"])
            if free:
                connection.execute(f"SELECT pg_advisory_unlock({_KEYS})", [NAMESPACE, run_id])
        return not free
    path = lock_path(recorder, run_id)
    if path is None:
        return True
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False  # never made (a claim of an earlier traject), or removed by its run
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        if clear:
            with contextlib.suppress(OSError):
                path.unlink()
        return False
    finally:
        os.close(descriptor)


def lock_path(recorder: Recorder, run_id: str) -> Path | None:
    """SQLite: the lock file of a run, beside the database; None for an in-memory one."""
    if isinstance(recorder, TrajectPostgresRecorder):
        return None
    pool = recorder.datastore.pool
    if pool.is_sqlite_memory_mode:
        return None
    name = str(pool.db_name)
    if name.startswith("file:"):
        name = name.removeprefix("file:").split("?", 1)[0]
    return Path(f"{name}-rebuild-{run_id}.lock")
