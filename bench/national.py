"""The national-scale pipeline: generate, import into PostgreSQL, rebuild, report outflow.

Each step is a separate `traject` process; its wall time and its peak resident memory (the
children's ``ru_maxrss`` after the step) are recorded. Scale with --persons (400,000 with
--years 10 is national scale). See docs/generate.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
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
    options = parser.parse_args()

    today = datetime.now(UTC).date()
    start_year = today.year - options.years
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{options.database}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{options.database}"')
        admin.execute(f'CREATE DATABASE "{options.database}"')
    steps: list[dict[str, Any]] = [
        generator_throughput(min(options.persons, 20000), options.years, options.municipalities)
    ]
    try:
        with tempfile.TemporaryDirectory(prefix="traject-national-") as tmp:
            data = Path(tmp) / "national.jsonl"
            env = {**os.environ, "TRAJECT_DATABASE_URL": url, "TRAJECT_USER": "bench",
                   "TRAJECT_KEY_FILE": str(Path(tmp) / "national.key")}  # fmt: skip
            generate = run_step("generate", [
                "generate", "--persons", str(options.persons), "--years", str(options.years),
                "--municipalities", str(options.municipalities), "--seed", str(options.seed),
                "--start-year", str(start_year), "--out", str(data), "--quiet",
            ], env)  # fmt: skip
            with data.open("rb") as handle:
                lines = sum(1 for _ in handle)
            generate["lines"] = lines
            generate["lines_per_s"] = round(lines / generate["wall_s"])
            steps.append(generate)
            steps.append(run_step("init", ["init"], env))
            help_text = subprocess.run(
                [TRAJECT, "import", "--help"], env=env, capture_output=True, text=True, check=True
            ).stdout
            batch = ["--batch-size", str(options.batch_size)] if "--batch-size" in help_text else []
            steps.append(run_step("import", ["import", str(data), "--quiet", *batch], env))
            steps.append(run_step("rebuild", ["projections", "rebuild"], env))
            steps.append(run_step("outflow", [
                "report", "outflow", "--period", str(today.year - 1), "--by", "municipality",
                "--format", "csv",
            ], env))  # fmt: skip
    finally:
        if not options.keep:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{options.database}"')
    summary = {"persons": options.persons, "years": options.years,
               "municipalities": options.municipalities, "steps": steps,
               "when": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
    print(f"generate --out: {steps[1]['lines']} lines, {steps[1]['lines_per_s']} lines/s")
    if options.json:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
