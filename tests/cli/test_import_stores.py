"""`traject import` refuses the same input on SQLite and PostgreSQL: text PostgreSQL cannot
store is a rejected line with its field, not a failed batch."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import Traject, days_ago, initialised_ledger, last_line

DAY = days_ago(3)
REGISTRATION = (
    '{{"kind": "person-registered", "person": "{key}", "occurred_on": "{day}", '
    '"birth_date": "1990-04-02", "sex": "f", "nationality": ["SY"]{more}}}'
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Traject:
    return initialised_ledger(request, tmp_path, "traject_import_stores")


def test_a_nul_character_in_a_text_rejects_its_line_on_every_store(
    store: Traject, tmp_path: Path
) -> None:
    """A NUL (\\u0000) is valid JSON, but no text of the ledger holds one (PostgreSQL's text
    cannot): the line is rejected naming the field, and the others of its batch are written."""
    lines = [
        REGISTRATION.format(key="N\\u0000UL", day=DAY, more=""),
        REGISTRATION.format(key="N-2", day=DAY, more=', "idempotency_key": "crm:\\u0000"'),
        REGISTRATION.format(key="N-3", day=DAY, more=', "name": "Amal\\u0000"'),
        REGISTRATION.format(key="N-4", day=DAY, more=', "name": "Amal \\\\u0000"'),  # a backslash
    ]
    source = tmp_path / "people.jsonl"
    source.write_text("\n".join(lines) + "\n")
    cells = tmp_path / "people.csv"
    cells.write_text(
        f"person,occurred_on,birth_date,sex,nationality\nC-\x001,{DAY},1990-04-02,f,SY\n"
    )

    result = store("import", str(source))
    in_csv = store("import", "--kind", "person-registered", str(cells))

    assert result.exit_code == 1, result.output
    message = "holds a NUL character (\\u0000), which no text may hold"
    assert [line for line in result.stderr.splitlines() if line] == [
        f"{source}:1: person: {message}",
        f"{source}:2: idempotency_key: {message}",
        f"{source}:3: name: {message}",
    ]
    assert last_line(result.stdout).startswith("1 written, 0 skipped (already present), 3 rejected")
    assert in_csv.exit_code == 1, in_csv.output
    assert f"{cells}:2: person: {message}" in in_csv.stderr


def test_an_external_key_longer_than_an_idempotency_key_rejects_its_line_on_every_store(
    store: Traject, tmp_path: Path
) -> None:
    """PostgreSQL cannot index a key of thousands of characters (the batch failed, as "cannot
    reach database"); SQLite stored it. Both now reject the line, as a long idempotency key."""
    long_key = "C-" + "7" * 298
    lines = [
        REGISTRATION.format(key=long_key + "8", day=DAY, more=""),
        REGISTRATION.format(key="C-" + "9" * 9000, day=DAY, more=""),
        REGISTRATION.format(key=long_key, day=DAY, more=""),
    ]
    source = tmp_path / "people.jsonl"
    source.write_text("\n".join(lines) + "\n")

    result = store("import", str(source))

    assert result.exit_code == 1, result.output
    message = "the person's external key: at most 300 characters"
    assert [line for line in result.stderr.splitlines() if line] == [
        f"{source}:1: person: {message}",
        f"{source}:2: person: {message}",
    ]
    assert last_line(result.stdout).startswith("1 written, 0 skipped (already present), 2 rejected")
    assert store.json("export", "--include-personal", "--quiet")["person"] == long_key
