"""The synthetic generator: reproducible, and its lines follow the life course of domain.md §2."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import rules
from ledger.synthetic import Generator, PersonPlan, Settings, generate, synthetic_bsn
from ledger.values import bsn_is_valid

UNTIL = date(2026, 6, 30)
FULL = Settings(
    municipalities=4,
    persons=120,
    years=7,
    seed=11,
    start_year=2020,
    until=UNTIL,
    recorded_at=True,
    corrections=True,
    person_ids=True,
)
WI2021_ONLY = {
    "broad-intake-started",
    "broad-intake-completed",
    "pip-adopted",
    "learning-route-started",
    "map-completed",
    "downgraded-to-a2",
    "ontzorgen-started",
    "pip-objection-filed",
    "z-route-final-interview-held",
}


def dump(config: Settings) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in generate(config))


def streams(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Person lines grouped by external key, in file order."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if "person" in record:
            grouped[record["person"]].append(record)
    return grouped


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_bytes() -> None:
    first = dump(FULL)
    assert first == dump(FULL)
    other = dump(Settings(**{**FULL.__dict__, "seed": 12}))
    assert other != first
    assert len(first.splitlines()) > 20 * FULL.persons


def test_asking_for_n_persons_gives_n_registrations_with_valid_distinct_bsns() -> None:
    records = list(generate(FULL))
    registrations = [r for r in records if r["kind"] == "person-registered"]

    assert len(registrations) == FULL.persons
    bsns = [r["bsn"] for r in registrations]
    assert len(set(bsns)) == len(bsns)
    assert all(bsn_is_valid(b) for b in bsns)
    assert len({r["person_id"] for r in registrations}) == FULL.persons
    # nareizigers are linked both ways: household_id to the referent, member_person_id back
    ids = {r["person_id"]: r for r in registrations}
    arrived = [r for r in records if r["kind"] == "nareiziger-arrived" and "member_person_id" in r]
    assert arrived
    for line in arrived:
        member = ids[line["member_person_id"]]
        referent = next(r for r in registrations if r["person"] == line["person"])
        assert member["household_id"] == referent["person_id"]
        assert member["occurred_on"] == line["occurred_on"]
    # every BSN the generator can make passes the 11-proef and none repeats
    made = [synthetic_bsn(i) for i in range(0, 1_000_000, 997)]
    assert all(bsn_is_valid(b) for b in made) and len(set(made)) == len(made)


def test_without_the_newer_import_features_no_line_uses_them() -> None:
    plain = Settings(persons=40, seed=3, start_year=2021, years=3, until=UNTIL)
    records = list(generate(plain))
    assert not any("recorded_at" in r or "person_id" in r for r in records)
    assert not any(r["kind"].startswith("event-") for r in records)


def check_life_course(records: list[dict[str, Any]], until: date) -> None:
    """The ordering constraints of domain.md §2.4 as the generator promises them."""
    for key, lines in streams(records).items():
        assert lines[0]["kind"] == "person-registered", key
        seen: list[str] = []
        open_outflows: set[str] = set()
        enrolled: bool | None = None
        duty_start: date | None = None
        recorded: list[str] = []
        nareiziger = False
        coaches: set[tuple[str, str]] = set()
        regie: dict[str, Any] = {}
        for line in lines:
            kind = line["kind"]
            assert date.fromisoformat(line.get("occurred_on", until.isoformat())) <= until
            if "recorded_at" in line:
                recorded.append(line["recorded_at"])
            if kind == "residence-permit-recorded" and line["permit_kind"] == "asiel_afgeleid":
                nareiziger = True
            if kind == "coa-linked":
                assert not nareiziger, f"{key}: a nareiziger is not linked by COA"
            if kind == "tenancy-signed":
                assert "coa-linked" in seen, f"{key}: tenancy before koppeling"
            if kind == "housed" and line["route"] == "koppeling":
                assert "coa-linked" in seen and "tenancy-signed" in seen, key
            if kind == "housed" and line["route"] == "nareis":
                assert nareiziger, key
            if kind == "inburgering-duty-established":
                duty_start = date.fromisoformat(line["duty_start"])
            if kind in WI2021_ONLY:
                assert duty_start is not None and duty_start >= date(2022, 1, 1), (key, kind)
            if kind == "pip-adopted":
                assert "broad-intake-started" in seen, f"{key}: PIP before the intake"
                assert line["version"] == 1 + seen.count("pip-adopted")
            if kind == "outflow-started":
                open_outflows.add(line["outflow_type"])
            if kind == "outflow-ended":
                assert line["outflow_type"] in open_outflows, key
                open_outflows.discard(line["outflow_type"])
            if kind == "participant-enrolled":
                assert enrolled is None, f"{key}: enrolled twice"
                enrolled = True
            if kind in ("service-delivered", "participant-feedback-recorded"):
                assert enrolled is True, f"{key}: {kind} outside the enrolment"
            if kind == "participant-exited":
                enrolled = False
            if kind == "coach-assigned":
                coaches.add((line["staff_id"], line["role"]))
            if kind == "coach-unassigned":
                assert (line["staff_id"], line["role"]) in coaches, f"{key}: not assigned"
                coaches.discard((line["staff_id"], line["role"]))
            if kind == "social-guidance-started" and line["year_no"] == 2:
                assert "social-guidance-started" in seen, key
            check_regie(key, line, seen, regie)
            seen.append(kind)
        if "deceased" in seen:
            assert seen[-1] == "deceased" or all(
                k.startswith("event-") for k in seen[seen.index("deceased") + 1 :]
            ), key
        assert recorded == sorted(recorded), f"{key}: recorded times out of order"
    check_households(records)


def check_regie(key: str, line: dict[str, Any], seen: list[str], state: dict[str, Any]) -> None:
    """Ontzorgen, objections against the PIP, the Z-route eindgesprek and loan reclaims follow
    what they depend on, and end within their terms (so that the import warns of none)."""
    kind, on = line["kind"], date.fromisoformat(line.get("occurred_on", "2000-01-01"))
    benefit = line.get("benefit_kind") == "algemene_bijstand"
    if kind == "residence-permit-recorded" and line["permit_kind"].startswith("asiel"):
        state["asylum"] = True
    elif kind == "benefit-granted" and benefit:
        state["bijstand"] = True
    elif kind == "benefit-ended" and benefit:
        assert "ontzorgen" not in state, f"{key}: the benefit ends before its ontzorgen"
        state.pop("bijstand", None)
    elif kind == "pip-adopted":
        state["leerroute"] = line["leerroute"]
    elif kind == "ontzorgen-started":
        assert state.get("asylum") and state.get("bijstand"), f"{key}: ontzorgen without both"
        assert "ontzorgen" not in state, f"{key}: two ontzorgen at once"
        state["ontzorgen"] = on
    elif kind == "ontzorgen-ended":
        started = state.pop("ontzorgen")
        assert started <= on <= rules.ontzorgen_planned_end(started), key
    elif kind == "pip-objection-filed":
        assert "pip-adopted" in seen and "objection" not in state, key
        state["objection"] = on
    elif kind == "pip-objection-decided":
        filed = state.pop("objection")
        assert filed <= on <= rules.objection_decision_latest(filed), key
    elif kind == "z-route-final-interview-held":
        assert state.get("leerroute") == "Z" and "inburgering-duty-fulfilled" not in seen, key
        assert not state.get("z_done"), f"{key}: an eindgesprek after the route was completed"
        state["z_done"] = line["outcome"] == "voldaan"
    elif kind == "duo-loan-reclaimed":
        assert "duo-loan-granted" in seen and "duo-loan-waived" not in seen, key
        assert on < date(2023, 3, 1), f"{key}: reclaimed while collection was paused"


def check_households(records: list[dict[str, Any]]) -> None:
    """A household member housed by route nareis joins a referent housed before, on or before
    the member's housing date (domain.md §2.4, hard)."""
    housed: dict[str, date] = {}  # the first housing of each person id, as the file has it
    households: dict[str, str] = {}  # a member's referent, by external key
    ids: dict[str, str] = {}  # person id by external key
    for line in records:
        key = line.get("person")
        if line["kind"] == "person-registered" and "person_id" in line:
            ids[key] = line["person_id"]
            if "household_id" in line and line["household_id"] != line["person_id"]:
                households[key] = line["household_id"]
        if line["kind"] != "housed" or key not in ids:
            continue
        on = date.fromisoformat(line["occurred_on"])
        if line["route"] == "nareis" and key in households:
            referent = housed.get(households[key])
            assert referent is not None and referent <= on, f"{key}: referent not housed"
        housed.setdefault(ids[key], on)


