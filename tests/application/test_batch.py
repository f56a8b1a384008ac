"""ledger.batch: bulk appends check each fact in order and save a batch in one transaction."""

from __future__ import annotations

import gc
import random
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import pytest
from builders import fresh_bsn
from eventsourcing.persistence import StoredEvent

from commands.importing import import_lines
from ledger import events as ev
from ledger.application import Recorded, TrajectoryLedger
from ledger.batch import BatchWriter, Write
from ledger.errors import (
    DuplicatePersonError,
    IdempotencyKeyReusedError,
    RuleViolationError,
    TrajectError,
)
from ledger.municipalities import municipality_list

if TYPE_CHECKING:
    from conftest import LedgerFactory, RawStore  # the root conftest's fixture types

REGISTRATION = {
    "occurred_on": date(2025, 1, 10),
    "birth_date": date(1990, 4, 2),
    "sex": "f",
    "nationality": ["SY"],
    "name": "Invented Person",
}


@pytest.fixture
def p1() -> str:
    """An external key of this test's own (the PostgreSQL schema is shared by the run)."""
    return f"P-{uuid4().hex[:12]}"


def ladder(key: str, rung: int, day: int = 1) -> Write:
    fields = {"occurred_on": date(2025, 3, day), "rung": rung, "assessor": "r.jansen"}
    return Write(ev.LadderAssessed, fields, subject=key)


def test_a_batch_registers_and_records_and_refuses_only_the_bad_fact(
    app: TrajectoryLedger, p1: str
) -> None:
    writer = BatchWriter(app)
    housed = {"occurred_on": date(2025, 2, 1), "housing_kind": "regulier", "route": "koppeling"}

    outcomes = writer.write(
        [
            Write(ev.PersonRegistered, REGISTRATION | {"idempotency_key": f"k-{p1}"}, subject=p1),
            ladder(p1, 2),
            Write(ev.Housed, housed, subject=p1),  # no koppeling: refused
            ladder(p1, 3, day=2),
            ladder(p1 + "-unknown", 3),
        ]
    )

    assert [type(o).__name__ for o in outcomes] == [
        "Recorded",
        "Recorded",
        "RuleViolationError",
        "Recorded",
        "RuleViolationError",
    ]
    refused = outcomes[2]
    assert isinstance(refused, RuleViolationError) and refused.field == "route"
    person = app.person_by_external_ref(p1)
    assert person is not None
    assert [e.originator_version for e in app.stream_events(person)] == [1, 2, 3]
    assert app.person(person).registration.name == "Invented Person"  # encrypted and readable
    again = writer.write(
        [Write(ev.PersonRegistered, REGISTRATION | {"idempotency_key": f"k-{p1}"})]
    )
    assert isinstance(again[0], Recorded) and again[0].duplicate


def test_a_dry_batch_checks_everything_and_writes_nothing(app: TrajectoryLedger, p1: str) -> None:
    writer = BatchWriter(app, dry_run=True)
    before = app.recorder.max_notification_id()

    first = writer.write([Write(ev.PersonRegistered, REGISTRATION, subject=p1)])
    second = writer.write([ladder(p1, 2), ladder(p1, 9)])

    assert isinstance(first[0], Recorded) and isinstance(second[0], Recorded)
    assert isinstance(second[1], TrajectError)  # rung 9 is no rung
    assert app.recorder.max_notification_id() == before


def test_a_stream_changed_by_another_writer_between_batches_is_checked_again(
    app: TrajectoryLedger, p1: str
) -> None:
    writer = BatchWriter(app)
    writer.write([Write(ev.PersonRegistered, REGISTRATION, subject=p1), ladder(p1, 2)])
    person = app.person_by_external_ref(p1)
    assert person is not None
    app.record(person, ev.LadderAssessed, occurred_on=date(2025, 3, 5), rung=4, assessor="x")

    outcomes = writer.write([ladder(p1, 5, day=6)])  # the writer's copy of P-1 is stale

    assert isinstance(outcomes[0], Recorded) and outcomes[0].version == 4
    assert [e.originator_version for e in app.stream_events(person)] == [1, 2, 3, 4]


