"""The integrity log of a ledger: its leaves, its signed checkpoints, and their verification.

Built on the pure library ``ledger.integrity`` (docs/audit.md): this module reads the stored
events through the application's recorder, in notification order, and keeps two side tables:

* ``traject_checkpoints`` (tree size, checkpoint text, time stored): every checkpoint signed by
  ``checkpoint``, so that ``verify`` checks them all;
* ``traject_leaves`` (notification id, leaf hash in hex): each event's leaf as it was the first
  time the log was checkpointed or verified, so that ``verify`` can name the first changed,
  deleted or inserted event rather than only a range between two checkpoints.

Both tables are created by ``traject init`` and, for older ledgers, on first use. The origin
line of the checkpoints is fixed at the first checkpoint (``traject_settings``, ``audit_origin``).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.integrity import (
    Checkpoint,
    CheckpointBody,
    CheckpointFormatError,
    InclusionProof,
    IntegrityError,
    Problem,
    RecordedLeaf,
    Row,
    VerificationReport,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    parse_checkpoint,
    sign_checkpoint,
    verify_consistency,
    verify_log,
)
from ledger.persistence import AUDIT_TABLES

if TYPE_CHECKING:
    from ledger.application import TrajectoryLedger

PAGE_SIZE = 5000
ORIGIN_SETTING = "audit_origin"


# --- reading the log ----------------------------------------------------------------------------


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _bytes(value: Any) -> bytes:
    if isinstance(value, str):  # a state written as text by hand (SQLite keeps the type given)
        return value.encode("utf-8")
    return bytes(value)


def rows(app: TrajectoryLedger, start: int = 0) -> Iterator[Row]:
    """The stored events after notification id ``start``, in notification order, page by page."""
    position = start
    while True:
        page = app.recorder.select_notifications(position, PAGE_SIZE, inclusive_of_start=False)
        for notification in page:
            yield Row(
                notification.id,
                _uuid(notification.originator_id),
                notification.originator_version,
                notification.topic,
                _bytes(notification.state),
            )
        if len(page) < PAGE_SIZE:
            return
        position = page[-1].id


def leaves(app: TrajectoryLedger, start: int = 0) -> Iterator[RecordedLeaf]:
    """The leaf of every stored event after notification id ``start``, in notification order."""
    for row in rows(app, start):
        yield RecordedLeaf(row.notification_id, leaf_hash(*row))


# --- the side tables ----------------------------------------------------------------------------


def ensure_tables(app: TrajectoryLedger) -> None:
    """Create the audit tables if this ledger predates them."""
    for statement in AUDIT_TABLES:
        app.tables._write(statement, [])


def recorded_leaves(app: TrajectoryLedger) -> list[RecordedLeaf]:
    """The leaves recorded so far, in notification order."""
    found = app.tables._all(
        "SELECT notification_id, leaf_hash FROM {p}traject_leaves ORDER BY notification_id", []
    )
    return [
        RecordedLeaf(int(row["notification_id"]), bytes.fromhex(row["leaf_hash"])) for row in found
    ]


def _record(app: TrajectoryLedger, new: Sequence[RecordedLeaf]) -> None:
    if not new:
        return
    tables = app.tables
    statement = tables._sql(
        "INSERT INTO {p}traject_leaves VALUES (?, ?) ON CONFLICT (notification_id) DO NOTHING"
    )
    with tables._side(commit=True) as cursor:
        for start in range(0, len(new), PAGE_SIZE):
            cursor.executemany(
                statement,
                [
                    [leaf.notification_id, leaf.leaf_hash.hex()]
                    for leaf in new[start : start + PAGE_SIZE]
                ],
            )


def stored_checkpoint_texts(app: TrajectoryLedger) -> list[tuple[int, str]]:
    """(tree size, text) of every stored checkpoint, smallest first."""
    found = app.tables._all(
        "SELECT tree_size, text FROM {p}traject_checkpoints ORDER BY tree_size", []
    )
    return [(int(row["tree_size"]), str(row["text"])) for row in found]


def origin(app: TrajectoryLedger) -> str | None:
    """The origin line of this ledger's checkpoints, fixed at the first checkpoint."""
    return app.tables.get_setting(ORIGIN_SETTING)


# --- checking -----------------------------------------------------------------------------------


def _scan(
    app: TrajectoryLedger,
    checkpoints: Sequence[Checkpoint],
    *,
    public_key: bytes | None,
    expected_origin: str | None,
) -> tuple[VerificationReport, int]:
    """Verify every row, then record the leaves first seen (when the log verified)."""
    recorded = recorded_leaves(app)
    high = recorded[-1].notification_id if recorded else 0
    new: list[RecordedLeaf] = []
    last_id = 0

    def read() -> Iterator[Row]:
        nonlocal last_id
        for row in rows(app):
            if row.notification_id > high:
                new.append(RecordedLeaf(row.notification_id, leaf_hash(*row)))
            last_id = row.notification_id
            yield row

    report = verify_log(
        read(), checkpoints, recorded=recorded, public_key=public_key, origin=expected_origin
    )
    if report.ok:
        _record(app, new)
    return report, last_id


def _stored_checkpoints(app: TrajectoryLedger) -> tuple[list[Checkpoint], list[Problem]]:
    found: list[Checkpoint] = []
    problems: list[Problem] = []
    for size, text in stored_checkpoint_texts(app):
        try:
            found.append(parse_checkpoint(text))
        except CheckpointFormatError as error:
            problems.append(
                Problem(
                    "checkpoint",
                    f"the stored checkpoint of size {size} is malformed: {error}",
                    checkpoint_size=size,
                )
            )
    return found, problems


