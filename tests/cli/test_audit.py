"""`traject audit`: keys, checkpoints, and verification catching an attacker who edits the database.

The attacker works below traject: sqlite3 (or psycopg) straight on the store, dropping the
append-only triggers first.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from contextlib import closing
from pathlib import Path
from uuid import UUID

import pytest
from cli_helpers import Traject, days_ago
from pg_schemas import PostgresSchemas

from ledger.integrity import InclusionDocument, parse_checkpoint


def keys(traject: Traject, tmp_path: Path) -> tuple[Path, Path]:
    result = traject.ok("audit", "keygen", "--out", str(tmp_path / "auditor.key"))
    assert str(tmp_path / "auditor.key") in result.stdout
    assert str(tmp_path / "auditor.pub") in result.stdout
    return tmp_path / "auditor.key", tmp_path / "auditor.pub"


def checkpointed(traject: Traject, tmp_path: Path) -> tuple[str, Path, Path]:
    """A person with three events (versions 1-3, notification ids 1-3) and a checkpoint file."""
    person = traject.linked_person()
    private, public = keys(traject, tmp_path)
    out = tmp_path / "checkpoint.txt"
    traject.ok("audit", "checkpoint", "--key", str(private), "--out", str(out))
    return person, out, public


def sqlite_attack(traject: Traject, sql: str, *params: object) -> None:
    path = traject.database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("DROP TRIGGER traject_events_no_update")
        connection.execute("DROP TRIGGER traject_events_no_delete")
        connection.execute(sql, params)


def flip_a_byte(state: bytes) -> bytes:
    return state[:-2] + bytes([state[-2] ^ 1]) + state[-1:]


def verify(traject: Traject, *args: str):  # type: ignore[no-untyped-def]
    return traject("audit", "verify", *args)


def test_keygen_writes_a_private_key_for_the_owner_only_and_never_overwrites(
    traject: Traject, tmp_path: Path
) -> None:
    private, public = keys(traject, tmp_path)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in private.read_bytes()
    assert b"PUBLIC KEY" in public.read_bytes()
    before = private.read_bytes()
    again = traject("audit", "keygen", "--out", str(private))
    assert again.exit_code == 1
    assert "never overwritten" in again.stderr
    assert private.read_bytes() == before


def test_an_out_file_that_exists_is_refused_untouched_and_nothing_is_signed(
    ledger: Traject, tmp_path: Path
) -> None:
    """--out never overwrites (an older checkpoint or proof kept there is evidence): refused
    before anything is done, and `audit checkpoint` stores no checkpoint either."""
    person, _, _ = checkpointed(ledger, tmp_path)
    ledger.ok("record", "ladder-assessed", person, "--on", days_ago(3), "--rung", "2",
              "--assessor", "r.jansen")  # fmt: skip
    kept = tmp_path / "kept.txt"
    kept.write_text("an earlier checkpoint\n")
    stored = ledger.ok("--json", "audit", "checkpoints").stdout
    for args in (
        ("checkpoint", "--key", str(tmp_path / "auditor.key")),
        ("export",),
        ("prove", person, "1"),
    ):
        result = ledger("audit", *args, "--out", str(kept))
        assert result.exit_code == 2, result.output
        assert f"Invalid value for '--out': {kept} exists; it is never overwritten" in result.stderr
    assert kept.read_text() == "an earlier checkpoint\n"
    assert ledger.ok("--json", "audit", "checkpoints").stdout == stored


def test_an_untouched_ledger_verifies_against_its_checkpoints(
    ledger: Traject, tmp_path: Path
) -> None:
    _, checkpoint, public = checkpointed(ledger, tmp_path)
    text = checkpoint.read_text(encoding="utf-8")
    assert text.splitlines()[1] == "3"
    assert text.startswith("traject ledger ")
    ledger.register()  # events after the checkpoint are fine
    printed = ledger.ok("audit", "checkpoint", "--key", str(tmp_path / "auditor.key")).stdout
    assert printed.splitlines()[1] == "4"
    assert printed.splitlines()[0] == text.splitlines()[0]  # the origin stays the same
    result = verify(ledger, "--checkpoint", str(checkpoint), "--public-key", str(public))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "verified 4 events against 2 checkpoints"


def test_a_ledger_is_named_by_its_own_id_wherever_its_files_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first checkpoint names the ledger by the id `traject init` gave it, never by the
    server or the directory it is on: the same name from every directory, and after the
    files are moved to another place (an auditor's machine)."""
    below = tmp_path / "below"
    below.mkdir()
    key = tmp_path / "auditor.key"
    monkeypatch.chdir(tmp_path)
    here = Traject("a.db", tmp_path / "a.db.key")
    here.init("--municipality", "GM0622")
    here.ok("audit", "keygen", "--out", str(key))
    first = here.ok("audit", "checkpoint", "--key", str(key)).stdout
    name = first.splitlines()[0]
    assert name == f"traject ledger {UUID(name.removeprefix('traject ledger '))}"
    assert str(tmp_path) not in first and "a.db" not in first
    monkeypatch.chdir(below)
    there = Traject("sqlite:///../a.db", tmp_path / "a.db.key")
    there.register()
    second = there.ok("audit", "checkpoint", "--key", str(key)).stdout
    assert second.splitlines()[0] == name
    # moved: another directory, another file name
    elsewhere = tmp_path / "archive"
    elsewhere.mkdir()
    (tmp_path / "a.db").rename(elsewhere / "gm0622-2026.db")
    moved = Traject(f"sqlite:///{elsewhere / 'gm0622-2026.db'}", tmp_path / "a.db.key")
    moved.register()
    third = moved.ok("audit", "checkpoint", "--key", str(key)).stdout
    assert third.splitlines()[0] == name
    result = verify(moved, "--public-key", str(tmp_path / "auditor.pub"))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "verified 2 events against 3 checkpoints"


