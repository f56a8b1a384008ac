"""`traject import FILE.jsonl`: facts from a file, idempotent per line, bad lines reported."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Traject, last_line, open_app

from commands.importing import LineRejectedError, parse_line
from ledger import events as ev

BSN = "123456782"

REGISTER = {
    "kind": "person-registered",
    "person": "C-1001",
    "occurred_on": "2025-01-10",
    "birth_date": "1990-04-02",
    "sex": "f",
    "nationality": ["SY"],
    "bsn": BSN,
    "name": "Amal Haddad",
}
GOOD: list[dict[str, Any]] = [
    REGISTER,
    {
        "kind": "ResidencePermitRecorded",  # a class name works as well as a catalog name
        "person": "C-1001",
        "occurred_on": "2025-01-11",
        "permit_kind": "asiel_bt",
    },
    {
        "kind": "coa-linked",
        "person": "C-1001",
        "occurred_on": "2025-01-12",
        "taakstelling_period": "2025H1",
    },
    {
        "kind": "housed",
        "person": "C-1001",
        "occurred_on": "2025-02-01",
        "housing_kind": "regulier",
        "route": "koppeling",
    },
    {
        "kind": "ladder-assessed",
        "person": "C-1001",
        "occurred_on": "2025-03-01",
        "rung": 3,
        "assessor": "r.jansen",
    },
    {
        "kind": "taakstelling-set",
        "municipality": "GM0622",
        "occurred_on": "2025-01-05",
        "period": "2025H1",
        "target": 40,
        "source_ref": "circulaire 2025-I",
    },
]
MORE: list[dict[str, Any]] = [
    {
        "kind": "ladder-assessed",
        "person": "C-1001",
        "occurred_on": "2025-06-01",
        "rung": 4,
        "assessor": "r.jansen",
    },
    {
        "kind": "person-registered",
        "person": "C-1002",
        "occurred_on": "2025-02-10",
        "birth_date": "1985-07-12",
        "sex": "m",
        "nationality": ["ER"],
    },
]


def write(path: Path, records: list[Any], *, mode: str = "w") -> Path:
    with path.open(mode, encoding="utf-8") as out:
        for record in records:
            out.write((record if isinstance(record, str) else json.dumps(record)) + "\n")
    return path


def person_id(ledger: Traject, bsn: str = BSN) -> str:
    return str(ledger.json("person", "find", "--bsn", bsn)["person_id"])


def test_a_file_of_several_kinds_is_recorded(ledger: Traject, tmp_path: Path) -> None:
    source = write(tmp_path / "clients.jsonl", GOOD)

    result = ledger.ok("import", str(source))

    # four of the facts were recorded long after they happened: warned, not rejected
    assert last_line(result.stdout) == (
        "6 written, 0 skipped (already present), 0 rejected (4 warnings)"
    )
    assert result.stderr.count(": recorded ") == 4
    assert "Warning: clients.jsonl:2: recorded " in result.stderr
    events = ledger.json("timeline", person_id(ledger))["events"]
    assert [e["kind"] for e in events] == [
        "PersonRegistered",
        "ResidencePermitRecorded",
        "CoaLinked",
        "Housed",
        "LadderAssessed",
    ]
    assert {e["source"] for e in events} == {"import"}
    assert events[0]["idempotency_key"].startswith("import:clients.jsonl:1:")
    assert events[4]["recorded"]["fields"] == {"rung": 3, "assessor": "r.jansen"}
    assert ledger.event_count() == 6  # the taakstelling too, on the municipality's stream
    assert not (tmp_path / "clients.rejects.jsonl").exists()


def test_ontzorgen_objections_the_eindgesprek_and_a_loan_reclaim_are_imported(
    ledger: Traject, tmp_path: Path
) -> None:
    def line(kind: str, person: str, on: str, **fields: Any) -> dict[str, Any]:
        return {"kind": kind, "person": person, "occurred_on": on, **fields}

    def person(key: str, bsn: str) -> dict[str, Any]:
        born = {"birth_date": "1990-04-02", "sex": "f", "nationality": ["SY"], "bsn": bsn}
        return line("person-registered", key, "2023-01-10", **born)

    wi2021 = [
        person("C-2001", BSN),
        line("residence-permit-recorded", "C-2001", "2023-01-11", permit_kind="asiel_bt"),
        line("inburgering-duty-established", "C-2001", "2023-02-01", duty_start="2023-02-01"),
        line("benefit-granted", "C-2001", "2023-05-01", benefit_kind="algemene_bijstand"),
        line("ontzorgen-started", "C-2001", "2023-05-01", items=["huur", "zorgverzekering"]),
        line("ontzorgen-ended", "C-2001", "2023-11-01", end_reason="termijn_verstreken"),
        line(
            "pip-adopted",
            "C-2001",
            "2023-04-01",
            version=1,
            leerroute="Z",
            hoofddoel="participatie",
            pvt_intensity="standaard",
            map_intensity="standaard",
            decision_ref="PIP-2023-0007",
        ),
        line("pip-objection-filed", "C-2001", "2023-04-20"),
        line("pip-objection-decided", "C-2001", "2023-06-15", outcome="ongegrond"),
        line("z-route-final-interview-held", "C-2001", "2024-03-01", outcome="voldaan"),
    ]
    wi2013 = [
        person("C-2002", "111222333"),
        line("inburgering-duty-established", "C-2002", "2020-01-06", duty_start="2020-01-06"),
        line("duo-loan-granted", "C-2002", "2020-06-01", amount="6500"),
        line("DuoLoanReclaimed", "C-2002", "2022-01-10", amount="1200.50"),
    ]
    source = write(tmp_path / "steps.jsonl", wi2021 + wi2013)

    result = ledger.ok("import", str(source))

    assert last_line(result.stdout).startswith(
        "14 written, 0 skipped (already present), 0 rejected"
    )
    events = ledger.json("timeline", person_id(ledger))["events"]
    assert [e["kind"] for e in events][-6:] == [
        "OntzorgenStarted",
        "OntzorgenEnded",
        "PipAdopted",
        "PipObjectionFiled",
        "PipObjectionDecided",
        "ZRouteFinalInterviewHeld",
    ]
    assert events[4]["recorded"]["fields"] == {"items": ["huur", "zorgverzekering"]}
    assert events[8]["recorded"]["fields"] == {"outcome": "ongegrond"}
    loan = ledger.json("timeline", person_id(ledger, "111222333"))["events"][-1]
    assert (loan["kind"], loan["recorded"]["fields"]) == ("DuoLoanReclaimed", {"amount": "1200.50"})


def test_a_number_in_exponent_notation_is_imported_as_its_plain_decimal(
    ledger: Traject, tmp_path: Path
) -> None:
    hours = '{"kind": "pre-integration-recorded", "person": "C-1001", "occurred_on": "2025-01-11"'
    source = write(
        tmp_path / "hours.jsonl",
        [REGISTER, hours + ', "hours": "1e3"}', hours + ', "hours": 2.5e2, "provider": "VWN"}'],
    )

    ledger.ok("import", str(source))

    events = ledger.json("timeline", person_id(ledger))["events"]
    # text goes through the command line's conversion; a JSON number is read as a number
    assert [e["recorded"]["fields"]["hours"] for e in events[1:]] == ["1000", "250.0"]


def test_a_correction_line_reads_its_changes_as_a_line_of_the_corrected_kind(
    ledger: Traject, tmp_path: Path
) -> None:
    hours = {"kind": "pre-integration-recorded", "person": "C-1001", "occurred_on": "2025-01-11",
             "hours": "8", "provider": "VWN"}  # fmt: skip
    fix = {"kind": "event-corrected", "person": "C-1001", "target": 2, "reason": "typo"}
    source = write(tmp_path / "hours.jsonl", [REGISTER, hours,
                   fix | {"changes": {"hours": "1e3", "occurred_on": "2025-01-12"}},
                   fix | {"changes": {"hours": "-1", "occurred_on": "11-01-2025"}},
                   fix | {"changes": {"hours": True}}])  # fmt: skip

    result = ledger("import", str(source))

    # the text "1e3" as a line of pre-integration-recorded reads it: 1000, not 1E+3
    events = ledger.json("timeline", person_id(ledger))["events"]
    assert events[2]["recorded"]["fields"]["changes"] == {
        "hours": "1000",
        "occurred_on": "2025-01-12",
    }
    assert events[1]["effective"]["occurred_on"] == "2025-01-12"
    assert events[1]["effective"]["fields"] == {"hours": "1000", "provider": "VWN"}
    # refused with a line's messages, each field named as a field of the changes
    assert result.exit_code == 1
    rejected = [line.removeprefix(str(tmp_path) + "/") for line in result.stderr.splitlines()]
    assert rejected[:3] == [
        "hours.jsonl:4: changes.hours: '-1' is below the minimum 0",
        "hours.jsonl:4: changes.occurred_on: '11-01-2025': write the year first, as YYYY-MM-DD: "
        "for 11 januari 2025 that is 2025-01-11",
        "hours.jsonl:5: changes.hours: expected a number, got true",
    ]
    assert result.stdout.startswith("3 written, 0 skipped (already present), 2 rejected")


def test_importing_the_same_file_twice_appends_nothing(ledger: Traject, tmp_path: Path) -> None:
    source = write(tmp_path / "clients.jsonl", GOOD)
    ledger.ok("import", str(source))

    result = ledger.ok("--json", "import", str(source))

    assert json.loads(result.stdout) == {
        "dry_run": False,
        "written": 0,
        "skipped": 6,
        "rejected": 0,
        "warnings": 0,
    }
    assert ledger.event_count() == 6
    # --quiet leaves out the progress bar and a person's summary, not a script's JSON
    quiet = ledger.ok("--json", "import", "--quiet", str(source))
    assert json.loads(quiet.stdout) == json.loads(result.stdout)
    assert ledger.ok("import", "--quiet", str(source)).stdout == ""


def test_a_resumed_import_writes_only_the_new_lines(ledger: Traject, tmp_path: Path) -> None:
    source = write(tmp_path / "clients.jsonl", GOOD)
    ledger.ok("import", str(source))
    moved = source.rename(tmp_path / "elsewhere.jsonl")  # a file keeps its keys when moved …
    moved = moved.rename(tmp_path / "clients.jsonl")  # … within a name (the key has the name)
    write(moved, MORE, mode="a")

    result = ledger.ok("import", "--quiet", str(moved))

    assert result.stdout == ""
    assert ledger.event_count() == 8
    kinds = [e["kind"] for e in ledger.json("timeline", person_id(ledger))["events"]]
    assert kinds.count("LadderAssessed") == 2
    again = ledger.ok("import", str(moved))
    assert last_line(again.stdout) == "0 written, 8 skipped (already present), 0 rejected"


def test_an_explicit_idempotency_key_overrides_the_derived_one(
    ledger: Traject, tmp_path: Path
) -> None:
    write(tmp_path / "a.jsonl", [REGISTER | {"idempotency_key": "crm:1001"}])
    write(tmp_path / "b.jsonl", [{"x": 1}, REGISTER | {"idempotency_key": "crm:1001"}])

    ledger.ok("import", str(tmp_path / "a.jsonl"))
    result = ledger("import", str(tmp_path / "b.jsonl"))

    assert "0 written, 1 skipped (already present), 1 rejected" in result.stdout
    events = ledger.json("timeline", person_id(ledger))["events"]
    assert events[0]["idempotency_key"] == "crm:1001"


BAD: list[tuple[Any, str]] = [
    ('{"kind": "housed", "person": "C-1001"', "line: not valid JSON"),
    ("[1, 2]", "line: not a JSON object"),
    ({"kind": "teleported", "person": "C-1001"}, "kind: unknown kind 'teleported'"),
    (
        {"kind": "ladder-assessed", "person": "C-1001", "occurred_on": "2025-03-01"},
        "rung: required",
    ),
    (
        {
            "kind": "ladder-assessed",
            "person": "C-1001",
            "occurred_on": "2025-03-01",
            "rung": 9,
            "assessor": "x",
        },
        "rung: expected a whole number from 1 to 6, got 9",
    ),
    (
        {
            "kind": "ladder-assessed",
            "person": "C-1001",
            "occurred_on": "2025-02-30",
            "rung": 3,
            "assessor": "x",
        },
        "occurred_on: '2025-02-30' is not a date",
    ),
    (
        {
            "kind": "housed",
            "person": "C-1001",
            "occurred_on": "2025-02-01",
            "housing_kind": "castle",
            "route": "koppeling",
        },
        "housing_kind: 'castle' is not one of",
    ),
    (REGISTER | {"person": "C-2", "bsn": "123456789"}, "bsn: not a valid BSN"),
    (
        {
            "kind": "ladder-assessed",
            "person": "C-404",
            "occurred_on": "2025-03-01",
            "rung": 3,
            "assessor": "x",
        },
        "person: no person with external key 'C-404'",
    ),
    (
        {
            "kind": "ladder-assessed",
            "person": "C-1001",
            "occurred_on": "2025-03-01",
            "rung": 3,
            "assessor": "x",
            "colour": "red",
        },
        "colour: ladder-assessed has no field 'colour'",
    ),
    (
        {
            "kind": "ladder-assessed",
            "person": "C-1001",
            "occurred_on": "2099-03-01",
            "rung": 3,
            "assessor": "x",
        },
        "occurred_on: must not be in the future",
    ),
    (REGISTER | {"bsn": "111222333"}, "person: a person with external key 'C-1001'"),
    ({"kind": "taakstelling-set", "period": "2025H2", "target": 4}, "municipality: required"),
    ({"kind": "event-retracted", "person": "C-1001"}, "target: required"),
    (
        {"kind": "personal-data-shredded", "person": "C-1001"},
        "approved_by: required",
    ),
    (
        {
            "kind": "housed",
            "person": "C-1001",
            "occurred_on": "2025-02-01",
            "housing_kind": "regulier",
            "route": "koppeling",
        },
        "route: koppeling needs an active koppeling (record coa-linked first)",
    ),
    ({**REGISTER, "person": "C-3", "birth_date": "1990-02-30"}, "birth_date: "),
    ({**REGISTER, "person": "C-4", "recorded_at": "2025-01-09T10:00:00+01:00"}, "recorded_at: "),
    (
        {
            "kind": "housed",
            "person": "C-1001",
            "occurred_on": "2025-02-01",
            "housing_kind": [],
            "route": "koppeling",
        },
        "housing_kind: ",
    ),
    (
        {
            "kind": "ladder-assessed",
            "person": "C-1001",
            "occurred_on": "2025-03-01",
            "rung": 3,
            "assessor": "x",
            "idempotency_key": {"crm": 1001},
        },
        "idempotency_key: must be text",
    ),
    (REGISTER | {"person": "C-5", "idempotency_key": ["crm", 5]}, "idempotency_key: "),
    (
        {
            "kind": "ladder-assessed",
            "person": "C-1001",
            "occurred_on": "2025-03-01",
            "rung": 3,
            "assessor": "x",
            "municipality": "GM12",
        },
        "municipality: 'GM12' is not a municipality in the CBS list of 2025: give a CBS code "
        "such as GM0363 or a name such as Amsterdam",
    ),
    ({"person": "C-1001"}, "kind: required: the kind of fact, e.g. ladder-assessed"),
    ({"kind": None, "person": "C-1001"}, "kind: required: the kind of fact, e.g. ladder-assessed"),
    ({"kind": 7, "person": "C-1001"}, "kind: unknown kind 7 (see docs/events.md)"),
]


def test_every_kind_of_bad_line_is_reported_and_the_good_lines_are_written(
    ledger: Traject, tmp_path: Path
) -> None:
    lines = [GOOD[0], *[line for line, _ in BAD], GOOD[4]]
    source = write(tmp_path / "mixed.jsonl", lines)

    result = ledger("import", str(source))

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    for number, (_, message) in enumerate(BAD, start=2):
        assert f"{source}:{number}: {message}" in result.stderr, message
    assert last_line(result.stdout).startswith(
        f"2 written, 0 skipped (already present), {len(BAD)} rejected"
    )
    assert ledger.event_count() == 2
    rejects = [
        json.loads(line) for line in (tmp_path / "mixed.rejects.jsonl").read_text().splitlines()
    ]
    assert [r["_line"] for r in rejects] == list(range(2, 2 + len(BAD)))
    assert rejects[2]["kind"] == "teleported"
    assert rejects[2]["_error"].startswith("kind: unknown kind")
    assert rejects[0]["_text"] == BAD[0][0]


def test_a_dry_run_validates_every_line_and_writes_nothing(ledger: Traject, tmp_path: Path) -> None:
    source = write(tmp_path / "clients.jsonl", [*GOOD, *MORE, BAD[3][0], BAD[8][0]])
    before = ledger.event_count()

    result = ledger("import", "--dry-run", str(source))

    assert result.exit_code == 1
    assert ledger.event_count() == before == 0
    assert last_line(result.stdout).startswith("8 valid, 0 skipped (already present), 2 rejected")
    assert f"{source}:9: rung: required" in result.stderr
    assert f"{source}:10: person: no person with external key 'C-404'" in result.stderr


def test_a_dry_run_counts_lines_already_imported_as_skipped(
    ledger: Traject, tmp_path: Path
) -> None:
    source = write(tmp_path / "clients.jsonl", GOOD)
    ledger.ok("import", str(source))
    write(source, MORE, mode="a")

    result = ledger.ok("import", "--dry-run", str(source))

    assert (
        last_line(result.stdout) == "2 valid, 6 skipped (already present), 0 rejected (1 warning)"
    )
    assert ledger.event_count() == 6


def test_a_ledger_made_before_external_keys_gets_their_table(
    ledger: Traject, tmp_path: Path
) -> None:
    with sqlite3.connect(tmp_path / "traject.db") as db:
        db.execute("DROP TABLE traject_external_refs")
    source = write(tmp_path / "clients.jsonl", GOOD)

    dry = ledger.ok("import", "--dry-run", str(source))
    result = ledger.ok("import", str(source))

    assert last_line(dry.stdout) == "6 valid, 0 skipped (already present), 0 rejected (4 warnings)"
    assert (
        last_line(result.stdout)
        == "6 written, 0 skipped (already present), 0 rejected (4 warnings)"
    )


@pytest.mark.postgres
def test_an_import_on_postgresql(cli_postgres_url: str, tmp_path: Path) -> None:
    traject = Traject(cli_postgres_url, tmp_path / "traject.key")
    traject.init("--municipality", "GM0622")
    source = write(tmp_path / "clients.jsonl", [*GOOD, *MORE])

    first = traject.ok("import", str(source))
    again = traject.ok("import", str(source))

    assert (
        last_line(first.stdout) == "8 written, 0 skipped (already present), 0 rejected (5 warnings)"
    )
    assert last_line(again.stdout) == "0 written, 8 skipped (already present), 0 rejected"
    events = traject.json("timeline", person_id(traject))["events"]
    assert [e["kind"] for e in events].count("LadderAssessed") == 2


PERSON_ID = "0b6f1c9e-4c1e-4d59-9a7e-2f3f3a4b5c6d"
HISTORY: list[dict[str, Any]] = [
    MORE[1] | {"person_id": PERSON_ID, "recorded_at": "2025-02-10T09:00:00+01:00"},
    {
        "kind": "ladder-assessed",
        "person": "C-1002",
        "occurred_on": "2025-03-01",
        "recorded_at": "2025-03-02T10:00:00+01:00",
        "rung": 2,
        "assessor": "r.jansen",
        "idempotency_key": "crm:1002:ladder",
    },
    {
        "kind": "event-corrected",
        "person": "C-1002",
        "target": "crm:1002:ladder",
        "changes": {"rung": 3},
        "reason": "typo",
        "recorded_at": "2025-03-05T10:00:00+01:00",
    },
    {
        "kind": "event-retracted",
        "person_id": PERSON_ID,
        "target": 2,
        "reason": "wrong person",
        "recorded_at": "2025-03-06T10:00:00Z",
    },
]


def test_recorded_times_ids_corrections_and_retractions_are_imported(
    ledger: Traject, tmp_path: Path
) -> None:
    source = write(tmp_path / "history.jsonl", HISTORY)

    ledger.ok("import", str(source))

    events = ledger.json("timeline", PERSON_ID)["events"]
    assert [e["kind"] for e in events] == [
        "PersonRegistered",
        "LadderAssessed",
        "EventCorrected",
        "EventRetracted",
    ]
    assert [e["recorded_at"] for e in events] == [
        "2025-02-10T08:00:00+00:00",
        "2025-03-02T09:00:00+00:00",
        "2025-03-05T09:00:00+00:00",
        "2025-03-06T10:00:00+00:00",
    ]
    assert events[2]["recorded"]["occurred_on"] == "2025-03-05"  # the Dutch date of recorded_at
    assert ledger.ok("import", str(source)).stdout.startswith("0 written, 4 skipped")


@pytest.mark.parametrize(
    ("recorded_at", "occurred_on", "message"),
    [
        (
            "2025-03-01T10:00:00+01:00",
            "2025-03-01",
            "must not be before the stream's last recorded",
        ),
        (
            "2025-03-06T23:30:00+00:00",
            "2025-03-08",
            "must not be before the day it happened (2025-03-08",
        ),
        ("2999-01-01T00:00:00+00:00", "2025-03-08", "must not be in the future"),
        ("2025-03-08T10:00:00", "2025-03-08", "needs a UTC offset"),
        ("yesterday", "2025-03-08", "not an ISO 8601 date-time"),
    ],
)
def test_a_bad_recorded_time_is_rejected(
    ledger: Traject, tmp_path: Path, recorded_at: str, occurred_on: str, message: str
) -> None:
    ledger.ok("import", str(write(tmp_path / "history.jsonl", HISTORY)))
    line = HISTORY[1] | {"idempotency_key": "x", "recorded_at": recorded_at}
    source = write(tmp_path / "late.jsonl", [line | {"occurred_on": occurred_on}])

    result = ledger("import", str(source))

    assert result.exit_code == 1
    assert f"late.jsonl:1: recorded_at: {message}" in result.stderr


def test_a_dry_run_checks_the_domain_rules_against_the_lines_before_it(
    ledger: Traject, tmp_path: Path
) -> None:
    housed_twice = [*GOOD[:4], GOOD[3] | {"occurred_on": "2025-02-02"}]
    source = write(tmp_path / "clients.jsonl", housed_twice)

    result = ledger("import", "--dry-run", str(source))

    assert result.exit_code == 1
    assert f"{source}:5: route: koppeling needs an active koppeling" in result.stderr
    assert last_line(result.stdout).startswith("4 valid, 0 skipped (already present), 1 rejected")
    assert ledger.event_count() == 0


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "import"])
def test_a_nareiziger_is_housed_after_the_referent_as_the_file_orders_them(
    ledger: Traject, tmp_path: Path, dry_run: bool
) -> None:
    referent = "0b09775e-263b-46c5-b8bc-857e0187f13a"
    member = {"person": "C-1002", "housing_kind": "regulier", "route": "nareis"}
    lines = [
        REGISTER | {"person_id": referent},  # C-1001, linked by COA (GOOD), housed 2025-02-01
        *GOOD[1:3],
        {
            "kind": "person-registered", "person": "C-1002", "occurred_on": "2025-01-20",
            "birth_date": "2015-03-01", "sex": "m", "nationality": ["SY"],
            "household_id": referent,
        },
        member | {"kind": "housed", "occurred_on": "2025-01-25"},  # 5: referent not housed
        GOOD[3],
        member | {"kind": "housed", "occurred_on": "2025-01-30"},  # 7: before the referent
        member | {"kind": "housed", "occurred_on": "2025-02-03"},  # 8: joins the housed referent
    ]  # fmt: skip
    source = write(tmp_path / "family.jsonl", lines)

    result = ledger("import", *(["--dry-run"] if dry_run else []), str(source))

    assert result.exit_code == 1
    assert (
        f"{source}:5: route: the household's referent {referent} is not housed: a nareiziger "
        "joins a housed referent's household (record the referent's housing first)"
    ) in result.stderr
    assert (
        f"{source}:7: occurred_on: dated 2025-01-30, before the housing of the household's "
        f"referent {referent} on 2025-02-01: a nareiziger joins a housed referent's household"
    ) in result.stderr
    verb = "valid" if dry_run else "written"
    assert last_line(result.stdout).startswith(f"6 {verb}, 0 skipped (already present), 2 rejected")
    assert ledger.event_count() == (0 if dry_run else 6)


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "import"])
def test_a_referents_housing_is_not_retracted_under_a_housed_nareiziger(
    ledger: Traject, tmp_path: Path, dry_run: bool
) -> None:
    referent = "0b09775e-263b-46c5-b8bc-857e0187f13a"
    member = "5d3c2a4e-9f61-4b8e-a1d2-3c4b5a6f7e80"
    lines = [
        REGISTER | {"person_id": referent},  # C-1001, linked by COA (GOOD), housed 2025-02-01
        *GOOD[1:4],
        {
            "kind": "person-registered", "person": "C-1002", "person_id": member,
            "occurred_on": "2025-01-20", "birth_date": "2015-03-01", "sex": "m",
            "nationality": ["SY"], "household_id": referent,
        },
        {"kind": "housed", "person": "C-1002", "occurred_on": "2025-02-03",
         "housing_kind": "regulier", "route": "nareis"},
        # 7: the referent's housing (v4) moved past the member's, 8: retracted
        {"kind": "event-corrected", "person": "C-1001", "target": 4,
         "changes": {"occurred_on": "2025-02-05"}, "reason": "typo"},
        {"kind": "event-retracted", "person": "C-1001", "target": 4, "reason": "wrong person"},
        # 9: an earlier date keeps the member's housing after the referent's
        {"kind": "event-corrected", "person": "C-1001", "target": 4,
         "changes": {"occurred_on": "2025-01-30"}, "reason": "typo"},
    ]  # fmt: skip
    source = write(tmp_path / "household.jsonl", lines)

    result = ledger("import", *(["--dry-run"] if dry_run else []), str(source))

    assert result.exit_code == 1
    assert (
        f"{source}:7: changes: the referent would be housed first on 2025-02-05, but the "
        f"household's members rest on an earlier housing: Housed v2 of {member} on 2025-02-03"
    ) in result.stderr
    assert (
        f"{source}:8: target: the referent would no longer be housed, but the "
        f"household's members rest on an earlier housing: Housed v2 of {member} on 2025-02-03"
    ) in result.stderr
    verb = "valid" if dry_run else "written"
    assert last_line(result.stdout).startswith(f"7 {verb}, 0 skipped (already present), 2 rejected")
    assert ledger.event_count() == (0 if dry_run else 7)


def test_a_csv_file_of_one_kind_is_imported_with_lists_split_on_semicolons(
    ledger: Traject, tmp_path: Path
) -> None:
    source = tmp_path / "people.csv"
    source.write_text(
        "person,occurred_on,birth_date,sex,nationality,bsn,name\n"
        "P-1,2025-01-10,1990-04-02,f,SY;IQ,123456782,Amal Haddad\n"
        "P-2,2025-01-10,1985-07-12,m,ER,,\n"
        "P-3,2025-01-10,1985-13-12,m,ER,,\n"
    )

    result = ledger("import", "--kind", "person-registered", str(source))

    assert result.exit_code == 1
    assert f"{source}:4: birth_date: " in result.stderr
    assert last_line(result.stdout).startswith("2 written, 0 skipped (already present), 1 rejected")
    person = ledger.json("person", "find", "--bsn", BSN)["person_id"]
    fields = ledger.json("timeline", person)["events"][0]["recorded"]["fields"]
    assert fields["nationality"] == ["SY", "IQ"]
    rejects = (tmp_path / "people.rejects.csv").read_text().splitlines()
    assert rejects[0].endswith(",_line,_error")
    assert rejects[1].startswith("P-3,")
    again = ledger("import", "--kind", "person-registered", "--quiet", str(source))
    assert ledger.event_count() == 2 and again.exit_code == 1


def test_an_unknown_csv_kind_is_bad_input(ledger: Traject, tmp_path: Path) -> None:
    source = tmp_path / "x.csv"
    source.write_text("person\n")

    result = ledger("import", "--kind", "teleported", str(source))

    assert result.exit_code == 2
    assert "--kind" in result.stderr and "unknown kind 'teleported'" in result.stderr


def test_export_writes_what_import_reads_back(ledger: Traject, tmp_path: Path) -> None:
    ledger.ok("import", str(write(tmp_path / "history.jsonl", [*GOOD, *HISTORY])))
    exported = tmp_path / "export.jsonl"

    ledger.ok("export", "--include-personal", "--quiet", "--output", str(exported))
    csv_text = ledger.ok("export", "--format", "csv", "--kind", "ladder-assessed", "-q").stdout
    pseudonymised = ledger.ok("export", "-q").stdout

    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert [line["kind"] for line in lines][:3] == [
        "person-registered",
        "residence-permit-recorded",
        "coa-linked",
    ]
    assert len(lines) == ledger.event_count()
    assert lines[0]["bsn"] == BSN and lines[0]["person"] == "C-1001"
    assert BSN not in pseudonymised and "Amal" not in pseudonymised
    assert csv_text.splitlines()[0].startswith("person,person_id,occurred_on,recorded_at,rung,")
    assert len(csv_text.splitlines()) == 1 + 2
    result = ledger("export", "--output", str(exported))
    assert result.exit_code == 2 and "never overwritten" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--period", "2025H3"), "'2025H3' is not a period"),
        (("--period", "2025-06-01..2025-01-01"), "the period ends before it starts"),
        (("--format", "csv"), "CSV holds one kind of fact: give --kind"),
        (("--municipality", "GM12"), "--municipality"),
        (("--person", "nobody-at-all"), "no person with external key 'nobody-at-all'"),
        (
            ("--output", "no-such-directory/events.jsonl"),
            "cannot write no-such-directory/events.jsonl: No such file or directory",
        ),
    ],
)
def test_bad_export_options_are_refused_without_a_traceback(
    ledger: Traject, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    ledger.ok("import", str(write(tmp_path / "clients.jsonl", GOOD)))

    result = ledger("export", *args)

    assert result.exit_code in (1, 2)
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_a_coded_value_is_read_as_the_command_line_reads_it() -> None:
    """A municipality code (or another patterned value) is stripped and upper-cased, then checked
    against its pattern, as `--municipality` is; a bad one gets the command line's message."""
    line = MORE[0] | {"municipality": " gm0556 "}

    assert parse_line(line, "k").fields["municipality"] == "GM0556"
    with pytest.raises(LineRejectedError) as refused:
        parse_line(line | {"municipality": "GM 0556"}, "k")
    assert refused.value.problems == [
        (
            "municipality",
            "'GM 0556' is not a municipality in the CBS list of 2025: give a CBS code such as "
            "GM0363 or a name such as Amsterdam",
        )
    ]


