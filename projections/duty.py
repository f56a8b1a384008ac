"""The inburgering facts of each person, and their status on a date (read by P1, P6 and P7).

The ``inburgering`` read model keeps one fact row per revision of every event that tells where a
person stands with the inburgeringsplicht: the duty itself (regime, duty_start, DUO's term_end),
the first BRP registration and housing (the Wi2021 PIP clock and the Wi2013 PVT clock), brede
intake, PIP versions, leerroute, afschalen, PVT, MAP, ONA, exam results, term extensions and
fulfilment. Fines (``FineImposed``) are deliberately not read: for asielstatushouders they are
being withdrawn (domain.md §2.3 F.22), and no figure here may treat them as a risk.

:func:`statuses` folds a person's facts with ``occurred_on <= d`` (as known at a moment) into an
:class:`InburgeringStatus`; the deadlines are computed with the rule functions of
``ledger.rules``, exactly as the aggregate computes its warnings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

import orjson

from ledger import events as ev
from ledger import rules
from ledger.values import ExamOutcome, Regime
from projections.base import Projection, RunResult, Tx

WI2021 = Regime.WI2021.value
WI2013 = Regime.WI2013.value
PASSED = ExamOutcome.GESLAAGD.value


class InburgeringProjection(Projection):
    name = "inburgering"
    kinds: ClassVar[Mapping[type[ev.TrajectEvent], tuple[str, ...]]] = {
        ev.InburgeringDutyEstablished: ("duty_start", "regime", "term_end", "pvt_required"),
        ev.BrpRegistered: (),
        ev.Housed: (),
        ev.BroadIntakeStarted: (),
        ev.PipAdopted: ("version", "leerroute"),
        ev.LearningRouteStarted: ("route",),
        ev.LearningRouteChanged: ("route",),
        ev.DowngradedToA2: (),
        ev.PvtCompleted: (),
        ev.MapCompleted: (),
        ev.OnaCompleted: (),
        ev.ExamResultRecorded: ("component", "level", "result", "attempt_no"),
        ev.TermExtended: ("new_end",),
        ev.InburgeringDutyFulfilled: ("basis",),
    }
    fact_indexes = (("occurred_on",),)

    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        return ()


INBURGERING = InburgeringProjection()


@dataclass(frozen=True)
class ExamAttempt:
    """One exam result: component, level, attempt number and whether it was passed."""

    component: str
    level: str
    attempt_no: int
    passed: bool


@dataclass
class InburgeringStatus:
    """Where one person stands with the inburgeringsplicht on a date."""

    person_id: str
    regime: str | None = None
    duty_start: date | None = None
    notified_on: date | None = None
    duo_term_end: date | None = None
    pvt_required: bool | None = None
    first_brp_on: date | None = None
    first_housed_on: date | None = None
    intake_started_on: date | None = None
    pip_v1_on: date | None = None
    pip_version: int = 0
    leerroute: str | None = None
    downgraded_on: date | None = None
    pvt_on: date | None = None
    map_on: date | None = None
    ona_on: date | None = None
    knm_passed_on: date | None = None
    extended_to: date | None = None
    fulfilled_on: date | None = None
    exams: list[ExamAttempt] = field(default_factory=list)

    @property
    def has_duty(self) -> bool:
        return self.duty_start is not None

    @property
    def wi2021(self) -> bool:
        return self.regime == WI2021

    @property
    def pip_due(self) -> date | None:
        """PIP v1 due date (Wi2021 only): 10 weeks after the later of notice and BRP."""
        if not self.wi2021:
            return None
        return rules.pip_due_date(self.notified_on, self.first_brp_on)

    @property
    def term_end(self) -> date | None:
        """The inburgeringstermijn's end: the latest extension, else Wi2021 PIP v1 + 3 years,
        else the term end DUO stated."""
        if self.extended_to is not None:
            return self.extended_to
        if self.wi2021 and self.pip_v1_on is not None:
            return rules.term_end(self.pip_v1_on)
        return self.duo_term_end

    @property
    def pvt_deadline(self) -> date | None:
        """Wi2021: the term end; Wi2013 (PVT cohorts): 1 year after first housing or BRP."""
        if self.wi2021:
            return self.term_end
        if self.regime == WI2013 and self.pvt_required:
            settled = [d for d in (self.first_housed_on, self.first_brp_on) if d is not None]
            return rules.pvt_deadline_wi2013(min(settled)) if settled else None
        return None

    def apply(self, kind: str, on: date, payload: Mapping[str, Any]) -> None:
        """Fold one fact (facts arrive in ``occurred_on``, stream-version order)."""
        if kind == "InburgeringDutyEstablished":
            self.regime = payload["regime"]
            self.duty_start = date.fromisoformat(payload["duty_start"])
            self.notified_on = on
            end = payload.get("term_end")
            self.duo_term_end = date.fromisoformat(end) if end else None
            self.pvt_required = payload.get("pvt_required")
        elif kind == "BrpRegistered":
            self.first_brp_on = self.first_brp_on or on
        elif kind == "Housed":
            self.first_housed_on = self.first_housed_on or on
        elif kind == "BroadIntakeStarted":
            self.intake_started_on = self.intake_started_on or on
        elif kind == "PipAdopted":
            if int(payload["version"]) == 1:
                self.pip_v1_on = on
            self.pip_version = max(self.pip_version, int(payload["version"]))
            self.leerroute = payload["leerroute"]
        elif kind in ("LearningRouteStarted", "LearningRouteChanged"):
            self.leerroute = payload["route"]
        elif kind == "DowngradedToA2":
            self.downgraded_on = self.downgraded_on or on
        elif kind == "PvtCompleted":
            self.pvt_on = self.pvt_on or on
        elif kind == "MapCompleted":
            self.map_on = self.map_on or on
        elif kind == "OnaCompleted":
            self.ona_on = self.ona_on or on
        elif kind == "ExamResultRecorded":
            passed = payload["result"] == PASSED
            self.exams.append(
                ExamAttempt(
                    payload["component"], payload["level"], int(payload["attempt_no"]), passed
                )
            )
            if passed and payload["component"] == "knm":
                self.knm_passed_on = self.knm_passed_on or on
        elif kind == "TermExtended":
            self.extended_to = date.fromisoformat(payload["new_end"])
        elif kind == "InburgeringDutyFulfilled":
            self.fulfilled_on = self.fulfilled_on or on


def statuses(
    tx: Tx, on: date, known: str, params: list[Any], persons: Iterable[str]
) -> dict[str, InburgeringStatus]:
    """Each of ``persons``' inburgering status from their facts with ``occurred_on <= on``
    among the fact revisions selected by ``known`` (see ``known_at_clause``)."""
    table = tx.table(INBURGERING.facts_table.name)
    found = {person: InburgeringStatus(person) for person in persons}
    for marks, chunk in tx.in_chunks(sorted(found)):
        rows = tx.all(
            f"SELECT stream_id, kind, occurred_on, payload FROM {table}"
            f" WHERE {known} AND occurred_on <= ? AND stream_id IN ({marks})"
            " ORDER BY stream_id, occurred_on, version",
            [*params, on.isoformat(), *chunk],
        )
        for stream_id, kind, occurred_on, payload in rows:
            found[str(stream_id)].apply(
                str(kind), date.fromisoformat(occurred_on), orjson.loads(payload)
            )
    return found


@dataclass(frozen=True)
class Basis:
    """What a report that reads several read models rests on: the lowest position reached,
    and one digest over the read models' digests (``name:digest`` lines, in the given order)."""

    projections: tuple[str, ...]
    position: int
    digest: str | None


def combined_basis(results: Sequence[RunResult]) -> Basis:
    """The :class:`Basis` of the catch-up results of the read models a report reads."""
    digests = [r.digest for r in results]
    text = "".join(f"{r.name}:{r.digest}\n" for r in results)
    return Basis(
        projections=tuple(r.name for r in results),
        position=min(r.position for r in results),
        digest=None if None in digests else hashlib.sha256(text.encode()).hexdigest(),
    )
