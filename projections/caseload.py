"""P1 caseload: who is on whose caseload on a date, with municipality, ladder rung and leerroute.

Every fact the caseload needs sets one *slot* of a person to a value on its ``occurred_on``:

============================================  ==========================  ======================
event                                         slot                        value
============================================  ==========================  ======================
PersonRegistered, CoaLinked, Housed,          ``municipality``            the event's
BrpRegistered                                                             municipality
CoachAssigned / CoachUnassigned               ``coach:<role>:<staff_id>``  assigned / unassigned
LadderAssessed                                ``rung``                    the rung, 1–6
PipAdopted, LearningRouteStarted/Changed      ``leerroute``               the learning route
CaseClosed / MovedOut / CaseReopened          ``case``                    closed / moved_out /
                                                                          open
Deceased                                      ``deceased``                deceased
============================================  ==========================  ======================

A person's status on a date ``d`` is the latest value of each slot among the facts with
``occurred_on <= d`` (ties broken by stream version). A person is on the caseload on ``d`` when
registered by then, not deceased, and the latest ``case`` value is not closed or moved_out; a
move is over once a later fact sets ``municipality`` (``projections.moves``: the person is a
client of that municipality then, as after a reopening); a
staff member has the person when the latest ``coach:<role>:<staff>`` value is ``assigned``
(several staff members per role are allowed, as the ledger allows them).

``caseload_persons`` keeps each person's status over all current facts (the latest status), for
analysts; ``caseload_history`` keeps the spans of dates on which each person is on the caseload,
with their status then (a span starts on a fact's date and ends on the person's next fact's
date). :func:`caseload` answers for any date, and "as known at" any recorded moment. Without
"as known at", it reads the spans that hold the date (or, when no fact is dated after it, the
active rows of ``caseload_persons``); as known at a moment, it folds the fact revisions known
then.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from itertools import groupby
from operator import itemgetter
from typing import Any, ClassVar

import orjson

from ledger import events as ev
from ledger.aggregates import dutch_day
from ledger.rules import (
    RuleSet,
    is_late_recording,
    objection_decision_due,
    objection_decision_latest,
    ontzorgen_planned_end,
    rules_on,
    shortest_late_recording_days,
)
from ledger.values import StaffRole, add_months
from projections.base import (
    CAST_ERRORS,
    INT,
    TEXT,
    Column,
    Projection,
    Table,
    Tx,
    Views,
    catch_up,
    checked_on_failure,
    collector_paused,
    known_at_clause,
    timestamp_text,
    undated_streams,
)
from projections.duty import (
    INBURGERING,
    RECORDED_INDEX,
    InburgeringStatus,
    combined_basis,
    shared_statuses,
)
from projections.moves import move_ended

REGISSEUR = StaffRole.REGISSEUR.value
MOVED = "moved_out"
OPEN = "open"
ASSIGNED = "assigned"
UNASSIGNED = "unassigned"
CLOSING = frozenset({"closed", MOVED})


@dataclass(frozen=True)
class CaseloadRow:
    """One person's status on a date."""

    person_id: str
    municipality: str
    active: bool
    regisseurs: tuple[str, ...]
    coaches: tuple[str, ...]  # other roles, as "role:staff_id"
    rung: int | None
    leerroute: str | None
    status_on: str  # occurred_on of the latest fact that made this status
    rung_on: str | None = None  # occurred_on of the latest ladder assessment

    @property
    def staff(self) -> list[str]:
        """The user names of the staff who have the person, in any role."""
        return [*self.regisseurs, *(c.split(":", 1)[1] for c in self.coaches)]

    def has_staff(self, staff_id: str) -> bool:
        """Whether ``staff_id`` has the person, in any role; a user name in other capitals
        (R.Jansen for r.jansen) is the same member of staff, as a login name is."""
        wanted = staff_id.strip().casefold()
        return any(name.casefold() == wanted for name in self.staff)


