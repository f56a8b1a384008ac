"""In-process write and read latency of the ledger, beside raw-database baselines.

    .venv/bin/python bench/write_read.py --store both            # the documented run
    .venv/bin/python bench/write_read.py --store sqlite --runs 200 --rounds 5
    .venv/bin/python bench/write_read.py --store postgres --profile append60

Measured, per store (a SQLite file in a temporary directory; a fresh PostgreSQL database):

* append: ``TrajectoryLedger.record(person, LadderAssessed, ...)``: load the stream (replay),
  validate, check the rules, save in one transaction. Measured on persons holding ~10 and ~60
  events. Each timed append goes to the next of several seeded persons, so a stream grows by at
  most ``--per-person`` events during a round (10..14 and 60..64 events by default).
* load: ``app.repository.get(person)`` alone (the replay part of an append), for diagnosis.
* timeline: ``app.timeline(person)`` of a 10- and a 60-event person.
* raw baselines, same run, same database: a one-row insert transaction into a table of the
  library's shape (originator_id, originator_version, topic, state, primary key on the first
  two; PostgreSQL also has the library's notification_id bigserial + unique index), and a
  select of the 60 rows of one originator_id, with the byte-for-byte states of a real stream.

Each measurement: ``--warmup`` untimed calls, then ``--runs`` timed calls (perf_counter_ns),
repeated for ``--rounds`` rounds; the report gives median and p90 over all timed calls, and the
spread of the per-round medians.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import math
import pstats
import sqlite3
import statistics
import sys
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from ledger import events as ev
from ledger.aggregates import StreamAggregate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    CpuWatch,
    Stats,
    build_app,
    busy_wait,
    machine_description,
    measure,
    pg_conninfo,
    print_machine,
    seed_person,
    store_url,
    temp_dir,
    wait_for_idle,
)

TARGETS_MS = {
    ("sqlite", "append10"): 2.0,
    ("sqlite", "append60"): 2.0,
    ("postgres", "append10"): 3.0,
    ("postgres", "append60"): 3.0,
    ("sqlite", "timeline60"): 5.0,
    ("postgres", "timeline60"): 5.0,
}

LABELS = {
    "append10": "append 1 event, person with ~10 events",
    "append60": "append 1 event, person with ~60 events",
    "load10": "load (replay) 10-event stream",
    "load60": "load (replay) 60-event stream",
    "timeline10": "timeline of a 10-event person",
    "timeline60": "timeline of a 60-event person",
    "raw_insert": "raw: one-row insert transaction",
    "raw_insert_autocommit": "raw: one-row insert, autocommit statement",
    "raw_select60": "raw: select 60 rows by originator_id",
    "raw_insert_after_work": "raw: one-row insert transaction, after 1.5 ms CPU work",
    "raw_select60_after_work": "raw: select 60 rows, after 1.5 ms CPU work",
}
WORK_NS = 1_500_000  # about the Python work of an append; see docs/benchmarks.md


def append_fn(app: Any, persons: list[uuid.UUID]) -> Any:
    def append(i: int) -> None:
        app.record(
            persons[i % len(persons)],
            ev.LadderAssessed,
            occurred_on=date(2024, 6, 1),
            rung=3,
            assessor="bench",
        )

    return append


# --- raw baselines --------------------------------------------------------------------------


def real_rows(app: Any, stream_id: uuid.UUID) -> list[tuple[str, int, bytes]]:
    return [
        (e.topic, e.originator_version, bytes(e.state))
        for e in app.recorder.select_events(stream_id)
    ]


def raw_sqlite(workdir: Path, rows: list[tuple[str, int, bytes]], args: Any) -> list[Stats]:
    """sqlite3 directly, configured as the library's pool does (WAL, autocommit + BEGIN)."""
    conn = sqlite3.connect(workdir / "raw.db", isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS stored_events (originator_id TEXT,"
        " originator_version INTEGER, topic TEXT, state BLOB,"
        " PRIMARY KEY (originator_id, originator_version))"
    )
    stream = str(uuid.uuid4())
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO stored_events VALUES (?,?,?,?)", [(stream, v, t, s) for t, v, s in rows]
    )
    conn.execute("COMMIT")
    topic, _, state = rows[-1]

    def insert(i: int) -> None:
        cursor = conn.cursor()
        cursor.execute("BEGIN")
        cursor.execute(
            "INSERT INTO stored_events VALUES (?,?,?,?)", (str(uuid.uuid4()), 1, topic, state)
        )
        conn.commit()

    def select(i: int) -> None:
        cursor = conn.cursor()
        cursor.execute(
            "SELECT * FROM stored_events WHERE originator_id=? ORDER BY originator_version",
            (stream,),
        )
        fetched = cursor.fetchall()
        assert len(fetched) == len(rows)

    results = [
        measure("raw_insert", insert, runs=args.runs, warmup=args.warmup),
        measure("raw_select60", select, runs=args.runs, warmup=args.warmup),
        *after_work(insert, select, args),
    ]
    conn.close()
    return results