def test_a_municipality_is_read_alike_on_every_line_that_names_it() -> None:
    """A file names the same few municipalities on thousands of lines: a name or code the CBS
    list accepts gives its code each time it is seen, and one the list refuses is refused each
    time, with the list's message (nothing refused is kept as read)."""
    line = MORE[0]
    refused_text = (
        "'Amsterdm' is not a municipality in the CBS list of 2025: give a CBS code such as "
        "GM0363 or a name such as Amsterdam; did you mean Amsterdam?"
    )
    for _ in range(2):
        assert parse_line(line | {"municipality": "Den Bosch"}, "k").fields["municipality"] == (
            "GM0796"
        )
        assert parse_line(line | {"municipality": "gm0363"}, "k").fields["municipality"] == (
            "GM0363"
        )
        with pytest.raises(LineRejectedError) as refused:
            parse_line(line | {"municipality": "Amsterdm"}, "k")
        assert refused.value.problems == [("municipality", refused_text)]
        with pytest.raises(LineRejectedError) as refused:
            parse_line(line | {"municipality": 363}, "k")
        assert refused.value.problems == [("municipality", "expected text, got 363")]


BREAKING = [
    {"kind": "event-retracted", "person": "C-1001", "target": 3, "reason": "linked by mistake"},
    {
        "kind": "event-corrected",
        "person": "C-1001",
        "target": 2,
        "changes": {"permit_kind": "asiel_afgeleid"},
        "reason": "a derived permit",
    },
]
LATER_BROKEN = (
    "later facts would break the rules: {fact} — correct or retract {version} first, "
    "or make the corrections in the other order"
)


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "import"])
def test_a_change_that_would_break_a_later_fact_is_a_rejected_line(
    ledger: Traject, tmp_path: Path, dry_run: bool
) -> None:
    # GOOD: v2 the permit, v3 the koppeling, v4 the housing through it
    source = write(tmp_path / "clients.jsonl", [*GOOD, *BREAKING])

    result = ledger("import", *(["--dry-run"] if dry_run else []), str(source))

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    housing = "v4 Housed of 2025-02-01: route: koppeling needs an active koppeling (record "
    housing += "coa-linked first)"
    link = "v3 CoaLinked of 2025-01-12: person: a nareiziger is not linked by COA: use housed "
    link += "--route nareis"
    assert f"{source}:7: target: " + LATER_BROKEN.format(fact=housing, version="v4") in (
        result.stderr
    )
    assert f"{source}:8: changes: " + LATER_BROKEN.format(fact=link, version="v3") in (
        result.stderr
    )
    verb = "valid" if dry_run else "written"
    assert last_line(result.stdout).startswith(f"6 {verb}, 0 skipped (already present), 2 rejected")
    assert ledger.event_count() == (0 if dry_run else 6)
    rejects = (tmp_path / "clients.rejects.jsonl").read_text().splitlines()
    assert [json.loads(line)["_line"] for line in rejects] == [7, 8]


