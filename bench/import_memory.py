"""Peak memory of ``traject import`` at several sizes: it should stay flat as the file grows.

For each --persons size, ``traject generate`` writes a synthetic file (seeded, --years of
history), ``traject init`` makes a fresh ledger (a SQLite file, or a new PostgreSQL database
with --store postgres) and ``traject import`` reads the file; each step is its own process and
its peak resident memory is its ``wait4`` rusage (``bench.national.run_step``).

    .venv/bin/python bench/import_memory.py --persons 2000 8000
    .venv/bin/python bench/import_memory.py --persons 2000 8000 --store postgres --years 10
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import store_url
from bench.national import run_step


def measure(persons: int, args: argparse.Namespace) -> dict[str, Any]:
    """Generate, init and import ``persons`` persons; the import step's time and peak RSS."""
    today = datetime.now(UTC).date()
    with tempfile.TemporaryDirectory(prefix="traject-import-memory-") as tmp:
        work = Path(tmp)
        data = work / "people.jsonl"
        with store_url(args.store, work) as url:
            env = {
                **os.environ,
                "TRAJECT_DATABASE_URL": url,
                "TRAJECT_USER": "bench",
                "TRAJECT_KEY_FILE": str(work / "ledger.key"),
            }
            run_step("generate", [
                "generate", "--persons", str(persons), "--years", str(args.years),
                "--municipalities", str(args.municipalities), "--seed", "7",
                "--start-year", str(today.year - args.years), "--out", str(data), "--quiet",
            ], env)  # fmt: skip
            with data.open("rb") as handle:
                lines = sum(1 for _ in handle)
            run_step("init", ["init"], env)
            step = run_step("import", [
                "import", str(data), "--quiet", "--batch-size", str(args.batch_size),
            ], env)  # fmt: skip
    step.update(persons=persons, lines=lines, lines_per_s=round(lines / step["wall_s"]))
    print(f"  {persons} persons, {lines} lines: peak RSS {step['peak_rss_mib']:.0f} MiB")
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, nargs="+", default=[2000, 8000])
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--municipalities", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--json", type=Path, default=None, help="write the results here too")
    args = parser.parse_args()
    results = [measure(persons, args) for persons in args.persons]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