def after_work(insert: Any, select: Any, args: Any) -> list[Stats]:
    """The same calls with 1.5 ms of CPU work (untimed) before each: the database side goes
    idle between calls as it does between the queries of an append, and waking it costs."""

    def work(_i: int) -> None:
        busy_wait(WORK_NS)

    return [
        measure("raw_insert_after_work", insert, runs=args.runs, warmup=args.warmup, setup=work),
        measure("raw_select60_after_work", select, runs=args.runs, warmup=args.warmup, setup=work),
    ]


def raw_postgres(url: str, rows: list[tuple[str, int, bytes]], args: Any) -> list[Stats]:
    """psycopg directly: the library's table shape, in the benchmark database."""
    conn = psycopg.connect(pg_conninfo(url), autocommit=True)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS raw_events (originator_id uuid NOT NULL,"
        " originator_version bigint NOT NULL, topic text, state bytea, notification_id bigserial,"
        " PRIMARY KEY (originator_id, originator_version))"
    )
    conn.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS raw_events_notification_id"
        " ON raw_events (notification_id)"
    )
    stream = uuid.uuid4()
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO raw_events (originator_id, originator_version, topic, state)"
            " VALUES (%s, %s, %s, %s)",
            [(stream, v, t, s) for t, v, s in rows],
        )
    topic, _, state = rows[-1]
    insert_sql = (
        "INSERT INTO raw_events (originator_id, originator_version, topic, state)"
        " VALUES (%s, %s, %s, %s) RETURNING notification_id"
    )

    def insert(i: int) -> None:
        with conn.transaction():
            conn.execute(insert_sql, (uuid.uuid4(), 1, topic, state)).fetchone()

    def insert_autocommit(i: int) -> None:
        conn.execute(insert_sql, (uuid.uuid4(), 1, topic, state)).fetchone()

    def select(i: int) -> None:
        fetched = conn.execute(
            "SELECT * FROM raw_events WHERE originator_id = %s ORDER BY originator_version",
            (stream,),
        ).fetchall()
        assert len(fetched) == len(rows)

    results = [
        measure("raw_insert", insert, runs=args.runs, warmup=args.warmup),
        measure("raw_insert_autocommit", insert_autocommit, runs=args.runs, warmup=args.warmup),
        measure("raw_select60", select, runs=args.runs, warmup=args.warmup),
        *after_work(insert, select, args),
    ]
    conn.close()
    return results


# --- one store ------------------------------------------------------------------------------


