"""ledger.audit on a real store: paging, tables made on first use, origin, stored checkpoints."""

from __future__ import annotations

import dataclasses

import pytest
from builders import person_fields

from ledger import audit
from ledger.integrity import EMPTY_ROOT, generate_signing_key, leaf_hash, root

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


@pytest.fixture
def signing_key() -> tuple[bytes, bytes]:
    return generate_signing_key()


def test_an_empty_log_checkpoints_the_empty_tree(app, signing_key) -> None:
    private, public = signing_key
    signed = audit.checkpoint(app, private, "traject test")
    assert (signed.tree_size, signed.root, signed.last_notification_id) == (0, EMPTY_ROOT, 0)
    report = audit.verify(app, [], public)
    assert report.ok, report.problems
    assert report.checkpoints_checked == 1


def test_rows_are_read_page_by_page_and_leaves_recorded_once(
    app, raw, signing_key, monkeypatch
) -> None:
    monkeypatch.setattr(audit, "PAGE_SIZE", 2)
    for _ in range(5):
        app.register_person(**person_fields())
    rows = list(audit.rows(app))
    assert [row.notification_id for row in rows] == [1, 2, 3, 4, 5]
    assert list(audit.leaves(app, 3)) == [(r.notification_id, leaf_hash(*r)) for r in rows[3:]]

    # a ledger made before the audit tables: they are created on first use
    raw.query("DROP TABLE {p}traject_leaves")
    raw.query("DROP TABLE {p}traject_checkpoints")
    private, public = signing_key
    signed = audit.checkpoint(app, private, "traject test")
    assert signed.root == root([leaf_hash(*r) for r in rows])
    assert signed.last_notification_id == 5
    assert audit.recorded_leaves(app) == list(audit.leaves(app))

    # the origin is fixed at the first checkpoint
    app.register_person(**person_fields())
    later = audit.checkpoint(app, private, "another name")
    assert later.origin == "traject test"
    assert later.tree_size == 6
    assert audit.verify(app, [signed, later], public).ok


def test_a_stored_checkpoint_altered_in_the_database_is_reported(app, raw, signing_key) -> None:
    private, public = signing_key
    app.register_person(**person_fields())
    audit.checkpoint(app, private, "traject test")
    raw.query("UPDATE {p}traject_checkpoints SET text = replace(text, 'time 2', 'time 1')")
    report = audit.verify(app, [], public)
    assert not report.ok
    assert "the signature does not verify" in str(report.first_problem)
    raw.query("UPDATE {p}traject_checkpoints SET text = 'garbage'")
    report = audit.verify(app, [], public)
    assert "the stored checkpoint of size 1 is malformed" in str(report.first_problem)


def test_consistency_between_checkpoints_tells_an_altered_checkpoint_from_changed_rows(
    app, raw, signing_key
) -> None:
    private, public = signing_key
    for _ in range(3):
        app.register_person(**person_fields())
    first = audit.checkpoint(app, private, "traject test")
    app.register_person(**person_fields())
    audit.checkpoint(app, private, "traject test")
    raw.query("DROP TRIGGER traject_events_no_update")
    raw.query("UPDATE {events} SET topic = topic || 'x' WHERE rowid = 1")

    report = audit.verify(app, [], public)
    kinds = [problem.kind for problem in report.problems]
    assert kinds[0] == "changed"
    assert report.first_problem is not None
    assert report.first_problem.notification_id == 1
    assert not any("not consistent" in problem.message for problem in report.problems)

    # a checkpoint that fits no tree of the recorded leaves is told apart
    forged = dataclasses.replace(first, tree_size=2, root=bytes(32))
    report = audit.verify(app, [forged], public)
    assert any(
        problem.message.startswith(f"{first} is not consistent with {forged}")
        for problem in report.problems
    )
