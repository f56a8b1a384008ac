"""Run one slow rebuild in its own process, printing progress, for the SIGKILL tests.

Usage: python rebuild_worker.py DATABASE_URL MASTER_KEY_HEX PROJECTION[,PROJECTION…] PAGE_SIZE
[WORKERS]
"""

from __future__ import annotations

import sys
import time

from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from projections import PROJECTIONS, Views, rebuild_many


def main(url: str, key_hex: str, names: str, page_size: int, workers: int) -> None:
    app = TrajectoryLedger(parse_database_url(url).library_env, bytes.fromhex(key_hex))

    def progress(done: int, total: int) -> None:
        print(f"progress {done} {total}", flush=True)
        time.sleep(0.05)  # slow enough to be killed half-way

    chosen = [PROJECTIONS[name] for name in names.split(",")]
    rebuild_many(Views(app), chosen, page_size=page_size, progress=progress, workers=workers)
    print("done", flush=True)


if __name__ == "__main__":
    workers = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), workers)