def run_round(app: Any, url: str, store: str, workdir: Path, args: Any) -> list[Stats]:
    results: list[Stats] = []
    n_persons = math.ceil((args.runs + args.warmup) / args.per_person)
    for size in (10, 60):
        persons = [
            seed_person(app, size, correct_every=args.correct_every) for _ in range(n_persons)
        ]
        results.append(
            measure(f"append{size}", append_fn(app, persons), runs=args.runs, warmup=args.warmup)
        )
        fresh = seed_person(app, size, correct_every=args.correct_every)
        results.append(
            measure(
                f"load{size}",
                lambda _i, p=fresh: app.repository.get(p),
                runs=args.runs,
                warmup=args.warmup,
            )
        )
        results.append(
            measure(
                f"timeline{size}",
                lambda _i, p=fresh: app.timeline(p),
                runs=args.runs,
                warmup=args.warmup,
            )
        )
        if size == 60:
            rows = real_rows(app, fresh)
            assert len(rows) == 60
            if store == "sqlite":
                results += raw_sqlite(workdir, rows, args)
            else:
                results += raw_postgres(url, rows, args)
    return results


PHASES = ("_load", "_build", "check", "save")


def phases(app: Any, size: int, args: Any) -> dict[str, float]:
    """Median time of each step of an append (load, build+validate, rules, save), by wrapping
    the application's methods for one extra untimed-by-measure() pass."""
    samples: dict[str, list[int]] = {name: [] for name in (*PHASES, "total")}
    originals = {name: getattr(app, name) for name in ("_load", "_build", "save")}
    original_record = StreamAggregate.record

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            start = time.perf_counter_ns()
            try:
                return fn(*a, **k)
            finally:
                samples[name].append(time.perf_counter_ns() - start)

        return wrapper

    for name, fn in originals.items():
        setattr(app, name, timed(name, fn))
    StreamAggregate.record = timed("check", original_record)  # type: ignore[method-assign]
    try:
        n_persons = math.ceil((args.runs + args.warmup) / args.per_person)
        persons = [
            seed_person(app, size, correct_every=args.correct_every) for _ in range(n_persons)
        ]
        for values in samples.values():
            values.clear()
        total = measure("phases", append_fn(app, persons), runs=args.runs, warmup=args.warmup)
    finally:
        for name in originals:
            delattr(app, name)
        StreamAggregate.record = original_record  # type: ignore[method-assign]
    skip = args.warmup
    result = {
        name: statistics.median(values[skip:]) / 1e6
        for name, values in samples.items()
        if name != "total"
    }
    result["total"] = total.median_ms
    return result


def profile(app: Any, name: str, args: Any) -> None:
    size = 60 if name.endswith("60") else 10
    n_persons = math.ceil((args.runs + args.warmup) / args.per_person)
    persons = [seed_person(app, size, correct_every=args.correct_every) for _ in range(n_persons)]
    fn = (
        append_fn(app, persons)
        if name.startswith("append")
        else (lambda _i: app.timeline(persons[0]))
    )
    for i in range(args.warmup):
        fn(i)
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(args.warmup, args.warmup + args.runs):
        fn(i)
    profiler.disable()
    stats = pstats.Stats(profiler)
    print(f"\n--- cProfile of {name}, {args.runs} calls, sorted by cumulative time ---")
    stats.sort_stats("cumulative").print_stats(35)
    print(f"--- cProfile of {name}, sorted by own time ---")
    stats.sort_stats("tottime").print_stats(25)


def run_store(store: str, args: Any) -> tuple[dict[str, Stats], dict[int, dict[str, float]]]:
    merged: dict[str, Stats] = {}
    steps: dict[int, dict[str, float]] = {}
    round_medians: dict[str, list[float]] = {}
    with temp_dir() as workdir, store_url(store, workdir) as url:
        app = build_app(url)
        if args.profile:
            profile(app, args.profile, args)
            app.close()
            return {}, {}
        for number in range(1, args.rounds + 1):
            for stats in run_round(app, url, store, workdir, args):
                print(f"[{store} round {number}] {stats.row()}", flush=True)
                merged[stats.name] = (
                    merged[stats.name].merged(stats) if stats.name in merged else stats
                )
                round_medians.setdefault(stats.name, []).append(stats.median_ms)
        for size in (10, 60):
            steps[size] = phases(app, size, args)
            print(
                f"[{store} steps of an append, ~{size} events] "
                + "  ".join(f"{k}={v:.3f} ms" for k, v in steps[size].items()),
                flush=True,
            )
        app.close()
        del app
        gc.collect()
    for name, stats in merged.items():
        stats.round_medians = round_medians[name]  # type: ignore[attr-defined]
    return merged, steps


