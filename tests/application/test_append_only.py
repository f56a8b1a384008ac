"""The event log is append-only in fact: the database itself refuses to change stored events."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from builders import person_fields


@pytest.fixture
def stored_row(app, raw):
    """A person's registration as it is stored: (stream key, state bytes)."""
    person = app.register_person(**person_fields()).stream_id
    key = raw.stream_key(person)
    ((state,),) = raw.query("SELECT state FROM {events} WHERE originator_id = ?", [key])
    return key, bytes(state)


def unchanged(raw, key, state) -> bool:
    rows = raw.query("SELECT state FROM {events} WHERE originator_id = ?", [key])
    return [bytes(s) for (s,) in rows] == [state]


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {events} SET topic = 'ledger.events:Deceased' WHERE originator_id = ?",
        "UPDATE {events} SET state = x'7b7d' WHERE originator_id = ?",
        "DELETE FROM {events} WHERE originator_id = ?",
        "DELETE FROM {events}",
    ],
    ids=["update-topic", "update-state", "delete-row", "delete-all"],
)
def test_sqlite_triggers_refuse_to_change_or_delete_stored_events(raw, stored_row, statement):
    key, state = stored_row
    params = [key] if "?" in statement else []
    with pytest.raises(sqlite3.IntegrityError, match="the event log is append-only"):
        raw.query(statement, params)
    assert unchanged(raw, key, state)


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {events} SET topic = 'ledger.events:Deceased' WHERE originator_id = ?",
        "UPDATE {events} SET state = '\\x7b7d'::bytea WHERE originator_id = ?",
        "DELETE FROM {events} WHERE originator_id = ?",
        "TRUNCATE {events}",
    ],
    ids=["update-topic", "update-state", "delete-row", "truncate"],
)
def test_postgres_refuses_update_delete_and_truncate_of_stored_events(raw, stored_row, statement):
    key, state = stored_row
    params = [key] if "?" in statement else []
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        raw.query(statement, params)
    assert unchanged(raw, key, state)
