"""Every command with `--format csv` prints its header row, even when it has no rows to list,
and every report's CSV names the municipality of `--municipality` in each row.

The commands are found by walking the command tree, so a new command with a CSV form is checked
as soon as it exists; its required options get values from their types (VALUES below).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from cli_helpers import Traject, days_ago

from cli import cli
from commands.reporting import PeriodType, QuarterType
from commands.types import PatternType

PROJECT = "MWP"  # an AMIF project without participants, for `report amif`
SEAL = "v1"  # the first fact of GM0622's stream: a sealed, empty housing report
EXTRA: dict[str, tuple[str, ...]] = {"export": ("--kind", "housed")}  # CSV of one kind only
# --municipality of these is not a filter of figures: restate's and sealed's name the stream
# holding the seals, export's selects whole streams (their facts keep their own municipality)
NOT_A_FILTER = {"report restate", "report sealed", "export"}
NAME = re.compile(r"[A-Za-z_][\w-]*")


def value_for(param: click.Parameter) -> str:
    """A value for a required parameter, from its type."""
    kind = param.type
    if isinstance(kind, QuarterType):
        return "2026Q1"
    if isinstance(kind, PeriodType):
        return "2026H1"  # a half-year: housing takes only those
    if isinstance(kind, click.IntRange):
        return str(max(kind.min or 0, min(kind.max or 2026, 2026)))
    if isinstance(kind, PatternType):
        return PROJECT
    if kind.name == "seal":
        return SEAL
    msg = f"give a value for the required {param.name} ({kind.name}) in value_for()"
    raise AssertionError(msg)


def csv_commands() -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """(words, command) of every command whose --format offers csv."""
    context = click.Context(cli)

    def walk(
        group: click.Group, words: tuple[str, ...]
    ) -> Iterator[tuple[tuple[str, ...], click.Command]]:
        for name in group.list_commands(context):
            command = group.get_command(context, name)
            assert command is not None
            if isinstance(command, click.Group):
                yield from walk(command, (*words, name))
                continue
            for param in command.params:
                offers = isinstance(param.type, click.Choice) and "csv" in param.type.choices
                if isinstance(param, click.Option) and "--format" in param.opts and offers:
                    yield (*words, name), command

    assert isinstance(cli, click.Group)
    yield from walk(cli, ())


def required_args(command: click.Command) -> list[str]:
    """The command's required options and arguments, with values from their types."""
    return [
        part
        for param in command.params
        if param.required
        for part in (
            [value_for(param)]
            if isinstance(param, click.Argument)
            else [param.opts[0], value_for(param)]
        )
    ]


def runs() -> Iterator[pytest.ParameterSet]:
    """Each CSV command with its required options; again with each value of its other choices
    (`--by municipality` groups rows: a grouping with no groups is an empty list too)."""
    for words, command in csv_commands():
        base = (*words, *EXTRA.get(" ".join(words), ()), *required_args(command))
        yield pytest.param(base, id=" ".join(words))
        for param in command.params:
            if param.required or not isinstance(param, click.Option) or param.is_flag:
                continue
            if isinstance(param.type, click.Choice) and "--format" not in param.opts:
                for choice in param.type.choices:
                    args = (*base, param.opts[0], str(choice))
                    yield pytest.param(args, id=" ".join((*words, param.opts[0], str(choice))))


def new_ledger(tmp_path_factory: pytest.TempPathFactory, name: str) -> Traject:
    """A ledger initialised for GM0622 in a new directory ``name``."""
    tmp_path: Path = tmp_path_factory.mktemp(name)
    ledger = Traject(f"sqlite:///{tmp_path / 'traject.db'}", tmp_path / "traject.key")
    ledger.ok("init", "--municipality", "GM0622")
    return ledger


@pytest.fixture(scope="module")
def empty_ledger(tmp_path_factory: pytest.TempPathFactory) -> Traject:
    """A ledger without persons: a sealed housing report and an AMIF project, nothing else."""
    ledger = new_ledger(tmp_path_factory, "csv-headers")
    ledger.ok("report", "seal", "--label", "empty", "report", "housing", "--period", "2026H1")
    ledger.ok(
        *("record", "project-registered", PROJECT, "--on", days_ago(30), "--title", "T"),
        *("--fund", "amif_2127", "--beneficiary", "B", "--beneficiary-kind", "gemeente"),
        *("--grant-ref", "G", "--eligibility-from", "2024-01-01", "--eligibility-to"),
        *("2027-12-31", "--cofin-rate", "0.75", "--target-total", "10"),
    )
    return ledger


@pytest.mark.parametrize("args", list(runs()))
def test_a_csv_list_starts_with_its_header_row_even_when_it_is_empty(
    empty_ledger: Traject, args: tuple[str, ...]
) -> None:
    result = empty_ledger(*args, "--format", "csv")

    assert result.exit_code == 0, result.output
    header = (result.stdout.splitlines() or [""])[0]
    names = header.split(",")
    assert all(NAME.fullmatch(name) for name in names), f"no header row: {result.stdout!r}"


def test_every_command_with_a_csv_form_is_checked() -> None:
    """The walk finds the report commands (a guard against a walk that finds nothing)."""
    found = {" ".join(words) for words, _ in csv_commands()}
    assert {"report housing", "report outflow", "report restate", "caseload", "export"} <= found


def filtered_reports() -> Iterator[pytest.ParameterSet]:
    """Each CSV command whose --municipality filters its figures, with its required options."""
    for words, command in csv_commands():
        takes = any("--municipality" in getattr(param, "opts", ()) for param in command.params)
        if takes and " ".join(words) not in NOT_A_FILTER:
            yield pytest.param((*words, *required_args(command)), id=" ".join(words))


@pytest.fixture(scope="module")
def cooperation(tmp_path_factory: pytest.TempPathFactory) -> Traject:
    """Three municipalities' generated persons over the two years up to today (value_for's
    periods lie in them)."""
    ledger = new_ledger(tmp_path_factory, "csv-municipality")
    ledger.ok("generate", "--persons", "120", "--years", "2", "--municipalities", "3", "--quiet")
    return ledger


def csv_rows(ledger: Traject, *args: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(ledger.ok(*args, "--format", "csv").stdout))
    rows = list(reader)
    return list(reader.fieldnames or ()), rows


@pytest.mark.parametrize("args", list(filtered_reports()))
def test_a_report_csv_names_its_municipality_filter_in_every_row(
    cooperation: Traject, args: tuple[str, ...]
) -> None:
    """With --municipality every row's `municipality` is its code (the JSON's `municipality`);
    without it a row names its own municipality or, counting the whole cooperation, none: the
    two files can be told apart, row by row."""
    header, only = csv_rows(cooperation, *args, "--municipality", "Vlaardingen")
    whole_header, whole = csv_rows(cooperation, *args)

    assert "municipality" in header, header
    assert only, "no rows to check: the generated ledger should give some"
    assert {row["municipality"] for row in only} == {"GM0622"}
    assert "municipality" in whole_header, whole_header
    assert {row["municipality"] for row in whole} - {"GM0622"}, whole[:3]


def test_the_municipality_filter_is_checked_on_the_reports() -> None:
    """The walk finds the reports of the audit (a guard against a walk that finds nothing)."""
    found = {param.id for param in filtered_reports()}
    names = ("cohort", "guidance", "reunification", "help-requests", "pvt", "housing", "swi")
    assert {f"report {name}" for name in names} <= found