class CaseloadProjection(Projection):
    name = "caseload"
    version = 4  # a fact placing a person after a move ends it (see projections/definitions.py)
    kinds: ClassVar[Mapping[type[ev.TrajectEvent], tuple[str, ...]]] = {
        ev.PersonRegistered: (),
        ev.CoaLinked: (),
        ev.Housed: (),
        ev.BrpRegistered: (),
        ev.CoachAssigned: ("role", "staff_id"),
        ev.CoachUnassigned: ("role", "staff_id"),
        ev.LadderAssessed: ("rung",),
        ev.PipAdopted: ("leerroute",),
        ev.LearningRouteStarted: ("route",),
        ev.LearningRouteChanged: ("route",),
        ev.CaseClosed: (),
        ev.MovedOut: (),
        ev.CaseReopened: (),
        ev.Deceased: (),
    }
    fact_columns = (Column("slot", TEXT, nullable=False), Column("value", TEXT))
    fact_indexes = (RECORDED_INDEX, ("slot",))
    derived_tables = (
        Table(
            "caseload_persons",
            (
                Column("person_id", TEXT, nullable=False),
                Column("municipality", TEXT, nullable=False),
                Column("active", INT, nullable=False),
                Column("regisseurs", TEXT, nullable=False),
                Column("coaches", TEXT, nullable=False),
                Column("rung", INT),
                Column("leerroute", TEXT),
                Column("status_on", TEXT, nullable=False),
                Column("rung_on", TEXT),
                Column("staff", TEXT, nullable=False),
            ),
            ("person_id",),
            (("municipality",), ("status_on",)),
        ),
        Table(
            "caseload_history",
            (
                Column("person_id", TEXT, nullable=False),
                Column("valid_from", TEXT, nullable=False),
                Column("valid_to", TEXT),
                Column("municipality", TEXT, nullable=False),
                Column("rung", INT),
                Column("leerroute", TEXT),
                Column("rung_on", TEXT),
                Column("staff", TEXT, nullable=False),
            ),
            ("person_id", "valid_from"),
        ),
    )

    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        if kind in ("PersonRegistered", "CoaLinked", "Housed", "BrpRegistered"):
            return ("municipality", None)  # the value is the fact's municipality column
        if kind in ("CoachAssigned", "CoachUnassigned"):
            # lower case as the ledger reads it (ledger.values.StaffName): an assignment stored
            # in capitals by an earlier release is closed by its hand-over in any capitals
            slot = f"coach:{payload['role']}:{str(payload['staff_id']).lower()}"
            return (slot, ASSIGNED if kind == "CoachAssigned" else UNASSIGNED)
        if kind == "LadderAssessed":
            return ("rung", str(payload["rung"]))
        if kind == "PipAdopted":
            return ("leerroute", payload["leerroute"])
        if kind in ("LearningRouteStarted", "LearningRouteChanged"):
            return ("leerroute", payload["route"])
        if kind == "CaseClosed":
            return ("case", "closed")
        if kind == "MovedOut":
            return ("case", MOVED)
        if kind == "CaseReopened":
            return ("case", OPEN)
        if kind == "Deceased":
            return ("deceased", "deceased")
        msg = f"caseload does not read {kind}"
        raise ValueError(msg)

    def refresh(self, tx: Tx, stream_ids: set[str]) -> None:
        persons, history = self.derived_tables
        facts = tx.table(self.facts_table.name)
        latest, spans = [], []
        for marks, chunk in tx.in_chunks(sorted(stream_ids)):
            for table in (persons, history):
                tx.execute(
                    f"DELETE FROM {tx.table(table.name)} WHERE person_id IN ({marks})", chunk
                )
            rows = tx.all(
                "SELECT stream_id, slot, value, municipality, occurred_on"
                f" FROM {facts} WHERE known_to IS NULL AND stream_id IN ({marks})"
                " ORDER BY stream_id, occurred_on, version",
                chunk,
            )
            for row, until in histories(rows):
                regisseurs, coaches = ",".join(row.regisseurs), ",".join(row.coaches)
                staff = orjson.dumps([row.regisseurs, row.coaches]).decode()
                if until is None:
                    latest.append(
                        (row.person_id, row.municipality, int(row.active), regisseurs, coaches,
                         row.rung, row.leerroute, row.status_on, row.rung_on, staff)
                    )  # fmt: skip
                if row.active:
                    spans.append(
                        (row.person_id, row.status_on, until, row.municipality, row.rung,
                         row.leerroute, row.rung_on, staff)
                    )  # fmt: skip
        tx.insert(persons, latest)
        tx.insert(history, spans)


