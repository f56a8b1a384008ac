"""`traject record <kind>`: options generated from the catalog, one ledger call, one line out."""

from __future__ import annotations

import hashlib
from typing import Any

from cli_helpers import Traject, days_ago

DIGEST = hashlib.sha256(b"an invented tenancy contract").hexdigest()


def effective(ledger: Traject, person: str, version: int) -> dict[str, Any]:
    """The fields of one event of a person, corrections applied (from the JSON timeline)."""
    events = ledger.json("timeline", person)["events"]
    return events[version - 1]["effective"]


def test_a_person_path_is_recorded_fact_by_fact(ledger: Traject) -> None:
    person = ledger.linked_person()

    result = ledger.ok(
        "record",
        "tenancy-signed",
        person[:8],
        "--on",
        days_ago(12),
        "--housing-kind",
        "regulier",
        "--landlord",
        "Woonstichting Voorbeeld",
        "--address",
        "Voorbeeldstraat 12",
        "--evidence",
        f"contract:ZK-2024-17:{DIGEST}",
    )
    assert result.stdout == f"Recorded TenancySigned as version 4 of {person}\n"
    assert result.stderr == ""

    ledger.ok(
        "record",
        "housed",
        person[:8],
        "--on",
        days_ago(10),
        "--housing-kind",
        "regulier",
        "--route",
        "koppeling",
    )
    ledger.ok("record", "brp-registered", person, "--on", days_ago(9))
    ledger.ok(
        "record",
        "ladder-assessed",
        person,
        "--on",
        days_ago(1),
        "--rung",
        "3",
        "--assessor",
        "r.jansen",
    )

    events = ledger.json("timeline", person)["events"]
    assert [e["kind"] for e in events] == [
        "PersonRegistered",
        "ResidencePermitRecorded",
        "CoaLinked",
        "TenancySigned",
        "Housed",
        "BrpRegistered",
        "LadderAssessed",
    ]
    tenancy = events[3]["recorded"]
    assert tenancy["fields"]["address"] == "Voorbeeldstraat 12"
    assert tenancy["evidence"] == [
        {"kind": "contract", "reference": "ZK-2024-17", "sha256": DIGEST}
    ]
    housed = events[4]["recorded"]
    # derived by the rule set, not given on the command line
    assert housed["fields"]["counts_for_taakstelling"] is True
    assert housed["municipality"] == "GM0622"
    assert events[6]["recorded_by"] == "r.jansen"
    assert events[6]["source"] == "cli"


def test_record_reports_as_json(ledger: Traject) -> None:
    person = ledger.register()

    data = ledger.json(
        "record",
        "ladder-assessed",
        person[:8],
        "--on",
        days_ago(1),
        "--rung",
        "2",
        "--assessor",
        "r.jansen",
    )

    assert data == {
        "stream": "person",
        "subject": person,
        "stream_id": person,
        "kind": "LadderAssessed",
        "version": 2,
        "duplicate": False,
        "warnings": [],
    }


def test_user_source_and_municipality_come_from_the_options(ledger: Traject) -> None:
    person = ledger.register()

    ledger.ok(
        "--user",
        "a.devries",
        "record",
        "help-request-recorded",
        person,
        "--on",
        days_ago(2),
        "--category",
        "wonen",
        "--resolved",
        "--source",
        "provider",
        "--municipality",
        "gm0599",
    )

    event = ledger.json("timeline", person)["events"][1]
    assert event["recorded_by"] == "a.devries"
    assert event["source"] == "provider"
    assert event["recorded"]["municipality"] == "GM0599"
    assert event["recorded"]["fields"]["resolved"] is True
    assert event["recorded"]["fields"]["channel"] == "spreekuur"  # the model's default


def test_repeatable_options_fill_tuple_fields(ledger: Traject) -> None:
    person = ledger.register()

    ledger.ok(
        "record",
        "family-reunification-applied",
        person,
        "--on",
        days_ago(3),
        "--members",
        "partner",
        "--members",
        "kind",
        "--members",
        "kind",
    )

    fields = effective(ledger, person, 2)["fields"]
    assert fields["members"] == ["partner", "kind", "kind"]


def test_amounts_accept_a_decimal_comma(ledger: Traject) -> None:
    person = ledger.register()

    ledger.ok(
        "record",
        "benefit-granted",
        person,
        "--on",
        days_ago(3),
        "--benefit-kind",
        "algemene_bijstand",
        "--amount",
        "1234,56",
    )

    assert effective(ledger, person, 2)["fields"]["amount"] == "1234.56"


