"""A repeated idempotency key: the same fact is the same values, numbers compared as numbers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from builders import build, registered

from ledger import events as ev
from ledger.idempotency import correction_target, fact_differences

HOURS = {
    "occurred_on": date(2024, 3, 31),
    "period_from": date(2024, 1, 1),
    "component": "KNM",
}


def test_an_exact_number_is_the_same_however_it_is_written() -> None:
    person = registered()
    recorded = build(person, ev.CourseHoursReported, **HOURS, hours_attended=Decimal("1E+3"))

    def given(hours: str) -> list[str]:
        return fact_differences(
            recorded, ev.CourseHoursReported, {**HOURS, "hours_attended": hours}
        )

    assert given("1000") == []
    assert given("1000.00") == []
    assert given("1001") == ["hours_attended"]


def test_a_text_is_compared_as_text_even_when_it_reads_as_a_number() -> None:
    person = registered()
    recorded = build(
        person, ev.CourseHoursReported, **HOURS, hours_attended=Decimal(12), provider="1E+3"
    )
    given = {**HOURS, "hours_attended": "12", "provider": "1000"}

    assert fact_differences(recorded, ev.CourseHoursReported, given) == ["provider"]


def test_a_correction_s_new_values_are_compared_by_the_corrected_field_s_type() -> None:
    person = registered()
    person.record(build(person, ev.CourseHoursReported, **HOURS, hours_attended=Decimal(12)))
    recorded = build(
        person, ev.EventCorrected, target_version=2, reason="typo",
        changes={"hours_attended": "1E+3", "provider": "2E+1"},
    )  # fmt: skip
    target = correction_target(recorded, person.stored)
    assert target is ev.CourseHoursReported

    def given(**changes: str) -> list[str]:
        fields = {"target_version": 2, "reason": "typo", "changes": changes}
        return fact_differences(recorded, ev.EventCorrected, fields, target=target)

    assert given(hours_attended="1000", provider="2E+1") == []
    assert given(hours_attended="1000", provider="20") == ["changes"]  # a text: another one
    assert given(hours_attended="999", provider="2E+1") == ["changes"]
