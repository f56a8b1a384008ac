"""The national-scale pipeline: generate, import into PostgreSQL, rebuild, report outflow.

Each step is a separate `traject` process; its wall time and its peak resident memory (the
process's own ``ru_maxrss``) are recorded, and after the import and the rebuild the size of the
database (``pg_database_size``) and the size per million events. Scale with --persons (400,000
with --years 10 is national scale). A long run can keep its file (--workdir), reuse a generated
file (--data) and skip steps (--skip). See docs/generate.md and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

PG_ADMIN_URL = os.environ.get("TRAJECT_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
TRAJECT = str(Path(sys.executable).with_name("traject"))


def run_step(name: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run one traject process; its wall time and its own peak RSS (``wait4``'s rusage)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen([TRAJECT, *args], env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        sys.stderr.write(stdout[-2000:] + stderr[-4000:])
        msg = f"{name} failed with exit status {process.returncode}"
        raise SystemExit(msg)
    peak_mib = usage.ru_maxrss / 1024  # KiB on Linux
    cpu = usage.ru_utime + usage.ru_stime
    print(
        f"{name:10} {wall:9.1f} s wall  {cpu:9.1f} s CPU  peak RSS {peak_mib:8.0f} MiB", flush=True
    )
    return {"step": name, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "peak_rss_mib": round(peak_mib, 1), "stdout_tail": stdout[-400:]}  # fmt: skip


def generator_throughput(persons: int, years: int, municipalities: int) -> dict[str, Any]:
    """The generator alone, in this process: records per second, no JSON, no file."""
    from ledger.synthetic import Settings, generate  # noqa: PLC0415 - only for this step

    today = datetime.now(UTC).date()
    config = Settings(
        municipalities=municipalities, persons=persons, years=years, seed=1,
        start_year=today.year - years, until=today, recorded_at=True, corrections=True,
        person_ids=True,
    )  # fmt: skip
    started = time.perf_counter()
    count = sum(1 for _ in generate(config))
    wall = time.perf_counter() - started
    print(f"generator  {count} records in {wall:.1f} s: {count / wall:,.0f} records/s", flush=True)
    return {"step": "generator-only", "records": count, "wall_s": round(wall, 2),
            "records_per_s": round(count / wall)}  # fmt: skip


def database_size(url: str, step: dict[str, Any], events: int) -> None:
    """Add the database's size after ``step`` (MiB, and MiB per million events) to it."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    size_mib = (row[0] if row else 0) / 2**20
    step["db_mib"] = round(size_mib, 1)
    per_million = size_mib / (events / 1e6) if events else 0.0
    step["db_mib_per_million_events"] = round(per_million, 1)
    print(f"{'':10} database {size_mib:9.0f} MiB, {per_million:6.0f} MiB per million events",
          flush=True)  # fmt: skip


def count_lines(data: Path) -> int:
    with data.open("rb") as handle:
        return sum(1 for _ in handle)


STEPS = ("generator", "generate", "import", "rebuild", "outflow")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=2000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--municipalities", type=int, default=342)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--database", default="traject_national")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--workdir", type=Path,
        help="write national.jsonl (and the key file) here and keep them (default: a temporary "
        "directory, removed afterwards); the file takes about 0.23 GB per million lines",
    )  # fmt: skip
    parser.add_argument(
        "--data", type=Path, help="import this generated file instead of generating one"
    )
    parser.add_argument(
        "--skip", action="append", default=[], choices=STEPS,
        help="leave out a step (repeatable); skipping import keeps the database of an earlier "
        "--keep run",
    )  # fmt: skip
    options = parser.parse_args()
    skip = set(options.skip)
    if options.data is not None:
        skip.add("generate")

    today = datetime.now(UTC).date()
    start_year = today.year - options.years
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{options.database}"
    if "import" not in skip:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{options.database}"')
            admin.execute(f'CREATE DATABASE "{options.database}"')
    steps: list[dict[str, Any]] = []
    if "generator" not in skip:
        steps.append(generator_throughput(
            min(options.persons, 20000), options.years, options.municipalities
        ))  # fmt: skip
    try:
        with ExitStack() as stack:
            work = options.workdir or Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="traject-national-"))
            )
            work.mkdir(parents=True, exist_ok=True)
            data = options.data or work / "national.jsonl"
            env = {**os.environ, "TRAJECT_DATABASE_URL": url, "TRAJECT_USER": "bench",
                   "TRAJECT_KEY_FILE": str(work / "national.key")}  # fmt: skip
            if "generate" not in skip:
                generate = run_step("generate", [
                    "generate", "--persons", str(options.persons), "--years", str(options.years),
                    "--municipalities", str(options.municipalities), "--seed", str(options.seed),
                    "--start-year", str(start_year), "--out", str(data), "--quiet",
                ], env)  # fmt: skip
                generate["lines_per_s"] = round(count_lines(data) / generate["wall_s"])
                steps.append(generate)
            lines = count_lines(data) if data.exists() else 0
            file_mib = data.stat().st_size / 2**20 if data.exists() else 0.0
            print(f"{'':10} {data.name}: {lines} lines, {file_mib:.0f} MiB", flush=True)
            if "import" not in skip:
                steps.append(run_step("init", ["init"], env))
                help_text = subprocess.run(
                    [TRAJECT, "import", "--help"],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                batch = (
                    ["--batch-size", str(options.batch_size)] if "--batch-size" in help_text else []
                )
                steps.append(run_step("import", ["import", str(data), "--quiet", *batch], env))
                database_size(url, steps[-1], lines)
            if "rebuild" not in skip:
                steps.append(run_step("rebuild", ["projections", "rebuild"], env))
                database_size(url, steps[-1], lines)
            if "outflow" not in skip:
                steps.append(run_step("outflow", [
                    "report", "outflow", "--period", str(today.year - 1), "--by", "municipality",
                    "--format", "csv",
                ], env))  # fmt: skip
    finally:
        if not options.keep and "import" not in skip:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{options.database}"')
    summary = {"persons": options.persons, "years": options.years,
               "municipalities": options.municipalities, "steps": steps,
               "lines": lines, "file_mib": round(file_mib, 1),
               "when": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
    if options.json:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
