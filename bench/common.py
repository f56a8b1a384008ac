"""Shared helpers for traject's benchmarks: stores, seeded streams, timing, machine facts.

Nothing here is imported by the ledger; the scripts in bench/ are run by hand:

    .venv/bin/python bench/write_read.py --store both
    .venv/bin/python bench/cli_process.py

PostgreSQL: the benchmarks create (and drop afterwards) their own database, ``traject_bench``
by default, through an administrative connection given by ``TRAJECT_BENCH_PG_ADMIN``
(default ``postgresql://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import gc
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pydantic

from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.crypto import generate_master_key

PG_ADMIN_URL = os.environ.get("TRAJECT_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
PG_BENCH_DB = os.environ.get("TRAJECT_BENCH_PG_DB", "traject_bench")
DEFAULT_MUNICIPALITY = "GM0622"


# --- timing ---------------------------------------------------------------------------------


@dataclass
class Stats:
    """Samples of one measurement, in nanoseconds."""

    name: str
    samples_ns: list[int] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.samples_ns)

    def _ms(self) -> list[float]:
        return sorted(s / 1e6 for s in self.samples_ns)

    @property
    def median_ms(self) -> float:
        return statistics.median(self._ms())

    @property
    def p90_ms(self) -> float:
        return percentile(self._ms(), 90)

    @property
    def min_ms(self) -> float:
        return min(self._ms())

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self._ms())

    def merged(self, other: Stats) -> Stats:
        return Stats(self.name, self.samples_ns + other.samples_ns)

    def row(self) -> str:
        return (
            f"{self.name:<46} n={self.n:<5} median={self.median_ms:9.3f} ms"
            f"  p90={self.p90_ms:9.3f} ms  min={self.min_ms:9.3f} ms"
        )


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil
    return sorted_values[int(rank) - 1]


def measure(
    name: str,
    fn: Callable[[int], Any],
    *,
    runs: int,
    warmup: int,
    setup: Callable[[int], Any] | None = None,
) -> Stats:
    """Time ``fn(i)`` ``runs`` times after ``warmup`` untimed calls (perf_counter_ns).

    ``setup(i)``, if given, runs untimed before each call. The garbage collector is left on:
    a real command pays for it too.
    """
    for i in range(warmup):
        if setup is not None:
            setup(i)
        fn(i)
    stats = Stats(name)
    clock = time.perf_counter_ns
    for i in range(warmup, warmup + runs):
        if setup is not None:
            setup(i)
        start = clock()
        fn(i)
        stats.samples_ns.append(clock() - start)
    return stats


# --- machine --------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                return f"{kib / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _nproc() -> str:
    try:
        return subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return str(os.cpu_count())


def postgres_version() -> str | None:
    try:
        with psycopg.connect(pg_conninfo(PG_ADMIN_URL), connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return None if row is None else str(row[0])
    except Exception as error:  # reported, not fatal
        return f"unavailable ({type(error).__name__})"


def machine_description(*, with_postgres: bool = True) -> dict[str, str]:
    facts = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "nproc": _nproc(),
        "memory": _memory(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "eventsourcing": version("eventsourcing"),
        "pydantic": pydantic.VERSION,
    }
    if with_postgres:
        facts["postgresql"] = postgres_version() or "unavailable"
    facts["load average"] = load_average()
    facts["calibration"] = f"{calibration_ms():.2f} ms"
    return facts


def _calibration_loop() -> int:
    total = 0
    for i in range(100_000):
        total += i * i % 7
    return total


def calibration_ms() -> float:
    """Median time of a fixed pure-Python loop: this VM's speed drifts by up to 2× over an
    hour (neighbours on the host), so every report states it; compare runs by it."""
    samples = []
    for _ in range(9):
        start = time.perf_counter_ns()
        _calibration_loop()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1e6


def load_average() -> str:
    """The 1/5/15-minute load: the machine may be shared, so every report states it."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _cpu_times() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)  # idle + iowait, total


