"""Speed of the integrity log: `audit verify` events/s beside the raw read rate, and the cost
of keeping the leaves current beside the append (import) throughput.

    .venv/bin/python bench/audit_verify.py --store both --events 1000000   # the documented run
    .venv/bin/python bench/audit_verify.py --store sqlite --events 20000   # a quick check

Per store (a SQLite file in a temporary directory; a fresh PostgreSQL database
``traject_bench_audit``, dropped afterwards):

1. ``--persons`` real persons of ``--per-person`` events each are appended through
   ``TrajectoryLedger`` (personal fields encrypted, corrections): the *append rate*.
2. Their stored rows (topic and state bytes as stored) are copied under fresh stream ids by
   bulk SQL until the log holds ``--events`` rows: realistic rows, quickly.
3. *catch-up*: ``ledger.audit.catch_up`` records the leaf of every row (hash and insert):
   leaves/s, and its cost per event as a share of the append cost per event.
4. *raw read*: the same paged SELECT that verify runs, rows converted, nothing hashed.
5. *verify*: ``ledger.audit.verify`` (read only): recompute every leaf, compare with the
   recorded leaves, check one stored checkpoint. Best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import gc
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from common import (
    build_app,
    create_pg_database,
    drop_pg_database,
    pg_conninfo,
    run_per_store,
    seed_person,
    temp_dir,
)

from ledger import audit
from ledger.application import TrajectoryLedger
from ledger.integrity import generate_signing_key

PG_DB = "traject_bench_audit"


@contextmanager
def store(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'ledger.db'}"
        return
    url = create_pg_database(PG_DB)
    try:
        yield url
    finally:
        gc.collect()
        drop_pg_database(PG_DB)


def copy_rows(app: TrajectoryLedger, url: str, kind: str, target: int) -> int:
    """Copy the stored rows under fresh stream ids until the log holds ``target`` rows."""
    template = [(row[1], row[2], row[3], row[4]) for row in audit.raw_rows(app)]
    have = len(template)
    if not template:
        return 0
    batch: list[tuple[Any, int, str, bytes]] = []
    recorder: Any = app.recorder
    if kind == "sqlite":
        import sqlite3  # noqa: PLC0415

        db = sqlite3.connect(url.removeprefix("sqlite:///"))
    else:
        db = psycopg.connect(pg_conninfo(url))
    try:
        while have < target:
            streams: dict[bytes, uuid.UUID] = {}
            for original, version, topic, state in template[: min(len(template), target - have)]:
                stream = streams.setdefault(original, uuid.uuid4())
                batch.append((stream, version, topic, state))
                have += 1
            if len(batch) >= 20000 or have >= target:
                if kind == "sqlite":
                    db.executemany(
                        f"INSERT INTO {recorder.events_table_name} VALUES (?, ?, ?, ?)",
                        [(s.hex, v, t, st) for s, v, t, st in batch],
                    )
                else:
                    with db.cursor().copy(
                        f"COPY {recorder.events_table} (originator_id, originator_version, topic,"
                        " state) FROM STDIN"
                    ) as copy:
                        for row in batch:
                            copy.write_row(row)
                db.commit()
                batch = []
    finally:
        db.close()
    return have


def timed(function: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def raw_read(app: TrajectoryLedger) -> int:
    count = 0
    for page in audit.raw_pages(app, start=audit.LOWEST_ID):
        count += len(page)
    return count


def run(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with temp_dir() as workdir, store(kind, workdir) as url:
        app = build_app(url)
        try:
            start = time.perf_counter()
            for _ in range(args.persons):
                seed_person(app, args.per_person)
            appended = args.persons * args.per_person
            append_s = time.perf_counter() - start
            rows = copy_rows(app, url, kind, args.events)
            catch_s, recorded = timed(lambda: audit.catch_up(app))
            private, _ = generate_signing_key()
            audit.checkpoint(app, private, "traject ledger bench")
            read_s = min(timed(lambda: raw_read(app))[0] for _ in range(args.repeat))
            verify_times = []
            for _ in range(args.repeat):
                seconds, report = timed(lambda: audit.verify(app))
                assert report.ok, report.problems[:1]
                verify_times.append(seconds)
            verify_s = min(verify_times)
            gaps_s = min(timed(lambda: audit.stream_gaps(app))[0] for _ in range(args.repeat))
        finally:
            app.close()
    append_per_event = append_s / appended
    leaf_per_event = catch_s / max(recorded, 1)
    return {
        "store": kind,
        "events": rows,
        "append_events_per_s": round(appended / append_s),
        "catch_up_leaves_per_s": round(recorded / catch_s),
        "catch_up_share_of_append": f"{100 * leaf_per_event / append_per_event:.1f} %",
        "raw_read_events_per_s": round(rows / read_s),
        "verify_events_per_s": round(rows / verify_s),
        # the versions' continuity check, part of verify: its own time and share
        "stream_gaps_s": round(gaps_s, 3),
        "stream_gaps_share_of_verify": f"{100 * gaps_s / verify_s:.1f} %",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--persons", type=int, default=20)
    parser.add_argument("--per-person", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    run_per_store(parser.parse_args(), run)


if __name__ == "__main__":
    main()