def test_a_key_another_writer_stored_after_this_one_held_the_stream_is_a_repeat(
    app: TrajectoryLedger, p1: str
) -> None:
    """Two imports of one file at once: the other writer stores a line's fact (and its key)
    after this writer loaded the person's stream. The key is found, its fact is not in the
    stream as held: the stream is read again and the line skipped as already present."""
    writer = BatchWriter(app)
    writer.write([Write(ev.PersonRegistered, REGISTRATION, subject=p1)])
    person = app.person_by_external_ref(p1)
    assert person is not None
    key = f"k-{p1}-ladder"
    other = BatchWriter(app)
    line = Write(ev.LadderAssessed, ladder(p1, 2).fields | {"idempotency_key": key}, subject=p1)
    assert isinstance(other.write([line])[0], Recorded)

    outcomes = writer.write([line])  # this writer's copy of the stream lacks version 2

    assert [(type(o).__name__, getattr(o, "duplicate", None)) for o in outcomes] == [
        ("Recorded", True)
    ]
    assert [e.originator_version for e in app.stream_events(person)] == [1, 2]


def test_an_imported_recorded_time_is_the_events_timestamp(app: TrajectoryLedger, p1: str) -> None:
    moment = datetime(2025, 1, 10, 9, 30, tzinfo=UTC)
    writer = BatchWriter(app)

    outcomes = writer.write(
        [Write(ev.PersonRegistered, REGISTRATION, subject=p1, recorded_at=moment)]
    )

    assert isinstance(outcomes[0], Recorded)
    event = next(iter(app.stream_events(outcomes[0].stream_id)))
    assert event.timestamp == moment


def test_a_municipality_fact_belongs_to_the_municipality_it_names(app: TrajectoryLedger) -> None:
    # a municipality whose stream is still empty in this run's (shared) PostgreSQL schema
    codes = random.sample(sorted(municipality_list().names), k=len(municipality_list()))
    code = next(c for c in codes if not list(app.stream_events(ev.municipality_stream_id(c))))
    line = {"kind": "taakstelling-set", "municipality": code, "occurred_on": "2025-01-05",
            "period": "2025H1", "target": 7, "source_ref": "circulaire 2025-I"}  # fmt: skip

    summary = import_lines(app, [(1, line)], source=f"{code}.jsonl")

    assert summary.written == 1, summary.rejects
    stored = list(app.stream_events(ev.municipality_stream_id(code)))
    assert [(e.municipality, type(e).__name__) for e in stored] == [(code, "TaakstellingSet")]


def test_the_stream_cache_holds_at_most_its_bound_of_events(app: TrajectoryLedger, p1: str) -> None:
    writer = BatchWriter(app, cache_events=20)
    persons = [f"{p1}-{n}" for n in range(30)]

    for key in persons:  # one batch per person: registration and two assessments, 3 events
        outcomes = writer.write(
            [
                Write(ev.PersonRegistered, REGISTRATION, subject=key),
                ladder(key, 2),
                ladder(key, 3, 2),
            ]
        )
        assert all(isinstance(o, Recorded) for o in outcomes), outcomes
        held = sum(len(a.stored) if a is not None else 1 for a in writer.streams.values())
        assert held == writer.held <= 20  # 30 persons x 3 events would be 90
        assert len(writer.keys) == len(writer.refs) == 0  # saved: looked up again when needed

    assert len(writer.streams) == 20 // 3
    assert writer.streams.keys() == {app.person_by_external_ref(k) for k in persons[-6:]}


def test_an_evicted_stream_is_loaded_again_with_what_others_appended(
    app: TrajectoryLedger, p1: str
) -> None:
    writer = BatchWriter(app, cache_events=3)
    writer.write([Write(ev.PersonRegistered, REGISTRATION, subject=p1), ladder(p1, 2)])
    person = app.person_by_external_ref(p1)
    assert person is not None
    for n in range(3):  # other persons push P-1 out of the cache
        writer.write([Write(ev.PersonRegistered, REGISTRATION, subject=f"{p1}-{n}")])
    assert person not in writer.streams
    app.record(person, ev.LadderAssessed, occurred_on=date(2025, 3, 5), rung=4, assessor="x")

    outcomes = writer.write([ladder(p1, 5, day=6), ladder(p1, 6, day=7)])

    assert [o.version for o in outcomes if isinstance(o, Recorded)] == [4, 5]
    assert [e.originator_version for e in app.stream_events(person)] == [1, 2, 3, 4, 5]
    last = list(app.stream_events(person))[-1]
    assert isinstance(last, ev.LadderAssessed) and last.rung == 6
    assert app.person(person).registration.name == "Invented Person"  # its key read again


