"""PostgreSQL roles for a ledger: who may append, who may read which tables, and nobody alters.

Three group roles (``NOLOGIN``; grant them to login users, see docs/operations.md, which has
the whole table of role × table × privilege):

* ``traject_staff`` appends and reads: ``SELECT`` on every table, ``INSERT`` on every table but
  :data:`NO_STAFF_INSERT` (the settings, the read models' state and rebuild claims), and
  ``UPDATE`` and ``DELETE`` only where a traject command of theirs changes rows
  (:data:`STAFF_COLUMNS`):

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
    an erasure writes with its tombstone, and no ``INSERT``: the owner makes that row
    (``traject init``, ``traject admin roles``) as it makes every other setting, and row-level
    security (:data:`SETTINGS_POLICIES`) makes the server refuse any other row's new value to
    everyone but the owner (who is not subject to it: no ``FORCE``), so the master key's
    check value, the default municipality, the ledger id and the checkpoints' origin stay as
    the owner wrote them; ``traject admin roles`` fixes the origin (:func:`fix_origin`) that
    staff's first checkpoint would otherwise store;
  - a read model's fact table: ``UPDATE (known_to, superseded_by)``, a catch-up closes fact
    revisions; its derived tables (spans, latest status): ``DELETE``, a catch-up deletes and
    writes a person's rows again (:func:`read_model_grants`); ``traject_projection_state``:
    ``UPDATE (position, digest, events_seen)``, a catch-up moves the position
    (:data:`STATE_COLUMNS`). A rebuild grants these on the tables it puts in place.

  No ``UPDATE`` at all of ``traject_idempotency``, ``traject_external_refs``,
  ``traject_stream_links`` (an append inserts its links, ``ON CONFLICT DO NOTHING``), the
  integrity log's tables (leaves, checkpoints), ``traject_projection_rebuilds`` (the owner
  rebuilds) or any other table, side tables a later release adds included. ``USAGE`` of the
  sequences (the notification ids), not ``SELECT``.
* ``traject_analyst`` reads the read models' tables (and their state) only: never the events
  table (it holds the encrypted personal fields), the key table, the person index or any other
  side table. It alone may call ``traject_last_notification_id()`` (``SECURITY DEFINER``): the
  last notification id, so that it learns how far behind a read model it cannot catch up is
  (staff and the auditor read the events table itself).
* ``traject_auditor`` reads every table and writes none: it can run ``traject audit verify``.

No role gets ``CREATE`` on the schema, ``TRUNCATE``, ``REFERENCES`` or ``TRIGGER``. Only the
owner (who runs ``traject admin roles``) can alter or drop a table. Default privileges
(``ALTER DEFAULT PRIVILEGES``) give every table the owner creates later ``SELECT`` to the
auditor and ``SELECT, INSERT`` to staff, never ``UPDATE``, so a side table a later release adds
is append-only to staff from the start; the analyst gets nothing from them: a rebuild grants
it the read model's new tables. Re-run ``traject admin roles`` after an upgrade of traject: it
revokes every grant on the schema and applies these again, so what an earlier release granted
(staff's ``UPDATE`` of every side table, their ``INSERT`` of settings, the analyst's access to
a table that is not a read model's) goes, and the result is that of a fresh ledger; and it
makes the side tables and settings a release added (``traject_stream_links``, the erasure's
mark).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.audit import fix_origin, tuple_row
from ledger.errors import TrajectError
from ledger.persistence import PURGE_PENDING, TrajectSQLiteRecorder

if TYPE_CHECKING:
    from ledger.application import TrajectoryLedger

STAFF = "traject_staff"
ANALYST = "traject_analyst"
AUDITOR = "traject_auditor"
ROLES = (STAFF, ANALYST, AUDITOR)
INTEGRITY_TABLES = ("traject_leaves", "traject_checkpoints")
STATE_TABLE = "traject_projection_state"
REBUILDS_TABLE = "traject_projection_rebuilds"
FACT_COLUMNS = ("known_to", "superseded_by")
"""The columns of a read model's fact table a catch-up changes: it closes a fact revision
(``known_to``, ``superseded_by``) when a correction or retraction supersedes it."""
STATE_COLUMNS = ("position", "digest", "events_seen")
"""The columns of ``traject_projection_state`` a catch-up changes: it moves the read model's
position (and its digest, and the count of events seen). ``UPDATE`` of them also lets staff
lock the row (``SELECT … FOR UPDATE``), as a catch-up does; the rule version, layout and
rebuild time only the owner's rebuild writes."""
ERASED_ON_DELETE_TABLES = ("traject_external_refs",)
"""Side tables whose rows of a person an erasure deletes: staff may ``DELETE`` from them."""
SETTINGS_TABLE = "traject_settings"
NO_STAFF_INSERT = (SETTINGS_TABLE, STATE_TABLE, REBUILDS_TABLE)
"""The tables staff may not add rows to: the settings (the owner makes every row, the erasure's
mark included: :data:`OWNER_MADE_SETTINGS`), and the read models' state and rebuild claims
(only the owner builds or rebuilds a read model)."""
STAFF_COLUMNS = {
    "traject_data_keys": ("wrapped", "shredded_at"),
    "traject_person_index": ("bsn_digest",),
    SETTINGS_TABLE: ("value",),
}
"""The side tables' columns staff change: an erasure's tombstone (``SHRED_STATEMENT``, an
upsert), a BSN moved by a correction or forgotten by an erasure or a purge, and the setting an
erasure marks as awaiting a purge (``MARK_PURGE_STATEMENT``, an ``UPDATE`` of the row the owner
made)."""
STAFF_SETTINGS = (PURGE_PENDING,)
"""The settings whose value staff may change (row-level security on ``traject_settings``)."""
SETTINGS_POLICIES = {
    "traject_read": "FOR SELECT USING (true)",
    "traject_erasure_mark": (
        "FOR UPDATE USING (true) WITH CHECK (name IN ("
        + ", ".join(f"'{name}'" for name in STAFF_SETTINGS)
        + "))"
    ),
}
"""Row-level security of ``traject_settings`` for everyone but the owner: read any setting
(privileges still decide who may at all), change only :data:`STAFF_SETTINGS`. The check is on
the new row (``WITH CHECK``), and ``name`` may not be updated, so an ``UPDATE`` of any other
setting fails with an error rather than changing nothing. No policy lets anyone but the owner
add a row (nor does any grant)."""
RETIRED_POLICIES = ("traject_insert",)
"""Policies of ``traject_settings`` earlier releases made, dropped by ``traject admin roles``."""
INSUFFICIENT_PRIVILEGE = "42501"  # the SQLSTATE of "permission denied" and "must be owner"
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
LAST_ID_FUNCTION = "traject_last_notification_id"
"""``SECURITY DEFINER`` function giving the last notification id (a number, nothing personal):
how the analyst, who may not read the events table, learns how far behind a read model is
(``projections.base.read_as_stored``). Staff and auditors read the events table itself."""


