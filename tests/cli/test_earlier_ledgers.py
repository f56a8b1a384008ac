"""Ledgers written by earlier releases, opened by today's code: an upgrade in place.

Each ledger in tests/data/ledgers was written by the CLI of the commit its ``made.json`` names
(see the README there), with its checkpoints signed by that release: an SQLite file, or a
PostgreSQL schema kept as a plain SQL dump, which each test restores into a fresh database of
its own. Today's code must verify the integrity log against them, decrypt the personal fields,
honour an erasure, build every read model and record new facts after the old ones.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from cli_helpers import Traject, days_ago, dsn, refused
from pg_schemas import PostgresSchemas

from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.crypto import read_key_file

LEDGERS = Path(__file__).parent.parent / "data" / "ledgers"
POSTGRES_DUMP = "ledger.sql.gz"  # pg_dump's plain SQL of the ledger's schema, gzipped


def _release(path: Path) -> Any:
    """A release's ledger as a test parameter: marked when it is a PostgreSQL dump."""
    on_postgres = (path / POSTGRES_DUMP).exists()
    return pytest.param(path.name, marks=[pytest.mark.postgres] if on_postgres else [])


RELEASES = [_release(path) for path in sorted(LEDGERS.iterdir()) if path.is_dir()]


@pytest.fixture(params=RELEASES)
def release(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Traject, dict[str, Any]]]:
    """A copy of an earlier release's ledger, and what that release printed: an SQLite file in
    tmp_path, or a PostgreSQL dump restored into a fresh database (dropped afterwards)."""
    source = LEDGERS / request.param
    made = json.loads((source / "made.json").read_text(encoding="utf-8"))
    made["dir"] = tmp_path
    for path in (source / "auditor.pub", *source.glob("checkpoint-*"), *source.glob("*.key")):
        shutil.copyfile(path, tmp_path / path.name)
    if (source / POSTGRES_DUMP).exists():
        schemas: PostgresSchemas = request.getfixturevalue("postgres_schemas")
        with schemas.restored("traject_release", source / POSTGRES_DUMP, made["schema"]) as url:
            yield Traject(url, tmp_path / "ledger.key"), made
        return
    with gzip.open(source / "ledger.db.gz") as packed, (tmp_path / "ledger.db").open("wb") as db:
        shutil.copyfileobj(packed, db)
    yield Traject(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "ledger.db.key"), made


def test_the_integrity_log_and_checkpoints_of_a_release_verify(
    release: tuple[Traject, dict[str, Any]],
) -> None:
    traject, made = release
    kept = sorted(str(path) for path in made["dir"].glob("checkpoint-*.txt"))
    checkpoints = [arg for path in kept for arg in ("--checkpoint", path)]
    public_key = str(made["dir"] / "auditor.pub")
    result = traject.json("audit", "verify", "--public-key", public_key, *checkpoints)
    assert result["ok"] is True, result["problems"]
    assert result["signatures_checked"] is True
    assert result["events"] == made["events"]
    assert result["tree_size"] == max(made["checkpoints"])
    if len(kept) > 1:  # the release's two checkpoints are consistent under today's proofs
        proof = made["dir"] / "consistency.json"
        traject.ok("audit", "consistency", *kept, "--out", str(proof))
        checked = traject.json("audit", "verify-proof", str(proof), "--public-key", public_key)
        assert checked["ok"] is True


def test_personal_fields_of_a_release_decrypt_and_its_erasure_holds(
    release: tuple[Traject, dict[str, Any]],
) -> None:
    traject, made = release
    if made["person"] is not None:
        shown = traject.json("person", "show", made["person"])
        assert shown["erased"] is False
        assert shown["registration"]["fields"]["name"] == made["name"]
        assert shown["registration"]["fields"]["bsn"] == made["bsn"]
    if made["erased"] is not None:
        shown = traject.json("person", "show", made["erased"])
        assert shown["erased"] is True
        assert shown["registration"]["fields"]["bsn"] is None
        refused(
            traject,
            *("record", "ladder-assessed", made["erased"], "--on", days_ago(1)),
            *("--rung", "2", "--assessor", "r.jansen"),
            stderr=(
                "LadderAssessed: person: erased on 2026-12-07 (v22): nothing more is recorded "
                "for an erased person; one who comes back is registered anew, as a new person"
            ),
        )


def test_read_models_build_from_a_release_and_new_facts_follow_its_own(
    release: tuple[Traject, dict[str, Any]],
) -> None:
    traject, made = release
    traject.ok("projections", "rebuild", "--quiet")
    status = {row["name"]: row for row in traject.json("projections", "status")}
    assert {row["position"] for row in status.values()} == {made["events"]}
    caseload = traject.json("caseload")
    assert caseload["basis"]["position"] == made["events"]
    traject.ok("report", "outflow", "--period", "2026")
    if made["person"] is not None:
        versions = len(traject.json("timeline", made["person"])["events"])
        traject.ok(
            *("record", "ladder-assessed", made["person"], "--on", days_ago(0)),
            *("--rung", "4", "--assessor", "r.jansen"),
        )
        timeline = traject.json("timeline", made["person"])
        assert len(timeline["events"]) == versions + 1
        new = [e for e in timeline["events"] if e["version"] == versions + 1]
        assert [(e["kind"], e["recorded"]["fields"]["rung"]) for e in new] == [
            ("LadderAssessed", 4)
        ]
    verified = traject.json("audit", "verify")
    assert verified["ok"] is True
    assert verified["events"] == made["events"] + (made["person"] is not None)


