"""An export (or a generated file) that is killed leaves no file under the name asked for: a
truncated file is never taken for a complete one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import Traject


def kill_once_written(worker: subprocess.Popen[bytes], partial: Path) -> None:
    """SIGKILL the command as soon as its ``.partial`` file holds something."""
    deadline = time.monotonic() + 60
    while not (partial.exists() and partial.stat().st_size > 0) and worker.poll() is None:
        assert time.monotonic() < deadline, "the command did not get going"
        time.sleep(0.002)
    worker.send_signal(signal.SIGKILL)
    assert worker.wait(timeout=30) == -signal.SIGKILL, "the command finished before the kill"


@pytest.mark.slow
def test_an_export_killed_midway_leaves_no_file_under_its_name(tmp_path: Path) -> None:
    ledger = Traject(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "ledger.key")
    ledger.ok("init", "--municipality", "GM0622")
    ledger.ok("generate", "--persons", "400", "--years", "4", "--start-year", "2020", "--quiet")
    out = tmp_path / "events.jsonl"
    partial = tmp_path / "events.jsonl.partial"
    env = {k: v for k, v in {**os.environ, **ledger.env}.items() if v is not None}
    command = [str(Path(sys.executable).with_name("traject")), "export", "--quiet", "-o"]

    kill_once_written(subprocess.Popen([*command, str(out)], env=env), partial)

    assert not out.exists()  # only the partial file, named as such
    again = subprocess.run([*command, str(out)], env=env, check=False, capture_output=True)
    assert again.returncode == 0, again.stderr
    assert not partial.exists()
    complete = ledger.ok("export", "--quiet").stdout.encode()
    assert out.read_bytes() == complete


@pytest.mark.slow
def test_a_generated_file_killed_midway_leaves_no_file_under_its_name(tmp_path: Path) -> None:
    out = tmp_path / "synthetic.jsonl"
    partial = tmp_path / "synthetic.jsonl.partial"
    command = [str(Path(sys.executable).with_name("traject")), "generate", "--quiet"]
    command += ["--persons", "20000", "--start-year", "2020", "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAJECT_")}

    kill_once_written(subprocess.Popen(command, env=env), partial)

    assert not out.exists()
