"""Projection rebuild and report speed on a large ledger, beside the library's own read rate.

    .venv/bin/python bench/read_models.py --store both --events 100000
    .venv/bin/python bench/read_models.py --store sqlite --events 1000000 --runs 3
    .venv/bin/python bench/read_models.py --store sqlite --events 100000 --profile
    .venv/bin/python bench/read_models.py --store both --events 200000 --runs 2 --jobs 1 2

Per store (a SQLite file in a temporary directory; a fresh PostgreSQL database):

1. **Build** a ledger of ``--events`` events fast: realistic, valid events for many persons
   (registration, COA koppeling, housing, coach assignments, ladder assessments, leerroutes,
   outflow, help requests, profile updates, certificates, case closing, a correction every
   ``--correct-every``-th event and occasional retractions), plus taakstelling and confirmed
   realisation facts on municipality streams. Each event is a catalog model, turned into a stored
   event by the application's own mapper (``app.mapper.to_stored_event``, so personal fields are
   encrypted) and inserted in batches with ``app.recorder.insert_events``, never through the
   aggregates one at a time.
2. **Raw SQL read rate**: a plain ``SELECT`` of every row (id, stream, version, topic, state),
   paged by notification id.
3. **Library read-and-decode rate**: ``app.recorder.select_notifications`` pages turned into
   domain events by ``app.mapper.to_domain_event`` (what the library's own processing does).
4. **Full rebuild of all read models** in one pass (``projections.base.rebuild_many``): events
   of the log (all kinds) per second of wall time, including the swap and the digests, the
   seconds per phase of the median run (read, decode, apply, order on SQLite, refresh, digest,
   swap: ``rebuild_many(timings=…)``; with workers summed over them), and the peak RSS of a
   fresh process doing only the rebuild (above its baseline after start-up) and of its largest
   worker process. ``--jobs 1 2`` times the rebuild with one and with two worker processes
   (``rebuild_many(workers=…)``), the runs alternating.
   Then the **raw SQL write rate**: the rows the rebuild wrote (every read model's tables),
   written again into empty tables of the same shape with plain SQL (SQLite ``executemany``,
   PostgreSQL ``COPY``, pages of 10,000, then the secondary indexes, one commit): the
   database's own share of a rebuild's writing. With the raw read it is the floor under any
   rebuild of these read models on this machine.
5. **Reports** (caseload and its report with deadline signals, outflow, housing, ladder, cohort,
   guidance, reunification, help requests, PVT, plans, inburgering, AMIF when the project exists,
   and the candidate finder) when current and ``as_known_at`` a moment half-way through the log;
   the caseload and its report also on today's date (after every fact: ``caseload-today``).

``--ledger URL --key-file FILE`` times only the reports (step 5) on an existing ledger, e.g. one
filled by ``traject generate`` (whose trajectories have inburgering, guidance, reunification and
AMIF facts that the built ledger lacks); ``--on`` sets the report date (default 2024-06-30)::

    .venv/bin/traject --db gen.db init --municipality GM0622
    .venv/bin/traject --db gen.db generate --persons 20000 --years 4
    .venv/bin/python bench/read_models.py --ledger gen.db --key-file gen.db.key --on 2026-06-30

``--keep FILE`` (SQLite) keeps the built ledger and its key (``FILE.key``), so that another
version of the code can time its reports on the same events: copy the file, rebuild its read
models with that code (``traject --db COPY --key-file FILE.key projections rebuild``), then run
that code's ``bench/read_models.py --ledger COPY --key-file FILE.key --as-known-at MOMENT``.

Every timed figure is the median of ``--runs`` runs; a report's also with the median CPU time
(user + system) of this process, which a shared machine disturbs less than the wall time.
``--json FILE`` writes the results.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.crypto import read_key_file, write_key_file
from ledger.rules import current_rules
from ledger.values import Period
from projections import PROJECTIONS, Views, rebuild_many
from projections.amif import UnknownProjectError, amif
from projections.base import Dialect, Table, _definition
from projections.candidates import find_candidates
from projections.caseload import caseload, caseload_report
from projections.cohort import cohort
from projections.dashboard import dashboard
from projections.guidance import guidance
from projections.helprequests import help_requests
from projections.housing import housing
from projections.inburgering import inburgering
from projections.ladder import ladder
from projections.outflow import outflow
from projections.plans import plans
from projections.pvt import pvt
from projections.reunification import reunification
from projections.swi import swi_extract

# before importing common, which reads it: this script's PostgreSQL database is its own
os.environ.setdefault("TRAJECT_BENCH_PG_DB", "traject_bench_projections")

from common import (
    CpuWatch,
    build_app,
    machine_description,
    pg_conninfo,
    print_machine,
    store_url,
    temp_dir,
    wait_for_idle,
)

GEMEENTEN = ("GM0622", "GM0599", "GM0344", "GM0363", "GM0518")
STAFF = tuple(f"staff{i:03d}" for i in range(60))
ROLES = ("regisseur", "coach", "klantmanager", "taalcoach")
OUTFLOW_TYPES = ("werk_volledig", "werk_gedeeltelijk", "onbetaald_vrijwilligerswerk", "onderwijs")
ROUTES = ("B1", "onderwijs", "Z")
HELP = ("wonen", "financien", "participatie", "gezondheid")
FIRST_RECORDED = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
BATCH = 10_000
ACTIVE_PERSONS = 3000

# --- a realistic log, built fast ---------------------------------------------------------------


class LogGenerator:
    """Streams of many persons, interleaved in recording order, as catalog events."""

    def __init__(self, app: TrajectoryLedger, seed: int, *, correct_every: int, pii_every: int):
        self.app = app
        self.rng = random.Random(seed)
        self.clock = FIRST_RECORDED
        self.correct_every = correct_every
        self.pii_every = pii_every
        self.rule_version = current_rules().version
        self.count = 0
        self.persons = 0
        self.versions: dict[UUID, int] = {}
        self.facts: dict[UUID, dict[int, str]] = {}  # version → kind, for corrections
        self.length: dict[UUID, int] = {}
        self.active: list[UUID] = []
        for code in GEMEENTEN:
            stream = ev.municipality_stream_id(code)
            self.versions[stream] = len(app.recorder.select_events(stream))

    def day(self) -> date:
        return date(2023, 7, 1) + timedelta(days=self.rng.randrange(548))

    def event(self, stream: UUID, cls: type[ev.TrajectEvent], **fields: Any) -> ev.TrajectEvent:
        version = self.versions.get(stream, 0) + 1
        self.versions[stream] = version
        self.clock += timedelta(microseconds=self.rng.randint(200_000, 3_000_000))
        fields.setdefault("recorded_by", "bench")
        fields.setdefault("municipality", self.rng.choice(GEMEENTEN))
        fields.setdefault("occurred_on", self.day())
        event = cls.model_validate(
            {
                **fields,
                "originator_id": stream,
                "originator_version": version,
                "timestamp": self.clock,
            }
        )
        if cls not in ev.CONTROL_EVENTS:
            self.facts.setdefault(stream, {})[version] = cls.__name__
        self.count += 1
        return event

    def new_person(self) -> list[ev.TrajectEvent]:
        rng = self.rng
        stream = UUID(int=rng.getrandbits(128), version=4)
        self.persons += 1
        municipality = rng.choice(GEMEENTEN)
        personal = {"name": "Bench Person"} if self.persons % self.pii_every == 0 else {}
        registered = self.day()
        self.length[stream] = rng.randint(12, 48)
        self.active.append(stream)
        return [
            self.event(
                stream,
                ev.PersonRegistered,
                occurred_on=registered,
                municipality=municipality,
                birth_date=date(1990, 4, 2),
                sex="f",
                nationality=["SY"],
                **personal,
            ),
            self.event(
                stream,
                ev.CoaLinked,
                occurred_on=registered,
                municipality=municipality,
                taakstelling_period="2024H1",
            ),
            self.event(
                stream,
                ev.Housed,
                municipality=municipality,
                housing_kind="regulier",
                route="koppeling",
                counts_for_taakstelling=rng.random() < 0.9,
                rule_version=self.rule_version,
            ),
        ]

    def municipality_fact(self) -> ev.TrajectEvent:
        rng = self.rng
        code = rng.choice(GEMEENTEN)
        stream = ev.municipality_stream_id(code)
        period = f"{rng.choice((2023, 2024))}H{rng.randint(1, 2)}"
        roll = rng.random()
        if roll < 0.5:
            return self.event(
                stream,
                ev.TaakstellingSet,
                municipality=code,
                period=period,
                target=rng.randint(50, 400),
                source_ref="circulaire",
            )
        if roll < 0.7:
            return self.event(
                stream,
                ev.TaakstellingCorrected,
                municipality=code,
                period=period,
                target=rng.randint(50, 400),
                source_ref="correctie",
            )
        return self.event(
            stream,
            ev.HousingRealisationConfirmed,
            municipality=code,
            period=period,
            official_realised=rng.randint(20, 400),
            confirmed_by="COA",
        )

    def step(self, stream: UUID) -> ev.TrajectEvent:
        rng = self.rng
        if self.correct_every and self.count % self.correct_every == self.correct_every - 1:
            return self.correction(stream)
        roll = rng.random()
        staff = {"staff_id": rng.choice(STAFF), "role": rng.choice(ROLES)}
        if roll < 0.09:
            return self.event(stream, ev.CoachAssigned, **staff)
        if roll < 0.12:
            return self.event(stream, ev.CoachUnassigned, **staff)
        if roll < 0.26:
            return self.event(stream, ev.LadderAssessed, rung=rng.randint(1, 6), assessor="bench")
        if roll < 0.30:
            return self.event(
                stream, ev.LearningRouteStarted, route=rng.choice(ROUTES), provider="Taalhuis"
            )
        if roll < 0.39:
            return self.event(stream, ev.OutflowStarted, outflow_type=rng.choice(OUTFLOW_TYPES))
        if roll < 0.44:
            return self.event(
                stream,
                ev.OutflowEnded,
                outflow_type=rng.choice(OUTFLOW_TYPES),
                reason="contract ended",
            )
        if roll < 0.58:
            return self.event(stream, ev.HelpRequestRecorded, category=rng.choice(HELP))
        if roll < 0.72:
            return self.event(
                stream, ev.ProfileUpdated, occupation_direction="zorg", language_level="A2"
            )
        if roll < 0.82:
            return self.event(
                stream, ev.CertificateObtained, certificate_kind="VCA", issuer="bench"
            )
        if roll < 0.85:
            return self.event(stream, ev.BrpRegistered)
        if roll < 0.87:
            return self.event(stream, ev.CaseClosed, reason="other")
        if roll < 0.88:
            return self.event(stream, ev.CaseReopened)
        if roll < 0.89:
            return self.retraction(stream)
        return self.event(stream, ev.HelpRequestRecorded, category="overig", resolved=True)

    def correction(self, stream: UUID) -> ev.TrajectEvent:
        rng = self.rng
        version = rng.choice(list(self.facts[stream]))
        kind = self.facts[stream][version]
        changes: dict[str, Any] = {"occurred_on": self.day().isoformat()}
        if kind == "LadderAssessed":
            changes = {"rung": rng.randint(1, 6)}
        elif kind in ("OutflowStarted", "OutflowEnded"):
            changes["outflow_type"] = rng.choice(OUTFLOW_TYPES)
        elif kind in ("CoachAssigned", "CoachUnassigned"):
            changes = {"staff_id": rng.choice(STAFF)}
        elif rng.random() < 0.3:
            changes["municipality"] = rng.choice(GEMEENTEN)
        return self.event(
            stream,
            ev.EventCorrected,
            target_version=version,
            changes=changes,
            occurred_on=self.clock.date(),
        )

    def retraction(self, stream: UUID) -> ev.TrajectEvent:
        targets = [v for v in self.facts[stream] if v > 3]
        if not targets:
            return self.event(stream, ev.HelpRequestRecorded, category="overig")
        version = self.rng.choice(targets)
        del self.facts[stream][version]
        return self.event(
            stream, ev.EventRetracted, target_version=version, occurred_on=self.clock.date()
        )

    def batches(self, total: int, size: int = BATCH) -> Iterator[list[ev.TrajectEvent]]:
        batch: list[ev.TrajectEvent] = []
        while self.count < total:
            if len(self.active) < ACTIVE_PERSONS:
                batch.extend(self.new_person())
            elif self.rng.random() < 0.002:
                batch.append(self.municipality_fact())
            else:
                index = self.rng.randrange(len(self.active))
                stream = self.active[index]
                batch.append(self.step(stream))
                if self.versions[stream] >= self.length[stream]:
                    self.active[index] = self.active[-1]
                    self.active.pop()
                    del self.facts[stream], self.length[stream]
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch


def build_log(app: TrajectoryLedger, events: int, *, seed: int, correct_every: int) -> dict:
    """Append about ``events`` events; returns counts and timings."""
    generator = LogGenerator(app, seed, correct_every=correct_every, pii_every=10)
    start = time.perf_counter()
    mapped = 0.0
    for batch in generator.batches(events):
        t0 = time.perf_counter()
        stored = [app.mapper.to_stored_event(e) for e in batch]
        mapped += time.perf_counter() - t0
        app.recorder.insert_events(stored)
        print(f"\r  built {generator.count:,} events", end="", flush=True)
    print()
    return {
        "events": int(app.recorder.max_notification_id() or 0),
        "persons": generator.persons,
        "build_s": time.perf_counter() - start,
        "map_s": mapped,
        "last_timestamp": generator.clock.isoformat(),
    }


# --- measurements ----------------------------------------------------------------------------


def raw_read(app: TrajectoryLedger, url: str, page: int = 20_000) -> int:
    """Read every row of the event table with plain SQL, paged by notification id."""
    count = 0
    position = 0
    table = getattr(app.recorder, "events_table", app.recorder.events_table_name)
    if url.startswith("sqlite"):
        import sqlite3  # noqa: PLC0415

        connection = sqlite3.connect(parse_database_url(url).library_env["SQLITE_DBNAME"])
        statement = (
            f"SELECT rowid, originator_id, originator_version, topic, state FROM {table}"
            " WHERE rowid > ? ORDER BY rowid LIMIT ?"
        )
        try:
            while rows := connection.execute(statement, (position, page)).fetchall():
                count += len(rows)
                position = rows[-1][0]
        finally:
            connection.close()
        return count
    with psycopg.connect(pg_conninfo(url)) as connection:
        statement = (
            "SELECT notification_id, originator_id, originator_version, topic, state"
            f" FROM {table} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        )
        while rows := connection.execute(statement, (position, page)).fetchall():
            count += len(rows)
            position = rows[-1][0]
    return count


def rebuilt_rows(app: TrajectoryLedger) -> list[tuple[Table, list[tuple[Any, ...]]]]:
    """Every row of every read model's tables, as the last rebuild left them, in key order."""
    views = Views(app)
    found = []
    with views.transaction(commit=False) as tx:
        for projection in PROJECTIONS.values():
            for table in projection.tables:
                rows = tx.all(
                    f"SELECT {', '.join(table.column_names)} FROM {tx.table(table.name)}"
                    f" ORDER BY {', '.join(table.key)}"
                )
                found.append((table, rows))
    return found


