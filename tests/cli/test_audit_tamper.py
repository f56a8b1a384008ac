"""Each kind of tampering with the stored rows or checkpoints, on SQLite and PostgreSQL, is
detected by `traject audit verify` and named; an untouched ledger verifies.

The attacker works below traject: SQL straight on the store, dropping the append-only
triggers first. A row altered into a form traject never writes is named as malformed (never a
traceback), and an altered record of the integrity log itself (`traject_leaves`,
`traject_checkpoints`) is told from an altered event where a checkpoint allows.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cli_helpers import Traject, days_ago, now
from pg_schemas import PostgresSchemas

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


@dataclass
class Store:
    """A ledger with 4 events (ids 1-4), a signed checkpoint file, and SQL below traject."""

    traject: Traject
    schema: str | None
    connection: Any
    checkpoint: Path
    public_key: Path
    person: str  # the stream of events 1-3 (versions 1-3)

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

    @property
    def private_key(self) -> Path:
        return self.public_key.with_suffix(".key")

    def verify_json(self) -> Any:
        """`traject audit verify --json` of a log that does not verify."""
        result = self.traject(
            "audit", "verify", "--json", "-q", "--checkpoint", str(self.checkpoint),
            "--public-key", str(self.public_key),
        )  # fmt: skip
        assert result.exit_code == 1, result.output
        return json.loads(result.stdout)


def new_store(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> Store:
    if kind == "sqlite":
        traject = Traject(f"sqlite:///{tmp_path / 'traject.db'}", tmp_path / "traject.key")
        schema, connection = None, None
    else:
        schemas: PostgresSchemas = request.getfixturevalue("postgres_schemas")
        traject = Traject(schemas.fresh("traject_tamper"), tmp_path / "traject.key")
        schema, connection = schemas.created[-1], schemas.connection
    traject.init("--municipality", "GM0622")
    person = traject.linked_person()
    traject.register()
    traject.ok("audit", "keygen", "--out", str(tmp_path / "a.key"))
    out = tmp_path / "checkpoint.txt"
    traject.ok("audit", "checkpoint", "-q", "--key", str(tmp_path / "a.key"), "--out", str(out))
    return Store(traject, schema, connection, out, tmp_path / "a.pub", person)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return new_store(request, tmp_path, str(request.param))


@pytest.fixture
def sqlite_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """The SQLite store alone: it keeps the types given, and a stream id as text."""
    return new_store(request, tmp_path, "sqlite")


def housed(store: Store) -> str:
    """House the store's person ten days ago (a koppeling); the day, as text."""
    on = days_ago(10)
    store.traject.ok(
        "record", "housed", store.person, "--on", on, "--housing-kind", "regulier",
        "--route", "koppeling",
    )  # fmt: skip
    return on


