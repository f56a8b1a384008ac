"""``traject correct`` and ``traject retract``: compensating events; nothing is ever edited."""

from __future__ import annotations

import functools
from typing import Any

import click

from commands import fields, render
from commands.context import TrajectContext, pass_traject
from commands.types import FieldValue, whole_number
from ledger.application import Recorded
from ledger.events import StreamKind

Change = str | None | list[str | None]


def _changes(pairs: tuple[tuple[str, str | None], ...]) -> dict[str, Change]:
    """FIELD=VALUE pairs as changes; a field given twice or more becomes a list."""
    changes: dict[str, Change] = {}
    for name, value in pairs:
        if name in changes:
            before = changes[name]
            changes[name] = [*(before if isinstance(before, list) else [before]), value]
        else:
            changes[name] = value
    return changes


def _recorded(traject: TrajectContext, result: Recorded, kind: StreamKind, subject: str) -> None:
    traject.emit(
        render.recorded(result, kind, subject),
        render.recorded_json(result, kind, subject),
    )
    traject.warn(result.warnings)


def _label(kind: StreamKind, subject: str) -> str:
    """The subject as the output names it: a municipality by its CBS code (GM0622)."""
    return subject.strip().upper() if kind is StreamKind.MUNICIPALITY else subject


def _envelope(kind: StreamKind, label: str) -> dict[str, Any]:
    """A fact on a municipality's stream belongs to that municipality."""
    return {"municipality": label} if kind is StreamKind.MUNICIPALITY else {}


@click.command()
@click.argument("subject", metavar="SUBJECT")
@click.argument("target_version", metavar="VERSION", type=whole_number(1))
@click.option(
    "--set",
    "changes",
    type=FieldValue(),
    multiple=True,
    required=True,
    help="a field's new value, as FIELD=VALUE (FIELD: the field or its `traject record` "
    "option, on for the date it happened), read as the field's `traject record` option "
    "reads it (1e3 as 1000, a municipality by its name); repeat for several fields (and for each "
    "item of a list field or KEY=N of a mapping); an empty VALUE clears an optional field (a "
    "list: no items)",
)
@click.option("--reason", required=True, help="why the correction is made (personal: encrypted)")
@pass_traject
def correct(
    traject: TrajectContext,
    subject: str,
    target_version: int,
    changes: tuple[tuple[str, str | None], ...],
    reason: str,
) -> None:
    """Correct fields of an earlier event of a person, a municipality or an AMIF project
    (recorded as EventCorrected).

    The original stays in the history; the timeline shows both, and every rule is checked
    again against the corrected values. A correction after which a later event would break a
    rule is refused, naming that event: correct or retract it first. A correction that changes
    nothing (each field already holds the value given) is refused, and nothing is recorded.
    SUBJECT is a person id or a unique prefix of at least 6 characters, a municipality's CBS
    code or an AMIF project's code (project:CODE where the code could also start a person
    id); VERSION is the event's version in `traject timeline SUBJECT`.

    \b
    Example:
      traject correct 3219ed75 5 --set rung=4 --reason "typo: rung 4 was assessed"
      traject correct 3219ed75 4 --set on=2024-03-05 --reason "moved in a day later"
      traject correct 3219ed75 1 --set nationality=SY --set nationality=IQ --reason "dual"
      traject correct GM0622 2 --set target=45 --reason "circulaire: target revised"
    """
    stream_id, kind = traject.subject(subject)
    label = _label(kind, subject)
    result = traject.app.correct(
        stream_id,
        target_version,
        _changes(changes),
        reason=reason,
        read=functools.partial(fields.corrected_values, person=traject.person_field),
        **_envelope(kind, label),
    )
    _recorded(traject, result, kind, label)


@click.command()
@click.argument("subject", metavar="SUBJECT")
@click.argument("target_version", metavar="VERSION", type=whole_number(1))
@click.option("--reason", required=True, help="why the event is withdrawn (personal: encrypted)")
@pass_traject
def retract(traject: TrajectContext, subject: str, target_version: int, reason: str) -> None:
    """Withdraw an earlier event of a person, a municipality or an AMIF project as if it had
    not happened (EventRetracted).

    The event stays in the history, marked as retracted; it no longer counts anywhere. A
    retraction after which a later event would break a rule (a housing without the koppeling
    it used) is refused, naming that event: correct or retract it first. SUBJECT is a person id
    or a unique prefix of at least 6 characters, a municipality's CBS code or an AMIF project's
    code (project:CODE where the code could also start a person id).

    \b
    Example:
      traject retract 3219ed75 7 --reason "recorded on the wrong person"
      traject retract GM0622 3 --reason "realisation entered twice"
    """
    stream_id, kind = traject.subject(subject)
    label = _label(kind, subject)
    result = traject.app.retract(stream_id, target_version, reason=reason, **_envelope(kind, label))
    _recorded(traject, result, kind, label)