CASELOAD = CaseloadProjection()


SlotRow = tuple[str, str, str | None, str, str]
"""stream_id, slot, value, municipality, occurred_on: the latest fact of one slot."""


def latest_slots(
    tx: Tx,
    projection: CaseloadProjection,
    condition: str,
    params: list[Any],
) -> list[SlotRow]:
    """The latest current fact per person and slot among the facts meeting ``condition``.

    One streamed scan of the facts, keeping the latest (``occurred_on``, stream version) per
    person and slot: a window function over the whole fact table sorts far more slowly.
    """
    facts = tx.table(projection.facts_table.name)
    latest: dict[tuple[str, str], tuple[str, int, str | None, str]] = {}
    for stream_id, slot, value, municipality, occurred_on, version in tx.rows(
        "SELECT stream_id, slot, value, municipality, occurred_on, version"
        f" FROM {facts} WHERE {condition}",
        params,
    ):
        key = (stream_id, slot)
        seen = latest.get(key)
        if seen is None or (occurred_on, version) > seen[:2]:
            latest[key] = (occurred_on, version, value, municipality)
    ended: dict[str, tuple[str, int]] = {}  # a move followed by a fact placing the person
    for (stream_id, _), (occurred_on, version, value, _) in latest.items():
        if value == MOVED:
            placed = latest.get((stream_id, "municipality"))
            if placed is not None and move_ended((occurred_on, version), placed[:2]):
                ended[stream_id] = (occurred_on, version)
    if ended:  # the move is over, and with it the staff the person had before it
        for key, (occurred_on, version, value, municipality) in list(latest.items()):
            move = ended.get(key[0])
            if move is None:
                continue
            if value == MOVED:
                latest[key] = (occurred_on, version, OPEN, municipality)
            elif value == ASSIGNED and (occurred_on, version) < move:
                latest[key] = (occurred_on, version, UNASSIGNED, municipality)
    return [
        (str(stream_id), str(slot), value, str(municipality), str(occurred_on))
        for (stream_id, slot), (occurred_on, _, value, municipality) in latest.items()
    ]


Slots = dict[str, tuple[str | None, str, str]]
"""One person's slots: slot → (value, municipality, occurred_on) of its latest fact."""


def _status(person_id: str, person: Slots) -> CaseloadRow | None:
    """The status of a person from the latest fact of each slot; None when not yet registered
    (no municipality)."""
    if "municipality" not in person:
        return None
    assigned = {slot for slot, (value, _, _) in person.items() if value == ASSIGNED}
    status_on = max(occurred_on for _, _, occurred_on in person.values())
    return _snapshot(person_id, person, assigned, status_on)


def _snapshot(person_id: str, person: Slots, assigned: set[str], status_on: str) -> CaseloadRow:
    """The status of a registered person: ``assigned`` are the ``coach:`` slots whose latest
    value is ``assigned``, ``status_on`` the latest date among the slots."""
    regisseurs: list[str] = []
    coaches: list[str] = []
    for slot in assigned:
        _, role, staff_id = slot.split(":", 2)
        if role == REGISSEUR:
            regisseurs.append(staff_id)
        else:
            coaches.append(f"{role}:{staff_id}")
    case = person.get("case")
    rung = person.get("rung")
    leerroute = person.get("leerroute")
    return CaseloadRow(
        person_id=person_id,
        municipality=person["municipality"][1],
        active="deceased" not in person and (case is None or case[0] not in CLOSING),
        regisseurs=tuple(sorted(regisseurs)),
        coaches=tuple(sorted(coaches)),
        rung=int(rung[0]) if rung and rung[0] is not None else None,
        leerroute=leerroute[0] if leerroute else None,
        status_on=status_on,
        rung_on=rung[2] if rung else None,
    )


