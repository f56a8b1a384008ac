"""The console script ``traject``: a Ctrl-C from its first moment on ends it with one line.

This module is the command's entry point, not ``cli.py``, so that an interrupt while the
command line loads its modules (click, eventsourcing, pydantic, the event catalog: the
slowest part of a short command) is caught as well: ``cli.py`` is imported only once the
handler below is in place. Once loaded, the root group's error boundary turns an interrupt
into the same line and status (``cli.TrajectGroup``). Standard library only.
"""

from __future__ import annotations

import sys
from typing import NoReturn

INTERRUPTED_STATUS = 130
"""The exit status of a command ended by Ctrl-C: 128 + SIGINT, as a shell reports it."""

INTERRUPTED = "Interrupted"
"""What a command ended by Ctrl-C says on stderr, instead of a traceback."""


def main() -> NoReturn:
    """Run the command line; exit with its status, or 130 after ``Interrupted``."""
    try:
        from cli import cli  # noqa: PLC0415 - loaded inside the handler, see above

        cli.main(prog_name="traject")
    except KeyboardInterrupt:
        say_interrupted()
        sys.exit(INTERRUPTED_STATUS)
    sys.exit(0)  # pragma: no cover - click's main exits itself


def say_interrupted() -> None:
    """``Interrupted`` on stderr, on a line of its own after a terminal's ``^C`` echo."""
    try:
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        sys.stderr.write(INTERRUPTED + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed or gone: the status still tells
        pass
