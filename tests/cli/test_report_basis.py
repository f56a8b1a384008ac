"""The ``basis`` of a report says whether its read model was caught up (SQLite: always)."""

from __future__ import annotations

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
