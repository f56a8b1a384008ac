"""`traject admin roles`: the server enforces what staff, analysts and auditors may do.

Each test user is a LOGIN role that is a member of one group role, connecting over TCP to the
real server; the assertions are the server's own answers (permission denied, or rows).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from cli_helpers import Traject, as_user, days_ago, dsn, now, project_registration
from pg_schemas import PostgresSchemas
from test_amif import evidence, keys_and_checkpoint, record_scenario

from ledger.roles import ANALYST, AUDITOR, STAFF

pytestmark = pytest.mark.postgres


@pytest.fixture
def ledger_with_roles(
    postgres_schemas: PostgresSchemas, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """A PostgreSQL ledger with a person and caught-up read models; roles granted; login
    users."""
    with roles_and_users(postgres_schemas, tmp_path, reported=True) as ledger:
        yield ledger


@pytest.fixture
def fresh_ledger_with_roles(
    postgres_schemas: PostgresSchemas, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """A PostgreSQL ledger just initialised, roles granted, login users: the owner has run
    nothing else."""
    with roles_and_users(postgres_schemas, tmp_path, reported=False) as ledger:
        yield ledger


@contextmanager
def roles_and_users(
    postgres_schemas: PostgresSchemas, tmp_path: Path, *, reported: bool
) -> Iterator[dict[str, Any]]:
    url = postgres_schemas.fresh("traject_roles")
    schema = postgres_schemas.created[-1]
    owner = Traject(url, tmp_path / "traject.key")
    owner.init("--municipality", "GM0622")
    if reported:
        owner.linked_person()
        owner.ok("report", "outflow", "--period", "2024H1")
        owner.ok("report", "housing", "--period", "2024H1")
    grants = owner.json("admin", "roles")
    users = {role: f"{role}_{uuid4().hex[:8]}" for role in (STAFF, ANALYST, AUDITOR)}
    admin = postgres_schemas.connection
    for role, user in users.items():
        admin.execute(f"CREATE ROLE {user} LOGIN IN ROLE {role}")
    try:
        yield {"url": url, "schema": schema, "owner": owner, "users": users, "grants": grants}
    finally:
        for user in users.values():
            admin.execute(f"DROP OWNED BY {user}")
            admin.execute(f"DROP ROLE IF EXISTS {user}")


def run(url: str, user: str, sql: str) -> str:
    """``ok`` with the rows' count, or the server's refusal as ``denied: <message>``."""
    with psycopg.connect(dsn(as_user(url, user)), autocommit=True) as connection:
        try:
            rows = connection.execute(sql).fetchall() if sql.startswith("SELECT") else []
            if not sql.startswith("SELECT"):
                connection.execute(sql)
        except psycopg.Error as error:
            return f"denied: {error}"
    return f"ok {len(rows)}"


def test_staff_appends_and_reads_but_cannot_change_or_alter(
    ledger_with_roles: dict[str, Any],
) -> None:
    url, s, user = (
        ledger_with_roles["url"],
        ledger_with_roles["schema"],
        ledger_with_roles["users"][STAFF],
    )
    events = f'"{s}".traject_events'
    assert run(url, user, f"SELECT * FROM {events}").startswith("ok")
    staff = Traject(as_user(url, user), ledger_with_roles["owner"].key_file)
    staff.register()  # appends through traject
    refused = staff("admin", "roles")
    assert refused.exit_code == 1
    assert "must run as the owner" in refused.stderr
    assert "append-only" in run(url, user, f"UPDATE {events} SET topic = topic")
    assert "permission denied" in run(url, user, f"DELETE FROM {events}")
    assert "permission denied" in run(url, user, f"TRUNCATE {events}")
    assert "must be owner" in run(url, user, f"ALTER TABLE {events} ADD COLUMN x int")
    assert "must be owner" in run(url, user, f'DROP TABLE "{s}".outflow_facts')
    assert "must be owner" in run(url, user, f"DROP TRIGGER traject_events_append_only ON {events}")
    assert "permission denied" in run(url, user, f'CREATE TABLE "{s}".mine (x int)')
    assert "permission denied" in run(
        url, user, f"UPDATE \"{s}\".traject_leaves SET leaf_hash = ''"
    )


def test_staff_catch_up_read_models_with_derived_tables(
    ledger_with_roles: dict[str, Any],
) -> None:
    """A catch-up rewrites a person's derived rows (spans, latest status): staff may delete
    those rows, of tables granted by `admin roles` (outflow) or by the owner's rebuild (the
    others, built after the roles), and no other table's."""
    url, s, user = (
        ledger_with_roles["url"],
        ledger_with_roles["schema"],
        ledger_with_roles["users"][STAFF],
    )
    owner = ledger_with_roles["owner"]
    owner.ok("report", "ladder")  # built after the roles: its tables get the grant on the swap
    owner.ok("caseload")
    staff = Traject(as_user(url, user), owner.key_file)
    person = staff.linked_person()
    staff.ok("record", "outflow-started", person, "--on", days_ago(3),
             "--outflow-type", "werk_volledig")  # fmt: skip
    staff.ok("record", "ladder-assessed", person, "--on", days_ago(3), "--rung", "3",
             "--assessor", "r.jansen")  # fmt: skip
    period = half_year(days_ago(3))
    for rebuilt in (False, True):
        if rebuilt:
            owner.ok("projections", "rebuild", "--quiet")
            staff.ok("record", "ladder-assessed", person, "--on", days_ago(2), "--rung", "4",
                     "--assessor", "r.jansen")  # fmt: skip
        outflow = staff.json("report", "outflow", "--period", period)
        started = {row["outflow_type"]: row["started"] for row in outflow["rows"]}
        assert started["werk_volledig"] == 1
        assert staff.json("report", "ladder")["assessed"] == 1
        assert person in {row["person_id"] for row in staff.json("caseload")["rows"]}
    for table in ("outflow_spans", "ladder_spans", "caseload_history"):
        assert run(url, user, f'DELETE FROM "{s}".{table} WHERE false').startswith("ok"), table
    for table in ("outflow_facts", "traject_projection_state", "traject_data_keys"):
        assert "permission denied" in run(url, user, f'DELETE FROM "{s}".{table} WHERE false')


