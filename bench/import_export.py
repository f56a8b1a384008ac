"""Bulk import and export speed, beside raw inserts of the same rows and the library's save().

For each store it generates N import lines (invented statushouders: registration with BSN and
name, permit, koppeling, move-in, then ladder assessments), and measures in one run:

* ``import``: ``commands.importing.import_lines`` on the JSON text of the lines, --batch-size
  lines per transaction: JSON parsing, conversion, model validation, domain rules, encryption of
  personal fields, idempotency keys, person index and external keys included;
* ``export``: ``ledger.export.Exporter`` over the same ledger (decryption included);
* ``raw``: the stored rows the import wrote, inserted into a table of the same shape by plain
  ``executemany`` in one transaction per batch (SQLite) or ``COPY`` (PostgreSQL): the store's
  limit for these bytes;
* ``save``: the same domain events given to the library's ``Application.save()`` in batches of
  --batch-size on a fresh ledger: the mapper and encryption, without validation or rules.

With ``--runs N`` the import is timed N times, each on a fresh store (the median is
reported, with every run's rate); export, raw and save are measured after the last run. The CPUs'
busy share during the runs is printed per store: the machine may be shared.

    .venv/bin/python bench/import_export.py --store both --events 100000 --runs 3
    .venv/bin/python bench/import_export.py --store sqlite --events 5000 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import json
import os
import pstats
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import orjson
import psycopg
from eventsourcing.persistence import StoredEvent

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# a database of its own: other benchmarks drop theirs (traject_bench) when they end
os.environ.setdefault("TRAJECT_BENCH_PG_DB", "traject_bench_import")

from bench.common import (
    CpuWatch,
    build_app,
    machine_description,
    pg_conninfo,
    print_machine,
    store_url,
    temp_dir,
    wait_for_idle,
)
from commands.importing import import_lines
from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.export import Exporter, ExportFilter

PER_PERSON = 10


def bsns() -> Iterator[str]:
    """Distinct nine-digit numbers that pass the 11-proef, in order (invented, never real)."""
    for base in range(10_000_000, 100_000_000):
        digits = [int(d) for d in f"{base:08d}"]
        check = sum(w * d for w, d in zip(range(9, 1, -1), digits, strict=True)) % 11
        if check < 10:
            yield f"{base:08d}{check}"


def import_texts(events: int) -> list[str]:
    """``events`` import lines as JSON text, PER_PERSON per invented person."""
    out: list[str] = []
    person = 0
    numbers = bsns()
    while len(out) < events:
        person += 1
        key = f"B-{person}"
        lines: list[dict[str, Any]] = [
            {"kind": "person-registered", "person": key, "occurred_on": "2025-01-10",
             "birth_date": "1990-04-02", "sex": "f", "nationality": ["SY"],
             "bsn": next(numbers), "name": f"Invented Person {person}"},
            {"kind": "residence-permit-recorded", "person": key, "occurred_on": "2025-01-11",
             "permit_kind": "asiel_bt"},
            {"kind": "coa-linked", "person": key, "occurred_on": "2025-01-12",
             "taakstelling_period": "2025H1"},
            {"kind": "housed", "person": key, "occurred_on": "2025-02-01",
             "housing_kind": "regulier", "route": "koppeling"},
        ]  # fmt: skip
        lines += [
            {"kind": "ladder-assessed", "person": key, "occurred_on": f"2025-03-{d:02d}",
             "rung": 1 + (person + d) % 6, "assessor": "r.jansen"}
            for d in range(1, PER_PERSON - 3)
        ]  # fmt: skip
        out += [orjson.dumps(line).decode() for line in lines]
    return out[:events]


def rate(events: int, seconds: float) -> float:
    return events / seconds if seconds else float("inf")


CPU: dict[str, float] = {}  # the last timed action's CPU seconds in this process


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """Wall-clock seconds of ``action`` (its CPU seconds in this process go to CPU["last"])."""
    start, cpu = time.perf_counter(), time.process_time()
    result = action()
    CPU["last"] = time.process_time() - cpu
    return time.perf_counter() - start, result


def stored_rows(app: TrajectoryLedger) -> list[tuple[Any, int, str, bytes]]:
    rows: list[tuple[Any, int, str, bytes]] = []
    start = 0
    while page := app.recorder.select_notifications(start, 10_000, inclusive_of_start=False):
        rows += [(n.originator_id, n.originator_version, n.topic, n.state) for n in page]
        start = page[-1].id
    return rows


def raw_sqlite(path: Path, rows: list[tuple[Any, int, str, bytes]], batch: int) -> float:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE TABLE raw_events (originator_id TEXT, originator_version INTEGER, topic TEXT,"
        " state BLOB, PRIMARY KEY (originator_id, originator_version)) WITHOUT ROWID"
    )
    params = [(str(r[0]), r[1], r[2], r[3]) for r in rows]

    def insert() -> None:
        for start in range(0, len(params), batch):
            with db:
                db.executemany(
                    "INSERT INTO raw_events VALUES (?, ?, ?, ?)", params[start : start + batch]
                )

    seconds, _ = timed(insert)
    db.close()
    return seconds


def raw_postgres(url: str, rows: list[tuple[Any, int, str, bytes]], batch: int) -> float:
    with psycopg.connect(pg_conninfo(url), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE raw_events (originator_id uuid NOT NULL, originator_version bigint"
            " NOT NULL, topic text, state bytea, notification_id bigserial,"
            " PRIMARY KEY (originator_id, originator_version))"
        )

        def copy() -> None:
            for start in range(0, len(rows), batch):
                with (
                    conn.transaction(),
                    conn.cursor() as cursor,
                    cursor.copy(
                        "COPY raw_events (originator_id, originator_version, topic, state)"
                        " FROM STDIN"
                    ) as out,
                ):
                    for row in rows[start : start + batch]:
                        out.write_row(row)

        seconds, _ = timed(copy)
    return seconds


def plain_save(url: str, domain: list[ev.TrajectEvent], batch: int) -> float:
    """The same domain events through the library's save(), on a fresh ledger at ``url``."""
    fresh = build_app(url)
    try:

        def save() -> None:
            for start in range(0, len(domain), batch):
                fresh.save(*domain[start : start + batch])

        seconds, _ = timed(save)
    finally:
        fresh.close()
    return seconds


