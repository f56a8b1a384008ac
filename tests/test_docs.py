"""The documentation is current: generated references match the code, links resolve."""

from __future__ import annotations

import importlib.util
import itertools
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
    # and its values are ones a caseworker may copy: never the option's name in capitals
    # (`--assessor ASSESSOR`), which the ledger would store as the assessor's name
    placeholders = [
        f"{option} {value}"
        for option, value in itertools.pairwise(words)
        if option.startswith("--") and value == option[2:].replace("-", "_").upper()
    ]
    assert placeholders == [], line


# --- command lines quoted in the docs ----------------------------------------------------------

# the documents a reader copies command lines from (cli.md, events.md and rules.md are generated
# from the commands themselves)
QUOTING_DOCS = [
    "README.md",
    "docs/index.md",
    *(f"docs/{name}.md" for name in GUIDES),
    "docs/architecture.md",
    "docs/benchmarks.md",
]
# fenced blocks whose lines are command lines (text, json, sql, python blocks are not)
SHELL_FENCES = {"", "sh", "bash", "console", "shell"}
# texts that start with "traject" but are not command lines: a checkpoint's origin line
# ("traject ledger …", "traject example …")
NOT_COMMAND_LINES = ("ledger", "example")
# a shell line that runs traject: after a prompt, environment variables or the venv's path
SHELL_LINE = re.compile(r"(?:\$ )?(?:[A-Z_]+=\S+\s+)*(?:\.venv/bin/)?(traject\s.*)$")
# a report or timeline that these commands run, given after their own options
RUNS_A_COMMAND = ("traject report seal", "traject audit replay")
# a word that ends a command line: a pipe, a redirection, a comment
END_OF_COMMAND = re.compile(r"^(\\?\||>|<|2>|&&|;|#)")


def quoted_command_lines(text: str) -> list[str]:
    """Every `traject …` command line in a document: in shell blocks and in inline code."""
    lines: list[str] = []
    outside: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fence = line.lstrip()[3:].strip() if fence is None else None
            outside.append("")
            continue
        if fence is None:
            outside.append(line)
        elif fence in SHELL_FENCES:
            found = SHELL_LINE.match(line.strip())
            if found:
                lines.append(found.group(1))
    # inline code: a run of n backticks up to the next run of exactly n (CommonMark)
    for match in re.finditer(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", "\n".join(outside), re.DOTALL):
        code = " ".join(match.group(2).split())
        code = re.sub(r"^(?:[A-Z_]+=\S+\s+)*(?:\.venv/bin/)?", "", code)
        if code.startswith("traject ") and code.split()[1] not in NOT_COMMAND_LINES:
            lines.append(code)
    return lines


def split_words(line: str) -> list[str]:
    """The words of a command line as the shell splits them (a quote left open: at spaces)."""
    try:
        return shlex.split(line)
    except ValueError:
        return line.split()


def command_line_problems(words: list[str], commands: dict[str, click.Command]) -> list[str]:
    """What a quoted command line names that traject does not have: a command or an option."""
    path = "traject"
    command = commands[path]
    problems: list[str] = []
    rest = list(words)
    while rest:
        word = rest.pop(0).strip("[]")
        if not word or END_OF_COMMAND.match(word):
            break
        if word in ("…", "...") or word.endswith("…"):
            continue  # "the rest", "any report", a value left out
        if word.startswith("-") and len(word) > 1 and not word[1].isdigit():
            name = word.split("=", 1)[0]
            option = next((p for p in command.params if name in (*p.opts, *p.secondary_opts)), None)
            if option is None and name not in ("-h", "--help"):
                problems.append(f"{path} has no option {name}")
            elif isinstance(option, click.Option) and not option.is_flag and "=" not in word:
                rest = rest[1:]  # its value
            continue
        if f"{path} {word}" in commands:
            path = f"{path} {word}"
            command = commands[path]
            continue
        if isinstance(command, click.Group):
            # a placeholder (COMMAND, <kind>, NAME) or a command that does not exist
            if word[0].islower():
                problems.append(f"{path} has no command {word!r}")
            break
        if path in RUNS_A_COMMAND and f"traject {word}" in commands:
            return problems + command_line_problems([word, *rest], commands)
    return problems


@needs_cli
@pytest.mark.parametrize("name", QUOTING_DOCS)
def test_the_command_lines_in_the_docs_name_existing_commands_and_options(name: str) -> None:
    # a reader copies these lines: an option that no longer exists (or never did) is exit 2
    commands = {path: command for path, command, _ in gen.command_tree()}
    text = (ROOT / name).read_text(encoding="utf-8")
    found = quoted_command_lines(text)
    assert found, f"{name} quotes no command line: is the scanner broken?"
    problems = {
        line: problems
        for line in found
        if (problems := command_line_problems(split_words(line)[1:], commands))
    }
    assert problems == {}
