"""How a rebuild writes and reads back its rows: the digest lines the database writes itself, the
derived tables refreshed in chunks bounded by fact rows, and PostgreSQL's binary ``COPY``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import orjson
import psycopg
import pytest
from projection_events import random_log
from test_rebuild_staging import views_of

from projections import CASELOAD, Views, rebuild, rebuild_many
from projections.base import INT, TEXT, Column, Table, Tx, _writes_json_as_orjson, compute_digest
from projections.ladder import LadderProjection


def digest_as_defined(tx: Tx, tables: Iterable[Table], name: str, rule_version: str) -> str:
    """The digest as docs/projections.md defines it, every line serialised by orjson."""
    lines = [{"projection": name, "rule_version": rule_version}]
    digest = hashlib.sha256()
    digest.update(orjson.dumps(lines[0], option=orjson.OPT_SORT_KEYS) + b"\n")
    for table in tables:
        head = {"columns": list(table.column_names), "table": table.name}
        digest.update(orjson.dumps(head, option=orjson.OPT_SORT_KEYS) + b"\n")
        order = ", ".join(table.key)
        for row in tx.all(
            f"SELECT {', '.join(table.column_names)} FROM {tx.table(table.name)} ORDER BY {order}"
        ):
            digest.update(orjson.dumps(list(row)) + b"\n")
    return digest.hexdigest()


def test_the_digest_the_database_writes_is_the_defined_one_for_any_text_and_for_fractions(
    make_ledger: Any, store_url: str
) -> None:
    views = views_of(make_ledger, store_url, random_log(11, 6, 120))
    rebuild(views, CASELOAD)
    facts = CASELOAD.facts_table
    odd = "".join(map(chr, range(1, 0x800))) + '\u2028\u2029\ufeff\U0001f600 "q" \\ /'
    defined = (CASELOAD.tables, CASELOAD.name, CASELOAD.rule_version)
    with views.transaction(commit=False) as tx:  # rolled back at the end
        stream, version = tx.all(f"SELECT stream_id, version FROM {tx.table(facts.name)}")[0]
        where = f" WHERE stream_id = '{stream}' AND version = {int(version)}"
        tx.execute(f"UPDATE {tx.table(facts.name)} SET value = ?{where}", [odd])
        expected = digest_as_defined(tx, *defined)
        assert compute_digest(tx, CASELOAD) == expected
        assert _writes_json_as_orjson(tx)  # so that the lines above were the database's
        if tx.dialect.is_postgres:
            return  # an integer column of PostgreSQL holds no fraction
        # a fraction in an integer column: SQLite writes 1.0e+20 where orjson writes 1e+20
        tx.execute(f"UPDATE {tx.table(facts.name)} SET superseded_by = 1e20{where}")
        with_fraction = digest_as_defined(tx, *defined)
        assert with_fraction != expected
        assert compute_digest(tx, CASELOAD) == with_fraction


class ChunkedLadder(LadderProjection):
    """The ladder read model, noting the streams of each refresh."""

    name = "ladder_chunked"

    def __init__(self) -> None:
        self.chunks: list[set[str]] = []

    def refresh(self, tx: Tx, stream_ids: set[str]) -> None:
        self.chunks.append(set(stream_ids))
        super().refresh(tx, stream_ids)


def test_a_rebuild_refreshes_streams_in_chunks_of_at_most_a_page_of_fact_rows(
    make_ledger: Any, store_url: str
) -> None:
    views = views_of(make_ledger, store_url, random_log(5, 30, 900))
    chunked = ChunkedLadder()
    page = 40
    rebuild_many(views, [chunked], page_size=page)
    spans = chunked.derived_tables[0]

    def derived() -> list[tuple[Any, ...]]:
        with views.transaction(commit=False) as tx:
            return tx.all(f"SELECT * FROM {tx.table(spans.name)} ORDER BY person_id, valid_from")

    with views.transaction(commit=False) as tx:
        counts = dict(
            tx.all(
                f"SELECT stream_id, count(*) FROM {tx.table(chunked.facts_table.name)}"
                " GROUP BY stream_id"
            )
        )
    assert max(counts.values()) > page // 4  # so that a few streams fill a chunk
    assert len(chunked.chunks) > 1
    refreshed = [stream for chunk in chunked.chunks for stream in chunk]
    assert sorted(refreshed) == sorted(counts)  # each stream once
    for chunk in chunked.chunks:
        assert sum(counts[stream] for stream in chunk) <= page or len(chunk) == 1
    # the same rows as when every stream is refreshed in one chunk
    in_chunks = derived()
    chunked.chunks = []
    with views.transaction(commit=True) as tx:
        chunked.refresh_all(tx, rows=10**6)
    assert len(chunked.chunks) == 1
    assert derived() == in_chunks
    assert in_chunks


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
