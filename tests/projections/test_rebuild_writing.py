"""How a rebuild writes its rows: PostgreSQL's binary ``COPY``."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from projections import Views
from projections.base import INT, TEXT, Column, Table, Tx


def copied(tx: Tx, table: Table, rows: list[list[Any]]) -> list[tuple[Any, ...]]:
    tx.execute(f"DROP TABLE IF EXISTS {tx.table(table.name)}")
    tx.execute(f"CREATE TABLE {tx.table(table.name)} (t TEXT, n BIGINT)")
    tx.insert(table, rows)
    return tx.all(f"SELECT t, n FROM {tx.table(table.name)} ORDER BY n, t")


@pytest.mark.postgres
def test_postgresql_copies_values_of_another_type_as_before(
    make_ledger: Any, projection_pg: Any
) -> None:
    views = Views(make_ledger(projection_pg()))
    table = Table("copy_probe", (Column("t", TEXT), Column("n", INT)), ("t",))
    with views.transaction(commit=True) as tx:
        # binary: text and integers as they are
        assert copied(tx, table, [["a", 1], ["é\u2028", None]]) == [("a", 1), ("é\u2028", None)]
        # a number in a text column and a number as text: sent again as text, taken as before
        assert copied(tx, table, [[3, "4"], ["b", 2]]) == [("b", 2), ("3", 4)]
    with views.transaction(commit=True) as tx, pytest.raises(psycopg.DataError):
        copied(tx, table, [["x", "not a number"]])  # refused by the server, as before
    with views.transaction(commit=True) as tx:
        tx.execute(f"DROP TABLE {tx.table(table.name)}")
