"""PostgreSQL appends and reads: what a retry can cure is retried, anything else is raised at
once."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from builders import person_fields
from eventsourcing.persistence import OperationalError

from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.persistence import IdempotencyRow
from ledger.postgres import RETRY_WAIT

pytestmark = pytest.mark.postgres

ONE_WAIT = RETRY_WAIT * 1.05  # the longest a single wait between attempts lasts


def ledger(postgres_url: str, master_key: bytes, **settings: str) -> TrajectoryLedger:
    """The run's PostgreSQL ledger, with library ``settings`` of this test's own."""
    return TrajectoryLedger(parse_database_url(postgres_url).library_env | settings, master_key)


def failure(call: Callable[[], object]) -> tuple[BaseException | None, float]:
    """The cause of the OperationalError ``call`` raises, and how long it took to raise it."""
    started = time.monotonic()
    with pytest.raises(OperationalError) as raised:
        call()
    return raised.value.__cause__, time.monotonic() - started


@pytest.fixture
def pg_app(postgres_url: str, master_key: bytes, make_app) -> TrajectoryLedger:
    make_app()  # the run's schema holds an initialised ledger
    return ledger(postgres_url, master_key)


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_program_limit_exceeded_is_raised_at_once_not_retried(
    pg_app: TrajectoryLedger,
) -> None:
    """An index row too large (SQLSTATE 54000) fails the same way every time: raised by the
    first attempt, not after nine waits."""
    too_large = secrets.token_hex(6400)  # 12,800 random characters: past a btree row's 2,704
    cause, elapsed = failure(
        lambda: pg_app.recorder.insert_events(
            [], idempotency=[IdempotencyRow(too_large, uuid4(), 1)]
        )
    )
    pg_app.close()

    assert getattr(cause, "sqlstate", None) == "54000"
    assert elapsed < ONE_WAIT, f"retried: {elapsed:.2f} s"


@pytest.mark.parametrize("backend", ["postgres"])
def test_a_lock_not_granted_in_time_is_raised_after_one_lock_timeout(
    postgres_url: str, master_key: bytes, make_app, pg: psycopg.Connection
) -> None:
    """Another session holds the events table past the lock timeout (SQLSTATE 55P03): the
    append has waited that long already and says so, instead of waiting ten times as long."""
    make_app()
    app = ledger(postgres_url, master_key, POSTGRES_LOCK_TIMEOUT="1")
    schema = app.recorder.datastore.schema
    holder = psycopg.connect(pg.info.dsn)
    try:
        holder.execute(f'LOCK TABLE "{schema}".traject_events IN EXCLUSIVE MODE')  # type: ignore[arg-type]
        cause, elapsed = failure(lambda: app.register_person(**person_fields()))
    finally:
        holder.close()
        app.close()

    assert getattr(cause, "sqlstate", None) == "55P03"
    assert 1 <= elapsed < 1 + ONE_WAIT + 1, f"retried: {elapsed:.2f} s"


@pytest.mark.parametrize("backend", ["postgres"])
def test_an_append_on_a_connection_the_server_ended_is_retried_and_lands_once(
    postgres_url: str, master_key: bytes, make_app, pg: psycopg.Connection
) -> None:
    """The pool's one connection was ended by the server (a restart, an idle timeout): the
    append fails on it, is run again on a new connection, and is stored once."""
    make_app()
    app = ledger(postgres_url, master_key, POSTGRES_POOL_SIZE="1", POSTGRES_MAX_OVERFLOW="0")
    try:
        person = app.register_person(**person_fields())
        with app.recorder.datastore.get_connection() as connection:
            ended = connection.info.backend_pid
        pg.execute("SELECT pg_terminate_backend(%s)", (ended,))

        app.record(person.stream_id, ev.LadderAssessed, occurred_on=date(2024, 6, 3), rung=2,
                   assessor="r.jansen")  # fmt: skip

        with app.recorder.datastore.get_connection() as connection:
            assert connection.info.backend_pid != ended
        versions = [e.version for e in app.timeline(person.stream_id).entries]
    finally:
        app.close()
    assert versions == [1, 2]


READS: dict[str, Callable[[TrajectoryLedger, Any], object]] = {
    "a stream": lambda app, person: app.recorder.select_events(person),
    "notifications": lambda app, person: app.recorder.select_notifications(1, 10),
    "the last notification id": lambda app, person: app.recorder.max_notification_id(),
}
POOLED: dict[str, Callable[[TrajectoryLedger, Any], object]] = {
    "an append": lambda app, person: app.recorder.insert_events(
        [], idempotency=[IdempotencyRow(uuid4().hex, uuid4(), 1)]
    ),
    **READS,
}


@pytest.mark.parametrize("call", list(POOLED))
@pytest.mark.parametrize("backend", ["postgres"])
def test_no_connection_from_the_pool_in_its_timeout_is_raised_after_one_timeout(
    postgres_url: str, master_key: bytes, make_app, call: str
) -> None:
    """The pool gave no connection within its timeout (here: its one connection is taken):
    another attempt would wait as long again, so an append or a read says so after one
    timeout (the event store library retried its reads ten times: loading a stream waited
    about 50 s before the traceback)."""
    make_app()
    app = ledger(
        postgres_url, master_key,
        POSTGRES_POOL_SIZE="1", POSTGRES_MAX_OVERFLOW="0", POSTGRES_CONNECT_TIMEOUT="1",
    )  # fmt: skip
    try:
        person = app.register_person(**person_fields()).stream_id
        with app.recorder.datastore.get_connection():  # the pool's only connection, held
            cause, elapsed = failure(lambda: POOLED[call](app, person))
    finally:
        app.close()

    assert type(cause).__name__ == "PoolTimeout"
    assert elapsed < 1 + ONE_WAIT + 1, f"retried: {elapsed:.2f} s"


@pytest.mark.parametrize("read", list(READS))
@pytest.mark.parametrize("backend", ["postgres"])
def test_a_read_the_server_cancelled_is_raised_at_once_not_retried(
    postgres_url: str, master_key: bytes, make_app, pg: psycopg.Connection, read: str
) -> None:
    """A read cancelled by the server (its statement timeout passed while another session
    held the events table, SQLSTATE 57014) has waited that long already: raised by the first
    attempt, not after ten timeouts."""
    make_app()
    app = ledger(postgres_url, master_key, POSTGRES_POOL_SIZE="1", POSTGRES_MAX_OVERFLOW="0")
    schema = app.recorder.datastore.schema
    holder = psycopg.connect(pg.info.dsn)
    try:
        person = app.register_person(**person_fields()).stream_id
        with app.recorder.datastore.get_connection() as connection:  # the pool's one connection
            connection.execute("SET statement_timeout = '1s'")
            connection.commit()
        holder.execute(f'LOCK TABLE "{schema}".traject_events IN ACCESS EXCLUSIVE MODE')  # type: ignore[arg-type]
        cause, elapsed = failure(lambda: READS[read](app, person))
    finally:
        holder.close()
        app.close()

    assert getattr(cause, "sqlstate", None) == "57014"
    assert 1 <= elapsed < 1 + ONE_WAIT + 1, f"retried: {elapsed:.2f} s"


@pytest.mark.parametrize("read", list(READS))
@pytest.mark.parametrize("backend", ["postgres"])
def test_a_read_on_a_connection_the_server_ended_is_run_again(
    postgres_url: str, master_key: bytes, make_app, pg: psycopg.Connection, read: str
) -> None:
    """The pool's one connection was ended by the server: the read fails on it and is run
    again on a new connection, as the library did and an append does."""
    make_app()
    app = ledger(postgres_url, master_key, POSTGRES_POOL_SIZE="1", POSTGRES_MAX_OVERFLOW="0")
    try:
        person = app.register_person(**person_fields()).stream_id
        expected = READS[read](app, person)
        with app.recorder.datastore.get_connection() as connection:
            ended = connection.info.backend_pid
        pg.execute("SELECT pg_terminate_backend(%s)", (ended,))

        assert READS[read](app, person) == expected
        with app.recorder.datastore.get_connection() as connection:
            assert connection.info.backend_pid != ended
    finally:
        app.close()
