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
    refs: TableFile  # traject_external_refs

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
        refs = TableFile(admin, f'"{schema}".traject_external_refs')
        yield PostgresLedger(owner, staff, user, keys, refs)
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
        "traject_data_keys (and those of erased persons' BSN hashes and external keys in "
        "traject_person_index and traject_external_refs) until the tables are rewritten, which "
        "only their owner may do: "
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


# --- free text, external keys and a second erasure -------------------------------------------

MEDICAL = "medisch: PTSS en epilepsie"
WORK = "lasser bij de scheepswerf, stopte door rugklachten"
EXTENSION = "ziekte: langdurige opname"


def export_text(traject: Traject, *args: str) -> str:
    return traject.ok("export", "--quiet", *args).stdout


def test_free_text_that_can_hold_health_data_is_personal(ledger: Traject, tmp_path: Path) -> None:
    person = register_with_name(ledger)
    on = days_ago(30)
    # a line of an export made before the ground was personal, with the ground in clear
    older = {"kind": "dispensation-granted", "person_id": person, "occurred_on": on,
             "ground": MEDICAL, "decided_by": "DUO"}  # fmt: skip
    ledger.ok("import", write_lines(tmp_path / "older.jsonl", older))
    # the duty whose term the extension extends
    duty_start = days_ago(40)
    ledger.ok("record", "inburgering-duty-established", person, "--on", duty_start,
              "--duty-start", duty_start)  # fmt: skip
    ledger.ok("record", "term-extended", person, "--on", on, "--new-end", days_ago(1),
              "--ground", EXTENSION)  # fmt: skip
    ledger.ok("record", "broad-intake-completed", person, "--on", on, "--by", "c.coach",
              "--work-experience", WORK)  # fmt: skip
    # a ground may be left out: a personal field is absent once erased, so never required
    ledger.ok("record", "exemption-granted", person, "--on", on, "--component", "knm")
    # encrypted at rest, whether imported or recorded
    path = Path(ledger.database_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))
    assert b"Noor Vermeulen" not in stored and b"c.coach" in stored  # the scan reads clear text
    for text in (MEDICAL, WORK, EXTENSION):
        assert text.encode() not in stored

    # in clear for whoever holds the key and asks for personal data
    full = export_text(ledger, "--include-personal")
    assert MEDICAL in full and WORK in full and EXTENSION in full
    # a pseudonymised export leaves them out, as every personal field
    pseudonymised = export_text(ledger)
    assert MEDICAL not in pseudonymised and WORK not in pseudonymised
    assert EXTENSION not in pseudonymised
    lines = [json.loads(line) for line in pseudonymised.splitlines()]
    dispensation = next(line for line in lines if line["kind"] == "dispensation-granted")
    assert "ground" not in dispensation
    assert dispensation["_pseudonyms"]["ground"].startswith("ps:")

    assert shred(ledger, person).exit_code == 0

    # erased: gone from the timeline and from an export with personal data
    timeline = ledger.ok("--json", "timeline", person).stdout
    assert json.loads(timeline)["erased"] is True
    after = export_text(ledger, "--include-personal")
    for text in (timeline, after):
        assert MEDICAL not in text and WORK not in text and EXTENSION not in text


CLIENT = "CLIENT-7781"


def client_lines(tmp_path: Path) -> str:
    """A source system's file: a client registered under its client number, her case closed
    twelve years ago (her file's retention has ended), a ladder assessment."""
    registered = {**REGISTER, "person": CLIENT}
    closed = {"kind": "case-closed", "person": CLIENT, "occurred_on": days_ago(365 * 12),
              "reason": "moved"}  # fmt: skip
    assessed = {"kind": "ladder-assessed", "person": CLIENT, "occurred_on": "2025-03-01",
                "rung": 3, "assessor": "r.jansen"}  # fmt: skip
    return write_lines(tmp_path / "clients.jsonl", registered, closed, assessed)


def test_erasure_forgets_the_external_key_and_leaves_no_copy_in_the_sqlite_files(
    ledger: Traject, tmp_path: Path
) -> None:
    path = Path(ledger.database_url.removeprefix("sqlite:///"))
    source = client_lines(tmp_path)
    ledger.ok("import", source)
    person = ledger.ok("person", "find", "--bsn", REGISTER["bsn"]).stdout.strip()
    assert f'"person":"{CLIENT}"' in export_text(ledger, "--include-personal")

    with closing(sqlite3.connect(path)) as other:  # a reader: the log is not emptied on close
        assert shred(ledger, person).exit_code == 0
        assert other.execute("SELECT COUNT(*) FROM traject_external_refs").fetchone() == (0,)

    # the export names the erased person by id only, and the client number finds nobody
    full = export_text(ledger, "--include-personal")
    assert CLIENT not in full
    assert f'"person_id":"{person}"' in full
    unknown = ledger("export", "--person", CLIENT)
    assert unknown.exit_code != 0 and "Traceback" not in unknown.output
    # and no file of the store holds the client number any more
    files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
    assert [p.name for p in files if CLIENT.encode() in p.read_bytes()] == []

    # the same source file imported again appends nothing, as before the erasure
    again = ledger("import", source)
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("0 written, 3 skipped")


