"""Per-stream data keys (AES-256-GCM), wrapped by a master key that never enters the database.

* Every stream that carries personal fields has its own 256-bit data key.
* Data keys are stored wrapped (AES-256-GCM under the master key, the stream id as associated
  data) in the ``traject_data_keys`` table. Erasure overwrites the wrapped key: the ciphertext in
  the event rows stays, proofs over it still verify, and the fields read as erased. The old
  bytes of the key row are then purged from the database's files (``ledger.persistence``).
* The BSN index is an HMAC-SHA256 under a key derived from the master key (HKDF), so a BSN is
  found without being stored in clear.
* Rotating the master key re-wraps every data key and recomputes the BSN index under the new
  one (``ledger.persistence``); the data keys themselves, and so the event rows, stay as they are.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import stat
from pathlib import Path
from threading import Lock
from typing import Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ledger.errors import DataKeyError, ErasedError, MasterKeyError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16  # AES-GCM's authentication tag, after the ciphertext
WRAP_FORMAT = b"\x01"
SHREDDED = b""


def generate_master_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def encode_master_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode("ascii")


def parse_master_key(text: str, origin: str) -> bytes:
    """Accept the base64 form written by ``traject init`` or 64 hex digits."""
    value = text.strip()
    try:
        key = bytes.fromhex(value) if len(value) == 64 else base64.urlsafe_b64decode(value)
    except (ValueError, binascii.Error):
        key = b""
    if len(key) != KEY_BYTES:
        msg = f"{origin}: the master key must be 32 bytes, as base64 or 64 hex digits"
        raise MasterKeyError(msg)
    return key


def key_check_value(master_key: bytes) -> str:
    """The value the ledger stores to recognise its master key (an HMAC: it reveals nothing of
    the key)."""
    return hmac.new(master_key, b"traject master key check v1", "sha256").hexdigest()


def write_new_file(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` and write ``data``; an existing file raises FileExistsError.

    Key files are created this way: never overwritten, and never readable by others even for
    a moment (the mode is set when the file is created, not after). A file that cannot be
    written whole is removed again.
    """
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # on disk before anything depends on it (a rotated ledger)
    except OSError:
        # made here (O_EXCL) and not finished (a full disk): an empty key file left behind
        # would refuse every later try, since key files are never overwritten
        path.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # and its name too
    finally:
        os.close(directory)


def write_key_file(path: Path, key: bytes) -> None:
    """Create the key file with mode 0600; refuse to overwrite an existing one."""
    try:
        write_new_file(
            path, (encode_master_key(key) + "\n").encode("ascii"), stat.S_IRUSR | stat.S_IWUSR
        )
    except FileExistsError:
        msg = f"{path}: a master key file already exists; it is never overwritten"
        raise MasterKeyError(msg) from None