def fold(latest: Iterable[SlotRow]) -> list[CaseloadRow]:
    """Each person's status from the latest fact of each slot; persons not yet registered
    (no municipality) are left out. Sorted by person id."""
    slots: dict[str, Slots] = {}
    for stream_id, slot, value, municipality, occurred_on in latest:
        slots.setdefault(stream_id, {})[slot] = (value, municipality, occurred_on)
    return [
        row
        for person_id in sorted(slots)
        if (row := _status(person_id, slots[person_id])) is not None
    ]


def histories(
    facts: Iterable[tuple[str, str, str | None, str, str]],
) -> Iterator[tuple[CaseloadRow, str | None]]:
    """Each person's status after every date of their facts, with the next date (None after
    the last): ``facts`` are (stream_id, slot, value, municipality, occurred_on) sorted by
    stream, ``occurred_on`` and version, so each slot's last fact so far is its latest."""
    for person_id, rows in groupby(facts, key=itemgetter(0)):
        person: Slots = {}
        assigned: set[str] = set()  # the coach slots whose latest value is "assigned"
        places: dict[str, int] = {}  # slot → the place of its latest fact in the stream
        day = ""
        for place, (_, slot, value, municipality, occurred_on) in enumerate(rows):
            if occurred_on != day and "municipality" in person:
                yield _snapshot(person_id, person, assigned, day), occurred_on
            person[slot] = (value, municipality, occurred_on)
            places[slot] = place
            if value == ASSIGNED:
                assigned.add(slot)
            elif value == UNASSIGNED:
                assigned.discard(slot)
            case = person.get("case")
            if slot == "municipality" and case is not None and case[0] == MOVED:
                # the move is over, and with it the staff the person had before it
                person["case"] = (OPEN, case[1], case[2])
                for held in [held for held in assigned if places[held] < places["case"]]:
                    assigned.discard(held)
                    person[held] = (UNASSIGNED, *person[held][1:])
            day = occurred_on
        if "municipality" in person:
            yield _snapshot(person_id, person, assigned, day), None


def _current_rows(tx: Tx, on: date) -> list[CaseloadRow]:
    """The active persons' status on ``on`` from the current facts, sorted by person id: the
    span of ``caseload_history`` that holds ``on``, for each person who has one; or, when no
    fact is dated after ``on`` (today's caseload), the active rows of ``caseload_persons``."""
    persons, history = (tx.table(table.name) for table in CASELOAD.derived_tables)
    day = on.isoformat()
    ((last,),) = tx.all(f"SELECT MAX(status_on) FROM {persons}")  # through its index
    if last is None or last <= day:
        query = (
            "SELECT person_id, municipality, rung, leerroute, status_on, rung_on, staff"
            f" FROM {persons} WHERE active = 1"
        )
        params: list[Any] = []
    else:
        # one scan of the table (in key order on SQLite): a date in the middle of the history
        # holds spans all over an index on the dates, each read from its own page
        query = (
            "SELECT person_id, municipality, rung, leerroute, valid_from, rung_on, staff"
            f" FROM {history} WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)"
        )
        params = [day, day]
    rows = []
    for person_id, municipality, rung, leerroute, status_on, rung_on, staff in tx.rows(
        query, params
    ):
        regisseurs, coaches = orjson.loads(staff)
        rows.append(
            CaseloadRow(
                person_id=str(person_id),
                municipality=str(municipality),
                active=True,
                regisseurs=tuple(regisseurs),
                coaches=tuple(coaches),
                rung=None if rung is None else int(rung),
                leerroute=leerroute,
                status_on=str(status_on),
                rung_on=rung_on,
            )
        )
    rows.sort(key=lambda row: row.person_id)
    return rows


