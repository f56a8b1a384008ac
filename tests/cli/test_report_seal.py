"""`traject report seal`, `sealed` and `restate`: a report sealed as delivered stays as it was,
and corrections recorded after it show as restated figures beside the sealed ones."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from contextlib import closing
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_helpers import (
    Traject,
    canonical_sha256,
    days_ago,
    initialised_ledger,
    open_app,
    outflow_person,
    start_outflow,
)

from ledger import events as ev
from ledger.aggregates import LEDGER_TIMEZONE
from ledger.errors import RuleViolationError, TrajectError

LABEL = "H1 outflow, raad 2024-07-10"
SEAL = ("report", "seal", "--label", LABEL, "report", "outflow", "--period", "2024H1")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Traject:
    """An initialised ledger on a SQLite file or in a PostgreSQL schema of its own."""
    return initialised_ledger(request, tmp_path, "traject_seal")


@pytest.fixture
def sealed(ledger: Traject) -> dict[str, Any]:
    """P1 started full-time work and P2 school in 2024H1; the outflow report is sealed; then
    P2's start is corrected to part-time work and P3's school start (in H1) recorded late."""
    app = open_app(ledger)
    try:
        p1, p2, p3 = outflow_person(app), outflow_person(app), outflow_person(app)
        start_outflow(app, p1, date(2024, 2, 1), "werk_volledig")
        p2_start = start_outflow(app, p2, date(2024, 3, 1), "onderwijs")
        before = int(app.recorder.max_notification_id() or 0)
    finally:
        app.close()
    seal = ledger.json(*SEAL)
    app = open_app(ledger)
    try:
        app.correct(
            p2, p2_start, changes={"outflow_type": "werk_gedeeltelijk"}, reason="wrong type"
        )
        # P3's start happened in H1 and is recorded after the seal
        start_outflow(app, p3, date(2024, 4, 1), "onderwijs")
    finally:
        app.close()
    return {"seal": seal, "before": before}


def test_a_sealed_report_is_restated_beside_the_original(
    ledger: Traject, sealed: dict[str, Any]
) -> None:
    seal = sealed["seal"]
    # the seal: the municipality's stream, the command, the label, the events it counted
    assert seal["municipality"] == "GM0622"
    assert seal["command"] == ["report", "outflow", "--period", "2024H1"]
    assert seal["label"] == LABEL
    assert seal["last_notification_id"] == sealed["before"]
    assert seal["seal"] == 1  # the first fact on GM0622's stream
    # its digest is replay's: the report as known at the seal's moment, without its basis
    replayed = ledger.json(
        "audit", "replay", "--as-known-at", seal["as_known_at"], "report", "outflow",
        "--period", "2024H1",
    )  # fmt: skip
    assert replayed["replay"]["digest"] == seal["digest"]
    result = {k: v for k, v in replayed["result"].items() if k != "basis"}
    assert canonical_sha256(result) == seal["digest"]

    restated = ledger.json("report", "restate", "v1")
    # by hand: sealed werk_volledig 1, onderwijs 1 (P2), total 2; now P2 works part-time and
    # P3 is at school: werk_gedeeltelijk 0 → 1 and total 2 → 3 (started and still in outflow
    # at the end of H1); onderwijs stays 1 (P2 out, P3 in), so it is not a change
    changes = {c["path"]: (c["original"], c["restated"]) for c in restated["changed"]}
    assert changes == {
        "rows[outflow_type=werk_gedeeltelijk].started": (0, 1),
        "rows[outflow_type=werk_gedeeltelijk].in_outflow_at_end": (0, 1),
        "rows[outflow_type=total].started": (2, 3),
        "rows[outflow_type=total].in_outflow_at_end": (2, 3),
    }
    assert {c["status"] for c in restated["changed"]} == {"changed"}
    # every other value is counted unchanged: period and by; 5 rows of started, in outflow at
    # end and period; moved out; less the 4 changed
    assert restated["unchanged"] == 2 + 5 * 3 + 1 - 4
    assert restated["reproducible"] == {
        "ok": True,
        "digest": seal["digest"],
        "rule_version": seal["rule_version"],
        "rules_changed": False,
    }
    assert restated["seal"] == seal
    assert restated["restated"]["last_notification_id"] == sealed["before"] + 3
    # the seal stays: the original figures are those sealed
    assert canonical_sha256(restated["original"]) == seal["digest"]
    again = ledger.json("report", "sealed")
    assert again["seals"] == [seal]

    # the table names each changed figure with both values; csv gives the same rows
    table = ledger.ok("report", "restate", "1").stdout
    assert "rows[outflow_type=total].started" in table
    assert "4 figure(s) changed, 14 unchanged; reproducible: yes" in " ".join(table.split())
    csv_rows = ledger.ok("report", "restate", "v1", "--format", "csv").stdout.splitlines()
    assert csv_rows[0] == "path,original,restated,status"
    assert "rows[outflow_type=total].started,2,3,changed" in csv_rows


def test_the_seal_is_in_the_integrity_log_and_listed(
    ledger: Traject, sealed: dict[str, Any]
) -> None:
    # the seal is an event: counted by verify, and named when its stored bytes are altered
    verified = ledger.json("audit", "verify")
    assert verified["ok"] is True
    assert verified["events"] == sealed["before"] + 3  # the seal, the correction, P3's start
    listed = ledger.ok("report", "sealed").stdout
    assert "v1" in listed
    assert LABEL in listed
    assert sealed["seal"]["digest"][:16] in listed
    if not ledger.database_url.startswith("sqlite"):
        return
    # a report catches the integrity log up: the seal's leaf is recorded
    ledger.ok("report", "outflow", "--period", "2024H1")
    path = ledger.database_url.removeprefix("sqlite:///")
    seal_id = sealed["before"] + 1
    with closing(sqlite3.connect(path)) as connection, connection:
        (state,) = connection.execute(
            "SELECT state FROM stored_events WHERE rowid = ?", [seal_id]
        ).fetchone()
        data = orjson.loads(state)
        assert '"started":2' in data["result_json"]
        data["result_json"] = data["result_json"].replace('"started":2', '"started":3')
        connection.execute("DROP TRIGGER traject_events_no_update")
        connection.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = ?",
            [orjson.dumps(data, option=orjson.OPT_SORT_KEYS), seal_id],
        )
    tampered = ledger("audit", "verify", "-q")
    assert tampered.exit_code == 1
    assert f"notification {seal_id}" in tampered.stderr or f"event {seal_id}" in tampered.stderr


def alter_stored_seal(ledger: Traject, notification_id: int, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in a seal's stored result_json, by hand in the SQLite file,
    its digest left as it was (the update trigger dropped, as someone with file access would)."""
    path = ledger.database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as connection, connection:
        (state,) = connection.execute(
            "SELECT state FROM stored_events WHERE rowid = ?", [notification_id]
        ).fetchone()
        data = orjson.loads(state)
        assert old in data["result_json"]
        data["result_json"] = data["result_json"].replace(old, new)
        connection.execute("DROP TRIGGER IF EXISTS traject_events_no_update")
        connection.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = ?",
            [orjson.dumps(data, option=orjson.OPT_SORT_KEYS), notification_id],
        )