def read_key_file(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii", errors="replace")  # a key is ASCII text
    except FileNotFoundError:
        msg = (
            f"no master key: {path} does not exist. Run `traject init`, "
            "or set TRAJECT_MASTER_KEY / TRAJECT_KEY_FILE"
        )
        raise MasterKeyError(msg) from None
    return parse_master_key(text, str(path))


class KeyStore(Protocol):
    """Where wrapped data keys live (a table beside the events)."""

    def select_wrapped_key(self, subject: UUID) -> bytes | None: ...

    def insert_wrapped_key(self, subject: UUID, wrapped: bytes) -> None: ...

    def shred_wrapped_key(self, subject: UUID) -> None: ...


class HeldKeys:
    """A read-only key store over wrapped keys already in hand (read inside a transaction)."""

    def __init__(self, wrapped: dict[UUID, bytes]) -> None:
        self._wrapped = wrapped

    def select_wrapped_key(self, subject: UUID) -> bytes | None:
        return self._wrapped.get(subject)

    def insert_wrapped_key(self, subject: UUID, wrapped: bytes) -> None:
        msg = "held keys are read-only"
        raise RuntimeError(msg)

    def shred_wrapped_key(self, subject: UUID) -> None:
        msg = "held keys are read-only"
        raise RuntimeError(msg)


class KeyRing:
    """Unwraps, creates and caches data keys; encrypts and decrypts personal fields."""

    def __init__(self, master_key: bytes, store: KeyStore) -> None:
        if len(master_key) != KEY_BYTES:
            msg = "the master key must be 32 bytes"
            raise MasterKeyError(msg)
        self._master = AESGCM(master_key)
        self._store = store
        self._cache: dict[UUID, bytes | None] = {}
        self._lock = Lock()
        self.bsn_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"traject bsn index v1"
        ).derive(master_key)
        self.export_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"traject export pseudonym v1"
        ).derive(master_key)
        self.check_value = key_check_value(master_key)
        self.verified = False
        """Whether the ledger's check value was found to be this master key's: then a data key
        that does not open was altered, not wrapped under another master key."""

    def bsn_digest(self, bsn: str) -> str:
        """Keyed hash of a (normalised) BSN for the lookup index."""
        return hmac.new(self.bsn_key, bsn.encode("ascii"), hashlib.sha256).hexdigest()

    def _wrap(self, subject: UUID, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return WRAP_FORMAT + nonce + self._master.encrypt(nonce, data_key, subject.bytes)

    def _unwrap(self, subject: UUID, wrapped: bytes) -> bytes:
        if wrapped[:1] != WRAP_FORMAT:
            msg = f"data key of {subject}: unknown wrapping format"
            raise MasterKeyError(msg)
        nonce, body = wrapped[1 : 1 + NONCE_BYTES], wrapped[1 + NONCE_BYTES :]
        try:
            return self._master.decrypt(nonce, body, subject.bytes)
        except InvalidTag:
            if self.verified:
                what = (
                    "its wrapped data key does not open with the ledger's master key, which "
                    "opens the ledger (its check value matches), so the key's row was "
                    "overwritten or copied from another stream"
                )
                raise DataKeyError(subject, what) from None
            msg = (
                f"data key of {subject} does not open with this master key: "
                "TRAJECT_MASTER_KEY / the key file is not the one this ledger was created with"
            )
            raise MasterKeyError(msg) from None

    def rewrap(self, subject: UUID, wrapped: bytes, new: KeyRing) -> bytes:
        """``subject``'s wrapped data key, unwrapped with this ring's master key and wrapped
        with ``new``'s; a destroyed key (the tombstone) stays destroyed.

        Raises:
            MasterKeyError: the key does not open with this ring's master key.
        """
        if wrapped == SHREDDED:
            return SHREDDED
        return new._wrap(subject, self._unwrap(subject, wrapped))

    def key_for_read(self, subject: UUID) -> bytes | None:
        """The stream's data key, or None if it never had one or it was shredded."""
        with self._lock:
            if subject in self._cache:
                return self._cache[subject]
        wrapped = self._store.select_wrapped_key(subject)
        key = None if not wrapped else self._unwrap(subject, wrapped)
        with self._lock:
            self._cache[subject] = key
        return key

    def erased(self, subject: UUID) -> bool:
        """Whether the stream's data key was shredded (its person erased)."""
        return self._store.select_wrapped_key(subject) == SHREDDED

    def key_for_write(self, subject: UUID) -> bytes:
        """The stream's data key, created (and stored wrapped) on first use."""
        key = self.key_for_read(subject)
        if key is not None:
            return key
        if self._store.select_wrapped_key(subject) == SHREDDED:
            raise ErasedError(subject)
        self._store.insert_wrapped_key(subject, self._wrap(subject, AESGCM.generate_key(256)))
        with self._lock:
            self._cache.pop(subject, None)
        fresh = self.key_for_read(subject)  # re-read: a concurrent writer may have won
        assert fresh is not None
        return fresh

    def new_data_key(self, subject: UUID) -> bytes:
        """A fresh data key for a stream that has none, kept for writing; returned wrapped.

        For bulk appends: the caller stores the wrapped key in the transaction that saves the
        stream's first events, and must ``forget`` the subject if that transaction fails.
        """
        key = AESGCM.generate_key(256)
        with self._lock:
            self._cache[subject] = key
        return self._wrap(subject, key)

    def shredded(self, subject: UUID) -> None:
        """Note that ``subject``'s key was destroyed by a bulk append's transaction."""
        with self._lock:
            self._cache[subject] = None

    def shred(self, subject: UUID) -> None:
        self._store.shred_wrapped_key(subject)
        with self._lock:
            self._cache[subject] = None

    def forget(self, subject: UUID) -> None:
        with self._lock:
            self._cache.pop(subject, None)

    @staticmethod
    def encrypt(data_key: bytes, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(data_key).encrypt(nonce, plaintext, aad)

    @staticmethod
    def decrypt(data_key: bytes, blob: bytes, aad: bytes) -> bytes:
        return AESGCM(data_key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
