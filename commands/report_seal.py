"""``traject report seal``, ``sealed`` and ``restate``: reports sealed as delivered, and their
figures restated beside the sealed ones (docs/reports.md, "Sealed reports and restatements").

The commands register themselves on the ``report`` group of ``commands.report``. A report is
run in-process as known at a moment, as ``traject audit replay`` runs it (``commands.replaying``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import Any

import click
import orjson
from rich import box
from rich.markup import escape
from rich.table import Table

from commands.context import TrajectContext, pass_traject
from commands.projections import emit_report, format_option
from commands.replaying import (
    REPLAY_SETTINGS,
    check_replayable,
    read_models_of,
    replay,
    resolve,
    with_report_day,
)
from commands.report import group
from commands.reporting import municipality_option
from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.seals import Change, Comparison, check_seals, compare, without_basis
from projections.definitions import DefinitionChange, changes_between, changes_since

SEAL_COMMANDS = frozenset({"seal", "sealed", "restate"})
PERSON_LEVEL = frozenset({"caseload", "find-candidates", "inburgering", "timeline"})
"""Read commands whose results list persons (caseload, candidates, the inburgering risk list,
a timeline): never sealed, a sealed report is a delivered figure set without personal data."""


def _municipality(app: TrajectoryLedger, given: str | None) -> str:
    code = given or app.default_municipality
    if code is None:
        msg = "required: this ledger has no default municipality (traject init --municipality)"
        raise click.BadParameter(msg, param_hint="'--municipality'")
    return code


def _report_command(root: click.Context, command: Sequence[str]) -> tuple[list[str], click.Command]:
    """The path of the aggregate report ``command`` names, and that command; refuses anything
    else."""
    path, target = resolve(root, command)
    shown = f"`traject {' '.join(path)}`"
    if path[-1] in PERSON_LEVEL:
        msg = (
            f"{shown} lists persons: a sealed report is a delivered figure set and must not "
            "carry personal data; seal an aggregate report (outflow, housing, ladder, …)"
        )
        raise click.BadParameter(msg, param_hint="'COMMAND'")
    if path[0] != "report" or path[-1] in SEAL_COMMANDS:
        msg = f"{shown} is not a report: seal one of the aggregate `traject report …` commands"
        raise click.BadParameter(msg, param_hint="'COMMAND'")
    check_replayable(path, target, command, "sealed")
    return path, target


def seal_json(seal: ev.ReportSealed) -> dict[str, Any]:
    return {
        "municipality": seal.municipality,
        "seal": seal.originator_version,
        "label": seal.label,
        "command": list(seal.command),
        "sealed_at": seal.timestamp.astimezone(UTC).isoformat(),
        "as_known_at": seal.as_known_at.astimezone(UTC).isoformat(),
        "last_notification_id": seal.last_notification_id,
        "rule_version": seal.rule_version,
        "digest": seal.digest,
        "read_models": seal.read_models,
    }


def _label(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--label``: not blank (the model refuses one too, but only after the report ran)."""
    del ctx, param
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty: name what was delivered and to whom")
    return value


@group.command("seal", context_settings=REPLAY_SETTINGS)
@click.option(
    "--label",
    required=True,
    callback=_label,
    help='what is delivered, e.g. "Q2 dashboard, raad 2024-07-10" (a label may be reused: '
    "each seal is a new one)",
)
@municipality_option("the municipality whose stream holds the seal [default: the ledger's]")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@pass_traject
def seal_command(
    traject: TrajectContext, label: str, municipality: str | None, command: tuple[str, ...]
) -> None:
    """Run an aggregate report COMMAND as known now and seal its figures in the ledger.

    COMMAND is a `traject report …` command that takes --as-known-at and --format (give it
    without them); person-level lists (caseload, inburgering, find-candidates) are refused.
    A --on left to its default is sealed as given: the day of the seal, so that a
    restatement counts the same day.
    Appends a ReportSealed fact to the municipality's stream: the command, the label, the
    moment, the last event, the rule version, the versions of the read models it counted
    from, the SHA-256 of the result as canonical JSON and the result itself.
    `traject report restate` shows later corrections beside it.

    \b
    Example:
      traject report seal --label "Q2 dashboard, raad 2024-07-10" report outflow --period 2024H1
    """
    app = traject.app
    code = _municipality(app, municipality)
    root = click.get_current_context().find_root()
    path, target = _report_command(root, command)
    moment = datetime.now(UTC)
    command = with_report_day(target, command, moment)  # a restatement counts the same day
    result, block = replay(root, app, command, moment)
    version = block["rule_version"]
    earlier = [s.originator_version for s in app.sealed_reports(code) if s.label == label.strip()]
    recorded = app.seal_report(
        code,
        label=label,
        command=command,
        as_known_at=moment,
        last_notification_id=block["last_notification_id"],
        rule_version=version,
        result=result,
        read_models=read_models_of(result),
    )
    if earlier:
        seals = ", ".join(f"v{v}" for v in earlier)
        traject.warn([f"label {label.strip()!r} was sealed before ({seals}): this is a new seal"])
    seal = app.sealed_report(code, recorded.version)
    text = (
        f"Sealed {' '.join(path)} as v{seal.originator_version} on {code}: {seal.label!r}, "
        f"digest {seal.digest[:16]}, rules {seal.rule_version}, read models "
        f"{versions_text(seal.read_models)}, events up to {seal.last_notification_id}"
    )
    traject.emit(text, seal_json(seal))