def report(
    results: dict[str, dict[str, Stats]],
    steps: dict[str, dict[int, dict[str, float]]],
    facts: dict[str, str],
    args: Any,
) -> None:
    print()
    print_machine(facts)
    print(
        f"runs per round {args.runs}, warm-up {args.warmup}, rounds {args.rounds}, "
        f"per-person appends {args.per_person}, correction every {args.correct_every} events"
    )
    print()
    print("| store | measurement | median ms | p90 ms | round medians ms | target | result |")
    print("|---|---|---:|---:|---|---|---|")
    for store, merged in results.items():
        for name, stats in merged.items():
            target = TARGETS_MS.get((store, name))
            verdict = "" if target is None else ("pass" if stats.median_ms <= target else "FAIL")
            medians = ", ".join(f"{m:.3f}" for m in stats.round_medians)  # type: ignore[attr-defined]
            print(
                f"| {store} | {LABELS[name]} | {stats.median_ms:.3f} | {stats.p90_ms:.3f} "
                f"| {medians} | {'' if target is None else f'≤ {target:g} ms'} | {verdict} |"
            )
    print()
    print("| store | stream | load ms | build+validate ms | rules+apply ms | save ms | append ms |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for store, by_size in steps.items():
        for size, p in by_size.items():
            print(
                f"| {store} | ~{size} events | {p['_load']:.3f} | {p['_build']:.3f} "
                f"| {p['check']:.3f} | {p['save']:.3f} | {p['total']:.3f} |"
            )
    if args.json:
        payload = {
            "machine": facts,
            "args": vars(args),
            "results": {
                store: {
                    name: {
                        "median_ms": s.median_ms,
                        "p90_ms": s.p90_ms,
                        "min_ms": s.min_ms,
                        "n": s.n,
                        "round_medians_ms": s.round_medians,  # type: ignore[attr-defined]
                    }
                    for name, s in merged.items()
                }
                for store, merged in results.items()
            },
            "append_steps_ms": steps,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nwrote {args.json}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=100, help="timed calls per round")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls first")
    parser.add_argument("--rounds", type=int, default=3, help="repeat every measurement")
    parser.add_argument(
        "--per-person", type=int, default=5, help="timed appends per seeded person (stream growth)"
    )
    parser.add_argument(
        "--correct-every",
        type=int,
        default=10,
        help="seeded streams hold an EventCorrected every N versions (0: none)",
    )
    parser.add_argument(
        "--profile",
        choices=["append10", "append60", "timeline60"],
        help="cProfile one measurement instead of timing",
    )
    parser.add_argument(
        "--wait-idle", type=float, default=120, help="wait up to N s for an idle CPU (0: no)"
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    if args.wait_idle:
        wait_for_idle(timeout=args.wait_idle)
    facts = machine_description(with_postgres="postgres" in stores)
    print_machine(facts)
    results: dict[str, dict[str, Stats]] = {}
    steps: dict[str, dict[int, dict[str, float]]] = {}
    watch = CpuWatch()
    for store in stores:
        results[store], steps[store] = run_store(store, args)
    after = machine_description(with_postgres=False)
    facts["load average after"] = after["load average"]
    facts["calibration after"] = after["calibration"]
    facts["cpu during run"] = watch.summary()
    if not args.profile:
        report(results, steps, facts, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