def test_every_person_follows_the_life_course() -> None:
    check_life_course(list(generate(FULL)), UNTIL)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), start_year=st.integers(2012, 2024))
def test_the_life_course_holds_for_any_seed_and_start_year(seed: int, start_year: int) -> None:
    config = Settings(
        persons=25, seed=seed, start_year=start_year, years=3, until=UNTIL, recorded_at=True,
        corrections=True, person_ids=True, municipalities=2,
    )  # fmt: skip
    check_life_course(list(generate(config)), min(UNTIL, date(start_year + 2, 12, 31)))


def test_a_nareiziger_arriving_before_the_referent_is_housed_waits_for_the_housing() -> None:
    # seed 27 has a family member with a permit days before the referent moves in
    config = Settings(
        persons=40, seed=27, start_year=2020, years=3, until=UNTIL, recorded_at=True,
        corrections=True, person_ids=True, municipalities=2,
    )  # fmt: skip
    check_households(list(generate(config)))


def test_regimes_follow_the_duty_start() -> None:
    records = list(generate(FULL))
    by_person = streams(records)
    regimes = set()
    for lines in by_person.values():
        duty = next((x for x in lines if x["kind"] == "inburgering-duty-established"), None)
        if duty is None:
            continue
        regime = rules.derive_regime(date.fromisoformat(duty["duty_start"])).value
        regimes.add(regime)
        kinds = {x["kind"] for x in lines}
        if regime == "wi2013":
            assert not kinds & WI2021_ONLY
        else:
            assert "duo-loan-granted" not in kinds and "ona-completed" not in kinds
    assert regimes == {"wi2013", "wi2021"}  # 2020-2026 spans the change of 2022