@group.command("sealed")
@municipality_option("the municipality whose seals to list [default: the ledger's]")
@format_option()
@pass_traject
def sealed_command(traject: TrajectContext, municipality: str | None, output: str | None) -> None:
    """List the reports sealed on a municipality's stream, oldest first.

    Each seal's figures are checked against its digest: a seal altered after it was recorded
    is named on stderr, and the command exits with status 1. The CSV has a row per seal (the
    command and the read models as text, the read models "-" when the seal did not record
    them).

    \b
    Example:
      traject report sealed --municipality GM0622
    """
    app = traject.reader
    code = _municipality(app, municipality)
    sealed = app.sealed_reports(code)
    seals = [seal_json(seal) for seal in sealed]
    data = {"municipality": code, "seals": seals}
    rows = [
        s | {"command": " ".join(s["command"]), "read_models": versions_text(s["read_models"])}
        for s in seals
    ]
    emit_report(traject, output, lambda: [sealed_table(code, seals)], data, rows, columns=SEALED)
    check_seals(sealed)


SEALED = (
    *("municipality", "seal", "label", "command", "sealed_at", "as_known_at"),
    *("last_notification_id", "rule_version", "digest", "read_models"),
)
"""The columns of `report sealed --format csv`: the keys of each seal's JSON."""


