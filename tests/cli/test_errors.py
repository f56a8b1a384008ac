"""The one error boundary: refusals and unreachable stores are `Error: …` lines, bugs are not."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from cli_helpers import Traject
from click.testing import CliRunner
from eventsourcing.persistence import OperationalError, ProgrammingError

from cli import TrajectGroup, database_message
from commands.context import Settings, TrajectContext


def group_raising(error: Exception) -> click.Group:
    """A root group like traject's, with one command that fails with ``error``."""

    @click.group(cls=TrajectGroup)
    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = TrajectContext(Settings(database_url="sqlite:///busy.db"))

    @root.command()
    def fail() -> None:
        raise error

    return root


def test_a_locked_database_is_named_as_such() -> None:
    result = CliRunner().invoke(group_raising(OperationalError("database is locked")), ["fail"])

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: database is locked: another traject process is writing to sqlite:///busy.db; "
        "try again\n"
    )


def test_other_connection_failures_say_the_database_cannot_be_reached() -> None:
    assert database_message(OperationalError("connection refused"), "postgresql://db:5432/t") == (
        "cannot reach database postgresql://db:5432/t: connection refused"
    )


@pytest.mark.parametrize("error", [ValueError("a bug"), ProgrammingError("bad SQL")])
def test_a_bug_is_not_dressed_up_as_an_error_message(error: Exception) -> None:
    result = CliRunner().invoke(group_raising(error), ["fail"])

    # CliRunner catches the exception that would print a traceback
    assert result.exception is error
    assert "Error:" not in result.stderr


@pytest.mark.slow  # the connection pool waits out its 5-second timeout
def test_an_unreachable_postgresql_server_is_an_error(tmp_path: Path) -> None:
    traject = Traject("postgresql://postgres@127.0.0.1:9/traject", tmp_path / "traject.key")

    result = traject("init")

    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: cannot reach database postgresql://127.0.0.1:9/traject: "
    )
    # the key written for a ledger that could not be created is removed again
    assert not traject.key_file.exists()
