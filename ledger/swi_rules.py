"""The SWI (Statistiek Wet inburgering) variable sets, as dated, versioned rule parameters.

Municipalities deliver the SWI to CBS every quarter, within a number of weeks after the quarter
(domain.md §4.1), with the variables the CBS *richtlijnen* (guidelines) in force require. That
variable list has not been obtained (**[U]**): the first set below is built from what the read
models hold and must be aligned with the CBS richtlijnen when they are. An aligned or revised
list is a new :class:`SwiVariableSet` appended to :data:`SWI_SETS`, never an edit, so that an
extract delivered earlier can be reproduced exactly.

Each variable names one figure of the Kwartaaldashboard (P15, ``projections/dashboard.py``) by
section, figure and breakdown: the extract counts nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from ledger.rules import in_force


@dataclass(frozen=True)
class SwiVariable:
    """One variable of the extract and the dashboard figure it takes its value from."""

    name: str
    wording: str
    section: str
    figure: str
    breakdown: str | None = None


@dataclass(frozen=True)
class SwiVariableSet:
    """One version of the SWI variables and the delivery deadline."""

    version: str
    valid_from: date
    due_weeks: int  # delivery due this many weeks after the quarter's last day
    variables: tuple[SwiVariable, ...]
    verified: bool = False  # False: not aligned with the CBS richtlijnen [U]
    source_note: str = ""

    def due_on(self, quarter_end: date) -> date:
        """The delivery deadline of the quarter ending on ``quarter_end``."""
        return quarter_end + timedelta(weeks=self.due_weeks)


def _per_route(name: str, wording: str, figure: str) -> tuple[SwiVariable, ...]:
    return tuple(
        SwiVariable(f"{name}_{route.lower()}", f"{wording}, {route}", "inburgering", figure, route)
        for route in ("B1", "onderwijs", "Z", "none", "total")
    )


def _per_outflow(figure: str, wording: str) -> tuple[SwiVariable, ...]:
    kinds = ("werk_volledig", "werk_gedeeltelijk", "onbetaald_vrijwilligerswerk", "onderwijs")
    return tuple(
        SwiVariable(f"outflow_{figure}_{kind}", f"{wording}: {kind}", "outflow", figure, kind)
        for kind in (*kinds, "total")
    )


SWI_2026_1 = SwiVariableSet(
    version="swi-2026.1",
    valid_from=date(2022, 1, 1),
    due_weeks=4,  # §4.1: within 4 weeks after each quarter [V CBS-DELIVER]
    source_note=(
        "built from the read models (domain.md §4.1/§4.2 P14); the CBS richtlijnen (2021, 2023) "
        "were not consulted: align the variables with them when obtained"
    ),
    variables=(
        *_per_route(
            "duty_persons",
            "active clients with an inburgeringsplicht on the quarter's last day, per leerroute",
            "persons",
        ),
        SwiVariable(
            "intake_started",
            "Wi2021 clients (active at quarter end) whose brede intake started by then",
            "plans",
            "cohort_intake_started",
            "total",
        ),
        SwiVariable(
            "median_days_to_intake",
            "median days from duty start to the brede intake's start (Wi2021, active)",
            "plans",
            "cohort_median_days_to_intake",
            "total",
        ),
        SwiVariable(
            "pip_adopted",
            "Wi2021 clients (active at quarter end) with PIP v1 adopted by then",
            "plans",
            "cohort_pip_adopted",
            "total",
        ),
        SwiVariable(
            "median_days_to_pip",
            "median days from duty start to the PIP v1 dagtekening (Wi2021, active)",
            "plans",
            "cohort_median_days_to_pip",
            "total",
        ),
        *(
            SwiVariable(
                f"pip_v1_{key}",
                f"PIP v1 due in the quarter: {key.replace('_', ' ')}",
                "plans",
                "pip_v1",
                key,
            )
            for key in ("due_in_period", "on_time", "late", "open")
        ),
        SwiVariable(
            "pvt_signed_in_quarter",
            "participatieverklaringen signed in the quarter (signatures)",
            "activities",
            "pvt_signatures",
        ),
        *_per_route("pvt_done", "duty clients with the PVT signed by quarter end", "pvt_done"),
        *_per_route("map_done", "duty clients with the MAP completed by quarter end", "map_done"),
        *_per_route("knm_done", "duty clients with the KNM exam passed by quarter end", "knm_done"),
        *_per_route(
            "afgeschaald", "duty clients afgeschaald (B1 → A2) by quarter end", "afgeschaald"
        ),
        *_per_route(
            "fulfilled", "duty clients with the duty fulfilled by quarter end", "fulfilled"
        ),
        *_per_outflow("started", "persons who started outflow in the quarter"),
        *(
            SwiVariable(
                f"ladder_rung_{rung}",
                f"active clients on Participatieladder rung {rung} at quarter end",
                "ladder",
                "distribution",
                str(rung),
            )
            for rung in range(1, 7)
        ),
    ),
)

SWI_SETS: tuple[SwiVariableSet, ...] = (SWI_2026_1,)
"""Every SWI variable set ever in force, oldest first. Append; never edit."""


def swi_set_on(day: date) -> SwiVariableSet:
    """The variable set in force on ``day`` (the quarter's last day)."""
    return in_force(SWI_SETS, day)
