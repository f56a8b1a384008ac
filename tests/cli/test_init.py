"""`traject init`, the master key, and what every other command needs before it runs."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import psycopg
import pytest
from cli_helpers import Traject, days_ago, dsn, write_lock_held
from pg_schemas import PostgresSchemas

from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.crypto import encode_master_key, generate_master_key, key_check_value
from ledger.persistence import MASTER_KEY_CHECK

PERSONAL = ("--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY")


def test_init_creates_the_ledger_and_a_private_master_key_file(traject: Traject) -> None:
    result = traject("init", "--municipality", "GM0622")

    assert result.exit_code == 0, result.output
    db = Path(traject.database_url.removeprefix("sqlite:///"))
    assert db.is_file()
    # the key file is readable by its owner only
    assert stat.S_IMODE(traject.key_file.stat().st_mode) == 0o600
    assert result.stdout.splitlines()[:3] == [
        f"Created the ledger at sqlite:///{db}",
        f"Master key written to {traject.key_file} (mode 0600). Keep a copy somewhere safe: "
        "without it the personal data in this ledger cannot be read.",
        "Default municipality: GM0622",
    ]
    assert result.stderr == ""


def test_init_never_overwrites_a_master_key_file(traject: Traject) -> None:
    traject.key_file.write_text("an old key\n")

    result = traject("init")

    assert result.exit_code == 1
    db = traject.database_url.removeprefix("sqlite:///")
    assert result.stderr == (
        f"Error: {traject.key_file}: a master key file already exists (it is never "
        f"overwritten), but it opens no ledger at sqlite:///{db}. To create a new ledger, move it "
        "away or give another --key-file\n"
    )
    assert traject.key_file.read_text() == "an old key\n"
    # and no database was created either
    assert not Path(traject.database_url.removeprefix("sqlite:///")).exists()


def test_a_second_init_is_refused_and_the_ledger_keeps_working(ledger: Traject) -> None:
    key = ledger.key_file.read_bytes()

    result = ledger("init")

    # it says that the ledger is there, where, with which key file, and what to do
    assert result.exit_code == 1
    db = ledger.database_url.removeprefix("sqlite:///")
    assert result.stderr == (
        f"Error: the ledger at sqlite:///{db} is already initialised, with the master key in "
        f"{ledger.key_file}: nothing was changed. Use it as it is, or give another --db (and "
        "--key-file) for a new ledger\n"
    )
    assert ledger.key_file.read_bytes() == key
    ledger.register()


def test_init_with_a_master_key_in_the_environment_writes_no_key_file(traject: Traject) -> None:
    key = encode_master_key(generate_master_key())

    result = traject("init", TRAJECT_MASTER_KEY=key)

    assert result.exit_code == 0, result.output
    assert "Master key: taken from TRAJECT_MASTER_KEY (no key file written)" in result.stdout
    assert not traject.key_file.exists()
    # the same key opens the ledger; no key file is needed
    assert (
        traject(
            "person",
            "register",
            "--birth-date",
            "1990-04-02",
            "--sex",
            "m",
            "--nationality",
            "ER",
            "--municipality",
            "GM0622",
            TRAJECT_MASTER_KEY=key,
        ).exit_code
        == 0
    )


def test_init_reports_as_json(traject: Traject) -> None:
    data = traject.json("init")

    assert data == {
        "database": f"{traject.database_url}",
        "key_file": str(traject.key_file),
        "default_municipality": None,
    }


def test_commands_refuse_to_run_without_a_ledger(traject: Traject) -> None:
    db = Path(traject.database_url.removeprefix("sqlite:///"))

    result = traject("timeline", "3219ed75")

    assert result.exit_code == 1
    assert result.stderr == f"Error: no ledger at {db}: run `traject init`\n"
    # the refusal does not leave an empty database behind
    assert not db.exists()


def test_commands_on_a_database_that_is_no_ledger_say_so(traject: Traject) -> None:
    """An SQLite file that another program made (or that an init running at the same moment
    has not filled yet) is no ledger: not a database that cannot be reached."""
    db = Path(traject.database_url.removeprefix("sqlite:///"))
    with write_lock_held(db):
        pass  # an empty database
    traject.key_file.write_text(encode_master_key(generate_master_key()) + "\n")

    for args in (("timeline", "3219ed75"), ("audit", "verify"), ("report", "ladder")):
        result = traject(*args)

        assert result.exit_code == 1, args
        assert result.stderr == f"Error: no ledger at sqlite:///{db}: run `traject init`\n"


@pytest.mark.postgres
def test_an_init_that_finds_another_init_claiming_the_ledger_is_refused(
    postgres_schemas: PostgresSchemas, tmp_path: Path
) -> None:
    url = postgres_schemas.fresh("traject_init_race")
    schema = url.rsplit("schema=", 1)[1]
    TrajectoryLedger(parse_database_url(url).library_env, generate_master_key()).close()
    first = generate_master_key()
    second = Traject(url, tmp_path / "second.key")
    # Another `traject init` (the first) has bound the tables to its key and not committed yet,
    # when the second one, with a key of its own, reads that the ledger is not bound yet.
    with psycopg.connect(dsn(url)) as other:
        other.execute(
            f'INSERT INTO "{schema}".traject_settings VALUES (%s, %s)',
            [MASTER_KEY_CHECK, key_check_value(first)],
        )
        init = second.start("init", "--municipality", "GM0622")
        deadline = time.monotonic() + 30
        while not waiting_for_a_lock(postgres_schemas):
            assert init.poll() is None, init.communicate()
            assert time.monotonic() < deadline, "the second init did not come to wait"
            time.sleep(0.02)
        other.commit()
    code, stderr = init.wait(timeout=60), init.communicate()[1]

    # the second init was refused and removed its key file (it would open nothing); before,
    # it overwrote the first one's binding and both said "Created the ledger"
    assert (code, stderr) == (1, "Error: this ledger was initialised with another master key\n")
    assert not second.key_file.exists()
    first_file = tmp_path / "first.key"
    first_file.write_text(encode_master_key(first) + "\n")
    ledger = Traject(url, first_file)
    person = ledger.register(*PERSONAL, "--municipality", "GM0622")
    assert ledger("timeline", person).exit_code == 0


def waiting_for_a_lock(schemas: PostgresSchemas) -> bool:
    """Whether a session of the test database waits for a lock (another's uncommitted row)."""
    row = schemas.connection.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    ).fetchone()
    return row is not None and row[0] > 0


