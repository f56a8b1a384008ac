"""AMIF indicator sets as versioned rule parameters, and the evidence pack's proof builder."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.amif_rules import (
    INDICATOR_SETS,
    Indicator,
    indicator_set,
    indicator_set_by_version,
)
from ledger.evidence import ProofBuilder, by_leaf
from ledger.integrity import inclusion_proof, root, verify_inclusion
from ledger.values import Fund, ServiceCategory


def test_each_fund_has_its_own_indicator_set():
    assert indicator_set("AMIF_2127", date(2021, 1, 1)).indicator("O.2.3").rule == "participants"
    assert indicator_set(Fund.AMIF_1420, date(2021, 6, 1)).version == "AMIF_1420.2026.2"
    # the set appended later with the same start replaces the earlier one for new figures;
    # the earlier stays for reproducing what was counted with it
    assert indicator_set_by_version("AMIF_2127.2026.1").indicator("O.2.3.1").rule == "service"
    assert (
        indicator_set("AMIF_2127", date(2021, 1, 1)).indicator("O.2.3.1").rule
        == "participant_service"
    )
    with pytest.raises(KeyError):
        indicator_set("AMIF_2127", date(2020, 12, 31))  # before the 2021-2027 period


def test_unverified_wording_is_marked_and_versions_are_unique():
    versions = [s.version for s in INDICATOR_SETS]
    assert len(set(versions)) == len(versions)
    assert indicator_set_by_version(versions[-1]) is INDICATOR_SETS[-1]
    # domain.md §3.3-3.4: the wording of both periods is [U]
    assert all(not i.verified for s in INDICATOR_SETS for i in s.indicators)


def test_a_mapped_activity_type_decides_the_category():
    rules = indicator_set("AMIF_2127", date(2021, 1, 1))
    assert rules.category_of("language_course", "taalcafe") == "other"
    assert rules.category_of("other", " Werkcoach ") == "personal_professional_guidance"
    # an unmapped or missing activity type keeps the recorded category
    assert rules.category_of("civic_orientation", "fietsles-extra") == "civic_orientation"
    assert rules.category_of("civic_orientation", None) == "civic_orientation"


def test_an_indicator_needs_a_known_counting_rule():
    with pytest.raises(ValueError, match="unknown counting rule"):
        Indicator("X.1", "x", "x", "guesswork")
    with pytest.raises(ValueError, match="service category goes with a service rule"):
        Indicator("X.2", "x", "x", "participants", ServiceCategory.OTHER)


@given(size=st.integers(min_value=1, max_value=70), data=st.data())
def test_the_proof_builder_gives_the_rfc_6962_proofs(size: int, data: st.DataObject):
    leaves = [hashlib.sha256(str(i).encode()).digest() for i in range(size)]
    builder = ProofBuilder(leaves)
    assert builder.root() == root(leaves)
    indices = data.draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=5))
    for index in indices:
        path = builder.proof(index)
        assert path == inclusion_proof(leaves, index, size)
        assert verify_inclusion(leaves[index], index, size, path, builder.root())


def test_pack_tables_name_facts_by_leaf_index():
    data = {"indicators": [{"code": "O.2.3", "facts": ["s:2", "s:1", "t:9"]}], "n": 1}
    assert by_leaf(data, {"s:1": 4, "s:2": 0}) == {
        "indicators": [{"code": "O.2.3", "facts": [0, 4, "t:9"]}],  # unproven refs stay
        "n": 1,
    }
