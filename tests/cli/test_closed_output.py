"""`traject … | head -1`: a reader that goes away ends the command quietly, with SIGPIPE's status.

The installed command runs in a process of its own, its stdout a pipe whose reading end is
closed before it writes, so its first write finds the pipe closed (as behind `head` once `head`
has read its line).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import Traject

from cli import CLOSED_OUTPUT_STATUS


@pytest.fixture
def person(ledger: Traject) -> str:
    return ledger.linked_person()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("export",), id="export"),
        pytest.param(("export", "--format", "csv", "--kind", "coa-linked"), id="export-csv"),
        pytest.param(("timeline", "{person}"), id="timeline"),
        pytest.param(("report", "outflow", "--period", "2026H1"), id="report-table"),
        pytest.param(("report", "outflow", "--period", "2026H1", "--format", "csv"), id="csv"),
        pytest.param(("--json", "caseload"), id="json"),
    ],
)
def test_output_into_a_closed_pipe_ends_quietly(
    ledger: Traject, person: str, tmp_path: Path, args: tuple[str, ...]
) -> None:
    reading, writing = os.pipe()
    os.close(reading)  # the reader is gone before the first line is written
    env = {k: v for k, v in {**os.environ, **ledger.env}.items() if v is not None}
    command = [str(Path(sys.executable).with_name("traject"))]
    command += [arg.format(person=person) for arg in args]
    try:
        done = subprocess.run(command, stdout=writing, stderr=subprocess.PIPE, env=env, check=False)
    finally:
        os.close(writing)

    assert done.stderr.decode().strip() == ""  # (export's progress bar leaves a line end)
    assert done.returncode == CLOSED_OUTPUT_STATUS == 141
