"""``traject admin``: roles for a PostgreSQL ledger, purging destroyed data keys, and rotating
the master key."""

from __future__ import annotations

from pathlib import Path

import click

from commands import render
from commands.context import NEW_MASTER_KEY_ENV, TrajectContext, pass_traject
from ledger.roles import ROLES, grant_roles
from projections import PROJECTIONS


@click.group("admin")
def group() -> None:
    """Administration of a ledger (run as the owner of its tables)."""


@group.command("purge-erased")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@pass_traject
def purge_erased(traject: TrajectContext, as_json: bool) -> None:
    """Remove the old bytes of destroyed data keys from the database's files.

    Also the erased persons' BSN hashes and external keys. `traject person shred` does this
    itself when it can. SQLite: the write-ahead log is checkpointed and emptied (it waits for
    other readers of the ledger). PostgreSQL: the tables traject_data_keys,
    traject_person_index and traject_external_refs are rewritten into new files and the
    planner statistics of their key, BSN-hash and external-key columns are dropped, which
    only their owner may do; the tables are locked meanwhile. Run it as the owner after an
    erasure by another user (staff): `traject person shred` then warns that the purge is
    pending. Backups made before the erasure still hold the key.

    \b
    Example:
      traject --db postgresql://owner@db/traject admin purge-erased
    """
    purge = traject.app.purge_erased()
    traject.emit(render.purged(purge), render.purge_json(purge), as_json=as_json or None)


@group.command("rotate-master-key")
@click.option(
    "--new-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="where to write the new master key; must not exist [default: the key file's name "
    "with .new added, e.g. traject.db.key.new]",
)
@click.option("--new-master-key", envvar=NEW_MASTER_KEY_ENV, hidden=True)
@click.option("--quiet", "-q", is_flag=True, help="no progress bar on stderr")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@pass_traject
def rotate_master_key(
    traject: TrajectContext,
    new_key_file: Path | None,
    new_master_key: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Move the ledger to a new master key, so that the old one opens nothing in it.

    For a master key that may have leaked. The current key is read as usual
    (TRAJECT_MASTER_KEY, or the key file). A new key is generated and written to a new key
    file (mode 0600, never over an existing file) before the database changes; with
    TRAJECT_NEW_MASTER_KEY set, that key is used and no file is written.

    In one transaction every data key is re-wrapped under the new key, the BSN index is
    recomputed under it (erased persons stay erased and unfindable by BSN) and the
    key check is replaced; writers wait meanwhile. Interrupted, the ledger stays on the old
    key. The events are not touched: audit proofs still verify. The old key bytes are then
    purged from the database's files, as after an erasure. Run it as the owner of the tables.

    Afterwards, put the new key wherever the old one was kept and destroy every copy of the
    old key; backups made before the rotation still open with the old key only.

    \b
    Example:
      traject --db postgresql://owner@db/traject admin rotate-master-key \\
          --new-key-file /run/secrets/traject.key.new
    """
    with traject.progress("re-keying", quiet=quiet) as progress:
        rotated = traject.rotate_master_key(new_key_file, new_master_key, progress)
    traject.emit(
        render.key_rotated(rotated), render.key_rotated_json(rotated), as_json=as_json or None
    )
    traject.warn(render.purge_warnings(rotated.rotation.purge))


@group.command("roles")
@click.option("--json", "as_json", is_flag=True, help="print the grants as JSON")
@pass_traject
def roles_command(traject: TrajectContext, as_json: bool) -> None:
    """Create or update the roles traject_staff, traject_analyst and traject_auditor.

    traject_staff may append and read; traject_analyst reads the read models' tables only
    (never the events, keys or personal fields); traject_auditor reads everything and writes
    nothing; nobody but the owner can alter or drop a table. The roles cannot log in: grant
    them to login users (docs/operations.md, Roles). Run it again after upgrading traject.
    PostgreSQL only.

    \b
    Example:
      traject --db postgresql://owner@db/traject admin roles
      psql -c "CREATE ROLE alice LOGIN IN ROLE traject_staff"
    """
    models = PROJECTIONS.values()
    tables = [table.name for projection in models for table in projection.tables]
    derived = [table.name for projection in models for table in projection.derived_tables]
    grants = grant_roles(traject.app, tables, derived)
    data = {
        role: {g.table: list(g.privileges) for g in grants if g.role == role and g.privileges}
        for role in ROLES
    }
    if as_json or traject.json:
        traject.emit("", data, as_json=True)
        return
    from rich import box  # noqa: PLC0415 - rich only when shown
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="Grants per role", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("table")
    for role in ROLES:
        table.add_column(role)
    names = sorted({g.table for g in grants})
    cells = {(g.role, g.table): ", ".join(g.privileges) or "-" for g in grants}
    for name in names:
        table.add_row(name, *(cells.get((role, name), "-") for role in ROLES))
    table.caption = (
        f"{len(names)} tables; UPDATE on the events table only lets staff lock it to append in "
        "order: the append-only trigger refuses every change"
    )
    traject.console.print(table)