def test_a_releases_stream_links_are_filled_once_and_find_what_a_scan_finds(
    release: tuple[Traject, dict[str, Any]],
) -> None:
    """A release made no ``traject_stream_links``: the first household or enrolment check
    makes and fills it from the stored events, and each household and project it names has
    the members and enrolments that a scan of the events table finds; the events stay as
    they were (the release's checkpoints still verify)."""
    traject, made = release
    env = {**parse_database_url(traject.database_url).library_env, "CREATE_TABLE": "no"}
    key = read_key_file(traject.key_file)
    ledger, scan = TrajectoryLedger(env, key), TrajectoryLedger(env, key)
    try:
        assert ledger.tables.has_stream_links() is False
        scan.tables.stream_links_refused = True  # as a user who may not make it: scans
        members = ledger.household_members(UUID(made["person"]))
        assert ledger.tables.has_stream_links() is True
        assert members == scan.household_members(UUID(made["person"]))
        rows = ledger.tables._all("SELECT target, stream_id FROM {p}traject_stream_links", [])
        for target in {UUID(row["target"]) for row in rows}:
            assert ledger.household_members(target) == scan.household_members(target)
            assert ledger.enrolments(target) == scan.enrolments(target)
        assert scan.tables.has_stream_links() is True  # made by the other: it reads it now
    finally:
        ledger.close()
        scan.close()
    kept = sorted(str(path) for path in made["dir"].glob("checkpoint-*.txt"))
    checkpoints = [arg for path in kept for arg in ("--checkpoint", path)]
    public_key = str(made["dir"] / "auditor.pub")
    result = traject.json("audit", "verify", "--public-key", public_key, *checkpoints)
    assert result["ok"] is True, result["problems"]
    assert result["events"] == made["events"]


def _contents(traject: Traject, schema: str | None) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the ledger's store (SQLite: the schema too; PostgreSQL: of ``schema``)
    with its rows, sorted."""
    store = parse_database_url(traject.database_url)
    if store.sqlite_path is not None:
        with contextlib.closing(sqlite3.connect(store.sqlite_path)) as db:
            names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            found = {name: db.execute(f'SELECT * FROM "{name}"').fetchall() for name in names}
            found["sqlite_master"] = db.execute("SELECT * FROM sqlite_master").fetchall()
    else:
        with psycopg.connect(dsn(traject.database_url)) as db:
            names = [
                r[0]
                for r in db.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                    [schema],
                )
            ]
            found = {
                name: db.execute(f'SELECT * FROM "{schema}"."{name}"').fetchall() for name in names
            }
    return {name: sorted(rows, key=repr) for name, rows in found.items()}


def test_a_dry_run_import_writes_nothing_to_a_release_and_finds_what_it_will(
    release: tuple[Traject, dict[str, Any]],
) -> None:
    """A release made no ``traject_stream_links``, and a dry run must not make it: it reads
    the households by a scan, with the same result as on the ledger once the table is there.
    The read-only commands leave it unmade as well."""
    traject, made = release
    family = made["dir"] / "family.jsonl"
    joined = str(uuid4())
    lines = [
        {"kind": "person-registered", "person_id": joined, "occurred_on": "2024-01-10",
         "birth_date": "1990-04-02", "sex": "f", "nationality": ["SY"]},
        # her joining another household reads the members of hers (traject_stream_links)
        {"kind": "event-corrected", "person_id": made["person"], "target": 1,
         "changes": {"household_id": joined}, "reason": "one family"},
    ]  # fmt: skip
    family.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    before = _contents(traject, made.get("schema"))
    sqlite_path = parse_database_url(traject.database_url).sqlite_path
    file_bytes = sqlite_path.read_bytes() if sqlite_path is not None else None

    dry = traject("--json", "import", "--dry-run", str(family))

    assert json.loads(dry.stdout) == {
        "dry_run": True, "valid": 2, "skipped": 0, "rejected": 0, "warnings": 0
    }  # fmt: skip
    assert _contents(traject, made.get("schema")) == before
    if sqlite_path is not None:
        assert sqlite_path.read_bytes() == file_bytes
    person = made["person"]
    for command in (
        ("audit", "verify"),
        ("person", "show", person),
        ("timeline", person, "--as-known-at", "2026-12-01T00:00"),
        ("export", "--output", str(made["dir"] / "export.jsonl")),
        ("report", "outflow", "--period", "2026"),
    ):
        traject.ok("--json", *command)
    assert "traject_stream_links" not in _contents(traject, made.get("schema"))

    env = {**parse_database_url(traject.database_url).library_env, "CREATE_TABLE": "no"}
    with contextlib.closing(TrajectoryLedger(env, read_key_file(traject.key_file))) as ledger:
        assert ledger.tables.ensure_stream_links() is True  # as a real import makes it
    again = traject("--json", "import", "--dry-run", str(family))
    assert (again.exit_code, again.stdout, again.stderr) == (dry.exit_code, dry.stdout, dry.stderr)