def test_a_missing_key_file_is_named_with_the_way_out(ledger: Traject) -> None:
    ledger.key_file.unlink()

    result = ledger("person", "find", "--bsn", "123456782")

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: no master key: {ledger.key_file} does not exist. Run `traject init`, "
        "or set TRAJECT_MASTER_KEY / TRAJECT_KEY_FILE\n"
    )


def test_another_master_key_is_refused_before_anything_is_written(ledger: Traject) -> None:
    person = ledger.register()
    before = ledger.event_count()
    other = encode_master_key(generate_master_key())

    result = ledger(
        "record",
        "ladder-assessed",
        person,
        "--on",
        days_ago(1),
        "--rung",
        "3",
        "--assessor",
        "r.jansen",
        TRAJECT_MASTER_KEY=other,
    )

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: the master key does not match this ledger: check TRAJECT_MASTER_KEY or the "
        "key file (TRAJECT_KEY_FILE)\n"
    )
    assert ledger.event_count() == before


def test_a_malformed_master_key_names_its_origin(ledger: Traject) -> None:
    result = ledger("person", "find", "--bsn", "123456782", TRAJECT_MASTER_KEY="short")

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: TRAJECT_MASTER_KEY: the master key must be 32 bytes, as base64 or 64 hex digits\n"
    )


def test_the_key_file_defaults_to_the_database_file_name_with_key(tmp_path: Path) -> None:
    traject = Traject(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "unused.key")

    result = traject("init", TRAJECT_KEY_FILE=None)

    assert result.exit_code == 0, result.output
    assert (tmp_path / "ledger.db.key").is_file()
    assert not (tmp_path / "unused.key").exists()


def test_an_unknown_database_url_scheme_is_refused(traject: Traject) -> None:
    result = traject("init", TRAJECT_DATABASE_URL="mysql://db/traject")

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: database URL 'mysql://db/traject': use sqlite:///PATH or postgresql://USER@HOST/DB\n"
    )