def test_a_dry_writer_keeps_every_stream_it_checked(app: TrajectoryLedger, p1: str) -> None:
    writer = BatchWriter(app, dry_run=True, cache_events=1)
    writer.write([Write(ev.PersonRegistered, REGISTRATION, subject=p1)])
    for n in range(3):
        writer.write([Write(ev.PersonRegistered, REGISTRATION, subject=f"{p1}-{n}")])

    outcomes = writer.write([ladder(p1, 2)])  # P-1 exists only in the writer's memory

    assert isinstance(outcomes[0], Recorded) and outcomes[0].version == 2


def test_a_saved_batch_stores_exactly_the_mappers_bytes_with_ids_in_order(
    app: TrajectoryLedger, raw: RawStore, p1: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bulk save (COPY on PostgreSQL, executemany on SQLite) stores what `record` would.

    `record` stores the mapper's stored event as it is; so must a batch, byte for byte (the
    integrity log hashes these bytes), with notification ids in the batch's order.
    """
    made: list[StoredEvent] = []
    to_stored = app.events.mapper.to_stored_event

    def keep(event: ev.TrajectEvent) -> StoredEvent:
        made.append(to_stored(event))
        return made[-1]

    monkeypatch.setattr(app.events.mapper, "to_stored_event", keep)
    writes = [Write(ev.PersonRegistered, REGISTRATION, subject=p1)]
    writes += [ladder(p1, rung, day=rung) for rung in (2, 3, 4)]
    assert all(isinstance(o, Recorded) for o in BatchWriter(app).write(writes))

    person = app.person_by_external_ref(p1)
    assert person is not None and len(made) == 4
    rows = raw.query(
        "SELECT originator_version, topic, state FROM {events} WHERE originator_id = ?"
        " ORDER BY originator_version",
        [raw.stream_key(person)],
    )
    assert [(v, t, bytes(s)) for v, t, s in rows] == [
        (m.originator_version, m.topic, m.state) for m in made
    ]
    assert b"Invented Person" not in made[0].state and b"_pii" in made[0].state  # encrypted
    notes = [n for n in app.recorder.select_notifications(0, 1000) if n.originator_id == person]
    assert [n.originator_version for n in notes] == [1, 2, 3, 4]
    assert [n.id for n in notes] == sorted(n.id for n in notes)


def test_a_batch_that_shreds_a_person_destroys_the_key_in_its_transaction(
    app: TrajectoryLedger, make_app: LedgerFactory, p1: str
) -> None:
    """The shredding upsert goes with the batch's other side rows (COPY on PostgreSQL), and
    so does the removal of the person's external key."""
    writer = BatchWriter(app)
    writer.write([Write(ev.PersonRegistered, REGISTRATION, subject=p1), ladder(p1, 2)])
    person = app.person_by_external_ref(p1)
    assert person is not None
    # the case closed more than ten years before the erasure: its file's retention has ended
    closed = Write(ev.CaseClosed, {"occurred_on": date(2014, 3, 1), "reason": "moved"})
    shred = Write(ev.PersonalDataShredded, {"occurred_on": date(2025, 3, 9), "approved_by": "fg"})
    outcomes = writer.write([closed._replace(subject=p1), shred._replace(subject=p1)])

    assert all(isinstance(o, Recorded) for o in outcomes)
    assert app.person_by_external_ref(p1) is None
    assert app.tables.external_refs_of([person]) == {}
    reader = make_app(initialise=False)  # a fresh key ring: reads what the store holds
    first = next(iter(reader.stream_events(person)))
    assert isinstance(first, ev.PersonRegistered) and first.name is None