def problems(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert "Error: the log does not verify" in result.stderr
    return str(result.stderr)


def test_an_untouched_ledger_verifies(store: Store) -> None:
    result = store.verify()
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "verified 4 events against 1 checkpoint"


def test_one_changed_byte_is_named(store: Store) -> None:
    (state,) = store.one(f"SELECT state FROM {store.events} WHERE {store.id} = 3")
    state = bytes(state)
    flipped = state[:-2] + bytes([state[-2] ^ 1]) + state[-1:]
    store.attack(f"UPDATE {store.events} SET state = {store.blob(flipped)} WHERE {store.id} = 3")
    text = problems(store.verify())
    assert "event 3 (stream" in text
    assert "differs from the recorded leaf" in text


def test_a_deleted_row_is_named(store: Store) -> None:
    """The checkpoint covers event 2 and now covers more events than there are rows: the row
    was deleted, and the message does not say that no checkpoint can tell (one does)."""
    store.attack(f"DELETE FROM {store.events} WHERE {store.id} = 2")
    text = problems(store.verify())
    assert (
        "Problem: event 2 was recorded at position 2 but has no row there (deleted, renumbered "
        f"or moved); the row there is event 3 (stream {store.person} version 3)\n"
    ) in text
    assert "but there are only 3 rows: rows were deleted" in text
    assert "no checkpoint covers it" not in text
    assert kinds(store.verify_json())[0] == ("deleted", 2)


def test_a_deleted_row_no_checkpoint_covers_is_blamed_on_neither(store: Store) -> None:
    store.traject.register()  # events 5 and 6, after the checkpoint
    store.traject.register()
    store.traject.ok("report", "outflow", "--period", "2024H1")  # records their leaves
    store.attack(f"DELETE FROM {store.events} WHERE {store.id} = 5")
    text = problems(store.verify())
    assert "event 5 was recorded at position 5 but has no row there" in text
    assert "or a leaf was inserted into traject_leaves (no checkpoint covers it yet" in text


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
    assert f"event 2 (stream {store.person} version 3) holds the row recorded as event 3, " in text
    assert "unchanged: rows were reordered or renumbered" in text
    assert store.verify_json()["problems"][0]["kind"] == "out-of-order"


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
    # nor is a checkpoint signed over it (its leaves would vouch for the gap)
    before = store.one(f"SELECT COUNT(*) FROM {store.table('traject_checkpoints')}")
    refused = store.traject(
        "audit", "checkpoint", "-q", "--key", str(store.private_key), "--out",
        str(store.checkpoint.with_name("after.txt")),
    )  # fmt: skip
    assert refused.exit_code == 1, refused.output
    assert "no checkpoint signed" in refused.stderr
    assert f"stream {person} has 2 events with versions 1 to 3: version 2 is missing" in (
        refused.stderr
    )
    assert store.one(f"SELECT COUNT(*) FROM {store.table('traject_checkpoints')}") == before


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


def kinds(data: Any) -> list[tuple[str, int | None]]:
    return [(p["kind"], p["notification_id"]) for p in data["problems"]]


@pytest.mark.parametrize(
    "spelling",
    [
        "upper(originator_id)",
        "substr(originator_id, 1, 8) || '-' || substr(originator_id, 9, 4) || '-' ||"
        " substr(originator_id, 13, 4) || '-' || substr(originator_id, 17, 4) || '-' ||"
        " substr(originator_id, 21)",
        "'{' || originator_id || '}'",
    ],
    ids=["upper-case", "dashes", "braces"],
)
def test_another_spelling_of_a_stream_id_is_a_malformed_row(
    sqlite_store: Store, spelling: str
) -> None:
    """SQLite keeps a stream id as text. Another spelling of the same UUID gives the same leaf,
    so the checkpoint still matches, while traject no longer finds the event in its stream:
    the stored text itself must be as traject writes it. One problem, not a second stream."""
    store = sqlite_store
    store.attack(f"UPDATE stored_events SET originator_id = {spelling} WHERE rowid = 2")

    text = problems(store.verify())
    assert f"event 2 (stream {store.person} version 2) is malformed" in text
    assert "not as traject writes it" in text
    data = store.verify_json()
    assert [
        (p["kind"], p["notification_id"], p["stream_id"], p["version"]) for p in data["problems"]
    ] == [("malformed", 2, store.person, 2)]
    refused = store.traject("timeline", store.person)
    assert refused.exit_code == 1
    assert "version 2 is missing" in refused.stderr
    assert "traject audit verify" in refused.stderr


def test_another_spelling_of_a_stream_id_after_the_last_leaf_is_named(sqlite_store: Store) -> None:
    """A new stream's only event, not yet vouched for by a recorded leaf or a checkpoint, and
    whose versions have no gap: its stream id's spelling is all that shows the alteration."""
    store = sqlite_store
    person = store.traject.register()  # event 5, version 1
    store.attack("UPDATE stored_events SET originator_id = upper(originator_id) WHERE rowid = 5")
    data = store.verify_json()
    assert [(p["kind"], p["notification_id"], p["stream_id"]) for p in data["problems"]] == [
        ("malformed", 5, person)
    ]


MALFORMED = [
    pytest.param("state = NULL", "its stored bytes (state) are NULL", id="state-null"),
    pytest.param("topic = NULL", "its topic is NULL", id="topic-null"),
    pytest.param("originator_version = -3", "its version is -3", id="version-negative"),
]
MALFORMED_ON_SQLITE = [  # SQLite keeps the type given; PostgreSQL's columns refuse these
    pytest.param("topic = X'FFFE'", "its topic is the bytes X'fffe', not text", id="topic-blob"),
    pytest.param("originator_id = 'zz'", "its stream id 'zz' is not a UUID", id="stream-id"),
    pytest.param(
        "originator_id = substr(originator_id, 1, 31) || ' '",
        "' is not a UUID",  # 31 digits and a space: UUID() would take it, traject does not
        id="stream-id-space",
    ),
    pytest.param(
        "originator_version = 'abc'", "its version is 'abc', not a whole number", id="version-text"
    ),
    pytest.param(
        "originator_version = 10.5", "its version is 10.5, not a whole number", id="version-real"
    ),
    pytest.param(  # text whose bytes are not UTF-8: Python's sqlite3 cannot read it at all
        "topic = CAST(X'C328' || CAST(topic AS BLOB) AS TEXT)",
        "its topic is stored as text that is not UTF-8 (the bytes X'c3286c65646765722e",
        id="topic-not-utf8",
    ),
    pytest.param(
        "originator_id = CAST(X'C328' || CAST(originator_id AS BLOB) AS TEXT)",
        "its stream id is stored as text that is not UTF-8 (the bytes X'c328",
        id="stream-id-not-utf8",
    ),
]


def check_malformed(store: Store, assignment: str, what: str) -> None:
    """The row is named as malformed, verification goes on to the end; no checkpoint is
    signed over it; a command that reads its stream points to `traject audit verify`."""
    store.attack(f"UPDATE {store.events} SET {assignment} WHERE {store.id} = 2")

    text = problems(store.verify())
    assert "Problem: event 2 (" in text
    assert "is malformed, so it was altered outside traject (traject never writes such a row)" in (
        text
    )
    assert what in text
    data = store.verify_json()
    assert data["events"] == 4  # every row was read
    assert ("malformed", 2) in kinds(data)
    assert ("changed", 2) not in kinds(data)  # said once, as malformed
    refused = store.traject("audit", "checkpoint", "-q", "--key", str(store.private_key))
    assert refused.exit_code == 1
    assert "the log does not verify, no checkpoint signed: event 2 (" in refused.stderr
    read = store.traject("timeline", store.person)
    assert read.exit_code == 1
    assert "the event log was altered outside traject; run `traject audit verify`" in read.stderr


@pytest.mark.parametrize(("assignment", "what"), MALFORMED)
def test_a_malformed_row_is_named_not_a_traceback(store: Store, assignment: str, what: str) -> None:
    check_malformed(store, assignment, what)


@pytest.mark.parametrize(("assignment", "what"), MALFORMED_ON_SQLITE)
def test_a_row_of_another_type_on_sqlite_is_named_not_a_traceback(
    sqlite_store: Store, assignment: str, what: str
) -> None:
    check_malformed(sqlite_store, assignment, what)


def test_a_report_over_stored_bytes_that_are_not_json_points_to_verify(store: Store) -> None:
    store.attack(f"UPDATE {store.events} SET state = {store.blob(b'{')} WHERE {store.id} = 1")
    refused = store.traject("report", "caseload")  # its read model reads the registration
    assert refused.exit_code == 1
    assert f"stream {store.person}: the stored event of version 1 cannot be read" in refused.stderr
    assert "run `traject audit verify`" in refused.stderr


def test_stored_fields_that_do_not_fit_their_event_point_to_verify(store: Store) -> None:
    """Valid JSON, but a field of the wrong type: the readers that decode the event (timeline,
    export) and the read models that fold it (a rebuild, a report catching up) refuse it."""
    store.traject.ok(
        "record", "ladder-assessed", store.person, "--on", "2024-08-01", "--rung", "3",
        "--assessor", "r.jansen",
    )  # fmt: skip
    for number, field, value in ((1, "birth_date", "not a date"), (5, "rung", "three")):
        (stored,) = store.one(f"SELECT state FROM {store.events} WHERE {store.id} = {number}")
        state = json.loads(bytes(stored))
        state[field] = value
        altered = json.dumps(state, sort_keys=True, separators=(",", ":")).encode()
        store.attack(
            f"UPDATE {store.events} SET state = {store.blob(altered)} WHERE {store.id} = {number}"
        )
    commands = {
        ("timeline", store.person): ("PersonRegistered", 1, "birth_date"),
        ("export", "-q"): ("PersonRegistered", 1, "birth_date"),
        ("projections", "rebuild", "ladder", "-q"): ("LadderAssessed", 4, "rung"),
        ("report", "ladder", "--on", "2024-12-31"): ("LadderAssessed", 4, "rung"),
    }
    for command, (kind, version, field) in commands.items():
        refused = store.traject(*command)
        assert refused.exit_code == 1, command
        assert (
            f"stream {store.person}: the stored event of version {version} cannot be read: its "
            f"stored fields do not fit {kind} ({field}: "
        ) in refused.stderr, command
        assert "run `traject audit verify`" in refused.stderr
        assert "Traceback" not in refused.output
    assert ("changed", 1) in kinds(store.verify_json())


def test_an_altered_recorded_leaf_is_blamed_on_the_leaf_not_the_event(store: Store) -> None:
    """The checkpoint covers event 3 and still matches the rows: the leaf recorded for it in
    traject_leaves (the integrity log's own record) is what changed."""
    store.attack(
        f"UPDATE {store.table('traject_leaves')} SET leaf_hash = '{'0' * 64}'"
        " WHERE notification_id = 3"
    )
    text = problems(store.verify())
    assert f"the recorded leaf of event 3 (stream {store.person} version 3)" in text
    assert "which covers it, matches the rows: the recorded leaf was altered" in text
    assert "its stream, version, topic or stored bytes changed" not in text
    assert kinds(store.verify_json()) == [("leaf", 3)]


def test_a_deleted_recorded_leaf_is_not_reported_as_an_inserted_event(store: Store) -> None:
    store.attack(f"DELETE FROM {store.table('traject_leaves')} WHERE notification_id = 3")
    text = problems(store.verify())
    assert f"event 3 (stream {store.person} version 3) has no recorded leaf" in text
    assert "its recorded leaf was deleted, the event was not inserted" in text
    assert "was never recorded" not in text
    assert kinds(store.verify_json()) == [("leaf", 3)]


def test_a_leaf_no_checkpoint_covers_is_blamed_on_neither(store: Store) -> None:
    store.traject.register()  # event 5, after the checkpoint
    store.traject.ok("report", "outflow", "--period", "2024H1")  # records its leaf
    store.attack(
        f"UPDATE {store.table('traject_leaves')} SET leaf_hash = 'zz' WHERE notification_id = 5"
    )
    text = problems(store.verify())
    assert "event 5 (stream" in text
    assert "differs from the recorded leaf" in text
    assert "or its recorded leaf in traject_leaves did (no checkpoint covers it yet" in text
    assert kinds(store.verify_json()) == [("changed", 5)]


def test_a_stored_checkpoint_row_that_disagrees_with_its_signed_text_is_named(
    store: Store,
) -> None:
    store.attack(f"UPDATE {store.table('traject_checkpoints')} SET tree_size = 9")
    text = problems(store.verify())
    assert "the stored checkpoint row of size 9 (traject_checkpoints.tree_size) holds" in text
    assert "its text says 4" in text
    assert [(p["kind"], p["checkpoint_size"]) for p in store.verify_json()["problems"]] == [
        ("checkpoint", 9)
    ]
    exported = store.traject("audit", "export", "9")
    assert exported.exit_code == 1
    assert "the stored checkpoint row of size 9 holds the signed text of" in exported.stderr
    refused = store.traject("audit", "checkpoint", "-q", "--key", str(store.private_key))
    assert refused.exit_code == 1
    assert "no checkpoint signed" in refused.stderr


def alter_state(store: Store, number: int, change: Callable[[dict[str, Any]], None]) -> None:
    """Change the stored JSON of event ``number`` (the notification id) in place."""
    (stored,) = store.one(f"SELECT state FROM {store.events} WHERE {store.id} = {number}")
    state = json.loads(bytes(stored))
    change(state)
    altered = json.dumps(state, sort_keys=True, separators=(",", ":")).encode()
    store.attack(
        f"UPDATE {store.events} SET state = {store.blob(altered)} WHERE {store.id} = {number}"
    )


def assert_refused(store: Store, command: Sequence[str], version: int, what: str) -> None:
    """``command`` refuses (exit 1, no traceback), naming the altered event of the person's
    stream and what does not fit, and points to `traject audit verify`."""
    refused = store.traject(*command)  # a traceback propagates: the test fails
    assert refused.exit_code == 1, (command, refused.output)
    assert (
        f"stream {store.person}: the stored event of version {version} cannot be read: {what}"
    ) in refused.stderr, (command, refused.stderr)
    assert "run `traject audit verify`" in refused.stderr


def test_a_date_a_report_parses_from_a_read_model_points_to_verify(store: Store) -> None:
    """A read model keeps a registration's birth date as stored (its fast path reads no
    model); the cohort report parses it, and refuses an altered one naming the event, whether
    the registration itself or a correction of it was altered."""
    housed_on = housed(store)
    cohort = ("report", "cohort", "--year", housed_on[:4])
    store.traject.ok(*cohort)
    alter_state(store, 1, lambda state: state.update(birth_date="1990-13-45"))
    store.traject.ok("projections", "rebuild", "cohort", "-q")  # kept as stored, not parsed
    fits = "its stored fields do not fit PersonRegistered (birth_date: "
    assert_refused(store, cohort, 1, fits)

    alter_state(store, 1, lambda state: state.update(birth_date="1990-04-02"))  # as it was
    store.traject.ok("correct", store.person, "1", "--set", "birth_date=1991-04-02",
                     "--reason", "typo")  # fmt: skip
    store.traject.ok(*cohort)
    alter_state(store, 6, lambda state: state["changes"].update(birth_date=19901345))
    store.traject.ok("projections", "rebuild", "cohort", "-q")
    changes = "its changes do not fit PersonRegistered of version 1 (birth_date: "
    assert_refused(store, cohort, 5, changes)
    assert_refused(store, ("timeline", store.person), 5, changes)


def test_a_date_a_read_model_derives_from_points_to_verify(store: Store) -> None:
    """The derived tables (inburgering statuses, the caseload) parse the dates of the facts
    they fold: an altered one is named, when a catch-up meets it and when a rebuild does."""
    store.traject.ok(
        "record", "inburgering-duty-established", store.person, "--on", days_ago(12),
        "--duty-start", days_ago(12),
    )  # fmt: skip
    store.traject.ok("report", "dashboard", "--quarter", f"{days_ago(10)[:4]}Q1")  # built
    housed(store)
    alter_state(store, 6, lambda state: state.update(occurred_on="2024-13-45"))
    fits = "its stored fields do not fit Housed (occurred_on: "
    for command in (
        ("caseload",),
        ("report", "inburgering"),
        ("projections", "rebuild", "-q"),
        ("report", "dashboard", "--quarter", f"{days_ago(10)[:4]}Q1"),
    ):
        assert_refused(store, command, 5, fits)


LADDER = ("report", "ladder")
REBUILD_LADDER = ("projections", "rebuild", "ladder", "-q")


@pytest.mark.parametrize(
    ("field", "value", "what", "readers"),
    [
        pytest.param(  # the read model reads a rung as a number: its fold fails
            "rung", "four", "rung: Input should be a valid integer", [LADDER, REBUILD_LADDER],
            id="rung-text",
        ),
        pytest.param(  # a number, but no rung: the report's count fails
            "rung", 99, "rung: Input should be less than or equal to 6", [LADDER], id="rung-99"
        ),
        pytest.param(  # the read models keep a date as it is stored (see docs/audit.md)
            "occurred_on", ["2024-01-01"], "occurred_on: Input should be a valid date", [],
            id="date-list",
        ),
        pytest.param(
            "occurred_on", "not-a-date", "occurred_on: Input should be a valid date", [],
            id="date-text",
        ),
    ],
)  # fmt: skip
def test_a_correction_whose_changes_were_altered_points_to_verify(
    store: Store, field: str, value: Any, what: str, readers: list[tuple[str, ...]]
) -> None:
    """A correction's changes are checked against the corrected event's model when it is
    recorded; altered changes that no longer fit are named (the correction's version, the
    corrected event and the field) by every reader that applies them."""
    store.traject.ok(
        "record", "ladder-assessed", store.person, "--on", days_ago(5), "--rung", "3",
        "--assessor", "r.jansen",
    )  # fmt: skip
    store.traject.ok("report", "ladder")  # built; the correction is read by a catch-up
    store.traject.ok("correct", store.person, "4", "--set", "rung=4", "--reason", "typo")
    alter_state(store, 6, lambda state: state.update(changes={field: value}))
    changes = f"its changes do not fit LadderAssessed of version 4 ({what}"
    assert_refused(store, ("timeline", store.person), 5, changes)
    assert_refused(store, ("person", "show", store.person), 5, changes)
    for command in readers:
        assert_refused(store, command, 5, changes)


def test_a_correction_of_no_event_points_to_verify(store: Store) -> None:
    store.traject.ok("correct", store.person, "1", "--set", "sex=m", "--reason", "typo")
    alter_state(store, 5, lambda state: state.update(target_version=9))
    what = "its target_version 9 is no effective event of the stream before it"
    assert_refused(store, ("timeline", store.person), 4, what)
    assert_refused(store, ("person", "show", store.person), 4, what)


def test_a_read_model_failing_on_events_as_traject_writes_them_is_a_bug(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When every event involved fits its model, a read model's or a report's failure is a
    bug, and shows as one: the error itself, not a refusal pointing to `audit verify`."""
    store.traject.ok(
        "record", "inburgering-duty-established", store.person, "--on", days_ago(12),
        "--duty-start", days_ago(12),
    )  # fmt: skip
    housed(store)

    def broken(*_: Any) -> None:
        msg = "a bug"
        raise ValueError(msg)

    monkeypatch.setattr("projections.cohort.age_on", broken)
    with pytest.raises(ValueError, match="a bug"):
        store.traject("report", "cohort", "--year", days_ago(10)[:4])
    store.traject.ok("report", "inburgering")
    monkeypatch.setattr("projections.duty._fold", broken)
    store.traject.ok("record", "brp-registered", store.person, "--on", days_ago(9))
    with pytest.raises(ValueError, match="a bug"):
        store.traject("report", "inburgering")  # a catch-up: the derived table's refresh
    with pytest.raises(ValueError, match="a bug"):
        store.traject("projections", "rebuild", "inburgering", "-q")  # its refresh_all


@pytest.mark.parametrize(
    ("column", "what"), [("topic", "its topic"), ("originator_id", "its stream id")]
)
def test_text_that_is_not_utf8_is_named_not_an_unreachable_database(
    sqlite_store: Store, column: str, what: str
) -> None:
    """SQLite keeps text whose bytes are not UTF-8, and Python's sqlite3 cannot read it: a
    reader that meets it names the event that holds it (not "cannot reach database")."""
    store = sqlite_store
    store.attack(
        f"UPDATE stored_events SET {column} = CAST(X'C328' || CAST({column} AS BLOB) AS TEXT)"
        " WHERE rowid = 2"
    )
    refused = store.traject("export", "-q")
    assert refused.exit_code == 1, refused.output
    assert "cannot reach database" not in refused.stderr
    assert "the stored event of version 2 cannot be read: " in refused.stderr
    assert f"{what} is stored as text that is not UTF-8 (the bytes X'c328" in refused.stderr
    assert "run `traject audit verify`" in refused.stderr
    if column == "topic":
        assert f"stream {store.person}: the stored event of version 2" in refused.stderr
        refused = store.traject("timeline", store.person)
        assert refused.exit_code == 1, refused.output
        assert f"stream {store.person}: the stored event of version 2 cannot be read: " in (
            refused.stderr
        )
    store.traject.ok("report", "ladder")  # reads no such row: its leaf is recorded as altered
    if column == "originator_id":
        # event 2 is the person's permit, which the caseload report reads (through the
        # inburgering read model, to tell an asielstatushouder): it names the event
        refused = store.traject("report", "caseload")
        assert refused.exit_code == 1, refused.output
        assert "the stored event of version 2 cannot be read: " in refused.stderr
        assert "run `traject audit verify`" in refused.stderr
    assert ("malformed", 2) in kinds(store.verify_json())


def test_a_date_folded_as_known_at_a_moment_points_to_verify(store: Store) -> None:
    """As known at a moment, the inburgering statuses are folded from the fact revisions
    known then, for every person the report reads (not only those with a duty): an altered
    date is named there too."""
    housed(store)
    alter_state(store, 5, lambda state: state.update(occurred_on="2024-13-45"))
    store.traject.ok("report", "inburgering")  # no duty: the statuses read no fact of it
    fits = "its stored fields do not fit Housed (occurred_on: "
    assert_refused(store, ("report", "inburgering", "--as-known-at", now()), 4, fits)
    assert_refused(store, ("caseload", "--as-known-at", now()), 4, fits)


@pytest.mark.parametrize(
    "value", [pytest.param(["1990-04-02"], id="list"), pytest.param({"y": 1990}, id="object")]
)
def test_a_value_its_read_model_column_does_not_take_points_to_verify(
    store: Store, value: Any
) -> None:
    """A value kept as stored that the database cannot store in its column (SQLite takes no
    list, neither database an object; PostgreSQL keeps a list as text, which the report
    then fails to parse) is named, in an event and in a correction's changes."""
    housed_on = housed(store)
    cohort = ("report", "cohort", "--year", housed_on[:4])
    alter_state(store, 1, lambda state: state.update(birth_date=value))
    fits = "its stored fields do not fit PersonRegistered (birth_date: "
    assert_refused(store, cohort, 1, fits)  # the read model's first build
    alter_state(store, 1, lambda state: state.update(birth_date="1990-04-02"))  # as it was
    store.traject.ok("projections", "rebuild", "cohort", "-q")  # PostgreSQL kept the list
    store.traject.ok(*cohort)
    store.traject.ok("correct", store.person, "1", "--set", "birth_date=1991-04-02",
                     "--reason", "typo")  # fmt: skip
    alter_state(store, 6, lambda state: state["changes"].update(birth_date=value))
    changes = "its changes do not fit PersonRegistered of version 1 (birth_date: "
    assert_refused(store, cohort, 5, changes)  # a catch-up


@pytest.mark.postgres
def test_a_date_the_caseload_casts_in_sql_points_to_verify(request: pytest.FixtureRequest,
                                                          tmp_path: Path) -> None:  # fmt: skip
    """The caseload's late-recording signal compares each recent fact's date, cast in SQL, with
    when it was recorded: PostgreSQL refuses to cast a date kept as stored that is no date, and
    the event behind it is named (SQLite's date() gives NULL: the fact is not late)."""
    store = new_store(request, tmp_path, "postgres")
    store.traject.ok(
        "record", "coach-assigned", store.person, "--on", days_ago(40), "--staff-id", "r.jansen",
        "--role", "regisseur",
    )  # fmt: skip
    altered = days_ago(40)[:8] + "3x"  # sorts among the recent dates, and is none
    alter_state(store, 5, lambda state: state.update(occurred_on=altered))
    fits = "its stored fields do not fit CoachAssigned (occurred_on: "
    assert_refused(store, ("caseload",), 4, fits)
    assert_refused(store, ("report", "caseload", "--on", days_ago(1)), 4, fits)


@pytest.mark.parametrize("target", ["four", None])
def test_a_retraction_whose_target_was_altered_points_to_verify(
    store: Store, target: str | None
) -> None:
    """The read models look up the targets of a page's corrections and retractions before
    folding it: a target_version altered into no number is named there."""
    store.traject.ok(
        "record", "ladder-assessed", store.person, "--on", days_ago(5), "--rung", "3",
        "--assessor", "r.jansen",
    )  # fmt: skip
    store.traject.ok("report", "ladder")  # built; the retraction is read by a catch-up
    store.traject.ok("retract", store.person, "4", "--reason", "wrong person")
    alter_state(store, 6, lambda state: state.update(target_version=target))
    fits = "its stored fields do not fit EventRetracted (target_version: "
    assert_refused(store, ("report", "ladder"), 5, fits)
    assert_refused(store, ("projections", "rebuild", "ladder", "-q"), 5, fits)


@pytest.mark.parametrize("version", ["two", 0, -1])
def test_a_class_version_altered_points_to_verify(store: Store, version: Any) -> None:
    """The stored class version of an event says how to upcast it to the class: one that is
    no version of its class is named, not a traceback."""
    alter_state(store, 1, lambda state: state.update(class_version=version))
    what = f"its class_version {version!r} is not a version of PersonRegistered (1 to "
    assert_refused(store, ("timeline", store.person), 1, what)
    assert_refused(store, ("export", "-q"), 1, what)


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(lambda blob: blob[:12] + ("A" if blob[12] != "A" else "B") + blob[13:],
                     id="one-character"),
        pytest.param(lambda _: "AAAA", id="too-short"),
        pytest.param(lambda _: "not base64!", id="not-base64"),
        pytest.param(lambda _: 5, id="a-number"),
    ],
)  # fmt: skip
def test_personal_fields_altered_point_to_verify(store: Store, blob: Callable[[str], Any]) -> None:
    """The personal fields are sealed for their event with the stream's key: sealed bytes
    altered (or replaced by anything else) are named, not a traceback."""
    person = store.traject.register(
        "--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY", "--name", "A. Haddad"
    )  # its registration is event 5
    alter_state(store, 5, lambda state: state.update(_pii=blob(state["_pii"])))
    for command in (("timeline", person), ("person", "show", person)):
        refused = store.traject(*command)
        assert refused.exit_code == 1, refused.output
        assert (
            f"stream {person}: the stored event of version 1 cannot be read: its personal fields"
            " (_pii) do not decrypt with its stream's key: the event log was altered outside "
            "traject; run `traject audit verify`"
        ) in refused.stderr
    store.traject.ok("report", "caseload")  # the read models read no personal field


