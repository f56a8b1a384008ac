"""Several `traject` processes on one ledger at once: nothing is lost, nothing is doubled.

Each command runs as a process of its own, as on a municipality's servers, all started before
any has finished. The races of single writes (key rotations, `traject init`) are in
test_rotate_master_key.py and test_init.py; a SIGKILL in the middle of an import is in
test_import_kill.py, of a rebuild in tests/projections/test_projection_kill.py.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Traject, days_ago, initialised_ledger, open_app

from projections import PROJECTIONS, Views, catch_up, rebuild_many
from projections.base import REBUILDS_TABLE, STATE_TABLE
from projections.claims import runs_held

PEOPLE = 20


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Traject:
    return initialised_ledger(request, tmp_path, "traject_concurrency")


def finished(processes: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    """(exit status, stdout, stderr) of each process, once all have ended."""
    return [(p.wait(timeout=120), *p.communicate()) for p in processes]


def clients_file(tmp_path: Path) -> Path:
    """Invented clients of a source system: a registration and two ladder assessments each."""
    lines = []
    for n in range(PEOPLE):
        key = f"C-{n}"
        lines.append(
            {
                "kind": "person-registered",
                "person": key,
                "occurred_on": days_ago(40),
                "birth_date": "1990-04-02",
                "sex": "f",
                "nationality": ["SY"],
            }
        )
        lines += [
            {"kind": "ladder-assessed", "person": key, "occurred_on": days_ago(days),
             "rung": 1 + (n + days) % 6, "assessor": "r.jansen"}
            for days in (20, 10)
        ]  # fmt: skip
    source = tmp_path / "clients.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return source


def assessment(person: str, assessor: str) -> tuple[str, ...]:
    """`traject record ladder-assessed` of ``person`` two days ago, by ``assessor``."""
    return ("record", "ladder-assessed", person, "--on", days_ago(2), "--rung", "3",
            "--assessor", assessor)  # fmt: skip


def test_records_on_one_person_at_once_are_each_stored_once(store: Traject) -> None:
    person = store.register()

    ended = finished([store.start(*assessment(person, f"assessor-{n}")) for n in range(3)])

    # each writer that found the stream moved on was retried without a word to the user
    assert [(code, stderr) for code, _, stderr in ended] == [(0, "")] * 3
    entries = store.json("timeline", person)["events"]
    assert [e["version"] for e in entries] == [1, 2, 3, 4]
    assert sorted(e["recorded"]["fields"]["assessor"] for e in entries[1:]) == [
        "assessor-0",
        "assessor-1",
        "assessor-2",
    ]
    assert store.ok("audit", "verify").stdout == "verified 4 events against 0 checkpoints\n"


def test_two_imports_of_one_file_at_once_store_each_line_once(
    store: Traject, tmp_path: Path
) -> None:
    source = clients_file(tmp_path)

    ended = finished(
        [store.start("--json", "import", "--batch-size", "10", str(source)) for _ in range(2)]
    )

    assert [code for code, _, _ in ended] == [0, 0]
    summaries = [json.loads(stdout) for _, stdout, _ in ended]
    # every line was written by one import and skipped by the other
    assert sum(s["written"] for s in summaries) == 3 * PEOPLE
    assert [s["written"] + s["skipped"] for s in summaries] == [3 * PEOPLE] * 2
    assert store.event_count() == 3 * PEOPLE
    kinds = Counter(json.loads(line)["kind"] for line in store.ok("export").stdout.splitlines())
    assert kinds == {"person-registered": PEOPLE, "ladder-assessed": 2 * PEOPLE}
    store.ok("audit", "verify")


def test_read_models_rebuilt_while_others_write_end_as_a_fresh_rebuild(
    store: Traject, tmp_path: Path
) -> None:
    person = store.register()
    source = clients_file(tmp_path)

    ended = finished(
        [
            store.start("projections", "rebuild", "--quiet"),
            store.start("import", "--quiet", str(source)),
            store.start(*assessment(person, "r.jansen")),
            store.start("report", "ladder", "--on", days_ago(1)),
        ]
    )

    assert [code for code, _, _ in ended] == [0, 0, 0, 0], [e[2] for e in ended]
    # the read models, caught up after the swap, hold what a fresh rebuild of the whole log holds
    app = open_app(store)
    try:
        views = Views(app)
        caught_up = {name: catch_up(views, p).digest for name, p in PROJECTIONS.items()}
        fresh = rebuild_many(views, list(PROJECTIONS.values()))
        assert {r.name: r.digest for r in fresh} == caught_up
        assert {r.position for r in fresh} == {app.recorder.max_notification_id()}
    finally:
        app.close()


def claimed(store: Traject) -> list[tuple[str, str]]:
    """The rebuilds of read models that have begun and not swapped in: (name, run id)."""
    return [(name, run_id) for name, run_id, _ in stored(store, REBUILDS_TABLE)]


def stored(store: Traject, table: str) -> list[tuple[Any, ...]]:
    """The rows of one of the read models' own tables, read in a connection of their own."""
    app = open_app(store)
    try:
        views = Views(app)
        views.ensure_state_table()
        with views.transaction(commit=False) as tx:
            return [tuple(row) for row in tx.all(f"SELECT * FROM {tx.table(table)}")]
    finally:
        app.close()


