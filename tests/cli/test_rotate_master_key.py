"""`traject admin rotate-master-key`: the ledger moves to a new key and the old one opens nothing.

The store's files are read as bytes afterwards (the SQLite file and its write-ahead log; on
PostgreSQL the files of the key table, the person index and its BSN index) and searched for the
old wrapped data keys and the old keyed BSN hashes.
"""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from uuid import uuid4

import pytest
from cli_helpers import Traject, as_user, days_ago, wait_for_files, write_lock_held
from pg_schemas import PostgresSchemas, relation_bytes

from ledger.crypto import encode_master_key, generate_master_key, read_key_file
from ledger.roles import STAFF

PERSONAL = ("--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY")
KEPT_BSN, ERASED_BSN = "123456782", "111222333"
USUAL_REFUSAL = (
    "Error: the master key does not match this ledger: check TRAJECT_MASTER_KEY or the "
    "key file (TRAJECT_KEY_FILE)"
)


class Store:
    """The ledger under test through `traject`, and its stored bytes seen from below."""

    def __init__(self, traject: Traject, pg: object | None = None) -> None:
        self.traject = traject
        self.pg = pg  # the test server's connection (PostgreSQL), else None

    @property
    def schema(self) -> str:
        return self.traject.database_url.rsplit("schema=", 1)[1]

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        if self.pg is None:
            path = self.traject.database_url.removeprefix("sqlite:///")
            with closing(sqlite3.connect(path)) as connection:
                return connection.execute(sql.format(p="")).fetchall()
        return self.pg.execute(sql.format(p=f'"{self.schema}".')).fetchall()  # type: ignore[attr-defined]

    def secrets(self) -> list[bytes]:
        """Every wrapped data key and every keyed BSN hash the ledger holds now."""
        keys = [row for row in self.rows("SELECT wrapped FROM {p}traject_data_keys") if row[0]]
        digests = self.rows(
            "SELECT bsn_digest FROM {p}traject_person_index WHERE bsn_digest IS NOT NULL"
        )
        return [bytes(k) for (k,) in keys] + [str(d).encode() for (d,) in digests]

    def files_holding(self, data: bytes) -> list[str]:
        if self.pg is None:
            path = Path(self.traject.database_url.removeprefix("sqlite:///"))
            files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
            return [p.name for p in files if data in p.read_bytes()]
        relations = [
            f'"{self.schema}".{name}'
            for name in (
                "traject_data_keys",
                "traject_person_index",
                "traject_person_index_bsn_digest_key",
            )
        ]
        return [r for r in relations if data in relation_bytes(self.pg, r)]  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """An initialised ledger of the test's own (SQLite file, or a PostgreSQL schema)."""
    if request.param == "sqlite":
        traject = Traject(f"sqlite:///{tmp_path / 'traject.db'}", tmp_path / "traject.key")
        pg = None
    else:
        schemas: PostgresSchemas = request.getfixturevalue("postgres_schemas")
        traject = Traject(schemas.fresh("traject_rotate"), tmp_path / "traject.key")
        pg = schemas.connection
    traject.init("--municipality", "GM0622")
    return Store(traject, pg)


@contextmanager
def another_reader(store: Store) -> Iterator[None]:
    """SQLite: another connection keeps the ledger open, so that closing traject's last
    connection does not checkpoint the log by itself: the purge must do it."""
    if store.pg is not None:
        yield
        return
    path = store.traject.database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as other:
        other.execute("SELECT COUNT(*) FROM traject_settings").fetchall()  # opens the log
        yield


def rotate(traject: Traject, *args: str, **env: str | None):  # type: ignore[no-untyped-def]
    return traject("admin", "rotate-master-key", *args, **env)