def test_a_key_file_that_is_not_text_is_refused_with_its_name(ledger: Traject) -> None:
    """A key file of other bytes (a binary file, a key in another encoding) is a user's
    mistake, refused before anything is written, as one of the wrong length is."""
    before = ledger.event_count()
    key = ledger.key_file.read_bytes()
    ledger.key_file.write_bytes(b"\xff\xfe" + key)

    for command in (
        ("person", "register", "--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY"),
        ("admin", "purge-erased"),
        ("admin", "rotate-master-key"),
    ):
        result = ledger(*command)
        assert result.exit_code == 1, result.output
        assert result.stderr == (
            f"Error: {ledger.key_file}: the master key must be 32 bytes, as base64 or 64 hex "
            "digits\n"
        )
    ledger.key_file.write_bytes(key)
    assert ledger.event_count() == before
    assert not ledger.key_file.with_name(ledger.key_file.name + ".new").exists()


def test_a_second_init_with_the_key_in_the_environment_is_refused_and_changes_nothing(
    traject: Traject,
) -> None:
    """As with a key file: a service given its key as TRAJECT_MASTER_KEY that runs `init`
    again is told the ledger is there, and its default municipality stays as it was."""
    key = encode_master_key(generate_master_key())
    traject.ok("init", "--municipality", "GM0622", TRAJECT_MASTER_KEY=key)

    result = traject("init", "--municipality", "GM0556", TRAJECT_MASTER_KEY=key)

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: the ledger at {traject.database_url} is already initialised, with the master "
        "key in TRAJECT_MASTER_KEY: nothing was changed. Use it as it is, or give another --db "
        "for a new ledger\n"
    )
    assert result.stdout == ""
    registered = traject(
        "--json", "person", "register", "--birth-date", "1990-04-02", "--sex", "m",
        "--nationality", "ER", TRAJECT_MASTER_KEY=key,
    )  # fmt: skip
    assert registered.exit_code == 0, registered.output
    assert (
        '"municipality": "GM0622"'
        in traject(
            "--json", "timeline", json.loads(registered.stdout)["stream_id"], TRAJECT_MASTER_KEY=key
        ).stdout
    )


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        (
            "postgresql://u:s3cret@db:99999/traject",
            "port 99999: a port is a number from 1 to 65535",
        ),
        ("postgresql://u:s3cret@db:0/traject", "port 0: a port is a number from 1 to 65535"),
        ("postgresql://u:s3cret@db:abc/traject", "port abc: a port is a number from 1 to 65535"),
        ("postgresql://u:s3cret@[::1/traject", "not a URL (Invalid IPv6 URL)"),
        (
            "postgresql://u:s3cret@db/traject?schema=re;gio",
            "schema 're;gio': a schema name is lower-case letters, digits and _, beginning "
            "with a letter or _, at most 63 characters",
        ),
        (
            "postgresql://u:s3cret@db/traject?schema=Regio",
            "schema 'Regio': a schema name is lower-case letters, digits and _, beginning "
            "with a letter or _, at most 63 characters",
        ),
        ("postgresql://u:s3cret@db/traject?schema=a&schema=b", "schema is given twice"),
        (
            "postgresql://u:s3cret@db/traject?schema=regio&sslmode=require",
            "unknown parameter sslmode: traject takes only ?schema=NAME; connection settings "
            "such as sslmode go in libpq's environment variables (PGSSLMODE, …)",
        ),
        ("postgresql://u:s3cret@db", "name the database, e.g. postgresql://postgres@host/traject"),
    ],
)
def test_a_postgresql_url_traject_cannot_use_is_refused_naming_the_rule(
    traject: Traject, url: str, rule: str
) -> None:
    """Refused before any connection, without a traceback and without the password: a
    parameter traject would ignore (sslmode) is not silently dropped, and a schema name the
    event store cannot use unquoted (upper case: init would make a ledger no later command
    opens) is refused up front."""
    result = traject("init", TRAJECT_DATABASE_URL=url)
    assert result.exit_code == 1, result.output
    shown = url.replace(":s3cret@", ":***@")
    assert result.stderr == f"Error: database URL {shown!r}: {rule}\n"
