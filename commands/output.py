"""Files a command writes whole: never left half-written under their name. A new file is never
written over an existing one (``traject export -o``, ``traject generate --out``, the ``--out``
of the ``traject audit`` commands); a file a command keeps up to date (``traject import``'s
rejects file) is replaced only by a complete one."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import click

from ledger.errors import TrajectError


@contextlib.contextmanager
def new_file(output: Path | None, option: str, what: str) -> Iterator[IO[bytes]]:
    """Where the bytes go: stdout (``output`` None), or the new file ``output`` — written as
    ``output.partial`` first and given its name only when the command completes, so that one
    that fails or is killed leaves no truncated file under the name asked for (a ``.partial``
    file left by a killed run is replaced by the next one).

    ``what`` names the file's content in the message of a write that fails part-way (a full
    disk).

    Raises:
        TrajectError: writing failed part-way (the partial file is removed).
        click.BadParameter: on ``option``: ``output`` exists (it is never overwritten; checked
            before anything is written, and again when it is named) or cannot be written.
    """
    if output is None:
        out = sys.stdout.buffer
        yield out
        out.flush()
        return
    if output.exists():
        raise _exists(output, option)
    partial = partial_of(output)
    try:
        handle = partial.open("wb")
    except OSError as error:
        msg = f"cannot write {output}: {error.strerror}"
        raise click.BadParameter(msg, param_hint=option) from None
    try:
        with handle:
            yield handle
            synced(handle)
        _name(partial, output, option)
    except OSError as error:  # a full disk: the partial file goes, the error is named
        msg = f"{output}: cannot write the {what}: {error.strerror}"
        raise TrajectError(msg) from None
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def new_file_or_none(output: Path | None, option: str, what: str) -> Iterator[IO[bytes] | None]:
    """:func:`new_file` for a command that prints its output itself when not given
    ``output``: None then."""
    if output is None:
        yield None
        return
    with new_file(output, option, what) as handle:
        yield handle


@contextlib.contextmanager
def replaced_file(path: Path) -> Iterator[IO[bytes]]:
    """Where the bytes of ``path`` go: ``path.partial`` first, synced to disk and then renamed
    over ``path`` only when the block completes, so that a command that fails or is killed
    meanwhile leaves ``path`` as it was (an earlier run's file, or none), never half-written
    (a ``.partial`` file left by a killed run is replaced by the next one).

    Raises:
        OSError: the file could not be written (the partial file is removed, ``path`` is left
            as it was): the caller names it.
    """
    partial = partial_of(path)
    try:
        with partial.open("wb") as handle:
            yield handle
            synced(handle)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def partial_of(path: Path) -> Path:
    """The name ``path`` is written under until it is complete: ``path.partial``."""
    return path.with_name(path.name + ".partial")


def synced(handle: IO[bytes]) -> None:
    """Flush ``handle`` and have its bytes on disk before the file is given its name: renamed
    before, a crash of the machine could leave the name on an empty or truncated file."""
    handle.flush()
    os.fsync(handle.fileno())


def _name(partial: Path, output: Path, option: str) -> None:
    """Give the complete file its name, never over a file made there meanwhile."""
    try:
        os.link(partial, output)  # refuses an existing name, atomically
    except FileExistsError:
        raise _exists(output, option) from None
    except OSError:  # a file system without hard links
        if output.exists():
            raise _exists(output, option) from None
        partial.replace(output)


def _exists(output: Path, option: str) -> click.BadParameter:
    return click.BadParameter(f"{output} exists; it is never overwritten", param_hint=option)