def test_after_rotation_the_new_key_reads_everything_and_the_old_key_nothing(
    store: Store, tmp_path: Path
) -> None:
    traject = store.traject
    # a person with a BSN, one erased, one without a BSN; a checkpoint over all their events
    kept = traject.register(*PERSONAL, "--name", "Amal Haddad", "--bsn", KEPT_BSN)
    erased = traject.register(*PERSONAL, "--name", "Te Vergeten", "--bsn", ERASED_BSN)
    traject.ok("record", "case-closed", erased, "--on", days_ago(365 * 12), "--reason", "moved")
    traject.ok("person", "shred", erased, "--approved-by", "privacy officer", "--yes")
    no_bsn = traject.register(*PERSONAL, "--name", "Zonder Nummer")
    traject.ok("audit", "keygen", "--out", str(tmp_path / "auditor.key"))
    checkpoint = tmp_path / "checkpoint.txt"
    traject.ok(
        "audit", "checkpoint", "--key", str(tmp_path / "auditor.key"), "--out", str(checkpoint)
    )
    if store.pg is not None:
        store.pg.execute(f'ANALYZE "{store.schema}".traject_person_index')  # type: ignore[attr-defined]
    old_secrets = store.secrets()
    assert len(old_secrets) == 3  # two live data keys, one BSN hash (erasure removed the other)
    assert all(store.files_holding(secret) for secret in old_secrets)
    new_key_file = tmp_path / "traject.key.new"

    with another_reader(store):
        result = rotate(traject)

        assert result.exit_code == 0, result.output
        assert f"New master key written to {new_key_file} (mode 0600)." in result.stdout
        assert "1 BSN index entries recomputed (0 of erased persons removed)" in result.stdout
        assert "\nPurged: " in result.stdout
        # no old wrapped key and no old BSN hash is left in the store's files
        assert [s for s in old_secrets if store.files_holding(s)] == []
    assert stat.S_IMODE(new_key_file.stat().st_mode) == 0o600
    if store.pg is not None:
        sampled = store.pg.execute(  # type: ignore[attr-defined]
            "SELECT histogram_bounds::text FROM pg_stats WHERE schemaname = %s"
            " AND tablename = 'traject_person_index' AND attname = 'bsn_digest'",
            [store.schema],
        ).fetchall()
        assert not [s for s in old_secrets if any(s.decode("latin-1") in str(r) for r in sampled)]

    # the old key is refused as any wrong key is
    refused = traject("person", "find", "--bsn", KEPT_BSN)
    assert refused.exit_code == 1
    assert refused.stderr.startswith(USUAL_REFUSAL + "; the master key was replaced on ")
    assert refused.stderr.endswith(" UTC: use the new one\n")

    # the new key reads the personal fields, and finds the person by BSN
    new = Traject(traject.database_url, new_key_file)
    assert new.json("person", "show", kept)["registration"]["fields"]["name"] == "Amal Haddad"
    assert new.json("person", "show", no_bsn)["registration"]["fields"]["name"] == "Zonder Nummer"
    assert new.ok("person", "find", "--bsn", KEPT_BSN).stdout == f"{kept}\n"
    # the erased person stays erased, and is not found by BSN any more
    shown = new.json("person", "show", erased)
    assert shown["erased"] is True
    assert shown["registration"]["fields"]["name"] is None
    assert new("person", "find", "--bsn", ERASED_BSN).exit_code == 1
    # the events were not touched: the log and the checkpoint verify
    verified = new(
        "audit",
        "verify",
        "--checkpoint",
        str(checkpoint),
        "--public-key",
        str(tmp_path / "auditor.pub"),
        "--quiet",
    )
    assert verified.exit_code == 0, verified.output
    # and the ledger works on under the new key
    later = new.register(*PERSONAL, "--name", "Na Rotatie", "--bsn", "100000009")
    assert new.ok("person", "find", "--bsn", "100000009").stdout == f"{later}\n"


def test_a_wrong_current_key_is_refused_and_nothing_changes(
    ledger: Traject, tmp_path: Path
) -> None:
    person = ledger.register(*PERSONAL, "--name", "Amal Haddad", "--bsn", KEPT_BSN)
    wrong = encode_master_key(generate_master_key())

    result = rotate(ledger, TRAJECT_MASTER_KEY=wrong)

    assert result.exit_code == 1
    assert result.stderr == USUAL_REFUSAL + "\n"
    assert not (tmp_path / "traject.key.new").exists()
    assert ledger.ok("person", "find", "--bsn", KEPT_BSN).stdout == f"{person}\n"


def test_of_two_rotations_at_once_one_wins_and_the_other_leaves_no_key_file(
    ledger: Traject, tmp_path: Path
) -> None:
    person = ledger.register(*PERSONAL, "--bsn", KEPT_BSN)
    files = [tmp_path / "first.key.new", tmp_path / "second.key.new"]
    # Another process holds the write lock: both rotations open the ledger with the current
    # key and write their new key file, then wait for the lock.
    with write_lock_held(Path(ledger.database_url.removeprefix("sqlite:///"))):
        rotations = [
            ledger.start("admin", "rotate-master-key", "--quiet", "--new-key-file", str(f))
            for f in files
        ]
        wait_for_files(files)
    ended = [(r.wait(timeout=60), r.communicate()[1]) for r in rotations]

    # one rotation moved the ledger to its key; the other found the key replaced, changed
    # nothing and removed its key file, which would open nothing
    assert sorted(code for code, _ in ended) == [0, 1]
    won = files[[code for code, _ in ended].index(0)]
    lost_stderr = next(stderr for code, stderr in ended if code == 1)
    assert lost_stderr == (
        "Error: the ledger's master key was rotated (`traject admin rotate-master-key`) while "
        "this command ran with the old one: nothing was written. Run it again with the new key\n"
    )
    assert [f for f in files if f.exists()] == [won]
    found = ledger("person", "find", "--bsn", KEPT_BSN, TRAJECT_KEY_FILE=str(won))
    assert found.stdout == f"{person}\n"


