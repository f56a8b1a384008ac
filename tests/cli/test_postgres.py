"""One path through the command line on PostgreSQL: init, register, record, correct, timeline."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import uuid4

import pytest
from cli_helpers import Traject, as_user, days_ago
from pg_schemas import PostgresSchemas

pytestmark = pytest.mark.postgres


def test_a_trajectory_on_postgresql(cli_postgres_url: str, tmp_path: Path) -> None:
    traject = Traject(cli_postgres_url, tmp_path / "traject.key")

    # init creates the schema and the tables (the only command run with CREATE_TABLE=yes)
    traject.init("--municipality", "GM0622")
    person = traject.linked_person()
    traject.ok(
        "record",
        "housed",
        person[:8],
        "--on",
        days_ago(10),
        "--housing-kind",
        "regulier",
        "--route",
        "koppeling",
    )
    traject.ok("correct", person, "4", "--set", "occurred_on=" + days_ago(11), "--reason", "typo")
    traject.ok(
        "record",
        "taakstelling-set",
        "GM0622",
        "--on",
        days_ago(30),
        "--period",
        "2024H1",
        "--target",
        "40",
        "--source-ref",
        "circulaire 2024-I",
    )

    events = traject.json("timeline", person)["events"]
    assert [e["kind"] for e in events] == [
        "PersonRegistered",
        "ResidencePermitRecorded",
        "CoaLinked",
        "Housed",
        "EventCorrected",
    ]
    assert events[3]["effective"]["occurred_on"] == days_ago(11)
    # a rule is refused the same way as on SQLite
    refused = traject(
        "record",
        "housed",
        person,
        "--on",
        days_ago(1),
        "--housing-kind",
        "regulier",
        "--route",
        "koppeling",
    )
    assert refused.exit_code == 1
    assert refused.stderr == (
        "Error: Housed: --route: koppeling needs an active koppeling: the koppeling of "
        f"{days_ago(15)} was used by the housing of {days_ago(11)} (a koppeling houses once); "
        "a later move takes another route (eigen, gva_doorstroom)\n"
    )


def test_a_schema_without_a_ledger_is_named(cli_postgres_url: str, tmp_path: Path) -> None:
    traject = Traject(cli_postgres_url, tmp_path / "traject.key")
    traject.init()
    parts = urlsplit(cli_postgres_url)
    query = [(k, v + "_empty" if k == "schema" else v) for k, v in parse_qsl(parts.query)]
    empty = urlunsplit(parts._replace(query=urlencode(query)))
    schema = dict(query)["schema"]

    result = traject("timeline", "3219ed75", TRAJECT_DATABASE_URL=empty)

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: no ledger at postgresql://{parts.hostname}:{parts.port or 5432}"
        f"{parts.path}?schema={schema}: run `traject init`\n"
    )


@pytest.mark.parametrize("refused", ["database", "role"])
def test_a_refused_connection_says_why_at_once(
    cli_postgres_url: str, tmp_path: Path, refused: str
) -> None:
    parts = urlsplit(cli_postgres_url)
    missing = f"traject_no_such_{refused}_{tmp_path.name[-6:].lower()}"
    if refused == "database":
        url = urlunsplit(parts._replace(path=f"/{missing}"))
    else:
        url = urlunsplit(parts._replace(netloc=f"{missing}@{parts.hostname}:{parts.port or 5432}"))
    traject = Traject(url, tmp_path / "traject.key")
    where = f"postgresql://{parts.hostname}:{parts.port or 5432}"
    where += f"/{missing}" if refused == "database" else parts.path

    started = time.monotonic()
    result = traject("caseload")
    taken = time.monotonic() - started

    # the server's own reason, not the pool's "couldn't get a connection after 5.00 sec"; and
    # the server was reached: it refused
    user = missing if refused == "role" else parts.username
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: the database server refused {user}'s connection to "
        f"{where}?schema={dict(parse_qsl(parts.query))['schema']}: "
        f'{refused} "{missing}" does not exist\n'
    )
    assert taken < 3, f"{taken:.1f} s"


def test_a_role_that_may_not_connect_is_told_so_not_that_the_database_is_unreachable(
    cli_postgres_url: str, postgres_schemas: PostgresSchemas, tmp_path: Path
) -> None:
    parts = urlsplit(cli_postgres_url)
    role = f"traject_nologin_{tmp_path.name[-6:].lower()}"
    admin = postgres_schemas.connection
    admin.execute(f"CREATE ROLE {role} NOLOGIN")
    try:
        url = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))
        result = Traject(url, tmp_path / "traject.key")("caseload")
    finally:
        admin.execute(f"DROP ROLE {role}")

    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: the database server refused {role}'s connection to postgresql://"
    )
    assert result.stderr.endswith(f': role "{role}" is not permitted to log in\n')


def test_the_owner_of_a_schema_made_for_it_initialises_a_ledger_there(
    postgres_schemas: PostgresSchemas, tmp_path: Path
) -> None:
    # A database administrator creates a schema for traject's owner in a shared database
    # where that owner may not create schemas (no CREATE on the database), as
    # docs/operations.md allows: "Create a database (or use an existing one)".
    suffix = uuid4().hex[:12]
    role, schema = f"traject_owner_{suffix}", f"traject_owned_{suffix}"
    admin = postgres_schemas.connection
    admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        admin.execute(f'CREATE SCHEMA "{schema}" AUTHORIZATION {role}')
        traject = Traject(as_user(postgres_schemas.ledger_url(schema), role), tmp_path / "k")

        result = traject("init", "--municipality", "GM0622")

        assert result.exit_code == 0, result.output
        person = traject.linked_person()
        assert [e["kind"] for e in traject.json("timeline", person)["events"]] == [
            "PersonRegistered",
            "ResidencePermitRecorded",
            "CoaLinked",
        ]
    finally:
        admin.execute(f"DROP OWNED BY {role} CASCADE")  # its schema and the ledger in it
        admin.execute(f"DROP ROLE {role}")


def test_a_user_who_may_not_create_the_schema_is_told_what_init_needs(
    postgres_schemas: PostgresSchemas, tmp_path: Path
) -> None:
    suffix = uuid4().hex[:12]
    role = f"traject_owner_{suffix}"
    admin = postgres_schemas.connection
    admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        url = as_user(postgres_schemas.ledger_url(f"traject_missing_{suffix}"), role)

        result = Traject(url, tmp_path / "k")("init", "--municipality", "GM0622")
    finally:
        admin.execute(f"DROP ROLE {role}")

    database = urlsplit(url).path.lstrip("/")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: the database user {role} may not do what `traject init` needs (permission "
        f"denied for database {database}): it needs to own the schema named in the database "
        "URL, or the right to create it (CREATE on the database) (docs/operations.md, Setting "
        "up PostgreSQL)\n"
    )
    assert not (tmp_path / "k").exists()  # the key file it wrote opens nothing: removed
