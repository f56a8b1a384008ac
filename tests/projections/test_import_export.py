"""Export → import into an empty ledger gives the same streams and the same projection digests."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import amif_scenario
import orjson
import pytest

from commands.importing import import_lines
from ledger import events as ev
from ledger.aggregates import project_stream
from ledger.application import TrajectoryLedger, current_actor
from ledger.catalog import cli_name
from ledger.export import Exporter, ExportFilter, pseudonym
from ledger.special import Reading
from projections import PROJECTIONS, Views, catch_up, digest
from projections.caseload import CaseloadRow, caseload

DAY = date(2025, 1, 6)
LedgerFactory = Callable[[str], TrajectoryLedger]
SchemaFactory = Callable[[], str]


def at(days: int, hour: int = 10) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, hour, tzinfo=UTC) + timedelta(days=days)


def on(days: int) -> date:
    return DAY + timedelta(days=days)


def scenario(app: TrajectoryLedger) -> dict[str, UUID]:
    """Three statushouders and a taakstelling, with corrections, a retraction and an erasure.

    Some facts carry an idempotency key, most do not (as `traject record` leaves them); some
    have an imported recorded time, the rest are recorded now.
    """
    app.record_for_municipality(
        "GM0622", ev.TaakstellingSet, occurred_on=on(0), period="2025H1", target=12,
        source_ref="circulaire 2025-I", recorded_at=at(0),
    )  # fmt: skip
    amal = app.register_person(
        external_ref="A-1", occurred_on=on(1), birth_date=date(1990, 4, 2), sex="f",
        nationality=["SY"], bsn="123456782", name="Amal Haddad", recorded_at=at(1),
    ).stream_id  # fmt: skip
    app.record(amal, ev.ResidencePermitRecorded, occurred_on=on(1), permit_kind="asiel_bt",
               recorded_at=at(1, 11))  # fmt: skip
    app.record(amal, ev.CoaLinked, occurred_on=on(2), taakstelling_period="2025H1",
               idempotency_key="crm:A-1:link", recorded_at=at(2))  # fmt: skip
    app.record(amal, ev.Housed, occurred_on=on(20), housing_kind="regulier", route="koppeling",
               recorded_at=at(21))  # fmt: skip
    ladder = app.record(amal, ev.LadderAssessed, occurred_on=on(30), rung=2, assessor="r.jansen",
                        idempotency_key="crm:A-1:ladder", recorded_at=at(31))  # fmt: skip
    app.correct(amal, ladder.version, {"rung": 4}, reason="typo", recorded_at=at(32))
    app.correct(amal, ladder.version, {"rung": 3}, reason="second look")  # recorded now
    app.record(amal, ev.CoachAssigned, occurred_on=on(33), staff_id="r.jansen", role="regisseur")
    # free text that can hold health data: personal fields (encrypted, pseudonymised, erasable)
    app.record(amal, ev.InburgeringDutyEstablished, occurred_on=on(34), duty_start=on(34))
    app.record(amal, ev.BroadIntakeCompleted, occurred_on=on(35), by="r.jansen",
               work_experience="kok in Aleppo")  # fmt: skip
    app.record(amal, ev.DispensationGranted, occurred_on=on(36), component="spreken",
               ground="medisch: PTSS")  # fmt: skip
    app.record(amal, ev.TermExtended, occurred_on=on(37), new_end=on(1500),
               ground="ziekte: opname")  # fmt: skip
    bilal = app.register_person(
        occurred_on=on(3), birth_date=date(1985, 7, 12), sex="m", nationality=["ER"],
        recorded_at=at(3),
    ).stream_id  # fmt: skip
    app.record(bilal, ev.ResidencePermitRecorded, occurred_on=on(3), permit_kind="asiel_bt",
               recorded_at=at(3, 12))  # fmt: skip
    link = app.record(bilal, ev.CoaLinked, occurred_on=on(4), taakstelling_period="2025H1",
                      recorded_at=at(4))  # fmt: skip
    app.retract(bilal, link.version, reason="linked to the wrong municipality", recorded_at=at(5))
    app.record(bilal, ev.OutflowStarted, occurred_on=on(40), outflow_type="werk_volledig",
               hours_per_week="32", recorded_at=at(41))  # fmt: skip
    app.record(bilal, ev.LadderAssessed, occurred_on=on(41), rung=5, assessor="s.bakker")
    chen = app.register_person(
        external_ref="C-3", occurred_on=on(5), birth_date=date(2001, 1, 1), sex="x",
        nationality=["AF"], bsn="111222333", name="Chen", recorded_at=at(5),
    ).stream_id  # fmt: skip
    app.record(chen, ev.LadderAssessed, occurred_on=on(6), rung=1, assessor="r.jansen")
    app.record(chen, ev.ExemptionGranted, occurred_on=on(7), ground="medisch: slechtziend")
    # her case closed twelve years ago: the retention of her file has ended
    app.record(chen, ev.CaseClosed, occurred_on=on(6) - timedelta(days=365 * 12), reason="moved")
    app.shred(chen, approved_by="f.g.privacy")
    return {"amal": amal, "bilal": bilal, "chen": chen}


def digests(app: TrajectoryLedger) -> dict[str, str]:
    views = Views(app)
    result = {}
    for name, projection in PROJECTIONS.items():
        catch_up(views, projection)
        result[name] = digest(views, projection)
    return result


def history(app: TrajectoryLedger, stream_id: UUID) -> list[tuple[Any, ...]]:
    """What a stream says, without its idempotency keys (lines without one get a derived key)."""
    rows = []
    for entry in app.timeline(stream_id).entries:
        event = entry.event.model_dump(
            mode="json", exclude={"idempotency_key", "recorded_by", "imported_by"}
        )
        rows.append((entry.version, entry.kind, event, entry.corrected_by, entry.retracted_by))
    return rows


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'copy.db'}"
    fresh: SchemaFactory = request.getfixturevalue("projection_pg")
    return fresh(), fresh()


def export_all(app: TrajectoryLedger, **options: Any) -> list[dict[str, Any]]:
    options.setdefault("include_personal", True)
    options.setdefault("selection", ExportFilter())
    return list(Exporter(app, **options).lines())


def test_export_then_import_elsewhere_gives_the_same_streams_and_digests(
    make_ledger: LedgerFactory, two_stores: tuple[str, str]
) -> None:
    source = make_ledger(two_stores[0])
    people = scenario(source)
    lines = export_all(source)

    copy = make_ledger(two_stores[1])
    summary = import_lines(copy, enumerate(lines, start=1), source="events.jsonl", batch_size=7)

    assert (summary.written, summary.skipped, summary.rejected) == (len(lines), 0, 0)
    assert len(lines) == 1 + 12 + 6 + 5  # every stored event, once: taakstelling, the three
    for stream_id in people.values():
        assert history(copy, stream_id) == history(source, stream_id)
    assert copy.person(people["amal"]).registration.bsn == "123456782"
    assert copy.person(people["chen"]).registration.bsn is None  # erased stays erased
    assert copy.person_by_external_ref("A-1") == people["amal"]
    # the erased person's external key went with the erasure: not exported, so not imported
    assert "C-3" not in repr(lines)
    assert copy.person_by_external_ref("C-3") is None
    assert digests(copy) == digests(source)
    again = import_lines(copy, enumerate(lines, start=1), source="events.jsonl")
    assert (again.written, again.skipped, again.rejected) == (0, len(lines), 0)


def test_a_pseudonymised_export_has_no_personal_data_and_still_imports(
    make_ledger: LedgerFactory, two_stores: tuple[str, str]
) -> None:
    source = make_ledger(two_stores[0])
    people = scenario(source)

    lines = export_all(source, include_personal=False)

    text = repr(lines)
    for secret in ("123456782", "Amal Haddad", "A-1", "typo", "second look", "PTSS", "opname",
                   "kok in Aleppo", "slechtziend"):  # fmt: skip
        assert secret not in text
    registration = next(line for line in lines if line.get("person_id") == str(people["amal"]))
    assert set(registration["_pseudonyms"]) == {"bsn", "name", "recorded_by"}
    copy = make_ledger(two_stores[1])
    summary = import_lines(copy, enumerate(lines, start=1), source="events.jsonl")
    assert summary.rejected == 0
    assert_same_figures(copy, source, renamed_by=staff_pseudonym(source))


def staff_pseudonym(app: TrajectoryLedger) -> Callable[[str], str]:
    """A member of staff's name as a pseudonymised export of ``app`` writes it: the pseudonym
    of their name as recorder."""
    return lambda name: pseudonym(app.keyring.export_key, "recorded_by", name)


def renamed(rows: list[CaseloadRow], name: Callable[[str], str]) -> list[CaseloadRow]:
    """Caseload rows with every member of staff named by ``name``."""

    def coach(text: str) -> str:
        role, staff = text.split(":", 1)
        return f"{role}:{name(staff)}"

    return [
        dataclasses.replace(
            row,
            regisseurs=tuple(sorted(map(name, row.regisseurs))),
            coaches=tuple(sorted(map(coach, row.coaches))),
        )
        for row in rows
    ]


def assert_same_figures(
    copy: TrajectoryLedger, source: TrajectoryLedger, *, renamed_by: Callable[[str], str]
) -> None:
    """``copy`` (an import of a pseudonymised export of ``source``) counts as ``source`` does:
    the same digests of every read model but the caseload, whose rows are the same on every
    day of the scenario and after, but for the members of staff, named by ``renamed_by``."""
    ours, theirs = digests(copy), digests(source)
    assert ours.pop("caseload") != theirs.pop("caseload")  # it names coaches: by pseudonym
    assert ours == theirs
    own, other = Views(copy), Views(source)
    for day in (on(n) for n in range(0, 90, 3)):
        assert caseload(own, day) == renamed(caseload(other, day), renamed_by), day


def test_filters_select_whole_streams_or_a_period(
    make_ledger: LedgerFactory, tmp_path: Path
) -> None:
    source = make_ledger(f"sqlite:///{tmp_path / 'source.db'}")
    people = scenario(source)

    amal = export_all(source, selection=ExportFilter(person_id=people["amal"]))
    period = export_all(source, selection=ExportFilter(occurred_from=on(20), occurred_to=on(31)))

    everything = export_all(source, selection=ExportFilter(municipality="GM0622"))
    elsewhere = export_all(source, selection=ExportFilter(municipality="GM0599"))

    assert len(everything) == 1 + 12 + 6 + 5 and elsewhere == []
    assert {line.get("person") for line in amal} == {"A-1"}
    assert len(amal) == 12
    assert sorted(line["occurred_on"] for line in period) == [
        on(20).isoformat(),
        on(30).isoformat(),
    ]


# --- who recorded each fact -----------------------------------------------------------------


@contextlib.contextmanager
def recording_as(user: str) -> Iterator[None]:
    """Facts recorded (and imports run) in the block are by ``user`` (as --user does)."""
    token = current_actor.set(user)
    try:
        yield
    finally:
        current_actor.reset(token)


def staffed_scenario(app: TrajectoryLedger) -> dict[str, UUID]:
    """The scenario recorded by m.vermeer, then a fact, a correction, a legal hold and a sealed
    report by k.smit: recorders that differ by fact, control facts included."""
    with recording_as("m.vermeer"):
        people = scenario(app)
    with recording_as("k.smit"):
        late = app.record(
            people["bilal"], ev.LadderAssessed, occurred_on=on(42), rung=6, assessor="s.bakker"
        )
        app.correct(people["bilal"], late.version, {"rung": 5}, reason="misread")
        app.place_hold(people["amal"], hold_ref="bezwaar-2025-7", reason="objection pending")
        app.seal_report(
            "GM0622",
            label="Q1 dashboard",
            command=["report", "outflow", "--period", "2025H1"],
            as_known_at=datetime.now(UTC),
            last_notification_id=int(app.recorder.max_notification_id() or 0),
            rule_version="2025.1",
            result={"period": "2025H1", "rows": []},
            read_models={"outflow": 4},
        )
    return people


def recorders(app: TrajectoryLedger) -> dict[tuple[UUID, int], tuple[str, str | None]]:
    """``(recorded_by, imported_by)`` of every stored event, by stream and version."""
    found: dict[tuple[UUID, int], tuple[str, str | None]] = {}
    start = 0
    while page := app.recorder.select_notifications(start, 500, inclusive_of_start=False):
        start = page[-1].id
        for stored in page:
            event = app.mapper.to_domain_event(stored)
            found[event.originator_id, event.originator_version] = (
                event.recorded_by,
                event.imported_by,
            )
    return found


def as_text(lines: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """Lines as `traject export` writes them and `traject import` reads them: JSON text."""
    return [(number, orjson.dumps(line).decode()) for number, line in enumerate(lines, start=1)]


def without_recorders(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines as exports wrote them before they carried the recorder."""
    old = []
    for line in lines:
        earlier = {k: v for k, v in line.items() if k != "recorded_by"}
        notes = {k: v for k, v in earlier.pop("_pseudonyms", {}).items() if k != "recorded_by"}
        if notes:
            earlier["_pseudonyms"] = notes
        old.append(earlier)
    return old