def raw_write(url: str, workdir: Path, tables: list[tuple[Table, list[tuple[Any, ...]]]]) -> float:
    """Seconds to write ``tables`` (the rows of a rebuild) into empty tables of the same shape
    with plain SQL: SQLite ``executemany`` into a new file in write-ahead-log mode, PostgreSQL
    ``COPY`` into a schema of its own; pages of 10,000 rows, then the secondary indexes, one
    commit. The database's own share of a rebuild's writing, with no Python work per row."""
    if url.startswith("sqlite"):
        path = workdir / "raw_write.db"
        path.unlink(missing_ok=True)
        dialect = Dialect("sqlite", "?", "", "INTEGER")
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        try:
            start = time.perf_counter()
            connection.execute("BEGIN")
            for table, rows in tables:
                connection.execute(
                    f"CREATE TABLE {table.name} {_definition(dialect, table, table.name)}"
                )
                marks = ", ".join("?" * len(table.columns))
                statement = f"INSERT INTO {table.name} VALUES ({marks})"
                for at in range(0, len(rows), 10_000):
                    connection.executemany(statement, rows[at : at + 10_000])
                for number, index in enumerate(table.indexes):
                    connection.execute(
                        f"CREATE INDEX {table.name}_ix{number} ON {table.name} ({', '.join(index)})"
                    )
            connection.execute("COMMIT")
            return time.perf_counter() - start
        finally:
            connection.close()
            path.unlink(missing_ok=True)
    dialect = Dialect("postgres", "%s", '"raw_write".', "BIGINT")
    with psycopg.connect(pg_conninfo(url)) as connection:
        connection.execute("DROP SCHEMA IF EXISTS raw_write CASCADE")
        connection.execute("CREATE SCHEMA raw_write")
        connection.commit()
        try:
            start = time.perf_counter()
            with connection.cursor() as cursor:
                for table, rows in tables:
                    name = f"{dialect.prefix}{table.name}"
                    cursor.execute(f"CREATE TABLE {name} {_definition(dialect, table, table.name)}")
                    columns = ", ".join(table.column_names)
                    for at in range(0, len(rows), 10_000):
                        with cursor.copy(f"COPY {name} ({columns}) FROM STDIN") as copy:
                            for row in rows[at : at + 10_000]:
                                copy.write_row(row)
                    for number, index in enumerate(table.indexes):
                        cursor.execute(
                            f"CREATE INDEX {table.name}_ix{number} ON {name} ({', '.join(index)})"
                        )
            connection.commit()
            return time.perf_counter() - start
        finally:
            connection.execute("DROP SCHEMA raw_write CASCADE")
            connection.commit()