def test_changes_imported_in_the_right_order_are_written(ledger: Traject, tmp_path: Path) -> None:
    retract_housing = BREAKING[0] | {"target": 4, "reason": "moved in elsewhere"}
    source = write(tmp_path / "clients.jsonl", [*GOOD, retract_housing, BREAKING[0]])

    result = ledger.ok("import", str(source))

    assert (
        last_line(result.stdout)
        == "8 written, 0 skipped (already present), 0 rejected (4 warnings)"
    )


def test_a_number_an_earlier_release_stored_in_exponent_notation_is_the_same_on_re_import(
    ledger: Traject, tmp_path: Path
) -> None:
    """An earlier release kept a number given as 1e3 as written (stored text ``1E+3``); the
    same lines now read it as 1000. Imported again, they are the facts already present (the
    numbers are compared as numbers), not a key reused for another fact; a number that is
    really another is still refused."""
    first = tmp_path / "first.jsonl"
    first.write_text(
        '{"kind": "person-registered", "person": "C-1", "occurred_on": "2024-01-02", '
        '"birth_date": "1990-04-02", "sex": "m", "nationality": ["ER"]}\n'
        '{"kind": "course-hours-reported", "person": "C-1", "occurred_on": "2024-03-31", '
        '"period_from": "2024-01-01", "component": "KNM", "hours_attended": "12", '
        '"idempotency_key": "hours-1"}\n'
    )
    ledger.ok("import", str(first))
    # as the earlier release stored them: the numbers' text as given, through the ledger's API
    app = open_app(ledger)
    try:
        person = app.person_by_external_ref("C-1")
        assert person is not None
        app.correct(person, 2, {"hours_attended": "1E+3"}, reason="typo", idempotency_key="fix-1")
        app.record(
            person, ev.CourseHoursReported, occurred_on=date(2024, 6, 30),
            period_from=date(2024, 4, 1), component="KNM", hours_attended=Decimal("2.5E+2"),
            idempotency_key="hours-2",
        )  # fmt: skip
    finally:
        app.close()
    path = ledger.database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as connection:
        query = "SELECT state FROM stored_events ORDER BY rowid DESC LIMIT 2"
        stored = connection.execute(query).fetchall()
    assert b'"hours_attended":"2.5E+2"' in stored[0][0]
    assert b'"changes":{"hours_attended":"1E+3"}' in stored[1][0]
    before = ledger.event_count()

    again = tmp_path / "again.jsonl"
    lines = [
        '{"kind": "event-corrected", "person": "C-1", "target": "hours-1", '
        '"changes": {"hours_attended": "1e3"}, "reason": "typo", "idempotency_key": "fix-1"}',
        '{"kind": "course-hours-reported", "person": "C-1", "occurred_on": "2024-06-30", '
        '"period_from": "2024-04-01", "component": "KNM", "hours_attended": "2.5e2", '
        '"idempotency_key": "hours-2"}',
    ]
    again.write_text("\n".join(lines) + "\n")
    result = ledger.ok("import", str(again))
    assert last_line(result.stdout) == "0 written, 2 skipped (already present), 0 rejected"
    assert ledger.event_count() == before

    # another number under the same key is another fact
    again.write_text(lines[0].replace('"1e3"', '"1001"') + "\n")
    result = ledger("import", str(again))
    assert result.exit_code == 1, result.output
    assert "'fix-1' was used for another fact" in result.stderr
    assert "(this one differs in changes)" in result.stderr
    assert ledger.event_count() == before


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "import"])
def test_a_change_to_a_stream_not_in_the_ledger_names_its_kind_and_its_key(
    ledger: Traject, tmp_path: Path, dry_run: bool
) -> None:
    # GOOD: a person, and municipality GM0622's taakstelling (its stream's v1)
    gm0622 = str(ev.municipality_stream_id("GM0622"))
    unknown = str(ev.municipality_stream_id("GM0363"))
    changes = {"changes": {"target": 30}, "reason": "revised"}
    lines = [
        *GOOD,
        {"kind": "event-corrected", "municipality": "GM0363", "target": 1, **changes},
        {"kind": "event-retracted", "municipality": "Amsterdam", "target": 2, "reason": "twice"},
        {"kind": "event-retracted", "project": "AMIF-NOPE", "target": 2, "reason": "twice"},
        {"kind": "event-corrected", "person_id": unknown, "target": 2, **changes},
        # a person line naming a municipality's stream: not a person, so not changed through it
        {"kind": "event-corrected", "person_id": gm0622, "target": 1, **changes},
    ]
    source = write(tmp_path / "changes.jsonl", lines)

    result = ledger("import", *(["--dry-run"] if dry_run else []), str(source))

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    expected = [
        "municipality: no fact of municipality GM0363 in this ledger",
        "municipality: no fact of municipality GM0363 in this ledger",
        "project: no project AMIF-NOPE in this ledger",
        f"person_id: no person {unknown} in this ledger",
        f"person_id: no person {gm0622} in this ledger",
    ]
    for number, message in enumerate(expected, start=len(GOOD) + 1):
        assert f"{source}:{number}: {message}\n" in result.stderr
    rejects = (tmp_path / "changes.rejects.jsonl").read_text().splitlines()
    assert [json.loads(line)["_error"] for line in rejects] == expected
    assert ledger.event_count() == (0 if dry_run else len(GOOD))
    if not dry_run:
        events = ledger.json("timeline", "GM0622")["events"]
        assert [event["kind"] for event in events] == ["TaakstellingSet"]


