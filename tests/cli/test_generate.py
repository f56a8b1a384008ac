"""`traject generate` and `traject demo`: generated lines import with zero rejects, reports fill."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest
from cli_helpers import Traject

from ledger.values import Period

SMALL = ("--municipalities", "3", "--persons", "40", "--years", "3", "--seed", "5")


def lines_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_same_seed_writes_the_same_file_and_another_seed_another(
    traject: Traject, tmp_path: Path
) -> None:
    first, again, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    traject.ok("generate", *SMALL, "--start-year", "2021", "--out", str(first), "--quiet")
    traject.ok("generate", *SMALL, "--start-year", "2021", "--out", str(again), "--quiet")
    traject.ok("generate", *SMALL[:-1], "6", "--start-year", "2021", "--out", str(other), "-q")

    assert first.read_bytes() == again.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    registrations = [r for r in lines_of(first) if r["kind"] == "person-registered"]
    assert len(registrations) == 40


def test_generated_lines_import_with_zero_rejects_and_fill_the_reports(
    ledger: Traject, tmp_path: Path
) -> None:
    out = tmp_path / "generated.jsonl"
    ledger.ok("generate", *SMALL, "--start-year", "2022", "--out", str(out), "-q")
    records = lines_of(out)

    result = ledger.ok("generate", *SMALL, "--start-year", "2022", "-q")

    assert result.stderr == ""  # no line was refused
    assert ledger.event_count() == len(records)
    # the outflow report counts what the lines say: distinct persons per type in 2023
    period = Period.parse("2023")
    expected: dict[str, set[object]] = defaultdict(set)
    for r in records:
        if r["kind"] == "outflow-started" and period.contains(
            date.fromisoformat(str(r["occurred_on"]))
        ):
            expected[str(r["outflow_type"])].add(r["person"])
    report = ledger.json("report", "outflow", "--period", "2023")
    started = {row["outflow_type"]: row["started"] for row in report["rows"]}
    for kind, persons in expected.items():
        assert started[kind] == len(persons), kind
    assert started["total"] == len(set().union(*expected.values())) > 0
    # one municipality by name: its facts only, as the lines say
    mine = {r["person"] for r in records if r["kind"] == "outflow-started"
            and r.get("municipality") == "GM0622"
            and period.contains(date.fromisoformat(str(r["occurred_on"])))}  # fmt: skip
    vlaardingen = ledger.json(
        "report", "outflow", "--period", "2023", "--municipality", "vlaardingen"
    )
    assert vlaardingen["municipality"] == "GM0622"
    total = next(row for row in vlaardingen["rows"] if row["outflow_type"] == "total")
    assert total["started"] == len(mine) > 0
    # the housing targets are the taakstelling lines of the half-year
    housing = ledger.json("report", "housing", "--period", "2023H1")
    targets = {
        r["municipality"]: r["target"]
        for r in records
        if r["kind"] == "taakstelling-set" and r["period"] == "2023H1"
    }
    assert {row["municipality"]: row["target"] for row in housing["rows"]} == targets
    assert sum(row["realised"] for row in housing["rows"]) > 0
    assert ledger.json("report", "ladder", "--on", "2024-06-30")["assessed"] > 0
    assert ledger.json("caseload", "--on", "2024-06-30")["rows"]
    # P7 counts the ontzorgen of 2023 the lines hold (of the persons still active at the year's
    # end: every generated adult is an asielstatushouder, every Wi2021 one on bijstand ontzorgd)
    inburgering = ledger.json("report", "inburgering", "--on", "2023-12-31")
    assert inburgering["ontzorgen"]["started"] > 0
    assert inburgering["ontzorgen"]["started"] <= sum(
        1 for r in records
        if r["kind"] == "ontzorgen-started" and str(r["occurred_on"]).startswith("2023")
    )  # fmt: skip


def test_generating_again_with_the_same_seed_adds_nothing(ledger: Traject) -> None:
    ledger.ok("generate", *SMALL, "--start-year", "2022", "-q")
    before = ledger.event_count()

    result = ledger.ok("generate", *SMALL, "--start-year", "2022")

    assert ledger.event_count() == before
    assert "0 facts for 40 persons imported" in result.stdout
    assert f"({before} already there)" in result.stdout


def test_generate_refuses_a_ledger_with_other_facts_or_another_seed(ledger: Traject) -> None:
    ledger.register()

    result = ledger("generate", *SMALL)

    assert result.exit_code == 1
    assert "already holds facts that traject generate did not make" in result.stderr
    assert ledger.event_count() == 1

    fresh = Traject(
        ledger.database_url.replace("traject.db", "other.db"),
        ledger.key_file.with_name("other.key"),
    )
    fresh.init()
    fresh.ok("generate", *SMALL, "-q")
    count = fresh.event_count()
    refused = fresh("generate", "--persons", "5", "--seed", "99")
    assert refused.exit_code == 1
    assert "holds data generated with seed=5" in refused.stderr
    assert fresh.event_count() == count


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--out", "x.jsonl", "--db", "y.db"), "give either --out or --db, not both"),
        (("--start-year", "2099"), "the years covered must start before today"),
        (("--persons", "0"), "--persons"),
        (("--municipalities", "0"), "--municipalities"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(
    ledger: Traject, args: tuple[str, ...], message: str
) -> None:
    result = ledger("generate", *args)

    assert result.exit_code == 2
    assert message in result.stderr
    assert ledger.event_count() == 0


def test_an_unwritable_out_file_is_a_clear_error(traject: Traject, tmp_path: Path) -> None:
    result = traject("generate", "--persons", "3", "--out", str(tmp_path / "missing" / "x.jsonl"))

    assert result.exit_code == 2
    assert "Invalid value for '--out': cannot write" in result.stderr
    assert "No such file or directory" in result.stderr


def test_generate_never_overwrites_a_file(traject: Traject, tmp_path: Path) -> None:
    out = tmp_path / "kept.jsonl"
    out.write_text("mine\n")
    result = traject("generate", "--persons", "3", "--out", str(out))
    assert result.exit_code == 2
    assert "kept.jsonl exists; it is never overwritten" in result.stderr
    assert out.read_text() == "mine\n"


def test_generate_into_another_ledger_with_db(ledger: Traject, tmp_path: Path) -> None:
    other = Traject(f"sqlite:///{tmp_path / 'target.db'}", tmp_path / "target.db.key")
    other.init()

    ledger.ok("generate", "--persons", "8", "--db", other.database_url, "-q")

    assert other.event_count() > 8
    assert ledger.event_count() == 0


@pytest.mark.slow
def test_the_demo_prints_the_four_reports_and_what_to_try_next(tmp_path: Path) -> None:
    unused = Traject(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path / "unused.key")
    result = unused.ok("demo", "--db", str(tmp_path / "demo.db"), "--persons", "60")
    out = result.stdout

    for command in ("init", "generate", "projections rebuild", "caseload", "report outflow",
                    "report ladder", "report housing"):  # fmt: skip
        assert f"$ traject {command}" in out, command
    for title in ("Caseload on", "Outflow ", "Participatieladder on", "Housing against"):
        assert title in out, title
    assert "Try next:" in out
    assert not (tmp_path / "unused.db").exists()
    demo = Traject(f"sqlite:///{tmp_path / 'demo.db'}", tmp_path / "demo.db.key")
    assert demo.json("report", "ladder")["assessed"] > 0
    suggestions = [
        line.split("#")[0].split()[1:]
        for line in out[out.index("Try next:") :].splitlines()
        if line.strip().startswith("traject ") and " init" not in line and "generate" not in line
    ]
    assert len(suggestions) >= 5
    for args in suggestions:
        demo.ok(*args)


@pytest.mark.slow
def test_the_demo_never_replaces_another_ledger(ledger: Traject) -> None:
    db = Path(ledger.database_url.removeprefix("sqlite:///"))
    person = ledger.register()

    result = ledger("demo", "--db", str(db))

    assert result.exit_code == 1
    assert f"{db} exists and is not a demo ledger" in result.stderr
    assert ledger.json("person", "show", person)["person_id"] == person
