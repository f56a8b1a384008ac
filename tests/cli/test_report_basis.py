"""The ``basis`` of a report says whether its read model was caught up (SQLite: always)."""

from __future__ import annotations

import json

from cli_helpers import Traject, days_ago


def test_a_writer_always_catches_up_and_says_so(ledger: Traject) -> None:
    person = ledger.linked_person()
    on = days_ago(5)
    period = f"{on[:4]}H{1 if int(on[5:7]) <= 6 else 2}"
    ledger.ok("record", "outflow-started", person, "--on", on, "--outflow-type", "onderwijs")
    first = ledger.json("report", "outflow", "--period", period)
    ledger.register()  # a later event: the next report catches up to it
    second = ledger.json("report", "outflow", "--period", period)
    for report in (first, second):
        assert (report["basis"]["caught_up"], report["basis"]["lag"]) == (True, 0)
    # person registered, permit, koppeling, outflow; then one more registration
    assert (first["basis"]["position"], second["basis"]["position"]) == (4, 5)
    result = ledger("report", "outflow", "--period", period)
    assert result.exit_code == 0
    assert "not caught up" not in result.stderr


def test_a_period_that_has_not_begun_is_printed_with_a_note(ledger: Traject) -> None:
    person = ledger.linked_person()
    this_year = int(days_ago(0)[:4])
    ledger.ok("record", "outflow-started", person, "--on", days_ago(1), "--outflow-type",
              "onderwijs")  # fmt: skip
    later = ledger("report", "outflow", "--period", str(this_year + 1), "--format", "json")
    assert later.exit_code == 0
    assert f"Note: the period {this_year + 1} begins on {this_year + 1}-01-01, after today" in (
        later.stderr
    )
    assert json.loads(later.stdout)["period"] == str(this_year + 1)
    quarter = ledger("report", "dashboard", "--quarter", f"{this_year + 1}Q2")
    assert f"the period {this_year + 1}Q2 begins on {this_year + 1}-04-01" in quarter.stderr
    # a period under way, or past, has no note
    for period in (str(this_year), f"{this_year - 1}H2"):
        result = ledger("report", "outflow", "--period", period)
        assert result.exit_code == 0
        assert "Note:" not in result.stderr