def library_read(app: TrajectoryLedger, page: int = 5000) -> int:
    """The library's way: ``select_notifications`` pages, each turned into a domain event."""
    count = 0
    position = 0
    while notes := app.recorder.select_notifications(position, page, inclusive_of_start=False):
        for note in notes:
            app.mapper.to_domain_event(note)
        count += len(notes)
        position = notes[-1].id
    return count


def rss_kib() -> int:
    """Peak resident memory of this process so far (VmHWM: ru_maxrss survives exec on Linux,
    so a fresh worker would report its parent's peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def rebuild_worker(url: str, key_hex: str, *, trace: bool, profile: bool, jobs: int) -> None:
    """In a fresh process: rebuild every read model in one pass (in ``jobs`` worker processes);
    print timings as JSON."""
    app = TrajectoryLedger(parse_database_url(url).library_env, bytes.fromhex(key_hex))
    views = Views(app)
    events = views.max_notification_id()
    baseline = rss_kib()
    if trace:
        import tracemalloc  # noqa: PLC0415

        tracemalloc.start()
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    phases: dict[str, float] = {}
    results = rebuild_many(views, list(PROJECTIONS.values()), timings=phases, workers=jobs)
    if profiler is not None:
        profiler.disable()
    wall = time.perf_counter() - start
    traced = None
    if trace:
        import tracemalloc  # noqa: PLC0415

        traced = tracemalloc.get_traced_memory()[1] // 1024
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    print(
        json.dumps(
            {
                "events": events,
                "wall_s": wall,
                "rss_baseline_kib": baseline,
                "rss_peak_kib": rss_kib(),
                # the worker processes (jobs > 1), waited for: the largest one's peak
                "rss_workers_peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                "tracemalloc_peak_kib": traced,
                "phases_s": phases,
                "digests": {r.name: r.digest for r in results},
            }
        )
    )


def run_rebuild(
    url: str, key: bytes, *, trace: bool = False, profile: bool = False, jobs: int = 1
) -> dict:
    command = [sys.executable, __file__, "--rebuild-worker", url, "--key", key.hex()]
    command += ["--jobs", str(jobs)]
    if trace:
        command.append("--tracemalloc")
    if profile:
        command.append("--profile")
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    if profile:
        print(done.stderr)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def timed(fn: Callable[[], Any], runs: int) -> float:
    """Median seconds of ``runs`` calls of ``fn``."""
    return timed_cpu(fn, runs)[0]


def timed_cpu(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (user + system, of this process) of
    ``runs`` calls of ``fn``: on a shared machine the CPU time varies less."""
    walls, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