def test_a_number_in_exponent_notation_is_kept_as_its_plain_decimal(ledger: Traject) -> None:
    person = ledger.register()
    ledger.ok("record", "pre-integration-recorded", person, "--on", days_ago(3), "--hours", "1e3")
    ledger.ok("record", "benefit-granted", person, "--on", days_ago(3),
              "--benefit-kind", "bijzondere", "--amount", "2.5E2")  # fmt: skip

    assert effective(ledger, person, 2)["fields"]["hours"] == "1000"
    assert effective(ledger, person, 3)["fields"]["amount"] == "250"
    result = ledger("record", "benefit-granted", person, "--on", days_ago(3),
                    "--benefit-kind", "bijzondere", "--amount", "1e40")  # fmt: skip
    assert result.exit_code == 2
    assert "Invalid value for '--amount': '1e40' has more digits than a number here takes" in (
        result.stderr
    )


def test_municipality_facts_go_to_the_municipality_stream(ledger: Traject) -> None:
    result = ledger.ok(
        "record",
        "taakstelling-set",
        "gm0622",
        "--on",
        days_ago(30),
        "--period",
        "2024H1",
        "--target",
        "40",
        "--source-ref",
        "circulaire 2024-I",
    )

    assert result.stdout == "Recorded TaakstellingSet as version 1 of municipality GM0622\n"
    data = ledger.json(
        "record",
        "taakstelling-corrected",
        "GM0622",
        "--on",
        days_ago(2),
        "--period",
        "2024H1",
        "--target",
        "42",
        "--source-ref",
        "circulaire 2024-II",
    )
    assert (data["stream"], data["subject"], data["version"]) == ("municipality", "GM0622", 2)


def test_a_project_is_registered_with_targets_per_municipality(ledger: Traject) -> None:
    result = ledger.ok(
        "record",
        "project-registered",
        "MWP",
        "--on",
        days_ago(40),
        "--title",
        "Meedoen werkt",
        "--fund",
        "AMIF_2127",
        "--beneficiary",
        "Gemeente Voorbeeld",
        "--beneficiary-kind",
        "gemeente",
        "--grant-ref",
        "AMIF-2024-001",
        "--eligibility-from",
        "2024-01-01",
        "--eligibility-to",
        "2027-12-31",
        "--cofin-rate",
        "0.75",
        "--target-total",
        "100",
        "--targets-by-municipality",
        "GM0622=40",
        "--targets-by-municipality",
        "gm0599=25",
        "--partner-municipalities",
        "GM0599",
    )

    assert result.stdout == "Recorded ProjectRegistered as version 1 of project MWP\n"
    # a late recording is flagged on persons only; the project is recorded without warnings
    assert result.stderr == ""


def test_a_late_recording_is_recorded_with_a_warning(ledger: Traject) -> None:
    person = ledger.register()
    before = ledger.event_count()

    result = ledger(
        "record",
        "ladder-assessed",
        person,
        "--on",
        days_ago(45),
        "--rung",
        "2",
        "--assessor",
        "r.jansen",
    )

    assert result.exit_code == 0
    assert result.stdout == f"Recorded LadderAssessed as version 2 of {person}\n"
    assert result.stderr == "Warning: recorded 45 days after it happened (flagged above 30 days)\n"
    assert ledger.event_count() == before + 1
    data = ledger.json(
        "record",
        "ladder-assessed",
        person,
        "--on",
        days_ago(40),
        "--rung",
        "3",
        "--assessor",
        "r.jansen",
    )
    assert data["warnings"] == ["recorded 40 days after it happened (flagged above 30 days)"]


def test_an_idempotency_key_records_once(ledger: Traject) -> None:
    person = ledger.register()
    args = (
        "record",
        "ladder-assessed",
        person,
        "--on",
        days_ago(1),
        "--rung",
        "2",
        "--assessor",
        "r.jansen",
        "--idempotency-key",
        "import-2024-06-01-row-17",
    )
    ledger.ok(*args)
    before = ledger.event_count()

    again = ledger.ok(*args)

    assert again.stdout == (
        f"Already recorded: LadderAssessed as version 2 of {person} "
        "(this idempotency key was seen before; nothing new was recorded)\n"
    )
    assert ledger.event_count() == before