def test_a_move_with_kept_recorders_keeps_who_recorded_every_fact(
    make_ledger: LedgerFactory, two_stores: tuple[str, str]
) -> None:
    source = make_ledger(two_stores[0])
    staffed_scenario(source)
    lines = export_all(source)
    assert {line["recorded_by"] for line in lines} == {"m.vermeer", "k.smit"}

    copy = make_ledger(two_stores[1])
    with recording_as("a.admin"):
        summary = import_lines(
            copy, as_text(lines), source="move.jsonl", batch_size=7, keep_recorded_by=True
        )
        again = import_lines(copy, as_text(lines), source="move.jsonl", keep_recorded_by=True)

    assert (summary.written, summary.skipped, summary.rejected) == (len(lines), 0, 0)
    assert summary.recorders_not_kept == 0
    before, after = recorders(source), recorders(copy)
    assert len(after) == len(lines)
    assert {k: by for k, (by, _) in after.items()} == {k: by for k, (by, _) in before.items()}
    assert {imported for _, imported in before.values()} == {None}
    assert {imported for _, imported in after.values()} == {"a.admin"}
    assert digests(copy) == digests(source)
    assert (again.written, again.skipped, again.rejected) == (0, len(lines), 0)


def test_without_keeping_them_the_importing_user_records_and_the_lines_are_counted(
    make_ledger: LedgerFactory, tmp_path: Path
) -> None:
    source = make_ledger(f"sqlite:///{tmp_path / 'source.db'}")
    staffed_scenario(source)
    lines = export_all(source)

    copy = make_ledger(f"sqlite:///{tmp_path / 'copy.db'}")
    with recording_as("a.admin"):
        summary = import_lines(copy, as_text(lines), source="move.jsonl")
        kept = import_lines(copy, as_text(lines), source="move.jsonl", keep_recorded_by=True)

    assert (summary.written, summary.rejected) == (len(lines), 0)
    assert summary.recorders_not_kept == len(lines)
    assert set(recorders(copy).values()) == {("a.admin", None)}
    assert digests(copy) == digests(source)
    # the lines are the same facts, whether their recorder is kept or not: nothing again
    assert (kept.written, kept.skipped) == (0, len(lines))


