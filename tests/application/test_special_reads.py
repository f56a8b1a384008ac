"""Reads of special-category data (GDPR Art. 9) are facts, recorded before the values are shown.

On SQLite and on PostgreSQL: a timeline or an export shows a person's special-category values
only for a stated purpose and once a SpecialCategoryRead is appended to their stream; without a
purpose, or when the append fails for real (a trigger in the database refusing it), the values
are withheld and nothing is recorded. The read facts change no read model.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from uuid import UUID

import pytest
from builders import close_case_long_ago, person_fields

from commands.importing import import_lines
from ledger import events as ev
from ledger.aggregates import dutch_day
from ledger.application import TrajectoryLedger, current_actor
from ledger.config import parse_database_url
from ledger.errors import RuleViolationError, TrajectError
from ledger.export import Exporter, ExportFilter
from ledger.special import Reading, Withheld
from projections import PROJECTIONS, Views, catch_up, digest

READING = Reading("timeline", "bezwaar BZW-2026-014")
READ_TOPIC = "ledger.events:SpecialCategoryRead"


@pytest.fixture(autouse=True)
def user() -> Iterator[str]:
    token = current_actor.set("f.dpo")
    yield "f.dpo"
    current_actor.reset(token)


def register(app: TrajectoryLedger, **overrides) -> UUID:
    return app.register_person(**person_fields(**overrides)).stream_id


def intake(app: TrajectoryLedger, person: UUID, health_barrier: bool | None = True) -> int:
    return app.record(
        person,
        ev.BroadIntakeCompleted,
        occurred_on=date(2024, 6, 3),
        by="r.jansen",
        health_barrier=health_barrier,
    ).version


def reads_of(app: TrajectoryLedger, person: UUID) -> list[ev.SpecialCategoryRead]:
    return [e for e in app.stream_events(person) if isinstance(e, ev.SpecialCategoryRead)]


def version_of(app: TrajectoryLedger, person: UUID) -> int:
    return app.repository.get(person).version


@contextmanager
def reads_refused(raw) -> Iterator[None]:
    """A trigger in the database refuses every SpecialCategoryRead: a real failed append."""
    if raw.pg is None:
        raw.query(
            "CREATE TRIGGER refuse_reads BEFORE INSERT ON stored_events"
            f" WHEN NEW.topic = '{READ_TOPIC}' BEGIN SELECT RAISE(ABORT, 'reads refused'); END"
        )
    else:
        raw.query(
            "CREATE FUNCTION {p}refuse_reads() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" IF NEW.topic = '{READ_TOPIC}' THEN RAISE EXCEPTION 'reads refused'; END IF;"
            " RETURN NEW; END $$"
        )
        raw.query(
            "CREATE TRIGGER refuse_reads BEFORE INSERT ON {events}"
            " FOR EACH ROW EXECUTE FUNCTION {p}refuse_reads()"
        )
    try:
        yield
    finally:
        if raw.pg is None:
            raw.query("DROP TRIGGER refuse_reads")
        else:
            raw.query("DROP TRIGGER refuse_reads ON {events}")
            raw.query("DROP FUNCTION {p}refuse_reads()")


# --- the timeline ---------------------------------------------------------------------------------


def test_a_timeline_with_a_purpose_records_one_read_before_showing_the_value(app, user):
    person = register(app)
    version = intake(app, person)

    timeline = app.timeline(person, reading=READING)

    # the value is shown, and exactly one read fact was appended: by whom, what, why
    assert timeline.disclosure.shown
    assert timeline.disclosure.fields == ("health_barrier",)
    assert timeline.entries[version - 1].event.health_barrier is True
    assert timeline.entries[version - 1].withheld == ()
    (read,) = reads_of(app, person)
    assert read.originator_version == timeline.disclosure.recorded == version + 1
    assert (read.read_by, read.recorded_by) == (user, user)
    assert (read.command, read.field_names, read.purpose) == (
        "timeline",
        ("health_barrier",),
        "bezwaar BZW-2026-014",
    )
    assert read.occurred_on == dutch_day(read.timestamp)
    # the read is not part of the output it records (it is in the next one)
    assert len(timeline.entries) == version


def test_without_a_purpose_the_value_is_withheld_and_nothing_is_recorded(app):
    person = register(app)
    version = intake(app, person)

    timeline = app.timeline(person)

    assert timeline.disclosure.withheld is Withheld.NO_PURPOSE
    assert not timeline.disclosure.shown
    entry = timeline.entries[version - 1]
    assert entry.withheld == ("health_barrier",)
    assert entry.event.health_barrier is None
    assert entry.effective is not None
    assert entry.effective.health_barrier is None
    assert entry.event.by == "r.jansen"  # the rest is shown as before
    assert reads_of(app, person) == []
    assert version_of(app, person) == version


def test_a_person_without_a_special_value_appends_nothing(app):
    person = register(app, name="Invented Person")
    intake(app, person, health_barrier=None)

    timeline = app.timeline(person, reading=READING)

    assert timeline.disclosure.fields == ()
    assert timeline.disclosure.recorded is None
    assert reads_of(app, person) == []
    assert timeline.entries[0].event.name == "Invented Person"  # personal fields as before


def test_an_erased_person_appends_nothing(app):
    person = register(app)
    intake(app, person)
    close_case_long_ago(app, person)
    app.shred(person, approved_by="f.g.privacy")

    timeline = app.timeline(person, reading=READING)

    assert timeline.erased
    assert timeline.disclosure.fields == ()
    assert reads_of(app, person) == []


def test_a_corrected_flag_is_shown_or_withheld_with_its_correction(app):
    person = register(app)
    version = intake(app, person)
    app.correct(person, version, {"health_barrier": False}, reason="misread")

    withheld = app.timeline(person)
    original, correction = withheld.entries[version - 1], withheld.entries[version]
    assert original.withheld == ("health_barrier",)
    assert original.event.health_barrier is None
    assert original.effective is not None
    assert original.effective.health_barrier is None
    assert correction.withheld == ("health_barrier",)
    assert isinstance(correction.event, ev.EventCorrected)
    assert correction.event.personal_changes is None
    assert correction.event.reason == "misread"

    shown = app.timeline(person, reading=READING)
    assert shown.entries[version - 1].effective.health_barrier is False
    assert shown.entries[version].event.personal_changes == {"health_barrier": False}
    assert [r.field_names for r in reads_of(app, person)] == [("health_barrier",)]


def test_a_timeline_as_known_before_the_value_records_nothing(app):
    person = register(app)
    before = app.repository.get(person).stored[1].timestamp
    intake(app, person)

    timeline = app.timeline(person, as_known_at=before, reading=READING)

    assert timeline.disclosure.fields == ()
    assert reads_of(app, person) == []


def test_a_failed_append_shows_nothing_special(app, raw):
    person = register(app)
    version = intake(app, person)

    with reads_refused(raw):
        timeline = app.timeline(person, reading=READING)

    assert timeline.disclosure.withheld is Withheld.NOT_RECORDED
    # SQLite reports the trigger's abort as a constraint failure: retried, then given up
    said = "kept changing while writing" if raw.pg is None else "reads refused"
    assert said in timeline.disclosure.detail
    assert timeline.entries[version - 1].event.health_barrier is None
    assert reads_of(app, person) == []
    assert version_of(app, person) == version


def test_a_read_fact_is_not_recorded_with_record_nor_corrected(app):
    person = register(app)
    version = intake(app, person)
    read = app.timeline(person, reading=READING).disclosure.recorded
    assert read is not None
    # the facts before it are corrected and retracted as before
    app.correct(person, version, {"by": "s.bakker"}, reason="intake by her colleague")
    app.retract(person, version, reason="recorded on the wrong person")

    with pytest.raises(TrajectError, match="SpecialCategoryRead is recorded by the command"):
        app.record(
            person,
            ev.SpecialCategoryRead,
            read_by="x",
            command="timeline",
            field_names=["health_barrier"],
            purpose="x",
        )
    with pytest.raises(RuleViolationError, match="cannot themselves be changed"):
        app.correct(person, read, {"purpose": "another"}, reason="typo")
    with pytest.raises(RuleViolationError, match="cannot themselves be changed"):
        app.retract(person, read, reason="typo")


def test_reads_do_not_count_for_retention_or_erasure(app):
    person = register(app)
    intake(app, person)
    close_case_long_ago(app, person)
    before = app.retention(person)

    app.timeline(person, reading=READING)
    app.timeline(person, reading=READING)

    assert app.retention(person) == before
    assert before.erasable
    app.shred(person, approved_by="f.g.privacy")  # reads since the case closed hold nothing up
    assert len(reads_of(app, person)) == 2  # and stay, naming no personal data


# --- the listing ----------------------------------------------------------------------------------


def test_the_recorded_reads_are_listed_by_person_day_and_user(app):
    first, second = register(app), register(app)
    intake(app, first)
    intake(app, second)
    app.timeline(first, reading=READING)
    token = current_actor.set("s.bakker")
    try:
        app.timeline(second, reading=Reading("timeline", "spreekuur"))
    finally:
        current_actor.reset(token)

    everyone = app.special_reads()
    mine = [r for r in everyone if r.originator_id in (first, second)]
    assert [(r.originator_id, r.read_by) for r in mine] == [
        (first, "f.dpo"),
        (second, "s.bakker"),
    ]
    assert [r.originator_id for r in app.special_reads(person_id=second)] == [second]
    assert second not in {r.originator_id for r in app.special_reads(user="f.dpo")}
    today = dutch_day(mine[0].timestamp)
    assert len([r for r in app.special_reads(since=today) if r in mine]) == 2
    assert [r for r in app.special_reads(since=today + timedelta(days=1)) if r in mine] == []


# --- read models ----------------------------------------------------------------------------------


def test_read_facts_change_no_read_model(app):
    # facts that several read models count, and the flag
    person = register(app)
    app.record(person, ev.LadderAssessed, occurred_on=date(2024, 6, 3), rung=3, assessor="r.j")
    app.record(person, ev.HelpRequestRecorded, occurred_on=date(2024, 6, 4), category="wonen")
    app.record(person, ev.OutflowStarted, occurred_on=date(2024, 7, 1), outflow_type="onderwijs")
    intake(app, person)
    views = Views(app)
    before = {name: catch_up(views, p).digest for name, p in PROJECTIONS.items()}

    for _ in range(3):
        app.timeline(person, reading=READING)
    assert len(reads_of(app, person)) == 3

    after = {name: catch_up(views, p).digest for name, p in PROJECTIONS.items()}
    assert after == before
    # no projection reads the topic, so none is behind for it
    assert all(READ_TOPIC not in p.topics for p in PROJECTIONS.values())
    assert {name: digest(views, p) for name, p in PROJECTIONS.items()} == before


# --- the export -----------------------------------------------------------------------------------


def exported(app: TrajectoryLedger, person: UUID, **options) -> Exporter:
    return Exporter(app, selection=ExportFilter(person_id=person), **options)


def test_an_export_with_a_purpose_records_one_read_per_person_before_the_lines(app):
    # three people of a municipality of their own in the store (PostgreSQL's is shared)
    people = [register(app, municipality="GM1680") for _ in range(3)]
    for person in people[:2]:
        version = intake(app, person)
        app.correct(person, version, {"health_barrier": False}, reason="misread")
    exporter = Exporter(
        app,
        include_personal=True,
        selection=ExportFilter(municipality="GM1680"),
        reading=Reading("export --include-personal", "migration"),
    )

    lines = exporter.lines()
    first = next(lines)  # the first page's reads are recorded before its first line
    assert [len(reads_of(app, p)) for p in people] == [1, 1, 0]
    rest = [first, *lines]

    mine = [line for line in rest if line.get("person_id") in {str(p) for p in people}]
    intakes = [line for line in mine if line["kind"] == "broad-intake-completed"]
    assert [line["health_barrier"] for line in intakes] == [True, True]
    corrections = [line for line in rest if line["kind"] == "event-corrected"]
    assert {"health_barrier": False} in [c["changes"] for c in corrections]
    assert not any("_withheld" in line for line in rest)
    # this export's own reads come after its cut: not in it
    assert not any(line["kind"] == "special-category-read" for line in mine)
    assert exporter.reads.recorded == set(people[:2])
    (read,) = reads_of(app, people[0])
    assert (read.command, read.purpose) == ("export --include-personal", "migration")


def test_an_export_leaves_special_values_out_without_a_purpose_or_when_pseudonymised(app):
    person = register(app)
    intake(app, person)

    for options in (
        {"include_personal": True},
        {"include_personal": True, "reading": Reading("export --include-personal")},
        {"include_personal": False, "reading": READING},
    ):
        exporter = exported(app, person, **options)
        (line,) = [x for x in exporter.lines() if x["kind"] == "broad-intake-completed"]
        assert "health_barrier" not in line
        assert "health_barrier" not in line.get("_pseudonyms", {})  # not even as a hash
        assert line["_withheld"] == ["health_barrier"]
        assert person in set().union(*exporter.reads.withheld.values())
    assert reads_of(app, person) == []


def test_an_export_whose_reads_fail_leaves_the_values_out(app, raw):
    person = register(app)
    intake(app, person)
    exporter = exported(app, person, include_personal=True, reading=READING)

    with reads_refused(raw):
        lines = list(exporter.lines())

    (line,) = [x for x in lines if x["kind"] == "broad-intake-completed"]
    assert "health_barrier" not in line
    assert exporter.reads.withheld == {Withheld.NOT_RECORDED: {person}}
    assert reads_of(app, person) == []


@pytest.fixture
def target(tmp_path, master_key) -> Iterator[TrajectoryLedger]:
    """An empty ledger on a SQLite file of its own: where an export is imported."""
    env = parse_database_url(f"sqlite:///{tmp_path / 'target.db'}").library_env
    ledger = TrajectoryLedger(env, master_key)
    ledger.initialise(default_municipality="GM0622")
    yield ledger
    ledger.close()


def test_recorded_reads_survive_export_and_import_with_their_reader(app, target):
    person = register(app)
    intake(app, person)
    app.timeline(person, reading=READING)
    lines = list(exported(app, person, include_personal=True, reading=READING).lines())
    (line,) = [x for x in lines if x["kind"] == "special-category-read"]
    assert line["read_by"] == "f.dpo"

    token = current_actor.set("m.migrator")
    try:
        summary = import_lines(target, enumerate(lines, 1), source="export.jsonl")
    finally:
        current_actor.reset(token)
    assert summary.rejected == 0, summary.rejects

    # the reader is kept; the recorder is who imported it
    (read,) = reads_of(target, person)
    assert (read.read_by, read.recorded_by) == ("f.dpo", "m.migrator")
    assert (read.command, read.field_names, read.purpose) == (
        "timeline",
        ("health_barrier",),
        READING.purpose,
    )
    assert read.timestamp == reads_of(app, person)[0].timestamp
