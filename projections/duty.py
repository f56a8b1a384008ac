"""The inburgering facts of each person, and their status on a date (read by P1, P6 and P7).

The ``inburgering`` read model keeps one fact row per revision of every event that tells where a
person stands with the inburgeringsplicht: the duty itself (regime, duty_start, DUO's term_end),
the first BRP registration and housing (the Wi2021 PIP clock and the Wi2013 PVT clock), brede
intake, PIP versions, leerroute, afschalen, PVT, MAP, ONA, exam results, term extensions and
fulfilment; and, since version 3, the objections against the PIP, the Z-route eindgesprek, the
ontzorgen spells, the Wi2013 DUO loan reclaims and whether an asylum permit is recorded (an
asielstatushouder, as the aggregate tells one: any ``asiel_bt`` or ``asiel_afgeleid`` permit).
Fines (``FineImposed``) are deliberately not read: for asielstatushouders they are
being withdrawn (domain.md §2.3 F.22), and no figure here may treat them as a risk.

:func:`folded_statuses` folds a person's facts with ``occurred_on <= d`` (as known at a moment)
into an :class:`InburgeringStatus`; the deadlines are computed with the rule functions of
``ledger.rules``, exactly as the aggregate computes its warnings. The derived span table
``inburgering_status`` keeps that fold of the current facts for every date (see
``projections.spans``), for the dates on which a person has a duty or a PIP: :func:`statuses`
reads it when no "as known at" moment is given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from functools import lru_cache
from typing import Any, ClassVar, NamedTuple

import orjson

from ledger import events as ev
from ledger import rules
from ledger.values import ExamOutcome, PermitKind, Regime
from projections.base import (
    INT,
    TEXT,
    Column,
    FactsFailedError,
    Projection,
    RunResult,
    Tx,
    Views,
    known_at_clause,
    told_apart,
)
from projections.spans import holding, refresh_spans, span_table

WI2021 = Regime.WI2021.value
WI2013 = Regime.WI2013.value
PASSED = ExamOutcome.GESLAAGD.value
ASYLUM_PERMITS = frozenset({PermitKind.ASIEL_BT.value, PermitKind.ASIEL_AFGELEID.value})


class ExamAttempt(NamedTuple):
    """One exam result: component, level, attempt number and whether it was passed (a named
    tuple: a report makes one per result of thousands of persons)."""

    component: str
    level: str
    attempt_no: int
    passed: bool


class Objection(NamedTuple):
    """A decided objection against the PIP: the day it was decided and the outcome."""

    decided_on: date
    outcome: str


class OntzorgenSpell(NamedTuple):
    """One ontzorgen: its start and, once ended, its end."""

    started_on: date
    ended_on: date | None


class LoanReclaim(NamedTuple):
    """A Wi2013 DUO loan reclaim: its date and amount (euro, as recorded)."""

    reclaimed_on: date
    amount: str


# the deadlines of thousands of statuses in a report, from few distinct dates: each computed
# once (the rule functions are pure functions of their dates)
_pip_due_date = lru_cache(maxsize=16384)(rules.pip_due_date)
_term_end = lru_cache(maxsize=16384)(rules.term_end)
_pvt_deadline_wi2013 = lru_cache(maxsize=16384)(rules.pvt_deadline_wi2013)


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
    asylum: bool = False  # an asylum permit (asiel_bt, asiel_afgeleid) is recorded
    objection_filed_on: date | None = None  # the filing of the open objection against the PIP
    objections: list[Objection] = field(default_factory=list)  # the decided ones
    final_interview_on: date | None = None  # the latest Z-route eindgesprek
    final_interview_outcome: str | None = None
    ontzorgen: list[OntzorgenSpell] = field(default_factory=list)
    reclaims: list[LoanReclaim] = field(default_factory=list)

    @property
    def has_duty(self) -> bool:
        return self.duty_start is not None

    @property
    def read(self) -> bool:
        """Whether a report reads this status: with a duty or a PIP. Without either, only
        the first BRP and housing dates may be known, which matter only to a duty's
        deadlines: such a status counts as the empty one."""
        return self.has_duty or self.pip_version > 0

    @property
    def wi2021(self) -> bool:
        return self.regime == WI2021

    @property
    def pip_due(self) -> date | None:
        """PIP v1 due date (Wi2021 only): 10 weeks after the later of notice and BRP."""
        if not self.wi2021:
            return None
        return _pip_due_date(self.notified_on, self.first_brp_on)

    @property
    def term_end(self) -> date | None:
        """The inburgeringstermijn's end: the latest extension, else Wi2021 PIP v1 + 3 years,
        else the term end DUO stated."""
        if self.extended_to is not None:
            return self.extended_to
        if self.wi2021 and self.pip_v1_on is not None:
            return _term_end(self.pip_v1_on)
        return self.duo_term_end

    @property
    def ontzorgen_open_on(self) -> date | None:
        """The start of the ontzorgen open on the status's date, if one is."""
        if self.ontzorgen and self.ontzorgen[-1].ended_on is None:
            return self.ontzorgen[-1].started_on
        return None

    @property
    def pvt_deadline(self) -> date | None:
        """Wi2021: the term end; Wi2013 (PVT cohorts): 1 year after first housing or BRP."""
        if self.wi2021:
            return self.term_end
        if self.regime == WI2013 and self.pvt_required:
            settled = [d for d in (self.first_housed_on, self.first_brp_on) if d is not None]
            return _pvt_deadline_wi2013(min(settled)) if settled else None
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
        else:
            self._apply_later(kind, on, payload)

    def _apply_later(self, kind: str, on: date, payload: Mapping[str, Any]) -> None:
        """The facts read since version 3 of the read model."""
        if kind == "ResidencePermitRecorded":
            self.asylum = self.asylum or payload["permit_kind"] in ASYLUM_PERMITS
        elif kind == "PipObjectionFiled":
            self.objection_filed_on = on
        elif kind == "PipObjectionDecided":
            self.objection_filed_on = None
            self.objections.append(Objection(on, payload["outcome"]))
        elif kind == "ZRouteFinalInterviewHeld":
            self.final_interview_on = on
            self.final_interview_outcome = payload["outcome"]
        elif kind == "OntzorgenStarted":
            self.ontzorgen.append(OntzorgenSpell(on, None))
        elif kind == "OntzorgenEnded":
            if self.ontzorgen and self.ontzorgen[-1].ended_on is None:
                self.ontzorgen[-1] = OntzorgenSpell(self.ontzorgen[-1].started_on, on)
        elif kind == "DuoLoanReclaimed":
            self.reclaims.append(LoanReclaim(on, str(payload["amount"])))


