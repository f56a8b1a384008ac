"""Each kind of tampering with the stored rows or checkpoints, on SQLite and PostgreSQL, is
detected by `traject audit verify` and named; an untouched ledger verifies.

The attacker works below traject: SQL straight on the store, dropping the append-only
triggers first.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Traject
from pg_schemas import PostgresSchemas


@dataclass
class Store:
    """A ledger with 4 events (ids 1-4), a signed checkpoint file, and SQL below traject."""

    traject: Traject
    schema: str | None
    connection: Any
    checkpoint: Path
    public_key: Path

    @property
    def events(self) -> str:
        return f'"{self.schema}".traject_events' if self.schema else "stored_events"

    @property
    def id(self) -> str:
        return "notification_id" if self.schema else "rowid"

    def blob(self, data: bytes) -> str:
        """A bytes literal in the store's SQL."""
        return f"'\\x{data.hex()}'::bytea" if self.schema else f"X'{data.hex()}'"

    def table(self, name: str) -> str:
        return f'"{self.schema}".{name}' if self.schema else name

    def attack(self, *statements: str) -> None:
        if self.schema:
            self.connection.execute(
                f"DROP TRIGGER IF EXISTS traject_events_append_only ON {self.events}"
            )
            for statement in statements:
                self.connection.execute(statement.replace("?", "%s"))
            return
        path = self.traject.database_url.removeprefix("sqlite:///")
        with closing(sqlite3.connect(path)) as connection, connection:
            connection.execute("DROP TRIGGER IF EXISTS traject_events_no_update")
            connection.execute("DROP TRIGGER IF EXISTS traject_events_no_delete")
            for statement in statements:
                connection.execute(statement)

    def one(self, sql: str) -> Any:
        if self.schema:
            return self.connection.execute(sql).fetchone()
        path = self.traject.database_url.removeprefix("sqlite:///")
        with closing(sqlite3.connect(path)) as connection:
            return connection.execute(sql).fetchone()

    def verify(self) -> Any:
        return self.traject(
            "audit",
            "verify",
            "-q",
            "--checkpoint",
            str(self.checkpoint),
            "--public-key",
            str(self.public_key),
        )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        traject = Traject(f"sqlite:///{tmp_path / 'traject.db'}", tmp_path / "traject.key")
        schema, connection = None, None
    else:
        schemas: PostgresSchemas = request.getfixturevalue("postgres_schemas")
        traject = Traject(schemas.fresh("traject_tamper"), tmp_path / "traject.key")
        schema, connection = schemas.created[-1], schemas.connection
    traject.init("--municipality", "GM0622")
    traject.linked_person()
    traject.register()
    traject.ok("audit", "keygen", "--out", str(tmp_path / "a.key"))
    out = tmp_path / "checkpoint.txt"
    traject.ok("audit", "checkpoint", "-q", "--key", str(tmp_path / "a.key"), "--out", str(out))
    yield Store(traject, schema, connection, out, tmp_path / "a.pub")


