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
staff member has the person when the latest ``coach:<role>:<staff>`` value is ``assigned``
(several staff members per role are allowed, as the ledger allows them).

``caseload_persons`` keeps each person's status over all current facts (the latest status), for
analysts; :func:`caseload` answers for any date, and "as known at" any recorded moment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from ledger import events as ev
from ledger.values import StaffRole
from projections.base import (
    INT,
    TEXT,
    Column,
    Projection,
    Table,
    Tx,
    Views,
    catch_up,
    known_at_clause,
)

REGISSEUR = StaffRole.REGISSEUR.value
CLOSING = frozenset({"closed", "moved_out"})


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

    def has_staff(self, staff_id: str) -> bool:
        return staff_id in self.regisseurs or any(
            c.split(":", 1)[1] == staff_id for c in self.coaches
        )


class CaseloadProjection(Projection):
    name = "caseload"
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
    fact_indexes = (("occurred_on",), ("slot",))
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
            ),
            ("person_id",),
            (("municipality",),),
        ),
    )

    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        if kind in ("PersonRegistered", "CoaLinked", "Housed", "BrpRegistered"):
            return ("municipality", None)  # the value is the fact's municipality column
        if kind == "CoachAssigned":
            return (f"coach:{payload['role']}:{payload['staff_id']}", "assigned")
        if kind == "CoachUnassigned":
            return (f"coach:{payload['role']}:{payload['staff_id']}", "unassigned")
        if kind == "LadderAssessed":
            return ("rung", str(payload["rung"]))
        if kind == "PipAdopted":
            return ("leerroute", payload["leerroute"])
        if kind in ("LearningRouteStarted", "LearningRouteChanged"):
            return ("leerroute", payload["route"])
        if kind == "CaseClosed":
            return ("case", "closed")
        if kind == "MovedOut":
            return ("case", "moved_out")
        if kind == "CaseReopened":
            return ("case", "open")
        if kind == "Deceased":
            return ("deceased", "deceased")
        msg = f"caseload does not read {kind}"
        raise ValueError(msg)

    def refresh(self, tx: Tx, stream_ids: set[str]) -> None:
        persons = self.derived_tables[0]
        table = tx.table(persons.name)
        rows = []
        for marks, chunk in tx.in_chunks(sorted(stream_ids)):
            tx.execute(f"DELETE FROM {table} WHERE person_id IN ({marks})", chunk)
            latest = latest_slots(tx, self, f"known_to IS NULL AND stream_id IN ({marks})", chunk)
            for row in fold(latest):
                rows.append(
                    (
                        row.person_id,
                        row.municipality,
                        int(row.active),
                        ",".join(row.regisseurs),
                        ",".join(row.coaches),
                        row.rung,
                        row.leerroute,
                        row.status_on,
                    )
                )
        tx.insert(persons, rows)


CASELOAD = CaseloadProjection()


SlotRow = tuple[str, str, str | None, str, str]
"""stream_id, slot, value, municipality, occurred_on: the latest fact of one slot."""


def latest_slots(
    tx: Tx,
    projection: CaseloadProjection,
    condition: str,
    params: list[Any],
) -> list[SlotRow]:
    """The latest current fact per person and slot among the facts meeting ``condition``."""
    facts = tx.table(projection.facts_table.name)
    return [
        (str(a), str(b), c, str(d), str(e))
        for a, b, c, d, e in tx.all(
            "SELECT stream_id, slot, value, municipality, occurred_on FROM ("
            " SELECT stream_id, slot, value, municipality, occurred_on,"
            " ROW_NUMBER() OVER (PARTITION BY stream_id, slot"
            " ORDER BY occurred_on DESC, version DESC) AS latest"
            f" FROM {facts} WHERE {condition}) AS ranked WHERE latest = 1",
            params,
        )
    ]


def fold(latest: Iterable[SlotRow]) -> list[CaseloadRow]:
    """Each person's status from the latest fact of each slot; persons not yet registered
    (no municipality) are left out. Sorted by person id."""
    slots: dict[str, dict[str, tuple[str | None, str, str]]] = {}
    for stream_id, slot, value, municipality, occurred_on in latest:
        slots.setdefault(stream_id, {})[slot] = (value, municipality, occurred_on)
    rows = []
    for person_id in sorted(slots):
        person = slots[person_id]
        if "municipality" not in person:
            continue
        case = person.get("case")
        regisseurs: list[str] = []
        coaches: list[str] = []
        for slot, (value, _, _) in person.items():
            if not slot.startswith("coach:") or value != "assigned":
                continue
            _, role, staff_id = slot.split(":", 2)
            if role == REGISSEUR:
                regisseurs.append(staff_id)
            else:
                coaches.append(f"{role}:{staff_id}")
        rung = person.get("rung")
        leerroute = person.get("leerroute")
        rows.append(
            CaseloadRow(
                person_id=person_id,
                municipality=person["municipality"][1],
                active="deceased" not in person and (case is None or case[0] not in CLOSING),
                regisseurs=tuple(sorted(regisseurs)),
                coaches=tuple(sorted(coaches)),
                rung=int(rung[0]) if rung and rung[0] is not None else None,
                leerroute=leerroute[0] if leerroute else None,
                status_on=max(occurred_on for _, _, occurred_on in person.values()),
            )
        )
    return rows


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
    known, params = known_at_clause(as_known_at)
    with views.transaction(commit=False) as tx:
        latest = latest_slots(
            tx, CASELOAD, f"{known} AND occurred_on <= ?", [*params, on.isoformat()]
        )
    return [
        row
        for row in fold(latest)
        if row.active
        and (municipality is None or row.municipality == municipality)
        and (coach is None or row.has_staff(coach))
    ]