def keyed_person(store: Store, name: str) -> str:
    """A person whose registration holds a sealed personal field (so a data key row)."""
    return store.traject.register(
        "--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY", "--name", name
    )  # fmt: skip


def test_a_deleted_data_key_is_named_not_read_as_no_personal_data(store: Store) -> None:
    """The key table is not in the integrity log; a data key row deleted by hand must not make
    a person's name and BSN read as never recorded, nor let a new fact seal its fields under a
    fresh key that leaves the old ones unreadable."""
    person = keyed_person(store, "A. Haddad")
    keys = store.table("traject_data_keys")
    store.attack(f"DELETE FROM {keys} WHERE subject = '{person}'")
    named = (
        f"stream {person}: its personal fields cannot be read: the event of version 1 holds "
        "sealed personal fields, but the stream has no data key (an erasure would have left its "
        "tombstone): the key table (traject_data_keys) was altered outside traject"
    )
    for command in (
        ("timeline", person),
        ("person", "show", person),
        ("export", "--include-personal", "-q"),
        ("record", "ladder-assessed", person, "--on", days_ago(1), "--rung", "3",
         "--assessor", "r.jansen"),
    ):  # fmt: skip
        refused = store.traject(*command)
        assert refused.exit_code == 1, (command, refused.output)
        assert named in refused.stderr, command
    assert store.one(f"SELECT COUNT(*) FROM {keys} WHERE subject = '{person}'")[0] == 0
    store.traject.ok("report", "caseload")  # the read models read no personal field


def test_a_data_key_copied_from_another_person_is_not_blamed_on_the_master_key(
    store: Store,
) -> None:
    """The master key opens the ledger (its check value matches) and every other data key: a
    row that does not open was altered, and the message says so rather than 'wrong key file'."""
    first, second = keyed_person(store, "A. Haddad"), keyed_person(store, "B. Haddad")
    keys = store.table("traject_data_keys")
    (wrapped,) = store.one(f"SELECT wrapped FROM {keys} WHERE subject = '{first}'")
    store.attack(
        f"UPDATE {keys} SET wrapped = {store.blob(bytes(wrapped))} WHERE subject = '{second}'"
    )
    refused = store.traject("timeline", second)
    assert refused.exit_code == 1, refused.output
    assert (
        f"stream {second}: its personal fields cannot be read: its wrapped data key does not "
        "open with the ledger's master key, which opens the ledger (its check value matches), "
        "so the key's row was overwritten or copied from another stream"
    ) in refused.stderr
    assert "not the one this ledger was created with" not in refused.stderr
    assert "A. Haddad" in store.traject.ok("timeline", first).stdout