def test_a_ledger_initialised_before_ledger_ids_gets_one_at_its_first_checkpoint(
    ledger: Traject, tmp_path: Path
) -> None:
    path = ledger.database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("DELETE FROM traject_settings WHERE name = 'ledger_id'")

    _, checkpoint, public = checkpointed(ledger, tmp_path)

    name = checkpoint.read_text(encoding="utf-8").splitlines()[0]
    with closing(sqlite3.connect(path)) as connection:
        (stored,) = connection.execute(
            "SELECT value FROM traject_settings WHERE name = 'ledger_id'"
        ).fetchone()
    assert name == f"traject ledger {stored}"
    result = verify(ledger, "--checkpoint", str(checkpoint), "--public-key", str(public))
    assert result.exit_code == 0, result.output


def test_checkpoints_stored_without_their_origin_keep_the_name_they_carry(
    ledger: Traject, tmp_path: Path
) -> None:
    """A ledger whose checkpoints were stored before their origin was (an earlier release):
    the next checkpoint takes the name the first one carries, so that all of them verify."""
    _, checkpoint, public = checkpointed(ledger, tmp_path)
    path = ledger.database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("DELETE FROM traject_settings WHERE name = 'audit_origin'")
        connection.execute("DELETE FROM traject_settings WHERE name = 'ledger_id'")
    ledger.register()

    later = ledger.ok("audit", "checkpoint", "--key", str(tmp_path / "auditor.key")).stdout

    assert later.splitlines()[0] == checkpoint.read_text(encoding="utf-8").splitlines()[0]
    result = verify(ledger, "--checkpoint", str(checkpoint), "--public-key", str(public))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "verified 4 events against 2 checkpoints"