@pytest.mark.parametrize(
    "backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_growing_import_refreshes_the_planners_statistics(
    app: TrajectoryLedger, raw: RawStore, p1: str
) -> None:
    """ANALYZE after the first events and when they have doubled (autovacuum may be off)."""
    writer = BatchWriter(app, first_analyze=3)

    def analysed_rows() -> tuple[float, int]:
        (reltuples,) = raw.query(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass(?)", [raw.events_table]
        )[0]
        (count,) = raw.query("SELECT count(*) FROM {events}", [])[0]
        return float(reltuples), int(count)

    writer.write([Write(ev.PersonRegistered, REGISTRATION, subject=p1), ladder(p1, 2)])
    assert writer.next_analyze == 3  # two saved: not yet
    writer.write([ladder(p1, 3, day=3)])
    reltuples, count = analysed_rows()
    assert reltuples == count  # a small table is analysed whole: its exact row count
    assert writer.next_analyze == 6
    writer.write([ladder(p1, 4, day=4)])  # four saved: not doubled yet
    assert analysed_rows() == (reltuples, count + 1)


def test_an_import_runs_the_garbage_collector_only_between_batches(
    app: TrajectoryLedger, p1: str
) -> None:
    """The collector is off while a batch is checked and saved, and as it was afterwards."""
    registration = {"kind": "person-registered", "person": p1, "occurred_on": "2025-01-10"}
    registration |= {"birth_date": "1990-04-02", "sex": "f", "nationality": ["SY"]}
    assessment = {"kind": "ladder-assessed", "person": p1, "rung": 2, "assessor": "r.jansen"}
    lines: list[tuple[int, str | dict[str, Any]]] = [(1, registration)]
    lines += [(n, assessment | {"occurred_on": f"2025-03-0{n}"}) for n in (2, 3, 4)]
    during: list[bool] = []

    summary = import_lines(
        app,
        lines,
        source=f"{p1}.jsonl",
        batch_size=2,
        on_progress=lambda _: during.append(gc.isenabled()),
    )

    assert summary.written == 4, summary.rejects
    assert during == [False, False] and gc.isenabled()
    gc.disable()  # a caller that turned it off keeps it off
    try:
        import_lines(app, lines, source=f"{p1}.jsonl")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_import_looks_for_cycles_only_after_a_batch_that_refused_a_line(
    app: TrajectoryLedger, p1: str
) -> None:
    """A refusal's traceback holds the batch in a cycle: that batch's cycles are collected
    before it is frozen; a batch that refused nothing is frozen without a collection, and it
    left no cycle behind."""
    registration = {"kind": "person-registered", "person": p1, "occurred_on": "2025-01-10"}
    registration |= {"birth_date": "1990-04-02", "sex": "f", "nationality": ["SY"]}
    assessment = {"kind": "ladder-assessed", "person": p1, "rung": 2, "assessor": "r.jansen"}
    late = assessment | {"occurred_on": "2025-02-01", "recorded_at": "2025-01-01T10:00:00Z"}
    lines: list[tuple[int, str | dict[str, Any]]] = [(1, registration), (2, late)]
    lines += [(n, assessment | {"occurred_on": f"2025-03-0{n}"}) for n in (3, 4, 5, 6, 7)]
    collections: list[int] = []
    left: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    def progress(done: int) -> None:
        if len(collections) == 1 and not left:  # the next batch, saved, not yet frozen
            left.append(gc.collect(1))  # what its collection would have found
            collections.pop()  # (this test's own)

    gc.callbacks.append(seen)
    try:
        summary = import_lines(app, lines, source=f"{p1}.jsonl", batch_size=2, on_progress=progress)
    finally:
        gc.callbacks.remove(seen)

    assert (summary.written, summary.rejected) == (6, 1), summary.rejects
    assert summary.rejects[0].problems[0][0] == "recorded_at"
    assert collections == [1]  # after the first batch only; the next two froze without one
    assert left == [0]


