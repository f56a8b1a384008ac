"""Cost of the key-table operations at scale: a master-key rotation and an erasure's purge.

    .venv/bin/python bench/key_rotation.py --store both --persons 400000   # the documented run
    .venv/bin/python bench/key_rotation.py --store sqlite --persons 20000  # a quick check

Per store (a SQLite file in a temporary directory; a fresh PostgreSQL database
``traject_bench``, dropped afterwards):

1. ``--persons`` persons are registered with a BSN and a name (one data key and one BSN index
   entry each) by a bulk import (``ledger.batch``), as a municipality's history arrives.
2. *rotate*: ``TrajectoryLedger.rotate_master_key`` moves the ledger to a new master key (every
   data key re-wrapped, every registration decrypted and its BSN hash recomputed, the tables
   rewritten), ``--runs`` times, each to a fresh key; wall time, and the process's peak memory.
3. *purge*: ``traject admin purge-erased`` (``purge_erased_keys``) after one erasure, ``--runs``
   times: the rewrite of the key table and the person index that every erasure costs.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from common import run_per_store, store_url, temp_dir

from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.batch import BatchWriter, Write
from ledger.config import parse_database_url
from ledger.crypto import generate_master_key
from ledger.synthetic import synthetic_bsn

BATCH = 5000


def register_persons(app: TrajectoryLedger, persons: int) -> list[UUID]:
    """Register ``persons`` persons with a BSN and a name; the last one's case closed long ago
    (so it may be erased). Returns the ids."""
    writer = BatchWriter(app)
    ids: list[UUID] = []
    for start in range(0, persons, BATCH):
        writes = [
            Write(
                ev.PersonRegistered,
                {
                    "occurred_on": date(2016, 1, 4),
                    "birth_date": date(1990, 4, 2),
                    "sex": "f",
                    "nationality": ["SY"],
                    "name": f"Bench Persoon {n}",
                    "bsn": synthetic_bsn(n),
                },
            )
            for n in range(start, min(start + BATCH, persons))
        ]
        for outcome in writer.write(writes):
            assert not isinstance(outcome, Exception), outcome
            ids.append(outcome.stream_id)
    closed_on = datetime.now(UTC).date() - timedelta(days=365 * 12)
    app.record(ids[-1], ev.CaseClosed, occurred_on=closed_on, reason="moved")
    return ids


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(store: str, args: argparse.Namespace) -> dict[str, Any]:
    with temp_dir() as workdir, store_url(store, workdir) as url:
        app = TrajectoryLedger(parse_database_url(url).library_env, generate_master_key())
        try:
            app.initialise(default_municipality="GM0622")
            start = time.perf_counter()
            ids = register_persons(app, args.persons)
            register_s = time.perf_counter() - start
            app.tables.analyze()
            rotations = []
            for _ in range(args.runs):
                start = time.perf_counter()
                rotation = app.rotate_master_key(generate_master_key())
                rotations.append(time.perf_counter() - start)
                assert rotation.data_keys == args.persons, rotation
            rotate_peak = peak_mib()
            app.shred(ids[-1], approved_by="bench")
            purges = []
            for _ in range(args.runs):
                start = time.perf_counter()
                purge = app.tables.purge_erased_keys()
                purges.append(time.perf_counter() - start)
                assert purge.done, purge
        finally:
            app.close()
    return {
        "store": store,
        "persons": args.persons,
        "register_persons_per_s": round(args.persons / register_s),
        "rotate_s_median": round(statistics.median(rotations), 2),
        "rotate_s_runs": [round(s, 2) for s in rotations],
        "rotate_peak_mib": round(rotate_peak),
        "purge_s_median": round(statistics.median(purges), 2),
        "purge_s_runs": [round(s, 2) for s in purges],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--persons", type=int, default=400_000)
    parser.add_argument("--runs", type=int, default=3)
    run_per_store(parser.parse_args(), run)


if __name__ == "__main__":
    main()
