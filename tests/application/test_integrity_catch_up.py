"""The integrity log kept current: catch-up records each new leaf once; verify only reads.

On SQLite and PostgreSQL (a schema shared by the session's tests: counts are relative), paging
with tiny pages so that page boundaries are crossed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from builders import person_fields

from ledger import audit
from ledger.integrity import generate_signing_key, leaf_hash


@pytest.fixture(autouse=True)
def tiny_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "PAGE_SIZE", 2)


def leaf_count(raw) -> int:  # type: ignore[no-untyped-def]
    return int(raw.query(f"SELECT COUNT(*) FROM {raw.prefix}traject_leaves")[0][0])


def test_catch_up_records_each_new_leaf_once_and_verify_writes_nothing(app, raw) -> None:
    audit.catch_up(app)
    recorded = leaf_count(raw)
    rows = len(list(audit.rows(app)))
    for _ in range(3):
        app.register_person(**person_fields())
    # verify reads only: it records nothing, and it passes with the new leaves not recorded yet
    assert audit.verify(app).ok
    assert leaf_count(raw) == recorded
    assert audit.catch_up(app) == 3
    assert audit.catch_up(app) == 0  # nothing new
    for _ in range(2):
        app.register_person(**person_fields())
    assert audit.catch_up(app) == 2
    expected = [(r.notification_id, leaf_hash(*r)) for r in audit.rows(app)]
    assert [tuple(leaf) for leaf in audit.recorded_leaves(app)] == expected
    report = audit.verify(app)
    assert report.ok, report.problems
    assert report.checked == rows + 5
    assert leaf_count(raw) == recorded + 5


def test_a_checkpoint_catches_up_and_covers_replay(app) -> None:
    private, _ = generate_signing_key()
    app.register_person(**person_fields())
    before = datetime.now(UTC)
    first = audit.checkpoint(app, private, "traject test")
    assert len(audit.recorded_leaves(app)) == first.tree_size  # caught up first
    app.register_person(**person_fields())
    second = audit.checkpoint(app, private, "traject test")
    assert second.tree_size == first.tree_size + 1
    # the events recorded by `before`: the first one; the first checkpoint covers it
    last = audit.last_notification_id_at(app, before)
    assert last == first.last_notification_id
    assert audit.covering_checkpoint(app, last) == first
    assert audit.covering_checkpoint(app, second.last_notification_id) == second
    assert audit.covering_checkpoint(app, second.last_notification_id + 1) is None
    assert [item.checkpoint for item in audit.stored_checkpoints(app)][-2:] == [first, second]
    assert audit.stored_checkpoint(app) == second
    assert audit.stored_checkpoint(app, first.tree_size) == first


def test_many_inclusion_documents_from_one_pass(app) -> None:
    private, public = generate_signing_key()
    people = [app.register_person(**person_fields()).stream_id for _ in range(5)]
    audit.checkpoint(app, private, "traject test")
    documents = audit.inclusion_documents(app, [(p, 1) for p in people])
    assert sorted(documents) == sorted((p, 1) for p in people)
    for (stream_id, _), document in documents.items():
        assert document.event.stream_id == stream_id
        assert document.check(public).ok
