"""A half-year typed when recording as the reports take it: ``2026-H1`` is ``2026H1``."""

from __future__ import annotations

from cli_helpers import Traject, days_ago


def test_a_koppeling_takes_its_half_year_with_a_dash_as_a_report_takes_it(
    ledger: Traject,
) -> None:
    person = ledger.register()
    ledger.ok("record", "residence-permit-recorded", person, "--on", days_ago(20),
              "--permit-kind", "asiel_bt")  # fmt: skip

    # `traject report housing --period 2026-H1` is taken; so is the koppeling's half-year.
    ledger.ok("record", "coa-linked", person, "--on", days_ago(15),
              "--taakstelling-period", "2026-h1")  # fmt: skip

    (linked,) = [e for e in ledger.json("timeline", person)["events"] if e["kind"] == "CoaLinked"]
    assert linked["recorded"]["fields"]["taakstelling_period"] == "2026H1"


def test_a_taakstelling_and_its_correction_take_a_half_year_with_a_dash(ledger: Traject) -> None:
    ledger.ok("record", "taakstelling-set", "GM0622", "--on", days_ago(9), "--period", "2026-H2",
              "--target", "40", "--source-ref", "circulaire 2026-II")  # fmt: skip
    ledger.ok("correct", "GM0622", "1", "--set", "period=2027-H1", "--reason", "typo")

    (taakstelling, _) = ledger.json("timeline", "GM0622")["events"]
    assert taakstelling["recorded"]["fields"]["period"] == "2026H2"
    assert taakstelling["effective"]["fields"]["period"] == "2027H1"


def test_a_half_year_that_is_no_half_year_is_still_refused(ledger: Traject) -> None:
    person = ledger.register()

    result = ledger("record", "coa-linked", person, "--on", days_ago(15),
                    "--taakstelling-period", "2026-H3")  # fmt: skip

    assert result.exit_code == 2
    assert (
        "Error: Invalid value for '--taakstelling-period': '2026-H3' is not a half-year: the "
        "year, H and 1 or 2, e.g. 2024H1\n"
    ) in result.stderr