def verify(
    app: TrajectoryLedger,
    given_checkpoints: Iterable[Checkpoint] = (),
    public_key_pem: bytes | None = None,
) -> VerificationReport:
    """Recompute every leaf and check it against the recorded leaves and every checkpoint.

    The checkpoints are those stored in the ledger and ``given_checkpoints`` (copies kept
    outside it); with ``public_key_pem`` their signatures are checked too. Every checkpoint
    must match the one tree recomputed from the rows, which also makes them consistent with
    one another. Leaves not recorded yet are recorded when everything verified.
    """
    ensure_tables(app)
    stored, problems = _stored_checkpoints(app)
    unique: dict[str, Checkpoint] = {}
    for checkpoint in [*stored, *given_checkpoints]:
        unique.setdefault(checkpoint.text, checkpoint)
    report, _ = _scan(
        app, list(unique.values()), public_key=public_key_pem, expected_origin=origin(app)
    )
    unlinked = [] if report.ok else _inconsistent(recorded_leaves(app), list(unique.values()))
    if problems or unlinked:
        report = dataclasses.replace(
            report, ok=False, problems=(*problems, *report.problems, *unlinked)
        )
    return report


def _inconsistent(recorded: Sequence[RecordedLeaf], checkpoints: list[Checkpoint]) -> list[Problem]:
    """Successive checkpoints that no consistency proof over the recorded leaves joins.

    Only when the log failed to verify (when every checkpoint matches the one tree recomputed
    from the rows they are consistent already): it tells a checkpoint that was altered or
    forked from one that merely no longer matches changed rows.
    """
    hashes = [leaf.leaf_hash for leaf in recorded]
    by_size: dict[int, Checkpoint] = {}
    for item in sorted(checkpoints, key=lambda c: c.tree_size):
        by_size.setdefault(item.tree_size, item)
    ordered = [c for size, c in sorted(by_size.items()) if size <= len(hashes)]
    problems: list[Problem] = []
    for earlier, later in itertools.pairwise(ordered):
        proof = consistency_proof(hashes, earlier.tree_size, later.tree_size)
        if not verify_consistency(
            earlier.tree_size, later.tree_size, earlier.root, later.root, proof
        ):
            problems.append(
                Problem(
                    "checkpoint",
                    f"{later} is not consistent with {earlier} over the recorded leaves: one "
                    "of them was altered, or the log was rewritten between them",
                    checkpoint_size=later.tree_size,
                )
            )
    return problems


def checkpoint(app: TrajectoryLedger, private_key_pem: bytes, default_origin: str) -> Checkpoint:
    """Verify the log, then sign and store a checkpoint of all of it.

    The origin is ``default_origin`` at the first checkpoint and the stored one afterwards.
    Refuses (IntegrityError) when the log does not verify against the recorded leaves and the
    stored checkpoints: signing would vouch for a changed log.
    """
    ensure_tables(app)
    name = origin(app)
    if name is None:
        name = default_origin
        app.tables.set_setting(ORIGIN_SETTING, name)
    stored, problems = _stored_checkpoints(app)
    report, last_id = _scan(app, stored, public_key=None, expected_origin=name)
    problems += report.problems
    if problems:
        raise IntegrityError(
            f"the log does not verify, no checkpoint signed: {problems[0]}"
            + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else "")
        )
    body = CheckpointBody(name, report.tree_size, report.root, last_id if report.tree_size else 0)
    signed = parse_checkpoint(sign_checkpoint(body, private_key_pem))
    app.tables._write(
        "INSERT INTO {p}traject_checkpoints VALUES (?, ?, ?) ON CONFLICT (tree_size) DO NOTHING",
        [signed.tree_size, signed.text, datetime.now(UTC).isoformat()],
    )
    return signed


def latest_checkpoint(app: TrajectoryLedger) -> Checkpoint | None:
    """The stored checkpoint of the largest tree size, if any."""
    ensure_tables(app)
    texts = stored_checkpoint_texts(app)
    return parse_checkpoint(texts[-1][1]) if texts else None


def prove(
    app: TrajectoryLedger, stream_id: UUID, version: int
) -> tuple[InclusionProof, Checkpoint]:
    """The inclusion proof of one event against the latest stored checkpoint."""
    latest = latest_checkpoint(app)
    if latest is None:
        raise IntegrityError("no checkpoint yet: run `traject audit checkpoint` first")
    hashes: list[bytes] = []
    index: int | None = None
    for row in rows(app):
        if len(hashes) == latest.tree_size:
            break
        if row.stream_id == stream_id and row.version == version:
            index = len(hashes)
        hashes.append(leaf_hash(*row))
    if len(hashes) < latest.tree_size:
        raise IntegrityError(
            f"the log has {len(hashes)} events, fewer than the latest checkpoint's "
            f"{latest.tree_size}: run `traject audit verify`"
        )
    if index is None:
        raise IntegrityError(
            f"no event {stream_id} version {version} among the {latest.tree_size} events of "
            "the latest checkpoint"
        )
    path = inclusion_proof(hashes, index, latest.tree_size)
    return InclusionProof(index, latest.tree_size, hashes[index], tuple(path)), latest