RECORDED_INDEX = ("occurred_on", "known_to", "kind", "known_from")
"""The index on the fact dates of the ``caseload`` and ``inburgering`` read models: it also
holds what the late recordings of a window of dates read (with the key, on SQLite), so that
they read only the index."""

_DATE_FIELDS = tuple(f.name for f in fields(InburgeringStatus) if f.type == "date | None")
STATUS_FIELDS = tuple(f.name for f in fields(InburgeringStatus) if f.name != "person_id")
"""The columns of ``inburgering_status`` after the span columns: the status's fields, dates as
ISO text, ``pvt_required`` and ``asylum`` as 0/1, ``exams`` as a JSON list of [component,
level, attempt_no, passed], ``objections``, ``ontzorgen`` and ``reclaims`` as JSON lists of
their tuples (dates as ISO text)."""
_LISTS = ("objections", "ontzorgen", "reclaims")
STATUS_COLUMNS = tuple(
    Column(
        name,
        INT if name in {"pip_version", "pvt_required", "asylum"} else TEXT,
        nullable=name not in {"pip_version", "exams", "asylum", *_LISTS},
    )
    for name in STATUS_FIELDS
)


def _fold(state: dict[str, Any], row: Sequence[Any]) -> None:
    """One fact (stream_id, occurred_on, kind, payload) into a person's state."""
    status = state.get("status")
    if status is None:
        status = state["status"] = InburgeringStatus(str(row[0]))
    status.apply(str(row[2]), date.fromisoformat(row[1]), orjson.loads(row[3]))