def test_a_correction_s_changes_are_named_apart_from_the_line_s_own_fields(
    ledger: Traject, tmp_path: Path
) -> None:
    fix = {"kind": "event-corrected", "person": "C-1001", "target": 5, "reason": "typo"}
    lines = [
        *GOOD[:5],  # v5: the ladder assessment of 2025-03-01
        fix | {"occurred_on": "2025-03-05", "changes": {"occurred_on": "2099-01-01"}},  # 6
        fix | {"occurred_on": "2099-01-01", "changes": {"occurred_on": "2025-03-02"}},  # 7
        fix | {"changes": {"reason": "none", "rung": 9}},  # 8: rung's check is not reached
        fix | {"changes": {"rung": "three"}},  # 9
    ]
    source = write(tmp_path / "fixes.jsonl", lines)

    result = ledger("import", "--dry-run", str(source))

    expected = [
        "changes.occurred_on: must not be in the future",
        "occurred_on: must not be in the future",
        "changes.reason: LadderAssessed has no correctable field 'reason' (fields: assessor, "
        "evidence, municipality, occurred_on, rung)",
        "changes.rung: expected a whole number from 1 to 6, got 'three'",
    ]
    rejected = [line for line in result.stderr.splitlines() if line.startswith(str(source))]
    assert rejected == [f"{source}:{n}: {message}" for n, message in enumerate(expected, 6)]
    rejects = (tmp_path / "fixes.rejects.jsonl").read_text().splitlines()
    assert [json.loads(line)["_error"] for line in rejects] == expected
    # a CSV file's changes cell is named alike
    csv_file = tmp_path / "fixes.csv"
    csv_file.write_text(
        "person,target,occurred_on,changes,reason\n"
        'C-1001,5,2025-03-05,"{""occurred_on"": ""2099-01-01""}",typo\n'
    )
    write(tmp_path / "people.jsonl", GOOD[:5])
    ledger.ok("import", str(tmp_path / "people.jsonl"))
    from_csv = ledger("import", "--kind", "event-corrected", str(csv_file))
    assert f"{csv_file}:2: changes.occurred_on: must not be in the future\n" in from_csv.stderr
