"""The integrity core: RFC 6962 hashing and proofs, signed checkpoints, and tamper detection."""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from dataclasses import replace
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from cryptography.exceptions import InvalidSignature
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import TrajectError
from ledger.integrity import (
    EMPTY_ROOT,
    Checkpoint,
    CheckpointBody,
    CheckpointFormatError,
    ConsistencyProof,
    InclusionProof,
    MerkleLog,
    ProofFormatError,
    RecordedLeaf,
    Row,
    consistency_proof,
    generate_signing_key,
    inclusion_proof,
    key_id,
    leaf_bytes,
    leaf_hash,
    node_hash,
    parse_checkpoint,
    public_key_pem,
    root,
    sign_checkpoint,
    verify_checkpoint_signature,
    verify_consistency,
    verify_inclusion,
    verify_log,
)

PRIVATE, PUBLIC = generate_signing_key()
OTHER_PRIVATE, OTHER_PUBLIC = generate_signing_key()


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH, written from the definition (recursive split at a power of two)."""
    n = len(leaves)
    if n == 0:
        return sha(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return sha(b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:]))


def distinct_leaves(n: int, salt: int = 0) -> list[bytes]:
    return [sha(b"\x00" + struct.pack(">QQ", salt, i)) for i in range(n)]


def flip(data: bytes, position: int) -> bytes:
    position %= len(data)
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


# --- hashing ------------------------------------------------------------------------------------

# the RFC 6962 reference inputs used by the certificate-transparency implementations' tests
RFC6962_INPUTS = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
RFC6962_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_the_empty_tree_root_is_the_hash_of_the_empty_string():
    assert root([]) == EMPTY_ROOT
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert MerkleLog().root() == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_the_rfc6962_reference_roots(size):
    leaves = [sha(b"\x00" + bytes.fromhex(data)) for data in RFC6962_INPUTS[:size]]
    assert root(leaves).hex() == RFC6962_ROOTS[size - 1]
    log = MerkleLog()
    log.extend(leaves)
    assert log.root().hex() == RFC6962_ROOTS[size - 1]


def test_the_leaf_encoding_is_exactly_as_documented():
    stream = UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
    encoded = leaf_bytes(7, stream, 3, "ledger.events:Koppeling", b"{}")
    expected = (
        b"traject-leaf-v1"
        + (7).to_bytes(8, "big")
        + stream.bytes
        + (3).to_bytes(8, "big")
        + len(b"ledger.events:Koppeling").to_bytes(4, "big")
        + b"ledger.events:Koppeling"
        + sha(b"{}")
    )
    assert encoded == expected
    assert leaf_hash(7, stream, 3, "ledger.events:Koppeling", b"{}") == sha(b"\x00" + expected)
    assert node_hash(b"a" * 32, b"b" * 32) == sha(b"\x01" + b"a" * 32 + b"b" * 32)


def test_every_leaf_field_changes_the_leaf():
    stream = uuid4()
    base = leaf_hash(1, stream, 1, "t", b"s")
    variants = [
        leaf_hash(2, stream, 1, "t", b"s"),
        leaf_hash(1, uuid4(), 1, "t", b"s"),
        leaf_hash(1, stream, 2, "t", b"s"),
        leaf_hash(1, stream, 1, "u", b"s"),
        leaf_hash(1, stream, 1, "t", b"S"),
    ]
    assert base not in variants
    assert len(set(variants)) == len(variants)
    with pytest.raises(ValueError, match="notification id"):
        leaf_bytes(-1, stream, 1, "t", b"")


@given(n=st.integers(0, 130), salt=st.integers(0, 2**32))
def test_the_incremental_root_equals_the_definition_at_every_size(n, salt):
    leaves = distinct_leaves(n, salt)
    log = MerkleLog()
    assert log.root() == reference_root([])
    for size, leaf in enumerate(leaves, start=1):
        log.append(leaf)
        assert log.size == size
        assert log.root() == reference_root(leaves[:size]) == root(leaves[:size])
        # the compact range is all the state: a log rebuilt from it carries on identically
        assert len(log.frontier) == size.bit_count()
    half = MerkleLog()
    half.extend(leaves[: n // 2])
    resumed = MerkleLog(half.size, half.frontier)
    resumed.extend(leaves[n // 2 :])
    assert resumed.root() == log.root()


def test_a_frontier_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="subtree roots"):
        MerkleLog(3, [EMPTY_ROOT])


# --- inclusion proofs ---------------------------------------------------------------------------


@given(data=st.data(), n=st.integers(1, 70), salt=st.integers(0, 2**32))
def test_every_inclusion_proof_verifies_and_fails_when_altered(data, n, salt):
    leaves = distinct_leaves(n, salt)
    size = data.draw(st.integers(1, n), label="tree_size")
    index = data.draw(st.integers(0, size - 1), label="index")
    tree_root = reference_root(leaves[:size])
    proof = inclusion_proof(leaves, index, size)
    leaf = leaves[index]
    assert verify_inclusion(leaf, index, size, proof, tree_root)

    position = data.draw(st.integers(0, 10**6), label="byte")
    assert not verify_inclusion(flip(leaf, position), index, size, proof, tree_root)
    assert not verify_inclusion(leaf, index, size, proof, flip(tree_root, position))
    for other in range(size + 2):
        if other != index:
            assert not verify_inclusion(leaf, other, size, proof, tree_root)
    for i in range(len(proof)):
        altered = [*proof]
        altered[i] = flip(altered[i], position)
        assert not verify_inclusion(leaf, index, size, altered, tree_root)
    assert not verify_inclusion(leaf, index, size, [*proof, leaf], tree_root)
    if proof:
        assert not verify_inclusion(leaf, index, size, proof[:-1], tree_root)
        assert not verify_inclusion(leaf, index, size, proof[1:], tree_root)


def test_inclusion_edge_cases():
    leaves = distinct_leaves(5)
    assert inclusion_proof(leaves, 0, 1) == []
    assert verify_inclusion(leaves[0], 0, 1, [], leaves[0])
    assert not verify_inclusion(leaves[0], 0, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(leaves[0][:31], 0, 1, [], leaves[0])
    with pytest.raises(ValueError, match="no leaf"):
        inclusion_proof(leaves, 5, 5)


# --- consistency proofs -------------------------------------------------------------------------


@given(data=st.data(), n=st.integers(1, 70), salt=st.integers(0, 2**32))
def test_every_consistency_proof_verifies_and_fails_when_altered(data, n, salt):
    leaves = distinct_leaves(n, salt)
    size2 = data.draw(st.integers(1, n), label="size2")
    size1 = data.draw(st.integers(1, size2), label="size1")
    root1, root2 = reference_root(leaves[:size1]), reference_root(leaves[:size2])
    proof = consistency_proof(leaves, size1, size2)
    assert verify_consistency(size1, size2, root1, root2, proof)
    assert verify_consistency(0, size2, EMPTY_ROOT, root2, [])

    position = data.draw(st.integers(0, 10**6), label="byte")
    assert not verify_consistency(size1, size2, flip(root1, position), root2, proof)
    assert not verify_consistency(size1, size2, root1, flip(root2, position), proof)
    for i in range(len(proof)):
        altered = [*proof]
        altered[i] = flip(altered[i], position)
        assert not verify_consistency(size1, size2, root1, root2, altered)
    if size1 < size2:
        assert not verify_consistency(size1, size2, root1, root2, [])
        assert not verify_consistency(size1, size2, root1, root2, proof[:-1])
        assert not verify_consistency(size1, size2, root1, root2, [*proof, root1])
        assert not verify_consistency(size2, size1, root2, root1, proof)
    else:
        assert proof == []
        assert not verify_consistency(size1, size2, root1, root2, [root1])
    # a different history of the old part is never consistent with the new tree
    forged = reference_root(distinct_leaves(size1, salt + 1))
    assert not verify_consistency(size1, size2, forged, root2, proof)


def test_proofs_round_trip_through_their_json_format():
    leaves = distinct_leaves(11)
    proof = InclusionProof(4, 11, leaves[4], tuple(inclusion_proof(leaves, 4, 11)))
    again = InclusionProof.from_json(proof.to_json())
    assert again == proof
    assert again.verify(root(leaves))
    consistency = ConsistencyProof(3, 11, tuple(consistency_proof(leaves, 3, 11)))
    assert ConsistencyProof.from_json(consistency.to_json()) == consistency
    assert consistency.verify(root(leaves[:3]), root(leaves))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ('{"index": 0, "tree_size": 1, "path": []}', "exactly the keys"),
        ('{"index": -1, "tree_size": 1, "leaf_hash": "' + "0" * 64 + '", "path": []}', "index"),
        ('{"index": 0, "tree_size": 1, "leaf_hash": "00", "path": []}', "leaf_hash"),
        (
            '{"index": 0, "tree_size": 1, "leaf_hash": "' + "0" * 64 + '", "path": ["x"]}',
            r"path\[0\]",
        ),
    ],
)
def test_a_malformed_proof_document_is_refused_with_the_field(text, message):
    with pytest.raises(ProofFormatError, match=message):
        InclusionProof.from_json(text)


# --- checkpoints --------------------------------------------------------------------------------


def a_body(**changes) -> CheckpointBody:
    fields = {
        "origin": "traject GM0622 Vlaardingen",
        "tree_size": 1234,
        "root": sha(b"root"),
        "last_notification_id": 1240,
        "created_at": "2026-11-23T12:00:00Z",
    }
    return CheckpointBody(**(fields | changes))


def test_a_checkpoint_round_trips_through_its_text_and_verifies():
    body = a_body()
    text = sign_checkpoint(body, PRIVATE)
    lines = text.split("\n")
    assert lines[:6] == [
        "traject GM0622 Vlaardingen",
        "1234",
        base64.b64encode(sha(b"root")).decode(),
        "last-notification-id 1240",
        "time 2026-11-23T12:00:00Z",
        "",
    ]
    assert lines[6].startswith(f"— {key_id(PUBLIC)} ")
    assert lines[7] == ""
    checkpoint = parse_checkpoint(text)
    assert checkpoint.body == body
    assert checkpoint.root_hex == sha(b"root").hex()
    assert checkpoint.key_id == key_id(PUBLIC) == key_id(public_key_pem(PRIVATE))
    assert checkpoint.text == text
    assert parse_checkpoint(text.encode()) == checkpoint
    assert verify_checkpoint_signature(checkpoint, PUBLIC)
    assert not verify_checkpoint_signature(checkpoint, OTHER_PUBLIC)


def test_the_key_id_is_the_hash_of_the_raw_public_key():
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    raw = serialization.load_pem_public_key(PUBLIC).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert key_id(PUBLIC) == sha(raw)[:8].hex()


@given(position=st.integers(0, 10**6))
def test_an_altered_byte_in_the_body_or_signature_fails_verification(position):
    text = sign_checkpoint(a_body(), PRIVATE)
    checkpoint = parse_checkpoint(text)
    altered_root = replace(checkpoint, root=flip(checkpoint.root, position))
    altered_size = replace(checkpoint, tree_size=checkpoint.tree_size + 1 + position % 7)
    altered_id = replace(checkpoint, last_notification_id=position)
    altered_origin = replace(checkpoint, origin=checkpoint.origin + "x")
    altered_time = replace(checkpoint, created_at="2026-11-23T12:00:01Z")
    altered_signature = replace(checkpoint, signature=flip(checkpoint.signature, position))
    for altered in [
        altered_root,
        altered_size,
        altered_id,
        altered_origin,
        altered_time,
        altered_signature,
    ]:
        assert altered != checkpoint
        again = parse_checkpoint(altered.text)  # still well-formed, no longer authentic
        assert not verify_checkpoint_signature(again, PUBLIC)


def test_a_checkpoint_signed_by_another_key_is_refused():
    checkpoint = parse_checkpoint(sign_checkpoint(a_body(), OTHER_PRIVATE))
    assert not verify_checkpoint_signature(checkpoint, PUBLIC)
    # the other key's signature under this key's id
    assert not verify_checkpoint_signature(replace(checkpoint, key_id=key_id(PUBLIC)), PUBLIC)


def with_line(text: str, number: int, line: str | None) -> str:
    lines = text.split("\n")
    if line is None:
        del lines[number - 1]
    else:
        lines[number - 1] = line
    return "\n".join(lines)


GOOD = sign_checkpoint(a_body(), PRIVATE)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (with_line(GOOD, 1, ""), "line 1 (origin)"),
        (with_line(GOOD, 1, " padded"), "line 1 (origin)"),
        (with_line(GOOD, 2, "12a"), "line 2 (tree size)"),
        (with_line(GOOD, 2, "0123"), "line 2 (tree size)"),
        (with_line(GOOD, 2, "-1"), "line 2 (tree size)"),
        (with_line(GOOD, 3, "not base64!"), "line 3 (root)"),
        (with_line(GOOD, 3, "AAAA"), "line 3 (root)"),
        (with_line(GOOD, 4, "last-id 5"), "line 4 (last-notification-id)"),
        (with_line(GOOD, 4, "last-notification-id five"), "line 4 (last-notification-id)"),
        (with_line(GOOD, 5, "time 2026-13-01T00:00:00Z"), "line 5 (time)"),
        (with_line(GOOD, 5, "time 2026-11-23 12:00:00"), "line 5 (time)"),
        (with_line(GOOD, 5, "when 2026-11-23T12:00:00Z"), "line 5 (time)"),
        (with_line(GOOD, 6, "x"), "line 6 (blank)"),
        (with_line(GOOD, 7, GOOD.split("\n")[6][2:]), "line 7 (signature)"),
        (with_line(GOOD, 7, "— abc " + GOOD.split("\n")[6].split(" ")[2]), "line 7 (signature)"),
        (with_line(GOOD, 7, GOOD.split("\n")[6][:-4]), "line 7 (signature)"),
        (with_line(GOOD, 4, None), "line 7 (signature): missing"),
        (GOOD + "extra\n", "line 8"),
        (GOOD[:-1], "must end in a newline"),
        (GOOD.replace("\n", "\r\n"), "carriage return"),
        (b"\xff\n", "not UTF-8"),
    ],
)
def test_a_malformed_checkpoint_is_refused_naming_the_line(text, message):
    with pytest.raises(
        CheckpointFormatError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        parse_checkpoint(text)


def test_a_checkpoint_body_refuses_bad_fields():
    assert issubclass(CheckpointFormatError, TrajectError)
    with pytest.raises(CheckpointFormatError, match="origin"):
        a_body(origin="two\nlines")
    with pytest.raises(CheckpointFormatError, match="root"):
        a_body(root=b"short")
    with pytest.raises(CheckpointFormatError, match="time"):
        a_body(created_at="2026-11-23T12:00:00+00:00")
    assert len(a_body(created_at=CheckpointBody("o", 0, EMPTY_ROOT, 0).created_at).created_at) == 20


# --- verifying the log --------------------------------------------------------------------------

TOPIC = "ledger.events:Koppeling"


def make_rows(n: int, gap: int = 10) -> list[Row]:
    streams = [uuid4() for _ in range(3)]
    return [
        Row((i + 1) * gap, streams[i % 3], i // 3 + 1, TOPIC, f'{{"n":{i}}}'.encode())
        for i in range(n)
    ]


def leaves_of(rows: list[Row]) -> list[bytes]:
    return [leaf_hash(*row) for row in rows]


def recorded_of(rows: list[Row]) -> list[RecordedLeaf]:
    return [RecordedLeaf(row.notification_id, leaf_hash(*row)) for row in rows]


def checkpoint_at(rows: list[Row], size: int, private: bytes = PRIVATE) -> Checkpoint:
    body = CheckpointBody(
        "traject test",
        size,
        root(leaves_of(rows[:size])),
        rows[size - 1].notification_id if size else 0,
    )
    return parse_checkpoint(sign_checkpoint(body, private))


ROWS = make_rows(40)
CHECKPOINTS = [checkpoint_at(ROWS, size) for size in (0, 5, 16, 17, 40)]
RECORDED = recorded_of(ROWS)


def test_an_untampered_log_verifies():
    report = verify_log(
        ROWS, CHECKPOINTS, recorded=RECORDED, public_key=PUBLIC, origin="traject test"
    )
    assert report.ok, report.problems
    assert report.checked == 40
    assert report.checkpoints_checked == 5
    assert report.root == root(leaves_of(ROWS))
    assert report.first_problem is None
    # a log that grew after the last checkpoint verifies too
    more = [*ROWS, Row(999, uuid4(), 1, TOPIC, b"{}")]
    assert verify_log(more, CHECKPOINTS, recorded=RECORDED, public_key=PUBLIC).ok


@given(index=st.integers(0, 39), position=st.integers(0, 10**6), with_recorded=st.booleans())
def test_a_changed_state_byte_is_found_and_the_event_named(index, position, with_recorded):
    rows = list(ROWS)
    rows[index] = rows[index]._replace(state=flip(rows[index].state, position))
    report = verify_log(rows, CHECKPOINTS, recorded=RECORDED if with_recorded else None)
    assert not report.ok
    target = rows[index]
    if with_recorded:
        first = report.first_problem
        assert first is not None
        assert first.kind == "changed"
        assert (first.notification_id, first.stream_id, first.version) == (
            target.notification_id,
            target.stream_id,
            target.version,
        )
        assert f"event {target.notification_id} " in first.message
    # every checkpoint that covers the event fails, every earlier one still matches
    failing = {p.checkpoint_size for p in report.problems if p.kind == "checkpoint"}
    assert failing == {c.tree_size for c in CHECKPOINTS if c.tree_size > index}


def test_a_deleted_row_is_named():
    rows = [row for row in ROWS if row.notification_id != 100]
    report = verify_log(rows, CHECKPOINTS, recorded=RECORDED)
    assert not report.ok
    assert report.first_problem.kind == "deleted"
    assert report.first_problem.notification_id == 100
    assert "event 100 was recorded" in report.first_problem.message
    # without the recorded leaves the checkpoints catch it, narrowed to after a matching one
    report = verify_log(rows, CHECKPOINTS)
    assert not report.ok
    assert "after event 50 (checkpoint size 5 matches)" in report.first_problem.message


def test_an_inserted_row_is_named():
    rows = list(ROWS)
    rows.insert(7, Row(75, uuid4(), 1, TOPIC, b"{}"))
    report = verify_log(rows, CHECKPOINTS, recorded=RECORDED)
    assert not report.ok
    assert report.first_problem.kind == "inserted"
    assert report.first_problem.notification_id == 75
    assert not verify_log(rows, CHECKPOINTS).ok


def test_swapped_rows_are_found():
    # the rows returned out of notification order
    rows = list(ROWS)
    rows[10], rows[11] = rows[11], rows[10]
    report = verify_log(rows, CHECKPOINTS)
    assert report.first_problem.kind == "out-of-order"
    assert report.first_problem.notification_id == ROWS[10].notification_id
    # with the recorded leaves, the first event not in its recorded place is named
    report = verify_log(rows, CHECKPOINTS, recorded=RECORDED)
    assert report.first_problem.kind == "deleted"
    assert report.first_problem.notification_id == ROWS[10].notification_id
    assert "deleted, renumbered or moved" in report.first_problem.message
    # the contents of two rows exchanged, notification ids kept: the first is named as changed
    rows = list(ROWS)
    a, b = rows[10], rows[11]
    rows[10] = b._replace(notification_id=a.notification_id)
    rows[11] = a._replace(notification_id=b.notification_id)
    report = verify_log(rows, CHECKPOINTS, recorded=RECORDED)
    assert report.first_problem.kind == "changed"
    assert report.first_problem.notification_id == a.notification_id
    assert not verify_log(rows, CHECKPOINTS).ok


def test_rows_deleted_from_the_end_are_found():
    report = verify_log(ROWS[:30], CHECKPOINTS, recorded=RECORDED)
    kinds = [(p.kind, p.notification_id) for p in report.problems]
    assert ("deleted", ROWS[30].notification_id) == kinds[0]
    assert ("deleted", 400) in kinds  # the checkpoint of size 40 covers rows that are gone
    assert not verify_log(ROWS[:30], CHECKPOINTS).ok


def test_an_altered_checkpoint_is_named():
    good = CHECKPOINTS[2]
    forged_root = parse_checkpoint(replace(good, root=sha(b"forged")).text)
    report = verify_log(ROWS, [*CHECKPOINTS[:2], forged_root, *CHECKPOINTS[3:]], public_key=PUBLIC)
    assert not report.ok
    assert {(p.kind, p.checkpoint_size) for p in report.problems} == {
        ("signature", 16),
        ("checkpoint", 16),
    }
    # a forged root is also caught without the key, and disagrees with the genuine checkpoint
    report = verify_log(ROWS, [*CHECKPOINTS, forged_root])
    assert [p.checkpoint_size for p in report.problems] == [16, 16]
    assert "inconsistent" in report.problems[0].message
    # an altered last notification id: the root matches, the covered event does not
    forged_id = replace(good, last_notification_id=good.last_notification_id + 1)
    report = verify_log(ROWS, [forged_id])
    assert [p.checkpoint_size for p in report.problems] == [16]
    assert "names event 161" in report.first_problem.message
    # a checkpoint of another key, or of another ledger
    report = verify_log(ROWS, [checkpoint_at(ROWS, 5, OTHER_PRIVATE)], public_key=PUBLIC)
    assert [p.kind for p in report.problems] == ["signature"]
    assert not verify_log(ROWS, CHECKPOINTS, origin="another ledger").ok


def test_a_checkpoint_of_the_empty_log_is_checked_too():
    assert verify_log([], [CHECKPOINTS[0]]).ok
    assert not verify_log([], [CHECKPOINTS[1]]).ok


# --- docs/audit.md: its examples and its standalone verifier are correct --------------------------

AUDIT = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


def audit_examples() -> dict[str, str]:
    text = AUDIT.read_text(encoding="utf-8")
    return dict(re.findall(r"<!-- (?:example:)?([\w-]+) -->\n```\w*\n(.*?)```", text, re.DOTALL))


def standalone_verifier() -> dict:
    namespace: dict = {}
    exec(compile(audit_examples()["standalone-verifier"], str(AUDIT), "exec"), namespace)
    return namespace


EXAMPLE_STREAM = UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
EXAMPLE_ROWS = [Row(i + 1, EXAMPLE_STREAM, i + 1, TOPIC, f'{{"n":{i}}}'.encode()) for i in range(5)]


def test_the_documented_leaf_example_is_what_the_library_computes():
    examples = audit_examples()
    encoded = leaf_bytes(7, EXAMPLE_STREAM, 3, TOPIC, b'{"a":1}')
    assert examples["leaf-bytes"].replace("\n", "") == encoded.hex()
    expected = leaf_hash(7, EXAMPLE_STREAM, 3, TOPIC, b'{"a":1}').hex()
    assert examples["leaf-hash"].strip() == expected


def test_the_documented_checkpoint_and_proofs_verify_with_the_library():
    examples = audit_examples()
    public = examples["public-key"].encode()
    checkpoint = parse_checkpoint(examples["checkpoint"])
    assert verify_checkpoint_signature(checkpoint, public)
    leaves = leaves_of(EXAMPLE_ROWS)
    assert checkpoint.root == root(leaves)
    assert verify_log(EXAMPLE_ROWS, [checkpoint], public_key=public).ok
    inclusion = InclusionProof.from_json(examples["inclusion"])
    assert inclusion == InclusionProof(2, 5, leaves[2], tuple(inclusion_proof(leaves, 2, 5)))
    assert inclusion.verify(checkpoint.root)
    consistency = ConsistencyProof.from_json(examples["consistency"])
    assert consistency == ConsistencyProof(3, 5, tuple(consistency_proof(leaves, 3, 5)))
    assert consistency.verify(root(leaves[:3]), checkpoint.root)
    assert root(leaves[:3]).hex() in AUDIT.read_text(encoding="utf-8")


def test_the_standalone_verifier_accepts_the_documented_examples():
    v = standalone_verifier()
    examples = audit_examples()
    fields = v["read_checkpoint"](examples["checkpoint"], examples["public-key"].encode())
    leaves = [v["leaf_hash"](r[0], str(r[1]), r[2], r[3], r[4]) for r in EXAMPLE_ROWS]
    assert fields["root"] == v["tree_root"](leaves) == root(leaves_of(EXAMPLE_ROWS))
    assert fields["tree_size"] == 5
    assert fields["last_notification_id"] == 5
    assert v["verify_inclusion"](examples["inclusion"], fields["root"])
    assert v["verify_consistency"](
        examples["consistency"], v["tree_root"](leaves[:3]), fields["root"]
    )
    with pytest.raises(AssertionError, match="not this key's checkpoint"):
        v["read_checkpoint"](examples["checkpoint"], OTHER_PUBLIC)
    forged = parse_checkpoint(examples["checkpoint"])
    forged = replace(forged, tree_size=6)
    with pytest.raises(InvalidSignature):
        v["read_checkpoint"](forged.text, examples["public-key"].encode())


@given(data=st.data(), n=st.integers(1, 40), salt=st.integers(0, 2**32))
def test_the_standalone_verifier_agrees_with_the_library(data, n, salt):
    v = VERIFIER
    rows = [
        Row(i * 3 + salt % 5 + 1, uuid4(), i + 1, TOPIC, struct.pack(">QQ", salt, i))
        for i in range(n)
    ]
    leaves = leaves_of(rows)
    assert [v["leaf_hash"](r[0], str(r[1]), r[2], r[3], r[4]) for r in rows] == leaves
    assert v["tree_root"](leaves) == root(leaves)
    index = data.draw(st.integers(0, n - 1))
    proof = InclusionProof(index, n, leaves[index], tuple(inclusion_proof(leaves, index, n)))
    assert v["verify_inclusion"](proof.to_json(), root(leaves))
    assert not v["verify_inclusion"](proof.to_json(), root(leaves[: n - 1]))
    size1 = data.draw(st.integers(0, n))
    consistency = ConsistencyProof(size1, n, tuple(consistency_proof(leaves, size1, n)))
    assert v["verify_consistency"](consistency.to_json(), root(leaves[:size1]), root(leaves))
    assert not v["verify_consistency"](consistency.to_json(), sha(b"x"), root(leaves))
    body = CheckpointBody("traject test", n, root(leaves), rows[-1].notification_id)
    fields = v["read_checkpoint"](sign_checkpoint(body, PRIVATE), PUBLIC)
    assert fields["root"] == root(leaves)


VERIFIER = standalone_verifier()