def _rows(views: Views, on: date, as_known_at: datetime | None) -> list[CaseloadRow]:
    with views.transaction(commit=False) as tx:
        if as_known_at is None:
            return _current_rows(tx, on)
        known, params = known_at_clause(as_known_at)
        return fold(
            latest_slots(tx, CASELOAD, f"{known} AND occurred_on <= ?", [*params, on.isoformat()])
        )


@collector_paused()
def caseload(
    views: Views,
    on: date,
    *,
    coach: str | None = None,
    municipality: str | None = None,
    as_known_at: datetime | None = None,
) -> list[CaseloadRow]:
    """The active persons on ``on`` (as true on that date), sorted by person id.

    Args:
        on: the date the caseload is true on (facts with ``occurred_on <= on``).
        coach: only persons this staff member (any role) has on ``on``.
        municipality: only persons in this municipality (CBS code) on ``on``.
        as_known_at: only what was recorded by this moment (corrections after it ignored).

    Catches up first, so the answer includes every stored event.
    """
    catch_up(views, CASELOAD)
    rows = views.shared(("caseload", on, as_known_at), lambda: _rows(views, on, as_known_at))
    return [
        row
        for row in rows
        if row.active
        and (municipality is None or row.municipality == municipality)
        and (coach is None or row.has_staff(coach))
    ]


def staff_hint(
    views: Views,
    on: date,
    coach: str,
    *,
    municipality: str | None = None,
    as_known_at: datetime | None = None,
) -> str | None:
    """Why a caseload filtered on ``coach`` lists nobody, when no active person has that staff
    member on ``on``: the staff members who do have one then (a typo is the usual cause),
    closest first. None when ``coach`` has an active person."""
    rows = caseload(views, on, municipality=municipality, as_known_at=as_known_at)
    if any(row.has_staff(coach) for row in rows):
        return None
    staff = sorted({name for row in rows for name in row.staff})
    wanted = coach.strip().casefold()
    close = difflib.get_close_matches(wanted, staff, n=3, cutoff=0.6)
    hint = f"no active person has {coach.strip()!r} as regisseur or coach on {on}"
    if close:
        return f"{hint}: did you mean {' or '.join(close)}?"
    if not staff:
        return f"{hint}, nor any other staff member"
    shown = ", ".join(staff[:10]) + (f" and {len(staff) - 10} more" if len(staff) > 10 else "")
    return f"{hint}; staff with active persons then: {shown}"


# --------------------------------------------------------------------------------------------
# The caseload report: rows with deadline signals, and counts per rung and leerroute
# --------------------------------------------------------------------------------------------

DEADLINE_SIGNALS: tuple[str, ...] = (
    "pip_due",
    "pvt_due",
    "term_ending",
    "ladder_stale",
    "late_recording",
)
"""The deadline signals the Kwartaaldashboard (P15) counts."""
SIGNALS: tuple[str, ...] = (*DEADLINE_SIGNALS, "objection_overdue", "ontzorgen_overdue")
"""The signals, in the order they are shown."""

RUNG_GROUPS: tuple[str, ...] = ("1", "2", "3", "4", "5", "6", "none")
LEERROUTE_GROUPS: tuple[str, ...] = ("B1", "onderwijs", "Z", "none")


@dataclass(frozen=True)
class Signal:
    """A deadline that needs attention: its code (one of :data:`SIGNALS`), the date it is
    about and a short explanation."""

    code: str
    due_on: str | None
    detail: str


@dataclass(frozen=True)
class CaseloadEntry:
    """One active person on the caseload, with their signals."""

    row: CaseloadRow
    signals: tuple[Signal, ...]