@pytest.mark.parametrize("ledger", ["sqlite"], indirect=True)
def test_a_seal_altered_after_it_was_recorded_is_never_shown_as_sealed(
    ledger: Traject, sealed: dict[str, Any], tmp_path: Path
) -> None:
    seal_id = sealed["before"] + 1
    # the sealed total was 2; it is changed to 9 in the stored event, before the integrity
    # log recorded the seal's leaf
    alter_stored_seal(ledger, seal_id, '"started":2', '"started":9')
    altered = (
        "Error: seal v1 on GM0622's stream was altered after it was recorded (digest: must be "
        "the SHA-256 of result_json): its stored figures are not the ones it sealed; run "
        "`traject audit verify` to see what changed\n"
    )
    # restate checks the seal against its own digest first: no figures, no "reproducible"
    for output in ("table", "json", "csv"):
        restated = ledger("report", "restate", "v1", "--format", output)
        assert restated.exit_code == 1, output
        assert restated.stdout == ""
        assert restated.stderr == altered
    # the listing shows no figures: it still lists the seal, and names it as altered
    listed = ledger("report", "sealed", "--format", "json")
    assert listed.exit_code == 1
    assert json.loads(listed.stdout)["seals"] == [sealed["seal"]]
    assert listed.stderr == altered
    # the municipality's timeline shows the stored event as it is, and says it was altered
    timeline = ledger("timeline", "GM0622")
    assert timeline.exit_code == 1
    assert timeline.stderr.endswith(altered)
    # verify names the event, although its leaf was recorded only after the change ...
    ledger.ok("report", "outflow", "--period", "2024H1")
    verified = ledger("audit", "verify", "-q", "--json")
    assert verified.exit_code == 1
    problems = json.loads(verified.stdout)["problems"]
    assert problems == [
        {
            "kind": "seal",
            "message": f"event {seal_id} (stream {problems[0]['stream_id']} version 1) is a "
            "sealed report whose stored figures do not match its digest (digest: must be the "
            "SHA-256 of result_json): it was altered after it was recorded",
            "notification_id": seal_id,
            "stream_id": problems[0]["stream_id"],
            "version": 1,
            "checkpoint_size": None,
        }
    ]
    # ... and an import refuses the exported seal for the same reason (one shared check)
    exported = tmp_path / "export.jsonl"
    ledger.ok("export", "--include-personal", "--quiet", "--output", str(exported))
    copy = Traject(f"sqlite:///{tmp_path / 'copy.db'}", tmp_path / "copy.key")
    copy.init("--municipality", "GM0622")
    imported = copy("import", str(exported))
    assert imported.exit_code != 0
    assert "digest: must be the SHA-256 of result_json" in imported.output