_DATE_AT = tuple(STATUS_FIELDS.index(name) for name in _DATE_FIELDS)
_PVT_AT = STATUS_FIELDS.index("pvt_required")
_EXAMS_AT = STATUS_FIELDS.index("exams")
_ASYLUM_AT = STATUS_FIELDS.index("asylum")
_LISTS_AT = tuple(STATUS_FIELDS.index(name) for name in _LISTS)
_iso = lru_cache(maxsize=8192)(date.isoformat)  # few distinct dates: format each once


def _view(state: dict[str, Any]) -> tuple[Any, ...] | None:
    """The columns of a person's status; None while a report does not read it (see
    :attr:`InburgeringStatus.read`)."""
    status: InburgeringStatus | None = state.get("status")
    if status is None or not status.read:
        return None
    found = vars(status)
    values = [found[name] for name in STATUS_FIELDS]
    for at in _DATE_AT:
        if values[at] is not None:
            values[at] = _iso(values[at])
    if values[_PVT_AT] is not None:
        values[_PVT_AT] = int(values[_PVT_AT])
    values[_EXAMS_AT] = orjson.dumps(
        [[e.component, e.level, e.attempt_no, e.passed] for e in status.exams]
    ).decode()
    values[_ASYLUM_AT] = int(values[_ASYLUM_AT])
    for at in _LISTS_AT:  # tuples of a date and a text (or a date); orjson writes ISO dates
        items = values[at]
        values[at] = "[]" if not items else orjson.dumps([list(item) for item in items]).decode()
    return tuple(values)


_day = lru_cache(maxsize=8192)(date.fromisoformat)  # few distinct dates: parse each once


def _from_columns(person_id: str, values: Sequence[Any]) -> InburgeringStatus:
    """The status a row of ``inburgering_status`` holds (the inverse of :func:`_view`)."""
    # positionally, in the order of STATUS_FIELDS (the dataclass's): a report reads thousands
    found = list(values)
    for at in _DATE_AT:
        if found[at] is not None:
            found[at] = _day(found[at])
    if found[_PVT_AT] is not None:
        found[_PVT_AT] = bool(found[_PVT_AT])
    exams = found[_EXAMS_AT]
    found[_EXAMS_AT] = (
        []
        if exams == "[]"
        else [ExamAttempt(c, level, int(n), bool(ok)) for c, level, n, ok in orjson.loads(exams)]
    )
    found[_ASYLUM_AT] = bool(found[_ASYLUM_AT])
    for at, make in zip(_LISTS_AT, (_objection, _spell, _reclaim), strict=True):
        found[at] = [] if found[at] == "[]" else [make(item) for item in orjson.loads(found[at])]
    return InburgeringStatus(person_id, *found)


def _objection(item: list[Any]) -> Objection:
    return Objection(_day(item[0]), str(item[1]))


def _spell(item: list[Any]) -> OntzorgenSpell:
    return OntzorgenSpell(_day(item[0]), None if item[1] is None else _day(item[1]))