def test_the_current_key_as_the_new_one_is_refused(ledger: Traject) -> None:
    current = encode_master_key(read_key_file(ledger.key_file))

    result = rotate(ledger, TRAJECT_NEW_MASTER_KEY=current)

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: the new master key is the current one: a rotation needs a different key\n"
    )


def test_an_existing_new_key_file_is_never_overwritten(ledger: Traject, tmp_path: Path) -> None:
    person = ledger.register(*PERSONAL, "--bsn", KEPT_BSN)
    there = tmp_path / "elsewhere.key"
    there.write_text("something of value\n")

    result = rotate(ledger, "--new-key-file", str(there))

    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: --new-key-file: {there} exists and is never overwritten: move it away or "
        "name another file"
    )
    assert there.read_text() == "something of value\n"
    assert ledger.ok("person", "find", "--bsn", KEPT_BSN).stdout == f"{person}\n"


def test_a_given_new_key_is_used_and_no_key_file_is_written(
    ledger: Traject, tmp_path: Path
) -> None:
    person = ledger.register(*PERSONAL, "--bsn", KEPT_BSN)
    new_key = encode_master_key(generate_master_key())

    result = ledger("--json", "admin", "rotate-master-key", TRAJECT_NEW_MASTER_KEY=new_key)

    assert result.exit_code == 0, result.output
    assert '"new_key_file": null' in result.stdout
    assert '"data_keys": 1' in result.stdout
    assert not (tmp_path / "traject.key.new").exists()
    found = ledger("person", "find", "--bsn", KEPT_BSN, TRAJECT_MASTER_KEY=new_key)
    assert found.stdout == f"{person}\n"


def test_a_malformed_or_doubly_given_new_key_is_refused(ledger: Traject, tmp_path: Path) -> None:
    person = ledger.register(*PERSONAL, "--bsn", KEPT_BSN)

    malformed = rotate(ledger, TRAJECT_NEW_MASTER_KEY="short")
    both = rotate(
        ledger,
        "--new-key-file",
        str(tmp_path / "new.key"),
        TRAJECT_NEW_MASTER_KEY=encode_master_key(generate_master_key()),
    )

    assert (malformed.exit_code, both.exit_code) == (1, 1)
    assert malformed.stderr == (
        "Error: TRAJECT_NEW_MASTER_KEY: the master key must be 32 bytes, as base64 or 64 hex "
        "digits\n"
    )
    assert both.stderr.startswith("Error: --new-key-file: give the new key either as ")
    assert not (tmp_path / "new.key").exists()
    assert ledger.ok("person", "find", "--bsn", KEPT_BSN).stdout == f"{person}\n"


@pytest.mark.postgres
def test_only_the_owner_of_the_tables_may_rotate(
    postgres_schemas: PostgresSchemas, tmp_path: Path
) -> None:
    owner = Traject(postgres_schemas.fresh("traject_rotate"), tmp_path / "traject.key")
    owner.init("--municipality", "GM0622")
    owner.ok("admin", "roles")
    person = owner.register(*PERSONAL, "--bsn", KEPT_BSN)
    user = f"staff_{uuid4().hex[:8]}"
    postgres_schemas.connection.execute(f"CREATE ROLE {user} LOGIN IN ROLE {STAFF}")
    try:
        staff = Traject(as_user(owner.database_url, user), owner.key_file)

        result = rotate(staff)

        assert result.exit_code == 1
        assert result.stderr.startswith(
            "Error: only the owner of the ledger's tables may rotate its master key: "
            f"{user} does not own "
        )
        assert not (tmp_path / "traject.key.new").exists()
        assert owner.ok("person", "find", "--bsn", KEPT_BSN).stdout == f"{person}\n"
    finally:
        postgres_schemas.connection.execute(f"DROP OWNED BY {user}")
        postgres_schemas.connection.execute(f"DROP ROLE {user}")