def test_a_second_seal_with_the_same_label_is_a_new_seal(
    ledger: Traject, sealed: dict[str, Any]
) -> None:
    result = ledger.ok("--json", *SEAL)
    second = json.loads(result.stdout)
    assert second["seal"] == 2
    assert f"label {LABEL!r} was sealed before (v1): this is a new seal" in result.stderr
    # as known now: the corrections are in it
    assert second["digest"] != sealed["seal"]["digest"]
    listed = ledger.json("report", "sealed")["seals"]
    assert [s["seal"] for s in listed] == [1, 2]
    # restating the second seal: nothing changed since
    restated = ledger.json("report", "restate", "v2")
    assert restated["changed"] == []
    assert restated["reproducible"]["ok"] is True


def test_a_seal_keeps_its_moment_in_utc_so_its_replay_does_not_depend_on_how_moments_are_read(
    ledger: Traject, sealed: dict[str, Any]
) -> None:
    """A moment given without an offset is Dutch time; a seal stores the moment it ran with in
    UTC, with its offset, so its restatement replays that very moment."""
    seal = sealed["seal"]
    moment = datetime.fromisoformat(seal["as_known_at"])
    assert moment.utcoffset() == timedelta(0)
    # the same moment written in Dutch time without an offset replays to the sealed digest
    dutch = moment.astimezone(LEDGER_TIMEZONE).replace(tzinfo=None).isoformat()
    replayed = ledger.json(
        "audit", "replay", "--as-known-at", dutch, "report", "outflow", "--period", "2024H1"
    )
    assert replayed["replay"]["as_known_at"] == seal["as_known_at"]
    assert replayed["replay"]["digest"] == seal["digest"]
    restated = ledger.json("report", "restate", "v1")
    assert restated["seal"]["as_known_at"] == seal["as_known_at"]
    assert restated["reproducible"]["ok"] is True


def test_a_person_level_list_is_never_sealed(ledger: Traject) -> None:
    before = ledger.event_count()
    for command in (("report", "caseload"), ("caseload",), ("find-candidates",)):
        refused = ledger("report", "seal", "--label", "x", *command)
        assert refused.exit_code == 2, command
        assert "lists persons" in refused.stderr
        assert "must not carry personal data" in refused.stderr
        assert "Traceback" not in refused.output
    assert ledger.event_count() == before


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("report", "restate", "v9"), "SEAL: no sealed report v9 on GM0622's stream"),
        (("report", "restate", "nine"), "'nine' is not a seal"),
        (("report", "seal", "report", "outflow", "--period", "2024H1"), "--label"),
        (("report", "seal", "--label", "  ", "report", "outflow"), "--label"),
        (("report", "seal", "--label", "x", "record", "housed"), "is not a report"),
        (("report", "seal", "--label", "x", "report", "sealed"), "is not a report"),
        (("report", "seal", "--label", "x", "nonsense"), "No such command 'nonsense'"),
        (
            ("report", "seal", "--label", "x", "report", "outflow", "--format", "csv"),
            "--format is added to the command",
        ),
        (("report", "seal", "--label", "x", "report", "outflow", "--period", "2024X"), "period"),
        (
            ("report", "seal", "--label", "x", "--municipality", "Atlantis", "report", "outflow"),
            "--municipality",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    ledger: Traject, args: tuple[str, ...], named: str
) -> None:
    before = ledger.event_count()
    result = ledger(*args)
    assert result.exit_code != 0
    assert named in result.stderr
    assert "Traceback" not in result.output
    assert ledger.event_count() == before