def test_a_pseudonymised_export_names_no_recorder(
    make_ledger: LedgerFactory, tmp_path: Path
) -> None:
    source = make_ledger(f"sqlite:///{tmp_path / 'source.db'}")
    staffed_scenario(source)

    lines = export_all(source, include_personal=False)

    assert not any("recorded_by" in line for line in lines)
    assert "m.vermeer" not in repr(lines) and "k.smit" not in repr(lines)
    pseudonyms = {line["_pseudonyms"]["recorded_by"] for line in lines}
    assert len(pseudonyms) == 2  # one per recorder: "the same recorder" stays visible
    assert all(p.startswith("ps:") for p in pseudonyms)
    copy = make_ledger(f"sqlite:///{tmp_path / 'copy.db'}")
    with recording_as("a.admin"):  # a pseudonym is no recorder: the importing user records
        summary = import_lines(copy, as_text(lines), source="p.jsonl", keep_recorded_by=True)
    assert (summary.written, summary.rejected, summary.recorders_not_kept) == (len(lines), 0, 0)
    assert set(recorders(copy).values()) == {("a.admin", None)}


# --- names of staff in the facts' own fields --------------------------------------------------

STAFF = ("m.vermeer", "k.smit", "r.jansen", "s.bakker", "f.g.privacy")


