"""Running a read command in-process as known at a moment, for its JSON result.

Shared by ``traject audit replay`` and the sealed reports (``traject report seal`` and
``restate``): the command is named as on the command line, without ``--as-known-at`` and
``--format``, which are added here.
"""

from __future__ import annotations

import contextlib
import io
import json
import shlex
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import click

from commands.reporting import ReportDayOption, report_day
from ledger import audit
from ledger.application import TrajectoryLedger
from ledger.errors import TrajectError
from ledger.rules import current_rules
from projections import PROJECTIONS, Views
from projections.base import not_covered

REPLAY_SETTINGS = {"ignore_unknown_options": True, "allow_interspersed_args": False}
"""For a command that takes another command's words after its own options."""

ADDED_OPTIONS = ("--as-known-at", "--format")

STALE_CHECKED = "traject.stale_checked"
"""``ctx.meta`` key, set while a command runs in-process for a replay: the read models it
answers from as they stand are not warned of (``commands.projections.warn_stale``), since the
replay checks them against its moment itself (:func:`replay`)."""


class ReplayNotCoveredError(TrajectError):
    """A read model this user may only read is behind the events recorded by the moment."""


def resolve(root: click.Context, args: Sequence[str]) -> tuple[list[str], click.Command]:
    """The command path (names) and the command that ``args`` name under the root group."""
    group = cast("click.Group", root.command)
    path: list[str] = []
    rest = list(args)
    command: click.Command = group
    while isinstance(command, click.Group):
        if not rest:
            msg = f"name a command under `{' '.join(['traject', *path])}`"
            raise click.BadParameter(msg, param_hint="'COMMAND'")
        name, found, rest = command.resolve_command(root, rest)
        if found is None or name is None:
            raise click.BadParameter(f"no command {rest[0]!r}", param_hint="'COMMAND'")
        path.append(name)
        command = found
    return path, command


def with_report_day(
    command: click.Command, args: Sequence[str], moment: datetime
) -> tuple[str, ...]:
    """``args`` with the report's day given: a ``--on`` left to its default gets the day it
    defaults to as known at ``moment`` (:func:`commands.reporting.report_day`), so that the
    command run as known at another moment (a restatement) counts the same day."""
    given = {arg.split("=", 1)[0] for arg in args}
    added: list[str] = []
    for param in command.params:
        if isinstance(param, ReportDayOption) and not given & set(param.opts):
            added += [param.opts[0], report_day(None, moment).isoformat()]
    return (*args, *added)


def check_replayable(
    path: Sequence[str], command: click.Command, args: Sequence[str], what: str
) -> None:
    """Refuse a command without --as-known-at or --format, and those options given to it.

    Raises:
        click.BadParameter: on COMMAND; ``what`` says what cannot be done ("replayed").
    """
    names = {name for param in command.params for name in getattr(param, "opts", ())}
    if not all(option in names for option in ADDED_OPTIONS):
        msg = f"`traject {' '.join(path)}` cannot be {what}: it has no --as-known-at or no --format"
        raise click.BadParameter(msg, param_hint="'COMMAND'")
    for given in args:
        option = given.split("=", 1)[0]
        if option in ADDED_OPTIONS:
            msg = f"{option} is added to the command: give it without {option}"
            raise click.BadParameter(msg, param_hint="'COMMAND'")


def run_as_known_at(root: click.Context, args: Sequence[str], moment: datetime) -> Any:
    """Run the read command ``args`` as known at ``moment`` and return its JSON result."""
    full = [*args, "--as-known-at", moment.isoformat(), "--format", "json"]
    group = cast("click.Group", root.command)
    name, first, rest = group.resolve_command(root, full)
    assert first is not None and name is not None
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), first.make_context(name, rest, parent=root) as sub:
        first.invoke(sub)
    return json.loads(buffer.getvalue())


def rule_version_of(result: Any) -> str:
    """The rule version a report's ``basis`` names; the current rule set's for a result
    without one (a timeline)."""
    basis = result.get("basis") if isinstance(result, dict) else None
    version = basis.get("rule_version") if isinstance(basis, dict) else None
    return version if isinstance(version, str) else current_rules().version


def read_models_of(result: Any) -> dict[str, int]:
    """The version of each read model a report's ``basis`` names (``caseload+inburgering``
    names two); none for a result without one."""
    basis = result.get("basis") if isinstance(result, dict) else None
    names = basis.get("projection") if isinstance(basis, dict) else None
    if not isinstance(names, str):
        return {}
    return {name: PROJECTIONS[name].version for name in sorted(names.split("+"))}


def replay(
    root: click.Context, app: TrajectoryLedger, args: Sequence[str], moment: datetime
) -> tuple[Any, dict[str, Any]]:
    """Run the read command ``args`` as known at ``moment``: its JSON result, and the replay
    block that proves it (:func:`ledger.audit.replay_block`: digest, last notification id,
    rule version, covering checkpoint).

    Raises:
        ReplayNotCoveredError: the command answered from a read model this user may not catch
            up (an auditor) that has not counted an event of a kind it reads recorded by
            ``moment``: the result would miss a fact the block says it counts.
    """
    root.meta[STALE_CHECKED] = True
    try:
        result = run_as_known_at(root, args, moment)
    finally:
        del root.meta[STALE_CHECKED]
    missing = not_covered(Views(app), moment, "a replay")
    if missing is not None:
        msg = (
            f"{missing}: nothing was replayed. Run the command as staff or the owner, or have "
            f"them run `traject {shlex.join(args)}` first (it catches the read model up)"
        )
        raise ReplayNotCoveredError(msg)
    return result, audit.replay_block(app, moment, result, rule_version_of(result))