def test_a_ledger_keeps_the_origin_its_first_checkpoint_stored(
    ledger: Traject, tmp_path: Path
) -> None:
    """A ledger whose first checkpoint was signed with a relative name (before traject named
    a SQLite file by its absolute path) keeps that name: its checkpoints go on verifying."""
    path = ledger.database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute(
            "INSERT INTO traject_settings VALUES ('audit_origin', 'traject ledger sqlite:///a.db')"
        )
    _, checkpoint, public = checkpointed(ledger, tmp_path)
    assert checkpoint.read_text(encoding="utf-8").startswith("traject ledger sqlite:///a.db\n")
    ledger.register()
    later = ledger.ok("audit", "checkpoint", "--key", str(tmp_path / "auditor.key")).stdout
    assert later.startswith("traject ledger sqlite:///a.db\n")
    result = verify(ledger, "--checkpoint", str(checkpoint), "--public-key", str(public))
    assert result.exit_code == 0, result.output


def test_a_public_key_file_that_is_no_public_key_is_refused_before_anything_is_read(
    ledger: Traject, tmp_path: Path
) -> None:
    _, checkpoint, public = checkpointed(ledger, tmp_path)
    private = public.with_suffix(".key")
    said = {
        private: "this is a private key; give the public key (the .pub file)",
        checkpoint: "not a PEM public key",
    }
    for given, message in said.items():
        for command in (("audit", "verify"), ("audit", "verify-proof", str(checkpoint))):
            result = ledger(*command, "--public-key", str(given))
            assert result.exit_code == 2, (command, result.output)
            assert f"Invalid value for '--public-key': {given}: public key: " in result.stderr
            assert message in result.stderr


def test_a_changed_byte_names_the_event(ledger: Traject, tmp_path: Path) -> None:
    person, checkpoint, public = checkpointed(ledger, tmp_path)
    path = ledger.database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as connection:
        (state,) = connection.execute("SELECT state FROM stored_events WHERE rowid = 2").fetchone()
    sqlite_attack(ledger, "UPDATE stored_events SET state = ? WHERE rowid = 2", flip_a_byte(state))

    result = verify(ledger, "--checkpoint", str(checkpoint), "--public-key", str(public))
    assert result.exit_code == 1
    assert f"event 2 (stream {UUID(person)} version 2) differs from the recorded leaf" in (
        result.stderr
    )
    assert "size 3" in result.stderr  # the checkpoint that no longer matches
    assert "Error: the log does not verify" in result.stderr
    # and no checkpoint is signed over the changed log
    refused = ledger("audit", "checkpoint", "--key", str(tmp_path / "auditor.key"))
    assert refused.exit_code == 1
    assert "does not verify" in refused.stderr


def test_a_change_after_the_last_checkpoint_is_named_from_the_recorded_leaves(
    ledger: Traject, tmp_path: Path
) -> None:
    person = ledger.linked_person()
    ledger.ok("report", "outflow", "--period", "2024H1")  # a read command records the leaves
    assert verify(ledger).exit_code == 0  # no checkpoint yet
    sqlite_attack(ledger, "UPDATE stored_events SET topic = topic || 'x' WHERE rowid = 3")
    result = verify(ledger)
    assert result.exit_code == 1
    assert f"event 3 (stream {UUID(person)} version 3)" in result.stderr


def test_a_deleted_row_is_detected(ledger: Traject, tmp_path: Path) -> None:
    _, checkpoint, public = checkpointed(ledger, tmp_path)
    sqlite_attack(ledger, "DELETE FROM stored_events WHERE rowid = 2")
    result = verify(ledger, "--checkpoint", str(checkpoint), "--public-key", str(public))
    assert result.exit_code == 1
    assert "event 2 was recorded at position 2 but has no row there" in result.stderr


