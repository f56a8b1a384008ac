"""Every command has help, reachable with -h and --help; the record options follow the catalog."""

from __future__ import annotations

import json

import click
import pytest
from cli_helpers import Traject
from click.testing import CliRunner

from cli import cli
from ledger.catalog import CATALOG


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command of the tree, as the words that invoke it."""
    ctx = click.Context(group)
    paths = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths += command_paths(command, (*prefix, name))
    return paths


ALL_COMMANDS = command_paths(cli)


def help_text(*args: str) -> str:
    """The help of a command with its line breaks undone (click wraps at 80 columns)."""
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output
    return " ".join(result.stdout.split())


def test_the_tree_has_the_documented_commands() -> None:
    top = {path for path in ALL_COMMANDS if len(path) == 1 or path[0] != "record"}
    assert top >= {
        ("init",),
        ("person",),
        ("person", "register"),
        ("person", "find"),
        ("person", "show"),
        ("person", "shred"),
        ("record",),
        ("correct",),
        ("retract",),
        ("timeline",),
        ("demo",),
    }
    recordable = {name for name, entry in CATALOG.items() if entry.recordable}
    assert {path[1] for path in ALL_COMMANDS if path[0] == "record" and len(path) == 2} == (
        recordable
    )


@pytest.mark.parametrize("path", [(), *ALL_COMMANDS], ids=lambda p: " ".join(p) or "traject")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    # help needs no ledger: run it with nothing configured
    runner = CliRunner()
    result = runner.invoke(cli, [*path, "--help"], env={"COLUMNS": "100"})

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: traject")
    assert runner.invoke(cli, [*path, "-h"]).stdout == result.stdout


def test_record_help_lists_the_fields_with_descriptions_and_allowed_values() -> None:
    text = help_text("record", "housed")

    assert "Usage: traject record housed [OPTIONS] PERSON" in text
    assert "gehuisvest (housed, move-in)" in text
    assert "--housing-kind [regulier|gva|tijdelijk|onzelfstandig]" in text
    assert "kind of dwelling" in text
    assert "--route [koppeling|nareis|gva_doorstroom|eigen]" in text
    assert "--counts-for-taakstelling / --no-counts-for-taakstelling" in text
    # --on carries what the date means for this kind of fact
    assert "the date it happened: housed on" in text
    assert "--evidence KIND:REF:SHA256" in text
    assert "traject record housed 3219ed75 --on 2024-03-04 --housing-kind regulier" in text


def test_record_help_shows_ranges_defaults_and_personal_fields() -> None:
    ladder = help_text("record", "ladder-assessed")
    assert "--rung INTEGER RANGE" in ladder
    assert "1<=x<=6" in ladder

    tenancy = help_text("record", "tenancy-signed")
    assert "address of the dwelling (personal: encrypted, erasable)" in tenancy

    exam = help_text("record", "exam-result-recorded")
    assert "--attempt-no INTEGER RANGE attempt number [default: 1; 1<=x<=20]" in exam


def test_municipality_and_project_facts_name_their_subject() -> None:
    taakstelling = help_text("record", "taakstelling-set")
    project = help_text("record", "project-registered")

    assert "Usage: traject record taakstelling-set [OPTIONS] MUNICIPALITY" in taakstelling
    assert "Usage: traject record project-registered [OPTIONS] PROJECT" in project
    # the project code is the subject, not an option
    assert "--project-code" not in project


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])

    assert result.exit_code == 0
    assert result.stdout.startswith("traject, version ")


def test_no_command_shows_the_overview(traject: Traject) -> None:
    result = traject()

    assert "Commands:" in result.output
    assert "timeline" in result.output


@pytest.mark.parametrize(
    "path", [path for path in ALL_COMMANDS if len(path) == 2 and path[0] in ("admin", "audit")]
)
def test_every_admin_and_audit_command_takes_json(path: tuple[str, ...]) -> None:
    """`--json` after the command's name, as `traject --json` before it (scripts of an
    administrator and an auditor write it either way)."""
    assert "--json" in help_text(*path), path


def test_purge_erased_json_after_the_command(ledger: Traject) -> None:
    result = ledger("admin", "purge-erased", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["done"] is True


@pytest.mark.parametrize("command", [("admin", "purge-erased"), ("person", "shred")])
def test_the_help_of_a_purge_names_every_table_a_postgresql_purge_rewrites(
    command: tuple[str, ...],
) -> None:
    # the erasure removes the BSN hash and the external keys too, and the purge rewrites the
    # tables that held them (docs/operations.md, Erasure): the help must not name only the keys
    from ledger.postgres import INDEX_TABLE, KEYS_TABLE, REFS_TABLE  # noqa: PLC0415

    text = help_text(*command)
    assert [t for t in (KEYS_TABLE, INDEX_TABLE, REFS_TABLE) if t not in text] == []
