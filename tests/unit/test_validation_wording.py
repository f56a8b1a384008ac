"""pydantic's complaints about an event, in traject's words: the field and the rule."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, Field, ValidationError, field_validator

from ledger.errors import validation_problems


class Sample(BaseModel):
    code: Annotated[str, Field(min_length=2, pattern=r"^[A-Z]+$")] = "AB"
    count: Annotated[int, Field(gt=0, lt=10)] = 1
    mapping: dict[str, int] = Field(default_factory=dict)
    label: str = "x"

    @field_validator("label")
    @classmethod
    def _not_shouting(cls, value: str) -> str:
        if value.isupper():
            msg = "must not be all capitals"
            raise ValueError(msg)
        return value


def problems(**given: object) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        Sample.model_validate(given)
    return validation_problems(info.value)


def test_the_common_complaints_name_the_rule() -> None:
    assert problems(code="A") == [("code", "at least 2 characters")]
    assert problems(code="ab") == [("code", "must match the pattern ^[A-Z]+$")]
    assert problems(count=0) == [("count", "must be more than 0")]
    assert problems(count=10) == [("count", "must be less than 10")]
    assert problems(count=None) == [("count", "required: it cannot be empty")]


def test_a_validator_s_own_message_is_kept_without_pydantic_s_prefix() -> None:
    assert problems(label="LOUD") == [("label", "must not be all capitals")]


def test_a_complaint_without_a_rule_of_ours_keeps_pydantic_s_message() -> None:
    assert problems(mapping=["not", "a", "mapping"]) == [
        ("mapping", "Input should be a valid dictionary")
    ]