def test_an_altered_checkpoint_file_is_detected(ledger: Traject, tmp_path: Path) -> None:
    _, checkpoint, public = checkpointed(ledger, tmp_path)
    lines = checkpoint.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = ("B" if lines[2][0] != "B" else "C") + lines[2][1:]  # one byte of the root
    checkpoint.write_text("".join(lines), encoding="utf-8")
    result = verify(ledger, "--checkpoint", str(checkpoint), "--public-key", str(public))
    assert result.exit_code == 1
    assert "the signature does not verify" in result.stderr
    assert "the checkpoint says" in result.stderr
    # a file that is no checkpoint at all is named: bad input, nothing verified
    checkpoint.write_text("not a checkpoint\n", encoding="utf-8")
    malformed = verify(ledger, "--checkpoint", str(checkpoint))
    assert malformed.exit_code == 2
    assert str(checkpoint) in malformed.stderr


def test_a_checkpoint_file_that_cannot_be_read_is_named_once(
    ledger: Traject, tmp_path: Path
) -> None:
    missing = tmp_path / "checkpoint-2024-06.txt"
    result = verify(ledger, "--checkpoint", str(missing))
    assert result.exit_code == 2
    assert f"Error: {missing}: cannot read the checkpoint: No such file or directory" in (
        result.stderr
    )
    assert result.stderr.count(str(missing)) == 1


def test_verify_exits_0_when_verified_1_for_a_problem_found_2_for_input_it_cannot_use(
    ledger: Traject, tmp_path: Path
) -> None:
    """One scheme for every outcome of `audit verify` (docs/audit.md, "Exit status"): 2 is
    input judged on itself, before anything is verified, as for any option click refuses;
    1 is what the verification found (or a database that cannot be read, as everywhere)."""
    _, checkpoint, public = checkpointed(ledger, tmp_path)
    given = ("--checkpoint", str(checkpoint), "--public-key", str(public))
    assert verify(ledger, *given).exit_code == 0
    (tmp_path / "other").mkdir()
    other_public = keys(ledger, tmp_path / "other")[1]

    unreadable = tmp_path / "unreadable.txt"
    unreadable.write_text(checkpoint.read_text(encoding="utf-8"), encoding="utf-8")
    unreadable.chmod(0)
    not_a_checkpoint = tmp_path / "public-as-checkpoint.txt"
    not_a_checkpoint.write_bytes(public.read_bytes())
    truncated = tmp_path / "truncated.txt"
    truncated.write_text("".join(checkpoint.read_text().splitlines(keepends=True)[:4]))
    empty = tmp_path / "empty.pub"
    empty.write_bytes(b"")
    bad_input = {
        "missing checkpoint": ("--checkpoint", str(tmp_path / "no-such.txt")),
        "a directory": ("--checkpoint", str(tmp_path)),
        "not a checkpoint": ("--checkpoint", str(not_a_checkpoint)),
        "truncated checkpoint": ("--checkpoint", str(truncated)),
        "missing key": ("--public-key", str(tmp_path / "no-such.pub")),
        "a checkpoint as key": ("--public-key", str(checkpoint)),
        "empty key": ("--public-key", str(empty)),
    }
    if os.geteuid() != 0:  # root reads a file of mode 0 all the same
        bad_input["unreadable checkpoint"] = ("--checkpoint", str(unreadable))
    for what, args in bad_input.items():
        result = verify(ledger, "--json", *args)
        assert result.exit_code == 2, (what, result.output)
        assert result.stdout == "", what  # nothing verified, no result
        assert "Traceback" not in result.stderr, what
        assert args[1] in result.stderr, what
    # the other offline checks take the same scheme for a file they cannot read
    for command in ("verify-proof", "verify-pack"):
        missing = tmp_path / f"no-such-{command}"
        result = ledger("audit", command, str(missing), "--public-key", str(public))
        assert result.exit_code == 2, (command, result.output)
        assert f"Error: {missing}: cannot read the" in result.stderr

    # a checkpoint signed with another key than the one given: found, not bad input
    wrong_key = verify(ledger, "--checkpoint", str(checkpoint), "--public-key", str(other_public))
    assert wrong_key.exit_code == 1
    assert "signed by another key" in wrong_key.stderr
    # a changed event: found, with the result on stdout when asked for
    sqlite_attack(ledger, "UPDATE stored_events SET topic = topic || 'x' WHERE rowid = 2")
    tampered = verify(ledger, "--json", *given)
    assert tampered.exit_code == 1
    assert json.loads(tampered.stdout)["ok"] is False


