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
  without a koppeling, only once that referent is housed: on or before the member's date
  (:data:`NAREIS_AFTER_REFERENT`); a nareis housing is in the municipality of the referent's
  home on its day (:data:`NAREIS_WITH_REFERENT`);
- both hold whichever side changes: a correction or retraction on the member's stream (their
  registration's ``household_id``, a koppeling, housing, tenancy or move) must not leave one of
  their facts breaking them against the referent as the change leaves the household
  (:func:`check_member_change`); a correction or retraction of the referent's housing must not
  leave a member's fact breaking them (:func:`check_referent_change`): the members are found by
  their registrations' ``household_id``, on the streams linked to the referent
  (``traject_stream_links``, written with every registration and correction that names a
  household).

No aggregate sees both streams: the application and the batch writer check them with a reader of
the other stream, which notes the stream it read so that an append commits only if that stream
has not changed meanwhile (a referent's housing retracted by another writer is seen).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import cast
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
from ledger.values import HousingKind, HousingRoute, as_id

NAREIS_AFTER_REFERENT = "a nareiziger joins a housed referent's household"
"""The rule a member's nareis housing, or first tenancy without a koppeling, is held to against
the referent's first housing (domain.md §2.4, hard); every refusal of it ends with it, as does
its entry in docs/rules.md."""
NAREIS_WITH_REFERENT = (
    "a nareiziger is housed with the referent, in the municipality of the referent's home"
)
"""The rule a member's nareis housing is held to against the referent's home on its day
(domain.md §2.3 H.32); every refusal of it ends with it, as does its entry in docs/rules.md."""


@dataclass(frozen=True)
class HouseholdRule:
    """A hard rule between a household member's housing and the referent's: ``rule`` is the
    sentence every refusal of it ends with (and its name in docs/rules.md, generated from
    :data:`HOUSEHOLD_RULES`)."""

    rule: str
    source: str
    holds: str


HOUSEHOLD_RULES = (
    HouseholdRule(
        NAREIS_AFTER_REFERENT,
        "§2.4 (hard): nareizigers skip the koppeling and link to a housed referent's household",
        "a member's nareis housing, and first tenancy signed without a koppeling, is dated on or "
        "after the referent's first housing",
    ),
    HouseholdRule(
        NAREIS_WITH_REFERENT,
        "§2.3 H.32: the nareiziger is housed with the referent",
        "a member's nareis housing is in the municipality of the referent's home on its day "
        "(of the referent's latest housing on or before it)",
    ),
)
"""The household housing rules (a refusal ends with the rule; docs/rules.md lists them)."""
HOUSEHOLD_RULES_NOTE = (
    "Each is held on every path (traject record, correct, retract and import): when the "
    "member's housing or tenancy is recorded or corrected; when the member's registration "
    "(household_id: joining a household), koppeling, housing, tenancy or move is corrected or "
    "retracted; and when the referent's housing is corrected or retracted. A refusal names the "
    "field (household_id, changes, target_version, occurred_on, municipality) and ends with the "
    "rule. A member's fact that broke the rule before the change does not block it."
)

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
    check_member_change(aggregate, event, read)


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
            f"the household's referent {household} is not housed: {NAREIS_AFTER_REFERENT} "
            "(record the referent's housing first)",
        )
    if on < first:
        raise RuleViolationError(
            type(event).__name__,
            "occurred_on",
            f"dated {on}, before the housing of the household's referent {household} on "
            f"{first}: {NAREIS_AFTER_REFERENT}",
        )
    home = home_on(housed, on)
    if isinstance(event, ev.Housed) and event.municipality != home:
        raise RuleViolationError(
            "Housed",
            "municipality",
            f"housed by nareis in {event.municipality}, but the home of the household's "
            f"referent {household} was in {home} on {on}: {NAREIS_WITH_REFERENT}",
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
    ``aggregate``, must not leave a member of their household resting on a housing the
    referent no longer has: a member's nareis housing, or first tenancy without a koppeling,
    dated before the referent's first housing (or the referent not housed at all), or a nareis
    housing in another municipality than the referent's home on its day. Members are read only
    when the change moves a housing's date or municipality; a member's fact that already broke
    the rule before the change does not block it.

    Raises:
        RuleViolationError: field ``changes`` (a correction) or ``target_version`` (a
            retraction), naming each member's fact that would break.
    """
    if not isinstance(aggregate, Trajectory) or not isinstance(
        event, ev.EventCorrected | ev.EventRetracted
    ):
        return
    if not isinstance(aggregate.effective.get(event.target_version), ev.Housed):
        return
    homes_before = aggregate.state.housed_in
    homes_after = replayed(changed(aggregate, event), aggregate.id)[0].state.housed_in
    if list(map(_day, homes_after)) == list(map(_day, homes_before)):
        return  # the same homes on the same days (a kind of dwelling corrected): as they were
    early: list[str] = []
    elsewhere: list[str] = []
    for member in members(aggregate.id):
        if not isinstance(member, Trajectory) or member.state.household_id != aggregate.id:
            continue
        resting = replayed(member.effective, member.id)[1]
        already = set(_conflicts(resting, homes_before))
        for (version, rule), fact in _conflicts(resting, homes_after).items():
            if (version, rule) in already:
                continue
            item = f"{kind_name(type(fact))} v{version} of {member.id} on {fact.occurred_on}"
            if rule == NAREIS_AFTER_REFERENT:
                early.append(item)
            else:
                home = home_on(homes_after, fact.occurred_on)
                elsewhere.append(
                    f"{item} in {fact.municipality}, where the referent's home was then in {home}"
                )
    field = "changes" if isinstance(event, ev.EventCorrected) else "target_version"
    if early:
        first = min((on for _, _, on in homes_after), default=None)
        raise RuleViolationError(
            kind_name(type(event)),
            field,
            f"{_housed_after(first)}, but the household's members rest on an earlier housing: "
            f"{', '.join(early)}: {NAREIS_AFTER_REFERENT} {FIX_MEMBER}",
        )
    if elsewhere:
        raise RuleViolationError(
            kind_name(type(event)),
            field,
            f"the household's members rest on the referent's home: {'; '.join(elsewhere)}: "
            f"{NAREIS_WITH_REFERENT} {FIX_MEMBER}",
        )


def check_member_change(
    aggregate: StreamAggregate, event: ev.TrajectEvent, read: PersonRead
) -> None:
    """A correction or retraction on a household member's own stream, about to be appended
    to ``aggregate``, must not leave one of their facts resting on the referent's housing
    against the rules: their registration's household corrected to another referent (housed
    only later, or elsewhere on the day of their nareis housing), or a koppeling, housing or
    move retracted or moved so that a tenancy becomes a first tenancy without a koppeling. The
    referent (after the change) is read only when such a fact rests on them; one that broke
    the rule already, in the same household, does not block the change.

    Raises:
        RuleViolationError: field ``household_id`` of ``PersonRegistered`` (a household
            corrected), else ``changes`` (a correction) or ``target_version`` (a retraction),
            naming the member's fact that would break.
    """
    if not isinstance(aggregate, Trajectory) or not isinstance(
        event, ev.EventCorrected | ev.EventRetracted
    ):
        return
    target = aggregate.effective.get(event.target_version)
    if type(target) not in RESTING_ON:
        return
    after, resting = replayed(changed(aggregate, event), aggregate.id)
    household = after.state.household_id
    if household is None or household == aggregate.id or not resting:
        return
    referent = read(household)
    homes = referent.state.housed_in if isinstance(referent, Trajectory) else []
    already: set[tuple[int, str]] = set()
    if aggregate.state.household_id == household:
        already = set(_conflicts(replayed(aggregate.effective, aggregate.id)[1], homes))
    broken = [(key, fact) for key, fact in _conflicts(resting, homes).items() if key not in already]
    if not broken:
        return
    (version, rule), fact = broken[0]
    item = f"{kind_name(type(fact))} v{version} of {aggregate.id} on {fact.occurred_on}"
    if rule == NAREIS_AFTER_REFERENT:
        first = min((on for _, _, on in homes), default=None)
        housed = "not housed" if first is None else f"first housed on {first}"
        text = f"{item} would rest on the housing of the household's referent {household}, {housed}"
    else:
        home = home_on(homes, fact.occurred_on)
        text = (
            f"{item} in {fact.municipality} would rest on the home of the household's referent "
            f"{household}, then in {home}"
        )
    if isinstance(target, ev.PersonRegistered) and isinstance(event, ev.EventCorrected):
        kind, field = "PersonRegistered", "household_id"
    else:
        kind = kind_name(type(event))
        field = "changes" if isinstance(event, ev.EventCorrected) else "target_version"
    raise RuleViolationError(kind, field, f"{text}: {rule} {FIX_MEMBER}")


FIX_MEMBER = "(correct or retract the member's facts first)"
RESTING_ON = frozenset(
    {
        ev.PersonRegistered,
        ev.Housed,
        ev.TenancySigned,
        ev.CoaLinked,
        ev.CoaLinkWithdrawn,
        ev.MovedOut,
    }
)
"""The facts whose change can change what a member's facts rest on: the household, the
member's housings and tenancies, and the koppeling a tenancy may go through instead."""
Home = tuple[str, HousingKind, date]
"""A housing as the person state keeps it: municipality, kind of dwelling, day."""