def test_a_person_registered_under_a_given_id_gets_a_data_key_with_the_batch(
    app: TrajectoryLedger, make_app: LedgerFactory, p1: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new stream's key is saved in the batch's transaction, whether its id was made up or
    given (an export imported again); a key row made earlier for a given id is used as it is."""
    given, keyed = uuid4(), uuid4()
    existing = app.keyring.key_for_write(keyed)  # e.g. left by an import killed mid-batch
    writes = [
        Write(ev.PersonRegistered, REGISTRATION, subject=p1, person_id=given),
        Write(ev.PersonRegistered, REGISTRATION, subject=f"{p1}-2", person_id=keyed),
    ]

    apart: list[UUID] = []  # keys written in a transaction of their own (the store is real)
    insert_alone = app.tables.insert_wrapped_key
    monkeypatch.setattr(
        app.tables, "insert_wrapped_key", lambda s, w: apart.append(s) or insert_alone(s, w)
    )

    outcomes = BatchWriter(app).write(writes)

    assert apart == []
    assert [o.stream_id for o in outcomes if isinstance(o, Recorded)] == [given, keyed]
    assert app.tables.subjects_with_keys([given, keyed, uuid4()]) == {given, keyed}
    reader = make_app(initialise=False)  # a fresh key ring: reads what the store holds
    for person in (given, keyed):
        first = next(iter(reader.stream_events(person)))
        assert isinstance(first, ev.PersonRegistered) and first.name == "Invented Person"
    assert reader.keyring.key_for_read(keyed) == existing


def bsn_registration(key: str, bsn: str) -> Write:
    return Write(ev.PersonRegistered, REGISTRATION | {"bsn": bsn}, subject=key)


def bsn_correction(key: str, bsn: str | None) -> Write:
    return Write(ev.EventCorrected, {}, subject=key, target=1, changes={"bsn": bsn}, reason="typo")


def test_a_batch_refuses_a_bsn_correction_to_a_bsn_another_person_holds(
    app: TrajectoryLedger, p1: str
) -> None:
    held, own = fresh_bsn(), fresh_bsn()
    writer = BatchWriter(app)
    writer.write([bsn_registration(p1, held)])

    outcomes = writer.write([bsn_registration(p1 + "-b", own), bsn_correction(p1 + "-b", held)])

    assert isinstance(outcomes[0], Recorded)
    assert isinstance(outcomes[1], DuplicatePersonError)
    second = app.person_by_external_ref(p1 + "-b")
    assert second is not None
    assert [e.originator_version for e in app.stream_events(second)] == [1]
    assert app.find_person_by_bsn(held) == app.person_by_external_ref(p1)
    assert app.find_person_by_bsn(own) == second


def test_a_batch_moves_corrected_bsns_and_frees_the_old_ones_in_order(
    app: TrajectoryLedger, p1: str
) -> None:
    first, second, third = fresh_bsn(), fresh_bsn(), fresh_bsn()
    writer = BatchWriter(app)
    writer.write([bsn_registration(p1, first)])  # saved before: its entry is updated

    outcomes = writer.write(
        [
            bsn_correction(p1, second),  # frees `first`
            bsn_registration(p1 + "-b", first),  # takes it in the same batch
            bsn_correction(p1 + "-b", third),  # registered here: its entry is inserted so
            bsn_registration(p1 + "-c", first),  # and `first` is free again
        ]
    )

    assert all(isinstance(o, Recorded) for o in outcomes), outcomes
    a, b, c = (app.person_by_external_ref(p1 + s) for s in ("", "-b", "-c"))
    assert [app.find_person_by_bsn(x) for x in (first, second, third)] == [c, a, b]


def test_a_batch_refuses_a_key_used_for_another_fact_and_repeats_the_same_one(
    app: TrajectoryLedger, p1: str
) -> None:
    writer = BatchWriter(app)
    key = f"k-{p1}"
    writer.write([Write(ev.PersonRegistered, REGISTRATION, subject=p1)])
    assessed = ladder(p1, 2)._replace(fields=ladder(p1, 2).fields | {"idempotency_key": key})
    other = assessed._replace(fields=assessed.fields | {"rung": 4})

    # within one batch, and against a saved fact
    outcomes = writer.write([assessed, other, assessed]) + writer.write([other, assessed])

    person = app.person_by_external_ref(p1)
    assert [type(o).__name__ for o in outcomes] == [
        "Recorded",
        "IdempotencyKeyReusedError",
        "Recorded",
        "IdempotencyKeyReusedError",
        "Recorded",
    ]
    assert [o.duplicate for o in outcomes if isinstance(o, Recorded)] == [False, True, True]
    refused = outcomes[3]
    assert isinstance(refused, IdempotencyKeyReusedError)
    assert refused.field == "idempotency_key"
    assert refused.rule.startswith(f"{key!r} was used for another fact: LadderAssessed version 2")
    assert person is not None
    assert [e.originator_version for e in app.stream_events(person)] == [1, 2]