def problems(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert "Error: the log does not verify" in result.stderr
    return str(result.stderr)


def test_an_untouched_ledger_verifies(store: Store) -> None:
    result = store.verify()
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "verified 4 events against 1 checkpoints"


def test_one_changed_byte_is_named(store: Store) -> None:
    (state,) = store.one(f"SELECT state FROM {store.events} WHERE {store.id} = 3")
    state = bytes(state)
    flipped = state[:-2] + bytes([state[-2] ^ 1]) + state[-1:]
    store.attack(f"UPDATE {store.events} SET state = {store.blob(flipped)} WHERE {store.id} = 3")
    text = problems(store.verify())
    assert "event 3 (stream" in text
    assert "differs from the recorded leaf" in text


def test_a_deleted_row_is_named(store: Store) -> None:
    store.attack(f"DELETE FROM {store.events} WHERE {store.id} = 2")
    assert "event 2 was recorded at position 2 but has no row there" in problems(store.verify())


@pytest.mark.parametrize(
    ("forged_id", "named"),
    [(0, "was never recorded: inserted before event 1"), (-5, "has a negative notification id")],
)
def test_a_forged_row_is_named(store: Store, forged_id: int, named: str) -> None:
    (stream, version, topic, state) = store.one(
        f"SELECT originator_id, originator_version, topic, state FROM {store.events}"
        f" WHERE {store.id} = 4"
    )
    values = f"{forged_id}, '{stream}', {version + 100}, '{topic}', {store.blob(bytes(state))}"
    store.attack(
        f"INSERT INTO {store.events} ({store.id}, originator_id, originator_version, topic, state)"
        f" VALUES ({values})"
    )
    text = problems(store.verify())
    assert f"event {forged_id} (stream" in text
    assert named in text


def test_two_swapped_rows_are_named(store: Store) -> None:
    ids = store.id
    store.attack(
        f"UPDATE {store.events} SET {ids} = -3 WHERE {ids} = 3",
        f"UPDATE {store.events} SET {ids} = 3 WHERE {ids} = 2",
        f"UPDATE {store.events} SET {ids} = 2 WHERE {ids} = -3",
    )
    text = problems(store.verify())
    assert "event 2 (stream" in text
    assert "differs from the recorded leaf" in text


def test_an_altered_stored_checkpoint_is_named(store: Store) -> None:
    table = store.table("traject_checkpoints")
    (text,) = store.one(f"SELECT text FROM {table}")
    lines = text.splitlines(keepends=True)
    lines[2] = ("B" if lines[2][0] != "B" else "C") + lines[2][1:]
    altered = "".join(lines).replace("'", "''")
    store.attack(f"UPDATE {table} SET text = '{altered}'")
    found = problems(store.verify())
    assert "size 4" in found
    assert "the signature does not verify" in found
    assert "the checkpoint says" in found


def test_verify_json_names_the_problem(store: Store) -> None:
    store.attack(f"DELETE FROM {store.events} WHERE {store.id} = 2")
    result = store.traject("audit", "verify", "--json", "-q")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["events"] == 3
    assert data["problems"][0]["kind"] == "deleted"
    assert data["problems"][0]["notification_id"] == 2


def test_a_row_deleted_after_the_last_recorded_leaf_leaves_a_gap_that_is_named(
    store: Store,
) -> None:
    """Rows appended since the last leaf was recorded are not yet vouched for by the leaves;
    a stream's versions, 1, 2, 3, … without gaps, still show a deleted one. The stream itself
    is refused with that message, not a traceback."""
    person = store.traject.linked_person()  # events 5-7, versions 1-3, no leaves recorded yet
    store.attack(f"DELETE FROM {store.events} WHERE {store.id} = 6")

    text = problems(store.verify())
    assert f"stream {person} has 2 events with versions 1 to 3: version 2 is missing" in text
    data = json.loads(store.traject("audit", "verify", "--json", "-q").stdout)
    assert [(p["kind"], p["stream_id"], p["version"]) for p in data["problems"]] == [
        ("gap", person, 2)
    ]
    for command in (("timeline", person), ("person", "show", person)):
        refused = store.traject(*command)
        assert refused.exit_code == 1, refused.output
        assert "version 3 follows version 1, so version 2 is missing" in refused.stderr
        assert "traject audit verify" in refused.stderr


def test_a_version_inserted_past_the_end_of_a_stream_is_named(store: Store) -> None:
    person = store.traject.linked_person()
    (stream, topic, state) = store.one(
        f"SELECT originator_id, topic, state FROM {store.events} WHERE {store.id} = 7"
    )
    values = f"100, '{stream}', 99, '{topic}', {store.blob(bytes(state))}"
    store.attack(
        f"INSERT INTO {store.events} ({store.id}, originator_id, originator_version, topic, state)"
        f" VALUES ({values})"
    )
    text = problems(store.verify())
    assert f"stream {person} has 4 events with versions 1 to 99: version 4 is missing" in text