def _day(home: Home) -> tuple[date, str]:
    return home[2], home[0]


def home_on(homes: list[Home], on: date) -> str | None:
    """The municipality of the person's home on ``on``: of their latest housing on or before
    it (of two on one day, the one recorded last); None before the first."""
    found: Home | None = None
    for home in homes:
        if home[2] <= on and (found is None or home[2] >= found[2]):
            found = home
    return None if found is None else found[0]


def changed(
    aggregate: StreamAggregate, event: ev.EventCorrected | ev.EventRetracted
) -> dict[int, ev.TrajectEvent]:
    """The stream's effective events as ``event`` would leave them."""
    effective = dict(aggregate.effective)
    version = event.target_version
    if isinstance(event, ev.EventRetracted):
        effective.pop(version, None)
    elif version in effective:
        effective[version] = corrected_event(effective[version], event)
    return effective


def replayed(
    effective: dict[int, ev.TrajectEvent], stream_id: UUID
) -> tuple[Trajectory, list[tuple[int, ev.Housed | ev.TenancySigned]]]:
    """A person stream of the effective events ``effective``, and the facts on it that rest on
    the referent's housing: each nareis housing, and each first tenancy signed without a
    koppeling (with the version of each)."""
    stream = Trajectory(stream_id)
    resting: list[tuple[int, ev.Housed | ev.TenancySigned]] = []
    for version in sorted(effective):
        fact = effective[version]
        s = stream.state
        nareis = isinstance(fact, ev.Housed) and fact.route is HousingRoute.NAREIS
        first_tenancy = isinstance(fact, ev.TenancySigned) and not (s.active_link or s.housed_in)
        if nareis or first_tenancy:
            resting.append((version, cast("ev.Housed | ev.TenancySigned", fact)))
        stream.evolve(fact)
    return stream, resting


def _conflicts(
    resting: list[tuple[int, ev.Housed | ev.TenancySigned]], homes: list[Home]
) -> dict[tuple[int, str], ev.Housed | ev.TenancySigned]:
    """The member's facts that break a rule against the referent's ``homes``, by (version,
    rule): dated before the first home, or a nareis housing elsewhere than the home of its
    day."""
    first = min((on for _, _, on in homes), default=None)
    found: dict[tuple[int, str], ev.Housed | ev.TenancySigned] = {}
    for version, fact in resting:
        if first is None or fact.occurred_on < first:
            found[version, NAREIS_AFTER_REFERENT] = fact
        elif isinstance(fact, ev.Housed) and fact.municipality != home_on(homes, fact.occurred_on):
            found[version, NAREIS_WITH_REFERENT] = fact
    return found


def _housed_after(first: date | None) -> str:
    if first is None:
        return "the referent would no longer be housed"
    return f"the referent would be housed first on {first}"
