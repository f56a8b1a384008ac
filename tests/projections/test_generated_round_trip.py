"""Generated data → import → export → import elsewhere: the same read models, digest for digest."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from commands.importing import import_lines
from ledger.application import TrajectoryLedger
from ledger.export import Exporter, ExportFilter
from ledger.synthetic import Settings, generate
from projections import PROJECTIONS, Views, catch_up, digest

LedgerFactory = Callable[[str], TrajectoryLedger]
GENERATED = Settings(
    municipalities=3, persons=40, years=3, seed=21, start_year=2022, until=date(2025, 6, 30),
    recorded_at=True, corrections=True, person_ids=True,
)  # fmt: skip


def digests(app: TrajectoryLedger) -> dict[str, str]:
    views = Views(app)
    result = {}
    for name, projection in PROJECTIONS.items():
        catch_up(views, projection)
        result[name] = digest(views, projection)
    return result


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def three_stores(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, str]:
    if request.param == "sqlite":
        return tuple(f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db", "c.db"))  # type: ignore[return-value]
    fresh: Callable[[], str] = request.getfixturevalue("projection_pg")
    return fresh(), fresh(), fresh()


def test_generated_data_survives_export_and_import_elsewhere(
    make_ledger: LedgerFactory, three_stores: tuple[str, str, str]
) -> None:
    two_stores, third_store = three_stores[:2], three_stores[2]
    lines = list(generate(GENERATED))
    source = make_ledger(two_stores[0])
    imported = import_lines(source, enumerate(lines, start=1), source="generated.jsonl")
    assert (imported.written, imported.rejected) == (len(lines), 0)

    exported = list(Exporter(source, include_personal=True, selection=ExportFilter()).lines())
    copy = make_ledger(two_stores[1])
    again = import_lines(copy, enumerate(exported, start=1), source="export.jsonl")

    assert (again.written, again.rejected) == (len(lines), 0)
    assert digests(copy) == digests(source)
    # the same seed imported into a third ledger gives the same read models too
    twin = make_ledger(third_store)
    import_lines(twin, enumerate(generate(GENERATED), start=1), source="generated.jsonl")
    assert digests(twin) == digests(source)
