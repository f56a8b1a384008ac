"""Ontzorgen (the municipality pays fixed costs from the benefit, Participatiewet art. 56a):
`traject record ontzorgen-started` / `ontzorgen-ended` refuse what the person's stream shows to
be impossible, naming the field and the rule, and warn where the dated ontzorgen rule set says
so (domain.md §2 E.9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import Traject, initialised_ledger, refused


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Traject:
    return initialised_ledger(request, tmp_path, "traject_ontzorgen")


def record(store: Traject, kind: str, person: str, on: str, *options: str) -> str:
    """Record a fact that must be accepted; its warnings (stderr)."""
    return store.ok("record", kind, person, "--on", on, *options).stderr


def wi2021_asielstatushouder(store: Traject, *, bijstand_from: str | None) -> str:
    """A person with an asiel_bt permit and a Wi2021 duty, on algemene bijstand from
    ``bijstand_from`` (None: not on bijstand)."""
    person = store.register()
    record(store, "residence-permit-recorded", person, "2022-02-01", "--permit-kind", "asiel_bt")
    record(store, "inburgering-duty-established", person, "2022-02-15",
           "--duty-start", "2022-02-15")  # fmt: skip
    if bijstand_from is not None:
        record(store, "benefit-granted", person, bijstand_from,
               "--benefit-kind", "algemene_bijstand")  # fmt: skip
    return person


def kinds(store: Traject, person: str) -> list[str]:
    return [e["kind"] for e in store.json("timeline", person)["events"]]


def test_ontzorgen_is_for_a_wi2021_asielstatushouder_on_bijstand(store: Traject) -> None:
    start = ("record", "ontzorgen-started")
    person = store.register()
    # no inburgering duty yet
    refused(
        store, *start, person, "--on", "2023-05-10", "--items", "huur",
        stderr="OntzorgenStarted: regime: only under Wi2021, and this person has no inburgering "
        "duty: record inburgering-duty-established first",
    )  # fmt: skip
    record(store, "inburgering-duty-established", person, "2023-03-01",
           "--duty-start", "2023-03-01")  # fmt: skip
    # no asylum permit: none at all, then a regular one
    refused(
        store, *start, person, "--on", "2023-05-10", "--items", "huur",
        stderr="OntzorgenStarted: permit_kind: ontzorgen is for asielstatushouders (an asiel_bt "
        "or asiel_afgeleid permit); none is recorded",
    )  # fmt: skip
    record(store, "residence-permit-recorded", person, "2023-02-01",
           "--permit-kind", "regulier_gezin")  # fmt: skip
    refused(
        store, *start, person, "--on", "2023-05-10", "--items", "huur",
        stderr="OntzorgenStarted: permit_kind: ontzorgen is for asielstatushouders (an asiel_bt "
        "or asiel_afgeleid permit); the permit recorded is regulier_gezin",
    )  # fmt: skip
    record(store, "residence-permit-recorded", person, "2023-02-20", "--permit-kind", "asiel_bt")
    # no algemene bijstand, then one granted after the start
    refused(
        store, *start, person, "--on", "2023-05-10", "--items", "huur",
        stderr="OntzorgenStarted: --on (occurred_on): no algemene_bijstand benefit runs on "
        "2023-05-10: "
        "ontzorgen is paid from the benefit, so it starts while one runs (record benefit-granted "
        "--benefit-kind algemene_bijstand first)",
    )  # fmt: skip
    record(store, "benefit-granted", person, "2023-05-15", "--benefit-kind", "algemene_bijstand")
    refused(
        store, *start, person, "--on", "2023-05-10", "--items", "huur",
        stderr="OntzorgenStarted: --on (occurred_on): no algemene_bijstand benefit runs on "
        "2023-05-10 "
        "(algemene_bijstand: from 2023-05-15): ontzorgen is paid from the benefit, so it starts "
        "while one runs (record benefit-granted --benefit-kind algemene_bijstand first)",
    )  # fmt: skip
    # each item once
    refused(
        store, *start, person, "--on", "2023-05-15", "--items", "huur", "--items", "huur",
        stderr="OntzorgenStarted: --items: huur given more than once: give each item once",
    )  # fmt: skip
    warnings = record(store, "ontzorgen-started", person, "2023-05-15", "--items", "huur")
    assert "Warning: items" not in warnings  # after April 2023 no item is required
    assert kinds(store, person)[-1] == "OntzorgenStarted"


def test_the_items_a_municipality_must_pay_are_a_dated_rule(store: Traject) -> None:
    person = wi2021_asielstatushouder(store, bijstand_from="2022-03-01")
    # before April 2023 rent, energy, water and the premium are paid: one left out is flagged
    warnings = record(store, "ontzorgen-started", person, "2023-03-01",
                      "--items", "huur", "--items", "zorgverzekering")  # fmt: skip
    assert (
        "Warning: items without energie, water: ontzorgen rule set ontzorgen.2022.1 (valid from "
        "2022-01-01) has the municipality pay huur, energie, water, zorgverzekering from the "
        "benefit: recorded as given\n"
    ) in warnings
    record(store, "ontzorgen-ended", person, "2023-03-31", "--end-reason", "zelfredzaam")
    # from April 2023 (maatwerk) the municipality no longer has to pay them all
    warnings = record(store, "ontzorgen-started", person, "2023-04-01", "--items", "huur")
    assert "Warning: items" not in warnings


def test_one_ontzorgen_at_a_time_and_it_ends_with_the_benefit(store: Traject) -> None:
    person = wi2021_asielstatushouder(store, bijstand_from="2023-05-01")
    end = ("record", "ontzorgen-ended", person, "--on")
    refused(
        store, *end, "2023-06-01",
        stderr="OntzorgenEnded: person: no open ontzorgen to end: record ontzorgen-started first",
    )  # fmt: skip
    record(store, "ontzorgen-started", person, "2023-05-01", "--items", "huur")
    refused(
        store, "record", "ontzorgen-started", person, "--on", "2023-05-15", "--items", "water",
        stderr="OntzorgenStarted: person: the ontzorgen started 2023-05-01 is still open: record "
        "ontzorgen-ended first",
    )  # fmt: skip
    refused(
        store, *end, "2023-04-30",
        stderr="OntzorgenEnded: --on (occurred_on): dated 2023-04-30, before the start of "
        "2023-05-01 it "
        "follows (ontzorgen ends after it starts)",
    )  # fmt: skip
    # the benefit ends first: a reminder, and the ontzorgen cannot outlast it
    warnings = record(store, "benefit-ended", person, "2023-08-01",
                      "--benefit-kind", "algemene_bijstand")  # fmt: skip
    assert (
        "Warning: the ontzorgen started 2023-05-01 is still open: it is paid from this benefit "
        "and ends with it (record ontzorgen-ended --on 2023-08-01 or earlier)\n"
    ) in warnings
    refused(
        store, *end, "2023-08-02",
        stderr="OntzorgenEnded: --on (occurred_on): dated 2023-08-02, after the algemene_bijstand "
        "benefit it is paid from ended on 2023-08-01: ontzorgen ends with the benefit, at the "
        "latest on that day",
    )  # fmt: skip
    record(store, "ontzorgen-ended", person, "2023-08-01", "--end-reason", "bijstand_beeindigd")
    refused(
        store, *end, "2023-08-01",
        stderr="OntzorgenEnded: person: no open ontzorgen to end (the last ended on 2023-08-01): "
        "record ontzorgen-started first",
    )  # fmt: skip
    # a correction that moves the benefit's end before the ontzorgen's end is refused too
    benefit_ended = str(kinds(store, person).index("BenefitEnded") + 1)
    result = store("correct", person, benefit_ended, "--set", "occurred_on=2023-07-15",
                   "--reason", "date typo")  # fmt: skip
    assert result.exit_code == 1
    assert "OntzorgenEnded of 2023-08-01: occurred_on: dated 2023-08-01, after the " in (
        result.stderr
    )
    # a new benefit, a new ontzorgen: not inside the first, and past 6 months is flagged
    record(store, "benefit-granted", person, "2023-09-01", "--benefit-kind", "algemene_bijstand")
    refused(
        store, "record", "ontzorgen-started", person, "--on", "2023-07-01", "--items", "huur",
        stderr="OntzorgenStarted: --on (occurred_on): dated 2023-07-01, inside the ontzorgen of "
        "2023-05-01 to 2023-08-01: one ontzorgen at a time",
    )  # fmt: skip
    record(store, "ontzorgen-started", person, "2023-09-01", "--items", "huur")
    warnings = record(store, "ontzorgen-ended", person, "2024-03-15")
    assert (
        "Warning: ended 2024-03-15, after its planned end on 2024-03-01 (6 months after the "
        "start on 2023-09-01): ontzorgen beyond that is voluntary, with the person's consent\n"
    ) in warnings
