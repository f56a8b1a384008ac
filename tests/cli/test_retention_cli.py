"""`traject person retention | hold | release | schedule-retention | shred` and `traject project
hold | release`, on a SQLite file and on PostgreSQL.

Dates are computed from today: the ledger refuses dates in the future.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cli_helpers import Traject, days_ago
from click.testing import Result

THIS_YEAR = datetime.now(UTC).year


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Traject:
    """An initialised ledger (default municipality GM0622) on a SQLite file or PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'traject.db'}"
    else:
        url = request.getfixturevalue("cli_postgres_url")
    traject = Traject(url, tmp_path / "traject.key")
    traject.init("--municipality", "GM0622")
    return traject


def closed_person(traject: Traject, closed_on: str) -> str:
    person = traject.register()
    traject.ok("record", "case-closed", person, "--on", closed_on, "--reason", "moved")
    return person


def shred(traject: Traject, person: str) -> Result:
    return traject("person", "shred", person, "--approved-by", "privacy officer", "--yes")


def test_a_person_hold_refuses_the_shred_until_it_is_released(store: Traject) -> None:
    person = closed_person(store, days_ago(365 * 12))
    store.ok("person", "hold", person, "--ref", "BZW-2026-014", "--reason", "bezwaar loopt")
    before = store.event_count()

    refused = shred(store, person)

    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"Error: PersonalDataShredded: erasure of {person} refused")
    assert ": legal hold BZW-2026-014 on the person is open since " in refused.stderr
    assert refused.stderr.endswith(": bezwaar loopt\n")
    assert store.event_count() == before
    status = store.json("person", "retention", person)
    assert (status["erasable"], [h["hold_ref"] for h in status["holds"]]) == (
        False,
        ["BZW-2026-014"],
    )
    assert [b["open"] for b in status["bases"]] == [False]

    store.ok("person", "release", person, "--ref", "BZW-2026-014", "--reason", "afgehandeld")
    assert store.json("person", "retention", person)["erasable"] is True
    assert shred(store, person).exit_code == 0
    assert store.json("person", "show", person)["erased"] is True


def test_a_recent_closure_refuses_the_shred_naming_the_basis_and_its_date(store: Traject) -> None:
    closed_on = date(THIS_YEAR - 2, 3, 1)
    person = closed_person(store, closed_on.isoformat())
    kept_until = date(THIS_YEAR + 8, 3, 1)

    refused = shred(store, person)

    assert refused.exit_code == 1
    assert (
        f"retention basis trajectory_file is open until {kept_until} (case closed on {closed_on} "
        "+ 10 years; rule set retention.2026.1)"
    ) in refused.stderr
    status = store.json("person", "retention", person)
    assert status["delete_after"] == kept_until.isoformat()
    assert status["bases"][0]["open"] is True
    # judged on the day after the term, the same person may be erased
    later = store.json("person", "retention", person, "--on", "2040-01-01")
    assert later["erasable"] is True


def test_an_amif_participant_is_kept_until_the_art_82_date_of_the_final_payment(
    store: Traject,
) -> None:
    project = "RET82"
    store.ok(
        "record", "project-registered", project,
        "--on", f"{THIS_YEAR - 10}-01-10", "--title", "Retentie", "--fund", "AMIF_2127",
        "--beneficiary", "Gemeente Vlaardingen", "--beneficiary-kind", "gemeente",
        "--grant-ref", "UVB-1", "--eligibility-from", f"{THIS_YEAR - 9}-01-01",
        "--eligibility-to", f"{THIS_YEAR - 8}-12-31", "--cofin-rate", "0.75",
        "--target-total", "10",
    )  # fmt: skip
    person = closed_person(store, days_ago(365 * 12))
    enrolled_on = f"{THIS_YEAR - 9}-05-01"
    store.ok(
        "record", "participant-enrolled", person, "--on", enrolled_on, "--project-id", project,
        "--tcn", "--permit-kind", "asiel_bt", "--permit-valid", "--checked-on", enrolled_on,
        "--checked-by", "t.tester", "--eligibility-evidence-ref", "E-1", "--consent-ref", "C-1",
    )  # fmt: skip

    refused = shred(store, person)
    assert refused.exit_code == 1
    assert "retention basis amif_evidence RET82 is open with no end date yet" in refused.stderr

    # the final payment (saldo) two years ago: kept until 31 December, five years after its year
    store.ok(
        "record", "grant-payment-received", project, "--on", f"{THIS_YEAR - 2}-03-12",
        "--payment-ref", "SALDO", "--amount", "1000.00", "--final",
    )  # fmt: skip
    art_82 = f"{THIS_YEAR + 3}-12-31"
    refused = shred(store, person)
    assert f"amif_evidence RET82 is open until {art_82}" in refused.stderr
    assert store.json("person", "retention", person)["delete_after"] == art_82

    # a project hold holds the participant even after the Art. 82 date
    store.ok("project", "hold", project, "--ref", "EC-1", "--reason", "verzoek Commissie")
    after = store.json("person", "retention", person, "--on", f"{THIS_YEAR + 4}-01-01")
    assert [b["open"] for b in after["bases"]] == [False, False]
    assert [(h["hold_ref"], h["held"]) for h in after["holds"]] == [("EC-1", f"project {project}")]
    assert after["erasable"] is False
    store.ok("project", "release", project, "--ref", "EC-1", "--reason", "afgehandeld")
    assert store.json("person", "retention", person, "--on", f"{THIS_YEAR + 4}-01-01")["erasable"]