def run_store(store: str, args: argparse.Namespace) -> dict[str, Any]:
    texts = import_texts(args.events)
    n = len(texts)
    lines = list(enumerate(texts, start=1))
    results: dict[str, Any] = {"runs": [], "runs_cpu": []}
    wait_for_idle(timeout=args.wait_idle)
    watch = CpuWatch()
    for run in range(1, args.runs + 1):
        last = run == args.runs
        with temp_dir() as workdir, store_url(store, workdir) as url:
            app = build_app(url)
            profiler = cProfile.Profile() if args.profile and last else None
            if profiler is not None:
                profiler.enable()
            seconds, summary = timed(
                functools.partial(
                    import_lines, app, lines, source="bench.jsonl", batch_size=args.batch_size
                )
            )
            if profiler is not None:
                profiler.disable()
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            assert (summary.written, summary.rejected) == (n, 0), summary.rejects[:3]
            results["runs"].append(rate(n, seconds))
            results["runs_cpu"].append(rate(n, CPU["last"]))
            print(f"[{store}] run {run}: import {results['runs'][-1]:,.0f} events/s", flush=True)
            if last:
                results["busy"] = watch.summary()
                results.update(other_measures(store, app, url, workdir, n, args.batch_size))
            app.close()
    results["import"] = statistics.median(results["runs"])
    results["import_cpu"] = statistics.median(results["runs_cpu"])
    return results


def other_measures(
    store: str, app: TrajectoryLedger, url: str, workdir: Path, n: int, batch: int
) -> dict[str, float]:
    """Export, raw inserts and the library's save() of what the import wrote."""
    results: dict[str, float] = {}
    exporter = Exporter(app, include_personal=True, selection=ExportFilter())
    seconds, count = timed(lambda: sum(1 for _ in exporter.lines()))
    assert count == n
    results["export"] = rate(n, seconds)
    rows = stored_rows(app)
    if store == "sqlite":
        results["raw"] = rate(n, raw_sqlite(workdir / "raw.db", rows, batch))
        plain_url = f"sqlite:///{workdir / 'plain.db'}"
    else:
        results["raw"] = rate(n, raw_postgres(url, rows, batch))
        plain_url = url.split("?", 1)[0] + "?schema=plain_save"
    domain = [cast("ev.TrajectEvent", app.mapper.to_domain_event(r)) for r in _stored(rows)]
    results["save"] = rate(n, plain_save(plain_url, domain, batch))
    return results


def _stored(rows: list[tuple[Any, int, str, bytes]]) -> list[StoredEvent]:
    return [StoredEvent(r[0], r[1], r[2], r[3]) for r in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=1, help="timed imports, each on a fresh store")
    parser.add_argument("--wait-idle", type=float, default=60.0, help="seconds to wait for idle")
    parser.add_argument("--profile", action="store_true", help="cProfile the (last) import")
    parser.add_argument("--json", type=Path, default=None, help="write the results here too")
    args = parser.parse_args(argv)
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    facts = machine_description(with_postgres="postgres" in stores)
    print_machine(facts)
    results = {store: run_store(store, args) for store in stores}
    print(
        f"\n{args.events} events, batches of {args.batch_size}, import: median of {args.runs}"
        " run(s) (events/s, higher is better)\n"
    )
    print("| store | import | import per CPU-second | export | raw | library save() |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for store, r in results.items():
        print(
            f"| {store} | {r['import']:,.0f} | {r['import_cpu']:,.0f} | {r['export']:,.0f} "
            f"| {r['raw']:,.0f} | {r['save']:,.0f} |"
        )
    for store, r in results.items():
        runs = ", ".join(f"{x:,.0f}" for x in r["runs"])
        print(f"\n{store}: import runs {runs}; {r['busy']}")
    if args.json:
        args.json.write_text(json.dumps({"machine": facts, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
