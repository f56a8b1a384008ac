"""Helpers for the life-course report tests (P4, P8–P11): facts on a log, and the CLI on a file.

Scenarios are appended straight to the store with fixed recorded times (see
``projection_events``), so SQLite and PostgreSQL receive identical events, and a moment ``cut``
between the original facts and the later knowledge (corrections, retractions, back-dated facts)
serves the "as known at" tests.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from click.testing import CliRunner, Result
from projection_events import LogBuilder, append

from cli import cli
from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.crypto import encode_master_key, generate_master_key
from projections import Projection, Views, catch_up, digest, rebuild, status

A, B = "GM0622", "GM0599"
TRAJECT_VARIABLES = ("TRAJECT_DB", "TRAJECT_KEY_FILE", "TRAJECT_USER", "TRAJECT_JSON")


def fact(
    log: LogBuilder,
    pid: UUID,
    cls: type[ev.TrajectEvent],
    on: date,
    where: str = A,
    **fields: Any,
) -> int:
    """Add one fact to ``pid``'s stream; its stream version."""
    return log.add(pid, cls, occurred_on=on, municipality=where, **fields).originator_version


def rebuild_equals_catch_up(
    ledger: TrajectoryLedger, views: Views, projection: Projection, events: Sequence[Any]
) -> None:
    """Catch up in small pages while the log grows, then rebuild: the same digest."""
    for start in range(0, len(events), 5):
        append(ledger, events[start : start + 5])
        catch_up(views, projection, page_size=3)
    caught_up = status(views, projection).digest
    assert rebuild(views, projection, page_size=4).digest == caught_up == digest(views, projection)


class ReportCli:
    """`traject` run in-process on an initialised SQLite ledger that holds ``events``."""

    def __init__(self, tmp_path: Path, events: Sequence[ev.TrajectEvent]) -> None:
        url = f"sqlite:///{tmp_path / 'traject.db'}"
        key = generate_master_key()
        self.env = dict.fromkeys(TRAJECT_VARIABLES) | {
            "TRAJECT_DATABASE_URL": url,
            "TRAJECT_MASTER_KEY": encode_master_key(key),
            "COLUMNS": "160",
        }
        assert self("init", "--municipality", A).exit_code == 0
        app = TrajectoryLedger(parse_database_url(url).library_env, key)
        try:
            append(app, events)
        finally:
            app.close()

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=self.env, catch_exceptions=False)

    def json(self, *args: str) -> Any:
        result = self(*args, "--format", "json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def csv(self, *args: str) -> list[dict[str, str]]:
        result = self(*args, "--format", "csv")
        assert result.exit_code == 0, result.output
        return list(csv.DictReader(io.StringIO(result.stdout)))

    def csv_as_known_at(self, *args: str) -> list[dict[str, str]]:
        """The CSV of a report run with --as-known-at: its last column names the moment of the
        JSON's ``as_known_at`` in every row; the rows without that column."""
        rows = self.csv(*args)
        assert rows and list(rows[0])[-1] == "as_known_at", rows[:1]
        assert {row.pop("as_known_at") for row in rows} == {self.json(*args)["as_known_at"]}
        return rows

    def table(self, *args: str) -> str:
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result.stdout
