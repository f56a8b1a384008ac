"""An export to a file that is killed leaves no file under the asked name: a truncated export
is never taken for a complete one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import Traject


@pytest.mark.slow
def test_an_export_killed_midway_leaves_no_file_under_its_name(tmp_path: Path) -> None:
    ledger = Traject(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "ledger.key")
    ledger.ok("init", "--municipality", "GM0622")
    ledger.ok("generate", "--persons", "400", "--years", "4", "--start-year", "2020", "--quiet")
    out = tmp_path / "events.jsonl"
    partial = tmp_path / "events.jsonl.partial"
    env = {k: v for k, v in {**os.environ, **ledger.env}.items() if v is not None}
    command = [str(Path(sys.executable).with_name("traject")), "export", "--quiet", "-o"]

    worker = subprocess.Popen([*command, str(out)], env=env)
    deadline = time.monotonic() + 60
    while not (partial.exists() and partial.stat().st_size > 0) and worker.poll() is None:
        assert time.monotonic() < deadline, "the export did not get going"
        time.sleep(0.002)
    worker.send_signal(signal.SIGKILL)
    assert worker.wait(timeout=30) == -signal.SIGKILL, "the export finished before the kill"

    assert not out.exists()  # only the partial file, named as such
    again = subprocess.run([*command, str(out)], env=env, check=False, capture_output=True)
    assert again.returncode == 0, again.stderr
    assert not partial.exists()
    complete = ledger.ok("export", "--quiet").stdout.encode()
    assert out.read_bytes() == complete
