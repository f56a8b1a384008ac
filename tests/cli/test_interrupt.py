"""Ctrl-C ends `traject` with one line, `Interrupted`, and status 130: while it starts, while
it opens the ledger and while it works, never with a traceback.

The installed `traject` runs as a process of its own, and SIGINT is sent to it at a fixed
point of its run (the import of a module, the opening of a database connection) by a small
harness around the console script, so the test does not depend on timing.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import Traject, days_ago

HARNESS = """
import os, runpy, signal, sqlite3, sys

point, script, *args = sys.argv[1:]


def interrupt():
    os.kill(os.getpid(), signal.SIGINT)  # a real SIGINT, handled as Ctrl-C is


class InterruptOnImport:
    def find_spec(self, name, path=None, target=None):
        if name == point.removeprefix("import:"):
            sys.meta_path.remove(self)
            interrupt()
        return None


if point.startswith("import:"):
    sys.meta_path.insert(0, InterruptOnImport())
elif point == "connect":
    connect = sqlite3.connect

    def interrupting_connect(*given, **options):
        interrupt()
        return connect(*given, **options)

    sqlite3.connect = interrupting_connect
sys.argv = [script, *args]
runpy.run_path(script, run_name="__main__")
"""


def interrupted_at(traject: Traject, point: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`traject ARGS` as a process of its own, sent SIGINT at ``point``: ``import:MODULE`` when
    it imports MODULE, ``connect`` when it opens an SQLite connection."""
    script = str(Path(sys.executable).with_name("traject"))
    env = {k: v for k, v in {**os.environ, **traject.env}.items() if v is not None}
    return subprocess.run(
        [sys.executable, "-c", HARNESS, point, script, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


RECORD = ("record", "ladder-assessed", "--rung", "3", "--assessor", "r.jansen")


@pytest.mark.parametrize(
    "point",
    [
        pytest.param("import:click", id="loading-click"),
        pytest.param("import:ledger.events", id="loading-the-event-catalog"),
        pytest.param("import:commands.record", id="loading-the-commands"),
    ],
)
def test_ctrl_c_while_traject_starts_is_one_line_and_status_130(
    ledger: Traject, point: str
) -> None:
    person = ledger.register()
    before = ledger.event_count()

    result = interrupted_at(ledger, point, *RECORD[:2], person, "--on", days_ago(1), *RECORD[2:])

    assert (result.returncode, result.stdout, result.stderr) == (130, "", "Interrupted\n")
    assert ledger.event_count() == before


def test_ctrl_c_while_traject_opens_the_ledger_is_one_line_and_status_130(
    ledger: Traject,
) -> None:
    person = ledger.register()
    before = ledger.event_count()

    result = interrupted_at(
        ledger, "connect", *RECORD[:2], person, "--on", days_ago(1), *RECORD[2:]
    )

    assert (result.returncode, result.stdout, result.stderr) == (130, "", "Interrupted\n")
    assert ledger.event_count() == before


def test_ctrl_c_while_a_command_works_is_one_line_and_status_130(
    ledger: Traject, tmp_path: Path
) -> None:
    """`traject import` loads its module once the command line has started and looks the
    command up: interrupted there, inside the root group's invocation, it says so as well
    (click's own answer would be "Aborted!" and status 1)."""
    source = tmp_path / "none.jsonl"
    source.write_text("")

    result = interrupted_at(ledger, "import:commands.importing", "import", str(source))

    assert (result.returncode, result.stdout, result.stderr) == (130, "", "Interrupted\n")


def read_until(stream: int, text: bytes, seconds: float = 60) -> bytes:
    """What the process wrote on ``stream`` (a pipe's file descriptor) up to ``text``."""
    seen = b""
    deadline = time.monotonic() + seconds
    while text not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{text!r} was not written; got {seen!r}"
        ready, _, _ = select.select([stream], [], [], left)
        chunk = os.read(stream, 4096) if ready else b""
        assert chunk or not ready, f"the stream closed before {text!r}; got {seen!r}"
        seen += chunk
    return seen


SHRED = ("person", "shred")
QUESTION = b"Erase this person's personal data for good? It cannot be undone [y/N]: "


def test_ctrl_c_at_the_erasure_s_question_is_one_line_and_status_130(ledger: Traject) -> None:
    """`traject person shred` asks before it erases; Ctrl-C while it waits for the answer
    ends it as any other interrupt (click's own answer would be "Aborted!" and status 1), and
    nothing is erased."""
    person = ledger.register()
    before = ledger.event_count()
    script = str(Path(sys.executable).with_name("traject"))
    env = {k: v for k, v in {**os.environ, **ledger.env}.items() if v is not None}
    process = subprocess.Popen(
        [script, *SHRED, person, "--approved-by", "privacy officer"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        asked = read_until(process.stdout.fileno(), QUESTION)
        process.send_signal(signal.SIGINT)  # a real SIGINT, as Ctrl-C sends it
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()

    assert asked == QUESTION
    assert (process.returncode, stderr.decode()) == (130, "Interrupted\n")
    assert ledger.event_count() == before


def test_no_to_the_erasure_s_question_is_not_an_interrupt(ledger: Traject) -> None:
    person = ledger.register()
    before = ledger.event_count()

    result = ledger(*SHRED, person, "--approved-by", "privacy officer", input="n\n")

    assert (result.exit_code, result.stderr) == (1, "Aborted!\n")
    assert ledger.event_count() == before


def test_the_harness_runs_traject_as_installed(ledger: Traject) -> None:
    """Without an interrupt the harness is the plain command: what the tests above change is
    the interrupt only."""
    result = interrupted_at(ledger, "import:no.such.module", "person", "find", "--bsn", "123456782")

    assert (result.returncode, result.stderr) == (
        1,
        "Error: no person with this BSN is registered in this ledger\n",
    )
