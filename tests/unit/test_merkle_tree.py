"""MerkleTree: the cached levels give the same root and audit paths as the RFC 6962 definition."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.integrity import EMPTY_ROOT, MerkleTree, inclusion_proof, root, verify_inclusion


def leaves(n: int, salt: int) -> list[bytes]:
    return [hashlib.sha256(f"{salt}/{i}".encode()).digest() for i in range(n)]


@given(st.integers(min_value=1, max_value=140), st.integers(min_value=0, max_value=3))
def test_every_audit_path_equals_the_definition(n: int, salt: int) -> None:
    hashes = leaves(n, salt)
    tree = MerkleTree(hashes)
    assert tree.root() == root(hashes)
    for index in range(n):
        path = tree.inclusion_proof(index)
        assert path == inclusion_proof(hashes, index, n)
        assert verify_inclusion(hashes[index], index, n, path, tree.root())


def test_the_empty_tree_and_a_missing_leaf() -> None:
    assert MerkleTree([]).root() == EMPTY_ROOT
    tree = MerkleTree(leaves(5, 0))
    for index in (-1, 5):
        with pytest.raises(ValueError, match="no leaf"):
            tree.inclusion_proof(index)