def test_a_seal_cannot_be_recorded_or_corrected(ledger: Traject, sealed: dict[str, Any]) -> None:
    before = ledger.event_count()
    assert ledger("record", "report-sealed").exit_code == 2  # not a `traject record` kind
    app = open_app(ledger)
    try:
        stream = ev.municipality_stream_id("GM0622")
        with pytest.raises(TrajectError, match="report seal for ReportSealed"):
            app.record(stream, ev.ReportSealed, label="forged")
        with pytest.raises(RuleViolationError, match="cannot themselves be changed"):
            app.correct(stream, 1, changes={"label": "other"}, reason="relabel")
    finally:
        app.close()
    assert ledger.event_count() == before


def test_an_exported_seal_is_imported_as_it_was_and_a_forged_one_is_rejected(
    ledger: Traject, sealed: dict[str, Any], tmp_path: Path
) -> None:
    exported = tmp_path / "export.jsonl"
    ledger.ok("export", "--include-personal", "--quiet", "--output", str(exported))
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    (line,) = [line for line in lines if line["kind"] == "report-sealed"]
    assert line["municipality"] == "GM0622"
    # into a fresh ledger: the seal keeps its figures, digest and moment
    copy = Traject(f"sqlite:///{tmp_path / 'copy.db'}", tmp_path / "copy.key")
    copy.init("--municipality", "GM0622")
    copy.ok("import", str(exported))
    (imported,) = copy.json("report", "sealed")["seals"]
    assert {k: v for k, v in imported.items() if k != "sealed_at"} == {
        k: v for k, v in sealed["seal"].items() if k != "sealed_at"
    }
    # a line whose figures are not those its digest seals is rejected, naming the field
    forged = tmp_path / "forged.jsonl"
    line["result_json"] = line["result_json"].replace('"started":2', '"started":3')
    line["idempotency_key"] = "forged-1"
    forged.write_text(json.dumps(line) + "\n")
    before = copy.event_count()
    result = copy("import", str(forged))
    assert result.exit_code != 0
    assert "digest: must be the SHA-256 of result_json" in result.output
    assert copy.event_count() == before


def test_an_imported_seal_naming_a_read_model_this_ledger_lacks_is_rejected(
    ledger: Traject, sealed: dict[str, Any], tmp_path: Path
) -> None:
    """A seal's read_models say which read model versions its figures were counted from; one
    that names a read model this ledger does not have (a typo, a forged line) could never be
    restated against it: the line is rejected naming the field, and nothing is written."""
    exported = tmp_path / "export.jsonl"
    ledger.ok("export", "--quiet", "--output", str(exported))
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    (line,) = [line for line in lines if line["kind"] == "report-sealed"]
    assert line["read_models"] == {"outflow": 6}
    line |= {"read_models": {"outflow": 6, "outfow": 6}, "idempotency_key": "typo-1"}
    source = tmp_path / "typo.jsonl"
    source.write_text(json.dumps(line) + "\n")
    before = ledger.event_count()

    result = ledger("import", str(source))

    assert result.exit_code == 1, result.output
    assert [text for text in result.stderr.splitlines() if text] == [
        f"{source}:1: read_models: names only read models of this ledger (amif, candidates, "
        "caseload, cohort, guidance, helprequests, housing, inburgering, ladder, outflow, pvt, "
        "reunification); outfow is not one"
    ]
    assert ledger.event_count() == before
    # the same seal with the read models it really names is taken
    line["read_models"] = {"outflow": 6}
    source.write_text(json.dumps(line) + "\n")
    ledger.ok("import", str(source))
    assert ledger.event_count() == before + 1


