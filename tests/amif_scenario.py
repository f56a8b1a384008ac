"""A hand-built AMIF project (MWP, AMIF 2021–2027) whose figures are worked out in test comments.

Project MWP: target 10 participants, GM0622 4 and GM0599 3 (3 unallocated); partners GM0622,
GM0599 and GM0344; the beneficiary is a gemeente.

Participants (all in 2021 unless said otherwise):

* A (GM0622) enrolled 1 Feb; language course 40 h (1 Mar), civic orientation 10 h (1 Apr);
  CEFR entry A1 (5 Feb), exit A2 (20 Nov): improved; feedback helpful=yes; exited 15 Dec,
  completed.
* B (GM0622) enrolled 10 Mar; "werkcoach" 5 h recorded as other (mapped to personal
  professional guidance); "taalcafe" 8 h recorded as language_course (mapped to other);
  CEFR entry A2, exit A2: not improved; feedback no; family-reunification assistance 1 Jun.
* C (GM0599) enrolled 15 Jan; language course 20 h (1 Feb), corrected to 24 h after the cut;
  qualification recognition applied 3 Mar; exited 30 Jun (moved, not completed).
* D (GM0344, no own target: unallocated) enrolled 1 Sep; civic orientation 6 h (10 Sep);
  long-term residence applied 1 Oct. A late fact: personal guidance 3 h on 20 Dec, recorded
  after the cut.
* E (GM0599) enrolled 1 May; the enrolment is retracted after the cut.
* F (GM0622) enrolled 10 Jan 2022.

Project stream: costs 2021H1 staff €10,000.00, 2021H2 materials €2,500.50, 2022H1 staff
€4,000.00; 2021H1 declared (€10,000.00, DECL-2021H1); staff time 12.5 h on 1 Mar 2021 (for A);
a management verification by UVB.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from ledger import events as ev
from ledger.application import TrajectoryLedger

PROJECT = "MWP"


@dataclass
class Scenario:
    app: TrajectoryLedger
    people: dict[str, UUID]
    cut: datetime  # the moment after the original facts, before the later knowledge


def _person(app: TrajectoryLedger, municipality: str) -> UUID:
    return app.register_person(
        occurred_on=date(2021, 1, 4),
        birth_date=date(1988, 5, 6),
        sex="f",
        nationality=["SY"],
        municipality=municipality,
    ).stream_id


def _enrol(app: TrajectoryLedger, pid: UUID, on: date, municipality: str) -> int:
    return app.record(
        pid,
        ev.ParticipantEnrolled,
        occurred_on=on,
        municipality=municipality,
        project_id=PROJECT,
        tcn=True,
        permit_kind="asiel_bt",
        permit_valid=True,
        checked_on=on,
        checked_by="k.controleur",
        eligibility_evidence_ref=f"DMS-{on.isoformat()}",
        consent_ref="AVG-verklaring-1",
    ).version


def _service(app: TrajectoryLedger, pid: UUID, on: date, category: str, hours: str, **more: Any):
    return app.record(
        pid,
        ev.ServiceDelivered,
        occurred_on=on,
        project_id=PROJECT,
        category=category,
        hours=hours,
        **more,
    ).version


def _level(app: TrajectoryLedger, pid: UUID, on: date, cefr: str, context: str) -> None:
    app.record(
        pid,
        ev.LanguageLevelAssessed,
        occurred_on=on,
        cefr=cefr,
        method="intake-toets",
        context=context,
        project_id=PROJECT,
    )


def build(app: TrajectoryLedger) -> Scenario:
    """Record the scenario: the original facts, then (after ``cut``) the later knowledge."""
    app.record_for_project(
        PROJECT,
        ev.ProjectRegistered,
        occurred_on=date(2020, 12, 1),
        municipality="GM0622",
        title="Meedoen Werkt",
        fund="AMIF_2127",
        beneficiary="Gemeente Vlaardingen",
        beneficiary_kind="gemeente",
        grant_ref="UVB-2020-017",
        eligibility_from=date(2021, 1, 1),
        eligibility_to=date(2023, 12, 31),
        cofin_rate="0.75",
        target_total=10,
        targets_by_municipality={"GM0622": 4, "GM0599": 3},
        partner_municipalities=["GM0622", "GM0599", "GM0344"],
    )
    where = {"A": "GM0622", "B": "GM0622", "C": "GM0599", "D": "GM0344", "E": "GM0599"}
    where["F"] = "GM0622"
    people = {name: _person(app, code) for name, code in where.items()}
    a, b, c, d, e, f = (people[n] for n in "ABCDEF")

    _enrol(app, a, date(2021, 2, 1), "GM0622")
    _service(app, a, date(2021, 3, 1), "language_course", "40")
    _service(app, a, date(2021, 4, 1), "civic_orientation", "10")
    _level(app, a, date(2021, 2, 5), "A1", "entry")
    _level(app, a, date(2021, 11, 20), "A2", "exit")
    app.record(
        a, ev.ParticipantFeedbackRecorded, occurred_on=date(2021, 12, 1), project_id=PROJECT,
        helpful="yes",
    )  # fmt: skip
    app.record(
        a, ev.ParticipantExited, occurred_on=date(2021, 12, 15), project_id=PROJECT,
        reason="afgerond", completed=True,
    )  # fmt: skip

    _enrol(app, b, date(2021, 3, 10), "GM0622")
    _service(app, b, date(2021, 5, 1), "other", "5", activity_type="werkcoach")
    _service(app, b, date(2021, 5, 8), "language_course", "8", activity_type="taalcafe")
    _level(app, b, date(2021, 3, 12), "A2", "entry")
    _level(app, b, date(2021, 10, 1), "A2", "exit")
    app.record(
        b, ev.ParticipantFeedbackRecorded, occurred_on=date(2021, 10, 2), project_id=PROJECT,
        helpful="no",
    )  # fmt: skip
    app.record(
        b, ev.FamilyReunificationAssistanceProvided, occurred_on=date(2021, 6, 1),
        provider="VluchtelingenWerk", project_id=PROJECT,
    )  # fmt: skip

    _enrol(app, c, date(2021, 1, 15), "GM0599")
    c_course = _service(app, c, date(2021, 2, 1), "language_course", "20")
    app.record(
        c, ev.QualificationRecognitionApplied, occurred_on=date(2021, 3, 3), project_id=PROJECT
    )
    app.record(
        c, ev.ParticipantExited, occurred_on=date(2021, 6, 30), project_id=PROJECT,
        reason="verhuisd", completed=False,
    )  # fmt: skip

    _enrol(app, d, date(2021, 9, 1), "GM0344")
    _service(app, d, date(2021, 9, 10), "civic_orientation", "6")
    app.record(
        d, ev.LongTermResidenceApplied, occurred_on=date(2021, 10, 1), project_id=PROJECT,
        residence_kind="eu_langdurig",
    )  # fmt: skip

    e_enrolment = _enrol(app, e, date(2021, 5, 1), "GM0599")
    _enrol(app, f, date(2022, 1, 10), "GM0622")

    for period, category, amount in (
        ("2021H1", "staff", "10000.00"),
        ("2021H2", "materials", "2500.50"),
        ("2022H1", "staff", "4000.00"),
    ):
        app.record_for_project(
            PROJECT, ev.CostRecorded, occurred_on=date(2022, 7, 1), municipality="GM0622",
            amount=amount, category=category, period=period, doc_ref=f"INV-{period}",
        )  # fmt: skip
    app.record_for_project(
        PROJECT, ev.ExpenditureDeclared, occurred_on=date(2022, 8, 1), municipality="GM0622",
        declaration_ref="DECL-2021H1", period="2021H1", amount="10000.00",
    )  # fmt: skip
    app.record_for_project(
        PROJECT, ev.StaffTimeRecorded, occurred_on=date(2021, 3, 1), municipality="GM0622",
        staff_id="s.coach", hours="12.5", activity="taalcoaching", person_id=a,
    )  # fmt: skip
    app.record_for_project(
        PROJECT, ev.ManagementVerificationRecorded, occurred_on=date(2022, 9, 1),
        municipality="GM0622", by="UVB", scope="declaratie 2021H1", outcome="no_findings",
    )  # fmt: skip

    streams = [*people.values(), ev.project_stream_id(PROJECT)]
    cut = max(list(app.stream_events(stream))[-1].timestamp for stream in streams)

    # later knowledge: C's hours corrected, E's enrolment retracted, D's late guidance
    app.correct(c, c_course, {"hours": "24"}, reason="presentielijst nageteld")
    app.retract(e, e_enrolment, reason="verkeerde persoon ingeschreven")
    _service(app, d, date(2021, 12, 20), "personal_professional_guidance", "3")
    return Scenario(app, people, cut)