@dataclass(frozen=True)
class GroupCount:
    """The number of listed persons in one group (a rung, a leerroute or a signal)."""

    group: str
    persons: int


@dataclass(frozen=True)
class CaseloadReport:
    """P1: the caseload on ``on`` with deadline signals and breakdowns."""

    on: str
    as_known_at: str | None
    coach: str | None
    municipality: str | None
    signals_only: bool
    entries: tuple[CaseloadEntry, ...]
    by_rung: tuple[GroupCount, ...]
    by_leerroute: tuple[GroupCount, ...]
    by_signal: tuple[GroupCount, ...]
    projections: tuple[str, ...]
    position: int
    rule_version: str
    digest: str | None


_rules_on = lru_cache(maxsize=64)(rules_on)  # once per report date, not once per person


_iso = lru_cache(maxsize=64)(date.isoformat)  # once per report date, not once per person


@lru_cache(maxsize=16384)
def _months_before(on: date, months: int) -> date:
    """``on`` less ``months`` months (few distinct dates: one computation each, not one per
    person)."""
    return add_months(on, -months)


def _duty_signals(status: InburgeringStatus, on: date, r: RuleSet) -> list[Signal]:
    """The PIP, PVT and term signals of a person with an open inburgeringsplicht."""
    found: list[Signal] = []
    due = status.pip_due
    pip_open = due is not None and status.pip_v1_on is None
    if pip_open and due is not None and on >= due - timedelta(weeks=r.pip_warning_weeks):
        text = "overdue since" if on > due else "due on"
        found.append(Signal("pip_due", due.isoformat(), f"PIP v1 {text} {due}"))
    pvt = status.pvt_deadline
    if (
        status.pvt_on is None
        and pvt is not None
        and on >= _months_before(pvt, r.pvt_warning_months)
    ):
        text = "passed on" if on > pvt else "due by"
        found.append(Signal("pvt_due", pvt.isoformat(), f"PVT ({status.regime}) {text} {pvt}"))
    end = status.term_end
    if end is not None and on >= _months_before(end, r.term_warning_months):
        text = "ended on" if on > end else "ends on"
        extended = " (extended)" if status.extended_to is not None else ""
        found.append(
            Signal("term_ending", end.isoformat(), f"inburgeringstermijn {text} {end}{extended}")
        )
    return found


def _open_signals(status: InburgeringStatus, on: date) -> list[Signal]:
    """An objection against the PIP undecided past its decision term, and an ontzorgen open
    past its planned end (each by its own rule set, in force on its filing or start)."""
    found: list[Signal] = []
    filed = status.objection_filed_on
    if filed is not None and on > (due := objection_decision_due(filed)):
        latest = objection_decision_latest(filed)
        found.append(
            Signal(
                "objection_overdue",
                due.isoformat(),
                f"objection filed {filed} undecided; decision term ended {due}"
                f" (with the extension: {latest})",
            )
        )
    started = status.ontzorgen_open_on
    if started is not None and on > (planned := ontzorgen_planned_end(started)):
        found.append(
            Signal(
                "ontzorgen_overdue",
                planned.isoformat(),
                f"ontzorgen since {started} still open after its planned end {planned}",
            )
        )
    return found


def deadline_signals(
    row: CaseloadRow,
    status: InburgeringStatus | None,
    on: date,
    registered_on: date | None,
    late: tuple[str, str, int] | None,
) -> tuple[Signal, ...]:
    """The signals of one person on ``on``, with the thresholds of the rule set in force then.

    ``status`` is the person's inburgering status (None: the empty status); ``late`` is the
    person's most delayed recent fact (kind, occurred_on, days), if any.
    """
    r = _rules_on(on)
    found: list[Signal] = []
    if status is not None and status.has_duty and status.fulfilled_on is None:
        found += _duty_signals(status, on, r)
    if status is not None:
        found += _open_signals(status, on)
    stale_before = _months_before(on, r.ladder_stale_months)
    if row.rung_on is not None and row.rung_on <= _iso(stale_before):
        found.append(
            Signal("ladder_stale", row.rung_on, f"last ladder assessment on {row.rung_on}")
        )
    elif row.rung_on is None and registered_on is not None and registered_on <= stale_before:
        found.append(
            Signal("ladder_stale", None, f"no ladder assessment since registration {registered_on}")
        )
    if late is not None:
        kind, occurred_on, days = late
        found.append(
            Signal(
                "late_recording", occurred_on, f"{kind} of {occurred_on} recorded {days} days later"
            )
        )
    return tuple(found)