AMIF_PROJECT = "AMIF-SAMEN"  # the project ``traject generate`` registers


def reports(
    app: TrajectoryLedger, moment: datetime, runs: int, day: date = date(2024, 6, 30)
) -> dict[str, dict[str, float]]:
    """Each report's median time when current, and as known at ``moment``, on ``day`` and
    its half-year (AMIF only when the ledger has :data:`AMIF_PROJECT`)."""
    views = Views(app)
    period = Period.parse(f"{day.year}H{1 if day.month <= 6 else 2}")
    quarter = Period.parse(f"{day.year}Q{(day.month - 1) // 3 + 1}")
    today = datetime.now(UTC).date()
    calls: dict[str, Callable[[datetime | None], Any]] = {
        "caseload": lambda at: caseload(views, day, as_known_at=at),
        "caseload-report": lambda at: caseload_report(views, day, as_known_at=at),
        # today: after every fact, as `traject caseload` without --on
        "caseload-today": lambda at: caseload(views, today, as_known_at=at),
        "caseload-report-today": lambda at: caseload_report(views, today, as_known_at=at),
        "outflow": lambda at: outflow(views, period, as_known_at=at),
        "housing": lambda at: housing(views, period, as_known_at=at),
        "ladder": lambda at: ladder(views, day, from_date=date(day.year, 1, 1), as_known_at=at),
        "cohort": lambda at: cohort(views, day.year, as_known_at=at),
        "guidance": lambda at: guidance(views, period, as_known_at=at),
        "reunification": lambda at: reunification(views, period, as_known_at=at),
        "help-requests": lambda at: help_requests(views, period, as_known_at=at),
        "pvt": lambda at: pvt(views, period, as_known_at=at),
        "plans": lambda at: plans(views, period, as_known_at=at),
        "inburgering": lambda at: inburgering(views, day, as_known_at=at),
        "amif": lambda at: amif(views, AMIF_PROJECT, period, as_known_at=at),
        "find-candidates": lambda at: find_candidates(views, day, min_rung=3, as_known_at=at),
        "dashboard": lambda at: dashboard(views, quarter, as_known_at=at),
        "swi": lambda at: swi_extract(views, quarter, as_known_at=at),
    }
    figures: dict[str, dict[str, float]] = {}
    for name, call in calls.items():
        try:
            call(None)  # catches up (the rebuild left it current), warms caches
        except UnknownProjectError:
            continue  # no AMIF project in this ledger
        current = timed_cpu(lambda call=call: call(None), runs)
        known = timed_cpu(lambda call=call: call(moment), runs)
        figures[name] = {
            "current_s": current[0],
            "as_known_at_s": known[0],
            "current_cpu_s": current[1],
            "as_known_at_cpu_s": known[1],
        }
    return figures