def sealed_table(code: str, seals: list[dict[str, Any]]) -> Table:
    table = Table(title=f"Sealed reports of {code}", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("seal", "label", "command", "sealed at", "digest", "rules", "read models"):
        # the command and the read models (one a line) wrap, folding a long word rather than
        # cutting it; the label, moment and digest are read whole
        wraps = name in ("command", "read models")
        table.add_column(
            name,
            justify="right" if name == "seal" else "left",
            no_wrap=not wraps,
            overflow="fold",
        )
    for s in seals:
        table.add_row(
            f"v{s['seal']}",
            escape(s["label"]),
            escape(" ".join(s["command"])),
            s["sealed_at"][:19].replace("T", " "),
            s["digest"][:16],
            s["rule_version"],
            versions_text(s["read_models"], "\n"),
        )
    table.caption = f"{len(seals)} seal(s); `traject report restate SEAL` restates one"
    return table


def versions_text(read_models: dict[str, int] | None, between: str = ", ") -> str:
    """``outflow v4``; ``-`` for a seal that did not record them."""
    if read_models is None:
        return "-"
    return between.join(f"{name} v{version}" for name, version in sorted(read_models.items()))


class SealType(click.ParamType[int]):
    """A seal by its version in the municipality's stream: 7 or v7."""

    name = "seal"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        text = str(value).strip().removeprefix("v")
        if not text.isdigit() or int(text) < 1:
            self.fail(f"{value!r} is not a seal: give its version, e.g. v7", param, ctx)
        return int(text)


@group.command("restate")
@click.argument("seal", type=SealType())
@municipality_option("the municipality whose stream holds the seal [default: the ledger's]")
@format_option()
@pass_traject
def restate_command(
    traject: TrajectContext, seal: int, municipality: str | None, output: str | None
) -> None:
    """Re-run a sealed report as known now and show every figure that changed beside the
    sealed one; also check that the report as known at the seal's moment gives the sealed
    digest again ("reproducible"). The seal is never changed.

    A seal whose stored figures do not match its own digest was altered after it was
    recorded: it is refused (exit 1), and its figures are not shown.

    SEAL is the seal's version (as `traject report sealed` lists it).

    \b
    Example:
      traject report restate v7
      traject report restate v7 --format csv
    """
    app = traject.reader
    code = _municipality(app, municipality)
    sealed = app.sealed_report(code, seal)
    root = click.get_current_context().find_root()
    # a seal made before the day was pinned in its command: the day it counted then
    command = with_report_day(resolve(root, sealed.command)[1], sealed.command, sealed.as_known_at)
    _, then_block = replay(root, app, command, sealed.as_known_at)
    current, now_block = replay(root, app, command, datetime.now(UTC))
    original = sealed_result(sealed)
    comparison = compare(original, current)
    data = restatement_json(
        sealed,
        then=then_block,
        now=now_block,
        comparison=comparison,
        original=original,
        current=current,
    ) | {"read_models": read_models_json(sealed, read_models_of(current))}
    rows = [asdict(change) for change in comparison.changes]
    columns = [field.name for field in fields(Change)]
    emit_report(
        traject, output, lambda: restatement_tables(data, comparison), data, rows, columns=columns
    )


def sealed_result(seal: ev.ReportSealed) -> Any:
    return orjson.loads(seal.result_json)


def restatement_json(
    seal: ev.ReportSealed,
    *,
    then: dict[str, Any],
    now: dict[str, Any],
    comparison: Comparison,
    original: Any,
    current: Any,
) -> dict[str, Any]:
    """The JSON of `traject report restate` (docs/reports.md)."""
    reproduced = then["digest"] == seal.digest
    return {
        "seal": seal_json(seal),
        "reproducible": {
            "ok": reproduced,
            "digest": then["digest"],
            "rule_version": then["rule_version"],
            "rules_changed": then["rule_version"] != seal.rule_version,
        },
        "restated": {
            "as_known_at": now["as_known_at"],
            "last_notification_id": now["last_notification_id"],
            "rule_version": now["rule_version"],
            "digest": now["digest"],
        },
        "changed": [asdict(change) for change in comparison.changes],
        "unchanged": comparison.unchanged,
        "original": original,
        "result": without_basis(current),
    }


def _change_json(change: DefinitionChange) -> dict[str, Any]:
    return {
        "read_model": change.read_model,
        "version": change.version,
        "on": change.on.isoformat(),
        "figures": change.figures,
        "description": change.description,
    }


def read_models_json(seal: ev.ReportSealed, now: dict[str, int]) -> dict[str, Any]:
    """The ``read_models`` of `traject report restate` (docs/reports.md): the versions sealed
    and now, and the definition changes between them; for a seal that did not record its
    versions, the changes of the figures released on or after the day it ran (possible
    causes)."""
    recorded = seal.read_models is not None
    if seal.read_models is not None:
        changes = changes_between(seal.read_models, now)
    else:
        changes = changes_since(now, seal.as_known_at.astimezone(UTC).date())
    return {
        "sealed": seal.read_models,
        "now": now,
        "recorded": recorded,
        "changes": [_change_json(change) for change in changes],
    }


def read_models_text(data: dict[str, Any], reproduced: bool) -> str:
    """What the restatement says of the read models' definitions: the changes since the seal
    (with recorded versions) or, for a "no" of a seal without them, the possible causes."""
    info, rules_changed = data["read_models"], data["reproducible"]["rules_changed"]
    changes = info["changes"]
    if not info["recorded"]:
        if reproduced or not changes:
            return ""
        causes = "; ".join(
            f"{c['read_model']} v{c['version']} ({c['on']}): {c['description']}" for c in changes
        )
        return (
            "the seal did not record its read models' versions; definition changes released "
            f"since it ran, possible causes: {causes}"
        )
    if not changes:
        if reproduced or rules_changed:
            return ""
        return (
            "same rules and read models: events recorded at or before the seal's moment were "
            "added later, or the stored events were altered; run `traject audit verify`"
        )
    parts = []
    for name, sealed in info["sealed"].items():
        own = [c for c in changes if c["read_model"] == name]
        if not own:
            continue
        what = (
            own[0]["description"]
            if len(own) == 1
            else "; ".join(f"v{c['version']}: {c['description']}" for c in own)
        )
        parts.append(f"read model {name} v{sealed} sealed, v{info['now'][name]} now: {what}")
    return "; ".join(parts)


def _cell(value: Any) -> str:
    return "-" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def restatement_tables(data: dict[str, Any], comparison: Comparison) -> list[Any]:
    seal, check, restated = data["seal"], data["reproducible"], data["restated"]
    reproducible = "yes" if check["ok"] else "no"
    if check["rules_changed"]:
        reproducible += f" (rules {check['rule_version']} now, {seal['rule_version']} sealed)"
    title = (
        f"Restatement of v{seal['seal']} {seal['label']!r} ({' '.join(seal['command'])}), "
        f"sealed as known at {seal['as_known_at']}; restated as known at "
        f"{restated['as_known_at']}"
    )
    table = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("figure", "sealed", "restated"):
        table.add_column(name, justify="left" if name == "figure" else "right")
    for change in comparison.changes:
        table.add_row(
            escape(change.path), escape(_cell(change.original)), escape(_cell(change.restated))
        )
    table.caption = (
        f"{len(comparison.changes)} figure(s) changed, {comparison.unchanged} unchanged; "
        f"reproducible: {reproducible} (digest {seal['digest'][:16]}); restated digest "
        f"{restated['digest'][:16]}, rules {restated['rule_version']}, events up to "
        f"{restated['last_notification_id']}"
    )
    definitions = read_models_text(data, check["ok"])
    if definitions:
        table.caption += f"\n{escape(definitions)}"
    return [table]
