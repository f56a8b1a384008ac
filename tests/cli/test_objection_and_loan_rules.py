"""An objection against the PIP, the eindgesprek of the Z-route and the reclaim of a Wi2013 DUO
loan: `traject record` refuses what the person's stream shows to be impossible, naming the
field and the rule, and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import Traject, initialised_ledger, refused


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Traject:
    return initialised_ledger(request, tmp_path, "traject_objection")


def record(store: Traject, kind: str, person: str, on: str, *options: str) -> str:
    """Record a fact that must be accepted; its warnings (stderr)."""
    return store.ok("record", kind, person, "--on", on, *options).stderr


def under_duty(store: Traject, duty_start: str) -> str:
    """A person whose inburgering duty starts on ``duty_start`` (Wi2013 before 2022)."""
    person = store.register()
    record(store, "inburgering-duty-established", person, duty_start, "--duty-start", duty_start)
    return person


def adopt_pip(store: Traject, person: str, on: str, leerroute: str) -> None:
    record(store, "pip-adopted", person, on, "--version", "1", "--leerroute", leerroute,
           "--hoofddoel", "participatie", "--pvt-intensity", "standaard",
           "--map-intensity", "standaard", "--decision-ref", "PIP-2024-0012")  # fmt: skip


def kinds(store: Traject, person: str) -> list[str]:
    return [e["kind"] for e in store.json("timeline", person)["events"]]


def test_an_objection_follows_an_adopted_pip_and_is_decided_once(store: Traject) -> None:
    person = under_duty(store, "2024-03-01")
    file = ("record", "pip-objection-filed", person, "--on")
    decide = ("record", "pip-objection-decided", person, "--outcome", "ongegrond", "--on")
    refused(
        store, *file, "2024-05-20",
        stderr="PipObjectionFiled: person: no PIP to object to: record pip-adopted first",
    )  # fmt: skip
    refused(
        store, *decide, "2024-07-01",
        stderr="PipObjectionDecided: person: no open objection to decide: record "
        "pip-objection-filed first",
    )  # fmt: skip
    adopt_pip(store, person, "2024-05-01", "b1")
    refused(
        store, *file, "2024-04-30",
        stderr="PipObjectionFiled: --on (occurred_on): dated 2024-04-30, before the PIP version 1 "
        "of "
        "2024-05-01 it follows (an objection follows the decision it objects to)",
    )  # fmt: skip
    record(store, "pip-objection-filed", person, "2024-05-20")
    refused(
        store, *file, "2024-05-25",
        stderr="PipObjectionFiled: person: the objection filed 2024-05-20 is not decided yet: "
        "record pip-objection-decided first",
    )  # fmt: skip
    refused(
        store, *decide, "2024-05-19",
        stderr="PipObjectionDecided: --on (occurred_on): dated 2024-05-19, before the objection of "
        "2024-05-20 it follows (an objection is decided after it is filed)",
    )  # fmt: skip
    record(store, "pip-objection-decided", person, "2024-07-01", "--outcome", "ongegrond")
    refused(
        store, *decide, "2024-07-02",
        stderr="PipObjectionDecided: person: no open objection to decide (the last was decided "
        "on 2024-07-01): record pip-objection-filed first",
    )  # fmt: skip
    # a later objection (against a revision, say) is filed anew
    record(store, "pip-objection-filed", person, "2024-09-02")
    assert kinds(store, person)[-4:] == [
        "PipAdopted",
        "PipObjectionFiled",
        "PipObjectionDecided",
        "PipObjectionFiled",
    ]


def test_a_decision_past_the_objection_s_term_is_recorded_with_a_warning(store: Traject) -> None:
    # objection rule set bezwaar.2022.1: decided within 6 weeks of the filing (2024-07-01),
    # with the one extension within 12 (2024-08-12)
    late = (
        "Warning: objection decided {on}, after its decision term ended on 2024-07-01 (6 weeks "
        "after the filing on 2024-05-20, objection rule set bezwaar.2022.1); {term}"
    )
    people = []
    for on in ("2024-07-01", "2024-07-02", "2024-08-13"):
        person = under_duty(store, "2024-03-01")
        adopt_pip(store, person, "2024-05-01", "b1")
        record(store, "pip-objection-filed", person, "2024-05-20")
        warnings = record(store, "pip-objection-decided", person, on, "--outcome", "gegrond")
        people.append((person, [w for w in warnings.splitlines() if "decision term" in w]))
    (_, on_time), (postponed, within), (_, past) = people
    assert on_time == []  # the last day of the term
    assert within == [
        late.format(
            on="2024-07-02",
            term="within the term with its one extension, 2024-08-12, only if the decision "
            "was postponed",
        )
    ]
    assert past == [
        late.format(on="2024-08-13", term="also past the term with its one extension, 2024-08-12")
    ]
    # a correction that moves the decision past the term is said the same way
    corrected = store.ok(
        "correct", postponed, "5", "--set", "on=2024-08-20", "--reason", "datum beslissing"
    ).stderr
    assert (
        late.format(on="2024-08-20", term="also past the term with its one extension, 2024-08-12")
        in corrected.splitlines()
    )


def test_the_eindgesprek_is_held_only_in_the_z_route(store: Traject) -> None:
    person = under_duty(store, "2024-03-01")
    held = ("record", "z-route-final-interview-held", person, "--on")
    refused(
        store, *held, "2024-05-01", "--outcome", "voldaan",
        stderr="ZRouteFinalInterviewHeld: leerroute: the eindgesprek is part of the Z-route only; "
        "this person's leerroute is not set",
    )  # fmt: skip
    adopt_pip(store, person, "2024-04-01", "b1")
    refused(
        store, *held, "2024-05-01", "--outcome", "voldaan",
        stderr="ZRouteFinalInterviewHeld: leerroute: the eindgesprek is part of the Z-route only; "
        "this person's leerroute is B1",
    )  # fmt: skip
    record(store, "learning-route-changed", person, "2024-04-15", "--route", "z",
           "--provider", "Taalschool De Brug")  # fmt: skip
    # a first eindgesprek that does not complete the route may be followed by another
    record(store, "z-route-final-interview-held", person, "2024-05-01", "--outcome", "niet_voldaan")
    record(store, "z-route-final-interview-held", person, "2024-06-01", "--outcome", "voldaan")
    refused(
        store, *held, "2024-06-15", "--outcome", "voldaan",
        stderr="ZRouteFinalInterviewHeld: person: the eindgesprek of 2024-06-01 completed the "
        "Z-route already (outcome voldaan)",
    )  # fmt: skip


def test_no_eindgesprek_after_the_duty_is_fulfilled(store: Traject) -> None:
    person = under_duty(store, "2024-03-01")
    adopt_pip(store, person, "2024-04-01", "z")
    record(store, "inburgering-duty-fulfilled", person, "2024-06-01", "--basis", "ontheffing")
    refused(
        store, "record", "z-route-final-interview-held", person, "--on", "2024-07-01",
        "--outcome", "voldaan",
        stderr="ZRouteFinalInterviewHeld: --on (occurred_on): dated 2024-07-01, after the wi2021 "
        "duty "
        "was fulfilled on 2024-06-01: a fulfilled duty takes no new step (correct or retract the "
        "fulfilment if it was recorded wrongly)",
    )  # fmt: skip


def test_a_duo_loan_is_reclaimed_under_wi2013_after_it_is_granted(store: Traject) -> None:
    reclaim = ("record", "duo-loan-reclaimed")
    wi2021 = under_duty(store, "2024-03-01")
    refused(
        store, *reclaim, wi2021, "--on", "2024-06-01", "--amount", "1200",
        stderr="DuoLoanReclaimed: regime: only under Wi2013; this person's duty is wi2021",
    )  # fmt: skip
    person = under_duty(store, "2020-01-06")
    refused(
        store, *reclaim, person, "--on", "2022-01-10", "--amount", "1200",
        stderr="DuoLoanReclaimed: person: no DUO loan to reclaim: record duo-loan-granted first",
    )  # fmt: skip
    record(store, "duo-loan-granted", person, "2020-06-01", "--amount", "6500")
    record(store, "duo-loan-waived", person, "2021-01-04", "--amount", "1000")
    refused(
        store, *reclaim, person, "--on", "2020-05-01", "--amount", "100",
        stderr="DuoLoanReclaimed: --on (occurred_on): dated 2020-05-01, before the loan of "
        "2020-06-01 "
        "it follows (a loan is reclaimed after it is granted)",
    )  # fmt: skip
    refused(
        store, *reclaim, person, "--on", "2022-01-10", "--amount", "6000",
        stderr="DuoLoanReclaimed: --amount: 6000.00 is more than the 5500.00 of the DUO loan still "
        "outstanding (granted, less what was waived or reclaimed)",
    )  # fmt: skip
    record(store, "duo-loan-reclaimed", person, "2022-01-10", "--amount", "5000")
    refused(
        store, *reclaim, person, "--on", "2022-02-10", "--amount", "500.01",
        stderr="DuoLoanReclaimed: --amount: 500.01 is more than the 500.00 of the DUO loan still "
        "outstanding (granted, less what was waived or reclaimed)",
    )  # fmt: skip
    record(store, "duo-loan-reclaimed", person, "2022-02-10", "--amount", "500")