def bench_store(store: str, args: argparse.Namespace) -> dict[str, Any]:
    key = bytes(32)
    with temp_dir() as workdir, store_url(store, workdir) as url:
        app = build_app(url, key)
        print(f"[{store}] building a ledger of {args.events:,} events")
        built = build_log(app, args.events, seed=args.seed, correct_every=args.correct_every)
        events = built["events"]
        print(
            f"[{store}] built {events:,} events for {built['persons']:,} persons"
            f" in {built['build_s']:.1f} s"
        )
        wait_for_idle(timeout=args.wait_idle)
        watch = CpuWatch()
        raw = timed(lambda: raw_read(app, url), args.runs)
        library = timed(lambda: library_read(app), args.runs)
        runs: dict[int, list[dict]] = {jobs: [] for jobs in args.jobs}
        for _ in range(args.runs):  # alternating, so that a busy minute hits every setting
            for jobs in args.jobs:
                runs[jobs].append(run_rebuild(url, key, profile=args.profile, jobs=jobs))
        traced = run_rebuild(url, key, trace=True) if args.tracemalloc else None
        rebuilt = rebuilt_rows(app)
        written = timed(lambda: raw_write(url, workdir, rebuilt), args.runs)
        row_count = sum(len(rows) for _, rows in rebuilt)
        rebuilt.clear()
        last = datetime.fromisoformat(built["last_timestamp"])
        moment = FIRST_RECORDED + (last - FIRST_RECORDED) / 2
        report_times = reports(app, moment, args.runs, args.on)
        if args.keep is not None and store == "sqlite":
            keep(app, url, key, args.keep)
        result = {
            "store": store,
            "events": events,
            "persons": built["persons"],
            "build_s": built["build_s"],
            "raw_read_events_per_s": events / raw,
            "library_read_decode_events_per_s": events / library,
            "raw_write_rows": row_count,
            "raw_write_events_per_s": events / written,
            "raw_read_write_events_per_s": events / (raw + written),
            "rebuilds": {
                jobs: rebuild_figures(events, rebuilds) for jobs, rebuilds in runs.items()
            },
            "rebuild_tracemalloc_peak_mib": (
                traced["tracemalloc_peak_kib"] / 1024 if traced else None
            ),
            "digests": runs[args.jobs[0]][0]["digests"],
            "reports": report_times,
            "cpu": watch.summary(),
        }
        app.close()
    print_store(result)
    return result