def test_a_person_is_erased_once(ledger: Traject, tmp_path: Path) -> None:
    person = register_with_name(ledger)
    first = ledger.json("person", "shred", person, "--approved-by", "dpo", "--yes")
    before = ledger.event_count()

    again = shred(ledger, person)

    assert again.exit_code == 1
    assert again.stderr == (
        f"Error: PersonalDataShredded: person: already erased on {days_ago(0)} "
        f"(v{first['version']})\n"
    )
    assert ledger.event_count() == before
    # an import's erasure line is refused alike
    line = {"kind": "personal-data-shredded", "person_id": person, "approved_by": "dpo"}
    imported = ledger("import", write_lines(tmp_path / "erasures.jsonl", line))
    assert imported.exit_code == 1
    assert f"erasures.jsonl:1: person_id: already erased on {days_ago(0)}" in imported.stderr
    assert ledger.event_count() == before


@pytest.mark.postgres
def test_erasure_on_postgresql_forgets_the_external_key_in_its_files(
    postgres_ledger: PostgresLedger, tmp_path: Path
) -> None:
    staff, owner = postgres_ledger.staff, postgres_ledger.owner
    staff.ok("import", client_lines(tmp_path))
    person = staff.ok("person", "find", "--bsn", REGISTER["bsn"]).stdout.strip()
    refs = postgres_ledger.refs
    assert refs.holds(CLIENT.encode())

    # staff erase: the row goes in the erasure's transaction (traject_staff may delete it) ...
    assert shred(staff, person).exit_code == 0
    assert CLIENT not in export_text(owner, "--include-personal")
    assert refs.connection.execute(f"SELECT COUNT(*) FROM {refs.relation}").fetchone() == (0,)
    # ... and its old version leaves the table's files when the owner purges
    owner.ok("admin", "purge-erased")
    assert not refs.holds(CLIENT.encode())


def erased_rule(version: int) -> str:
    return (
        f"person: erased on {days_ago(0)} (v{version}): nothing more is recorded for an erased "
        "person; one who comes back is registered anew, as a new person"
    )


def test_nothing_is_recorded_for_a_person_after_her_erasure(
    ledger: Traject, tmp_path: Path
) -> None:
    person = register_with_name(ledger)
    erased = ledger.json("person", "shred", person, "--approved-by", "dpo", "--yes")
    before = ledger.event_count()

    assessed = ledger("record", "ladder-assessed", person, "--on", days_ago(1), "--rung", "3",
                      "--assessor", "r.jansen")  # fmt: skip
    noted = ledger("record", "help-request-recorded", person, "--on", days_ago(1),
                   "--category", "wonen", "--note", "vraag over huurtoeslag")  # fmt: skip
    held = ledger("person", "hold", person, "--ref", "BZW-1", "--reason", "objection")
    line = {"kind": "ladder-assessed", "person_id": person, "occurred_on": days_ago(1),
            "rung": 3, "assessor": "r.jansen"}  # fmt: skip
    imported = ledger("import", write_lines(tmp_path / "late.jsonl", line))

    # a fact without personal fields as well as one with them, a hold, an import's line
    rule = erased_rule(erased["version"])
    for result, kind in (
        (assessed, "LadderAssessed"),
        (noted, "HelpRequestRecorded"),
        (held, "LegalHoldPlaced"),
    ):
        assert result.exit_code == 1, result.output
        assert result.stderr == f"Error: {kind}: {rule}\n"
    assert imported.exit_code == 1
    # the line names the person by person_id: its reject names that key
    assert f"late.jsonl:1: person_id: {rule.removeprefix('person: ')}" in imported.stderr
    assert ledger.event_count() == before


def test_an_import_records_nothing_for_a_person_after_the_erasure_it_holds(
    ledger: Traject, tmp_path: Path
) -> None:
    closed = {"kind": "case-closed", "person": "C-1001", "occurred_on": days_ago(365 * 12),
              "reason": "moved"}  # fmt: skip
    erasure = {"kind": "personal-data-shredded", "person": "C-1001", "approved_by": "dpo"}
    later = {"kind": "ladder-assessed", "person": "C-1001", "occurred_on": days_ago(1),
             "rung": 3, "assessor": "r.jansen"}  # fmt: skip

    # one file, one batch: the erasure is not stored yet when the later line is checked
    result = ledger("import", write_lines(tmp_path / "clients.jsonl", REGISTER, closed, erasure,
                                          later))  # fmt: skip

    assert result.exit_code == 1
    assert f"clients.jsonl:4: {erased_rule(3)}" in result.stderr
    assert result.stdout.startswith("3 written")
