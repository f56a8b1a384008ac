"""A household's referent, read by rules on another stream than the referent's.

A person registered into a household (``PersonRegistered.household_id``: the referent's person
id) opens the nareis route to housing: a tenancy without a koppeling, ``housed --route nareis``,
counted for the taakstelling when the rule set counts nareizigers. Two rules read the referent's
stream (domain.md §2.4, hard: "nareizigers link to a housed referent's household"):

- the referent must be a person registered in this ledger (or the person themself, heading
  their own household), both when a person is registered and when a registration's household is
  corrected;
- a member of another person's household is housed through nareis, and signs a first tenancy
  without a koppeling, only once that referent is housed: on or before the member's date.

No aggregate sees both streams: the application and the batch writer check them with a reader of
the other stream, which notes the stream it read so that an append commits only if that stream
has not changed meanwhile (a referent's housing retracted by another writer is seen).
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from ledger import events as ev
from ledger.aggregates import StreamAggregate, Trajectory, as_it_stood, corrected_event
from ledger.errors import RuleViolationError
from ledger.values import HousingRoute

PersonRead = Callable[[UUID], StreamAggregate | None]
"""A stream as a check reads it (None: no such stream), noted for the append."""


def check_household(aggregate: StreamAggregate, event: ev.TrajectEvent, read: PersonRead) -> None:
    """The referent rules for ``event``, about to be appended to ``aggregate``: a registration
    or a correction of its ``household_id``; a nareis housing, a tenancy of a household member,
    or a correction of either.

    Raises:
        RuleViolationError: field ``household_id`` of ``PersonRegistered`` (no such referent);
            ``route`` of ``Housed`` or ``person`` of ``TenancySigned`` (the referent is not
            housed); ``occurred_on`` (dated before the referent's housing).
    """
    if isinstance(event, ev.EventCorrected):
        target = aggregate.effective.get(event.target_version)
        if isinstance(target, ev.PersonRegistered):
            _check_referent(aggregate, event.changes.get("household_id"), read)
        elif isinstance(target, ev.Housed | ev.TenancySigned):
            version = event.target_version  # the tenancy's koppeling is of before it
            revised = corrected_event(target, event)
            _check_housed_referent(
                aggregate, revised, read, lambda: as_it_stood(aggregate, version)
            )
    elif isinstance(event, ev.PersonRegistered):
        _check_referent(aggregate, event.household_id, read)
    else:
        _check_housed_referent(aggregate, event, read, lambda: aggregate)


def _check_referent(aggregate: StreamAggregate, given: object, read: PersonRead) -> None:
    """A registration's household is its own or a registered person's."""
    try:
        household = None if given is None else UUID(str(given))
    except ValueError:
        return  # not an id: the registration's model refuses the correction, naming it
    if household is None or household == aggregate.id:
        return
    referent = read(household)
    if isinstance(referent, Trajectory) and referent.state.registered:
        return
    raise unknown_referent(household)


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
