"""Special-category data (GDPR Art. 9): which values an output holds, and whether it may show them.

domain.md §5.2 and §5.5 (4). Special-category values (``health_barrier``, …) are personal fields
marked ``special_category`` in the catalog: encrypted under the person's data key like every
personal field, and erased with it. A command that would show one in clear first records the read
as a ``SpecialCategoryRead`` on the person's stream, through the ordinary append (atomic, and a
leaf of the integrity log like every event), and shows the value only once that is recorded:

* only for a stated purpose (``Reading.purpose``): without one the value is withheld;
* only when the read is recorded: when the database user may not append events (the
  ``traject_auditor`` and ``traject_analyst`` roles) or the append fails, the value is withheld
  (fail closed).

A withheld value reads as ``None`` in the events shown (a correction leaves it out of its personal
changes); the rest of the output is unchanged. What became of them is a :class:`Disclosure`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from ledger import events as ev


@dataclass(frozen=True)
class Reading:
    """A read of a person's data for someone to see: the command that shows it, and why."""

    command: str
    purpose: str | None = None


class Withheld(StrEnum):
    """Why special-category values are not shown."""

    NO_PURPOSE = "no_purpose"  # no purpose was stated
    NOT_PERMITTED = "not_permitted"  # the database user may not append the record of the read
    NOT_RECORDED = "not_recorded"  # the record of the read could not be appended
    PSEUDONYMISED = "pseudonymised"  # a pseudonymised export: never shown, not even as a hash


@dataclass(frozen=True)
class Disclosure:
    """What became of the special-category values in one person's output."""

    fields: tuple[str, ...] = ()  # the special-category fields that hold a value in it
    recorded: int | None = None  # the version of the SpecialCategoryRead that records the read
    withheld: Withheld | None = None  # why the values are not shown (None: shown, or none)
    detail: str = ""  # what the store said when the read could not be recorded

    @property
    def shown(self) -> bool:
        """Whether the output shows special-category values (their read is recorded)."""
        return bool(self.fields) and self.withheld is None


def special_values(
    event: ev.TrajectEvent, target: type[ev.TrajectEvent] | None = None
) -> frozenset[str]:
    """The special-category fields that hold a value in ``event``; for a correction, those of
    its personal changes that are special-category fields of ``target``, the class of the event
    it corrects. An erased stream's personal fields read as None, so it holds none."""
    if isinstance(event, ev.EventCorrected):
        if target is None or not event.personal_changes:
            return frozenset()
        special = target.special_category_fields()
        changes = event.personal_changes.items()
        return frozenset(name for name, value in changes if name in special and value is not None)
    return frozenset(
        name for name in type(event).special_category_fields() if getattr(event, name) is not None
    )


def target_class(
    event: ev.TrajectEvent, stored: Mapping[int, ev.TrajectEvent]
) -> type[ev.TrajectEvent] | None:
    """The class of the event a correction corrects (``stored``: its stream's events by version);
    None for any other event."""
    if not isinstance(event, ev.EventCorrected):
        return None
    target = stored.get(event.target_version)
    return None if target is None else type(target)


def values_in(events: Iterable[ev.TrajectEvent]) -> tuple[str, ...]:
    """The special-category fields that hold a value in any of one stream's ``events``."""
    stored = {event.originator_version: event for event in events}
    found: set[str] = set()
    for event in stored.values():
        found |= special_values(event, target_class(event, stored))
    return tuple(sorted(found))


def withhold(event: ev.TrajectEvent, names: Collection[str]) -> ev.TrajectEvent:
    """``event`` with the values of ``names`` left out: None, or out of a correction's personal
    changes. A copy for showing only: it is never stored."""
    if not names:
        return event
    if isinstance(event, ev.EventCorrected):
        changes = event.personal_changes or {}
        kept = {name: value for name, value in changes.items() if name not in names}
        return event.model_copy(update={"personal_changes": kept or None})
    return event.model_copy(update=dict.fromkeys(names))