def staff_named_scenario(app: TrajectoryLedger) -> dict[str, UUID]:
    """The staffed scenario (recorders m.vermeer and k.smit; assessors r.jansen and s.bakker;
    coach r.jansen; the erasure approved by f.g.privacy), then, recorded by r.jansen: a second
    coach and regisseur, an assessment whose assessor a correction changes to k.smit, a
    hand-over and a read of special-category data."""
    people = staffed_scenario(app)
    amal, bilal = people["amal"], people["bilal"]
    with recording_as("r.jansen"):
        app.record(bilal, ev.CoachAssigned, occurred_on=on(43), staff_id="s.bakker", role="coach")
        app.record(
            bilal, ev.CoachAssigned, occurred_on=on(43), staff_id="r.jansen", role="regisseur"
        )
        ladder = app.record(
            amal, ev.LadderAssessed, occurred_on=on(44), rung=3, assessor="s.bakker"
        )
        app.correct(amal, ladder.version, {"assessor": "k.smit"}, reason="wrong assessor")
        app.record(
            amal, ev.CoachUnassigned, occurred_on=on(50), staff_id="r.jansen", role="regisseur"
        )
        app.record_read(amal, Reading("timeline", "bezwaar 2025-7"), ["health_barrier"])
    return people


def named(lines: list[dict[str, Any]], kind: str, name: str) -> list[Any]:
    """The values of field ``name`` on the lines of ``kind``, in order."""
    return [line[name] for line in lines if line["kind"] == kind]