def test_prove_prints_an_inclusion_proof_against_the_latest_checkpoint(
    ledger: Traject, tmp_path: Path
) -> None:
    refused = ledger("audit", "prove", ledger.register(), "1")
    assert refused.exit_code == 1
    assert "no checkpoint yet" in refused.stderr
    person, checkpoint, _ = checkpointed(ledger, tmp_path)
    parsed = parse_checkpoint(checkpoint.read_text(encoding="utf-8"))
    document = InclusionDocument.from_json(ledger.ok("audit", "prove", person[:8], "2").stdout)
    proof = document.proof
    assert (proof.index, proof.tree_size) == (2, 4)  # the second event of the second stream
    assert proof.verify(parsed.root)
    assert document.checkpoint == parsed
    assert (document.event.stream_id, document.event.version) == (UUID(person), 2)
    missing = ledger("audit", "prove", person, "9")
    assert missing.exit_code == 1
    assert "version 9" in missing.stderr


@pytest.mark.postgres
def test_an_update_on_postgresql_is_named(
    cli_postgres_url: str, postgres_schemas: PostgresSchemas, tmp_path: Path
) -> None:
    traject = Traject(cli_postgres_url, tmp_path / "traject.key")
    traject.init("--municipality", "GM0622")
    person, checkpoint, public = checkpointed(traject, tmp_path)
    assert verify(traject, "--checkpoint", str(checkpoint)).exit_code == 0
    schema = postgres_schemas.created[-1]
    events = f'"{schema}".traject_events'
    connection = postgres_schemas.connection
    connection.execute(f"DROP TRIGGER traject_events_append_only ON {events}")
    connection.execute(
        f"UPDATE {events} SET state = state || '\\x20'::bytea"
        " WHERE originator_id = %s AND originator_version = 2",
        [UUID(person)],
    )
    result = verify(traject, "--checkpoint", str(checkpoint), "--public-key", str(public))
    assert result.exit_code == 1
    assert f"(stream {UUID(person)} version 2) differs from the recorded leaf" in result.stderr


def test_the_integrity_commands_never_read_the_master_key(ledger: Traject, tmp_path: Path) -> None:
    """They read stored bytes and never decrypt: neither a key file from before a rotation
    (which no longer opens the ledger) nor a missing one stands in their way."""
    person, checkpoint, public = checkpointed(ledger, tmp_path)
    ledger.ok("admin", "rotate-master-key")  # the new key goes beside it; traject.key is stale
    stale = ledger
    refused = stale("timeline", person)  # personal fields need the key
    assert refused.exit_code == 1
    assert "the master key does not match this ledger" in refused.stderr
    missing = Traject(ledger.database_url, tmp_path / "no-such.key")
    for traject in (stale, missing):
        traject.ok("audit", "verify", "-q", "--checkpoint", str(checkpoint), "--public-key",
                   str(public))  # fmt: skip
        traject.ok("audit", "checkpoints")
        traject.ok("audit", "export", "3")
        traject.ok("audit", "prove", person, "2")
        traject.ok("audit", "consistency", str(checkpoint), str(checkpoint))
        traject.ok("audit", "reads")
        traject.ok("audit", "reads", "--person", person)  # none of the stream is decrypted
    signed = stale.ok("audit", "checkpoint", "-q", "--key", str(tmp_path / "auditor.key"))
    assert signed.stdout.splitlines()[1] == "3"