def keep(app: TrajectoryLedger, url: str, key: bytes, target: Path) -> None:
    """Copy the SQLite ledger at ``url`` to ``target`` (one consistent file, by SQLite's
    backup), and its master key to ``target.key``."""
    path = parse_database_url(url).sqlite_path
    assert path is not None
    source, copy = sqlite3.connect(path), sqlite3.connect(target)
    with source, copy:
        source.backup(copy)
    source.close()
    copy.close()
    write_key_file(Path(f"{target}.key"), key)
    print(f"kept the ledger as {target} (its key: {target}.key)")


def rebuild_figures(events: int, rebuilds: list[dict]) -> dict[str, Any]:
    """The median wall time, rate, phases and peak memory of the runs of one ``--jobs``."""
    walls = [r["wall_s"] for r in rebuilds]
    wall = statistics.median(walls)
    median_run = sorted(rebuilds, key=lambda r: r["wall_s"])[len(rebuilds) // 2]
    if any(r["digests"] != rebuilds[0]["digests"] for r in rebuilds):
        print("WARNING: the digests differ between the runs")
    return {
        "wall_s": wall,
        "wall_s_runs": walls,
        "events_per_s": events / wall,
        "phases_s": median_run["phases_s"],
        "rss_peak_mib": max(r["rss_peak_kib"] for r in rebuilds) / 1024,
        "rss_growth_mib": max(r["rss_peak_kib"] - r["rss_baseline_kib"] for r in rebuilds) / 1024,
        "rss_workers_peak_mib": max(r["rss_workers_peak_kib"] for r in rebuilds) / 1024,
        "digests": rebuilds[0]["digests"],
    }


def bench_ledger(args: argparse.Namespace) -> None:
    """Time only the reports on the existing ledger ``args.ledger``."""
    if args.key_file is None:
        raise SystemExit("--ledger needs --key-file")
    key = read_key_file(args.key_file)
    url = args.ledger if "://" in args.ledger else f"sqlite:///{Path(args.ledger).resolve()}"
    app = TrajectoryLedger(parse_database_url(url).library_env, key)
    moment = args.as_known_at or datetime.combine(args.on, datetime.min.time(), UTC)
    times = reports(app, moment, args.runs, args.on)
    app.close()
    print_reports(times)
    if args.json:
        args.json.write_text(json.dumps({"ledger": args.ledger, "reports": times}, indent=2))


def print_store(result: dict[str, Any]) -> None:
    store = result["store"]
    print(f"[{store}] {result['events']:,} events ({result['cpu']})")
    print(f"  raw SQL read              {result['raw_read_events_per_s']:>12,.0f} events/s")
    print(
        f"  library read + decode     {result['library_read_decode_events_per_s']:>12,.0f} events/s"
    )
    print(
        f"  raw SQL write of the rows {result['raw_write_events_per_s']:>12,.0f} events/s"
        f"  ({result['raw_write_rows']:,} rows of the rebuilt read models)"
    )
    print(
        f"  raw read + write          {result['raw_read_write_events_per_s']:>12,.0f} events/s"
        "  (the database's own floor of a rebuild)"
    )
    for jobs, rebuild in result["rebuilds"].items():
        print(
            f"  rebuild, --jobs {jobs:<10} {rebuild['events_per_s']:>11,.0f} events/s"
            f"  ({rebuild['wall_s']:.2f} s; runs "
            + ", ".join(f"{w:.2f}" for w in rebuild["wall_s_runs"])
            + ")"
        )
        print(
            "    phases                  "
            + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in rebuild["phases_s"].items())
            + (" (summed over the workers)" if jobs > 1 else "")
        )
        print(
            f"    peak RSS                {rebuild['rss_peak_mib']:>9.1f} MiB"
            f" (+{rebuild['rss_growth_mib']:.1f} MiB over the process before it)"
            + (
                f"; each worker at most {rebuild['rss_workers_peak_mib']:.1f} MiB"
                if jobs > 1
                else ""
            )
        )
        if rebuild["digests"] != result["digests"]:
            print(f"WARNING: the digests of --jobs {jobs} differ")
    if result["rebuild_tracemalloc_peak_mib"] is not None:
        print(f"  rebuild tracemalloc peak  {result['rebuild_tracemalloc_peak_mib']:>9.1f} MiB")
    print_reports(result["reports"])