def test_analyst_reads_read_models_only(ledger_with_roles: dict[str, Any]) -> None:
    url, s, user = (
        ledger_with_roles["url"],
        ledger_with_roles["schema"],
        ledger_with_roles["users"][ANALYST],
    )
    assert run(url, user, f'SELECT * FROM "{s}".outflow_facts').startswith("ok")
    assert run(url, user, f'SELECT * FROM "{s}".traject_projection_state').startswith("ok")
    for table in (
        "traject_events",
        "traject_data_keys",
        "traject_person_index",
        "traject_settings",
        "traject_leaves",
    ):
        assert "permission denied" in run(url, user, f'SELECT * FROM "{s}".{table}'), table
    assert "permission denied" in run(url, user, f'DELETE FROM "{s}".outflow_facts')
    # a rebuild makes new tables: the analyst still reads them
    ledger_with_roles["owner"].ok("projections", "rebuild", "outflow")
    assert run(url, user, f'SELECT * FROM "{s}".outflow_facts').startswith("ok")
    assert "traject_events" not in ledger_with_roles["grants"][ANALYST]


def test_auditor_reads_everything_writes_nothing_and_verifies(
    ledger_with_roles: dict[str, Any], tmp_path: Path
) -> None:
    url, s, user = (
        ledger_with_roles["url"],
        ledger_with_roles["schema"],
        ledger_with_roles["users"][AUDITOR],
    )
    owner = ledger_with_roles["owner"]
    owner.ok("audit", "keygen", "--out", str(tmp_path / "a.key"))
    owner.ok("audit", "checkpoint", "-q", "--key", str(tmp_path / "a.key"))
    for table in ("traject_events", "traject_data_keys", "outflow_facts", "traject_leaves"):
        assert run(url, user, f'SELECT * FROM "{s}".{table}').startswith("ok"), table
    assert "permission denied" in run(
        url, user, f"INSERT INTO \"{s}\".traject_settings VALUES ('a', 'b')"
    )
    assert "permission denied" in run(url, user, f'DELETE FROM "{s}".traject_checkpoints')
    auditor = Traject(as_user(url, user), owner.key_file)
    result = auditor("audit", "verify", "-q", "--public-key", str(tmp_path / "a.pub"))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("verified 3 events against 1 checkpoint")


