"""Integrity core: an RFC 6962 Merkle tree over the notification log, signed checkpoints, proofs.

A pure library (standard library and ``cryptography`` only, no database access):
``ledger.audit`` (which records leaves when the log is checkpointed or verified) and the
``traject audit`` commands are built on it.
docs/audit.md specifies every byte hashed and every text format, so that an auditor can
reimplement the verification without this module.

* One leaf per stored event: ``leaf_hash = SHA-256(0x00 ‖ leaf_bytes(...))``, where
  ``leaf_bytes`` is the canonical encoding of (notification id, stream id, version, topic,
  SHA-256 of the stored state bytes). The stored state is ciphertext for personal fields, so
  erasure (crypto-shredding) does not change a leaf.
* Interior nodes: ``SHA-256(0x01 ‖ left ‖ right)``; the tree over n leaves splits at the largest
  power of two smaller than n; the empty tree's root is ``SHA-256("")`` (RFC 6962 §2.1).
* Inclusion and consistency proofs follow RFC 6962 §2.1.1 and §2.1.2; their verifiers follow
  RFC 9162 §2.1.3.2 and §2.1.4.2 step by step.
* A checkpoint (origin, tree size, root, last notification id, time) is a line-oriented text
  in the manner of a C2SP signed note, signed with Ed25519 over its exact body bytes.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import re
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ledger.errors import TrajectError

HASH_SIZE = 32
LEAF_DOMAIN = b"traject-leaf-v1"
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()
MAX_UINT64 = 2**64 - 1
SIGNATURE_MARK = "\u2014 "  # an em dash and a space begin the signature line (as in a C2SP note)

_sha256 = hashlib.sha256
_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")
_HEAD = struct.Struct(">Q16sQ")  # notification id, stream id, version


class IntegrityError(TrajectError):
    """An integrity artefact (checkpoint, proof, key) is malformed or unusable."""


class CheckpointFormatError(IntegrityError):
    """A checkpoint text does not follow the format of docs/audit.md; the message names the line."""


class ProofFormatError(IntegrityError):
    """A proof document does not follow the JSON format of docs/audit.md."""


class SignatureFormatError(IntegrityError):
    """A signature line does not follow the format of docs/audit.md; the message names it."""


# --- leaves and nodes -------------------------------------------------------------------------


def leaf_bytes(
    notification_id: int, stream_id: UUID, version: int, topic: str, state: bytes
) -> bytes:
    """The canonical encoding of one stored event (docs/audit.md, "Leaves").

    ``"traject-leaf-v1"`` (15 ASCII bytes) ‖ notification id (8 bytes, big-endian) ‖ stream id
    (16 bytes, RFC 4122 byte order) ‖ version (8 bytes, big-endian) ‖ length of the topic's
    UTF-8 bytes (4 bytes, big-endian) ‖ topic ‖ SHA-256 of the stored state (32 bytes).
    """
    if not 0 <= notification_id <= MAX_UINT64:
        raise ValueError(f"notification id out of range: {notification_id}")
    if not 0 <= version <= MAX_UINT64:
        raise ValueError(f"version out of range: {version}")
    topic_bytes = topic.encode("utf-8")
    return b"".join(
        (
            LEAF_DOMAIN,
            _U64.pack(notification_id),
            stream_id.bytes,
            _U64.pack(version),
            _U32.pack(len(topic_bytes)),
            topic_bytes,
            _sha256(state).digest(),
        )
    )


def raw_leaf_hash(
    notification_id: int, stream: bytes, version: int, topic: str, state: bytes
) -> bytes:
    """``leaf_hash`` with the stream id as its 16 bytes (RFC 4122 order): the streaming form."""
    topic_bytes = topic.encode("utf-8")
    return _sha256(
        b"".join(
            (
                LEAF_PREFIX,
                LEAF_DOMAIN,
                _HEAD.pack(notification_id, stream, version),
                _U32.pack(len(topic_bytes)),
                topic_bytes,
                _sha256(state).digest(),
            )
        )
    ).digest()


def leaf_hash(
    notification_id: int, stream_id: UUID, version: int, topic: str, state: bytes
) -> bytes:
    """``SHA-256(0x00 ‖ leaf_bytes(...))``: the leaf hash of one stored event."""
    return _sha256(
        LEAF_PREFIX + leaf_bytes(notification_id, stream_id, version, topic, state)
    ).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 ‖ left ‖ right)``: an interior node (RFC 6962 §2.1)."""
    return _sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_root(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    """MTH(D[start:end]) for end > start, bottom-up: a lone last node moves up unchanged.

    Pairing left to right and promoting an odd last node gives exactly RFC 6962's tree (the
    left subtree of every split is perfect); it costs end - start - 1 node hashes.
    """
    level = list(leaves[start:end])
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of a list of leaf hashes (RFC 6962 §2.1), SHA-256("") when empty."""
    if not leaf_hashes:
        return EMPTY_ROOT
    return _subtree_root(leaf_hashes, 0, len(leaf_hashes))


class MerkleLog:
    """An append-only Merkle tree that keeps only its compact range.

    The state is the roots of the perfect subtrees that make up the tree, largest (leftmost)
    first: one per set bit of the size. An append costs O(log n) at worst and one node hash on
    average; the root costs O(log n). Proofs need the leaves: see ``inclusion_proof`` and
    ``consistency_proof``.
    """

    __slots__ = ("_frontier", "_size")

    def __init__(self, size: int = 0, frontier: Sequence[bytes] = ()) -> None:
        if size < 0 or len(frontier) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} subtree roots")
        if any(len(h) != HASH_SIZE for h in frontier):
            raise ValueError("subtree roots are 32-byte SHA-256 hashes")
        self._size = size
        self._frontier = list(frontier)

    @property
    def size(self) -> int:
        return self._size

    @property
    def frontier(self) -> tuple[bytes, ...]:
        """The perfect subtree roots, left to right: with the size, all the state to persist."""
        return tuple(self._frontier)

    def append(self, leaf: bytes) -> None:
        frontier = self._frontier
        size = self._size
        h = leaf
        while size & 1:
            h = _sha256(NODE_PREFIX + frontier.pop() + h).digest()
            size >>= 1
        frontier.append(h)
        self._size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        frontier = self._frontier
        if not frontier:
            return EMPTY_ROOT
        h = frontier[-1]
        for left in reversed(frontier[:-1]):
            h = _sha256(NODE_PREFIX + left + h).digest()
        return h

    def copy(self) -> MerkleLog:
        return MerkleLog(self._size, self._frontier)


class MerkleTree:
    """Every level of the tree over a list of leaf hashes: O(n) to build, O(log n) per proof.

    Level 0 is the leaves; level h + 1 pairs level h left to right and promotes an odd last
    node, so node i of level h is MTH of leaves [i·2^h, min((i+1)·2^h, n)) (RFC 6962's tree).
    Every range in an inclusion proof has that shape, so a proof is log n look-ups: for many
    proofs against one checkpoint (an evidence pack) instead of O(n) hashing each.
    """

    __slots__ = ("levels", "size")

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        levels = [list(leaf_hashes)]
        while len(levels[-1]) > 1:
            level = levels[-1]
            paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                paired.append(level[-1])
            levels.append(paired)
        self.levels = levels
        self.size = len(leaf_hashes)

    def root(self) -> bytes:
        return self.levels[-1][0] if self.size else EMPTY_ROOT

    def _node(self, start: int, end: int) -> bytes:
        height = (end - start - 1).bit_length()
        return self.levels[height][start >> height]

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The audit path of leaf ``index`` in this tree (equal to ``inclusion_proof``)."""
        if not 0 <= index < self.size:
            raise ValueError(f"no leaf {index} in a tree of {self.size}")
        path: list[bytes] = []
        start, end, m = 0, self.size, index
        while end - start > 1:
            k = _split(end - start)
            if m < k:
                path.append(self._node(start + k, end))
                end = start + k
            else:
                path.append(self._node(start, start + k))
                start, m = start + k, m - k
        path.reverse()
        return path


# --- proofs -------------------------------------------------------------------------------------


def inclusion_proof(leaves: Sequence[bytes], index: int, tree_size: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``tree_size`` leaves.

    RFC 6962 §2.1.1, from the leaf's sibling up to the root's child; O(tree_size) hashing.
    """
    if not 0 <= index < tree_size <= len(leaves):
        raise ValueError(f"no leaf {index} in a tree of {tree_size} (of {len(leaves)} leaves)")
    path: list[bytes] = []
    start, end, m = 0, tree_size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            path.append(_subtree_root(leaves, start + k, end))
            end = start + k
        else:
            path.append(_subtree_root(leaves, start, start + k))
            start, m = start + k, m - k
    path.reverse()
    return path


def consistency_proof(leaves: Sequence[bytes], size1: int, size2: int) -> list[bytes]:
    """The proof that the tree of ``size1`` leaves is a prefix of the tree of ``size2`` leaves.

    RFC 6962 §2.1.2; empty when size1 is 0 or equals size2; O(size2) hashing.
    """
    if not 0 <= size1 <= size2 <= len(leaves):
        raise ValueError(f"no consistency proof from {size1} to {size2} ({len(leaves)} leaves)")
    if size1 in (0, size2):
        return []
    path: list[bytes] = []
    start, end, m, whole = 0, size2, size1, True
    # SUBPROOF(m, D[start:end], whole), unrolled: the hashes are collected innermost last
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            path.append(_subtree_root(leaves, start + k, end))
            end = start + k
        else:
            path.append(_subtree_root(leaves, start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        path.append(_subtree_root(leaves, start, end))
    path.reverse()
    return path


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """Whether ``proof`` proves ``leaf`` at ``index`` under ``root_hash`` (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < tree_size or len(leaf) != HASH_SIZE:
        return False
    if any(len(p) != HASH_SIZE for p in proof):
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:  # fn == sn and fn even: climb the right edge
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` proves tree ``root1`` (size1) a prefix of ``root2`` (RFC 9162 §2.1.4.2).

    Edge cases, as in RFC 9162 §2.1.4: equal sizes need an empty proof and equal roots; from the
    empty tree (size1 = 0, root1 = SHA-256("")) every tree is consistent, with an empty proof.
    """
    if not 0 <= size1 <= size2 or any(len(p) != HASH_SIZE for p in proof):
        return False
    if size1 == size2:
        return not proof and root1 == root2
    if size1 == 0:
        return not proof and root1 == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # an exact power of two: the old root is a node of the new tree
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root1 and sr == root2 and sn == 0


def _hex_hash(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ProofFormatError(f"{what}: expected 64 lowercase hex digits (a SHA-256 hash)")
    return bytes.fromhex(value)


def _size(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_UINT64:
        raise ProofFormatError(f"{what}: expected a non-negative integer")
    return value


def _proof_object(text: str | bytes, keys: set[str]) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProofFormatError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or set(data) != keys:
        raise ProofFormatError(f"expected a JSON object with exactly the keys {sorted(keys)}")
    if not isinstance(data["path"], list):
        raise ProofFormatError("path: expected a list of hashes")
    return data


@dataclass(frozen=True)
class InclusionProof:
    """That ``leaf_hash`` is leaf ``index`` (from 0) of the tree of ``tree_size`` leaves."""

    index: int
    tree_size: int
    leaf_hash: bytes
    path: tuple[bytes, ...]

    def verify(self, root_hash: bytes) -> bool:
        return verify_inclusion(self.leaf_hash, self.index, self.tree_size, self.path, root_hash)

    def to_json(self) -> str:
        return json.dumps(
            {
                "index": self.index,
                "tree_size": self.tree_size,
                "leaf_hash": self.leaf_hash.hex(),
                "path": [p.hex() for p in self.path],
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> InclusionProof:
        data = _proof_object(text, {"index", "tree_size", "leaf_hash", "path"})
        return cls(
            index=_size(data["index"], "index"),
            tree_size=_size(data["tree_size"], "tree_size"),
            leaf_hash=_hex_hash(data["leaf_hash"], "leaf_hash"),
            path=tuple(_hex_hash(p, f"path[{i}]") for i, p in enumerate(data["path"])),
        )


@dataclass(frozen=True)
class ConsistencyProof:
    """That the tree of ``size1`` leaves is a prefix of the tree of ``size2`` leaves."""

    size1: int
    size2: int
    path: tuple[bytes, ...]

    def verify(self, root1: bytes, root2: bytes) -> bool:
        return verify_consistency(self.size1, self.size2, root1, root2, self.path)

    def to_json(self) -> str:
        return json.dumps(
            {"size1": self.size1, "size2": self.size2, "path": [p.hex() for p in self.path]},
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ConsistencyProof:
        data = _proof_object(text, {"size1", "size2", "path"})
        return cls(
            size1=_size(data["size1"], "size1"),
            size2=_size(data["size2"], "size2"),
            path=tuple(_hex_hash(p, f"path[{i}]") for i, p in enumerate(data["path"])),
        )


# --- keys and checkpoints -----------------------------------------------------------------------

_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def generate_signing_key() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair: (private key as unencrypted PKCS#8 PEM, public key as SPKI PEM)."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return private_pem, public_key_pem(private)


def public_key_pem(private_key: Ed25519PrivateKey | bytes) -> bytes:
    """The public half (SPKI PEM) of a private key."""
    return (
        load_private_key(private_key)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def load_private_key(key: Ed25519PrivateKey | bytes) -> Ed25519PrivateKey:
    """The Ed25519 private key of an unencrypted PKCS#8 PEM (as `traject audit keygen` writes).

    Raises IntegrityError saying what the bytes are instead (a public key, an encrypted key,
    another algorithm, not PEM).
    """
    if isinstance(key, Ed25519PrivateKey):
        return key
    if b"-----BEGIN PUBLIC KEY-----" in key:
        msg = (
            "signing key: this is a public key; give the private key (the file "
            "`traject audit keygen --out` wrote, not the .pub beside it)"
        )
        raise IntegrityError(msg)
    try:
        loaded = serialization.load_pem_private_key(key, password=None)
    except TypeError:
        msg = "signing key: the private key is encrypted; traject reads unencrypted PKCS#8 PEM"
        raise IntegrityError(msg) from None
    except ValueError:
        msg = "signing key: not a PEM private key (an unencrypted PKCS#8 Ed25519 key is needed)"
        raise IntegrityError(msg) from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise IntegrityError("signing key: not an Ed25519 key")
    return loaded


def load_public_key(key: Ed25519PublicKey | bytes) -> Ed25519PublicKey:
    """The Ed25519 public key of a PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo).

    Raises IntegrityError saying what the bytes are instead.
    """
    if isinstance(key, Ed25519PublicKey):
        return key
    if b"PRIVATE KEY-----" in key:
        msg = "public key: this is a private key; give the public key (the .pub file)"
        raise IntegrityError(msg)
    try:
        loaded = serialization.load_pem_public_key(key)
    except (ValueError, TypeError):
        msg = (
            "public key: not a PEM public key (an Ed25519 public key is needed: the .pub file "
            "`traject audit keygen` writes)"
        )
        raise IntegrityError(msg) from None
    if not isinstance(loaded, Ed25519PublicKey):
        raise IntegrityError("public key: not an Ed25519 key")
    return loaded


def key_id(public_key: Ed25519PublicKey | bytes) -> str:
    """The first 8 bytes, in hex, of SHA-256 over the raw 32-byte Ed25519 public key."""
    raw = load_public_key(public_key).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return _sha256(raw).digest()[:8].hex()


def utc_now() -> str:
    """The current time in the checkpoint's format: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _check_origin(origin: str) -> str | None:
    if not origin:
        return "empty"
    if origin != origin.strip() or any(not ch.isprintable() for ch in origin):
        return "must be printable, without leading or trailing spaces"
    if origin.startswith(SIGNATURE_MARK.strip()):
        return "must not begin with an em dash"
    return None


def _check_time(value: str) -> str | None:
    if not _TIME.fullmatch(value):
        return "expected YYYY-MM-DDTHH:MM:SSZ (UTC)"
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return "not a valid date and time"
    return None


@dataclass(frozen=True)
class Signature:
    """An Ed25519 signature and its signer's key id.

    Written as one line: an em dash, a space, the key id, a space and the 64-byte signature in
    standard base64 (a checkpoint's last line, and an evidence pack's ``manifest.sig``).
    """

    key_id: str
    signature: bytes

    @property
    def line(self) -> str:
        """The signature line, without its newline."""
        return f"{SIGNATURE_MARK}{self.key_id} {_b64(self.signature)}"


def sign(data: bytes, private_key: Ed25519PrivateKey | bytes) -> Signature:
    """Sign ``data`` (pure Ed25519, no pre-hashing) with the private key (PEM or key object)."""
    key = load_private_key(private_key)
    return Signature(key_id(key.public_key()), key.sign(data))


def verify_signature(
    signature: Signature, data: bytes, public_key: Ed25519PublicKey | bytes
) -> bool:
    """Whether ``signature`` is this key's (by key id and Ed25519) over exactly ``data``."""
    key = load_public_key(public_key)
    if signature.key_id != key_id(key):
        return False
    try:
        key.verify(signature.signature, data)
    except InvalidSignature:
        return False
    return True


def parse_signature_line(line: str, where: str) -> Signature:
    """Parse a signature line (without its newline) strictly; ``where`` begins each message.

    Raises SignatureFormatError.
    """
    if not line.startswith(SIGNATURE_MARK):
        raise SignatureFormatError(
            f"{where}: expected '{SIGNATURE_MARK}<key id> <signature>', got {line!r}"
        )
    parts = line[len(SIGNATURE_MARK) :].split(" ")
    if len(parts) != 2 or not _KEY_ID.fullmatch(parts[0]):
        raise SignatureFormatError(
            f"{where}: expected a 16-hex-digit key id and a base64 signature separated by one "
            f"space, got {line!r}"
        )
    return Signature(parts[0], _base64(parts[1], 64, where, SignatureFormatError))


@dataclass(frozen=True)
class CheckpointBody:
    """What a checkpoint states: the tree of the first ``tree_size`` events has ``root``.

    ``last_notification_id`` is the notification id of event ``tree_size`` (0 for the empty
    tree); ``created_at`` is UTC, ``YYYY-MM-DDTHH:MM:SSZ``.
    """

    origin: str
    tree_size: int
    root: bytes
    last_notification_id: int
    created_at: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        problem = _check_origin(self.origin)
        if problem:
            raise CheckpointFormatError(f"origin: {problem}")
        if not 0 <= self.tree_size <= MAX_UINT64:
            raise CheckpointFormatError(f"tree size: out of range: {self.tree_size}")
        if len(self.root) != HASH_SIZE:
            raise CheckpointFormatError("root: expected a 32-byte SHA-256 hash")
        if not 0 <= self.last_notification_id <= MAX_UINT64:
            raise CheckpointFormatError(
                f"last-notification-id: out of range: {self.last_notification_id}"
            )
        problem = _check_time(self.created_at)
        if problem:
            raise CheckpointFormatError(f"time: {problem}")

    def encode(self) -> bytes:
        """The exact bytes that are signed: five lines, each ending in a newline."""
        return (
            f"{self.origin}\n{self.tree_size}\n{_b64(self.root)}\n"
            f"last-notification-id {self.last_notification_id}\ntime {self.created_at}\n"
        ).encode()


@dataclass(frozen=True)
class Checkpoint:
    """A signed checkpoint: the body, the signer's key id and the Ed25519 signature."""

    origin: str
    tree_size: int
    root: bytes
    last_notification_id: int
    created_at: str
    key_id: str
    signature: bytes

    @property
    def root_hex(self) -> str:
        return self.root.hex()

    @property
    def body(self) -> CheckpointBody:
        return CheckpointBody(
            self.origin, self.tree_size, self.root, self.last_notification_id, self.created_at
        )

    @property
    def text(self) -> str:
        """The checkpoint text: the body, a blank line, the signature line."""
        return self.body.encode().decode() + f"\n{Signature(self.key_id, self.signature).line}\n"

    def __str__(self) -> str:
        return f"checkpoint {self.origin} size {self.tree_size} at {self.created_at}"


def sign_checkpoint(body: CheckpointBody, private_key: Ed25519PrivateKey | bytes) -> str:
    """Sign ``body`` with the Ed25519 private key (PEM or key object); the checkpoint text."""
    signed = sign(body.encode(), private_key)
    return Checkpoint(
        body.origin,
        body.tree_size,
        body.root,
        body.last_notification_id,
        body.created_at,
        signed.key_id,
        signed.signature,
    ).text


def _decimal(line: str, number: int, what: str) -> int:
    if not _DECIMAL.fullmatch(line) or int(line) > MAX_UINT64:
        raise CheckpointFormatError(
            f"checkpoint line {number} ({what}): expected a decimal number, got {line!r}"
        )
    return int(line)


def _base64(
    text: str, size: int, where: str, error: type[IntegrityError] = CheckpointFormatError
) -> bytes:
    """``size`` bytes written in standard base64 with padding, in its one canonical spelling."""
    problem = f"{where}: expected base64 of {size} bytes, got {text!r}"
    if not _B64.fullmatch(text):
        raise error(problem)
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise error(problem) from None
    if len(data) != size or _b64(data) != text:
        raise error(problem)
    return data


def _keyword(line: str, number: int, keyword: str) -> str:
    prefix = keyword + " "
    if not line.startswith(prefix):
        raise CheckpointFormatError(
            f"checkpoint line {number} ({keyword}): expected '{prefix}…', got {line!r}"
        )
    return line[len(prefix) :]


def parse_checkpoint(text: str | bytes) -> Checkpoint:
    """Parse a checkpoint text strictly (docs/audit.md); the signature is not checked here.

    Raises CheckpointFormatError naming the first line that does not follow the format.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointFormatError(f"checkpoint: not UTF-8 ({exc})") from None
    if "\r" in text:
        raise CheckpointFormatError("checkpoint: lines end in a newline only, no carriage return")
    if not text.endswith("\n"):
        raise CheckpointFormatError("checkpoint: the last line must end in a newline")
    lines = text[:-1].split("\n")
    names = ["origin", "tree size", "root", "last-notification-id", "time", "blank", "signature"]
    if len(lines) < len(names):
        missing = names[len(lines)]
        raise CheckpointFormatError(
            f"checkpoint line {len(lines) + 1} ({missing}): missing (the text ends early)"
        )
    if len(lines) > len(names):
        raise CheckpointFormatError(
            f"checkpoint line {len(names) + 1}: unexpected text after the signature line"
        )
    origin, size, root_b64, last, time_line, blank, signature_line = lines
    problem = _check_origin(origin)
    if problem:
        raise CheckpointFormatError(f"checkpoint line 1 (origin): {problem}")
    tree_size = _decimal(size, 2, "tree size")
    root_hash = _base64(root_b64, HASH_SIZE, "checkpoint line 3 (root)")
    last_id = _decimal(_keyword(last, 4, "last-notification-id"), 4, "last-notification-id")
    created_at = _keyword(time_line, 5, "time")
    problem = _check_time(created_at)
    if problem:
        raise CheckpointFormatError(f"checkpoint line 5 (time): {problem}, got {created_at!r}")
    if blank:
        raise CheckpointFormatError(
            f"checkpoint line 6 (blank): expected an empty line before the signature, got {blank!r}"
        )
    try:
        signed = parse_signature_line(signature_line, "checkpoint line 7 (signature)")
    except SignatureFormatError as error:
        raise CheckpointFormatError(str(error)) from None
    return Checkpoint(
        origin, tree_size, root_hash, last_id, created_at, signed.key_id, signed.signature
    )


TrustedKeys = Ed25519PublicKey | bytes | tuple[Ed25519PublicKey | bytes, ...]
"""One public key (PEM or key object), or several: the checkpoint key replaced over the years.
Each checkpoint is checked with the key its key id names (the first one when none does)."""


def key_for(named: str, keys: TrustedKeys) -> Ed25519PublicKey | bytes:
    """Of ``keys``, the one whose key id is ``named``, else the first."""
    if not isinstance(keys, tuple):
        return keys
    return next((key for key in keys if key_id(key) == named), keys[0])


def verify_checkpoint_signature(checkpoint: Checkpoint, public_key: TrustedKeys) -> bool:
    """Whether the checkpoint was signed by this key (PEM or key object), or by the one of
    several keys that its key id names, over its exact body."""
    signed = Signature(checkpoint.key_id, checkpoint.signature)
    return verify_signature(
        signed, checkpoint.body.encode(), key_for(checkpoint.key_id, public_key)
    )


def _unverified(checkpoint: Checkpoint, public_key: TrustedKeys) -> str:
    """Why a checkpoint's signature fails: the key it names is not given, or it was altered."""
    keys = public_key if isinstance(public_key, tuple) else (public_key,)
    ids = [key_id(key) for key in keys]
    if checkpoint.key_id not in ids:
        given = ", ".join(ids)
        which = f"the given key ({given})" if len(ids) == 1 else f"any given key ({given})"
        return (
            f"{checkpoint}: the signature does not verify: it names key {checkpoint.key_id}, "
            f"which is not {which}: the checkpoint was altered or signed by another key"
        )
    return (
        f"{checkpoint}: the signature does not verify with the given key (key id "
        f"{checkpoint.key_id}): the checkpoint was altered"
    )


# --- verifying the log ------------------------------------------------------------------------


class Row(NamedTuple):
    """One stored event as read from the notification log."""

    notification_id: int
    stream_id: UUID
    version: int
    topic: str
    state: bytes


class RecordedLeaf(NamedTuple):
    """A leaf as ``ledger.audit`` recorded it when the event was first checkpointed or verified."""

    notification_id: int
    leaf_hash: bytes


@dataclass(frozen=True)
class Problem:
    """One thing that does not match, with what locates it (the event, or the checkpoint)."""

    # changed, deleted, inserted, out-of-order, leaf, malformed, gap, checkpoint, signature,
    # seal
    kind: str
    message: str
    notification_id: int | None = None
    stream_id: UUID | None = None
    version: int | None = None
    checkpoint_size: int | None = None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class VerificationReport:
    """The outcome of ``verify_log``: the first mismatching event, every failing checkpoint."""

    ok: bool
    checked: int  # rows read and hashed
    checkpoints_checked: int
    tree_size: int
    root: bytes
    problems: tuple[Problem, ...] = ()

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None


def _where(notification_id: int, stream_id: UUID, version: int) -> str:
    return f"event {notification_id} (stream {stream_id} version {version})"


def _check_checkpoints(
    pending: list[Checkpoint],
    public_key: TrustedKeys | None,
    origin: str | None,
    forged: set[int],
) -> list[Problem]:
    """The signature and origin of every checkpoint; ``forged`` gets the position (in
    ``pending``) of each whose signature does not verify."""
    problems: list[Problem] = []
    for position, checkpoint in enumerate(pending):
        if public_key is not None and not verify_checkpoint_signature(checkpoint, public_key):
            forged.add(position)
            problems.append(
                Problem(
                    "signature",
                    _unverified(checkpoint, public_key),
                    checkpoint_size=checkpoint.tree_size,
                )
            )
        if origin is not None and checkpoint.origin != origin:
            problems.append(
                Problem(
                    "checkpoint",
                    f"{checkpoint}: origin {checkpoint.origin!r} is not this ledger's {origin!r}:"
                    " it is a checkpoint of another ledger (or its origin line was altered: "
                    "its signature tells); its other problems compare that log with this "
                    "ledger's rows",
                    checkpoint_size=checkpoint.tree_size,
                )
            )
    return problems


def verify_log(
    rows: Iterable[tuple[int, UUID, int, str, bytes]],
    checkpoints: Sequence[Checkpoint] = (),
    *,
    recorded: Iterable[RecordedLeaf] | None = None,
    public_key: TrustedKeys | None = None,
    origin: str | None = None,
) -> VerificationReport:
    """Recompute every leaf from ``rows`` (in notification order) and check the checkpoints.

    * Each checkpoint's root must be the root of the first ``tree_size`` recomputed leaves, and
      its last notification id the id of row ``tree_size``; two checkpoints of one size must
      agree. Checkpoints that all match one recomputed tree are consistent with each other.
    * With ``public_key``, every checkpoint's signature is checked; with ``origin``, its origin.
    * With ``recorded`` (the leaves ``ledger.audit`` recorded, in notification order; read as
      a stream), rows are compared leaf by leaf and the first changed, deleted or inserted
      event is named. Without it, a root mismatch is narrowed to the events between the last
      matching checkpoint and the first failing one.
    """
    return verify_raw_log(
        ((n, stream.bytes, v, t, s) for n, stream, v, t, s in rows),
        checkpoints,
        recorded=recorded,
        public_key=public_key,
        origin=origin,
    )


def verify_raw_log(
    rows: Iterable[tuple[int, bytes, int, str, bytes]],
    checkpoints: Sequence[Checkpoint] = (),
    *,
    recorded: Iterable[RecordedLeaf] | None = None,
    public_key: TrustedKeys | None = None,
    origin: str | None = None,
    leaf_sink: list[bytes] | None = None,
) -> VerificationReport:
    """``verify_log`` over rows whose stream id is already its 16 bytes (RFC 4122 order).

    The streaming form ``ledger.audit`` feeds straight from the database: memory stays
    O(log n) whatever the size of the log (the rows and the recorded leaves are iterated once).
    With ``leaf_sink``, every recomputed leaf is appended to it as it is computed (the caller
    may compare and clear it page by page).
    """
    sink = leaf_sink.append if leaf_sink is not None else None
    pending = sorted(checkpoints, key=lambda c: c.tree_size)
    forged: set[int] = set()
    problems = _check_checkpoints(pending, public_key, origin, forged)
    state = _Walk(pending, problems)
    state.reach(MerkleLog(), 0)
    next_size = state.next_size
    first: _LeafMismatch | None = None  # the first row that differs from the recorded leaves
    expected_leaves: Iterator[RecordedLeaf] = iter(recorded if recorded is not None else ())
    expected = next(expected_leaves, None)
    expected_id = expected[0] if expected is not None else -1
    previous_id = -1
    # the hot loop: leaf_hash and MerkleLog.append inlined (tests hold them equal)
    sha256, head, join = _sha256, _HEAD.pack, b"".join
    prefix, node = LEAF_PREFIX + LEAF_DOMAIN, NODE_PREFIX
    topics: dict[str, bytes] = {}
    frontier: list[bytes] = []
    pop, push = frontier.pop, frontier.append
    index = 0  # rows hashed so far
    for notification_id, stream, version, topic, stored in rows:
        topic_part = topics.get(topic)
        if topic_part is None:
            topic_bytes = topic.encode("utf-8")
            topic_part = topics[topic] = _U32.pack(len(topic_bytes)) + topic_bytes
        leaf = sha256(
            join(
                (
                    prefix,
                    head(notification_id, stream, version),
                    topic_part,
                    sha256(stored).digest(),
                )
            )
        ).digest()
        if sink is not None:
            sink(leaf)
        if first is None:
            if notification_id == expected_id and notification_id > previous_id:
                if leaf != expected[1]:  # type: ignore[index]
                    first = _LeafMismatch(
                        len(problems), index, notification_id, stream, version, expected_id, 0, True
                    )
                expected = next(expected_leaves, None)
                expected_id = expected[0] if expected is not None else -1
            elif notification_id <= previous_id or expected is not None:
                first = _LeafMismatch(
                    len(problems),
                    index,
                    notification_id,
                    stream,
                    version,
                    expected_id,
                    previous_id,
                    False,
                )
        previous_id = notification_id
        h, carry = leaf, index
        while carry & 1:
            h = sha256(node + pop() + h).digest()
            carry >>= 1
        push(h)
        index += 1
        if index == next_size:
            state.reach(MerkleLog(index, frontier), notification_id)
            next_size = state.next_size
    log = MerkleLog(index, frontier)
    if expected is not None and first is None:
        problems.append(_truncated(expected, index, 1 + sum(1 for _ in expected_leaves)))
    state.beyond(log.size)
    if first is not None:  # in its place among the checkpoints' problems
        problems.insert(first.slot, _weighed(first, state, forged, signed=public_key is not None))
    return VerificationReport(
        ok=not problems,
        checked=log.size,
        checkpoints_checked=len(pending),
        tree_size=log.size,
        root=log.root(),
        problems=tuple(problems),
    )


def _event(notification_id: int, stream: bytes, version: int) -> tuple[str, UUID]:
    stream_id = UUID(bytes=stream)
    return _where(notification_id, stream_id, version), stream_id


def _changed(notification_id: int, stream: bytes, version: int) -> Problem:
    where, stream_id = _event(notification_id, stream, version)
    return Problem(
        "changed",
        f"{where} differs from the recorded leaf: its stream, version, topic or stored bytes "
        "changed",
        notification_id,
        stream_id,
        version,
    )


def _out_of_order(notification_id: int, stream: bytes, version: int, previous: int) -> Problem:
    where, stream_id = _event(notification_id, stream, version)
    return Problem(
        "out-of-order",
        f"{where} follows event {previous}: notification ids must increase (rows reordered or "
        "renumbered)",
        notification_id,
        stream_id,
        version,
    )


def _deleted(
    expected_id: int, index: int, notification_id: int, stream: bytes, version: int
) -> Problem:
    where, _ = _event(notification_id, stream, version)
    return Problem(
        "deleted",
        f"event {expected_id} was recorded at position {index + 1} but has no row there "
        f"(deleted, renumbered or moved); the row there is {where}",
        expected_id,
    )


def _mismatch(
    notification_id: int,
    stream: bytes,
    version: int,
    *,
    previous: int,
    expected_id: int,
    index: int,
) -> Problem:
    """A row out of order, or one where the recorded leaves have another event."""
    if notification_id <= previous:
        return _out_of_order(notification_id, stream, version, previous)
    if notification_id > expected_id:
        return _deleted(expected_id, index, notification_id, stream, version)
    return _inserted(notification_id, stream, version, expected_id)


def _inserted(notification_id: int, stream: bytes, version: int, expected_id: int) -> Problem:
    where, stream_id = _event(notification_id, stream, version)
    return Problem(
        "inserted",
        f"{where} was never recorded: inserted before event {expected_id}",
        notification_id,
        stream_id,
        version,
    )


class _LeafMismatch(NamedTuple):
    """The first row that differs from the recorded leaves, and where it is reported."""

    slot: int  # its place among the problems
    position: int  # the row's position in the log (from 0)
    notification_id: int
    stream: bytes
    version: int
    expected_id: int  # the notification id of the recorded leaf the row was compared with
    previous_id: int  # the notification id of the row before it
    changed: bool  # the row is the recorded leaf's event, with another leaf

    def problem_found(self) -> Problem:
        """The problem as the rows and the recorded leaves alone show it."""
        if self.changed:
            return _changed(self.notification_id, self.stream, self.version)
        return _mismatch(
            self.notification_id,
            self.stream,
            self.version,
            previous=self.previous_id,
            expected_id=self.expected_id,
            index=self.position,
        )


def _weighed(first: _LeafMismatch, walk: _Walk, forged: set[int], *, signed: bool) -> Problem:
    """The first row that differs from the recorded leaves, with what the checkpoints say.

    A row and its recorded leaf disagree: either may have been altered. A checkpoint that
    covers the row's position (and whose signature did not fail) tells which: when it matches
    the rows, the rows up to it are as signed, so the recorded leaf (traject_leaves, the
    integrity log's own record) is the one altered, and the problem is of kind ``leaf``. When
    none covers the row, the message says that it cannot yet tell which.
    """
    problem = first.problem_found()
    if problem.kind == "out-of-order":
        return problem
    covering = [
        (position, checkpoint)
        for position, checkpoint in enumerate(walk.pending)
        if checkpoint.tree_size > first.position
        and position in walk.matches
        and position not in forged
    ]
    support = next((c for position, c in covering if walk.matches[position]), None)
    where, stream_id = _event(first.notification_id, first.stream, first.version)
    if support is None:
        if covering:
            return problem  # a covering checkpoint does not match the rows either
        unsure = "no checkpoint covers it yet to tell which"
        if problem.kind == "changed":
            message = (
                f"{where} differs from the recorded leaf: its stream, version, topic or stored "
                f"bytes changed, or its recorded leaf in traject_leaves did ({unsure})"
            )
        elif problem.kind == "inserted":
            message = f"{problem.message}, or its recorded leaf was deleted ({unsure})"
        else:
            message = f"{problem.message}; or a leaf was inserted into traject_leaves ({unsure})"
        return dataclasses.replace(problem, message=message)
    evidence = f"{support}, which covers it, matches the rows"
    verdict = "the event is as signed"
    if not signed:
        evidence += " (its signature was not checked)"
        verdict += ", unless that checkpoint was forged as well"
    if problem.kind == "changed":
        message = (
            f"the recorded leaf of {where} (in traject_leaves, the integrity log's own record) "
            f"differs from the leaf of the event's row, but {evidence}: the recorded leaf was "
            f"altered; {verdict}"
        )
    elif problem.kind == "inserted":
        message = (
            f"{where} has no recorded leaf in traject_leaves (the next recorded leaf is event "
            f"{first.expected_id}'s), but {evidence}: its recorded leaf was deleted, the event "
            f"was not inserted; {verdict}"
        )
    else:  # deleted: a recorded leaf whose event has no row at its place
        message = (
            f"traject_leaves records a leaf of event {first.expected_id} at position "
            f"{first.position + 1}, but the row there is {where}, and {evidence}: the recorded "
            f"leaf was inserted or renumbered, no event was deleted; {verdict}"
        )
        return Problem("leaf", message, first.expected_id)
    return Problem("leaf", message, first.notification_id, stream_id, first.version)


def _truncated(missing: RecordedLeaf, size: int, count: int) -> Problem:
    missing_id = missing[0]  # a RecordedLeaf or a plain (id, hash) tuple
    return Problem(
        "deleted",
        f"event {missing_id} was recorded at position {size + 1} but has no row "
        f"(deleted or truncated; {count} recorded leaves have no row), or leaves were inserted "
        "into traject_leaves",
        missing_id,
    )


class _Walk:
    """The checkpoints still to reach while the rows are hashed, in order of size."""

    def __init__(self, pending: list[Checkpoint], problems: list[Problem]) -> None:
        self.pending = pending
        self.position = 0
        self.problems = problems
        self.matched_size = 0  # the largest size at which a checkpoint root matched
        self.matched_id = 0
        self.roots: dict[int, bytes] = {}
        self.matches: dict[int, bool] = {}  # position in pending -> whether it matched the rows

    @property
    def next_size(self) -> int:
        return self.pending[self.position].tree_size if self.position < len(self.pending) else -1

    def reach(self, log: MerkleLog, last_id: int) -> None:
        """Check every checkpoint of the log's current size."""
        size = log.size
        current = log.root()
        while self.position < len(self.pending) and self.pending[self.position].tree_size == size:
            checkpoint = self.pending[self.position]
            self.matches[self.position] = False
            self.position += 1
            earlier = self.roots.setdefault(size, checkpoint.root)
            if earlier != checkpoint.root:
                self.problems.append(
                    Problem(
                        "checkpoint",
                        f"{checkpoint}: its root differs from another checkpoint of the same "
                        "size: the checkpoints are inconsistent (one was altered, or the log "
                        "forked)",
                        checkpoint_size=size,
                    )
                )
            if checkpoint.root != current:
                span = (
                    f"after event {self.matched_id} (checkpoint size {self.matched_size} matches)"
                    if self.matched_size
                    else "from the first event"
                )
                self.problems.append(
                    Problem(
                        "checkpoint",
                        f"{checkpoint}: the root of the first {size} rows is {current.hex()}, "
                        f"the checkpoint says {checkpoint.root_hex}: an event {span} up to "
                        f"event {last_id} was changed, deleted, inserted or reordered, or the "
                        "checkpoint was altered",
                        checkpoint_size=size,
                    )
                )
            elif checkpoint.last_notification_id != last_id:
                self.problems.append(
                    Problem(
                        "checkpoint",
                        f"{checkpoint}: it names event {checkpoint.last_notification_id} as the "
                        f"last it covers, but row {size} is event {last_id}: the checkpoint was "
                        "altered",
                        checkpoint_size=size,
                    )
                )
            else:
                self.matched_size, self.matched_id = size, last_id
                self.matches[self.position - 1] = True

    def beyond(self, size: int) -> None:
        """Report the checkpoints larger than the log: rows were deleted from the end. Such a
        checkpoint does not match the rows, so one that covers a row which differs from its
        recorded leaf says that the row was altered, not the leaf (``_weighed``)."""
        for position, checkpoint in enumerate(self.pending[self.position :], self.position):
            self.matches[position] = False
            self.problems.append(
                Problem(
                    "deleted",
                    f"{checkpoint}: it covers {checkpoint.tree_size} events (up to event "
                    f"{checkpoint.last_notification_id}) but there are only {size} rows: rows "
                    "were deleted",
                    checkpoint.last_notification_id,
                    checkpoint_size=checkpoint.tree_size,
                )
            )


# --- self-contained proof documents -------------------------------------------------------------

INCLUSION_FORMAT = "traject-inclusion-proof-v1"
CONSISTENCY_FORMAT = "traject-consistency-proof-v1"


def leaf_hash_of_state_hash(
    notification_id: int, stream_id: UUID, version: int, topic: str, state_sha256: bytes
) -> bytes:
    """The leaf hash from the SHA-256 of the stored state (what a proof document carries)."""
    if len(state_sha256) != HASH_SIZE:
        raise ValueError("the state hash is a 32-byte SHA-256 hash")
    topic_bytes = topic.encode("utf-8")
    return _sha256(
        LEAF_PREFIX
        + LEAF_DOMAIN
        + _HEAD.pack(notification_id, stream_id.bytes, version)
        + _U32.pack(len(topic_bytes))
        + topic_bytes
        + state_sha256
    ).digest()


@dataclass(frozen=True)
class EventRef:
    """The fields of one stored event that its leaf covers, with the stored bytes' SHA-256."""

    notification_id: int
    stream_id: UUID
    version: int
    topic: str
    state_sha256: bytes

    @property
    def leaf_hash(self) -> bytes:
        return leaf_hash_of_state_hash(
            self.notification_id, self.stream_id, self.version, self.topic, self.state_sha256
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "notification_id": self.notification_id,
            "stream_id": str(self.stream_id),
            "version": self.version,
            "topic": self.topic,
            "state_sha256": self.state_sha256.hex(),
        }

    @classmethod
    def from_dict(cls, data: Any) -> EventRef:
        keys = {"notification_id", "stream_id", "version", "topic", "state_sha256"}
        if not isinstance(data, dict) or set(data) != keys:
            raise ProofFormatError(
                f"event: expected an object with exactly the keys {sorted(keys)}"
            )
        try:
            stream_id = UUID(data["stream_id"])
        except (ValueError, TypeError, AttributeError):
            raise ProofFormatError("event.stream_id: expected a UUID") from None
        if not isinstance(data["topic"], str) or not data["topic"]:
            raise ProofFormatError("event.topic: expected a non-empty string")
        return cls(
            _size(data["notification_id"], "event.notification_id"),
            stream_id,
            _size(data["version"], "event.version"),
            data["topic"],
            _hex_hash(data["state_sha256"], "event.state_sha256"),
        )


@dataclass(frozen=True)
class ProofCheck:
    """The outcome of checking a proof document offline: ``problems`` empty when it holds."""

    kind: str  # inclusion or consistency
    summary: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _document(text: str | bytes, fmt: str, keys: set[str]) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProofFormatError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != fmt or set(data) != keys:
        raise ProofFormatError(
            f"expected a JSON object with format {fmt!r} and exactly the keys {sorted(keys)}"
        )
    return data


def _checkpoint_field(data: dict[str, Any], key: str) -> Checkpoint:
    if not isinstance(data[key], str):
        raise ProofFormatError(f"{key}: expected the checkpoint text as a string")
    try:
        return parse_checkpoint(data[key])
    except CheckpointFormatError as error:
        raise ProofFormatError(f"{key}: {error}") from None


def _signature_problems(
    checkpoints: Sequence[tuple[str, Checkpoint]], public_key: TrustedKeys
) -> list[str]:
    return [
        f"{name} ({_unverified(checkpoint, public_key)})"
        for name, checkpoint in checkpoints
        if not verify_checkpoint_signature(checkpoint, public_key)
    ]


@dataclass(frozen=True)
class InclusionDocument:
    """A self-contained inclusion proof: the event's fields, the audit path, the checkpoint."""

    event: EventRef
    proof: InclusionProof
    checkpoint: Checkpoint

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": INCLUSION_FORMAT,
                "event": self.event.as_dict(),
                "proof": json.loads(self.proof.to_json()),
                "checkpoint": self.checkpoint.text,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> InclusionDocument:
        data = _document(text, INCLUSION_FORMAT, {"format", "event", "proof", "checkpoint"})
        return cls(
            EventRef.from_dict(data["event"]),
            InclusionProof.from_json(json.dumps(data["proof"])),
            _checkpoint_field(data, "checkpoint"),
        )

    def check(self, public_key: TrustedKeys) -> ProofCheck:
        """Check signature, leaf and audit path offline (docs/audit.md, "Proof documents")."""
        problems = _signature_problems([("checkpoint", self.checkpoint)], public_key)
        if self.event.leaf_hash != self.proof.leaf_hash:
            problems.append("the leaf hash is not the hash of the event's fields")
        if self.proof.tree_size != self.checkpoint.tree_size:
            problems.append(
                f"the proof is for a tree of {self.proof.tree_size} leaves, the checkpoint has "
                f"{self.checkpoint.tree_size}"
            )
        elif self.event.notification_id > self.checkpoint.last_notification_id:
            problems.append(
                f"event {self.event.notification_id} is after the checkpoint's last event "
                f"{self.checkpoint.last_notification_id}"
            )
        elif not self.proof.verify(self.checkpoint.root):
            problems.append("the audit path does not lead to the checkpoint's root")
        summary = (
            f"event {self.event.notification_id} (stream {self.event.stream_id} version "
            f"{self.event.version}) is leaf {self.proof.index} of {self.checkpoint}"
        )
        return ProofCheck("inclusion", summary, tuple(problems))


@dataclass(frozen=True)
class ConsistencyDocument:
    """A self-contained consistency proof between two checkpoints of one log."""

    old: Checkpoint
    new: Checkpoint
    proof: ConsistencyProof

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": CONSISTENCY_FORMAT,
                "old_checkpoint": self.old.text,
                "new_checkpoint": self.new.text,
                "proof": json.loads(self.proof.to_json()),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ConsistencyDocument:
        data = _document(
            text, CONSISTENCY_FORMAT, {"format", "old_checkpoint", "new_checkpoint", "proof"}
        )
        return cls(
            _checkpoint_field(data, "old_checkpoint"),
            _checkpoint_field(data, "new_checkpoint"),
            ConsistencyProof.from_json(json.dumps(data["proof"])),
        )

    def check(self, public_key: TrustedKeys) -> ProofCheck:
        """Check both signatures and the consistency path offline."""
        problems = _signature_problems(
            [("old_checkpoint", self.old), ("new_checkpoint", self.new)], public_key
        )
        if self.old.origin != self.new.origin:
            problems.append(
                f"the checkpoints have different origins: {self.old.origin!r}, {self.new.origin!r}"
            )
        if (self.proof.size1, self.proof.size2) != (self.old.tree_size, self.new.tree_size):
            problems.append(
                f"the proof is from size {self.proof.size1} to {self.proof.size2}, the "
                f"checkpoints have sizes {self.old.tree_size} and {self.new.tree_size}"
            )
        elif not self.proof.verify(self.old.root, self.new.root):
            problems.append(
                "the consistency path does not join the two roots: the log was rewritten "
                "between them, or a checkpoint was altered"
            )
        summary = f"{self.old} is a prefix of {self.new}"
        return ProofCheck("consistency", summary, tuple(problems))


def check_proof_document(text: str | bytes, public_key: TrustedKeys) -> ProofCheck:
    """Check an inclusion or consistency proof document offline, by its ``format``."""
    try:
        fmt = json.loads(text).get("format") if text else None
    except (ValueError, UnicodeDecodeError, AttributeError):
        fmt = None
    if fmt == CONSISTENCY_FORMAT:
        return ConsistencyDocument.from_json(text).check(public_key)
    if fmt == INCLUSION_FORMAT:
        return InclusionDocument.from_json(text).check(public_key)
    raise ProofFormatError(
        f"not a proof document: expected a JSON object whose format is {INCLUSION_FORMAT!r} "
        f"or {CONSISTENCY_FORMAT!r}"
    )