def wait_for_idle(*, threshold: float = 0.85, timeout: float = 120.0, quiet_s: int = 6) -> bool:
    """Wait (up to ``timeout`` s) until the CPUs were ≥ ``threshold`` idle for ``quiet_s``
    seconds in a row: the machine may be shared, and a benchmark started beside a test run
    measures the test run. Returns whether it was quiet."""
    if not Path("/proc/stat").exists():
        return True
    deadline = time.monotonic() + timeout
    told = False
    quiet = 0
    while True:
        idle0, total0 = _cpu_times()
        time.sleep(1.0)
        idle1, total1 = _cpu_times()
        idle = (idle1 - idle0) / max(1, total1 - total0)
        quiet = quiet + 1 if idle >= threshold else 0
        if quiet >= quiet_s:
            return True
        if time.monotonic() > deadline:
            print(f"the CPUs are still busy ({1 - idle:.0%}); measuring anyway", flush=True)
            return False
        if not told and quiet == 0:
            print(f"waiting for an idle machine (CPUs {1 - idle:.0%} busy)…", flush=True)
            told = True


class CpuWatch:
    """How busy the machine was while a benchmark ran, and how much of that was this process
    (with its finished children): the rest is other work (and, for PostgreSQL, the server)."""

    def __init__(self) -> None:
        self.cpus = os.cpu_count() or 1
        self.wall0 = time.monotonic()
        self.own0 = self._own()
        self.machine0 = _cpu_times() if Path("/proc/stat").exists() else None

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def summary(self) -> str:
        wall = max(1e-9, time.monotonic() - self.wall0)
        own = (self._own() - self.own0) / wall / self.cpus
        if self.machine0 is None:
            return f"this benchmark {own:.0%} of {self.cpus} CPUs"
        idle1, total1 = _cpu_times()
        idle0, total0 = self.machine0
        busy = 1 - (idle1 - idle0) / max(1, total1 - total0)
        return (
            f"CPUs busy {busy:.0%} of {self.cpus} during the run, this benchmark's own process(es)"
            f" {own:.0%}, everything else (database server, other work) {max(0, busy - own):.0%}"
        )


def busy_wait(ns: int) -> None:
    """Spin the CPU for ``ns`` nanoseconds (stands in for the Python work around a query)."""
    end = time.perf_counter_ns() + ns
    while time.perf_counter_ns() < end:
        pass


def run_per_store(args: Any, run: Callable[[str, Any], dict[str, Any]]) -> list[dict[str, Any]]:
    """Print the machine, then ``run(store, args)`` for each store ``args.store`` names
    (``sqlite``, ``postgres`` or ``both``), each result on one ``key=value`` line."""
    print_machine(machine_description(with_postgres=args.store != "sqlite"))
    results = []
    for store in ["sqlite", "postgres"] if args.store == "both" else [args.store]:
        result = run(store, args)
        print("  ".join(f"{k}={v}" for k, v in result.items()), flush=True)
        results.append(result)
    return results


def print_machine(facts: dict[str, str]) -> None:
    print("machine: " + "; ".join(f"{k} {v}" for k, v in facts.items()))


# --- stores ---------------------------------------------------------------------------------


def pg_conninfo(url: str) -> str:
    """psycopg accepts URLs; strip the ``?schema=`` that only traject understands."""
    return url.split("?", 1)[0]


def pg_bench_url(dbname: str = PG_BENCH_DB) -> str:
    base = pg_conninfo(PG_ADMIN_URL).rsplit("/", 1)[0]
    return f"{base}/{dbname}"