def _registered_on(
    tx: Tx, known: str, params: list[Any], persons: Iterable[str]
) -> dict[str, date]:
    """Person → the date of their (current) registration, for ``persons``."""
    facts = tx.table(CASELOAD.facts_table.name)
    found: dict[str, date] = {}
    for marks, chunk in tx.in_chunks(sorted(persons)):
        rows = tx.all(
            f"SELECT stream_id, occurred_on FROM {facts} WHERE {known}"
            f" AND kind = 'PersonRegistered' AND stream_id IN ({marks})",
            [*params, *chunk],
        )
        found |= {str(stream): date.fromisoformat(on) for stream, on in rows}
    return found


DUTCH_NEXT_DAY_FROM = "22"
"""The UTC hour from which a moment's Dutch date can be the next day (Europe/Amsterdam is
UTC+1, or UTC+2 in summer): before it, the Dutch date is the UTC date."""


def dutch_date_text(moment: str) -> str:
    """The Dutch calendar date (ISO) of a canonical UTC timestamp text (``…THH:MM:SS…Z``): the
    day a fact was recorded, as the rules measure a recording delay (``recorded_day``)."""
    if moment[11:13] < DUTCH_NEXT_DAY_FROM:
        return moment[:10]
    return _dutch_date_late_in_the_day(moment)


@lru_cache(maxsize=4096)
def _dutch_date_late_in_the_day(moment: str) -> str:
    return dutch_day(datetime.fromisoformat(moment)).isoformat()


@lru_cache(maxsize=65536)
def _late_by(occurred_on: str, recorded_on: str) -> int | None:
    """The days between a fact's date and its recording date (ISO) when that makes it a late
    recording, else None (few distinct pairs: one computation each)."""
    happened, recorded = date.fromisoformat(occurred_on), date.fromisoformat(recorded_on)
    return (recorded - happened).days if is_late_recording(happened, recorded) else None


def _late_recordings(
    tx: Tx, on: date, known: str, params: list[Any]
) -> dict[str, tuple[str, str, int]]:
    """Person → their most delayed fact (kind, occurred_on, days) among the facts that happened
    in the recent window before ``on``, when the delay is above the late-recording threshold.

    The recording moment of a fact is that of its first revision: a later correction does not
    make a fact late.
    """
    r = rules_on(on)
    since = add_months(on, -r.late_recording_window_months).isoformat()
    # only first revisions recorded more than the shortest threshold of any rule set after
    # the fact can be late (the exact threshold is that of each fact's date, checked below on
    # the Dutch date of the recording, which is the UTC date or the day after); corrections
    # always look further
    recorded_late = tx.dialect.days_after("f.occurred_on", shortest_late_recording_days())
    # person → (days, occurred_on, -version, kind): the most delayed, then the latest fact,
    # then the first stream version (one revision per version is known at a time)
    worst: dict[str, tuple[int, str, int, str]] = {}
    for projection in (CASELOAD, INBURGERING):
        facts = tx.table(projection.facts_table.name)
        # the inburgering read model keeps the permits only to tell an asielstatushouder: a
        # permit is no inburgering fact, and was never a late recording
        not_read = " AND f.kind <> 'ResidencePermitRecorded'" if projection is INBURGERING else ""
        # the outer WHERE's unqualified known_from / known_to are f's columns
        rows = tx.all(
            # a first revision is its own first recording: only corrections look further
            "SELECT f.stream_id, f.version, f.kind, f.occurred_on, CASE WHEN f.revision = 0"
            f" THEN f.known_from ELSE (SELECT MIN(g.known_from) FROM {facts} g"
            " WHERE g.stream_id = f.stream_id AND g.version = f.version) END"
            f" FROM {facts} f WHERE {known} AND f.occurred_on > ? AND f.occurred_on <= ?"
            f" AND (f.revision > 0 OR f.known_from >= {recorded_late}){not_read}",
            [*params, since, on.isoformat()],
        )
        for stream_id, version, kind, occurred_on, known_from in rows:
            days = _late_by(occurred_on, dutch_date_text(str(known_from)))
            if days is None:
                continue
            key = str(stream_id)
            found = (days, occurred_on, -int(version), str(kind))
            if key not in worst or found[:3] > worst[key][:3]:
                worst[key] = found
    return {key: (kind, occurred_on, days) for key, (days, occurred_on, _, kind) in worst.items()}


