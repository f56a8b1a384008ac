"""A correction that would put an AMIF enrolment outside its project's eligibility window is
refused by `traject correct` and `traject import` (`--dry-run` too): exit 1, the field, the rule
and the enrolments named by person id, version and date (no personal data), nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import Traject, initialised_ledger, last_line

NAME = "Amal Haddad"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Traject:
    return initialised_ledger(request, tmp_path, "traject_window")


def amif_participant(traject: Traject) -> tuple[str, int]:
    """Project MWP (window 2024-01-01 to 2026-12-31) and a named person enrolled on
    2024-05-01: (person id, version of the enrolment)."""
    traject.ok(
        "record", "project-registered", "MWP", "--on", "2023-12-01", "--title", "Meedoen Werkt",
        "--fund", "AMIF_2127", "--beneficiary", "Gemeente Vlaardingen",
        "--beneficiary-kind", "gemeente", "--grant-ref", "UVB-1",
        "--eligibility-from", "2024-01-01", "--eligibility-to", "2026-12-31",
        "--cofin-rate", "0.75", "--target-total", "10",
    )  # fmt: skip
    person = traject.register(
        "--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY", "--name", NAME
    )
    enrolled = traject.json(
        "record", "participant-enrolled", person, "--on", "2024-05-01", "--project-id", "MWP",
        "--tcn", "--permit-kind", "asiel_bt", "--permit-valid", "--checked-on", "2024-05-01",
        "--checked-by", "t.tester", "--eligibility-evidence-ref", "E-1", "--consent-ref", "C-1",
    )  # fmt: skip
    return person, int(enrolled["version"])


def test_correcting_an_enrolment_out_of_the_window_exits_1_and_writes_nothing(
    store: Traject,
) -> None:
    person, version = amif_participant(store)
    before = store.event_count()

    result = store(
        "correct", person, str(version), "--set", "occurred_on=2023-12-15", "--reason", "typo"
    )

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: ParticipantEnrolled: on (occurred_on): enrolment must fall in MWP's eligibility "
        "window 2024-01-01 to 2026-12-31\n"
    )
    assert store.event_count() == before


@pytest.mark.parametrize("dry_run", [False, True], ids=["import", "dry-run"])
def test_an_imported_window_correction_that_strands_an_enrolment_is_a_rejected_line(
    store: Traject, tmp_path: Path, dry_run: bool
) -> None:
    person, version = amif_participant(store)
    before = store.event_count()
    line = {
        "kind": "event-corrected",
        "project": "MWP",
        "target": 1,
        "changes": {"eligibility_from": "2024-06-01"},
        "reason": "window per the amended grant decision",
    }
    source = tmp_path / "project.jsonl"
    source.write_text(json.dumps(line) + "\n")

    result = store("import", *(["--dry-run"] if dry_run else []), str(source))

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert (
        f"{source}:1: changes.eligibility_from: every enrolment must fall in MWP's eligibility "
        "window; the corrected window 2024-06-01 to 2026-12-31 would leave 1 enrolment outside it: "
        f"person {person} v{version} enrolled on 2024-05-01 — correct or retract those "
        "enrolments first, or keep the window around them"
    ) in result.stderr
    assert NAME not in result.output
    verb = "valid" if dry_run else "written"
    assert last_line(result.stdout).startswith(f"0 {verb}, 0 skipped (already present), 1 rejected")
    assert store.event_count() == before


def test_an_enrolment_cannot_be_moved_after_a_service_it_holds(store: Traject) -> None:
    person, version = amif_participant(store)
    store.ok(
        "record", "service-delivered", person, "--on", "2024-05-10", "--project-id", "MWP",
        "--category", "language_course", "--hours", "4",
    )  # fmt: skip
    before = store.event_count()

    result = store(
        "correct", person, str(version), "--set", "occurred_on=2024-07-15", "--reason", "typo"
    )

    assert result.exit_code == 1
    assert "ServiceDelivered" in result.stderr
    assert "dated 2024-05-10, before the enrolment in MWP of 2024-07-15" in result.stderr
    assert store.event_count() == before
    # nor can a service or an exit be dated before the enrolment
    result = store(
        "record", "participant-exited", person, "--on", "2024-04-30", "--project-id", "MWP",
        "--reason", "moved", "--completed",
    )  # fmt: skip
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: ParticipantExited: --on (occurred_on): dated 2024-04-30, before the enrolment in "
        "MWP "
        "of 2024-05-01 it follows (a participant's services, feedback and exit follow the "
        "enrolment)\n",
    )