def test_a_realistic_share_is_recorded_late_and_a_few_facts_are_corrected() -> None:
    records = [r for r in generate(FULL) if "person" in r and "occurred_on" in r]
    limit = rules.current_rules().late_recording_days

    def delay(record: dict[str, Any]) -> timedelta:
        recorded = datetime.fromisoformat(record["recorded_at"]).date()
        return recorded - date.fromisoformat(record["occurred_on"])

    late = [r for r in records if delay(r) > timedelta(days=limit)]
    assert 0.01 < len(late) / len(records) < 0.15
    fixes = [r for r in generate(FULL) if r["kind"].startswith("event-")]
    assert {r["kind"] for r in fixes} == {"event-corrected", "event-retracted"}
    keys = {r.get("idempotency_key") for r in generate(FULL)}
    assert all(fix["target"] in keys for fix in fixes)


def test_the_life_course_has_its_variety() -> None:
    records = list(generate(FULL))
    kinds = {r["kind"] for r in records}
    for kind in (
        "taakstelling-set", "project-registered", "coa-linked", "housed", "brp-registered",
        "pip-adopted", "learning-route-started", "exam-result-recorded", "downgraded-to-a2",
        "pvt-completed", "ladder-assessed", "outflow-started", "outflow-ended", "moved-out",
        "help-request-recorded", "family-reunification-applied", "nareiziger-arrived",
        "participant-enrolled", "service-delivered", "participant-feedback-recorded",
        "coach-unassigned", "benefit-ended", "term-extended", "long-term-residence-applied",
        "language-level-assessed", "ontzorgen-started", "ontzorgen-ended", "pip-objection-filed",
        "pip-objection-decided", "z-route-final-interview-held",
    ):  # fmt: skip
        assert kind in kinds, kind
    roles = {r["role"] for r in records if r["kind"] == "coach-assigned"}
    assert roles == {"regisseur", "coach", "mb", "klantmanager", "taalcoach", "arbeidscoach"}
    benefits = {r["benefit_kind"] for r in records if r["kind"] == "benefit-granted"}
    assert "bijzondere" in benefits
    components = {r["component"] for r in records if r["kind"] == "course-hours-reported"}
    assert components == {"NT2", "KNM", "participatie", "taalschakel"}
    outflows = {r["outflow_type"] for r in records if r["kind"] == "outflow-started"}
    assert outflows == {"werk_volledig", "werk_gedeeltelijk", "onbetaald_vrijwilligerswerk",
                        "onderwijs"}  # fmt: skip
    rungs = defaultdict(list)
    for r in records:
        if r["kind"] == "ladder-assessed":
            rungs[r["person"]].append(r["rung"])
    assert any(any(b < a for a, b in itertools.pairwise(rs)) for rs in rungs.values())
    retakes = [r for r in records if r["kind"] == "exam-result-recorded" and r["attempt_no"] > 1]
    assert retakes


def test_ten_years_give_about_62_facts_a_person_and_the_rare_facts_of_long_histories() -> None:
    """National scale is 400,000 persons and about 25 million facts over ten years."""
    config = Settings(
        municipalities=342, persons=1500, years=10, seed=1, start_year=2016, until=UNTIL,
        recorded_at=True, corrections=True, person_ids=True,
    )  # fmt: skip
    records = list(generate(config))
    person_lines = [r for r in records if "person" in r]
    assert 57 < len(person_lines) / config.persons < 67
    kinds = {r["kind"] for r in person_lines}
    assert {"naturalisation-granted", "fine-imposed", "fine-withdrawn"} <= kinds
    assert "duo-loan-reclaimed" in kinds  # Wi2013 terms that ended before March 2023
    check_life_course(records, UNTIL)


def test_an_ontzorgen_still_running_ends_with_the_benefit_when_work_ends_it() -> None:
    # domain.md: ontzorgen ends with the benefit. The generated ladders reach full-time work
    # months after the planned six, so the generated lines seldom show it: a plan by hand
    granted, work = date(2023, 3, 1), date(2023, 5, 15)
    p = PersonPlan("C-1", "GM0622")
    p.add("benefit-granted", granted, benefit_kind="algemene_bijstand")
    p.add("outflow-started", work, outflow_type="werk_volledig", benefit_after="beeindigd")
    p.add("benefit-ended", work, benefit_kind="algemene_bijstand")

    Generator(FULL).ontzorgen(random.Random(1), p, granted, UNTIL)

    # in the order the lines are written: by date, same-day facts in the plan's order
    facts = sorted(p.facts, key=lambda f: f.on)
    assert [f.kind for f in facts] == [
        "benefit-granted",
        "ontzorgen-started",
        "outflow-started",
        "ontzorgen-ended",  # before the benefit's end that day, as the import needs
        "benefit-ended",
    ]
    assert (facts[3].on, facts[3].fields) == (work, {"end_reason": "bijstand_beeindigd"})
