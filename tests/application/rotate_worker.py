"""Rotate a ledger's master key in its own process, slowly, printing progress, for the SIGKILL
test.

Usage: python rotate_worker.py DATABASE_URL OLD_KEY_HEX NEW_KEY_HEX PAGE_SIZE
"""

from __future__ import annotations

import sys
import time

from ledger import persistence
from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url


def main(url: str, old_hex: str, new_hex: str, page_size: int) -> None:
    persistence.ROTATION_PAGE = page_size  # many small steps, each written in the transaction
    env = parse_database_url(url).library_env | {"CREATE_TABLE": "no"}
    app = TrajectoryLedger(env, bytes.fromhex(old_hex))

    def progress(done: int, total: int) -> None:
        print(f"progress {done} {total}", flush=True)
        time.sleep(0.1)  # slow enough to be killed half-way

    app.rotate_master_key(bytes.fromhex(new_hex), progress=progress)
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
