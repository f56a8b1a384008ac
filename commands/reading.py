"""``--purpose``: why a command shows a person's data, for the record of special-category reads.

A command that shows personal fields in clear (``traject timeline``, ``traject export
--include-personal``) gives the ledger a :class:`~ledger.special.Reading`: its own name and the
stated purpose. Special-category values (GDPR Art. 9) are shown only with a purpose, once the
ledger has recorded the read (``ledger.special``).
"""

from __future__ import annotations

from typing import Any

import click

from commands.types import ShortText
from ledger.special import Reading

READ_VIA = "traject.read_via"
"""``ctx.meta`` key: the command running a reading command in-process (``audit replay``)."""


def purpose_option() -> Any:
    """``--purpose TEXT``: why the person's data is read."""
    return click.option(
        "--purpose",
        type=ShortText("why the data is read, e.g. a case number or a request"),
        default=None,
        help="why the data is read (kept with the record of the read: no personal data). "
        "Special-category values (GDPR Art. 9, e.g. health_barrier) are shown only with a "
        "purpose, and their read is recorded first (SpecialCategoryRead)",
    )


def reading(command: str, purpose: str | None) -> Reading:
    """The reading of ``command`` (its name, e.g. ``timeline``), prefixed by the command that
    runs it in-process (``audit replay timeline``), for ``purpose``."""
    via = click.get_current_context().meta.get(READ_VIA)
    return Reading(f"{via} {command}" if via else command, purpose)
