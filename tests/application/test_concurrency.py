"""Optimistic concurrency: writers racing on one person stream lose nothing and double nothing."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date
from uuid import uuid4

import pytest
from builders import person_fields

from ledger import events as ev

APPENDS_PER_WRITER = 15


def race(writers, work) -> list[BaseException]:
    """Run ``work(writer_no, app)`` on a thread per writer, started together by a barrier."""
    barrier = threading.Barrier(len(writers))
    errors: list[BaseException] = []

    def run(number, app):
        try:
            barrier.wait(timeout=10)
            work(number, app)
        except BaseException as error:  # reported by the test below
            errors.append(error)

    threads = [
        threading.Thread(target=run, args=(number, app)) for number, app in enumerate(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])
def test_two_writers_appending_to_one_person_lose_and_double_nothing(app, make_app):
    person = app.register_person(**person_fields()).stream_id
    writers = [make_app(), make_app()]

    def append_many(number, writer):
        for i in range(APPENDS_PER_WRITER):
            writer.record(
                person,
                ev.LadderAssessed,
                occurred_on=date(2024, 6, 3),
                rung=1 + i % 6,
                assessor=f"writer{number}-{i:02d}",
            )

    assert race(writers, append_many) == []

    # every append is present exactly once, at contiguous versions after the registration
    entries = app.timeline(person).entries
    assert [e.version for e in entries] == list(range(1, 2 + 2 * APPENDS_PER_WRITER))
    assessors = Counter(e.event.assessor for e in entries[1:])
    expected = {f"writer{n}-{i:02d}" for n in range(2) for i in range(APPENDS_PER_WRITER)}
    assert set(assessors) == expected
    assert set(assessors.values()) == {1}
    # each writer's own appends kept their order
    for number in range(2):
        mine = [
            e.event.assessor for e in entries[1:] if e.event.assessor.startswith(f"writer{number}")
        ]
        assert mine == sorted(mine)


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"])
def test_two_writers_importing_the_same_keys_append_each_key_once(app, make_app):
    person = app.register_person(**person_fields()).stream_id
    keys = [f"import-{uuid4()}" for _ in range(APPENDS_PER_WRITER)]
    writers = [make_app(), make_app()]
    outcomes: list = []

    def import_all(number, writer):
        for key in keys:
            outcomes.append(
                writer.record(
                    person,
                    ev.LadderAssessed,
                    occurred_on=date(2024, 6, 3),
                    rung=3,
                    assessor="r.jansen",  # the same fact: a retry, from either writer
                    idempotency_key=key,
                )
            )

    assert race(writers, import_all) == []

    # each key was appended by exactly one writer; the other was told it was a duplicate
    entries = app.timeline(person).entries[1:]
    assert sorted(e.event.idempotency_key for e in entries) == sorted(keys)
    assert sum(not o.duplicate for o in outcomes) == len(keys)
    assert sum(o.duplicate for o in outcomes) == len(keys)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_two_writers_on_one_sqlite_file_lose_and_double_nothing(app, make_app):
    person = app.register_person(**person_fields()).stream_id
    writers = [make_app(), make_app()]

    def append_some(number, writer):
        for i in range(5):
            writer.record(
                person,
                ev.LadderAssessed,
                occurred_on=date(2024, 6, 3),
                rung=2,
                assessor=f"writer{number}-{i}",
            )

    assert race(writers, append_some) == []
    entries = app.timeline(person).entries
    assert [e.version for e in entries] == list(range(1, 12))
    assert len({e.event.assessor for e in entries[1:]}) == 10