def test_a_schedule_is_recorded_once(store: Traject) -> None:
    person = closed_person(store, days_ago(365 * 12))
    first = store.json("person", "schedule-retention", person)
    again = store.json("person", "schedule-retention", person)
    assert [(r["kind"], r["duplicate"]) for r in first] == [("RetentionScheduled", False)]
    assert [r["duplicate"] for r in again] == [True]


def test_bad_hold_input_names_the_field_and_the_rule(ledger: Traject) -> None:
    person = ledger.register()

    unknown = ledger("person", "release", person, "--ref", "X-9", "--reason", "typo")
    assert (unknown.exit_code, unknown.stderr) == (
        1,
        "Error: LegalHoldReleased: --ref (hold_ref): no open hold X-9 (open holds: none)\n",
    )
    empty = ledger("person", "hold", person, "--ref", " ", "--reason", "audit")
    assert (empty.exit_code, empty.stderr) == (
        2,
        "Error: LegalHoldPlaced: --ref (hold_ref): must not be empty\n",
    )
    no_project = ledger("project", "hold", "NOPE", "--ref", "A-1", "--reason", "audit")
    assert (no_project.exit_code, no_project.stderr) == (
        1,
        "Error: no project NOPE in this ledger\n",
    )
    bad_date = ledger("person", "retention", person, "--on", "2024-13-01")
    assert bad_date.exit_code == 2
    assert "Invalid value for '--on': '2024-13-01' is not a date" in bad_date.stderr
    # holds are not recorded with `traject record`
    assert ledger("record", "legal-hold-placed", person).exit_code == 2


def test_an_imported_erasure_is_refused_while_the_case_is_open(
    store: Traject, tmp_path: Path
) -> None:
    registered = {
        "kind": "person-registered",
        "person": "C-2001",
        "occurred_on": days_ago(365 * 13),
        "birth_date": "1990-04-02",
        "sex": "f",
        "nationality": ["SY"],
        "name": "Amal Haddad",
        "bsn": "123456782",
    }
    erasure = {"kind": "personal-data-shredded", "person": "C-2001", "approved_by": "dpo"}
    source = tmp_path / "erasure.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in (registered, erasure)))

    refused = store("import", str(source))

    assert refused.exit_code == 1
    assert "Traceback" not in refused.output
    assert f"{source}:2: " in refused.stderr
    assert "retention basis trajectory_file is open with no end date yet" in refused.stderr
    assert refused.stdout.splitlines()[-1].startswith("1 written, 0 skipped")
    person = store.ok("person", "find", "--bsn", "123456782").stdout.strip()
    assert store.json("person", "show", person)["erased"] is False

    # the case closed twelve years ago, in the same file as the erasure: erasure allowed
    closed = {"kind": "case-closed", "person": "C-2001", "occurred_on": days_ago(365 * 12),
              "reason": "moved"}  # fmt: skip
    source.write_text("".join(json.dumps(line) + "\n" for line in (registered, closed, erasure)))
    written = store("import", str(source))

    assert written.exit_code == 0, written.output
    assert store.json("person", "show", person)["erased"] is True


def test_a_release_is_not_dated_before_the_hold_it_releases(store: Traject) -> None:
    person = store.register()
    placed_on = days_ago(0)
    store.ok("person", "hold", person, "--ref", "BZW-1", "--reason", "bezwaar", "--on", placed_on)
    before = store.event_count()

    early = store("person", "release", person, "--ref", "BZW-1", "--reason", "klaar",
                  "--on", "2020-01-01")  # fmt: skip

    assert (early.exit_code, early.stderr) == (
        1,
        "Error: LegalHoldReleased: --on (occurred_on): must not be before the hold it releases "
        f"(BZW-1 was placed on {placed_on})\n",
    )
    assert store.event_count() == before
    # released on the day it was placed: fine
    store.ok("person", "release", person, "--ref", "BZW-1", "--reason", "klaar", "--on", placed_on)


def test_a_hold_is_open_on_a_day_only_from_its_placement_until_its_release(
    store: Traject,
) -> None:
    person = closed_person(store, days_ago(365 * 12))
    placed_on, released_on = days_ago(30), days_ago(10)
    store.ok("person", "hold", person, "--ref", "BZW-2", "--reason", "bezwaar", "--on", placed_on)

    def holds_on(day: str) -> list[str]:
        status = store.json("person", "retention", person, "--on", day)
        return [h["hold_ref"] for h in status["holds"]]

    assert holds_on("2019-06-01") == []  # long before it was placed
    assert holds_on(days_ago(31)) == []
    assert holds_on(placed_on) == ["BZW-2"]
    assert holds_on(days_ago(0)) == ["BZW-2"]

    store.ok("person", "release", person, "--ref", "BZW-2", "--reason", "klaar",
             "--on", released_on)  # fmt: skip
    assert holds_on(days_ago(11)) == ["BZW-2"]  # it was open then
    assert holds_on(released_on) == []
    assert holds_on(days_ago(0)) == []
    assert shred(store, person).exit_code == 0


def test_an_erasure_dated_before_a_hold_still_open_is_refused(
    store: Traject, tmp_path: Path
) -> None:
    person = closed_person(store, days_ago(365 * 12))
    store.ok("person", "hold", person, "--ref", "BZW-3", "--reason", "bezwaar")
    # an imported erasure dated a year ago: the key would be destroyed now, under the hold
    line = {"kind": "personal-data-shredded", "person_id": person, "approved_by": "dpo",
            "occurred_on": days_ago(365)}  # fmt: skip
    source = tmp_path / "erasure.jsonl"
    source.write_text(json.dumps(line) + "\n")

    refused = store("import", str(source))

    assert refused.exit_code == 1
    assert "legal hold BZW-3 on the person is open since" in refused.stderr
    assert store.json("person", "show", person)["erased"] is False