def read_model_grants(table: str, *, derived: bool) -> list[str]:
    """What staff and the analyst get on a read model's table ``table`` (a qualified name)
    beside staff's ``SELECT, INSERT``: a fact table's revisions are closed (``UPDATE`` of
    :data:`FACT_COLUMNS`), a derived table's rows (spans, latest status) are deleted and
    written again per person; the analyst reads both. Granted by ``traject admin roles`` and
    by each rebuild on the tables it puts in place (default privileges give neither)."""
    change = (
        f"GRANT DELETE ON {table} TO {STAFF}"
        if derived
        else f"GRANT UPDATE ({', '.join(FACT_COLUMNS)}) ON {table} TO {STAFF}"
    )
    return [change, f"GRANT SELECT ON {table} TO {ANALYST}"]


def state_grants(state: str, rebuilds: str) -> list[str]:
    """What the roles get on the read models' state table and rebuild claims (qualified
    names), which the owner may have made after the roles (default privileges give staff
    ``INSERT``): staff move a position (:data:`STATE_COLUMNS`) and add no row; the analyst
    reads the state."""
    return [
        f"REVOKE INSERT ON {state}, {rebuilds} FROM {STAFF}",
        f"GRANT UPDATE ({', '.join(STATE_COLUMNS)}) ON {state} TO {STAFF}",
        f"GRANT SELECT ON {state} TO {ANALYST}",
    ]


ROLE_MAY = {
    STAFF: "record, correct, import and erase, read persons, report and sign checkpoints",
    ANALYST: "only read the read models: reports and `traject projections status`",
    AUDITOR: "read every table and write none: timelines, exports, reports and `traject audit …`",
}
"""What each role may do, in the words a refused user is told."""


