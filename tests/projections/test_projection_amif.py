"""P12 AMIF indicators and P13 cost per participant over the hand-built scenario of
tests/amif_scenario.py; every expected figure is worked out in the comments."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from amif_scenario import PROJECT, Scenario, build

from ledger import events as ev
from ledger.amif import AmifFigures, compute
from ledger.amif_rules import indicator_set_by_version
from ledger.application import TrajectoryLedger
from ledger.errors import RuleViolationError
from ledger.values import Period
from projections import Views
from projections.amif import UnknownProjectError, amif

Y2021 = Period.parse("2021")
Y2022 = Period.parse("2022")


@pytest.fixture
def scenario(ledger: TrajectoryLedger) -> Scenario:
    return build(ledger)


def values(figures: AmifFigures) -> dict[str, tuple[int, int]]:
    return {v.code: (v.period, v.cumulative) for v in figures.indicators}


def by_place(figures: AmifFigures, code: str) -> dict[str, tuple[int, int]]:
    value = next(v for v in figures.indicators if v.code == code)
    return {m: (p, c) for m, p, c in value.by_municipality}


def test_indicators_of_2021_count_each_person_once_per_indicator(scenario: Scenario, views: Views):
    figures = amif(views, PROJECT, Y2021).figures
    assert figures.indicator_set == "AMIF_2127.2026.2"
    assert values(figures) == {
        "O.2.2": (3, 3),  # three partner municipalities
        "O.2.3": (4, 4),  # A, B, C, D (E retracted, F enrolled in 2022)
        "O.2.3.1": (2, 2),  # A and C; B's taalcafe is mapped to "other"
        "O.2.3.2": (2, 2),  # A and D
        "O.2.3.3": (2, 2),  # B's werkcoach (mapped) and D's late guidance
        "O.2.5": (1, 1),  # B
        "O.2.7": (1, 1),  # the beneficiary is a gemeente
        "R.2.8": (1, 1),  # A went from A1 to A2; B stayed at A2
        "R.2.9": (1, 1),  # A said yes, B said no
        "R.2.10": (1, 1),  # C
        "R.2.11": (1, 1),  # D
    }
    assert by_place(figures, "O.2.3") == {"GM0344": (1, 1), "GM0599": (1, 1), "GM0622": (2, 2)}


def test_cumulative_values_run_from_the_start_of_the_project(scenario: Scenario, views: Views):
    figures = amif(views, PROJECT, Y2022).figures
    # in 2022 only F enrolled; cumulatively A, B, C, D and F
    assert values(figures)["O.2.3"] == (1, 5)
    # no language course in 2022, A and C before it
    assert values(figures)["O.2.3.1"] == (0, 2)


def test_of_which_sub_indicators_never_exceed_participants_supported(
    scenario: Scenario, views: Views
):
    app = scenario.app
    b, d, f = (scenario.people[n] for n in "BDF")
    # 2022: B and D (enrolled in 2021) and F (enrolled 10 Jan 2022) each get a language course
    for person in (b, d, f):
        app.record(
            person, ev.ServiceDelivered, occurred_on=date(2022, 3, 1), project_id=PROJECT,
            category="language_course", hours="12",
        )  # fmt: skip
    report = amif(views, PROJECT, Y2022)
    got = values(report.figures)
    assert got["O.2.3"] == (1, 5)  # F enrolled in 2022; A, B, C, D, F by its end
    # of F, the one participant of 2022, in a language course; cumulatively A and C (2021),
    # B, D and F (2022): all five participants
    assert got["O.2.3.1"] == (1, 5)
    assert got["O.2.3.2"] == (0, 2)  # A and D, both enrolled in 2021
    assert got["O.2.3.3"] == (0, 2)  # B's werkcoach, D's late guidance: enrolled in 2021
    assert by_place(report.figures, "O.2.3.1") == {
        "GM0344": (0, 1),  # D
        "GM0599": (0, 1),  # C
        "GM0622": (1, 3),  # F in 2022; A, B, F by its end
    }
    for year in (Y2021, Y2022):
        figures = amif(views, PROJECT, year).figures
        parent = by_place(figures, "O.2.3")
        for code in ("O.2.3.1", "O.2.3.2", "O.2.3.3"):
            for place, (period, cumulative) in by_place(figures, code).items():
                assert period <= parent[place][0] and cumulative <= parent[place][1]
    # counted with the set in force before, B and D served in 2022 made 3 of 1 participant
    earlier = compute(
        report.facts, PROJECT, Y2022, lambda fund, on: indicator_set_by_version("AMIF_2127.2026.1")
    )
    assert values(earlier)["O.2.3.1"] == (3, 5)


def test_progress_against_total_and_municipal_targets(scenario: Scenario, views: Views):
    progress = {
        r.municipality: (r.target, r.realised) for r in amif(views, PROJECT, Y2021).figures.progress
    }
    assert progress == {
        "GM0599": (3, 1),  # C
        "GM0622": (4, 2),  # A, B
        "unallocated": (10 - 4 - 3, 1),  # D in GM0344, which has no target of its own
        "total": (10, 4),
    }


def test_hours_per_participant_by_service_category(scenario: Scenario, views: Views):
    hours = {
        h.category: (h.hours, h.participants, h.hours_per_participant)
        for h in amif(views, PROJECT, Y2021).figures.hours
    }
    assert hours == {
        "language_course": (Decimal("64.00"), 2, Decimal("32.00")),  # A 40 + C 24 (corrected)
        "civic_orientation": (Decimal("16.00"), 2, Decimal("8.00")),  # A 10 + D 6
        "personal_professional_guidance": (Decimal("8.00"), 2, Decimal("4.00")),  # B 5 + D 3
        "other": (Decimal("8.00"), 1, Decimal("8.00")),  # B's taalcafe
    }


def test_cost_per_participant_divides_the_period_costs_by_active_participants(
    scenario: Scenario, views: Views
):
    cost = amif(views, PROJECT, Y2021).figures.cost
    # 2021H1 10,000.00 + 2021H2 2,500.50; the 2022H1 cost is outside 2021
    assert cost.eligible_costs == Decimal("12500.50")
    assert cost.active_participants == 4  # A, B, C, D
    assert cost.cost_per_participant == Decimal("3125.13")  # 3125.125 rounded half up
    assert cost.declared == Decimal("10000.00")
    assert cost.staff_hours == Decimal("12.50")
    # in 2022: 4,000.00; A and C exited in 2021, so B, D and F are active
    cost_2022 = amif(views, PROJECT, Y2022).figures.cost
    assert (cost_2022.eligible_costs, cost_2022.active_participants) == (Decimal("4000.00"), 3)
    assert cost_2022.cost_per_participant == Decimal("1333.33")


def test_as_known_at_ignores_later_corrections_retractions_and_late_facts(
    scenario: Scenario, views: Views
):
    figures = amif(views, PROJECT, Y2021, as_known_at=scenario.cut).figures
    got = values(figures)
    assert got["O.2.3"] == (5, 5)  # E's enrolment was not retracted yet
    assert got["O.2.3.3"] == (1, 1)  # D's late guidance was not known
    assert by_place(figures, "O.2.3")["GM0599"] == (2, 2)
    language = next(h for h in figures.hours if h.category == "language_course")
    assert (language.hours, language.hours_per_participant) == (Decimal("60.00"), Decimal("30.00"))
    assert figures.cost.cost_per_participant == Decimal("2500.10")  # 12,500.50 / 5


def test_every_value_lists_the_stored_events_behind_it(scenario: Scenario, views: Views):
    report = amif(views, PROJECT, Y2021)
    c = str(scenario.people["C"])
    language = next(v for v in report.figures.indicators if v.code == "O.2.3.1")
    # C's corrected course counts with both the original event and the correction
    c_refs = sorted(r for r in language.facts if r.startswith(c))
    versions = [int(r.rsplit(":", 1)[1]) for r in c_refs]
    assert len(versions) == 3  # the enrolment, the course, the correction
    corrected = next(f for f in report.facts if f.stream_id == c and f.kind == "ServiceDelivered")
    assert Decimal(corrected.payload["hours"]) == 24
    assert len(corrected.refs) == 2


def test_participant_evidence_rows(scenario: Scenario, views: Views):
    assert amif(views, PROJECT, Y2021).figures.participants == ()  # the report shows none
    rows = {
        r.person: r for r in amif(views, PROJECT, Y2021, participants=True).figures.participants
    }
    a = rows[str(scenario.people["A"])]
    assert (a.entry_cefr, a.exit_cefr, a.improved, a.helpful) == ("A1", "A2", True, "yes")
    assert dict(a.hours)["language_course"] == Decimal("40.00")
    assert (a.exited_on, a.completed) == ("2021-12-15", True)
    assert a.eligibility_evidence_ref == "DMS-2021-02-01"
    assert str(scenario.people["E"]) not in rows  # retracted
    assert str(scenario.people["F"]) not in rows  # enrolled after 2021


def test_an_unknown_project_is_refused(scenario: Scenario, views: Views):
    with pytest.raises(UnknownProjectError, match="no AMIF project NOPE"):
        amif(views, "NOPE", Y2021)


def test_a_declared_period_is_immutable(scenario: Scenario):
    app = scenario.app
    stream = ev.project_stream_id(PROJECT)
    events = list(app.stream_events(stream))
    cost_h1 = next(e for e in events if isinstance(e, ev.CostRecorded) and e.period == "2021H1")
    declared = next(e for e in events if isinstance(e, ev.ExpenditureDeclared))
    with pytest.raises(RuleViolationError, match="2021H1 is declared"):
        app.correct(stream, cost_h1.originator_version, {"amount": "9000"}, reason="typo")
    with pytest.raises(RuleViolationError, match="declaration is immutable"):
        app.retract(stream, declared.originator_version, reason="oops")
    with pytest.raises(RuleViolationError, match="2021Q2 is declared"):
        app.record_for_project(
            PROJECT, ev.CostRecorded, occurred_on=declared.occurred_on, municipality="GM0622",
            amount="1.00", category="other", period="2021Q2", doc_ref="late invoice",
        )  # fmt: skip
    with pytest.raises(RuleViolationError, match="already declared"):
        app.record_for_project(
            PROJECT, ev.ExpenditureDeclared, occurred_on=declared.occurred_on,
            municipality="GM0622", declaration_ref="DECL-2021H1", period="2022H2", amount="1.00",
        )  # fmt: skip
    # an undeclared period's cost can still be corrected
    cost_h2 = next(e for e in events if isinstance(e, ev.CostRecorded) and e.period == "2021H2")
    app.correct(stream, cost_h2.originator_version, {"amount": "2600.00"}, reason="credit note")


def test_a_2014_2020_project_counts_with_its_own_indicator_set(ledger: TrajectoryLedger):
    app = ledger
    app.record_for_project(
        "OUD", ev.ProjectRegistered, occurred_on=date(2016, 1, 5), municipality="GM0622",
        title="Samen Verder", fund="AMIF_1420", beneficiary="Stichting",
        beneficiary_kind="stichting", grant_ref="UVB-2016-3", eligibility_from=date(2016, 1, 1),
        eligibility_to=date(2021, 12, 31), cofin_rate="0.75", target_total=5,
    )  # fmt: skip
    for category in ("language_course", "personal_professional_guidance"):
        pid = app.register_person(
            occurred_on=date(2016, 2, 1), birth_date=date(1980, 1, 1), sex="m",
            nationality=["ER"], municipality="GM0622",
        ).stream_id  # fmt: skip
        app.record(
            pid, ev.ParticipantEnrolled, occurred_on=date(2016, 3, 1), project_id="OUD",
            tcn=True, permit_kind="asiel_bt", permit_valid=True, checked_on=date(2016, 3, 1),
            checked_by="k.controleur", eligibility_evidence_ref="DMS-1", consent_ref="AVG-1",
        )  # fmt: skip
        app.record(
            pid, ev.ServiceDelivered, occurred_on=date(2016, 4, 1), project_id="OUD",
            category=category, hours="10",
        )  # fmt: skip
    figures = amif(Views(app), "oud", Period.parse("2016")).figures
    assert figures.indicator_set == "AMIF_1420.2026.2"
    # two persons assisted, one in language training, one in guidance, none in civic orientation
    assert values(figures) == {
        "SO2.b.ii": (2, 2),
        "SO2.b.ii.lang": (1, 1),
        "SO2.b.ii.civic": (0, 0),
        "SO2.b.ii.guidance": (1, 1),
    }
    # no municipal targets: everyone falls under the unallocated remainder of the total
    assert [(r.municipality, r.target, r.realised) for r in figures.progress] == [
        ("unallocated", 5, 2),
        ("total", 5, 2),
    ]