def test_a_report_leaves_a_rebuild_that_has_begun_alone(store: Traject, tmp_path: Path) -> None:
    """The first report of a read model builds it in one pass (on SQLite it was never built;
    on PostgreSQL `traject init` built it empty). A rebuild of it that has begun and runs (the
    owner's `traject projections rebuild`, another user's first report) must not be taken
    over: that one would stop, and fail its command. Here that run is this test, holding its
    run's lock (a killed run's claim is in tests/projections/test_rebuild_claims.py)."""
    store.ok("import", "--quiet", str(clients_file(tmp_path)))
    app = open_app(store)
    try:
        views = Views(app)
        views.ensure_state_table()
        with views.transaction(commit=True) as tx:
            tx.execute(
                f"INSERT INTO {tx.table(REBUILDS_TABLE)} VALUES (?, ?, ?)",
                ["ladder", "the-other-run", "2026-01-01T00:00:00Z"],
            )
        with runs_held(app.recorder, ["the-other-run"]):
            report = store.json("report", "ladder", "--on", days_ago(1))
            shown = store.json("projections", "status")
            table = store.ok("projections", "status", "--format", "table").stdout
    finally:
        app.close()

    # the other run still owns its rebuild; the report caught up page by page, as far
    assert claimed(store) == [("ladder", "the-other-run")]
    assert report["basis"]["position"] == store.event_count()
    assert report["assessed"] == PEOPLE
    ((ladder,),) = [[row for row in shown if row["name"] == "ladder"]]
    assert (ladder["rebuild"], ladder["rebuild_started_at"]) == ("running", "2026-01-01T00:00:00Z")
    assert "ladder: a rebuild is running since 2026-01-01 00:00:00 UTC" in table
    # that run ended without swapping in: its claim is dead, and the status says so
    ((ladder,),) = [[row for row in store.json("projections", "status") if row["name"] == "ladder"]]
    assert ladder["rebuild"] == "interrupted"
    assert (
        "ladder: an interrupted rebuild (begun 2026-01-01 00:00:00 UTC) left a claim; the next"
        " rebuild replaces it"
    ) in " ".join(store.ok("projections", "status", "--format", "table").stdout.split())
    # a later rebuild takes over the claim, without a word, and swaps in
    assert store.ok("projections", "rebuild", "--quiet", "ladder").stderr == ""
    assert claimed(store) == []


def test_a_report_during_a_rebuild_leaves_it_to_swap_in(store: Traject, tmp_path: Path) -> None:
    """The owner's rebuild is under way (its run registered, its pages being read) when the
    first report of a read model never caught up arrives, in another process: the report
    answers from the log without taking the rebuild over, and the rebuild swaps in."""
    store.ok("import", "--quiet", str(clients_file(tmp_path)))
    reports: list[Any] = []
    claims: list[list[tuple[str, str]]] = []
    states: list[list[tuple[Any, ...]]] = []

    def report_at_start(done: int, total: int) -> None:
        if not reports:  # the run is registered, and nothing of the log is read yet
            reports.append(store.json("report", "ladder", "--on", days_ago(1)))
            claims.append(claimed(store))
            states.append(stored(store, STATE_TABLE))

    app = open_app(store)
    try:
        views = Views(app)
        ladder = PROJECTIONS["ladder"]
        rebuilt = rebuild_many(views, [ladder], progress=report_at_start)
        caught_up = catch_up(views, ladder)
    finally:
        app.close()

    assert [name for ((name, _),) in claims] == ["ladder"]
    # the report caught the read model up page by page, to the rows the rebuild built
    ((position, digest),) = [(row[1], row[4]) for row in states[0] if row[0] == "ladder"]
    assert position == store.event_count()
    assert digest == rebuilt[0].digest
    assert [(r["basis"]["position"], r["assessed"]) for r in reports] == [
        (store.event_count(), PEOPLE)
    ]
    # the rebuild swapped in, and the read model is what the rebuild built
    assert rebuilt[0].rebuilt
    assert claimed(store) == []
    assert (caught_up.position, caught_up.digest) == (rebuilt[0].position, rebuilt[0].digest)


def test_first_reports_of_a_read_model_at_once_all_answer(store: Traject, tmp_path: Path) -> None:
    """Several first reports of a read model whose tables are not there (on SQLite never
    built; here gone on PostgreSQL too): one builds it, the others leave that build alone and
    catch up page by page; every one answers from the whole log."""
    store.ok("import", "--quiet", str(clients_file(tmp_path)))
    app = open_app(store)
    try:
        views = Views(app)
        with views.transaction(commit=True) as tx:
            for table in PROJECTIONS["ladder"].tables:
                tx.execute(f"DROP TABLE IF EXISTS {tx.table(table.name)}")
    finally:
        app.close()

    ended = finished(
        [store.start("--json", "report", "ladder", "--on", days_ago(1)) for _ in range(4)]
    )

    assert [(code, stderr) for code, _, stderr in ended] == [(0, "")] * 4
    answers = [json.loads(stdout) for _, stdout, _ in ended]
    assert {(a["basis"]["position"], a["assessed"]) for a in answers} == {
        (store.event_count(), PEOPLE)
    }
    assert claimed(store) == []
