"""Every CSV of a command that takes `--as-known-at` names the moment it counted up to, in every
row: a CSV saved from a replayed report can be told from one of today's figures.

The commands are found by walking the command tree (as in test_csv_headers), so a new report is
checked as soon as it exists; each runs on a generated ledger, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from cli_helpers import Traject, days_ago, project_registration
from pg_schemas import PostgresSchemas
from test_csv_headers import EXTRA, csv_commands, csv_rows, required_args


def moment_reports() -> Iterator[pytest.ParameterSet]:
    """Each CSV command that takes --as-known-at, with its required options."""
    for words, command in csv_commands():
        takes = any(
            isinstance(param, click.Option) and "--as-known-at" in param.opts
            for param in command.params
        )
        if takes:
            args = (*words, *EXTRA.get(" ".join(words), ()), *required_args(command))
            yield pytest.param(args, id=" ".join(words))


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def generated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Traject:
    """Three municipalities' generated persons over the two years up to today, and the AMIF
    project `report amif` is asked about."""
    tmp_path: Path = tmp_path_factory.mktemp("csv-moment")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'traject.db'}"
    else:
        schemas: PostgresSchemas = request.getfixturevalue("postgres_schemas")
        url = schemas.fresh("traject_csv_moment")
    ledger = Traject(url, tmp_path / "traject.key")
    ledger.ok("init", "--municipality", "GM0622")
    ledger.ok("generate", "--persons", "60", "--years", "2", "--municipalities", "3", "--quiet")
    ledger.ok(*project_registration(days_ago(30)))
    return ledger


@pytest.mark.parametrize("args", list(moment_reports()))
def test_a_csv_as_known_at_a_moment_names_it_in_every_row(
    generated: Traject, args: tuple[str, ...]
) -> None:
    """With --as-known-at the last column holds the JSON's moment (UTC) in every row; without
    it there is no such column, and the other columns are the same."""
    at = datetime.now(UTC).isoformat()
    moment = ("--as-known-at", at)
    stated = generated.json(*args, *moment, "--format", "json")["as_known_at"]
    header, rows = csv_rows(generated, *args, *moment)
    header_now, rows_now = csv_rows(generated, *args)

    assert stated == at.replace("+00:00", "Z"), stated
    assert header[-1] == "as_known_at", header
    assert header.count("as_known_at") == 1, header
    assert {row["as_known_at"] for row in rows} <= {stated}
    assert [*header_now, "as_known_at"] == header
    assert not [row for row in rows_now if "as_known_at" in row]


def test_the_reports_with_a_moment_are_checked() -> None:
    """The walk finds the reports an auditor replays (a guard against a walk that finds none)."""
    found = {param.id for param in moment_reports()}
    names = ("outflow", "housing", "ladder", "cohort", "amif", "dashboard", "swi")
    assert {f"report {name}" for name in names} | {"caseload", "find-candidates"} <= found
    assert "report restate" not in found and "export" not in found


def test_a_past_figure_saved_as_csv_is_reprinted_with_its_moment(tmp_path: Path) -> None:
    """An auditor's check: the outflow CSV as known at a moment; then a back-dated fact and a
    correction are recorded; the CSV as known at that moment is the same file again, and names
    the moment as the JSON does, while today's CSV counts the new facts."""
    ledger = Traject(f"sqlite:///{tmp_path / 'traject.db'}", tmp_path / "traject.key")
    ledger.ok("init", "--municipality", "GM0622")
    first = ledger.register()
    ledger.ok(
        "record", "outflow-started", first, "--on", days_ago(10), "--outflow-type", "onderwijs"
    )
    moment = datetime.now(UTC).isoformat()
    report = ("report", "outflow", "--period", days_ago(10)[:4])
    before = ledger.ok(*report, "--format", "csv", "--as-known-at", moment).stdout
    stated = ledger.json(*report, "--format", "json", "--as-known-at", moment)["as_known_at"]

    second = ledger.register()
    ledger.ok(
        *("record", "outflow-started", second, "--on", days_ago(12)),
        *("--outflow-type", "werk_volledig"),
    )
    ledger.ok("correct", first, "2", "--set", "outflow_type=werk_volledig", "--reason", "typo")
    again = ledger.ok(*report, "--format", "csv", "--as-known-at", moment).stdout
    today = list(csv.DictReader(io.StringIO(ledger.ok(*report, "--format", "csv").stdout)))

    assert again == before
    rows = list(csv.DictReader(io.StringIO(before)))
    assert {row["as_known_at"] for row in rows} == {stated}
    assert stated == moment.replace("+00:00", "Z")
    total = {row["outflow_type"]: row["started"] for row in rows}
    assert (total["total"], total["onderwijs"], total["werk_volledig"]) == ("1", "1", "0")
    now = {row["outflow_type"]: row["started"] for row in today}
    assert (now["total"], now["werk_volledig"], now["onderwijs"]) == ("2", "2", "0")
    assert "as_known_at" not in today[0]