def _reclaim(item: list[Any]) -> LoanReclaim:
    return LoanReclaim(_day(item[0]), str(item[1]))


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
        ev.ResidencePermitRecorded: ("permit_kind",),
        ev.PipObjectionFiled: (),
        ev.PipObjectionDecided: ("outcome",),
        ev.ZRouteFinalInterviewHeld: ("outcome",),
        ev.OntzorgenStarted: (),
        ev.OntzorgenEnded: (),
        ev.DuoLoanReclaimed: ("amount",),
    }
    # 2: inburgering_status, each person's status over runs of dates; 3: objections, the
    # eindgesprek, ontzorgen, loan reclaims and the asylum permit
    version = 3
    fact_indexes = (RECORDED_INDEX,)
    derived_tables = (span_table("inburgering_status", *STATUS_COLUMNS),)
    # each fact is decoded and folded into a status of some thirty fields, which is written
    # out for every date: the spans cost about as much again as the fact rows (1M events)
    derived_cost = 0.9

    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        return ()

    def refresh(self, tx: Tx, stream_ids: set[str]) -> None:
        """Only a person with a current duty or PIP fact has spans (see :func:`_view`): the
        others' spans are deleted and their facts not folded."""
        (table,) = self.derived_tables
        facts = tx.table(self.facts_table.name)
        read: set[str] = set()
        for marks, chunk in tx.in_chunks(sorted(stream_ids)):
            tx.execute(f"DELETE FROM {tx.table(table.name)} WHERE person_id IN ({marks})", chunk)
            read.update(
                str(stream_id)
                for (stream_id,) in tx.all(
                    f"SELECT DISTINCT stream_id FROM {facts} WHERE known_to IS NULL"
                    " AND kind IN ('InburgeringDutyEstablished', 'PipAdopted')"
                    f" AND stream_id IN ({marks})",
                    chunk,
                )
            )
        refresh_spans(tx, self, read, "kind, payload", fold=_fold, view=_view)


INBURGERING = InburgeringProjection()


def statuses(
    tx: Tx, on: date, as_known_at: datetime | None, persons: Iterable[str]
) -> dict[str, InburgeringStatus]:
    """Each of ``persons``' inburgering status on ``on``: from ``inburgering_status`` (the
    current facts), or as known at a moment by folding the fact revisions known then. Only
    the statuses a report reads (:attr:`InburgeringStatus.read`): a person left out has the
    empty status."""
    if as_known_at is not None:
        known, params = known_at_clause(as_known_at)
        return folded_statuses(tx, on, known, params, persons)
    wanted = set(persons)
    found: dict[str, InburgeringStatus] = {}
    (table,) = INBURGERING.derived_tables
    day = on.isoformat()
    for row in tx.rows(
        f"SELECT person_id, {', '.join(STATUS_FIELDS)} FROM {tx.table(table.name)}"
        f" WHERE {holding()}",
        [day, day],
    ):
        person = str(row[0])
        if person in wanted:
            found[person] = _from_columns(person, row[1:])
    return found


def shared_statuses(
    views: Views, tx: Tx, on: date, as_known_at: datetime | None, persons: Iterable[str]
) -> dict[str, InburgeringStatus]:
    """:func:`statuses`, computed once within a :meth:`Views.snapshot` for the reports that
    ask for the same persons on the same date (the dashboard's P1, P6 and P7 all read the
    caseload of the quarter's last day). The result is shared: read it, never change it."""
    people = tuple(persons)
    with told_apart(views):
        return views.shared(
            ("inburgering statuses", on, as_known_at, frozenset(people)),
            lambda: statuses(tx, on, as_known_at, people),
        )


def folded_statuses(
    tx: Tx, on: date, known: str, params: list[Any], persons: Iterable[str]
) -> dict[str, InburgeringStatus]:
    """Each of ``persons``' inburgering status from their facts with ``occurred_on <= on``
    among the fact revisions selected by ``known`` (see ``known_at_clause``); only the
    statuses a report reads, as :func:`statuses`."""
    table = tx.table(INBURGERING.facts_table.name)
    found: dict[str, InburgeringStatus] = {}
    for marks, chunk in tx.in_chunks(sorted(set(persons))):
        rows = tx.all(
            f"SELECT stream_id, kind, occurred_on, payload FROM {table}"
            f" WHERE {known} AND occurred_on <= ? AND stream_id IN ({marks})"
            " ORDER BY stream_id, occurred_on, version",
            [*params, on.isoformat(), *chunk],
        )
        for stream_id, kind, occurred_on, payload in rows:
            person = str(stream_id)
            status = found.get(person)
            if status is None:
                status = found[person] = InburgeringStatus(person)
            try:
                status.apply(str(kind), date.fromisoformat(occurred_on), orjson.loads(payload))
            except (ValueError, TypeError, KeyError) as error:  # values kept as stored
                raise FactsFailedError([person]) from error
    return {person: status for person, status in found.items() if status.read}


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