def print_reports(reports: dict[str, dict[str, float]]) -> None:
    """One line per report: the median wall and CPU times, current and as known at."""
    for name, times in reports.items():
        print(
            f"  report {name:<21} current {times['current_s'] * 1000:8.1f} ms"
            f" (CPU {times['current_cpu_s'] * 1000:7.1f})"
            f"   as known at {times['as_known_at_s'] * 1000:8.1f} ms"
            f" (CPU {times['as_known_at_cpu_s'] * 1000:7.1f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per figure (median)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--correct-every", type=int, default=10)
    parser.add_argument("--tracemalloc", action="store_true", help="one more traced rebuild")
    parser.add_argument("--profile", action="store_true", help="cProfile of each rebuild")
    parser.add_argument("--wait-idle", type=float, default=60.0)
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--ledger", metavar="URL", help="only time the reports on this ledger")
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="FILE",
        help="SQLite: keep the built ledger (rebuilt read models included) as FILE, its key as"
        " FILE.key, for --ledger runs of other code on the same events",
    )
    parser.add_argument("--key-file", type=Path, help="the master key file of --ledger")
    parser.add_argument("--on", type=date.fromisoformat, default=date(2024, 6, 30))
    parser.add_argument(
        "--as-known-at", type=datetime.fromisoformat, help="the moment (with --ledger)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        nargs="+",
        default=[1],
        help="worker processes of the rebuild; several values are timed alternately",
    )
    parser.add_argument("--rebuild-worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rebuild_worker:
        rebuild_worker(
            args.rebuild_worker,
            args.key,
            trace=args.tracemalloc,
            profile=args.profile,
            jobs=args.jobs[0],
        )
        return
    if args.ledger:
        bench_ledger(args)
        return
    print_machine(machine_description(with_postgres=args.store != "sqlite"))
    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    results = [bench_store(store, args) for store in stores]
    if len(results) == 2 and results[0]["digests"] != results[1]["digests"]:
        print("WARNING: the digests differ between the stores")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