def _counts(groups: tuple[str, ...], values: Iterable[str]) -> tuple[GroupCount, ...]:
    counted = dict.fromkeys(groups, 0)
    for value in values:
        counted[value] = counted.get(value, 0) + 1
    return tuple(GroupCount(group, n) for group, n in counted.items())


@collector_paused()
def caseload_report(
    views: Views,
    on: date,
    *,
    coach: str | None = None,
    municipality: str | None = None,
    as_known_at: datetime | None = None,
    signals_only: bool = False,
) -> CaseloadReport:
    """P1: the active persons on ``on`` with their deadline signals, and counts per ladder
    rung, leerroute and signal (over the persons listed).

    Args:
        on: the date the caseload is true on.
        coach: only persons this staff member (any role) has on ``on``.
        municipality: only persons in this municipality on ``on``.
        as_known_at: only what was recorded by this moment.
        signals_only: list only persons with at least one signal.

    Catches up the ``caseload`` and ``inburgering`` read models first.
    """
    rows = caseload(views, on, coach=coach, municipality=municipality, as_known_at=as_known_at)
    # caseload() caught up the caseload read model: this one is current, without a rebuild
    basis = combined_basis([catch_up(views, CASELOAD), catch_up(views, INBURGERING)])
    known, params = known_at_clause(as_known_at)

    def undated() -> set[str]:  # PostgreSQL: a date kept as stored that is none fails its cast
        return undated_streams(views, (CASELOAD, INBURGERING))

    with (
        checked_on_failure(views, undated, CAST_ERRORS),
        views.transaction(commit=False) as tx,
    ):
        status = shared_statuses(views, tx, on, as_known_at, (row.person_id for row in rows))
        # the registration date only matters to persons never assessed (ladder_stale)
        unassessed = (row.person_id for row in rows if row.rung_on is None)
        registered = _registered_on(tx, known, params, unassessed)
        late = _late_recordings(tx, on, known, params)
    entries = [
        CaseloadEntry(
            row,
            deadline_signals(
                row,
                status.get(row.person_id),
                on,
                registered.get(row.person_id),
                late.get(row.person_id),
            ),
        )
        for row in rows
    ]
    if signals_only:
        entries = [entry for entry in entries if entry.signals]
    return CaseloadReport(
        on=on.isoformat(),
        as_known_at=timestamp_text(as_known_at) if as_known_at else None,
        coach=coach,
        municipality=municipality,
        signals_only=signals_only,
        entries=tuple(entries),
        by_rung=_counts(
            RUNG_GROUPS, ("none" if e.row.rung is None else str(e.row.rung) for e in entries)
        ),
        by_leerroute=_counts(LEERROUTE_GROUPS, (e.row.leerroute or "none" for e in entries)),
        by_signal=_counts(SIGNALS, (s.code for e in entries for s in e.signals)),
        projections=basis.projections,
        position=basis.position,
        rule_version=CASELOAD.rule_version,
        digest=basis.digest,
    )