def test_the_day_a_report_defaults_to_is_sealed_with_it(ledger: Traject, tmp_path: Path) -> None:
    """`report ladder` without --on counts today: the seal names that day, so that a
    restatement on another day counts it too. As known at a past moment, a report without
    --on is true on that moment's day (as printed then); an older seal without the day (here
    carried in by import) is restated on the day of its seal, and still reproduced."""
    today = days_ago(0)  # in the ledger's time zone
    seal = ledger.json("report", "seal", "--label", "ladder today", "report", "ladder")
    assert seal["command"] == ["report", "ladder", "--on", today]
    assert ledger.json("report", "restate", "v1")["result"]["on"] == today
    # nothing changed: the CSV is its header alone
    unchanged = ledger.ok("report", "restate", "v1", "--format", "csv").stdout
    assert unchanged == "path,original,restated,status\n"

    moment = "2024-07-15T09:00:00+00:00"
    replayed = ledger.json("audit", "replay", "--as-known-at", moment, "report", "ladder")
    assert replayed["result"]["on"] == "2024-07-15"
    result = {k: v for k, v in replayed["result"].items() if k != "basis"}
    exported = tmp_path / "export.jsonl"
    ledger.ok("export", "--quiet", "--output", str(exported))
    lines = [json.loads(text) for text in exported.read_text().splitlines()]
    (older,) = [line for line in lines if line["kind"] == "report-sealed"]
    del older["recorded_at"]
    older |= {
        "idempotency_key": "older-seal",
        "command": ["report", "ladder"],
        "as_known_at": moment,
        "last_notification_id": replayed["replay"]["last_notification_id"],
        "result_json": json.dumps(result, sort_keys=True, separators=(",", ":")),
        "digest": canonical_sha256(result),
    }
    older_file = tmp_path / "older.jsonl"
    older_file.write_text(json.dumps(older) + "\n")
    ledger.ok("import", str(older_file))
    restated = ledger.json("report", "restate", "v2")
    assert restated["seal"]["command"] == ["report", "ladder"]
    assert restated["reproducible"]["ok"] is True
    assert restated["result"]["on"] == "2024-07-15"
    assert restated["changed"] == []


# --- read-model versions: what a restatement names when a definition changed since the seal ---

BEFORE_V4 = "2026-12-01T10:00:00+00:00"  # before outflow v4 was released (2026-12-07)
V4 = "persons who died or moved away are no longer in outflow at the end of later periods"
V5 = (
    "a case reopened after a death no longer brings the person back into outflow at the end of "
    "later periods (the current report now counts as the as-known-at one did)"
)
V6 = (
    "a person who moved and was placed in a municipality again (koppeling, housing, BRP "
    "registration) is in the stock again, counted in the municipality they were placed in"
)


def died_after_outflow(ledger: Traject, tmp_path: Path) -> None:
    """C-1 started full-time work in 2024H1 and died in 2024H2, all recorded (imported) on
    2026-12-01, before outflow v4: v3 counted C-1 in outflow at the end of 2024H2, v4 not."""
    lines = [
        {
            "kind": "person-registered",
            "person": "C-1",
            "occurred_on": "2024-01-02",
            "birth_date": "1990-04-02",
            "sex": "m",
            "nationality": ["ER"],
            "recorded_at": "2026-12-01T09:00:00+00:00",
        },
        {
            "kind": "outflow-started",
            "person": "C-1",
            "occurred_on": "2024-02-01",
            "outflow_type": "werk_volledig",
            "recorded_at": "2026-12-01T09:01:00+00:00",
        },
        {
            "kind": "deceased",
            "person": "C-1",
            "occurred_on": "2024-08-01",
            "recorded_at": "2026-12-01T09:02:00+00:00",
        },
    ]
    source = tmp_path / "history.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    ledger.ok("import", str(source))