def test_a_pseudonymised_export_names_no_member_of_staff_and_counts_the_same_per_coach(
    make_ledger: LedgerFactory, two_stores: tuple[str, str]
) -> None:
    source = make_ledger(two_stores[0])
    staff_named_scenario(source)
    p = staff_pseudonym(source)

    lines = export_all(source, include_personal=False)
    clear = export_all(source)

    # the file's very text: no field, correction or note names anyone
    text = b"\n".join(orjson.dumps(line) for line in lines).decode()
    assert [name for name in STAFF if name in text] == []
    # each name is in place, as the pseudonym it has as recorder: one member of staff, one
    # pseudonym, whether they recorded a fact, assessed, coached, read or approved
    assert {line["_pseudonyms"]["recorded_by"] for line in lines} == {
        p("m.vermeer"),
        p("k.smit"),
        p("r.jansen"),
    }
    coaches = named(lines, "coach-assigned", "staff_id")
    assert coaches == [p(n) for n in ("r.jansen", "s.bakker", "r.jansen")]
    assert named(lines, "coach-unassigned", "staff_id") == [p("r.jansen")]
    assessors = named(lines, "ladder-assessed", "assessor")
    assert assessors == [p(n) for n in ("r.jansen", "s.bakker", "r.jansen", "s.bakker", "s.bakker")]
    assert named(lines, "event-corrected", "changes")[-1] == {"assessor": p("k.smit")}
    assert named(lines, "event-corrected", "changes")[0] == {"rung": 4}  # no name: as it was
    assert named(lines, "special-category-read", "read_by") == [p("r.jansen")]
    assert named(lines, "personal-data-shredded", "approved_by") == [p("f.g.privacy")]
    # with --include-personal every name is in clear, as stored
    assert named(clear, "coach-assigned", "staff_id") == ["r.jansen", "s.bakker", "r.jansen"]
    assert named(clear, "event-corrected", "changes")[-1] == {"assessor": "k.smit"}
    assert named(clear, "personal-data-shredded", "approved_by") == ["f.g.privacy"]

    # the file imports, and counts the same: per coach, by pseudonym
    copy = make_ledger(two_stores[1])
    summary = import_lines(copy, as_text(lines), source="p.jsonl")
    assert (summary.written, summary.rejected) == (len(lines), 0)
    assert_same_figures(copy, source, renamed_by=p)
    for day, coach, persons in (
        (on(45), "r.jansen", 2),
        (on(45), "s.bakker", 1),
        (on(51), "r.jansen", 1),
    ):
        own = caseload(Views(copy), day, coach=p(coach))
        assert len(own) == len(caseload(Views(source), day, coach=coach)) == persons
    assert caseload(Views(copy), on(45), coach="r.jansen") == []  # no name in the copy