def held_roles(cursor: Any) -> str:
    """Which of the three roles the user of ``cursor`` (PostgreSQL, tuple rows) has, and what
    they may do, in a sentence."""
    cursor.execute(
        "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)"
        " AND pg_has_role(current_user, oid, 'MEMBER') ORDER BY rolname",
        [list(ROLES)],
    )
    held = [str(role) for (role,) in cursor.fetchall()]
    cursor.execute("SELECT current_user")
    (user,) = cursor.fetchone()
    if not held:
        return f"{user} has none of the roles {', '.join(ROLES)}"
    return "; ".join(f"{user} has the role {role}, which may {ROLE_MAY[role]}" for role in held)


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
    schema: str,
    owner: str,
    tables: Iterable[str],
    read_models: tuple[set[str], set[str]],
    events_table: str,
) -> list[str]:
    """Every grant, after revoking every earlier one; ``read_models`` are the read models'
    fact tables and derived tables."""
    s = _quote(schema)
    last_id = f"{s}.{LAST_ID_FUNCTION}()"
    default = f"ALTER DEFAULT PRIVILEGES FOR ROLE {_quote(owner)} IN SCHEMA {s}"
    everyone = ", ".join(ROLES)
    facts, derived = read_models
    statements = [
        f"REVOKE CREATE ON SCHEMA {s} FROM PUBLIC",
        f"REVOKE CREATE ON SCHEMA {s} FROM {everyone}",
        f"GRANT USAGE ON SCHEMA {s} TO {everyone}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM PUBLIC",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {everyone}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {everyone}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {AUDITOR}",
        f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {s} TO {STAFF}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {STAFF}",
        # tables made later (a read model's rebuild, a side table of a later release): the
        # auditor reads them, staff append; the analyst gets a read model's tables from the
        # rebuild that makes them, and nothing else
        f"{default} GRANT SELECT ON TABLES TO {AUDITOR}",
        f"{default} GRANT SELECT, INSERT ON TABLES TO {STAFF}",
        f"{default} REVOKE ALL ON TABLES FROM {ANALYST}",  # granted by earlier releases
        f"{default} REVOKE UPDATE, DELETE ON TABLES FROM {STAFF}",  # granted by earlier releases
        f"{default} REVOKE ALL ON SEQUENCES FROM {STAFF}",
        f"{default} GRANT USAGE ON SEQUENCES TO {STAFF}",
        f"CREATE OR REPLACE FUNCTION {last_id} RETURNS bigint LANGUAGE sql STABLE"
        " SECURITY DEFINER SET search_path = pg_catalog"
        f" AS $$ SELECT max(notification_id) FROM {s}.{_quote(events_table)} $$",
        f"REVOKE ALL ON FUNCTION {last_id} FROM PUBLIC, {everyone}",
        f"GRANT EXECUTE ON FUNCTION {last_id} TO {ANALYST}",
    ]
    present = set(tables)
    for table in sorted(present):
        name = f"{s}.{_quote(table)}"
        if table == events_table:  # for LOCK TABLE only: the append-only trigger refuses
            statements.append(f"GRANT UPDATE ON {name} TO {STAFF}")
        if table in STAFF_COLUMNS:
            columns = ", ".join(STAFF_COLUMNS[table])
            statements.append(f"GRANT UPDATE ({columns}) ON {name} TO {STAFF}")
        if table == SETTINGS_TABLE:
            statements.append(f"REVOKE INSERT ON {name} FROM {STAFF}")
            statements += _row_security(name)
        if table in ERASED_ON_DELETE_TABLES:
            statements.append(f"GRANT DELETE ON {name} TO {STAFF}")
        if table in facts or table in derived:
            statements += read_model_grants(name, derived=table in derived)
    if {STATE_TABLE, REBUILDS_TABLE} <= present:
        statements += state_grants(f"{s}.{_quote(STATE_TABLE)}", f"{s}.{_quote(REBUILDS_TABLE)}")
    return statements


def _row_security(name: str) -> list[str]:
    """Row-level security of the settings table, re-created: the policies of
    :data:`SETTINGS_POLICIES`, applying to every user but the owner."""
    statements = [f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY"]
    statements += [f"DROP POLICY IF EXISTS {policy} ON {name}" for policy in RETIRED_POLICIES]
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
    rewrites per person (:func:`read_model_grants`). Runs in one transaction as the connected
    user, who must own the tables; then makes the settings staff change but may not add (the
    erasure's mark, the ledger's id and its checkpoints' origin). Returns what each role may
    do with each table afterwards, as the server says.
    """
    recorder: Any = app.recorder
    if isinstance(recorder, TrajectSQLiteRecorder) or not hasattr(recorder, "events_table"):
        msg = (
            "database roles need PostgreSQL: an SQLite ledger is one file, protect it with "
            "file permissions (docs/operations.md, Roles)"
        )
        raise RolesError(msg)
    schema = recorder.datastore.schema or "public"
    derived = set(derived_tables)
    read_models = (set(read_model_tables) - derived, derived)
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
            events = recorder.events_table_name
            for statement in _statements(schema, owner, tables, read_models, events):
                cursor.execute(statement)
            grants = _grants(cursor, schema, tables)
    except Exception as error:
        if getattr(error, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
            raise
        msg = (
            "`traject admin roles` must run as the owner of the ledger's tables (the user who "
            f"ran `traject init`) with the right to create roles: {error}"
        )
        raise RolesError(msg) from None
    app.owner_made_settings()
    fix_origin(app)  # claims the ledger's id first if it has none
    return grants


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
