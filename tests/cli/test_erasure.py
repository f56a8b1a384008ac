"""`traject person shred` and `traject admin purge-erased`: no copy of a destroyed key is left.

The store's files are read as bytes (the SQLite file and its write-ahead log; PostgreSQL's
table file after a checkpoint) and searched for the person's old wrapped data key.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest
from cli_helpers import Traject, as_user, days_ago
from click.testing import Result
from pg_schemas import PostgresSchemas, TableFile
from test_import import REGISTER

from ledger.roles import STAFF

PERSONAL = ("--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY")


def register_with_name(traject: Traject) -> str:
    """A person with personal fields whose case closed twelve years ago: her trajectory file's
    retention has ended, so she may be erased."""
    person = traject.register(*PERSONAL, "--name", "Noor Vermeulen", "--bsn", "123456782")
    traject.ok("record", "case-closed", person, "--on", days_ago(365 * 12), "--reason", "moved")
    return person


def shred(traject: Traject, person: str) -> Result:
    return traject("person", "shred", person, "--approved-by", "privacy officer", "--yes")


def test_shred_leaves_no_copy_of_the_key_in_the_sqlite_files(ledger: Traject) -> None:
    path = Path(ledger.database_url.removeprefix("sqlite:///"))
    # another process has the ledger open (else closing the last connection empties the log)
    with closing(sqlite3.connect(path)) as other:
        person = register_with_name(ledger)
        (wrapped,) = other.execute(
            "SELECT wrapped FROM traject_data_keys WHERE subject = ?", [person]
        ).fetchone()

        result = shred(ledger, person)

        assert result.exit_code == 0, result.output
        assert "\nPurged: the write-ahead log was checkpointed and emptied" in result.stdout
        assert "\nRemains: backups and WAL archives made before the erasure" in result.stdout
        files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
        assert any(p.name.endswith("-wal") for p in files)
        assert [p.name for p in files if bytes(wrapped) in p.read_bytes()] == []


@dataclass
class PostgresLedger:
    owner: Traject
    staff: Traject
    staff_user: str
    keys: TableFile

    def wrapped_key(self, person: str) -> bytes:
        row = self.keys.connection.execute(
            f"SELECT wrapped FROM {self.keys.relation} WHERE subject = %s", [person]
        ).fetchone()
        assert row is not None
        return bytes(row[0])


@pytest.fixture
def postgres_ledger(
    postgres_schemas: PostgresSchemas, cli_postgres_url: str, tmp_path: Path
) -> Iterator[PostgresLedger]:
    """A PostgreSQL ledger of the test's own, its owner, and a login user of traject_staff."""
    owner = Traject(cli_postgres_url, tmp_path / "traject.key")
    owner.init("--municipality", "GM0622")
    owner.ok("admin", "roles")
    user = f"staff_{uuid4().hex[:8]}"
    admin = postgres_schemas.connection
    admin.execute(f"CREATE ROLE {user} LOGIN IN ROLE {STAFF}")
    staff = Traject(as_user(cli_postgres_url, user), owner.key_file)
    schema = postgres_schemas.created[-1]
    try:
        keys = TableFile(admin, f'"{schema}".traject_data_keys')
        yield PostgresLedger(owner, staff, user, keys)
    finally:
        admin.execute(f"DROP OWNED BY {user}")
        admin.execute(f"DROP ROLE {user}")


@pytest.mark.postgres
def test_shred_by_the_owner_rewrites_the_key_table(postgres_ledger: PostgresLedger) -> None:
    owner = postgres_ledger.owner
    person = register_with_name(owner)
    wrapped = postgres_ledger.wrapped_key(person)
    assert postgres_ledger.keys.holds(wrapped)

    result = owner.json("person", "shred", person, "--approved-by", "privacy officer", "--yes")

    assert result["kind"] == "PersonalDataShredded"
    assert result["purge"]["done"] is True
    assert not postgres_ledger.keys.holds(wrapped)


@pytest.mark.postgres
def test_shred_by_staff_warns_and_the_owner_purges(postgres_ledger: PostgresLedger) -> None:
    staff, owner = postgres_ledger.staff, postgres_ledger.owner
    person = register_with_name(staff)
    wrapped = postgres_ledger.wrapped_key(person)

    result = shred(staff, person)

    # recorded and the key destroyed, but its old row version stays until the owner purges
    assert result.exit_code == 0, result.output
    assert "\nNot purged yet: see the warning.\n" in result.stdout
    assert result.stderr == (
        "Warning: not purged yet: the old bytes of destroyed data keys stay in the files of "
        "traject_data_keys (and those of erased persons' BSN hashes in traject_person_index) "
        "until the tables are rewritten, which only their owner may do: "
        f"{postgres_ledger.staff_user} does not own them. "
        "Run `traject admin purge-erased` as postgres\n"
    )
    assert owner.json("person", "show", person)["erased"] is True
    assert postgres_ledger.keys.holds(wrapped)

    refused = staff("admin", "purge-erased")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("Error: the old bytes of destroyed data keys stay")

    purged = owner.ok("admin", "purge-erased")

    assert purged.stdout.startswith("Purged: traject_data_keys was rewritten into a new file")
    assert not postgres_ledger.keys.holds(wrapped)
    assert owner.json("admin", "purge-erased")["pending_since"] is None  # nothing left


def write_lines(path: Path, *records: dict[str, object]) -> str:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return str(path)


@pytest.mark.postgres
def test_an_imported_erasure_by_staff_warns_that_the_purge_is_pending(
    postgres_ledger: PostgresLedger, tmp_path: Path
) -> None:
    staff = postgres_ledger.staff
    staff.ok("import", write_lines(tmp_path / "clients.jsonl", REGISTER))
    # the ledger's only key is hers
    (row,) = postgres_ledger.keys.connection.execute(
        f"SELECT wrapped FROM {postgres_ledger.keys.relation}"
    ).fetchall()
    wrapped = bytes(row[0])
    # her case closed twelve years ago: her file's retention has ended
    closed = {"kind": "case-closed", "person": "C-1001", "occurred_on": days_ago(365 * 12)}
    closed["reason"] = "moved"
    erasure = {"kind": "personal-data-shredded", "person": "C-1001", "approved_by": "dpo"}

    result = staff("import", write_lines(tmp_path / "erasures.jsonl", closed, erasure))

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("2 written")
    assert "Warning: not purged yet: the old bytes of destroyed data keys stay" in result.stderr
    assert postgres_ledger.keys.holds(wrapped)
    postgres_ledger.owner.ok("admin", "purge-erased")
    assert not postgres_ledger.keys.holds(wrapped)
