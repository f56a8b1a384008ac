"""A household's facts that name other persons, checked by the ledger on every path: a
nareiziger's arrival names a registered person (``member_person_id``), and a household has one
referent (no member of another household heads one), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

import pytest
from builders import person_fields, referent_with_a_file

from ledger import events as ev
from ledger.application import Recorded
from ledger.batch import BatchWriter, Write
from ledger.errors import RuleViolationError


def register(app, **overrides) -> UUID:
    return app.register_person(**person_fields(**overrides)).stream_id


def arrive(app, referent: UUID, member: object) -> int:
    fields = {"occurred_on": date(2024, 5, 2), "relation": "partner"}
    if member is not None:
        fields["member_person_id"] = member
    return app.record(referent, ev.NareizigerArrived, **fields).version


def test_an_arrival_names_a_registered_person_other_than_the_referent(app) -> None:
    referent = referent_with_a_file(app)
    nobody = uuid4()

    with pytest.raises(RuleViolationError) as refused:
        arrive(app, referent, nobody)
    assert (refused.value.kind, refused.value.field) == ("NareizigerArrived", "member_person_id")
    assert f"no person {nobody} in this ledger" in refused.value.rule
    with pytest.raises(RuleViolationError, match=r"member_person_id: .* the referent's own"):
        arrive(app, referent, referent)
    assert len(app.timeline(referent).entries) == 2  # nothing written

    member = register(app, household_id=referent)
    version = arrive(app, referent, member)
    assert app.timeline(referent).entries[version - 1].effective.member_person_id == member


def test_a_correction_of_an_arrival_names_a_registered_person(app) -> None:
    referent = referent_with_a_file(app)
    version = arrive(app, referent, None)  # the nareiziger is not registered yet
    nobody = uuid4()

    with pytest.raises(RuleViolationError) as refused:
        app.correct(referent, version, {"member_person_id": str(nobody)}, reason="registered")
    assert (refused.value.kind, refused.value.field) == ("NareizigerArrived", "member_person_id")
    assert len(app.timeline(referent).entries) == version

    member = register(app, household_id=referent)
    app.correct(referent, version, {"member_person_id": str(member)}, reason="registered")
    # removing the id again names nobody: allowed
    app.correct(referent, version, {"member_person_id": None}, reason="wrong person")
    assert app.timeline(referent).entries[version - 1].effective.member_person_id is None


def test_a_member_of_a_household_heads_no_household_of_their_own(app) -> None:
    referent = register(app)
    member = register(app, household_id=referent)

    with pytest.raises(RuleViolationError) as refused:
        register(app, household_id=member)
    assert (refused.value.kind, refused.value.field) == ("PersonRegistered", "household_id")
    assert (
        f"person {member} is a member of the household of {referent}, not its referent"
        in refused.value.rule
    )
    # joining by a correction is refused alike; naming the referent is what is meant
    other = register(app)
    with pytest.raises(RuleViolationError, match=f"member of the household of {referent}"):
        app.correct(other, 1, {"household_id": str(member)}, reason="family")
    app.correct(other, 1, {"household_id": str(referent)}, reason="family")
    assert app.household_members(referent) == sorted([member, other])


def test_a_referent_with_members_joins_no_other_household(app) -> None:
    referent, spouse = register(app), register(app)
    member = register(app, household_id=referent)

    with pytest.raises(RuleViolationError) as refused:
        app.correct(referent, 1, {"household_id": str(spouse)}, reason="one family")
    assert (refused.value.kind, refused.value.field) == ("PersonRegistered", "household_id")
    assert f"referent of a household with members {member}" in refused.value.rule
    assert app.household_members(spouse) == []

    # the members moved to the other household first: then the referent may join it too
    app.correct(member, 1, {"household_id": str(spouse)}, reason="one family")
    app.correct(referent, 1, {"household_id": str(spouse)}, reason="one family")
    assert app.household_members(spouse) == sorted([member, referent])
    # and heading one's own household again is always allowed
    app.correct(referent, 1, {"household_id": str(referent)}, reason="own household")


def test_a_batch_sees_what_another_writer_did_to_the_persons_it_names(app) -> None:
    writer = BatchWriter(app)
    referent = referent_with_a_file(app)
    member = uuid4()
    arrival = {"occurred_on": date(2024, 5, 2), "relation": "partner"}

    # the nareiziger is not registered yet: this writer's arrival naming her is refused
    (first,) = writer.write([Write(ev.NareizigerArrived, arrival | {"member_person_id": member},
                                   subject=referent)])  # fmt: skip
    assert isinstance(first, RuleViolationError) and first.field == "member_person_id"
    # another writer registers her: this writer's next arrival naming her counts her
    register(app, person_id=member, household_id=referent)
    (second,) = writer.write([Write(ev.NareizigerArrived, arrival | {"member_person_id": member},
                                    subject=referent)])  # fmt: skip
    assert isinstance(second, Recorded)

    # this writer holds the referent as heading her own household; another writer makes her
    # a member of another household meanwhile: a registration into hers is refused
    other = register(app)
    app.correct(member, 1, {"household_id": str(other)}, reason="other family")
    app.correct(referent, 1, {"household_id": str(other)}, reason="one family")
    fields = person_fields(household_id=referent)
    (third,) = writer.write([Write(ev.PersonRegistered, fields)])
    assert isinstance(third, RuleViolationError) and third.field == "household_id"
    assert f"member of the household of {other}" in third.rule
    assert app.household_members(referent) == []


def house(app, person: UUID, on: date, route: str = "eigen", **more: object) -> int:
    fields = {"occurred_on": on, "housing_kind": "regulier", "route": route, **more}
    return app.record(person, ev.Housed, **fields).version


def test_a_batch_joining_a_household_reads_the_referent_another_writer_moved(app) -> None:
    # a person housed by nareis with a first household on 5 March
    first = register(app)
    house(app, first, date(2024, 2, 1))
    person = register(app, household_id=first)
    house(app, person, date(2024, 3, 5), route="nareis")
    # another referent, housed on 1 March; this writer holds her stream as it is now
    other = register(app)
    version = house(app, other, date(2024, 3, 1))
    writer = BatchWriter(app)
    (held,) = writer.write([Write(ev.LadderAssessed, {"occurred_on": date(2024, 3, 2),
                                                      "rung": 2, "assessor": "r.jansen"},
                                  subject=other)])  # fmt: skip
    assert isinstance(held, Recorded)
    # another writer moves her housing past the person's: joining her is then refused, as
    # the store has her, not as this writer held her
    app.correct(other, version, {"occurred_on": "2024-03-10"}, reason="typo")
    joining = Write(ev.EventCorrected, {}, subject=person, target=1,
                    changes={"household_id": str(other)}, reason="family")  # fmt: skip
    (outcome,) = writer.write([joining])
    assert isinstance(outcome, RuleViolationError), outcome
    assert (outcome.kind, outcome.field) == ("PersonRegistered", "household_id")
    assert "first housed on 2024-03-10" in outcome.rule
    assert app.household_members(other) == []