def test_roles_need_postgresql(ledger: Traject) -> None:
    result = ledger("admin", "roles")
    assert result.exit_code == 1
    assert "database roles need PostgreSQL" in result.stderr


# --- reports for read-only roles --------------------------------------------------------------


def half_year(day: str) -> str:
    """The half-year (2024H1) a YYYY-MM-DD date lies in."""
    return f"{day[:4]}H{1 if int(day[5:7]) <= 6 else 2}"


def figures(report: dict[str, Any]) -> list[Any]:
    return report["rows"]


def test_analyst_reports_from_the_read_models_without_key_or_events(
    ledger_with_roles: dict[str, Any], tmp_path: Path
) -> None:
    url, users, owner = (
        ledger_with_roles["url"],
        ledger_with_roles["users"],
        ledger_with_roles["owner"],
    )
    staff = Traject(as_user(url, users[STAFF]), owner.key_file)
    # the analyst has no master key: reports never read personal fields
    analyst = Traject(as_user(url, users[ANALYST]), tmp_path / "no-such.key")
    on = days_ago(5)
    period = half_year(on)
    person = staff.linked_person()
    staff.ok("record", "housed", person, "--on", on, "--housing-kind", "regulier",
             "--route", "koppeling")  # fmt: skip
    staff.ok("record", "outflow-started", person, "--on", on, "--outflow-type", "werk_volledig")
    outflow = ("report", "outflow", "--period", period, "--format", "json")
    housing = ("report", "housing", "--period", period, "--format", "json")
    seen = {name: json.loads(staff.ok(*args).stdout) for name, args in
            (("outflow", outflow), ("housing", housing))}  # fmt: skip
    assert seen["outflow"]["basis"]["caught_up"] is True
    # one person started werk_volledig outflow in the period and is still in it at its end
    by_type = {row["outflow_type"]: row for row in seen["outflow"]["rows"]}
    assert (by_type["werk_volledig"]["started"], by_type["total"]["in_outflow_at_end"]) == (1, 1)
    # one person housed in GM0622 in the half-year
    assert sum(row["realised"] for row in seen["housing"]["rows"]) == 1

    for name, args in (("outflow", outflow), ("housing", housing)):
        result = analyst(*args)
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert figures(report) == figures(seen[name])
        assert report["basis"]["position"] == seen[name]["basis"]["position"]
        assert (report["basis"]["caught_up"], report["basis"]["lag"]) == (True, 0)
        assert result.stderr == ""

    # the dashboard reads its read models in one read-only transaction: the analyst's too
    quarter = f"{on[:4]}Q{(int(on[5:7]) - 1) // 3 + 1}"
    dashboard = ("report", "dashboard", "--quarter", quarter, "--format", "json")
    owner.ok(*dashboard)  # builds the read models staff may only catch up
    staffs, analysts = json.loads(staff.ok(*dashboard).stdout), analyst(*dashboard)
    assert analysts.exit_code == 0, analysts.output
    assert json.loads(analysts.stdout)["sections"] == staffs["sections"]
    assert staffs["sections"]["outflow"]["started"]["werk_volledig"] == 1

    # where the read models stand, also without a key (no catch-up: read only)
    status = analyst("projections", "status", "--format", "json")
    assert status.exit_code == 0, status.output
    positions = {row["name"]: row["position"] for row in json.loads(status.stdout)}
    assert positions["outflow"] == report["basis"]["position"]

    staff.register()  # one more event the read models have not processed
    result = analyst(*outflow)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert figures(report) == figures(seen["outflow"])
    assert report["basis"]["caught_up"] is False
    assert report["basis"]["lag"] == 1
    assert "read model outflow is not caught up" in result.stderr
    table = analyst("report", "outflow", "--period", period)
    assert table.exit_code == 0, table.output
    assert "1 notification ids after it are not counted" in table.stderr
    # the analyst still may not read the events or the keys
    for name in ("traject_events", "traject_data_keys"):
        sql = f'SELECT * FROM "{ledger_with_roles["schema"]}".{name}'
        assert "permission denied" in run(url, users[ANALYST], sql)