def import_seal(
    ledger: Traject, tmp_path: Path, key: str, read_models: dict[str, int] | None
) -> int:
    """A seal of `report outflow --period 2024H2` made on 2026-12-01 by hand, with the figures
    outflow v3 gave then (C-1 still in outflow at the end of 2024H2) and ``read_models`` (left
    out when None, as a seal made before traject recorded them); returns its version."""
    command = ["report", "outflow", "--period", "2024H2"]
    replayed = ledger.json("audit", "replay", "--as-known-at", BEFORE_V4, *command)
    result = {k: v for k, v in replayed["result"].items() if k != "basis"}
    for row in result["rows"]:  # as v3 counted: the dead person stayed in the stock
        if row["outflow_type"] in ("werk_volledig", "total"):
            assert row["in_outflow_at_end"] == 0
            row["in_outflow_at_end"] = 1
    line: dict[str, Any] = {
        "kind": "report-sealed",
        "municipality": "GM0622",
        "occurred_on": "2026-12-01",
        "recorded_at": "2026-12-01T10:00:01+00:00",
        "idempotency_key": key,
        "label": "H2 outflow, raad",
        "command": command,
        "as_known_at": BEFORE_V4,
        "last_notification_id": replayed["replay"]["last_notification_id"],
        "rule_version": replayed["replay"]["rule_version"],
        "result_json": json.dumps(result, sort_keys=True, separators=(",", ":")),
        "digest": canonical_sha256(result),
    }
    if read_models is not None:
        line["read_models"] = read_models
    source = tmp_path / f"{key}.jsonl"
    source.write_text(json.dumps(line) + "\n")
    ledger.ok("import", str(source))
    return int(ledger.json("report", "sealed")["seals"][-1]["seal"])


def caption(ledger: Traject, seal: int) -> str:
    return " ".join(ledger.ok("report", "restate", str(seal)).stdout.split())


def test_a_new_seal_records_the_versions_of_its_read_models(ledger: Traject) -> None:
    seal = ledger.json(*SEAL)
    assert seal["read_models"] == {"outflow": 6}
    assert ledger.json("report", "sealed")["seals"] == [seal]
    assert "outflow v6" in ledger.ok("report", "sealed").stdout
    # nothing changed since: the same versions, no definition change named
    restated = ledger.json("report", "restate", "v1")
    assert restated["read_models"] == {
        "sealed": {"outflow": 6},
        "now": {"outflow": 6},
        "recorded": True,
        "changes": [],
    }
    assert "read model" not in caption(ledger, 1)
    # a report from several read models records each of them
    dashboard = ledger.json(
        "report", "seal", "--label", "Q2", "report", "dashboard", "--quarter", "2024Q2"
    )
    versions = dashboard["read_models"]
    assert {"caseload", "outflow", "ladder"} <= set(versions)
    assert versions["outflow"] == 6
    assert versions["ladder"] == 4
    # the text a seal prints names them too
    assert "read models outflow v6, events up to" in " ".join(ledger.ok(*SEAL).stdout.split())


def test_an_old_seal_without_versions_still_loads_and_names_later_changes_as_possible_causes(
    ledger: Traject, tmp_path: Path
) -> None:
    died_after_outflow(ledger, tmp_path)
    seal = import_seal(ledger, tmp_path, "old-seal", None)
    (listed,) = ledger.json("report", "sealed")["seals"]
    assert listed["read_models"] is None
    assert ledger.json("audit", "verify")["ok"] is True
    restated = ledger.json("report", "restate", str(seal))
    assert restated["reproducible"]["ok"] is False
    assert restated["reproducible"]["rules_changed"] is False
    # the figure v4 no longer counts: C-1 died in 2024H2
    changes = {c["path"]: (c["original"], c["restated"]) for c in restated["changed"]}
    assert changes == {
        "rows[outflow_type=werk_volledig].in_outflow_at_end": (1, 0),
        "rows[outflow_type=total].in_outflow_at_end": (1, 0),
    }
    # the changes of the figures released on or after the day it ran: outflow v4 to v6 (v3
    # changed only the storage, v2 came before)
    assert restated["read_models"] == {
        "sealed": None,
        "now": {"outflow": 6},
        "recorded": False,
        "changes": [
            {
                "read_model": "outflow",
                "version": version,
                "on": "2026-12-07",
                "figures": True,
                "description": description,
            }
            for version, description in ((4, V4), (5, V5), (6, V6))
        ],
    }
    text = caption(ledger, seal)
    assert "reproducible: no" in text
    assert (
        "the seal did not record its read models' versions; definition changes released since "
        f"it ran, possible causes: outflow v4 (2026-12-07): {V4}"
    ) in text
    assert "-" in ledger.ok("report", "sealed").stdout


