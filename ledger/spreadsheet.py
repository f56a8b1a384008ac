"""CSV cells as a spreadsheet opens them: text it would run as a formula is shown as text.

A spreadsheet runs a cell that begins with =, +, -, @ (or a tab or carriage return) as a
formula (OWASP, CSV injection). Staff ids, providers, channels and document references are
free text that many people type, so every CSV traject writes (the reports' ``--format csv``
and the evidence pack's CSV files) passes its cells through :func:`spreadsheet_safe`.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a CSV cell as a formula (OWASP, CSV injection)."""
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell as a spreadsheet may open it: text that a spreadsheet would run as a formula
    (a staff id, provider or channel typed as ``=HYPERLINK(…)``) gets a leading apostrophe, so
    it is shown as the text it is; a number (``-3``) is left as it is. A yes/no value is
    ``true`` / ``false``, as in the JSON and the evidence pack's CSV files."""
    if value.__class__ is bool:
        return "true" if value else "false"
    if value.__class__ is str and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value
