"""Worker processes that tests kill with SIGKILL part-way through their work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path


def kill_when(script: Path, args: list[str], when: Callable[[int, int], bool]) -> None:
    """Run ``script`` with ``args`` (it prints ``<label> <done> <total>`` lines as it goes) and
    kill it with SIGKILL at the first line for which ``when(done, total)`` holds."""
    worker = subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert worker.stdout is not None
    for line in worker.stdout:
        _, done, total = line.split()
        if when(int(done), int(total)):
            worker.send_signal(signal.SIGKILL)
            break
    assert worker.wait(timeout=30) == -signal.SIGKILL
