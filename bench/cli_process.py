"""Wall time of `traject record …` as a whole process, beside Python process baselines.

    .venv/bin/python bench/cli_process.py                  # the documented run
    .venv/bin/python bench/cli_process.py --runs 40
    .venv/bin/python bench/cli_process.py --profile        # cProfile of one `traject record`
    .venv/bin/python bench/cli_process.py --importtime-only

Set-up: a SQLite file ledger in a temporary directory, created by ``traject init`` (with
TRAJECT_DATABASE_URL and TRAJECT_KEY_FILE set), and one person with 10 events, seeded through
the ledger's API with the key file ``init`` wrote. Then, for ``--runs`` rounds, each of these is
started as a subprocess (in a rotating order, so that no command always runs first) and its
wall time taken from ``subprocess.run`` start to exit, perf_counter_ns:

* ``python -c pass`` and ``python -c "import sqlite3"``: the interpreter's floor;
* ``python -c "import ledger.application"``: the ledger's import cost;
* ``traject --version``: the CLI's imports and click, no command;
* ``traject record ladder-assessed <person> --on 2024-06-01 --rung 3 --assessor bench``: the
  measured command (each run appends one event, so the stream grows from 10 events).

The interpreter is the virtualenv's. PYTHONDONTWRITEBYTECODE is removed from the children's
environment so that bytecode caches are written by the warm-up runs and used afterwards, as on
a user's machine. Finally ``python -X importtime -c "import cli"`` is run several times and the
run with the median total is summarised: top modules by cumulative time, and own time per
top-level package.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    CpuWatch,
    Stats,
    build_app,
    machine_description,
    print_machine,
    seed_person,
    temp_dir,
    wait_for_idle,
)

from ledger.crypto import read_key_file

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 0.30
PYTHON = Path(sys.executable)
TRAJECT = PYTHON.parent / "traject"
RECORD_ARGS = ["--on", "2024-06-01", "--rung", "3", "--assessor", "bench"]


def child_env(workdir: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAJECT_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if workdir is not None:
        env["TRAJECT_DATABASE_URL"] = f"sqlite:///{workdir / 'ledger.db'}"
        env["TRAJECT_KEY_FILE"] = str(workdir / "ledger.key")
    env["TRAJECT_USER"] = "bench"
    return env


def run(argv: list[str], env: dict[str, str], *, check: bool = True) -> tuple[int, str, str]:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT, check=False)
    if check and done.returncode != 0:
        msg = f"{' '.join(argv)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        raise RuntimeError(msg)
    return done.returncode, done.stdout, done.stderr


def cli_ready() -> tuple[bool, str]:
    """Is the CLI there, with the commands this benchmark needs?"""
    if not (ROOT / "cli.py").is_file():
        return False, "cli.py does not exist yet"
    if not TRAJECT.exists():
        return False, f"{TRAJECT} is not installed"
    for command in (["init", "--help"], ["record", "ladder-assessed", "--help"]):
        code, out, err = run([str(TRAJECT), *command], child_env(), check=False)
        if code != 0:
            return False, f"traject {' '.join(command)} exited {code}: {(err or out)[-300:]}"
    return True, "ready"


def set_up(workdir: Path, events: int) -> str:
    """`traject init`, then a person with ``events`` events; returns the person id."""
    env = child_env(workdir)
    run([str(TRAJECT), "init", "--municipality", "GM0622"], env)
    key = read_key_file(workdir / "ledger.key")
    app = build_app(f"sqlite:///{workdir / 'ledger.db'}", key)
    person = seed_person(app, events)
    app.close()
    return str(person)


def time_process(argv: list[str], env: dict[str, str]) -> int:
    start = time.perf_counter_ns()
    done = subprocess.run(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, check=False
    )
    elapsed = time.perf_counter_ns() - start
    if done.returncode != 0:
        msg = f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-500:]}"
        raise RuntimeError(msg)
    return elapsed


def commands(person: str | None) -> dict[str, list[str]]:
    python = str(PYTHON)
    measured = {
        "python -c pass": [python, "-c", "pass"],
        'python -c "import sqlite3"': [python, "-c", "import sqlite3"],
        'python -c "import ledger.application"': [python, "-c", "import ledger.application"],
    }
    if person is not None:
        measured["traject --version"] = [str(TRAJECT), "--version"]
        measured["traject record ladder-assessed …"] = [
            str(TRAJECT),
            "record",
            "ladder-assessed",
            person,
            *RECORD_ARGS,
        ]
    return measured


def measure_processes(
    argvs: dict[str, list[str]], env: dict[str, str], runs: int, warmup: int
) -> dict[str, Stats]:
    names = list(argvs)
    for _ in range(warmup):
        for name in names:
            time_process(argvs[name], env)
    results = {name: Stats(name) for name in names}
    for i in range(runs):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:  # rotate: no command always goes first
            results[name].samples_ns.append(time_process(argvs[name], env))
    return results


# --- python -X importtime ------------------------------------------------------------------

LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def importtime(module: str, env: dict[str, str]) -> list[tuple[int, int, int, str]]:
    """(self µs, cumulative µs, depth, module) for every import of one run."""
    _, _, err = run([str(PYTHON), "-X", "importtime", "-c", f"import {module}"], env)
    rows = []
    for line in err.splitlines():
        match = LINE.match(line)
        if match:
            own, cumulative, indent, name = match.groups()
            rows.append((int(own), int(cumulative), len(indent) // 2, name))
    return rows


def importtime_summary(module: str, env: dict[str, str], repeats: int, top: int) -> dict[str, Any]:
    runs = [importtime(module, env) for _ in range(repeats)]
    totals = [sum(r[0] for r in rows) for rows in runs]
    median_total = statistics.median_low(totals)
    rows = runs[totals.index(median_total)]
    by_cumulative = sorted(rows, key=lambda r: -r[1])[:top]
    packages: dict[str, int] = {}
    for own, _, _, name in rows:
        package = name.split(".")[0]
        packages[package] = packages.get(package, 0) + own
    by_package = sorted(packages.items(), key=lambda kv: -kv[1])[:top]
    print(
        f"\npython -X importtime -c 'import {module}': {repeats} runs, totals (sum of own "
        f"times) {', '.join(f'{t / 1000:.0f}' for t in totals)} ms; the median run:"
    )
    print("\n| cumulative ms | own ms | module (indent = depth) |\n|---:|---:|---|")
    for own, cumulative, depth, name in by_cumulative:
        print(f"| {cumulative / 1000:.1f} | {own / 1000:.1f} | {'  ' * depth}{name} |")
    print("\n| own ms, summed | top-level package |\n|---:|---|")
    for package, own in by_package:
        print(f"| {own / 1000:.1f} | {package} |")
    return {
        "module": module,
        "totals_ms": [t / 1000 for t in totals],
        "top_cumulative": [
            {"module": n, "cumulative_ms": c / 1000, "own_ms": o / 1000, "depth": d}
            for o, c, d, n in by_cumulative
        ],
        "own_by_package_ms": {p: o / 1000 for p, o in by_package},
    }


def profile_record(argv: list[str], env: dict[str, str], workdir: Path) -> None:
    out = workdir / "record.prof"
    run([str(PYTHON), "-m", "cProfile", "-o", str(out), *argv], env)
    import pstats  # noqa: PLC0415 - only for --profile

    stats = pstats.Stats(str(out))
    print("\n--- cProfile of one `traject record ladder-assessed`, by cumulative time ---")
    stats.sort_stats("cumulative").print_stats(40)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=25, help="timed runs of each command")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs of each first")
    parser.add_argument("--events", type=int, default=10, help="events of the seeded person")
    parser.add_argument("--importtime-runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=20, help="rows of the import-time tables")
    parser.add_argument("--importtime-only", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile one record run")
    parser.add_argument(
        "--wait-idle", type=float, default=120, help="wait up to N s for an idle CPU (0: no)"
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)

    ready, why = cli_ready()
    if not ready:
        print(f"the CLI is not ready ({why}): measuring the process baselines and the import only")
    if args.wait_idle:
        wait_for_idle(timeout=args.wait_idle)
    facts = machine_description(with_postgres=False)
    print_machine(facts)
    payload: dict[str, Any] = {"machine": facts, "args": vars(args), "cli_ready": ready}
    env = child_env()
    with temp_dir() as workdir:
        if not args.importtime_only:
            person = None
            if ready:
                person = set_up(workdir, args.events)
                env = child_env(workdir)
            argvs = commands(person)
            if args.profile and person is not None:
                profile_record(argvs["traject record ladder-assessed …"], env, workdir)
                return 0
            watch = CpuWatch()
            results = measure_processes(argvs, env, args.runs, args.warmup)
            after = machine_description(with_postgres=False)
            facts["load average after"] = after["load average"]
            facts["calibration after"] = after["calibration"]
            facts["cpu during run"] = watch.summary()
            print(
                f"\n{args.runs} runs each after {args.warmup} warm-up runs; wall time per process"
            )
            print("\n| process | median ms | p90 ms | min ms | target | result |")
            print("|---|---:|---:|---:|---|---|")
            for name, stats in results.items():
                target, verdict = "", ""
                if name.startswith("traject record"):
                    target = f"≤ {TARGET_S * 1000:.0f} ms"
                    verdict = "pass" if stats.median_ms <= TARGET_S * 1000 else "FAIL"
                print(
                    f"| `{name}` | {stats.median_ms:.1f} | {stats.p90_ms:.1f} "
                    f"| {stats.min_ms:.1f} | {target} | {verdict} |"
                )
            payload["processes"] = {
                name: {"median_ms": s.median_ms, "p90_ms": s.p90_ms, "min_ms": s.min_ms, "n": s.n}
                for name, s in results.items()
            }
            print(
                f"\nload average after: {facts['load average after']}; calibration after:"
                f" {facts['calibration after']}"
            )
            print(f"{facts['cpu during run']}")
        module = "cli" if ready else "ledger.application"
        payload["importtime"] = importtime_summary(module, env, args.importtime_runs, args.top)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
