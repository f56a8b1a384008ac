"""Rotating the master key is one transaction: interrupted, the ledger stays on the old key.

Each test has a ledger of its own (an SQLite file, or a fresh PostgreSQL schema): the run's
shared schema is bound to the run's master key.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from builders import fresh_bsn, person_fields
from workers import kill_when

from ledger import persistence
from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.crypto import HeldKeys, KeyRing, generate_master_key
from ledger.errors import KeyRotationError, MasterKeyError, MasterKeyRotatedError

WORKER = Path(__file__).with_name("rotate_worker.py")
OLD, NEW = generate_master_key(), generate_master_key()


class Ledger:
    """A ledger of the test's own: opened under a key, and its side tables seen from below."""

    def __init__(self, url: str, pg: Any | None) -> None:
        self.url = url
        self.pg = pg
        self.opened: list[TrajectoryLedger] = []

    def open(self, key: bytes) -> TrajectoryLedger:
        app = TrajectoryLedger(parse_database_url(self.url).library_env, key)
        self.opened.append(app)
        return app

    def execute(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[Any]:
        """``sql`` straight on the store ({p} prefixes the tables, ? is the placeholder)."""
        if self.pg is None:
            path = parse_database_url(self.url).sqlite_path
            with closing(sqlite3.connect(path)) as connection, connection:
                return connection.execute(sql.format(p=""), list(params)).fetchall()
        schema = self.url.rsplit("schema=", 1)[1]
        cursor = self.pg.execute(sql.format(p=f'"{schema}".').replace("?", "%s"), list(params))
        return cursor.fetchall() if cursor.description else []

    def side_rows(self) -> tuple[list[Any], list[Any]]:
        """The key table and the person index as they are stored."""
        keys = self.execute("SELECT subject, wrapped FROM {p}traject_data_keys ORDER BY subject")
        index = self.execute(
            "SELECT person_id, bsn_digest FROM {p}traject_person_index ORDER BY person_id"
        )
        return [(s, bytes(w)) for s, w in keys], [tuple(r) for r in index]


@pytest.fixture
def own(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Ledger]:
    if backend == "sqlite":
        ledger = Ledger(f"sqlite:///{tmp_path / 'traject.db'}", None)
    else:
        schemas = request.getfixturevalue("postgres_schemas")
        ledger = Ledger(schemas.fresh("traject_rotate"), schemas.connection)
    yield ledger
    for app in ledger.opened:
        app.close()


def populated(own: Ledger, persons: int) -> tuple[TrajectoryLedger, dict[UUID, tuple[str, str]]]:
    """The ledger initialised under OLD, with ``persons`` persons with a name and a BSN."""
    app = own.open(OLD)
    app.initialise(default_municipality="GM0622")
    people = {}
    for n in range(persons):
        name, bsn = f"Persoon {n}", fresh_bsn()
        person = app.register_person(**person_fields(name=name, bsn=bsn)).stream_id
        people[person] = (name, bsn)
    return app, people


def assert_reads_everything(app: TrajectoryLedger, people: dict[UUID, tuple[str, str]]) -> None:
    app.verify_master_key()
    for person, (name, bsn) in people.items():
        assert app.person(person).registration.name == name
        assert app.find_person_by_bsn(bsn) == person


@pytest.mark.slow
def test_a_rotation_killed_half_way_leaves_the_ledger_on_the_old_key(own: Ledger) -> None:
    _, people = populated(own, 30)
    before = own.side_rows()
    # past every key (re-wrapped in the transaction) and into the BSN index
    kill_when(
        WORKER, [own.url, OLD.hex(), NEW.hex(), "5"], lambda done, total: done > total // 2 + 5
    )

    # nothing of the rotation is left: the old key opens and finds everything, the new nothing
    assert own.side_rows() == before
    assert_reads_everything(own.open(OLD), people)
    with pytest.raises(MasterKeyError):
        own.open(NEW).verify_master_key()
    # and a rotation run again completes
    own.open(OLD).rotate_master_key(NEW)
    assert_reads_everything(own.open(NEW), people)


def test_a_data_key_that_does_not_open_stops_the_rotation_with_nothing_changed(
    own: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(persistence, "ROTATION_PAGE", 2)  # several steps written before it
    app, people = populated(own, 5)
    # a stream whose key was wrapped under some other master key, last in the table's order
    stranger = UUID("ffffffff-ffff-4fff-bfff-ffffffffffff")
    app.tables.insert_wrapped_key(
        stranger, KeyRing(generate_master_key(), HeldKeys({})).new_data_key(stranger)
    )
    before = own.side_rows()

    with pytest.raises(MasterKeyError, match=f"data key of {stranger} does not open"):
        app.rotate_master_key(NEW)

    assert own.side_rows() == before
    assert_reads_everything(own.open(OLD), people)
    with pytest.raises(MasterKeyError):
        own.open(NEW).verify_master_key()


def test_an_index_entry_that_does_not_match_its_registration_stops_the_rotation(
    own: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(persistence, "ROTATION_PAGE", 2)
    app, people = populated(own, 5)
    last = max(people, key=str)
    own.execute(
        "UPDATE {p}traject_person_index SET bsn_digest = ? WHERE person_id = ?",
        [app.keyring.bsn_digest(fresh_bsn()), str(last)],
    )
    before = own.side_rows()

    with pytest.raises(KeyRotationError, match=f"the BSN index entry of {last} does not match"):
        app.rotate_master_key(NEW)

    assert own.side_rows() == before
    del people[last]
    assert_reads_everything(own.open(OLD), people)


def test_a_writer_still_on_the_old_key_writes_nothing_after_the_rotation(own: Ledger) -> None:
    app, people = populated(own, 2)
    stale = own.open(OLD)  # opened before the rotation, as a long import is
    stale.person(next(iter(people)))

    app.rotate_master_key(NEW)
    before = own.side_rows()

    # a new person's data key, or a BSN hash under the old key, would be unreadable and
    # unfindable under the new one: refused, nothing written
    with pytest.raises(MasterKeyRotatedError, match=r"rotated .* while this command ran"):
        stale.register_person(**person_fields(name="Te Laat", bsn=fresh_bsn()))
    with pytest.raises(MasterKeyRotatedError):
        stale.register_person(**person_fields())
    assert own.side_rows() == before
    assert stale.tables.person_count() == 2
    assert_reads_everything(app, people)  # the rotating ledger object is on the new key


def in_thread(work: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, failures


def test_a_registration_during_the_rotation_waits_for_it_and_is_refused(own: Ledger) -> None:
    app, people = populated(own, 3)
    writer = own.open(OLD)
    writer.person(next(iter(people)))
    inside, release = threading.Event(), threading.Event()

    def hold(done: int, total: int) -> None:
        inside.set()  # the transaction is open and holds its locks
        assert release.wait(timeout=20)

    rotation, rotation_failures = in_thread(lambda: app.rotate_master_key(NEW, progress=hold))
    assert inside.wait(timeout=20)
    registration, refused = in_thread(
        lambda: writer.register_person(**person_fields(name="Tussendoor", bsn=fresh_bsn()))
    )
    registration.join(timeout=1)
    assert registration.is_alive()  # it waits for the rotation

    release.set()
    rotation.join(timeout=20)
    registration.join(timeout=20)

    assert rotation_failures == []
    assert [type(error) for error in refused] == [MasterKeyRotatedError]
    assert app.tables.person_count() == 3
    assert_reads_everything(own.open(NEW), people)


def test_a_rotation_rebuilds_the_index_from_the_bsn_as_corrected(
    own: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(persistence, "ROTATION_PAGE", 2)  # corrections read page by page
    app, people = populated(own, 5)
    corrected, cleared = sorted(people, key=str)[1:3]
    new_bsn = fresh_bsn()
    app.correct(corrected, 1, {"bsn": new_bsn}, reason="typo")
    app.correct(cleared, 1, {"bsn": None}, reason="not this person's")

    app.rotate_master_key(NEW)

    # under the new key the corrected BSN finds its person, the old BSNs find nobody
    rotated = own.open(NEW)
    assert rotated.find_person_by_bsn(new_bsn) == corrected
    assert rotated.find_person_by_bsn(people[corrected][1]) is None
    assert rotated.find_person_by_bsn(people[cleared][1]) is None
    people[corrected] = (people[corrected][0], new_bsn)
    del people[cleared]
    assert_reads_everything(rotated, people)


def test_a_rotation_moves_an_entry_left_behind_by_an_earlier_bsn_correction(
    own: Ledger,
) -> None:
    # a ledger corrected before corrections moved the index: its entry holds the BSN of
    # the registration, not the one in effect
    app, people = populated(own, 2)
    person = next(iter(people))
    new_bsn = fresh_bsn()
    app.correct(person, 1, {"bsn": new_bsn}, reason="typo")
    own.execute(
        "UPDATE {p}traject_person_index SET bsn_digest = ? WHERE person_id = ?",
        [app.keyring.bsn_digest(people[person][1]), str(person)],
    )

    app.rotate_master_key(NEW)

    rotated = own.open(NEW)
    assert rotated.find_person_by_bsn(new_bsn) == person
    assert rotated.find_person_by_bsn(people[person][1]) is None


def test_two_persons_left_with_one_bsn_by_earlier_corrections_stop_the_rotation(
    own: Ledger,
) -> None:
    app, people = populated(own, 2)
    first, second = people
    entry = "UPDATE {p}traject_person_index SET bsn_digest = ? WHERE person_id = ?"
    # as an earlier release did: the second person corrected to the first one's BSN, the index
    # left as registered (made here by hiding the first one's entry from the check)
    own.execute(entry, [None, str(first)])
    app.correct(second, 1, {"bsn": people[first][1]}, reason="typo")
    own.execute(entry, [app.keyring.bsn_digest(people[second][1]), str(second)])
    own.execute(entry, [app.keyring.bsn_digest(people[first][1]), str(first)])
    before = own.side_rows()

    with pytest.raises(KeyRotationError, match="two persons have the same BSN in effect"):
        app.rotate_master_key(NEW)

    assert own.side_rows() == before
    own.open(OLD).verify_master_key()
