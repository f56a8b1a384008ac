"""``traject record <kind>``: one subcommand per recordable event, generated from the catalog."""

from __future__ import annotations

from functools import cache
from typing import Any

import click

from commands import fields, render
from commands.context import TrajectContext, pass_traject
from commands.types import MunicipalityType, PatternType, pattern_of
from ledger.catalog import CATALOG, CatalogEntry
from ledger.events import ProjectCode, StreamKind

SUBJECTS: dict[StreamKind, tuple[str, click.ParamType[Any], str, str]] = {
    # stream: (metavar, type, example, what the help says about it)
    StreamKind.PERSON: (
        "PERSON",
        click.STRING,
        "3219ed75",
        "PERSON is a person id, or a unique prefix of it of at least 6 characters.",
    ),
    StreamKind.MUNICIPALITY: (
        "MUNICIPALITY",
        MunicipalityType(),
        "GM0622",
        "MUNICIPALITY is the municipality whose fact this is: its CBS code (GM0622) or its "
        "name (Vlaardingen).",
    ),
    StreamKind.PROJECT: (
        "PROJECT",
        PatternType(pattern_of(ProjectCode)),
        "MWP",
        "PROJECT is the AMIF project's code.",
    ),
}


def record_command(entry: CatalogEntry) -> click.Command:
    """The ``traject record <name>`` command of one catalog entry."""
    metavar, subject_type, sample, about = SUBJECTS[entry.stream]
    skip = {"project_code"} if entry.stream is StreamKind.PROJECT else set()

    @pass_traject
    def callback(traject: TrajectContext, /, subject: str, **params: Any) -> None:
        given = fields.event_fields(entry, params)
        for name in fields.person_fields(entry):
            if name in given:
                given[name] = traject.person_field(entry.kind, name, given[name])
        target = traject.person(subject) if entry.stream is StreamKind.PERSON else subject
        result = traject.app.record_on(target, entry.event, **given)
        traject.emit(
            render.recorded(result, entry.stream, subject),
            render.recorded_json(result, entry.stream, subject),
        )
        traject.warn(result.warnings)

    example = fields.example(entry, sample, skip=skip)
    return fields.FactCommand(
        entry.name,
        callback=callback,
        params=[
            click.Argument(["subject"], type=subject_type, metavar=metavar),
            *fields.event_options(entry, skip=skip),
        ],
        help=(
            f"{entry.summary}\n\nDutch: {entry.dutch}. --on is the date it happened "
            f"({entry.occurred_on_means}). {about}\n\n\b\nExample:\n  {example}"
        ),
        short_help=entry.summary,
    )


class CatalogGroup(click.Group):
    """Builds a ``record`` subcommand only when it is asked for: one run needs one of ~60."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, entry in CATALOG.items() if entry.recordable)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = CATALOG.get(cmd_name)
        return _command(cmd_name) if entry is not None and entry.recordable else None


@cache
def _command(name: str) -> click.Command:
    return record_command(CATALOG[name])


@click.group(name="record", cls=CatalogGroup)
def group() -> None:
    """Record a fact about a person, a municipality or an AMIF project.

    Each kind of fact has its own subcommand with its own options; see
    `traject record KIND --help`.

    \b
    Example:
      traject record housed 3219ed75 --on 2024-03-04 --housing-kind regulier --route koppeling
      traject record ladder-assessed 3219ed75 --on 2024-06-01 --rung 3 --assessor r.jansen
      traject record taakstelling-set GM0622 --on 2024-01-05 --period 2024H1 --target 40 \\
        --source-ref "circulaire 2024-I"
    """
