"""``traject timeline``: a person's history, optionally as the ledger knew it at a past moment."""

from __future__ import annotations

from datetime import datetime

import click

from commands import render, tables
from commands.context import TrajectContext, pass_traject
from commands.reading import purpose_option, reading
from commands.reporting import table_or_json_option
from commands.types import MOMENT_FORMS, KnownAtMoment
from ledger import events as ev
from ledger.seals import check_seals


@click.command()
@click.argument("subject", metavar="SUBJECT")
@click.option(
    "--as-known-at",
    type=KnownAtMoment(),
    help=f"show only what was recorded up to this moment (not in the future): {MOMENT_FORMS}",
)
@table_or_json_option()
@purpose_option()
@pass_traject
def timeline(
    traject: TrajectContext,
    subject: str,
    as_known_at: datetime | None,
    output: str | None,
    purpose: str | None,
) -> None:
    """Show every event of a person, a municipality or an AMIF project: when it happened, when
    and by whom it was recorded, and whether it was later corrected or retracted.

    Personal fields are shown decrypted. Special-category values (GDPR Art. 9, e.g.
    health_barrier) are shown only with --purpose, and only once the read is recorded on the
    person's stream (SpecialCategoryRead: who, when, which fields, why); without a purpose, or
    when the read cannot be recorded (a read-only database user), they read "(special category:
    not shown)" and a warning says why. SUBJECT is a person id or a unique prefix of at least 6
    characters, a municipality's CBS code (its taakstelling, realisation and sealed reports) or
    an AMIF project's code (project:CODE where the code could also start a person id). The
    JSON form is stable (see commands/render.py). A sealed report whose stored figures do not
    match its digest (altered after it was recorded) is named on stderr, and the command
    exits with status 1.

    \b
    Example:
      traject timeline 3219ed75
      traject timeline 3219ed75 --as-known-at 2024-06-02T12:00 --format json
      traject timeline 3219ed75 --purpose "bezwaar BZW-2026-014"
      traject timeline GM0622
    """
    stream_id, _ = traject.subject(subject)
    history = traject.app.timeline(
        stream_id, as_known_at=as_known_at, reading=reading("timeline", purpose)
    )
    as_json = None if output is None else output == "json"
    traject.emit(tables.timeline_table(history), render.timeline_json(history), as_json=as_json)
    traject.note(render.disclosure_notes(history.disclosure, stream_id))
    traject.warn(render.disclosure_warnings(history.disclosure))
    check_seals(e.event for e in history.entries if isinstance(e.event, ev.ReportSealed))
