"""A household's referent, read by rules on another stream than the referent's.

A person registered into a household (``PersonRegistered.household_id``: the referent's person
id) opens the nareis route to housing: a tenancy without a koppeling, ``housed --route nareis``,
counted for the taakstelling when the rule set counts nareizigers. These rules read another
stream than the one written (domain.md §2.4, hard: "nareizigers link to a housed referent's
household"):

- the referent must be a person registered in this ledger (or the person themself, heading
  their own household), both when a person is registered and when a registration's household is
  corrected;
- a household has one referent: the referent named is no member of another person's household,
  and a person joining another household by a correction heads no household with members;
- a nareiziger's arrival (``NareizigerArrived.member_person_id``) names a person registered in
  this ledger, other than the referent on whose stream it is, when recorded and when corrected;
- a member of another person's household is housed through nareis, and signs a first tenancy
  without a koppeling, only once that referent is housed: on or before the member's date;
- the other way round, a correction or retraction of the referent's housing must not leave a
  member's nareis housing dated before the referent's first housing (or the referent not
  housed at all): the members are found by their registrations' ``household_id``, on the
  streams linked to the referent (``traject_stream_links``, written with every registration
  and correction that names a household).

No aggregate sees both streams: the application and the batch writer check them with a reader of
the other stream, which notes the stream it read so that an append commits only if that stream
has not changed meanwhile (a referent's housing retracted by another writer is seen).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from uuid import UUID

from eventsourcing.utils import get_topic

from ledger import events as ev
from ledger.aggregates import (
    StreamAggregate,
    Trajectory,
    as_it_stood,
    corrected_event,
    kind_name,
)
from ledger.errors import RuleViolationError
from ledger.values import HousingRoute, as_id

PersonRead = Callable[[UUID], StreamAggregate | None]
"""A stream as a check reads it (None: no such stream), noted for the append."""
MembersRead = Callable[[UUID], list[StreamAggregate]]
"""The streams of the persons registered into a referent's household (the referent's own
aside), each noted for the append."""
REGISTERED_TOPIC = get_topic(ev.PersonRegistered)
MEMBERSHIP_TOPICS = (REGISTERED_TOPIC, get_topic(ev.EventCorrected))
"""The facts that make a person a member of a household: a registration, and a correction of
its ``household_id``."""


def check_household(
    aggregate: StreamAggregate, event: ev.TrajectEvent, read: PersonRead, members: MembersRead
) -> None:
    """The referent rules for ``event``, about to be appended to ``aggregate``: a registration
    or a correction of its ``household_id``; a nareiziger's arrival naming their person, or a
    correction of it; a nareis housing, a tenancy of a household member, or a correction of
    either.

    Raises:
        RuleViolationError: field ``household_id`` of ``PersonRegistered`` (no such referent,
            a referent who is a member of another household, or a referent of a household
            joining another); ``member_person_id`` of ``NareizigerArrived`` (no such person);
            ``route`` of ``Housed`` or ``person`` of ``TenancySigned`` (the referent is not
            housed); ``occurred_on`` (dated before the referent's housing).
    """
    if isinstance(event, ev.EventCorrected):
        target = aggregate.effective.get(event.target_version)
        if isinstance(target, ev.PersonRegistered) and "household_id" in event.changes:
            joins = _check_referent(aggregate, event.changes["household_id"], read)
            if joins:
                _check_no_members(aggregate, members)
        elif isinstance(target, ev.NareizigerArrived) and "member_person_id" in event.changes:
            _check_member(aggregate, event.changes["member_person_id"], read)
        elif isinstance(target, ev.Housed | ev.TenancySigned):
            version = event.target_version  # the tenancy's koppeling is of before it
            revised = corrected_event(target, event)
            _check_housed_referent(
                aggregate, revised, read, lambda: as_it_stood(aggregate, version)
            )
    elif isinstance(event, ev.PersonRegistered):
        _check_referent(aggregate, event.household_id, read)
    elif isinstance(event, ev.NareizigerArrived):
        _check_member(aggregate, event.member_person_id, read)
    else:
        _check_housed_referent(aggregate, event, read, lambda: aggregate)


def _check_referent(aggregate: StreamAggregate, given: object, read: PersonRead) -> bool:
    """A registration's household is its own or a registered person's, who heads it: not a
    member of another person's household (a household has one referent). Returns whether the
    person joins another person's household."""
    household = as_id(given)
    if household is None or household == aggregate.id:
        return False
    referent = read(household)
    if not isinstance(referent, Trajectory) or not referent.state.registered:
        raise unknown_referent(household)
    heads = referent.state.household_id
    if heads is not None and heads != household:
        raise RuleViolationError(
            "PersonRegistered",
            "household_id",
            f"person {household} is a member of the household of {heads}, not its referent: "
            "a household has one referent, and a member heads no household of their own "
            f"(name the referent {heads} as the household)",
        )
    return True


def _check_no_members(aggregate: StreamAggregate, members: MembersRead) -> None:
    """A person joining another household heads none: no one is a member of theirs."""
    named = [
        member.id
        for member in members(aggregate.id)
        if isinstance(member, Trajectory) and member.state.household_id == aggregate.id
    ]
    if named:
        raise RuleViolationError(
            "PersonRegistered",
            "household_id",
            f"person {aggregate.id} is the referent of a household with members "
            f"{', '.join(str(m) for m in named)}: a household has one referent, and a referent "
            "is a member of no other household (correct the members' household_id first)",
        )


def _check_member(aggregate: StreamAggregate, given: object, read: PersonRead) -> None:
    """A nareiziger's arrival names their own person: one registered in this ledger, not the
    referent on whose stream the arrival is."""
    member = as_id(given)
    if member is None:
        return
    if member == aggregate.id:
        raise RuleViolationError(
            "NareizigerArrived",
            "member_person_id",
            f"{member} is the referent's own person id: the arriving family member is "
            "another person (register the nareiziger, and name their person id)",
        )
    person = read(member)
    if isinstance(person, Trajectory) and person.state.registered:
        return
    raise RuleViolationError(
        "NareizigerArrived",
        "member_person_id",
        f"no person {member} in this ledger: the nareiziger's own person id, once registered "
        "(register the nareiziger first, or leave member_person_id out)",
    )


def _check_housed_referent(
    aggregate: StreamAggregate,
    event: ev.TrajectEvent,
    read: PersonRead,
    before: Callable[[], StreamAggregate],
) -> None:
    """A household member's nareis housing, or first tenancy without a koppeling, follows the
    referent's housing (on or before its date). ``before``: the member's stream as it stood
    when ``event`` was recorded (for a correction, before its target), read only for a
    member's tenancy."""
    if not isinstance(aggregate, Trajectory):
        return
    household = aggregate.state.household_id  # the household as it is now
    if household is None or household == aggregate.id:
        return  # no referent but themself: the aggregate's own rules judge the route
    if isinstance(event, ev.Housed):
        if event.route is not HousingRoute.NAREIS:
            return
        field = "route"
    elif isinstance(event, ev.TenancySigned):
        stood = before()
        s = stood.state if isinstance(stood, Trajectory) else None
        if s is None or s.active_link is not None or s.housed_in:
            return  # through the koppeling, or a move of someone housed already
        field = "person"
    else:
        return
    referent = read(household)
    housed = referent.state.housed_in if isinstance(referent, Trajectory) else []
    on = event.occurred_on
    first = min((d for _, _, d in housed), default=None)
    if first is None:
        raise RuleViolationError(
            type(event).__name__,
            field,
            f"the household's referent {household} is not housed: a nareiziger joins a housed "
            "referent's household (record the referent's housing first)",
        )
    if on < first:
        raise RuleViolationError(
            type(event).__name__,
            "occurred_on",
            f"dated {on}, before the housing of the household's referent {household} on "
            f"{first}: a nareiziger joins a housed referent's household",
        )


def unknown_referent(reference: object) -> RuleViolationError:
    """The refusal of a household whose referent (an id, or a reference to one) is no person
    registered in this ledger."""
    return RuleViolationError(
        "PersonRegistered",
        "household_id",
        f"no person {reference} in this ledger: the household is its referent's person id "
        "(register the referent first)",
    )


def household_members(events: Iterable[ev.TrajectEvent], referent: UUID) -> list[UUID]:
    """The persons registered into ``referent``'s household (the referent aside), as their
    registrations stand with every correction of ``household_id`` applied. ``events``: each
    person stream's registration and corrections, in version order (no personal field read:
    ``household_id`` is not one)."""
    household: dict[UUID, UUID | None] = {}
    for event in events:
        stream = event.originator_id
        if isinstance(event, ev.PersonRegistered):
            household[stream] = event.household_id
        elif (
            isinstance(event, ev.EventCorrected)
            and event.target_version == 1
            and "household_id" in event.changes
        ):
            given = event.changes["household_id"]
            household[stream] = None if given is None else UUID(str(given))
    return sorted(
        stream for stream, found in household.items() if found == referent and stream != referent
    )


def check_referent_change(
    aggregate: StreamAggregate, event: ev.TrajectEvent, members: MembersRead
) -> None:
    """A correction or retraction of a person's housing, about to be appended to
    ``aggregate``, that would move their first housing later (or leave them not housed) must
    not leave a member of their household housed by nareis before it: the member would have
    joined a referent not housed yet. Members are read only when the first housing moves later;
    a member's housing that already came before it does not block the change.

    Raises:
        RuleViolationError: field ``changes`` (a correction) or ``target_version`` (a
            retraction), naming each member's nareis housing that would break.
    """
    if not isinstance(aggregate, Trajectory) or not isinstance(
        event, ev.EventCorrected | ev.EventRetracted
    ):
        return
    target = aggregate.effective.get(event.target_version)
    if not isinstance(target, ev.Housed):
        return
    housings = {
        version: fact.occurred_on
        for version, fact in aggregate.effective.items()
        if isinstance(fact, ev.Housed)
    }
    first_before = min(housings.values())
    housings.pop(event.target_version)
    if isinstance(event, ev.EventCorrected):
        housings[event.target_version] = corrected_event(target, event).occurred_on
    first_after = min(housings.values(), default=None)
    if first_after is not None and first_after <= first_before:
        return  # housed as early as before: no member's housing can come before it now
    broken: list[str] = []
    for member in members(aggregate.id):
        if not isinstance(member, Trajectory) or member.state.household_id != aggregate.id:
            continue
        for version in sorted(member.effective):
            fact = member.effective[version]
            if (
                isinstance(fact, ev.Housed)
                and fact.route is HousingRoute.NAREIS
                and first_before <= fact.occurred_on
                and (first_after is None or fact.occurred_on < first_after)
            ):
                broken.append(f"{member.id} on {fact.occurred_on} (v{version})")
    if not broken:
        return
    field = "changes" if isinstance(event, ev.EventCorrected) else "target_version"
    raise RuleViolationError(
        kind_name(type(event)),
        field,
        f"{_housed_after(first_after)}, but the household's nareiziger was housed by nareis "
        f"before that: {', '.join(broken)}: a nareiziger joins a housed referent's household "
        "(correct or retract the member's housing first)",
    )


def _housed_after(first: date | None) -> str:
    if first is None:
        return "the referent would no longer be housed"
    return f"the referent would be housed first on {first}"
