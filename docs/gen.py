"""Generate the reference parts of docs/ from the code: events, rule parameters and the CLI.

Run ``python docs/gen.py`` (or ``make docs``) after changing the catalog, a rule set or a
command; ``python docs/gen.py --check`` exits 1 when a generated document is stale.

Each document keeps its hand-written text; only the block between the two markers below is
rewritten. ``tests/test_docs.py`` regenerates every block in memory and compares.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import re
import shlex
import sys
import tempfile
import tokenize
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin
from uuid import UUID

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
if str(ROOT) not in sys.path:  # run as a script from a source checkout
    sys.path.insert(0, str(ROOT))

import annotated_types  # noqa: E402  (after the path set-up above)
import click  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from eventsourcing.utils import get_topic  # noqa: E402
from pydantic import AwareDatetime, StringConstraints  # noqa: E402
from pydantic.fields import FieldInfo  # noqa: E402

from ledger import amif_rules, households, retention, rules, swi_rules, values  # noqa: E402
from ledger import events as ev  # noqa: E402
from ledger.catalog import CATALOG, CatalogEntry  # noqa: E402
from projections.definitions import DEFINITION_CHANGES  # noqa: E402

BEGIN = "<!-- BEGIN GENERATED: {name} (python docs/gen.py; do not edit by hand) -->"
END = "<!-- END GENERATED: {name} -->"

# The commands that write the events ``traject record`` does not offer.
OWN_COMMANDS: dict[str, str] = {
    "person-registered": "traject person register",
    "event-corrected": "traject correct",
    "event-retracted": "traject retract",
    "personal-data-shredded": "traject person shred",
    "retention-scheduled": "traject person schedule-retention",
    "legal-hold-placed": "traject person hold",  # on a project: traject project hold
    "legal-hold-released": "traject person release",  # on a project: traject project release
    "report-sealed": "traject report seal",
    "special-category-read": "traject timeline",  # and traject export --include-personal
}

# Control events have no domain date of their own: the ledger fills in the day of recording.
CONTROL_OCCURRED_ON: dict[str, str] = {
    "event-corrected": "the day the correction was made (today unless given)",
    "event-retracted": "the day the retraction was made (today unless given)",
    "personal-data-shredded": "the day the data was erased (today unless given)",
    "retention-scheduled": "the day the schedule was computed (today)",
    "legal-hold-placed": "the day the hold was placed (today unless given with --on)",
    "legal-hold-released": "the day the hold was released (today unless given with --on)",
    "report-sealed": "the day the report was sealed (today)",
    "special-category-read": "the day the values were read (today)",
}

STREAM_TITLES: dict[str, str] = {
    "person": "Person stream (one per statushouder)",
    "municipality": "Municipality stream (one per CBS gemeentecode)",
    "project": "Project stream (one per AMIF project)",
    "control": "Corrections, retractions, erasure, retention, legal holds and sealed reports",
}


# ---------------------------------------------------------------------------------------------
# Field types in words
# ---------------------------------------------------------------------------------------------

IN_YEARS = f"a year from {values.REPORT_YEARS[0]} to {values.REPORT_YEARS[1]}"
NAMED_TYPES: list[tuple[Any, str, str]] = [
    (ev.Text, "text", "1–200 characters, no NUL character"),
    (
        ev.StaffName,
        "user name",
        "1–200 characters, no NUL character; stored in lower case (`R.Jansen` is `r.jansen`)",
    ),
    (
        ev.PeriodText,
        "half-year",
        f"`YYYYH1` or `YYYYH2`, e.g. `2024H1`; {IN_YEARS}",
    ),
    (
        ev.ReportingPeriodText,
        "period",
        f"a year `YYYY`, a half-year `YYYYH1`/`YYYYH2` or a quarter `YYYYQ1`-`YYYYQ4`; {IN_YEARS}",
    ),
    (ev.Hours, "decimal", "0–10000, at most 2 decimals"),
    (ev.Amount, "decimal (euro)", "≥ 0, at most 2 decimals"),
    (ev.Sha256, "text", "64 lowercase hex digits"),
    (ev.ProjectCode, "project code", "letters, digits, `_`, `-`; at most 40"),
    (values.GemeenteCode, "CBS gemeentecode", "`GM` and 4 digits, e.g. `GM0622`"),
    (values.CountryCode, "country code", "ISO 3166-1 alpha-2; `XXA` stateless, `XXX` unknown"),
    (values.Bsn, "BSN", "9 digits passing the 11-proef"),
    (ev.ChangeValue, "value", "the corrected field's new value in its JSON form"),
]

PLAIN_TYPES: dict[Any, str] = {
    str: "text",
    int: "integer",
    bool: "boolean",
    Decimal: "decimal",
    date: "date (YYYY-MM-DD)",
    datetime: "timestamp (UTC)",
    AwareDatetime: "timestamp (UTC)",
    UUID: "UUID",
    ev.Evidence: "evidence (kind, reference, sha256)",
}


def _named(annotation: Any) -> tuple[str, str] | None:
    for alias, name, allowed in NAMED_TYPES:
        if annotation == alias:
            return name, allowed
    return None


def _constraints(metadata: list[Any]) -> str:
    """``[Ge(1), Le(6)]`` → ``1–6``; string constraints → pattern or length."""
    low = high = None
    notes: list[str] = []
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            low = item.ge
        elif isinstance(item, annotated_types.Le):
            high = item.le
        elif isinstance(item, annotated_types.MinLen) and item.min_length:
            notes.append(f"at least {item.min_length}")
        elif isinstance(item, StringConstraints):
            if item.pattern:
                notes.append(f"pattern `{item.pattern}`")
            elif item.max_length:
                notes.append(f"at most {item.max_length} characters")
    if low is not None and high is not None:
        notes.insert(0, f"{low}–{high}")
    elif low is not None:
        notes.insert(0, f"≥ {low}")
    elif high is not None:
        notes.insert(0, f"≤ {high}")
    return "; ".join(notes)


def describe_type(annotation: Any) -> tuple[str, str]:
    """A field's type in words, and its allowed values (enum members, ranges, formats)."""
    named = _named(annotation)
    if named is not None:
        return named
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin in (Union, types.UnionType):
        parts = [describe_type(a) for a in args if a is not type(None)]
        if len(parts) == 1:
            return parts[0]
        return " or ".join(p[0] for p in parts), "; ".join(p[1] for p in parts if p[1])
    if origin is Annotated:
        base, allowed = describe_type(args[0])
        extra = _constraints(list(args[1:]))
        return base, "; ".join(p for p in (allowed, extra) if p)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        inner, allowed = describe_type(args[0])
        return f"list of {inner}", allowed
    if origin is list:
        inner, allowed = describe_type(args[0])
        return f"list of {inner}", allowed
    if origin is dict:
        key, key_allowed = describe_type(args[0])
        value, value_allowed = describe_type(args[1])
        allowed = "; ".join(
            f"{what}: {text}"
            for what, text in (("key", key_allowed), ("value", value_allowed))
            if text
        )
        return f"mapping of {key} to {value}", allowed
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "choice", ", ".join(f"`{member.value}`" for member in annotation)
    if annotation in PLAIN_TYPES:
        return PLAIN_TYPES[annotation], ""
    return getattr(annotation, "__name__", str(annotation)), ""


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _default_text(info: FieldInfo) -> str:
    if info.default_factory is not None:
        return "optional"
    value = info.default
    if value is None or value == ():
        return "optional"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        value = str(value).lower()
    return f"optional (default `{value}`)"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def field_rows(cls: type[ev.TrajectEvent], names: tuple[str, ...]) -> list[str]:
    hints = _hints(cls)
    personal = cls.personal_fields()
    special = cls.special_category_fields()
    staff = cls.staff_fields()
    rows = [
        "| field | type | required | allowed values | description | personal |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in names:
        info = cls.model_fields[name]
        hint = hints[name]
        kind, allowed = describe_type(hint)
        # pydantic merges a top-level Annotated alias's constraints into the field's own
        # metadata: describe only those given with Field(...) here, the alias says the rest
        from_alias = _alias_metadata(hint)
        extra = _constraints([m for m in info.metadata if m not in from_alias])
        past = "not in the future" if name in cls.past_fields() else ""
        allowed = "; ".join(p for p in (allowed, extra, past) if p)
        if name in LEDGER_FIELDS:
            required, description = "set by the ledger", LEDGER_FIELDS[name]
        else:
            required = "required" if info.is_required() else _default_text(info)
            description = info.description or ""
        rows.append(
            f"| `{name}` | {_cell(kind)} | {required} | {_cell(allowed) or '–'} "
            f"| {_cell(description)} | {_personal_cell(cls, name, personal, special, staff)} |"
        )
    return rows


def _personal_cell(
    cls: type[ev.TrajectEvent],
    name: str,
    personal: frozenset[str],
    special: frozenset[str],
    staff: frozenset[str],
) -> str:
    if name in special:
        return "yes, special category (Art. 9)"
    if name in staff:
        return "no, staff name"
    since = cls.personal_since.get(name)
    if since is not None:
        return f"yes, from class version {since} (in clear in facts stored before)"
    return "yes" if name in personal else "no"


LEDGER_FIELDS: dict[str, str] = {
    "originator_id": "the stream: the person id, or the derived id of a municipality or project",
    "originator_version": "the event's position in its stream, from 1 (optimistic concurrency)",
    "timestamp": "when the ledger recorded the event (UTC, transaction time)",
}


def _alias_metadata(hint: Any) -> list[Any]:
    if get_origin(hint) is not Annotated:
        return []
    found: list[Any] = []
    for item in get_args(hint)[1:]:
        found.extend(item.metadata if isinstance(item, FieldInfo) else [item])
    return found


# ---------------------------------------------------------------------------------------------
# docs/events.md
# ---------------------------------------------------------------------------------------------


def _stream_of(item: CatalogEntry) -> str:
    return "control" if item.event in ev.CONTROL_EVENTS else item.stream.value


def command_of(item: CatalogEntry) -> str:
    return OWN_COMMANDS.get(item.name, f"traject record {item.name}")


def _anchor(item: CatalogEntry) -> str:
    return item.name


def _groups() -> Iterator[tuple[str, list[CatalogEntry]]]:
    for stream in STREAM_TITLES:
        entries = [item for item in CATALOG.values() if _stream_of(item) == stream]
        if entries:
            yield stream, entries


def render_events() -> str:
    out: list[str] = []
    envelope = tuple(name for name in ev.TrajectEvent.model_fields)
    out += [
        "## The envelope",
        "",
        "Every event carries these fields. `originator_id`, `originator_version` and `timestamp`",
        "are filled in by the ledger: the stream id, the event's position in its stream, and",
        "when the ledger recorded it (UTC, transaction time). The others are given with",
        "`--on`, `--municipality`, `--source`, `--idempotency-key` and `--evidence` on every",
        "recording command, and `recorded_by` comes from `--user` / `TRAJECT_USER`. Only",
        "`traject import --keep-recorded-by` takes `recorded_by` from its input; it then",
        "records `--user` as `imported_by` (see [import.md](import.md#who-recorded-a-fact)).",
        "",
        *field_rows(ev.TrajectEvent, envelope),
        "",
        "## Index",
        "",
    ]
    for stream, entries in _groups():
        out += [
            f"**{STREAM_TITLES[stream]}**",
            "",
            "| event | command | Dutch term | summary |",
            "| --- | --- | --- | --- |",
        ]
        out += [
            f"| [{item.kind}](#{_anchor(item)}) | `{command_of(item)}` | {_cell(item.dutch)} "
            f"| {_cell(item.summary)} |"
            for item in entries
        ]
        out.append("")
    for stream, entries in _groups():
        out += [f"## {STREAM_TITLES[stream]}", ""]
        for item in entries:
            out += _event_section(item)
    return "\n".join(out).rstrip() + "\n"


def _event_section(item: CatalogEntry) -> list[str]:
    cls = item.event
    doc = inspect.cleandoc(cls.__doc__ or "")
    more = doc.split("\n\n", 1)[1] if "\n\n" in doc else ""
    out = [
        f'<a id="{_anchor(item)}"></a>',
        "",
        f"### {item.kind} — `{command_of(item)}`",
        "",
        f"*{item.dutch}*",
        "",
        item.summary,
        "",
    ]
    if more:
        out += [re.sub(r"``([^`]+)``", r"`\1`", " ".join(more.split())), ""]
    occurred_on = CONTROL_OCCURRED_ON.get(item.name, item.occurred_on_means)
    out += [
        f"- **occurred_on:** {occurred_on}",
        f"- **stored topic:** `{get_topic(cls)}`",
    ]
    if cls.class_version > 1:
        out.append(f"- **class version:** {cls.class_version}")
    if item.aliases:
        aliases = ", ".join(f"`{column}` → `{name}`" for column, name in item.aliases.items())
        out.append(f"- **import column aliases:** {aliases}")
    out.append("")
    names = cls.payload_fields()
    if names:
        out += field_rows(cls, names)
    else:
        out.append("No fields beyond the envelope.")
    out.append("")
    return out


# ---------------------------------------------------------------------------------------------
# docs/rules.md
# ---------------------------------------------------------------------------------------------


def rule_source_notes(ruleset_class: type = rules.RuleSet) -> dict[str, str]:
    """The comments beside and above each field of a rule set class (RuleSet by default): its
    source in the domain reference."""
    source = inspect.getsource(ruleset_class)
    section = ""
    notes: dict[str, str] = {}
    pending_name: str | None = None
    lines = source.splitlines()
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    for token in tokens:
        if token.type == tokenize.COMMENT:
            text = token.string.lstrip("#").strip()
            line = lines[token.start[0] - 1]
            if line.strip().startswith("#"):
                section = text
            elif pending_name is not None:
                notes[pending_name] = f"{section} · this parameter: {text}" if section else text
        elif token.type == tokenize.NAME and token.start[1] == 4:
            # a class-body statement at the first indent: "name: type = value"
            pending_name = token.string
            notes.setdefault(pending_name, section)
    field_names = {f.name for f in fields(ruleset_class)}
    return {name: note for name, note in notes.items() if name in field_names}


def parameter_table(title: str, parameters: dict[str, str], notes: dict[str, str]) -> list[str]:
    """One rule set's parameters, with the source note of each."""
    out = [
        f"## {title} {parameters['version']} (valid from {parameters['valid_from']})",
        "",
        "| parameter | value | source |",
        "| --- | --- | --- |",
    ]
    out += [
        f"| `{name}` | `{value}` | {_cell(notes.get(name, '')) or '–'} |"
        for name, value in parameters.items()
        if name not in {"version", "valid_from"}
    ]
    out.append("")
    return out


def render_rules() -> str:
    notes = rule_source_notes()
    out: list[str] = []
    for ruleset in rules.RULESETS:
        out += parameter_table("Rule set", rules.rule_parameters(ruleset), notes)
    dated: list[tuple[str, type, Sequence[Any]]] = [
        ("Ontzorgen rule set", rules.OntzorgenRules, rules.ONTZORGEN_RULES),
        ("Objection rule set", rules.ObjectionRules, rules.OBJECTION_RULES),
        ("Loan-reclaim rule set", rules.LoanReclaimRules, rules.LOAN_RECLAIM_RULES),
    ]
    for title, kind, sets in dated:
        kind_notes = rule_source_notes(kind)
        for ruleset in sets:
            out += parameter_table(title, rules.rule_parameters(ruleset), kind_notes)
    retention_notes = rule_source_notes(retention.RetentionRules)
    for terms in retention.RETENTION_RULES:
        parameters = retention.retention_parameters(terms)
        out += parameter_table("Retention rule set", parameters, retention_notes)
    out += render_household_rules()
    out += render_amif_rules()
    out += render_swi_rules()
    return "\n".join(out).rstrip() + "\n"


def render_household_rules() -> list[str]:
    """The household housing rules (ledger/households.py): the sentence a refusal ends with."""
    out = [
        "## Household housing rules",
        "",
        "| rule (as a refusal ends) | what holds | source |",
        "| --- | --- | --- |",
    ]
    for item in households.HOUSEHOLD_RULES:
        out.append(f"| {_cell(item.rule)} | {_cell(item.holds)} | {_cell(item.source)} |")
    return [*out, "", _cell(households.HOUSEHOLD_RULES_NOTE), ""]


def render_swi_rules() -> list[str]:
    """The SWI variable sets (ledger/swi_rules.py): due date and the figure behind each variable."""
    out = ["## SWI variable sets (P14)", ""]
    for item in swi_rules.SWI_SETS:
        out += [
            f"### SWI variable set {item.version} (valid from {item.valid_from.isoformat()})",
            "",
            f"Source: {item.source_note}. "
            + ("Aligned with the CBS richtlijnen." if item.verified else "[U] not aligned yet."),
            "",
            f"Due: the quarter's last day + `due_weeks` = {item.due_weeks} weeks.",
            "",
            "| variable | meaning | dashboard figure (section, figure, breakdown) |",
            "| --- | --- | --- |",
        ]
        out += [
            f"| `{v.name}` | {_cell(v.wording)} | `{v.section}` · `{v.figure}`"
            f"{f' · `{v.breakdown}`' if v.breakdown else ''} |"
            for v in item.variables
        ]
        out.append("")
    return out


def render_amif_rules() -> list[str]:
    """The AMIF indicator sets (ledger/amif_rules.py): indicators, counting rules, mapping."""
    out = ["## AMIF indicator sets", ""]
    out += [f"- `{name}`: {text}" for name, text in amif_rules.COUNTING_RULES.items()]
    out += ["", f"Cost per participant (P13): {amif_rules.COST_METHOD}.", ""]
    for item in amif_rules.INDICATOR_SETS:
        out += [
            f"### {item.fund} indicator set {item.version} "
            f"(valid from {item.valid_from.isoformat()})",
            "",
            f"Source: {item.source_note}.",
            "",
            "| code | indicator | counted from | counting rule | wording |",
            "| --- | --- | --- | --- | --- |",
        ]
        out += [
            f"| `{i.code}` | {_cell(i.wording)} | {_cell(i.source)} | `{i.rule}`"
            f"{f' ({i.category})' if i.category else ''} | "
            f"{'verified' if i.verified else '[U] unverified'} |"
            for i in item.indicators
        ]
        out += ["", "Activity types mapped to a service category:", ""]
        out += ["| activity type | counts as |", "| --- | --- |"]
        out += [f"| `{k}` | `{v}` |" for k, v in sorted(item.activity_categories.items())]
        out.append("")
    return out


# ---------------------------------------------------------------------------------------------
# docs/cli.md
# ---------------------------------------------------------------------------------------------

HELP_WIDTH = 88


def cli_available() -> bool:
    return (ROOT / "cli.py").exists()


def command_tree() -> Iterator[tuple[str, Any, Any]]:
    """Every visible command as (full name, click command, its context), parents first."""
    from cli import cli  # noqa: PLC0415  (imported only once cli.py exists)

    def walk(command: click.Command, ctx: click.Context) -> Iterator[tuple[str, Any, Any]]:
        yield ctx.command_path, command, ctx
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is None or sub.hidden:
                    continue
                sub_ctx = click.Context(
                    sub,
                    info_name=name,
                    parent=ctx,
                    terminal_width=HELP_WIDTH,
                    max_content_width=HELP_WIDTH,
                )
                yield from walk(sub, sub_ctx)

    settings = {**cli.context_settings, "terminal_width": HELP_WIDTH}
    settings["max_content_width"] = HELP_WIDTH
    root = click.Context(cli, info_name="traject", **settings)
    yield from walk(cli, root)


def cli_heading(path: str) -> str:
    return f"### {path}"


def render_cli() -> str:
    if not cli_available():
        return "*The command reference is generated here once the command line exists.*\n"
    out: list[str] = []
    for path, command, ctx in command_tree():
        out += [
            cli_heading(path),
            "",
            "```text",
            command.get_help(ctx).rstrip(),
            "```",
            "",
        ]
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------
# README.md: the quick-start transcript, run for real
# ---------------------------------------------------------------------------------------------

PERSON = "{person}"
TRANSCRIPT_WIDTH = "100"


def quickstart_steps(today: date) -> list[tuple[str, list[str], int]]:
    """(comment, arguments, expected exit code) of each step; dates are days before ``today``.

    Dates are recent so that no step is flagged as recorded late.
    """

    def ago(days: int) -> str:
        return (today - timedelta(days=days)).isoformat()

    linked_on = today - timedelta(days=18)
    period = str(values.half_year_of(linked_on))
    return [
        (
            "A new ledger in ./traject.db; its master key goes to ./traject.db.key.",
            ["init", "--municipality", "GM0622"],
            0,
        ),
        (
            "A statushouder enters the ledger. Her name and BSN are stored encrypted.",
            [
                "person",
                "register",
                "--on",
                ago(20),
                "--birth-date",
                "1990-04-02",
                "--sex",
                "f",
                "--nationality",
                "SY",
                "--bsn",
                "123456782",
                "--name",
                "Amal Haddad",
            ],
            0,
        ),
        (
            "COA links her to the municipality (koppeling). A unique prefix of her id will do.",
            ["record", "coa-linked", PERSON, "--on", ago(18), "--taakstelling-period", period],
            0,
        ),
        (
            "She signs a huurcontract (tenancy) and moves in (gehuisvest).",
            [
                "record",
                "tenancy-signed",
                PERSON,
                "--on",
                ago(10),
                "--housing-kind",
                "regulier",
                "--address",
                "Voorbeeldstraat 12",
            ],
            0,
        ),
        (
            "",
            [
                "record",
                "housed",
                PERSON,
                "--on",
                ago(6),
                "--housing-kind",
                "regulier",
                "--route",
                "koppeling",
            ],
            0,
        ),
        (
            "Her regisseur (case manager) takes her on.",
            [
                "record",
                "coach-assigned",
                PERSON,
                "--on",
                ago(6),
                "--staff-id",
                "r.jansen",
                "--role",
                "regisseur",
            ],
            0,
        ),
        (
            "A second move-in on the same koppeling breaks a domain rule: refused, exit code 1.",
            [
                "record",
                "housed",
                PERSON,
                "--on",
                ago(5),
                "--housing-kind",
                "regulier",
                "--route",
                "koppeling",
            ],
            1,
        ),
        (
            "A Participatieladder assessment, and a correction of it: a new fact, not an edit.",
            [
                "record",
                "ladder-assessed",
                PERSON,
                "--on",
                ago(2),
                "--rung",
                "2",
                "--assessor",
                "r.jansen",
            ],
            0,
        ),
        (
            "",
            ["correct", PERSON, "6", "--set", "rung=3", "--reason", "typo: rung 3 was assessed"],
            0,
        ),
        (
            "Her history: originals and corrections, when they happened and when recorded.",
            ["timeline", PERSON],
            0,
        ),
        (
            "Today's caseload, from the read model (brought up to date first).",
            ["report", "caseload"],
            0,
        ),
    ]


def render_quickstart() -> str:
    if not cli_available():
        return "*The transcript is generated here once the command line exists.*\n"
    from cli import cli  # noqa: PLC0415  (imported only once cli.py exists)

    unset = ("DATABASE_URL", "DB", "KEY_FILE", "MASTER_KEY", "JSON")
    env: dict[str, str | None] = {f"TRAJECT_{name}": None for name in unset}
    env |= {"COLUMNS": TRANSCRIPT_WIDTH, "TRAJECT_USER": "r.jansen", "NO_COLOR": "1"}
    runner = CliRunner(env=env)
    out = ["```console"]
    person = ""
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        for comment, args, expected in quickstart_steps(date.today()):  # noqa: DTZ011
            args = [person if a == PERSON else a for a in args]  # noqa: PLW2901
            result = runner.invoke(cli, args)
            if result.exit_code != expected:
                msg = f"quick start: `traject {shlex.join(args)}` exited {result.exit_code}"
                raise RuntimeError(f"{msg}:\n{result.output}") from result.exception
            if not person:
                found = re.search(r"[0-9a-f]{8}-[0-9a-f-]{27}", result.output)
                person = found.group(0)[:8] if found else ""
            if comment:
                out += [""] if len(out) > 1 else []
                out.append(f"# {comment}")
            out.append(f"$ traject {shlex.join(args)}")
            out += [line.rstrip() for line in result.output.rstrip().splitlines()]
    out.append("```")
    return "\n".join(out) + "\n"


VOLATILE = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<id>"),
    (re.compile(r"\b[0-9a-f]{8}\b"), "<id>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?"), "<time>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}"), "<date>"),
    (re.compile(r"\b\d{4}H[12]\b"), "<period>"),
]


