"""Invented event logs for projection tests: fixed ids and timestamps, so every store gets the same.

Events are built as the catalog's pydantic models (so their stored form is real), with explicit
``timestamp`` values, and appended straight to the recorder. That skips the aggregates' rules on
purpose: projections must cope with any stored sequence, and two stores given the same list get
byte-identical event state (apart from encrypted personal fields, which projections never read).
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url

GEMEENTEN = ("GM0622", "GM0599", "GM0344")
STAFF = ("r.jansen", "s.bakker", "m.visser")
ROLES = ("regisseur", "coach", "klantmanager")
OUTFLOW_TYPES = ("werk_volledig", "werk_gedeeltelijk", "onbetaald_vrijwilligerswerk", "onderwijs")
ROUTES = ("B1", "onderwijs", "Z")
FIRST_RECORDED = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
CLOSING: tuple[tuple[type[ev.TrajectEvent], dict[str, Any]], ...] = (
    (ev.CaseClosed, {"reason": "other"}),
    (ev.CaseReopened, {}),
    (ev.MovedOut, {"destination": "abroad"}),
)


def person_uuid(rng: random.Random) -> UUID:
    return UUID(int=rng.getrandbits(128), version=4)


class LogBuilder:
    """Builds one interleaved log of many person streams, in recording order."""

    def __init__(self, seed: int = 0, *, start: datetime = FIRST_RECORDED) -> None:
        self.rng = random.Random(seed)
        self.clock = start
        self.events: list[ev.TrajectEvent] = []
        self.versions: dict[UUID, int] = {}
        self.facts: dict[UUID, dict[int, ev.TrajectEvent]] = {}  # correctable events
        self.retracted: dict[UUID, set[int]] = {}

    def tick(self) -> datetime:
        self.clock += timedelta(
            seconds=self.rng.randint(1, 600), microseconds=self.rng.randint(0, 999999)
        )
        return self.clock

    def add(self, stream_id: UUID, cls: type[ev.TrajectEvent], **fields: Any) -> ev.TrajectEvent:
        version = self.versions.get(stream_id, 0) + 1
        fields.setdefault("recorded_by", "t.tester")
        fields.setdefault("municipality", GEMEENTEN[0])
        event = cls.model_validate(
            {
                **fields,
                "originator_id": stream_id,
                "originator_version": version,
                "timestamp": fields.pop("timestamp", None) or self.tick(),
            }
        )
        self.versions[stream_id] = version
        self.events.append(event)
        if cls not in ev.CONTROL_EVENTS:
            self.facts.setdefault(stream_id, {})[version] = event
        return event

    def register(self, on: date, municipality: str = GEMEENTEN[0]) -> UUID:
        stream_id = person_uuid(self.rng)
        self.add(
            stream_id,
            ev.PersonRegistered,
            occurred_on=on,
            birth_date=date(1990, 1, 1),
            sex="f",
            nationality=["SY"],
            municipality=municipality,
        )
        return stream_id

    def correct(self, stream_id: UUID, target: int, **changes: Any) -> ev.TrajectEvent:
        return self.add(
            stream_id,
            ev.EventCorrected,
            occurred_on=self.clock.date(),
            target_version=target,
            changes=changes,
        )

    def retract(self, stream_id: UUID, target: int) -> ev.TrajectEvent:
        self.retracted.setdefault(stream_id, set()).add(target)
        return self.add(
            stream_id, ev.EventRetracted, occurred_on=self.clock.date(), target_version=target
        )

    # --- random life courses ----------------------------------------------------------------

    def random_day(self) -> date:
        return date(2023, 7, 1) + timedelta(days=self.rng.randrange(540))

    def random_step(self, stream_id: UUID) -> None:
        """One random fact, correction or retraction on a person's stream."""
        rng = self.rng
        on = self.random_day()
        municipality = rng.choice(GEMEENTEN)
        roll = rng.random()
        if roll < 0.12:
            self.add(
                stream_id,
                ev.CoachAssigned,
                occurred_on=on,
                municipality=municipality,
                staff_id=rng.choice(STAFF),
                role=rng.choice(ROLES),
            )
        elif roll < 0.18:
            self.add(
                stream_id,
                ev.CoachUnassigned,
                occurred_on=on,
                municipality=municipality,
                staff_id=rng.choice(STAFF),
                role=rng.choice(ROLES),
            )
        elif roll < 0.32:
            self.add(
                stream_id,
                ev.LadderAssessed,
                occurred_on=on,
                municipality=municipality,
                rung=rng.randint(1, 6),
                assessor="t.tester",
            )
        elif roll < 0.37:
            self.add(
                stream_id,
                ev.LearningRouteStarted,
                occurred_on=on,
                municipality=municipality,
                route=rng.choice(ROUTES),
                provider="Taalhuis",
            )
        elif roll < 0.50:
            self.add(
                stream_id,
                ev.OutflowStarted,
                occurred_on=on,
                municipality=municipality,
                outflow_type=rng.choice(OUTFLOW_TYPES),
            )
        elif roll < 0.56:
            self.add(
                stream_id,
                ev.OutflowEnded,
                occurred_on=on,
                municipality=municipality,
                outflow_type=rng.choice(OUTFLOW_TYPES),
                reason="contract ended",
            )
        elif roll < 0.60:
            cls, extra = rng.choice(CLOSING)
            self.add(stream_id, cls, occurred_on=on, municipality=municipality, **extra)
        elif roll < 0.63:
            self.add(stream_id, ev.BrpRegistered, occurred_on=on, municipality=municipality)
        elif roll < 0.75:
            self.add(
                stream_id,
                ev.HelpRequestRecorded,
                occurred_on=on,
                municipality=municipality,
                category="wonen",
            )
        elif roll < 0.90:
            self.random_correction(stream_id)
        else:
            self.random_retraction(stream_id)

    def open_targets(self, stream_id: UUID) -> list[int]:
        gone = self.retracted.get(stream_id, set())
        return [v for v in self.facts.get(stream_id, {}) if v not in gone]

    def random_correction(self, stream_id: UUID) -> None:
        targets = self.open_targets(stream_id)
        if not targets:
            return
        version = self.rng.choice(targets)
        target = self.facts[stream_id][version]
        changes: dict[str, Any] = {"occurred_on": self.random_day().isoformat()}
        if isinstance(target, ev.LadderAssessed):
            changes = {"rung": self.rng.randint(1, 6)}
        elif isinstance(target, ev.OutflowStarted | ev.OutflowEnded):
            changes["outflow_type"] = self.rng.choice(OUTFLOW_TYPES)
        elif isinstance(target, ev.CoachAssigned | ev.CoachUnassigned):
            changes = {"staff_id": self.rng.choice(STAFF)}
        elif self.rng.random() < 0.5:
            changes["municipality"] = self.rng.choice(GEMEENTEN)
        self.correct(stream_id, version, **changes)

    def random_retraction(self, stream_id: UUID) -> None:
        targets = [v for v in self.open_targets(stream_id) if v != 1]
        if targets:
            self.retract(stream_id, self.rng.choice(targets))


def random_log(seed: int, persons: int, steps: int) -> list[ev.TrajectEvent]:
    """``persons`` registrations and about ``steps`` random facts over them, interleaved."""
    builder = LogBuilder(seed)
    people = [builder.register(builder.random_day()) for _ in range(persons)]
    for _ in range(steps):
        builder.random_step(builder.rng.choice(people))
    return builder.events


def append(app: TrajectoryLedger, events: Sequence[ev.TrajectEvent], batch: int = 1000) -> None:
    """Append events to the store in order, ``batch`` per transaction."""
    for chunk in chunks(events, batch):
        app.recorder.insert_events([app.mapper.to_stored_event(e) for e in chunk])


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@contextmanager
def opened(url: str, key: bytes) -> Iterator[TrajectoryLedger]:
    """A fresh ledger on ``url``, initialised, closed afterwards."""
    app = TrajectoryLedger(parse_database_url(url).library_env, key)
    try:
        app.initialise(default_municipality="GM0622")
        yield app
    finally:
        app.close()


@contextmanager
def sqlite_url() -> Iterator[str]:
    """The URL of a SQLite file in a temporary folder (gone afterwards)."""
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{Path(folder) / 'traject.db'}"
