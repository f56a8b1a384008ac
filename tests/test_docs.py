"""The documentation is current: generated references match the code, links resolve."""

from __future__ import annotations

import importlib.util
import re
import shlex
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import pytest
from click.testing import CliRunner

from ledger.catalog import CATALOG

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("traject_docs_gen", DOCS / "gen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gen = load_generator()


@pytest.mark.parametrize("name", list(gen.GENERATORS))
def test_a_generated_document_is_current(name: str) -> None:
    # regenerate in memory (the README's quick start is run for real, ids and dates aside);
    # a difference means the code changed and `make docs` was not run
    current, fresh = gen.regenerate(name)
    same = gen.COMPARE.get(name, str)
    assert same(current) == same(fresh), f"{name} is stale: run `make docs` and commit it"


def test_every_catalog_entry_is_in_the_events_reference() -> None:
    text = (DOCS / "events.md").read_text(encoding="utf-8")
    missing = [
        item.name
        for item in CATALOG.values()
        if f"### {item.kind} — `{gen.command_of(item)}`" not in text
        or f"`ledger.events:{item.kind}`" not in text
    ]
    assert missing == []


def test_every_recordable_event_is_documented_with_traject_record() -> None:
    text = (DOCS / "events.md").read_text(encoding="utf-8")
    for item in CATALOG.values():
        if item.recordable:
            assert f"`traject record {item.name}`" in text


# the guides a user reads (the references cli.md, events.md and rules.md are generated)
GUIDES = ["operations", "reports", "projections", "import", "generate", "audit", "amif"]


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.name)
def test_relative_links_point_at_existing_files(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        file_part = target.split("#", 1)[0]
        if not (path.parent / file_part).exists():
            broken.append(target)
    assert broken == []


def heading_anchors(path: Path) -> set[str]:
    """The anchors a Markdown viewer gives a document: its headings' slugs and its <a id>s."""
    anchors: set[str] = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        anchors.update(re.findall(r'<a id="([^"]+)"', line))
        heading = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if heading:
            # GitHub's slug: lower case, punctuation dropped, spaces to hyphens; -1, -2 on repeats
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).lower()).replace(" ", "-")
            repeat, unique = 0, slug
            while unique in anchors:
                repeat += 1
                unique = f"{slug}-{repeat}"
            anchors.add(unique)
    return anchors


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: p.name)
def test_links_to_a_section_point_at_an_existing_heading(path: Path) -> None:
    # `operations.md#roles` must name a heading of operations.md: a renamed heading otherwise
    # leaves the link landing at the top of the page
    text = path.read_text(encoding="utf-8")
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target) or "#" not in target:
            continue
        file_part, anchor = target.split("#", 1)
        linked = path.parent / file_part if file_part else path
        if linked.suffix == ".md" and linked.exists() and anchor not in heading_anchors(linked):
            broken.append(target)
    assert broken == []


def test_every_user_facing_document_links_to_the_glossary() -> None:
    # the Dutch terms of art are glossed once, in docs/index.md; each guide points there
    assert "glossary" in heading_anchors(DOCS / "index.md")
    guides = ["README.md", *(f"docs/{name}.md" for name in GUIDES)]
    unlinked = [
        name for name in guides if "index.md#glossary)" not in (ROOT / name).read_text("utf-8")
    ]
    assert unlinked == []


def test_the_docs_index_links_every_document() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    unlinked = [
        p.name for p in DOCS.glob("*.md") if p.name != "index.md" and f"({p.name}" not in index
    ]
    assert unlinked == []


def test_the_readme_gives_the_two_newcomer_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme
    assert "make test" in readme


# --- the command line -----------------------------------------------------------------------

needs_cli = pytest.mark.skipif(not gen.cli_available(), reason="cli.py does not exist yet")


def command_paths() -> list[str]:
    if not gen.cli_available():
        return []
    return [path for path, _, _ in gen.command_tree()]


@needs_cli
@pytest.mark.parametrize("path", command_paths())
def test_every_command_has_help_and_is_in_the_cli_reference(path: str) -> None:
    from cli import cli  # noqa: PLC0415  (cli.py may not exist yet)

    # the reference has a section for the command
    reference = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert f"\n{gen.cli_heading(path)}\n" in reference
    # and --help works on it, with a one-line summary
    args = path.split()[1:]
    result = CliRunner(env={"COLUMNS": "100"}).invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@needs_cli
def test_the_commands_named_in_the_events_reference_exist() -> None:
    paths = set(command_paths())
    named: dict[str, Any] = {item.name: gen.command_of(item) for item in CATALOG.values()}
    assert {name: cmd for name, cmd in named.items() if cmd not in paths} == {}


@needs_cli
@pytest.mark.parametrize("name", [item.name for item in CATALOG.values() if item.recordable])
def test_the_example_in_a_record_command_help_is_accepted_by_its_options(name: str) -> None:
    # the example line of `traject record NAME --help` (and so of docs/cli.md) must be one the
    # command's own options accept: a value out of a field's range is exit 2 for whoever copies it
    from cli import cli  # noqa: PLC0415  (cli.py may not exist yet)

    record = cli.commands["record"]
    context = click.Context(cli)
    command = record.get_command(context, name)
    assert command is not None and command.help is not None
    line = command.help.split("Example:", 1)[1].strip().splitlines()[0]
    words = shlex.split(line)
    assert words[:3] == ["traject", "record", name]
    try:
        command.make_context(name, words[3:], parent=context)
    except click.UsageError as error:
        pytest.fail(f"{line}: {error.format_message()}")
