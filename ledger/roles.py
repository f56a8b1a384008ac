"""PostgreSQL roles for a ledger: who may append, who may read which tables, and nobody alters.

Three group roles (``NOLOGIN``; grant them to login users, see docs/operations.md):

* ``traject_staff`` appends and reads: ``SELECT`` and ``INSERT`` on every table, and ``UPDATE``
  and ``DELETE`` only where a traject command of theirs changes rows (:data:`STAFF_COLUMNS`):

  - the events table: ``UPDATE`` only because PostgreSQL demands it for ``LOCK TABLE … IN
    EXCLUSIVE MODE``, which the recorder takes to commit notification ids in order; the
    append-only trigger refuses every ``UPDATE``, ``DELETE`` and ``TRUNCATE`` of stored
    events, and only the owner could drop it;
  - ``traject_data_keys``: ``UPDATE (wrapped, shredded_at)``, the tombstone of an erasure;
  - ``traject_person_index``: ``UPDATE (bsn_digest)``, a correction of a registration's BSN
    moves it, an erasure (and a purge after one) forgets it;
  - ``traject_external_refs``: ``DELETE``, an erasure removes the person's external keys (a
    source system's client number) in the transaction that destroys their data key;
  - ``traject_settings``: ``UPDATE (value)`` of the row ``erasure_purge_pending`` only, which
    an erasure writes with its tombstone: row-level security (:data:`SETTINGS_POLICIES`) makes
    the server refuse any other row's new value to everyone but the owner (who is not subject
    to it: no ``FORCE``), so the master key's check value, the default municipality, the
    ledger id and the checkpoints' origin stay as the owner wrote them;
  - the read models' tables and ``traject_projection_state``: ``UPDATE``, a catch-up closes
    fact revisions and moves the position; ``DELETE`` of the derived tables' rows (spans,
    latest status, :data:`DERIVED_GRANT`), which a catch-up rewrites per person and a rebuild
    restores from the log. A rebuild grants both on the tables it puts in place.

  No ``UPDATE`` at all of ``traject_idempotency``, ``traject_external_refs``,
  ``traject_stream_links`` (an append inserts its links, ``ON CONFLICT DO NOTHING``), the
  integrity log's tables (leaves, checkpoints), ``traject_projection_rebuilds`` (the owner
  rebuilds) or any other table, side tables a later release adds included.
* ``traject_analyst`` reads the read models' tables (and their state) only: never the events
  table (it holds the encrypted personal fields), the key table, the person index or any other
  side table.
* ``traject_auditor`` reads every table and writes none: it can run ``traject audit verify``.

All three may call ``traject_last_notification_id()`` (``SECURITY DEFINER``): the last
notification id, so that a reader who may not read the events table still learns how far
behind a read model it cannot catch up is.

No role gets ``CREATE`` on the schema, ``TRUNCATE``, ``REFERENCES`` or ``TRIGGER``. Only the
owner (who runs ``traject admin roles``) can alter or drop a table. Rebuilding a read model
creates new tables: default privileges (``ALTER DEFAULT PRIVILEGES``) give every table the
owner creates later ``SELECT`` (and staff ``INSERT``), never ``UPDATE``, so a side table a later
release adds is append-only to staff from the start. Re-run ``traject admin roles`` after an
upgrade of traject: it revokes every grant on the schema and applies these again, so what an
earlier release granted (staff's ``UPDATE`` of every side table, the analyst's access to a
table that is not a read model's) goes; and it makes the side tables a release added
(``traject_stream_links``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.audit import tuple_row
from ledger.errors import TrajectError
from ledger.persistence import PURGE_PENDING, TrajectSQLiteRecorder

if TYPE_CHECKING:
    from ledger.application import TrajectoryLedger

STAFF = "traject_staff"
ANALYST = "traject_analyst"
AUDITOR = "traject_auditor"
ROLES = (STAFF, ANALYST, AUDITOR)
INTEGRITY_TABLES = ("traject_leaves", "traject_checkpoints")
PROJECTION_STATE_TABLES = ("traject_projection_state",)
READ_MODEL_GRANT = "GRANT UPDATE"
"""What staff get on every table of a read model and on ``traject_projection_state`` beside
``SELECT, INSERT``: a catch-up closes fact revisions (``known_to``, ``superseded_by``) and moves
the read model's position. Granted by ``traject admin roles`` and by each
rebuild on the tables it puts in place (default privileges give no ``UPDATE``)."""
DERIVED_GRANT = "GRANT DELETE"
"""What staff get on a read model's derived tables (the spans and latest-status tables), beside
``SELECT, INSERT, UPDATE``: a catch-up deletes a person's derived rows and writes them again
from the current facts. Derived rows only: a rebuild restores them from the log."""
ERASED_ON_DELETE_TABLES = ("traject_external_refs",)
"""Side tables whose rows of a person an erasure deletes: staff may ``DELETE`` from them."""
SETTINGS_TABLE = "traject_settings"
STAFF_COLUMNS = {
    "traject_data_keys": ("wrapped", "shredded_at"),
    "traject_person_index": ("bsn_digest",),
    SETTINGS_TABLE: ("value",),
}
"""The side tables' columns staff change: an erasure's tombstone (``SHRED_STATEMENT``, an
upsert), a BSN moved by a correction or forgotten by an erasure or a purge, and the setting an
erasure marks as awaiting a purge (``SETTING_STATEMENT``, an upsert)."""
STAFF_SETTINGS = (PURGE_PENDING,)
"""The settings whose value staff may change (row-level security on ``traject_settings``)."""
SETTINGS_POLICIES = {
    "traject_read": "FOR SELECT USING (true)",
    "traject_insert": "FOR INSERT WITH CHECK (true)",
    "traject_erasure_mark": (
        "FOR UPDATE USING (true) WITH CHECK (name IN ("
        + ", ".join(f"'{name}'" for name in STAFF_SETTINGS)
        + "))"
    ),
}
"""Row-level security of ``traject_settings`` for everyone but the owner: read and add any
setting (privileges still decide who may at all), change only :data:`STAFF_SETTINGS`. The
check is on the new row (``WITH CHECK``), and ``name`` may not be updated, so an ``UPDATE`` of
any other setting fails with an error rather than changing nothing."""
INSUFFICIENT_PRIVILEGE = "42501"  # the SQLSTATE of "permission denied" and "must be owner"
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
LAST_ID_FUNCTION = "traject_last_notification_id"
"""``SECURITY DEFINER`` function giving the last notification id (a number, nothing personal):
how a read-only reader who may not read the events table learns how far behind a read model
is (``projections.base.read_as_stored``)."""


class RolesError(TrajectError):
    """Roles cannot be set up here (SQLite, or not the tables' owner)."""


@dataclass(frozen=True)
class TableGrants:
    """What one role may do with one table, as the server reports it after the grants."""

    role: str
    table: str
    privileges: tuple[str, ...]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _owner(cursor: Any, schema: str, events_table: str) -> str:
    """The tables' owner; RolesError unless the connected user acts as it for every table.

    PostgreSQL only warns when someone else grants on a table they do not own: checked here.
    """
    cursor.execute(
        "SELECT tablename, tableowner, pg_has_role(current_user, tableowner, 'USAGE')"
        " FROM pg_tables WHERE schemaname = %s ORDER BY tablename",
        [schema],
    )
    rows = cursor.fetchall()
    owners = {str(name): str(owner) for name, owner, _ in rows}
    foreign = [str(name) for name, _, mine in rows if not mine]
    if events_table not in owners or foreign:
        cursor.execute("SELECT current_user")
        (user,) = cursor.fetchone()
        msg = (
            f"`traject admin roles` must run as the owner of the ledger's tables (the user who "
            f"ran `traject init`); {user} does not own "
            + (", ".join(foreign[:5]) if foreign else events_table)
        )
        raise RolesError(msg)
    return owners[events_table]


def _statements(
    schema: str, owner: str, tables: Iterable[str], readable: set[str], events_table: str
) -> list[str]:
    s = _quote(schema)
    last_id = f"{s}.{LAST_ID_FUNCTION}()"
    default = f"ALTER DEFAULT PRIVILEGES FOR ROLE {_quote(owner)} IN SCHEMA {s}"
    everyone = ", ".join(ROLES)
    statements = [
        f"REVOKE CREATE ON SCHEMA {s} FROM PUBLIC",
        f"REVOKE CREATE ON SCHEMA {s} FROM {everyone}",
        f"GRANT USAGE ON SCHEMA {s} TO {everyone}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM PUBLIC",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {everyone}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {AUDITOR}",
        f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {s} TO {STAFF}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {STAFF}",
        # tables made later (a read model's rebuild) get the same grants
        f"{default} GRANT SELECT ON TABLES TO {AUDITOR}, {ANALYST}",
        f"{default} GRANT SELECT, INSERT ON TABLES TO {STAFF}",
        f"{default} REVOKE UPDATE, DELETE ON TABLES FROM {STAFF}",  # granted by earlier releases
        f"{default} GRANT USAGE, SELECT ON SEQUENCES TO {STAFF}",
        f"CREATE OR REPLACE FUNCTION {last_id} RETURNS bigint LANGUAGE sql STABLE"
        " SECURITY DEFINER SET search_path = pg_catalog"
        f" AS $$ SELECT max(notification_id) FROM {s}.{_quote(events_table)} $$",
        f"REVOKE ALL ON FUNCTION {last_id} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {last_id} TO {everyone}",
    ]
    for table in tables:
        name = f"{s}.{_quote(table)}"
        if table == events_table:  # for LOCK TABLE only: the append-only trigger refuses
            statements.append(f"GRANT UPDATE ON {name} TO {STAFF}")
        if table in STAFF_COLUMNS:
            columns = ", ".join(STAFF_COLUMNS[table])
            statements.append(f"GRANT UPDATE ({columns}) ON {name} TO {STAFF}")
        if table == SETTINGS_TABLE:
            statements += _row_security(name)
        if table in ERASED_ON_DELETE_TABLES:
            statements.append(f"GRANT DELETE ON {name} TO {STAFF}")
        if table in readable:
            statements.append(f"{READ_MODEL_GRANT} ON {name} TO {STAFF}")
            statements.append(f"GRANT SELECT ON {name} TO {ANALYST}")
    return statements


def _row_security(name: str) -> list[str]:
    """Row-level security of the settings table, re-created: the policies of
    :data:`SETTINGS_POLICIES`, applying to every user but the owner."""
    statements = [f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY"]
    for policy, definition in SETTINGS_POLICIES.items():
        statements += [
            f"DROP POLICY IF EXISTS {policy} ON {name}",
            f"CREATE POLICY {policy} ON {name} {definition}",
        ]
    return statements


def _create_roles(cursor: Any) -> None:
    for role in ROLES:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE ROLE {role} NOLOGIN")


def grant_roles(
    app: TrajectoryLedger, read_model_tables: Iterable[str], derived_tables: Iterable[str] = ()
) -> list[TableGrants]:
    """Create (or update) the three roles and their grants on this ledger's schema.

    ``read_model_tables`` are the tables of the read models (the analyst may read those and
    ``traject_projection_state``); ``derived_tables`` those of them whose rows a catch-up
    rewrites per person (staff may delete their rows, see :data:`DERIVED_GRANT`). Runs in one
    transaction as the connected user, who must own the tables. Returns what each role may do
    with each table afterwards, as the server says.
    """
    recorder: Any = app.recorder
    if isinstance(recorder, TrajectSQLiteRecorder) or not hasattr(recorder, "events_table"):
        msg = (
            "database roles need PostgreSQL: an SQLite ledger is one file, protect it with "
            "file permissions (docs/operations.md, Roles)"
        )
        raise RolesError(msg)
    schema = recorder.datastore.schema or "public"
    readable = {*read_model_tables, *PROJECTION_STATE_TABLES}
    # a ledger of an earlier release gets its stream links here, where the owner connects:
    # staff may not make the table, and their household checks scan the events until then
    app.tables.ensure_stream_links()
    try:
        with (
            recorder.datastore.get_connection() as connection,
            connection.transaction(),
            connection.cursor(row_factory=tuple_row) as cursor,
        ):
            owner = _owner(cursor, schema, recorder.events_table_name)
            _create_roles(cursor)
            cursor.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename",
                [schema],
            )
            tables = [str(row[0]) for row in cursor.fetchall()]
            statements = _statements(schema, owner, tables, readable, recorder.events_table_name)
            derived = set(derived_tables)
            statements += [
                f"{DERIVED_GRANT} ON {_quote(schema)}.{_quote(table)} TO {STAFF}"
                for table in tables
                if table in derived
            ]
            for statement in statements:
                cursor.execute(statement)
            return _grants(cursor, schema, tables)
    except Exception as error:
        if getattr(error, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
            raise
        msg = (
            "`traject admin roles` must run as the owner of the ledger's tables (the user who "
            f"ran `traject init`) with the right to create roles: {error}"
        )
        raise RolesError(msg) from None


def _grants(cursor: Any, schema: str, tables: list[str]) -> list[TableGrants]:
    """Each role's privileges per table; a column-level ``UPDATE`` as ``UPDATE (col, …)``, and
    with the rows row-level security lets it change (``… WHERE <check>``)."""
    found: list[TableGrants] = []
    for role in ROLES:
        for table in tables:
            name = f"{_quote(schema)}.{_quote(table)}"
            allowed = []
            for privilege in PRIVILEGES:
                cursor.execute("SELECT has_table_privilege(%s, %s, %s)", [role, name, privilege])
                if cursor.fetchone()[0]:
                    allowed.append(privilege)
                elif privilege == "UPDATE":
                    allowed += _column_update(cursor, role, name)
            found.append(TableGrants(role, table, tuple(allowed)))
    return found


def _column_update(cursor: Any, role: str, name: str) -> list[str]:
    """``UPDATE (col, …)`` if ``role`` may update only some columns of table ``name``, with
    the check row-level security puts on the new row (``… WHERE <check>``); else nothing."""
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
        " AND NOT attisdropped AND has_column_privilege(%s, attrelid, attnum, 'UPDATE')"
        " ORDER BY attnum",
        [name, role],
    )
    columns = [str(row[0]) for row in cursor.fetchall()]
    if not columns:
        return []
    cursor.execute(
        "SELECT p.with_check FROM pg_policies p JOIN pg_class c ON c.oid = %s::regclass"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE p.schemaname = n.nspname AND p.tablename = c.relname AND p.cmd = 'UPDATE'"
        " AND c.relrowsecurity",
        [name],
    )
    checks = [str(row[0]) for row in cursor.fetchall() if row[0] is not None]
    where = f" WHERE {' OR '.join(checks)}" if checks else ""
    return [f"UPDATE ({', '.join(columns)}){where}"]