def test_a_seal_with_versions_names_exactly_the_changes_since(
    ledger: Traject, tmp_path: Path
) -> None:
    died_after_outflow(ledger, tmp_path)
    v3 = import_seal(ledger, tmp_path, "v3-seal", {"outflow": 3})
    v2 = import_seal(ledger, tmp_path, "v2-seal", {"outflow": 2})
    restated = ledger.json("report", "restate", str(v3))
    assert restated["reproducible"]["ok"] is False
    assert restated["read_models"]["recorded"] is True
    assert [(c["read_model"], c["version"]) for c in restated["read_models"]["changes"]] == [
        ("outflow", 4),
        ("outflow", 5),
        ("outflow", 6),
    ]
    text = caption(ledger, v3)
    assert f"read model outflow v3 sealed, v6 now: v4: {V4}" in text
    assert "possible causes" not in text
    # from v2: the storage change v3 and the definition changes v4 to v6, each named
    older = ledger.json("report", "restate", str(v2))["read_models"]["changes"]
    assert [(c["version"], c["figures"]) for c in older] == [
        (3, False),
        (4, True),
        (5, True),
        (6, True),
    ]
    assert "read model outflow v2 sealed, v6 now: v3: outflow_spans" in caption(ledger, v2)
    assert ledger.json("report", "sealed")["seals"][-1]["read_models"] == {"outflow": 2}


def test_a_no_with_the_same_rules_and_read_models_points_to_the_events(
    ledger: Traject, tmp_path: Path
) -> None:
    died_after_outflow(ledger, tmp_path)
    seal = import_seal(ledger, tmp_path, "v6-seal", {"outflow": 6})
    restated = ledger.json("report", "restate", str(seal))
    assert restated["reproducible"]["ok"] is False
    assert restated["read_models"]["changes"] == []
    assert "reproducible: no (digest " in caption(ledger, seal)
    assert (
        "same rules and read models: events recorded at or before the seal's moment were added "
        "later, or the stored events were altered; run `traject audit verify`"
    ) in caption(ledger, seal)


def test_a_seal_naming_a_read_model_version_badly_is_refused_on_import(
    ledger: Traject, tmp_path: Path
) -> None:
    before = ledger.event_count()
    for bad, named in (({"outflow": 0}, "read_models"), ({"Outflow": 4}, "read_models")):
        line = {
            "kind": "report-sealed",
            "municipality": "GM0622",
            "idempotency_key": f"bad-{named}-{bad}",
            "label": "x",
            "command": ["report", "outflow", "--period", "2024H1"],
            "as_known_at": "2026-12-01T10:00:00+00:00",
            "last_notification_id": 0,
            "rule_version": "x",
            "result_json": "{}",
            "digest": canonical_sha256({}),
            "read_models": bad,
        }
        source = tmp_path / "bad.jsonl"
        source.write_text(json.dumps(line) + "\n")
        result = ledger("import", str(source))
        assert result.exit_code != 0
        assert named in result.output
        assert "Traceback" not in result.output
    assert ledger.event_count() == before


def test_the_seals_are_listed_as_csv_one_row_per_seal(ledger: Traject) -> None:
    """`report sealed --format csv`: a row per seal with the JSON's values, the command and the
    read models as text; a label typed as a formula is shown as text in a spreadsheet."""
    ledger.ok(*SEAL)
    ledger.ok(
        "report", "seal", "--label", "=HYPERLINK(x)", "report", "ladder", "--on", "2024-06-30"
    )
    seals = ledger.json("report", "sealed")["seals"]
    rows = list(
        csv.DictReader(io.StringIO(ledger.ok("report", "sealed", "--format", "csv").stdout))
    )

    assert [row["seal"] for row in rows] == [str(seal["seal"]) for seal in seals] == ["1", "2"]
    assert rows[0] == {
        "municipality": "GM0622",
        "seal": "1",
        "label": LABEL,
        "command": "report outflow --period 2024H1",
        "sealed_at": seals[0]["sealed_at"],
        "as_known_at": seals[0]["as_known_at"],
        "last_notification_id": str(seals[0]["last_notification_id"]),
        "rule_version": seals[0]["rule_version"],
        "digest": seals[0]["digest"],
        "read_models": "outflow v" + str(seals[0]["read_models"]["outflow"]),
    }
    assert (rows[1]["label"], rows[1]["command"]) == (
        "'=HYPERLINK(x)",
        "report ladder --on 2024-06-30",
    )