def signed_by_two_keys(traject: Traject, tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """A checkpoint of 3 events by one key, then a new key and a checkpoint of 4 events by it:
    (old checkpoint, old public key, new checkpoint, new public key)."""
    _, old_checkpoint, old_public = checkpointed(traject, tmp_path)
    (tmp_path / "new").mkdir()
    new_private, new_public = keys(traject, tmp_path / "new")
    traject.register()
    new_checkpoint = tmp_path / "new-checkpoint.txt"
    traject.ok("audit", "checkpoint", "--key", str(new_private), "--out", str(new_checkpoint))
    return old_checkpoint, old_public, new_checkpoint, new_public


def test_checkpoints_signed_before_and_after_a_new_signing_key_verify_with_both_keys(
    ledger: Traject, tmp_path: Path
) -> None:
    """The checkpoint key is replaced (it left with a member of staff): the stored checkpoints
    signed with the old one stay. --public-key is repeatable, and each checkpoint is checked
    with the given key its key id names; one whose key is not given fails, naming both."""
    old_checkpoint, old_public, new_checkpoint, new_public = signed_by_two_keys(ledger, tmp_path)
    old_id = parse_checkpoint(old_checkpoint.read_text()).key_id
    new_id = parse_checkpoint(new_checkpoint.read_text()).key_id

    only_new = verify(ledger, "--public-key", str(new_public))
    assert only_new.exit_code == 1
    assert (
        f"size 3 at {parse_checkpoint(old_checkpoint.read_text()).created_at}: the signature "
        f"does not verify: it names key {old_id}, which is not the given key ({new_id}): the "
        "checkpoint was altered or signed by another key"
    ) in only_new.stderr
    assert "size 4" not in only_new.stderr  # the new key's checkpoint verifies

    both = ("--public-key", str(old_public), "--public-key", str(new_public))
    result = verify(ledger, *both, "--checkpoint", str(old_checkpoint))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "verified 4 events against 2 checkpoints"
    assert ledger.json("audit", "verify", *both)["signatures_checked"] is True


def test_a_second_checkpoint_of_the_same_size_says_it_is_not_stored(
    ledger: Traject, tmp_path: Path
) -> None:
    """The ledger stores one checkpoint per size: signing again before any new event (with
    the same key or a new one) writes a valid checkpoint, which the command says is not the
    stored one, instead of leaving the user to believe the ledger holds it."""
    _, first, public = checkpointed(ledger, tmp_path)
    (tmp_path / "new").mkdir()
    new_private, new_public = keys(ledger, tmp_path / "new")
    again = tmp_path / "again.txt"
    result = ledger.ok("audit", "checkpoint", "--key", str(new_private), "--out", str(again))
    stored = parse_checkpoint(first.read_text())
    assert result.stderr == (
        f"Warning: the ledger already stores a checkpoint of size 3 (time {stored.created_at}, "
        f"key {stored.key_id}): this one is not stored in it; keep {again} (`traject audit "
        "export 3` gives the stored one)\n"
    )
    assert ledger.ok("audit", "export", "3").stdout == first.read_text()
    assert verify(ledger, "--checkpoint", str(again), "--public-key", str(new_public),
                  "--public-key", str(public)).exit_code == 0  # fmt: skip


def test_a_consistency_proof_across_a_new_signing_key_verifies_with_both_keys(
    ledger: Traject, tmp_path: Path
) -> None:
    """The proof that the log only grew from a checkpoint signed with the old key to one
    signed with the new key: verify-proof takes --public-key once per trusted key."""
    old_checkpoint, old_public, new_checkpoint, new_public = signed_by_two_keys(ledger, tmp_path)
    growth = tmp_path / "growth.json"
    ledger.ok(
        "audit", "consistency", str(old_checkpoint), str(new_checkpoint), "--out", str(growth)
    )
    only_old = ledger("audit", "verify-proof", str(growth), "--public-key", str(old_public))
    assert only_old.exit_code == 1
    assert "new_checkpoint (" in only_old.stderr
    new_id = parse_checkpoint(new_checkpoint.read_text()).key_id
    old_id = parse_checkpoint(old_checkpoint.read_text()).key_id
    assert f"it names key {new_id}, which is not the given key ({old_id})" in only_old.stderr
    result = ledger("audit", "verify-proof", str(growth), "--public-key", str(old_public),
                    "--public-key", str(new_public))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("consistency proof holds")


def ledger_id(path: Path) -> str:
    """The id ``traject init`` gave the ledger in this SQLite file."""
    with closing(sqlite3.connect(path)) as connection:
        query = "SELECT value FROM traject_settings WHERE name = 'ledger_id'"
        (found,) = connection.execute(query).fetchone()
    return str(found)


def test_a_checkpoint_of_another_ledger_is_named_so_not_as_deleted_rows(
    ledger: Traject, tmp_path: Path
) -> None:
    """A ledger that has signed no checkpoint has no origin fixed: a checkpoint given to it
    (the auditor's copy, verified against the wrong file) is named as another ledger's,
    before what its root says about these rows."""
    _, checkpoint, public = checkpointed(ledger, tmp_path)
    names = ("traject.db", "other.db")
    other = Traject(f"sqlite:///{tmp_path / names[1]}", tmp_path / "other.db.key")
    other.init("--municipality", "GM0622")
    other.register()
    result = verify(other, "--checkpoint", str(checkpoint), "--public-key", str(public))
    assert result.exit_code == 1, result.output
    first = result.stderr.splitlines()[0]
    signed, verified = (f"traject ledger {ledger_id(tmp_path / n)}" for n in names)
    assert signed != verified
    assert first.startswith(f"Problem: checkpoint {signed} size 3 ")
    assert (
        f": its origin '{signed}' is not this ledger, '{verified}', which has signed no "
        "checkpoint (no `audit_origin` in traject_settings): it is a checkpoint of another ledger"
    ) in first


@pytest.mark.postgres
def test_a_checkpoint_of_another_ledger_is_named_so_after_admin_roles(
    ledger: Traject, cli_postgres_url: str, tmp_path: Path
) -> None:
    """`traject admin roles` fixes a ledger's origin before it signs a checkpoint (staff, who
    sign them, may add no setting): a checkpoint of another ledger is then compared with that
    origin, and must still be named as another ledger's, its other problems (rows "deleted")
    following from that, not read as this ledger's rows being tampered with."""
    _, checkpoint, public = checkpointed(ledger, tmp_path)
    other = Traject(cli_postgres_url, tmp_path / "postgres.key")
    other.init("--municipality", "GM0622")
    other.ok("admin", "roles")
    other.register()
    result = verify(other, "--checkpoint", str(checkpoint), "--public-key", str(public))
    assert result.exit_code == 1, result.output
    first, *rest = result.stderr.splitlines()
    signed = f"traject ledger {ledger_id(tmp_path / 'traject.db')}"
    assert first.startswith(f"Problem: checkpoint {signed} size 3 ")
    assert f": origin '{signed}' is not this ledger's 'traject ledger " in first
    assert first.endswith(
        ": it is a checkpoint of another ledger (or its origin line was altered: its signature "
        "tells); its other problems compare that log with this ledger's rows"
    )
    assert any(line.endswith("rows were deleted") for line in rest)


def test_a_removed_origin_setting_is_named(ledger: Traject, tmp_path: Path) -> None:
    _, checkpoint, public = checkpointed(ledger, tmp_path)
    path = ledger.database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("DELETE FROM traject_settings WHERE name = 'audit_origin'")
        connection.execute("DELETE FROM traject_checkpoints")
    result = verify(ledger, "--checkpoint", str(checkpoint), "--public-key", str(public))
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[0].endswith(
        ": it names this ledger, but the ledger has no `audit_origin` in traject_settings, "
        "which its first checkpoint stores: the setting was removed outside traject"
    )
    assert "Error: the log does not verify: 1 problem (3 events, 1 checkpoint)" in result.stderr
