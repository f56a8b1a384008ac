"""Export → import into an empty ledger gives the same streams and the same projection digests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from commands.importing import import_lines
from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.export import Exporter, ExportFilter
from projections import PROJECTIONS, Views, catch_up, digest

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
        event = entry.event.model_dump(mode="json", exclude={"idempotency_key", "recorded_by"})
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
    assert len(lines) == 1 + 8 + 6 + 4  # every stored event, once: taakstelling, the three
    for stream_id in people.values():
        assert history(copy, stream_id) == history(source, stream_id)
    assert copy.person(people["amal"]).registration.bsn == "123456782"
    assert copy.person(people["chen"]).registration.bsn is None  # erased stays erased
    assert copy.person_by_external_ref("A-1") == people["amal"]
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
    for secret in ("123456782", "Amal Haddad", "A-1", "typo", "second look"):
        assert secret not in text
    registration = next(line for line in lines if line.get("person_id") == str(people["amal"]))
    assert set(registration["_pseudonyms"]) == {"bsn", "name"}
    copy = make_ledger(two_stores[1])
    summary = import_lines(copy, enumerate(lines, start=1), source="events.jsonl")
    assert summary.rejected == 0
    assert digests(copy) == digests(source)


def test_filters_select_whole_streams_or_a_period(
    make_ledger: LedgerFactory, tmp_path: Path
) -> None:
    source = make_ledger(f"sqlite:///{tmp_path / 'source.db'}")
    people = scenario(source)

    amal = export_all(source, selection=ExportFilter(person_id=people["amal"]))
    period = export_all(source, selection=ExportFilter(occurred_from=on(20), occurred_to=on(31)))

    everything = export_all(source, selection=ExportFilter(municipality="GM0622"))
    elsewhere = export_all(source, selection=ExportFilter(municipality="GM0599"))

    assert len(everything) == 1 + 8 + 6 + 4 and elsewhere == []
    assert {line.get("person") for line in amal} == {"A-1"}
    assert len(amal) == 8
    assert sorted(line["occurred_on"] for line in period) == [
        on(20).isoformat(),
        on(30).isoformat(),
    ]
