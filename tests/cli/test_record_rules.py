"""`traject record` and `traject import` refuse facts that belong to another municipality's
stream or koppeling, and ends of outflow and guidance that nothing opened: exit 1, nothing
written, the reports unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Traject, initialised_ledger, last_line, project_registration, refused


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Traject:
    return initialised_ledger(request, tmp_path, "traject_rules")


def target(code: str, value: int, *options: str) -> tuple[str, ...]:
    return (
        "record", "taakstelling-set", code, "--on", "2024-12-01", "--period", "2025H1",
        "--target", str(value), "--source-ref", f"circulaire {code}", *options,
    )  # fmt: skip


def housing_rows(traject: Traject, period: str) -> list[list[str]]:
    """The rows of `report housing` as CSV, without the header."""
    text = traject.ok("report", "housing", "--period", period, "--format", "csv").stdout
    return [line.split(",") for line in text.strip().splitlines()[1:]]


def kinds(traject: Traject, person: str) -> list[str]:
    return [e["kind"] for e in traject.json("timeline", person)["events"]]


def import_lines(traject: Traject, tmp_path: Path, lines: list[dict[str, Any]]) -> Any:
    source = tmp_path / "facts.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return traject("import", str(source)), source


def linked(traject: Traject) -> str:
    """A person linked by COA to GM0622 (the default) on 2024-07-02, for the 2024H2 quota."""
    person = traject.register()
    traject.ok(
        "record", "coa-linked", person, "--on", "2024-07-02", "--taakstelling-period", "2024H2"
    )
    return person


# --- 1. a municipality's stream holds its own facts ---------------------------------------------


def test_a_target_recorded_on_another_municipalitys_stream_is_refused(store: Traject) -> None:
    store.ok(*target("GM0622", 10))

    refused(
        store,
        *target("GM0556", 999, "--municipality", "GM0622"),
        stderr="TaakstellingSet: --municipality: GM0622 is not the municipality of this stream: "
        "a municipality's stream holds its own facts only (record it on GM0622's stream)",
    )

    # nothing was written: GM0556 has no facts, GM0622 keeps its own target
    assert (
        store("timeline", "GM0556").stderr
        == "Error: no fact of municipality GM0556 in this ledger\n"
    )
    assert [e["kind"] for e in store.json("timeline", "GM0622")["events"]] == ["TaakstellingSet"]
    assert housing_rows(store, "2025H1") == [
        ["2025H1", "GM0622", "10", "0", "-10", "", "achterstand"]
    ]
    store.ok(*target("GM0556", 12))  # its own code on its own stream is fine
    assert [row[:3] for row in housing_rows(store, "2025H1")] == [
        ["2025H1", "GM0556", "12"],
        ["2025H1", "GM0622", "10"],
    ]


def test_a_correction_moving_a_target_to_another_municipality_is_refused(
    ledger: Traject,
) -> None:
    ledger.ok(*target("GM0622", 10))

    refused(
        ledger,
        "correct", "GM0622", "1", "--set", "municipality=GM0556", "--reason", "wrong stream",
        stderr="TaakstellingSet: municipality: GM0556 is not the municipality of this stream: "
        "a municipality's stream holds its own facts only (record it on GM0556's stream)",
    )  # fmt: skip

    assert [e["kind"] for e in ledger.json("timeline", "GM0622")["events"]] == ["TaakstellingSet"]
    assert housing_rows(ledger, "2025H1")[0][:3] == ["2025H1", "GM0622", "10"]


def test_an_imported_correction_moving_a_target_to_another_municipality_is_rejected(
    ledger: Traject, tmp_path: Path
) -> None:
    ledger.ok(*target("GM0622", 10))
    correction = {
        "kind": "event-corrected",
        "municipality": "GM0622",
        "target": 1,
        "changes": {"municipality": "GM0556"},
        "reason": "recorded on the wrong municipality",
    }

    result, source = import_lines(ledger, tmp_path, [correction])

    assert result.exit_code == 1
    assert f"{source}:1: changes.municipality: GM0556 is not the municipality of this stream" in (
        result.stderr
    )
    assert last_line(result.stdout).startswith("0 written, 0 skipped (already present), 1 rejected")
    assert ledger.event_count() == 1
    assert housing_rows(ledger, "2025H1")[0][:3] == ["2025H1", "GM0622", "10"]


# --- 2. a koppeling is housed in the municipality it links to -----------------------------------


def test_housing_through_a_koppeling_in_another_municipality_is_refused(store: Traject) -> None:
    person = linked(store)
    housed = ("record", "housed", person, "--on", "2024-07-10", "--housing-kind", "regulier")

    refused(
        store,
        *housed,
        "--route",
        "koppeling",
        "--municipality",
        "GM0556",
        stderr="Housed: --municipality: housed in GM0556 through the koppeling to GM0622: housing "
        "through a koppeling is in the municipality it links to (withdraw the koppeling and "
        "link again, or give another route)",
    )

    assert kinds(store, person)[-1] == "CoaLinked"
    assert housing_rows(store, "2024H2") == []  # counted for nobody
    store.ok(*housed, "--route", "koppeling")  # in GM0622 it counts there
    assert [row[:4] for row in housing_rows(store, "2024H2")] == [["2024H2", "GM0622", "", "1"]]


def test_a_housing_through_a_koppeling_belongs_to_the_koppeling_s_municipality_by_default(
    store: Traject,
) -> None:
    """A statushouder registered in the AZC's municipality and linked to GM0622 is housed in
    GM0622: without --municipality the move-in through the koppeling counts there."""
    person = store.register("--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY",
                            "--municipality", "GM0344")  # fmt: skip
    store.ok("record", "coa-linked", person, "--on", "2024-07-02", "--taakstelling-period",
             "2024H2", "--municipality", "GM0622")  # fmt: skip

    store.ok("record", "housed", person, "--on", "2024-07-10", "--housing-kind", "regulier",
             "--route", "koppeling")  # fmt: skip

    housed = store.json("timeline", person)["events"][-1]
    assert (housed["kind"], housed["recorded"]["municipality"]) == ("Housed", "GM0622")
    assert [row[:4] for row in housing_rows(store, "2024H2")] == [["2024H2", "GM0622", "", "1"]]


def test_an_imported_housing_through_a_koppeling_elsewhere_is_rejected(
    ledger: Traject, tmp_path: Path
) -> None:
    person = linked(ledger)
    line = {
        "kind": "housed",
        "person_id": person,
        "occurred_on": "2024-07-10",
        "housing_kind": "regulier",
        "route": "koppeling",
        "municipality": "GM0556",
    }

    result, source = import_lines(ledger, tmp_path, [line])

    assert result.exit_code == 1
    assert f"{source}:1: municipality: housed in GM0556 through the koppeling to GM0622" in (
        result.stderr
    )
    assert kinds(ledger, person)[-1] == "CoaLinked"


# --- 3. guidance ends a year that is open -------------------------------------------------------


def test_a_guidance_year_ends_once_and_only_after_it_started(store: Traject) -> None:
    person = store.register()
    end = ("record", "social-guidance-ended", person, "--on", "2024-12-01", "--year-no")

    refused(
        store,
        *end,
        "2",
        stderr="SocialGuidanceEnded: --year-no: no open guidance year 2 to end (not started)",
    )
    store.ok(
        "record", "social-guidance-started", person, "--on", "2024-01-15", "--year-no", "1",
        "--provider", "VluchtelingenWerk",
    )  # fmt: skip
    store.ok(*end, "1")
    refused(
        store,
        *end,
        "1",
        stderr="SocialGuidanceEnded: --year-no: no open guidance year 1 to end (already ended)",
    )
    assert kinds(store, person) == [
        "PersonRegistered",
        "SocialGuidanceStarted",
        "SocialGuidanceEnded",
    ]
    # P8 counts no end without its start
    rows = store.json("report", "guidance", "--period", "2024")["rows"]
    assert [(r["year_no"], r["started"], r["ended"]) for r in rows] == [
        ("1", 1, 1),
        ("2", 0, 0),
        ("total", 1, 1),
    ]


# --- 4. and 5. outflow: one open outflow per type, ended after its start, hours in a week ------


def test_outflow_of_one_type_is_open_once_and_ends_after_it_starts(store: Traject) -> None:
    person = store.register()
    start = ("record", "outflow-started", person, "--outflow-type", "werk_gedeeltelijk")
    store.ok(*start, "--on", "2024-06-03")

    refused(
        store,
        *start,
        "--on",
        "2024-07-01",
        stderr="OutflowStarted: --outflow-type: a werk_gedeeltelijk outflow is already open "
        "(started 2024-06-03): end it first (outflow-ended)",
    )
    refused(
        store,
        "record", "outflow-ended", person, "--on", "2024-06-02",
        "--outflow-type", "werk_gedeeltelijk", "--reason", "contract ended",
        stderr="OutflowEnded: --on (occurred_on): dated 2024-06-02, before the start of "
        "2024-06-03 it "
        "follows (an outflow ends after it starts)",
    )  # fmt: skip
    # another type may be open beside it
    store.ok(
        "record", "outflow-started", person, "--on", "2024-07-01",
        "--outflow-type", "onbetaald_vrijwilligerswerk",
    )  # fmt: skip
    assert kinds(store, person) == ["PersonRegistered", "OutflowStarted", "OutflowStarted"]


def test_outflows_of_one_type_do_not_overlap(store: Traject) -> None:
    person = store.register()
    outflow = ("--outflow-type", "werk_volledig")
    store.ok("record", "outflow-started", person, "--on", "2024-02-01", *outflow)
    store.ok(
        "record", "outflow-ended", person, "--on", "2024-05-31", *outflow,
        "--reason", "contract ended",
    )  # fmt: skip
    # a start recorded late inside the ended outflow: the stock would count the person twice
    refused(
        store,
        "record", "outflow-started", person, "--on", "2024-03-01", *outflow,
        stderr="OutflowStarted: --on (occurred_on): dated 2024-03-01, inside the werk_volledig "
        "outflow "
        "of 2024-02-01 to 2024-05-31: outflows of one type do not overlap",
    )  # fmt: skip
    # nor can a correction move the next start into it
    store.ok("record", "outflow-started", person, "--on", "2024-07-01", *outflow)
    refused(
        store,
        "correct", person, "4", "--set", "occurred_on=2024-04-01",
        "--reason", "typo",
        stderr="OutflowStarted: on (occurred_on): dated 2024-04-01, inside the werk_volledig "
        "outflow "
        "of 2024-02-01 to 2024-05-31: outflows of one type do not overlap",
    )  # fmt: skip
    rows = store.json("report", "outflow", "--period", "2024H1")["rows"]
    werk = next(r for r in rows if r["outflow_type"] == "werk_volledig")
    assert (werk["started"], werk["in_outflow_at_end"]) == (1, 0)


def test_contract_hours_per_week_fit_in_a_week(store: Traject) -> None:
    person = store.register()
    start = ("record", "outflow-started", person, "--on", "2024-06-03")

    refused(
        store,
        *start, "--outflow-type", "werk_volledig", "--hours-per-week", "200",
        stderr="OutflowStarted: --hours-per-week: 200 hours is more than a week holds (168)",
    )  # fmt: skip
    store.ok(*start, "--outflow-type", "werk_volledig", "--hours-per-week", "36")


# --- 3. a period lies in the years traject reports on -------------------------------------------

OUT_OF_YEARS = "is outside the years traject reports on: use a year from 1990 to 2100"


def project(traject: Traject) -> None:
    traject.ok(*project_registration("2024-01-05"))


PERIOD_FACTS = [
    # (what to record first, the recording with a period of ``{period}``, the event, the field)
    pytest.param(
        None,
        ("record", "taakstelling-set", "GM0622", "--on", "2024-12-01", "--period", "{period}",
         "--target", "10", "--source-ref", "circulaire"),
        "TaakstellingSet", "period", id="taakstelling-set",
    ),
    pytest.param(
        None,
        ("record", "housing-realisation-confirmed", "GM0622", "--on", "2024-12-01", "--period",
         "{period}", "--official-realised", "3", "--confirmed-by", "COA"),
        "HousingRealisationConfirmed", "period", id="housing-realisation-confirmed",
    ),
    pytest.param(
        "person",
        ("record", "coa-linked", "{person}", "--on", "2024-07-02", "--taakstelling-period",
         "{period}"),
        "CoaLinked", "taakstelling_period", id="coa-linked",
    ),
    pytest.param(
        "project",
        ("record", "cost-recorded", "MWP", "--on", "2024-03-01", "--amount", "100", "--category",
         "travel", "--period", "{period}", "--doc-ref", "F-1"),
        "CostRecorded", "period", id="cost-recorded",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("first", "recording", "kind", "field"), PERIOD_FACTS)
@pytest.mark.parametrize("period", ["9999H2", "1989H2", "0001H1"])
def test_a_period_outside_the_reported_years_is_refused_naming_the_field(
    ledger: Traject,
    first: str | None,
    recording: tuple[str, ...],
    kind: str,
    field: str,
    period: str,
) -> None:
    """`--period 9999H2` was recorded, and the reports refuse to count that year."""
    if first == "project":
        project(ledger)

    def args(given: str) -> list[str]:  # a person linked once: a new one for each link
        person = ledger.register() if first == "person" else ""
        return [word.format(period=given, person=person) for word in recording]

    option = "--" + field.replace("_", "-")
    refused(ledger, *args(period), stderr=f"{kind}: {option}: {period!r} {OUT_OF_YEARS}")

    # the first and last half-year of those years are recorded
    ledger.ok(*args("1990H1"))
    ledger.ok(*args("2100H2"))


def test_a_correction_to_a_period_outside_the_reported_years_is_refused(ledger: Traject) -> None:
    ledger.ok(*target("GM0622", 10))

    refused(
        ledger,
        "correct", "GM0622", "1", "--set", "period=9999H1", "--reason", "typo",
        stderr=f"TaakstellingSet: period: '9999H1' {OUT_OF_YEARS}",
    )  # fmt: skip


def test_an_imported_period_outside_the_reported_years_is_rejected(
    ledger: Traject, tmp_path: Path
) -> None:
    project(ledger)
    before = ledger.event_count()
    lines = [
        {"kind": "taakstelling-set", "municipality": "GM0622", "occurred_on": "2024-12-01",
         "period": "9999H2", "target": 40, "source_ref": "circulaire"},
        {"kind": "cost-recorded", "project": "MWP", "occurred_on": "2024-03-01", "amount": "100",
         "category": "travel", "period": "2101", "doc_ref": "F-1"},
    ]  # fmt: skip

    result, source = import_lines(ledger, tmp_path, lines)

    assert result.exit_code == 1, result.output
    assert f"{source}:1: period: '9999H2' {OUT_OF_YEARS}" in result.stderr
    assert f"{source}:2: period: '2101' {OUT_OF_YEARS}" in result.stderr
    assert last_line(result.stdout).startswith("0 written, 0 skipped (already present), 2 rejected")
    assert ledger.event_count() == before
