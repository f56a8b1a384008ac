"""The list of read-model versions (projections/definitions.py): every version above 1 of every
read model is listed once, and a restatement's selection of changes from it."""

from __future__ import annotations

from datetime import date

from projections import PROJECTIONS
from projections.definitions import (
    DEFINITION_CHANGES,
    DefinitionChange,
    changes_between,
    changes_since,
)


def named(changes: tuple[DefinitionChange, ...]) -> list[tuple[str, int]]:
    return [(c.read_model, c.version) for c in changes]


def test_every_version_above_1_of_every_read_model_is_listed_once() -> None:
    listed = [(c.read_model, c.version) for c in DEFINITION_CHANGES]
    assert len(listed) == len(set(listed))
    expected = {
        (name, version)
        for name, projection in PROJECTIONS.items()
        for version in range(2, projection.version + 1)
    }
    # bumping a read model's version without listing it here fails
    assert set(listed) == expected
    for change in DEFINITION_CHANGES:
        assert change.description.strip()
        # a later version is not released before an earlier one of the same read model
        earlier = [c for c in DEFINITION_CHANGES if c.read_model == change.read_model]
        assert all(c.on <= change.on for c in earlier if c.version < change.version)


def test_the_outflow_fixes_of_december_2026_are_versions_4_to_6() -> None:
    for version in (4, 5, 6):
        (change,) = [
            c for c in DEFINITION_CHANGES if (c.read_model, c.version) == ("outflow", version)
        ]
        assert change.on == date(2026, 12, 7)
        assert change.figures is True
    assert PROJECTIONS["outflow"].version == 6


def test_changes_between_are_the_versions_after_the_sealed_one_up_to_now() -> None:
    assert named(changes_between({"outflow": 3}, {"outflow": 4})) == [("outflow", 4)]
    assert named(changes_between({"outflow": 1, "ladder": 3}, {"outflow": 4, "ladder": 3})) == [
        ("outflow", 2),
        ("outflow", 3),
        ("outflow", 4),
    ]
    assert changes_between({"outflow": 4}, {"outflow": 4}) == ()
    # a seal made by a later traject (a version this one does not know) names nothing
    assert changes_between({"outflow": 5}, {"outflow": 4}) == ()
    # a read model the seal did not use is not named
    assert changes_between({"housing": 1}, {"housing": 1, "outflow": 4}) == ()


def test_changes_since_a_day_are_the_changes_of_figures_released_on_or_after_it() -> None:
    # outflow v3 (storage only) is left out; v2 was released before
    since = [("outflow", 4), ("outflow", 5), ("outflow", 6)]
    assert named(changes_since(["outflow"], date(2026, 12, 1))) == since
    # the release day itself counts: the seal may have run before the release
    assert named(changes_since(["outflow"], date(2026, 12, 7))) == since
    assert changes_since(["outflow"], date(2026, 12, 8)) == ()
    assert named(changes_since(["ladder", "outflow"], date(2026, 11, 1))) == [
        ("ladder", 2),
        ("ladder", 4),
        ("outflow", 2),
        ("outflow", 4),
        ("outflow", 5),
        ("outflow", 6),
    ]
    assert changes_since(["housing"], date(2020, 1, 1)) == ()
