"""Legal holds: ``traject person hold|release`` and ``traject project hold|release``.

A hold (an audit, an objection procedure, litigation) suspends erasure: ``traject person
shred`` is refused while a hold on the person, or on an AMIF project they took part in, is open.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

import click

from commands import render
from commands.context import TrajectContext, pass_traject
from commands.types import IsoDate
from ledger.events import StreamKind

F = TypeVar("F", bound=Callable[..., Any])


def hold_options(verb: str) -> Callable[[F], F]:
    """``--ref``, ``--reason`` and ``--on``, shared by every hold command."""

    def decorate(command: F) -> F:
        for option in reversed(
            (
                click.option(
                    "--ref",
                    "hold_ref",
                    required=True,
                    help="reference of the hold: the audit, objection or case number",
                ),
                click.option(
                    "--reason",
                    required=True,
                    help=f"why the hold is {verb} (kept after erasure: no personal data)",
                ),
                click.option(
                    "--on",
                    "occurred_on",
                    type=IsoDate(),
                    help=f"the day the hold is {verb} [default: today]",
                ),
            )
        ):
            command = option(command)
        return command

    return decorate


def write_hold(
    traject: TrajectContext,
    subject: UUID | str,
    *,
    release: bool,
    hold_ref: str,
    reason: str,
    occurred_on: date | None,
) -> None:
    """Place or release a hold on a person (a person id) or a project (its code); print it."""
    write = traject.app.release_hold if release else traject.app.place_hold
    result = write(subject, hold_ref=hold_ref, reason=reason, occurred_on=occurred_on)
    stream = StreamKind.PERSON if isinstance(subject, UUID) else StreamKind.PROJECT
    traject.emit(
        render.recorded(result, stream, str(subject)),
        render.recorded_json(result, stream, str(subject)),
    )


@click.group(name="project")
def project_group() -> None:
    """Legal holds on an AMIF project: they suspend the erasure of all its participants."""


@project_group.command(name="hold")
@click.argument("code")
@hold_options("placed")
@pass_traject
def project_hold(traject: TrajectContext, code: str, **options: Any) -> None:
    """Place a legal hold on every participant of an AMIF project (LegalHoldPlaced).

    An audit of the project, or a substantiated request of the European Commission, interrupts
    the CPR Art. 82 retention: no participant's personal data can be erased until the hold is
    released. CODE is the project code.

    \b
    Example:
      traject project hold MWP --ref ADR-2026-07 --reason "ADR audit of declaration 2025"
    """
    write_hold(traject, code, release=False, **options)


@project_group.command(name="release")
@click.argument("code")
@hold_options("released")
@pass_traject
def project_release(traject: TrajectContext, code: str, **options: Any) -> None:
    """Release an open legal hold on an AMIF project (LegalHoldReleased).

    The release is not dated (--on) before the day the hold was placed.

    \b
    Example:
      traject project release MWP --ref ADR-2026-07 --reason "audit closed without findings"
    """
    write_hold(traject, code, release=True, **options)