def test_analyst_is_told_to_have_a_read_model_built(
    ledger_with_roles: dict[str, Any], tmp_path: Path
) -> None:
    url, users = ledger_with_roles["url"], ledger_with_roles["users"]
    analyst = Traject(as_user(url, users[ANALYST]), tmp_path / "no-such.key")
    # as if the ladder's read model had never been built
    admin = psycopg.connect(dsn(url), autocommit=True)
    with admin:
        admin.execute(
            f'DELETE FROM "{ledger_with_roles["schema"]}".traject_projection_state'
            " WHERE name = 'ladder'"
        )
    result = analyst("report", "ladder", "--format", "json")
    assert result.exit_code == 1
    assert "read model ladder has not been built" in result.stderr
    assert "traject projections rebuild ladder" in result.stderr
    assert "Traceback" not in result.output


def test_auditor_reports_and_replays_without_writing(
    ledger_with_roles: dict[str, Any],
) -> None:
    """The auditor may not catch a read model up: a replay as known at a moment the read model
    covers is the replay staff get; one as known at a moment after a fact it has not counted
    is refused, since its block would name a last event its result does not count."""
    url, users, owner = (
        ledger_with_roles["url"],
        ledger_with_roles["users"],
        ledger_with_roles["owner"],
    )
    auditor = Traject(as_user(url, users[AUDITOR]), owner.key_file)
    outflow = ("report", "outflow", "--period", "2024H1")
    before = owner.json(*outflow)
    position = before["basis"]["position"]
    covered = now()
    person = owner.register()  # the auditor may read the events: it knows the lag exactly
    unread = now()  # a registration is of no kind the outflow read model reads
    result = auditor(*outflow, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows"] == before["rows"]
    assert (report["basis"]["caught_up"], report["basis"]["lag"]) == (False, 1)
    replays = {}
    for moment, last in ((covered, position), (unread, position + 1)):
        replay = auditor("audit", "replay", "--as-known-at", moment, *outflow)
        assert replay.exit_code == 0, replay.output
        assert replay.stderr == ""  # complete as known then: no warning of the read model's lag
        replays[moment] = json.loads(replay.stdout)
        assert replays[moment]["result"]["rows"] == before["rows"]
        assert replays[moment]["replay"]["last_notification_id"] == last
    # an outflow start is: as known after it, the read model misses it
    owner.ok("record", "outflow-started", person, "--on", days_ago(3),
             "--outflow-type", "werk_volledig")  # fmt: skip
    later, top = now(), owner.event_count()
    for moment in (later, now()):
        refused = auditor("audit", "replay", "--as-known-at", moment, *outflow)
        assert refused.exit_code == 1, refused.output
        assert refused.stdout == ""
        known = datetime.fromisoformat(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert (
            "Error: read model outflow is not caught up (this database user may only read it): "
            f"it counts the events up to notification {position}, and a replay must count "
            f"every fact known at {known}, up to notification {top}: "
            "nothing was replayed. Run the command as staff or the owner, or have them run "
            "`traject report outflow --period 2024H1` first (it catches the read model up)"
        ) in refused.stderr
        assert "Traceback" not in refused.output
    # and nothing was written: the read model and the integrity log's leaves stand where the
    # owner left them, two events behind
    s = ledger_with_roles["schema"]
    with psycopg.connect(dsn(url), autocommit=True) as admin:
        (stored,) = admin.execute(
            f"SELECT position FROM \"{s}\".traject_projection_state WHERE name = 'outflow'"
        ).fetchone()
        (leaves,) = admin.execute(f'SELECT count(*) FROM "{s}".traject_leaves').fetchone()
    assert (stored, leaves) == (position, top - 2)
    # once staff have caught the read model up, the auditor's replays are theirs
    assert owner.json(*outflow)["basis"]["position"] == top
    for moment in (covered, unread, later):
        mine = owner.json("audit", "replay", "--as-known-at", moment, *outflow)
        theirs = auditor("audit", "replay", "--as-known-at", moment, *outflow)
        assert theirs.exit_code == 0, theirs.output
        assert json.loads(theirs.stdout)["replay"] == mine["replay"]
        if moment in replays:
            assert replays[moment]["replay"] == mine["replay"]


def test_auditor_restates_a_seal_only_from_a_read_model_that_counts_every_fact(
    ledger_with_roles: dict[str, Any],
) -> None:
    """A restatement replays the sealed report as known now: the seal itself is no fact the
    read model reads, so the auditor restates right after it; a fact the read model reads,
    recorded since, stops the restatement until staff catch the read model up."""
    url, users, owner = (
        ledger_with_roles["url"],
        ledger_with_roles["users"],
        ledger_with_roles["owner"],
    )
    auditor = Traject(as_user(url, users[AUDITOR]), owner.key_file)
    owner.ok("report", "seal", "--label", "H1", "report", "outflow", "--period", "2024H1")
    result = auditor("report", "restate", "v1", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["reproducible"]["ok"] is True
    owner.ok("record", "outflow-started", owner.register(), "--on", days_ago(3),
             "--outflow-type", "werk_volledig")  # fmt: skip
    result = auditor("report", "restate", "v1", "--format", "json")
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert f"up to notification {owner.event_count()}: nothing was replayed" in result.stderr
    owner.ok("report", "outflow", "--period", "2024H1")
    assert auditor("report", "restate", "v1", "--format", "json").exit_code == 0


def test_a_user_the_server_refuses_gets_a_clear_message(
    ledger_with_roles: dict[str, Any],
) -> None:
    url, users, owner = (
        ledger_with_roles["url"],
        ledger_with_roles["users"],
        ledger_with_roles["owner"],
    )
    person = owner.register()
    as_analyst = Traject(as_user(url, users[ANALYST]), owner.key_file)
    events = owner.event_count()
    for command in (
        ("record", "ladder-assessed", person, "--on", days_ago(1), "--rung", "3",
         "--assessor", "r.jansen"),
        ("person", "register", "--birth-date", "1990-04-02", "--sex", "f", "--nationality", "SY"),
    ):  # fmt: skip
        result = as_analyst(*command)
        assert result.exit_code == 1, result.output
        named = f"`traject {command[0]} {command[1]}`"
        assert f"the database user {users[ANALYST]} may not do what {named}" in result.stderr
        assert "permission denied" in result.stderr
        assert "it needs the role traject_staff, granted on this ledger's tables by " in (
            result.stderr
        )
        assert "Traceback" not in result.output
    assert owner.event_count() == events
    # staff may not create tables, so only the owner rebuilds a read model
    staff = Traject(as_user(url, users[STAFF]), owner.key_file)
    result = staff("projections", "rebuild", "outflow")
    assert result.exit_code == 1, result.output
    assert "only the owner of the ledger's tables may build or rebuild read models" in (
        result.stderr
    )
    assert f"{users[STAFF]} does not own them. Run the rebuild as postgres" in result.stderr


def test_staff_report_from_the_start(fresh_ledger_with_roles: dict[str, Any]) -> None:
    """`traject init` builds the read models (empty) on PostgreSQL: staff, who may not
    create tables, catch them up from their first report, with no rebuild by the owner."""
    url, users, owner = (
        fresh_ledger_with_roles["url"],
        fresh_ledger_with_roles["users"],
        fresh_ledger_with_roles["owner"],
    )
    staff = Traject(as_user(url, users[STAFF]), owner.key_file)
    person = staff.linked_person()
    staff.ok("record", "outflow-started", person, "--on", days_ago(3),
             "--outflow-type", "werk_volledig")  # fmt: skip
    period = half_year(days_ago(3))
    report = staff.json("report", "outflow", "--period", period)
    assert {row["outflow_type"]: row["started"] for row in report["rows"]}["werk_volledig"] == 1
    assert (report["basis"]["caught_up"], report["basis"]["lag"]) == (True, 0)
    assert person in {row["person_id"] for row in staff.json("caseload")["rows"]}
    analyst = Traject(as_user(url, users[ANALYST]), owner.key_file)
    assert analyst.json("report", "outflow", "--period", period)["rows"] == report["rows"]
    # the owner's rebuild gives the read model staff caught up
    digest = report["basis"]["digest"]
    owner.ok("projections", "rebuild", "--quiet")
    assert owner.json("report", "outflow", "--period", period)["basis"]["digest"] == digest


def test_staff_are_told_to_have_a_read_model_built(
    ledger_with_roles: dict[str, Any],
) -> None:
    """A read model never built (a ledger initialised by an earlier release, or a read model
    an upgrade added): staff may not build it, and are told who may."""
    url, users, s = (
        ledger_with_roles["url"],
        ledger_with_roles["users"],
        ledger_with_roles["schema"],
    )
    staff = Traject(as_user(url, users[STAFF]), ledger_with_roles["owner"].key_file)
    with psycopg.connect(dsn(url), autocommit=True) as admin:
        admin.execute(f"DELETE FROM \"{s}\".traject_projection_state WHERE name = 'ladder'")
    result = staff("report", "ladder", "--format", "json")
    assert result.exit_code == 1, result.output
    assert "read model ladder has not been built, and only the owner of the ledger's tables" in (
        result.stderr
    )
    assert "traject projections rebuild ladder" in result.stderr
    # no read model ever built: not even the tables that track them exist
    with psycopg.connect(dsn(url), autocommit=True) as admin:
        admin.execute(
            f'DROP TABLE "{s}".traject_projection_state, "{s}".traject_projection_rebuilds'
        )
    for command in (("report", "outflow", "--period", "2024H1"), ("projections", "rebuild")):
        result = staff(*command)
        assert result.exit_code == 1, result.output
        assert "only the owner of the ledger's tables may build" in result.stderr, command


def test_analyst_is_refused_the_checkpoints_not_told_there_are_none(
    ledger_with_roles: dict[str, Any], tmp_path: Path
) -> None:
    """The analyst may not read the integrity log's tables: listing or exporting the stored
    checkpoints is refused by the server, and said so, rather than answered with none."""
    url, users, owner = (
        ledger_with_roles["url"],
        ledger_with_roles["users"],
        ledger_with_roles["owner"],
    )
    owner.ok("audit", "keygen", "--out", str(tmp_path / "auditor.key"))
    owner.ok("audit", "checkpoint", "--key", str(tmp_path / "auditor.key"), "--quiet")
    analyst = Traject(as_user(url, users[ANALYST]), tmp_path / "no-such.key")
    for command in (("audit", "checkpoints"), ("audit", "export")):
        result = analyst(*command, "--json")
        assert result.exit_code == 1, result.output
        named = f"`traject {' '.join(command)}`"
        assert f"the database user {users[ANALYST]} may not do what {named} needs" in (
            result.stderr
        )
        assert "permission denied" in result.stderr
        assert "it needs the role traject_staff or traject_auditor" in result.stderr
        assert result.stdout == ""


def test_an_auditor_gets_no_evidence_pack_from_a_read_model_behind_the_log(
    ledger_with_roles: dict[str, Any], tmp_path: Path
) -> None:
    """The auditor may not catch the AMIF read model up: a pack built from it as it stands
    would leave out facts recorded since, with every proof still valid. It is refused, and
    the auditor is told why; once staff have caught the read model up, the same command works."""
    url, users, owner = (
        ledger_with_roles["url"],
        ledger_with_roles["users"],
        ledger_with_roles["owner"],
    )
    scenario = record_scenario(owner)
    owner.ok("report", "amif", "--project", "MWP", "--period", "2021")  # caught up
    owner.ok(
        "record", "service-delivered", str(scenario.people["B"]), "--on", "2021-06-01",
        "--project-id", "MWP", "--category", "language_course", "--hours", "8",
    )  # fmt: skip
    checkpoint, public = keys_and_checkpoint(owner, tmp_path)
    auditor = Traject(as_user(url, users[AUDITOR]), owner.key_file)
    pack = tmp_path / "mwp.zip"
    result = evidence(auditor, checkpoint, public, pack)
    assert result.exit_code == 1, result.output
    assert "read model amif is not caught up" in result.stderr
    assert "no evidence pack was written" in result.stderr
    assert not pack.exists()
    # as known at a moment before the new fact, the read model holds all the pack needs
    earlier = evidence(auditor, checkpoint, public, pack, "--as-known-at", scenario.cut.isoformat())
    assert earlier.exit_code == 0, earlier.output
    pack.unlink()
    owner.ok("report", "amif", "--project", "MWP", "--period", "2021")
    assert evidence(auditor, checkpoint, public, pack).exit_code == 0
    # the same ledger, checkpoint and options, as known at the moment the pack states, give
    # the same bytes, whoever builds the pack
    with zipfile.ZipFile(pack) as archive:
        moment = json.loads(archive.read("pack.json"))["as_known_at"]
    by_owner = tmp_path / "by-owner.zip"
    assert evidence(owner, checkpoint, public, by_owner, "--as-known-at", moment).exit_code == 0
    assert pack.read_bytes() == by_owner.read_bytes()


def test_a_reader_refused_by_a_read_model_behind_the_log_is_told_it_is_behind(
    ledger_with_roles: dict[str, Any], tmp_path: Path
) -> None:
    """A project registered after the AMIF read model was last caught up is not in it yet:
    the analyst's report fails, and says that the read model is behind, and which report
    catches it up, rather than only that no such project is registered."""
    url, users, owner = (
        ledger_with_roles["url"],
        ledger_with_roles["users"],
        ledger_with_roles["owner"],
    )
    owner.ok(*project_registration(days_ago(3)))
    analyst = Traject(as_user(url, users[ANALYST]), tmp_path / "no-such.key")
    amif = ("report", "amif", "--project", "MWP", "--period", days_ago(3)[:4])
    result = analyst(*amif)
    assert result.exit_code == 1, result.output
    assert "Error: no AMIF project MWP is registered" in result.stderr
    assert (
        "Warning: read model amif is not caught up (this database user may only read it): "
        "figures as of notification"
    ) in result.stderr
    assert "the same report, run by staff or the owner, catches it up" in result.stderr
    owner.ok("report", "outflow", "--period", "2024H1")  # another read model: still behind
    assert analyst(*amif).exit_code == 1
    owner.ok(*amif)
    result = analyst(*amif)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_an_analyst_without_a_key_is_told_only_the_owner_rebuilds_not_that_a_key_is_missing(
    ledger_with_roles: dict[str, Any], tmp_path: Path
) -> None:
    url, users = ledger_with_roles["url"], ledger_with_roles["users"]
    # The analyst needs no master key for anything the role may do; a rebuild is not one.
    analyst = Traject(as_user(url, users[ANALYST]), tmp_path / "no-such.key")

    result = analyst("projections", "rebuild", "outflow")

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "Error: only the owner of the ledger's tables may build or rebuild read models (a "
        f"rebuild creates tables and puts them in place of the live ones): {users[ANALYST]} "
        "does not own them. Run the rebuild as postgres; nothing was changed\n"
    )


def test_staff_check_households_by_a_scan_until_the_owner_makes_the_stream_links(
    postgres_schemas: PostgresSchemas, tmp_path: Path
) -> None:
    """A ledger of an earlier release has no ``traject_stream_links``, and staff may not make
    it: their household checks scan the events table and refuse the same, until the owner's
    `traject admin roles` makes and fills it."""
    with roles_and_users(postgres_schemas, tmp_path, reported=False) as ledger:
        owner, s = ledger["owner"], ledger["schema"]
        links = f'"{s}".traject_stream_links'
        admin = postgres_schemas.connection
        admin.execute(f"DROP TABLE {links}")  # as an earlier release made the ledger
        staff = Traject(as_user(ledger["url"], ledger["users"][STAFF]), owner.key_file)
        referent = staff.linked_person()
        staff.ok("record", "housed", referent, "--on", days_ago(8), "--housing-kind",
                 "regulier", "--route", "koppeling")  # fmt: skip
        member = staff.register("--birth-date", "1990-04-02", "--sex", "f", "--nationality",
                                "SY", "--household-id", referent)  # fmt: skip
        staff.ok("record", "housed", member, "--on", days_ago(6), "--housing-kind", "regulier",
                 "--route", "nareis")  # fmt: skip
        refusal = f"earlier housing: Housed v2 of {member} on {days_ago(6)}"
        retraction = ("retract", referent, "4", "--reason", "wrong person")
        result = staff(*retraction)
        assert result.exit_code == 1
        assert refusal in result.stderr
        (exists,) = admin.execute(f"SELECT to_regclass('{links}') IS NOT NULL").fetchone()
        assert exists is False
        owner.ok("admin", "roles")
        rows = admin.execute(f"SELECT target, stream_id FROM {links}").fetchall()
        assert rows == [(referent, member)]
        result = staff(*retraction)
        assert result.exit_code == 1
        assert refusal in result.stderr
        # staff write the links of what they record from then on
        joined = staff.register("--birth-date", "1992-04-02", "--sex", "m", "--nationality",
                                "SY", "--household-id", referent)  # fmt: skip
        rows = admin.execute(f"SELECT stream_id FROM {links} ORDER BY stream_id").fetchall()
        assert rows == sorted([(member,), (joined,)])
