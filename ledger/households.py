"""A household's referent, a rule that reads another stream.

A person registered into a household (``PersonRegistered.household_id``: the referent's person
id) opens the nareis route to housing: a tenancy without a koppeling, ``housed --route nareis``,
counted for the taakstelling when the rule set counts nareizigers. So the referent must be a
person registered in this ledger (or the person themself, heading their own household), both
when a person is registered and when a registration's household is corrected. No aggregate sees
both streams: the application and the batch writer check it with a reader of the other stream.
A registered person's stream is never removed (an erasure keeps it), so the read needs no guard.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from ledger import events as ev
from ledger.aggregates import StreamAggregate
from ledger.errors import RuleViolationError

Registered = Callable[[UUID], bool]
"""Whether a stream id is that of a registered person, as a check reads it."""


def check_household(
    aggregate: StreamAggregate, event: ev.TrajectEvent, registered: Registered
) -> None:
    """The referent rule for ``event``, about to be appended to ``aggregate``: a registration,
    or a correction of a registration's ``household_id``.

    Raises:
        RuleViolationError: field ``household_id`` of ``PersonRegistered``.
    """
    if isinstance(event, ev.PersonRegistered):
        household = event.household_id
    elif isinstance(event, ev.EventCorrected) and isinstance(
        aggregate.effective.get(event.target_version), ev.PersonRegistered
    ):
        given = event.changes.get("household_id")
        try:
            household = None if given is None else UUID(str(given))
        except ValueError:
            return  # not an id: the registration's model refuses the correction, naming it
    else:
        return
    if household is None or household == aggregate.id or registered(household):
        return
    raise unknown_referent(household)


def unknown_referent(reference: object) -> RuleViolationError:
    """The refusal of a household whose referent (an id, or a reference to one) is no person
    registered in this ledger."""
    return RuleViolationError(
        "PersonRegistered",
        "household_id",
        f"no person {reference} in this ledger: the household is its referent's person id "
        "(register the referent first)",
    )