def normalise(text: str) -> str:
    """The transcript without what differs between runs: ids, times, dates."""
    for pattern, placeholder in VOLATILE:
        text = pattern.sub(placeholder, text)
    return text


# ---------------------------------------------------------------------------------------------
# Splicing into the documents
# ---------------------------------------------------------------------------------------------


def render_read_model_versions() -> str:
    """The read-model versions above 1 (projections/definitions.py), by read model."""
    out = [
        "| read model | version | released | figures | what changed |",
        "| --- | --- | --- | --- | --- |",
    ]
    for change in sorted(DEFINITION_CHANGES, key=lambda c: (c.read_model, c.version)):
        out.append(
            f"| {change.read_model} | {change.version} | {change.on.isoformat()} | "
            f"{'yes' if change.figures else 'no'} | {_cell(change.description)} |"
        )
    return "\n".join(out) + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "docs/events.md": render_events,
    "docs/rules.md": render_rules,
    "docs/projections.md": render_read_model_versions,
    "docs/cli.md": render_cli,
    "README.md": render_quickstart,
}
# documents whose generated text differs from run to run only in ids and dates
COMPARE: dict[str, Callable[[str], str]] = {"README.md": normalise}


def splice(text: str, name: str, body: str) -> str:
    """Replace the generated block called ``name`` in ``text`` with ``body``."""
    begin, end = BEGIN.format(name=name), END.format(name=name)
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        msg = f"{name}: no generated block; add the lines\n{begin}\n{end}"
        raise SystemExit(msg)
    return pattern.sub(lambda _: f"{begin}\n\n{body}\n{end}", text, count=1)


def regenerate(name: str) -> tuple[str, str]:
    """The current text of the document ``name`` (relative to the root) and what it should be."""
    current = (ROOT / name).read_text(encoding="utf-8")
    return current, splice(current, Path(name).name, GENERATORS[name]())


def is_current(name: str, current: str, fresh: str) -> bool:
    same = COMPARE.get(name, str)
    return same(current) == same(fresh)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a document is stale")
    parser.add_argument("names", nargs="*", help=f"documents to write: {', '.join(GENERATORS)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(GENERATORS))
    if unknown:
        parser.error(f"unknown document(s): {', '.join(unknown)}")
    stale = []
    for name in args.names or GENERATORS:
        current, fresh = regenerate(name)
        if is_current(name, current, fresh):
            continue
        if args.check:
            stale.append(name)
        else:
            (ROOT / name).write_text(fresh, encoding="utf-8")
            print(f"wrote {name}")
    if stale:
        print(f"stale: {', '.join(stale)}; run `make docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
