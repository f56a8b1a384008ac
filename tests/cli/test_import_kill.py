"""An import killed with SIGKILL at a random moment, then run again, ends as one complete run."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Traject

PEOPLE = 300
PER_PERSON = 8


def lines(people: int) -> list[dict[str, Any]]:
    """Invented statushouders: registration, permit, koppeling, move-in, ladder assessments."""
    out: list[dict[str, Any]] = []
    for n in range(people):
        key = f"K-{n}"
        out += [
            {"kind": "person-registered", "person": key, "occurred_on": "2025-01-10",
             "birth_date": "1990-04-02", "sex": "f", "nationality": ["SY"], "name": f"P {n}"},
            {"kind": "residence-permit-recorded", "person": key, "occurred_on": "2025-01-11",
             "permit_kind": "asiel_bt"},
            {"kind": "coa-linked", "person": key, "occurred_on": "2025-01-12",
             "taakstelling_period": "2025H1"},
            {"kind": "housed", "person": key, "occurred_on": "2025-02-01",
             "housing_kind": "regulier", "route": "koppeling"},
        ]  # fmt: skip
        out += [
            {"kind": "ladder-assessed", "person": key, "occurred_on": f"2025-03-0{d}",
             "rung": 1 + (n + d) % 6, "assessor": "r.jansen"}
            for d in range(1, PER_PERSON - 3)
        ]  # fmt: skip
    return out


def stored(database: Path) -> list[tuple[Any, ...]]:
    """What a ledger holds, without its random person ids: (key, version, kind) per event."""
    with closing(sqlite3.connect(database)) as db:
        rows = db.execute(
            "SELECT i.key, e.originator_version, e.topic FROM stored_events e JOIN"
            " traject_idempotency i ON i.stream_id = (substr(e.originator_id, 1, 8) || '-' ||"
            " substr(e.originator_id, 9, 4) || '-' || substr(e.originator_id, 13, 4) || '-' ||"
            " substr(e.originator_id, 17, 4) || '-' || substr(e.originator_id, 21))"
            " AND i.version = e.originator_version"
        ).fetchall()
        total = db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0]
    assert len(rows) == total  # every event has its key row, and no key row is without event
    return sorted(rows)


def count(database: Path) -> int:
    try:
        with closing(sqlite3.connect(database, timeout=0.05)) as db:
            return int(db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_an_import_killed_at_a_random_point_and_rerun_equals_one_complete_run(
    tmp_path: Path,
) -> None:
    source = tmp_path / "clients.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines(PEOPLE)))
    total = PEOPLE * PER_PERSON
    seed = random.randrange(10**6)
    kill_after = random.Random(seed).randrange(100, total - 200)

    killed = Traject(f"sqlite:///{tmp_path / 'killed.db'}", tmp_path / "killed.key")
    killed.ok("init", "--municipality", "GM0622")
    command = [str(Path(sys.executable).with_name("traject")), "import", "--batch-size", "50"]
    env = {k: v for k, v in {**os.environ, **killed.env}.items() if v is not None}
    worker = subprocess.Popen([*command, "--quiet", str(source)], env=env)
    deadline = time.monotonic() + 60
    while count(tmp_path / "killed.db") < kill_after and worker.poll() is None:
        assert time.monotonic() < deadline, f"seed {seed}: the import did not get going"
        time.sleep(0.005)
    worker.send_signal(signal.SIGKILL)
    assert worker.wait(timeout=30) == -signal.SIGKILL, f"seed {seed}: finished before the kill"
    partial = count(tmp_path / "killed.db")
    assert partial < total, f"seed {seed}"

    rerun = subprocess.run(
        [*command, str(source)], check=False, env=env, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr
    written, skipped = (int(w) for w in rerun.stdout.split()[0:3:2])
    assert (written + skipped, skipped) == (total, partial), f"seed {seed}: {rerun.stdout}"

    complete = Traject(f"sqlite:///{tmp_path / 'complete.db'}", tmp_path / "complete.key")
    complete.ok("init", "--municipality", "GM0622")
    complete.ok("import", "--quiet", str(source))
    assert stored(tmp_path / "killed.db") == stored(tmp_path / "complete.db"), f"seed {seed}"
    assert len(stored(tmp_path / "killed.db")) == total