def create_pg_database(dbname: str = PG_BENCH_DB) -> str:
    with psycopg.connect(pg_conninfo(PG_ADMIN_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}"')
    return pg_bench_url(dbname)


def drop_pg_database(dbname: str = PG_BENCH_DB) -> None:
    with psycopg.connect(pg_conninfo(PG_ADMIN_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


@contextmanager
def temp_dir(prefix: str = "traject-bench-") -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def store_url(store: str, workdir: Path) -> Iterator[str]:
    """A fresh, empty store: a SQLite file in ``workdir`` or a new PostgreSQL database."""
    if store == "sqlite":
        yield f"sqlite:///{workdir / 'ledger.db'}"
        return
    if store != "postgres":
        msg = f"unknown store {store!r}"
        raise ValueError(msg)
    url = create_pg_database()
    try:
        yield url
    finally:
        gc.collect()  # let pools of closed apps go before the drop
        drop_pg_database()


def build_app(url: str, master_key: bytes | None = None) -> TrajectoryLedger:
    """A TrajectoryLedger on ``url``, initialised as `traject init` does."""
    config = parse_database_url(url)
    app = TrajectoryLedger(config.library_env, master_key or generate_master_key())
    app.initialise(default_municipality=DEFAULT_MUNICIPALITY)
    return app


# --- seeded streams -------------------------------------------------------------------------

_BSN_BASE = 100000000


def valid_bsn(n: int) -> str:
    """The n-th nine-digit number that passes the 11-proef (distinct for distinct n)."""
    candidate = _BSN_BASE + n * 11  # spread, then search upwards for a valid one
    while True:
        digits = f"{candidate:09d}"
        total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True))
        total -= int(digits[8])
        if total % 11 == 0 and digits[0] != "0":
            return digits
        candidate += 1


_bsn_counter = iter(range(10**6))
_used_bsns: set[str] = set()


def next_bsn() -> str:
    while True:
        bsn = valid_bsn(next(_bsn_counter))
        if bsn not in _used_bsns:
            _used_bsns.add(bsn)
            return bsn


def seed_person(app: Any, events: int, *, correct_every: int = 10) -> UUID:
    """A person whose stream holds exactly ``events`` events, of a realistic mix.

    v1 PersonRegistered (personal fields, encrypted), v2 ResidencePermitRecorded, v3 CoaLinked,
    v4 Housed, then LadderAssessed / ProfileUpdated / CertificateObtained in turn, with an
    EventCorrected of the previous event at every ``correct_every``-th version (0: none).
    """
    person = app.register_person(
        occurred_on=date(2024, 1, 10),
        birth_date=date(1990, 4, 2),
        sex="f",
        nationality=["SY"],
        bsn=next_bsn(),
        name="Bench Person",
    ).stream_id
    script: list[Callable[[], Any]] = [
        lambda: app.record(
            person,
            ev.ResidencePermitRecorded,
            occurred_on=date(2023, 11, 1),
            permit_kind="asiel_bt",
            notified_on=date(2023, 11, 3),
            document_no="X123",
        ),
        lambda: app.record(
            person, ev.CoaLinked, occurred_on=date(2024, 1, 15), taakstelling_period="2024H1"
        ),
        lambda: app.record(
            person,
            ev.Housed,
            occurred_on=date(2024, 3, 4),
            housing_kind="regulier",
            route="koppeling",
            municipality=DEFAULT_MUNICIPALITY,
        ),
    ]
    for step in script[: max(0, events - 1)]:
        step()
    version = min(events, 4)
    day = date(2024, 3, 5)
    while version < events:
        version += 1
        day += timedelta(days=3)
        if correct_every and version % correct_every == 0:
            app.correct(person, version - 1, {"occurred_on": day.isoformat()}, reason="bench")
        elif version % 3 == 0:
            app.record(
                person, ev.LadderAssessed, occurred_on=day, rung=2 + version % 4, assessor="bench"
            )
        elif version % 3 == 1:
            app.record(
                person,
                ev.ProfileUpdated,
                occurred_on=day,
                occupation_direction="zorg",
                language_level="A2",
            )
        else:
            app.record(
                person,
                ev.CertificateObtained,
                occurred_on=day,
                certificate_kind="VCA",
                issuer="bench",
            )
    return person


def stream_length(app: Any, stream_id: UUID) -> int:
    return len(app.recorder.select_events(stream_id))


if __name__ == "__main__":  # `make bench` runs every script here: this one describes the machine
    print_machine(machine_description())
