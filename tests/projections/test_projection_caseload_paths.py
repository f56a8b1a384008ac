"""P1 caseload: the current caseload (from ``caseload_persons`` plus the persons with later
facts) equals the one folded from every current fact, on every date of a generated history."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from commands.importing import import_lines
from ledger.application import TrajectoryLedger
from ledger.synthetic import Settings, generate
from projections import Views
from projections.caseload import caseload, caseload_report

GENERATED = Settings(
    municipalities=3, persons=60, years=3, seed=5, start_year=2022, until=date(2024, 12, 31),
    recorded_at=True, corrections=True, person_ids=True,
)  # fmt: skip
# "as known at" a moment after every recording reads the same current facts, by a full scan
EVERYTHING = datetime(2100, 1, 1, tzinfo=UTC)


def test_current_caseload_equals_the_full_fold_on_every_date(ledger: TrajectoryLedger) -> None:
    lines = list(generate(GENERATED))
    imported = import_lines(ledger, enumerate(lines, start=1), source="generated.jsonl")
    assert imported.rejected == 0
    views = Views(ledger)
    day, compared = date(2021, 12, 1), 0
    while day <= date(2025, 1, 31):
        current = caseload(views, day)
        assert current == caseload(views, day, as_known_at=EVERYTHING), day
        compared += len(current)
        day += timedelta(days=47)
    assert compared > 0  # the history does put persons on the caseload
    # the report with its deadline signals too, on a date with persons who have later facts
    on = date(2023, 9, 30)
    report = caseload_report(views, on)
    assert report.entries == caseload_report(views, on, as_known_at=EVERYTHING).entries
    assert report.entries
    # and after the last fact, every person's latest status is the one kept
    assert caseload(views, date(2025, 6, 30)) == caseload(
        views, date(2025, 6, 30), as_known_at=EVERYTHING
    )