def as_objects(lines: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Lines as other commands hand them to import_lines: objects."""
    return list(enumerate(lines, start=1))


@pytest.mark.parametrize("include_personal", [True, False], ids=["personal", "pseudonymised"])
@pytest.mark.parametrize("form", [as_text, as_objects], ids=["text", "objects"])
def test_a_file_exported_before_recorders_were_exported_keeps_its_line_keys(
    make_ledger: LedgerFactory,
    tmp_path: Path,
    include_personal: bool,
    form: Callable[[list[dict[str, Any]]], list[tuple[int, Any]]],
) -> None:
    source = make_ledger(f"sqlite:///{tmp_path / 'source.db'}")
    staffed_scenario(source)
    lines = export_all(source, include_personal=include_personal)
    copy = make_ledger(f"sqlite:///{tmp_path / 'copy.db'}")
    earlier = import_lines(copy, form(without_recorders(lines)), source="events.jsonl")

    # the same facts exported again, now with their recorders, under the same file name
    again = import_lines(copy, form(lines), source="events.jsonl", keep_recorded_by=True)

    assert (earlier.written, earlier.rejected) == (len(lines), 0)
    assert (again.written, again.skipped, again.rejected) == (0, len(lines), 0)


def test_a_correction_is_pseudonymised_by_the_kind_it_corrects(
    make_ledger: LedgerFactory, sqlite_store: str
) -> None:
    """``by`` names the member of staff of an intake but the verifying body of a management
    verification: a correction setting it is pseudonymised for the one and kept for the other."""
    app = make_ledger(sqlite_store)
    people = scenario(app)
    intake = app.record(people["amal"], ev.BroadIntakeStarted, occurred_on=on(40), by="r.jansen")
    app.correct(people["amal"], intake.version, {"by": "s.bakker"}, reason="other colleague")
    app.record_for_project(
        "MWP", ev.ProjectRegistered, occurred_on=date(2025, 1, 6), municipality="GM0622",
        title="Meedoen Werkt", fund="AMIF_2127", beneficiary="Gemeente Vlaardingen",
        beneficiary_kind="gemeente", grant_ref="UVB-2025-017", eligibility_from=date(2025, 1, 1),
        eligibility_to=date(2027, 12, 31), cofin_rate="0.75", target_total=10,
    )  # fmt: skip
    check = app.record_for_project(
        "MWP", ev.ManagementVerificationRecorded, occurred_on=on(41), municipality="GM0622",
        by="UVB", scope="declaratie 2025H1", outcome="no_findings",
    )  # fmt: skip
    app.correct(ev.project_stream_id("MWP"), check.version, {"by": "ADR"}, reason="auditor")
    p = staff_pseudonym(app)

    changes = named(export_all(app, include_personal=False), "event-corrected", "changes")

    assert {"by": p("s.bakker")} in changes
    assert {"by": "ADR"} in changes


def test_a_municipality_s_export_brings_the_projects_its_streams_take_part_in(
    make_ledger: LedgerFactory, tmp_path: Path
) -> None:
    """A partner municipality's participants refer to a project registered by another
    municipality: its export carries the project's stream, so that it imports."""
    source = make_ledger(f"sqlite:///{tmp_path / 'source.db'}")
    people = amif_scenario.build(source).people

    lines = export_all(source, selection=ExportFilter(municipality="GM0599"))

    project = [line for line in lines if line.get("project") == amif_scenario.PROJECT]
    assert project and project[0]["kind"] == "project-registered"
    assert lines.index(project[0]) < min(
        i for i, line in enumerate(lines) if line.get("project_id") == amif_scenario.PROJECT
    )
    assert {line["person_id"] for line in lines if line["kind"] == "person-registered"} == {
        str(people["C"]),
        str(people["E"]),
    }
    copy = make_ledger(f"sqlite:///{tmp_path / 'copy.db'}")
    summary = import_lines(copy, enumerate(lines, start=1), source="gm0599.jsonl")
    assert [reject.problems for reject in summary.rejects] == []
    assert summary.written == len(lines)
    for name in "CE":
        assert history(copy, people[name]) == history(source, people[name])


# --- a member's registration before the first fact that names them ----------------------------


def appended_unchecked(
    app: TrajectoryLedger,
    stream_id: UUID,
    kind: type[ev.TrajectEvent],
    recorded_at: datetime,
    **fields: Any,
) -> None:
    """Append a fact as an earlier release could: built as today's ledger builds it, stored
    without today's checks across streams (an arrival naming a person not registered yet)."""
    aggregate = app.repository.get(stream_id, projector_func=project_stream)
    event = app.build_event(aggregate, kind, fields, recorded_at)
    app.recorder.insert_events([app.mapper.to_stored_event(event)])


def household_stored_out_of_order(app: TrajectoryLedger) -> dict[str, UUID]:
    """A referent whose arrival (and a correction of another arrival) names a member whose
    registration was stored after it, as earlier releases of ``traject generate`` wrote them."""
    people = {"member": uuid4(), "partner": uuid4()}
    referent = app.register_person(
        external_ref="R-1", person_id=uuid4(), occurred_on=on(0), birth_date=date(1988, 3, 1),
        sex="m", nationality=["SY"], name="Rami Haddad", recorded_at=at(0),
    ).stream_id  # fmt: skip
    app.record(referent, ev.FamilyReunificationApplied, occurred_on=on(1),
               members=["partner", "kind"], recorded_at=at(1))  # fmt: skip
    appended_unchecked(app, referent, ev.NareizigerArrived, occurred_on=on(30), relation="kind",
                       member_person_id=people["member"], recorded_at=at(30))  # fmt: skip
    appended_unchecked(app, referent, ev.NareizigerArrived, occurred_on=on(31),
                       relation="partner", recorded_at=at(31))  # fmt: skip
    appended_unchecked(app, referent, ev.EventCorrected, target_version=4,
                       changes={"member_person_id": str(people["partner"])},
                       reason="registered", recorded_at=at(33))  # fmt: skip
    app.register_person(
        external_ref="M-1", person_id=people["member"], occurred_on=on(30),
        birth_date=date(2015, 6, 1), sex="f", nationality=["SY"], name="Lina Haddad",
        household_id=referent, recorded_at=at(34),
    )  # fmt: skip
    app.register_person(
        person_id=people["partner"], occurred_on=on(31), birth_date=date(1990, 1, 2), sex="f",
        nationality=["SY"], bsn="123456782", household_id=referent, recorded_at=at(35),
    )  # fmt: skip
    app.record(people["member"], ev.ResidencePermitRecorded, occurred_on=on(30),
               permit_kind="asiel_afgeleid", recorded_at=at(36))  # fmt: skip
    app.record(referent, ev.FamilyReunificationClosed, occurred_on=on(40),
               closure="herenigd", recorded_at=at(40))  # fmt: skip
    return people | {"referent": referent}


def stored_order(app: TrajectoryLedger) -> list[tuple[UUID, int]]:
    return [
        (UUID(str(n.originator_id)), n.originator_version)
        for n in app.recorder.select_notifications(0, 1000)
    ]


def line_order(lines: list[dict[str, Any]], app: TrajectoryLedger) -> list[tuple[UUID, int]]:
    """The (stream, version) of each line, by its recorded time and kind (unique in these
    ledgers)."""
    versions = {
        (entry.event.timestamp.isoformat(), cli_name(type(entry.event))): (stream, entry.version)
        for stream in dict(stored_order(app))
        for entry in app.timeline(stream).entries
    }
    return [versions[line["recorded_at"], line["kind"]] for line in lines]


def test_a_member_s_registration_comes_before_the_first_fact_that_names_them(
    make_ledger: LedgerFactory, two_stores: tuple[str, str]
) -> None:
    source = make_ledger(two_stores[0])
    people = household_stored_out_of_order(source)
    member, partner = people["member"], people["partner"]

    lines = export_all(source)

    stored = stored_order(source)
    assert stored.index((member, 1)) > stored.index((people["referent"], 3))  # as stored
    # each registration moved to just before the fact naming its member, nothing else moved
    moved = [k for k in stored if k not in {(member, 1), (partner, 1)}]
    at_referent = moved.index((people["referent"], 3))
    moved.insert(at_referent, (member, 1))
    moved.insert(moved.index((people["referent"], 5)), (partner, 1))
    assert line_order(lines, source) == moved
    copy = make_ledger(two_stores[1])
    summary = import_lines(copy, enumerate(lines, start=1), source="events.jsonl")
    assert [reject.problems for reject in summary.rejects] == []
    assert summary.written == len(lines) == len(stored)
    for stream_id in people.values():
        assert history(copy, stream_id) == history(source, stream_id)
    assert copy.person_by_external_ref("M-1") == member
    assert digests(copy) == digests(source)


@pytest.mark.parametrize("include_personal", [True, False], ids=["personal", "pseudonymised"])
def test_a_registration_written_early_is_the_line_storage_order_would_write(
    make_ledger: LedgerFactory, tmp_path: Path, include_personal: bool
) -> None:
    source = make_ledger(f"sqlite:///{tmp_path / 'source.db'}")
    people = household_stored_out_of_order(source)
    whole = export_all(source, include_personal=include_personal)

    for name in ("member", "partner"):
        own = export_all(
            source,
            include_personal=include_personal,
            selection=ExportFilter(person_id=people[name]),
        )
        assert own[0]["kind"] == "person-registered"  # in storage order: nothing names them
        assert registrations(whole, people[name]) == [own[0]]
    # the referent's stream alone: the members' registrations are not selected, nor brought
    alone = export_all(source, selection=ExportFilter(person_id=people["referent"]))
    assert [line["kind"] for line in alone][:4] == [
        "person-registered",
        "family-reunification-applied",
        "nareiziger-arrived",
        "nareiziger-arrived",
    ]
    assert registrations(alone, people["member"]) == registrations(alone, people["partner"]) == []


def registrations(lines: list[dict[str, Any]], person: UUID) -> list[dict[str, Any]]:
    return [
        line
        for line in lines
        if line["kind"] == "person-registered" and line["person_id"] == str(person)
    ]


def test_an_export_whose_members_were_registered_first_keeps_storage_order(
    make_ledger: LedgerFactory, two_stores: tuple[str, str]
) -> None:
    source = make_ledger(two_stores[0])
    scenario(source)
    referent = source.register_person(
        occurred_on=on(0), birth_date=date(1988, 3, 1), sex="m", nationality=["SY"],
        recorded_at=at(50),
    ).stream_id  # fmt: skip
    member = source.register_person(
        occurred_on=on(0), birth_date=date(2015, 6, 1), sex="f", nationality=["SY"],
        household_id=referent, recorded_at=at(51),
    ).stream_id  # fmt: skip
    source.record(referent, ev.FamilyReunificationApplied, occurred_on=on(1), members=["kind"],
                  recorded_at=at(52))  # fmt: skip
    source.record(referent, ev.NareizigerArrived, occurred_on=on(30), relation="kind",
                  member_person_id=member, recorded_at=at(53))  # fmt: skip

    lines = export_all(source)

    assert line_order(lines, source) == stored_order(source)
