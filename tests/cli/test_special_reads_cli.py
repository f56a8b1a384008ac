"""Special-category data (GDPR Art. 9) on the command line: shown for a purpose, read on record.

`traject timeline --purpose` and `traject export --include-personal --purpose` record a
SpecialCategoryRead before they show a person's health_barrier; `traject person reads` and
`traject audit reads` list them. On PostgreSQL, a database user who may not append (the auditor
role) sees the value masked, with a warning, and nothing is recorded.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from cli_helpers import Traject, as_user, days_ago, now
from pg_schemas import PostgresSchemas

from ledger.roles import AUDITOR, STAFF

PURPOSE = "bezwaar BZW-2026-014"
NOT_SHOWN = "health_barrier=(special category: not shown)"


def years_ago(years: int) -> str:
    return date(datetime.now(UTC).year - years, 1, 15).isoformat()


def with_flag(ledger: Traject) -> str:
    """A person whose version 2 is a brede intake that found health a barrier."""
    person = ledger.register()
    flag = ("--by", "r.jansen", "--health-barrier")
    ledger.ok("record", "broad-intake-completed", person, "--on", days_ago(10), *flag)
    return person


def reads(ledger: Traject, person: str) -> list[dict[str, Any]]:
    return list(ledger.json("person", "reads", person)["reads"])


def test_a_timeline_with_a_purpose_shows_the_flag_and_records_the_read(
    ledger: Traject, tmp_path: Path
) -> None:
    person = with_flag(ledger)
    ledger.ok("audit", "keygen", "--out", str(tmp_path / "a.key"))

    shown = ledger.ok("timeline", person, "--purpose", PURPOSE)

    assert "health_barrier=yes" in shown.stdout
    assert shown.stderr == (
        "Recorded the read of the special-category data (GDPR Art. 9) shown (health_barrier) "
        f"as version 3 of {person} (SpecialCategoryRead).\n"
    )
    (read,) = reads(ledger, person)
    assert {k: read[k] for k in ("version", "read_by", "recorded_by", "command", "purpose")} == {
        "version": 3,
        "read_by": "r.jansen",
        "recorded_by": "r.jansen",
        "command": "timeline",
        "purpose": PURPOSE,
    }
    assert read["fields"] == ["health_barrier"]
    # the read is an event of the stream: the next timeline shows it (and records its own read)
    events = ledger.json("timeline", person, "--purpose", PURPOSE)["events"]
    assert events[2]["kind"] == "SpecialCategoryRead"
    assert events[2]["recorded"]["fields"]["purpose"] == PURPOSE
    # and the integrity log covers it: checkpointed, verified, provable
    key = str(tmp_path / "a.key")
    ledger.ok("audit", "checkpoint", "-q", "--key", key)
    verified = ledger.ok("audit", "verify", "-q", "--public-key", str(tmp_path / "a.pub"))
    assert verified.stdout.startswith("verified 4 events against 1 checkpoint")
    proof = json.loads(ledger.ok("audit", "prove", person, "3").stdout)
    assert proof["event"]["topic"] == "ledger.events:SpecialCategoryRead"


def test_without_a_purpose_the_flag_is_masked_with_a_warning_and_nothing_recorded(
    ledger: Traject,
) -> None:
    person = with_flag(ledger)
    count = ledger.event_count()

    masked = ledger.ok("timeline", person)
    as_json = ledger.ok("timeline", person, "--format", "json")

    assert NOT_SHOWN in masked.stdout
    assert "by=r.jansen" in masked.stdout  # the rest as before
    assert masked.stderr == (
        "Warning: health_barrier not shown: special-category data (GDPR Art. 9) is shown only "
        "for a stated purpose: give --purpose TEXT, and the read is recorded on the person's "
        "stream first\n"
    )
    data = json.loads(as_json.stdout)
    assert data["special_category"] == {"fields": ["health_barrier"], "shown": False}
    intake = data["events"][1]
    assert intake["withheld"] == ["health_barrier"]
    assert intake["recorded"]["fields"]["health_barrier"] is None
    assert ledger.event_count() == count
    assert reads(ledger, person) == []


def test_a_person_without_a_flag_or_erased_records_no_read(ledger: Traject) -> None:
    person = ledger.register()
    ledger.ok("record", "broad-intake-completed", person, "--on", days_ago(10), "--by", "r.j")
    erased = with_flag(ledger)
    ledger.ok("record", "case-closed", erased, "--on", years_ago(12), "--reason", "moved")
    ledger.ok("person", "shred", erased, "--approved-by", "f.g.privacy", "--yes")
    count = ledger.event_count()

    for someone in (person, erased):
        result = ledger.ok("timeline", someone, "--purpose", PURPOSE)
        assert result.stderr == ""
        assert NOT_SHOWN not in result.stdout
    assert "(personal data erased)" in result.stdout
    assert ledger.event_count() == count


def test_an_audit_replay_of_a_timeline_records_the_read_as_a_replay(ledger: Traject) -> None:
    person = with_flag(ledger)

    replayed = ledger.json(
        "audit", "replay", "--as-known-at", now(), "timeline", person, "--purpose", PURPOSE
    )

    assert replayed["result"]["special_category"] == {"fields": ["health_barrier"], "shown": True}
    (read,) = reads(ledger, person)
    assert read["command"] == "audit replay timeline"


def test_a_read_cannot_be_recorded_corrected_or_retracted_by_hand(ledger: Traject) -> None:
    person = with_flag(ledger)
    ledger.ok("timeline", person, "--purpose", PURPOSE)

    unknown = ledger("record", "special-category-read", person)
    corrected = ledger("correct", person, "3", "--set", "purpose=else", "--reason", "typo")
    retracted = ledger("retract", person, "3", "--reason", "typo")

    assert unknown.exit_code == 2
    for result in (corrected, retracted):
        assert result.exit_code == 1
        assert "v3 (special-category-read) is a fact about the record" in result.stderr
        assert "Traceback" not in result.output


def test_bad_purposes_are_usage_errors_naming_the_option(ledger: Traject) -> None:
    person = with_flag(ledger)
    count = ledger.event_count()

    empty = ledger("timeline", person, "--purpose", "  ")
    long = ledger("timeline", person, "--purpose", "x" * 201)
    pseudonymised = ledger("export", "--purpose", PURPOSE)

    assert empty.exit_code == long.exit_code == pseudonymised.exit_code == 2
    assert "Invalid value for '--purpose': empty: give why the data is read" in empty.stderr
    assert "Invalid value for '--purpose': 201 characters: at most 200" in long.stderr
    assert "Invalid value for --purpose: only with --include-personal" in pseudonymised.stderr
    for result in (empty, long, pseudonymised):
        assert "Traceback" not in result.output
    assert ledger.event_count() == count


def test_the_reads_are_listed_per_person_and_for_the_auditor(ledger: Traject) -> None:
    first, second = with_flag(ledger), with_flag(ledger)
    ledger.ok("timeline", first, "--purpose", PURPOSE)
    ledger.ok("timeline", second, "--purpose", "spreekuur", TRAJECT_USER="s.bakker")

    table = ledger.ok("person", "reads", first[:8])
    everyone = ledger.json("audit", "reads")["reads"]
    by_user = ledger.json("audit", "reads", "--user", "s.bakker")["reads"]
    of_first = ledger.json("audit", "reads", "--person", first[:8])["reads"]
    later = ledger.json("audit", "reads", "--since", "2999-01-01")["reads"]

    assert PURPOSE in table.stdout
    assert "1 recorded read(s)" in table.stdout
    assert [(r["person_id"], r["read_by"]) for r in everyone] == [
        (first, "r.jansen"),
        (second, "s.bakker"),
    ]
    assert [r["person_id"] for r in by_user] == [second]
    assert [r["person_id"] for r in of_first] == [first]
    assert later == []
    # reading the reads needs no master key: they hold no personal data
    without_key = ledger("audit", "reads", "--json", TRAJECT_KEY_FILE=str(Path("/nonexistent")))
    assert without_key.exit_code == 0, without_key.output
    assert len(json.loads(without_key.stdout)["reads"]) == 2


def test_an_export_with_a_purpose_records_a_read_per_person(ledger: Traject) -> None:
    first, second = with_flag(ledger), with_flag(ledger)
    ledger.register()  # no flag: no read

    written = ledger.ok("export", "--include-personal", "--purpose", "migratie")
    lines = [json.loads(line) for line in written.stdout.splitlines()]

    intakes = [x for x in lines if x["kind"] == "broad-intake-completed"]
    assert [x["health_barrier"] for x in intakes] == [True, True]
    assert "Recorded the read of special-category data (GDPR Art. 9) of 2 persons" in (
        written.stderr
    )
    for person in (first, second):
        (read,) = reads(ledger, person)
        assert (read["command"], read["purpose"]) == ("export --include-personal", "migratie")


def test_an_export_without_a_purpose_leaves_the_flag_out_with_a_warning(ledger: Traject) -> None:
    person = with_flag(ledger)

    written = ledger.ok("export", "--include-personal", "--quiet")
    pseudonymised = ledger.ok("export")

    for result in (written, pseudonymised):
        (intake,) = [json.loads(x) for x in result.stdout.splitlines() if "broad-intake" in x]
        assert "health_barrier" not in intake
        assert intake["_withheld"] == ["health_barrier"]
    assert written.stderr == (
        "Warning: special-category values of 1 person left out (named under _withheld): "
        "special-category data (GDPR Art. 9) is shown only for a stated purpose: give "
        "--purpose TEXT, and the read is recorded on the person's stream first\n"
    )
    assert "a pseudonymised export never holds special-category data" in pseudonymised.stderr
    assert reads(ledger, person) == []


def test_a_csv_export_names_the_values_it_left_out_as_json_lines_do(
    ledger: Traject, tmp_path: Path
) -> None:
    """A withheld value reads as no value in a CSV cell: the `_withheld` column tells them
    apart. A correction whose only change was withheld cannot be imported, and says why."""
    person = with_flag(ledger)
    ledger.ok("correct", person, "2", "--set", "health_barrier=false", "--reason", "second look")
    export = ("export", "--format", "csv", "--include-personal", "--quiet", "--kind")

    (intake,) = csv.DictReader(io.StringIO(ledger.ok(*export, "broad-intake-completed").stdout))
    fixes = ledger.ok(*export, "event-corrected").stdout
    (fix,) = csv.DictReader(io.StringIO(fixes))

    assert (intake["health_barrier"], intake["_withheld"]) == ("", "health_barrier")
    assert (fix["changes"], fix["_withheld"]) == ("{}", "health_barrier")
    source = tmp_path / "fixes.csv"
    source.write_text(fixes)
    result = ledger("import", "--kind", "event-corrected", str(source))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"{source}:2: changes: none left: the values it changed were withheld from the export "
        "(_withheld: health_barrier); export with --include-personal --purpose TEXT to move them"
    )


# --- PostgreSQL: the roles --------------------------------------------------------------------


@pytest.fixture
def with_roles(postgres_schemas: PostgresSchemas, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A PostgreSQL ledger with a flagged person, its roles granted, a staff and an auditor."""
    url = postgres_schemas.fresh("traject_reads")
    owner = Traject(url, tmp_path / "traject.key")
    owner.init("--municipality", "GM0622")
    person = with_flag(owner)
    owner.ok("admin", "roles")
    users = {role: f"{role}_{uuid4().hex[:8]}" for role in (STAFF, AUDITOR)}
    admin = postgres_schemas.connection
    for role, user in users.items():
        admin.execute(f"CREATE ROLE {user} LOGIN IN ROLE {role}")
    try:
        yield {
            "owner": owner,
            "person": person,
            **{role: Traject(as_user(url, user), owner.key_file) for role, user in users.items()},
        }
    finally:
        for user in users.values():
            admin.execute(f"DROP OWNED BY {user}")
            admin.execute(f"DROP ROLE IF EXISTS {user}")


@pytest.mark.postgres
def test_on_postgresql_staff_read_on_record_and_the_auditor_sees_the_flag_masked(
    with_roles: dict[str, Any],
) -> None:
    owner, person = with_roles["owner"], with_roles["person"]
    staff, auditor = with_roles[STAFF], with_roles[AUDITOR]

    shown = staff.ok("timeline", person, "--purpose", PURPOSE, TRAJECT_USER="s.staff")
    masked = auditor("timeline", person, "--purpose", "audit 2026", TRAJECT_USER="a.auditor")

    assert "health_barrier=yes" in shown.stdout
    # the auditor may not append: the flag is masked, the rest shown, nothing recorded
    assert masked.exit_code == 0, masked.output
    assert NOT_SHOWN in masked.stdout
    assert "by=r.jansen" in masked.stdout
    assert masked.stderr.startswith(
        "Warning: health_barrier not shown: special-category data (GDPR Art. 9) is shown only "
        "once its read is recorded, and this database user may not record it (permission denied"
    )
    assert [(r["read_by"], r["purpose"]) for r in reads(owner, person)] == [("s.staff", PURPOSE)]
    # the auditor lists the reads without writing anything
    listed = auditor.json("audit", "reads", "--person", person)["reads"]
    assert [r["read_by"] for r in listed] == ["s.staff"]
    # an export by the auditor leaves the flag out for the same reason
    exported = auditor("export", "--include-personal", "--purpose", "audit 2026", "--quiet")
    assert exported.exit_code == 0, exported.output
    assert '"_withheld":["health_barrier"]' in exported.stdout
    assert "this database user may not record it" in exported.stderr
    assert len(reads(owner, person)) == 1


def test_a_persons_reads_are_listed_without_the_master_key_as_everyones_are(
    ledger: Traject,
) -> None:
    person = with_flag(ledger)
    ledger.ok("timeline", person, "--purpose", PURPOSE)

    # A data-protection officer without the key, as docs/operations.md shows it.
    without_key = ledger("person", "reads", person[:8], TRAJECT_KEY_FILE="/nonexistent")

    assert without_key.exit_code == 0, without_key.output
    assert PURPOSE in without_key.stdout
    assert "1 recorded read(s)" in without_key.stdout


@pytest.mark.postgres
def test_on_postgresql_the_auditor_lists_a_persons_reads_without_the_master_key(
    with_roles: dict[str, Any],
) -> None:
    person, staff, auditor = with_roles["person"], with_roles[STAFF], with_roles[AUDITOR]
    staff.ok("timeline", person, "--purpose", PURPOSE, TRAJECT_USER="s.staff")

    listed = auditor("--json", "person", "reads", person[:8], TRAJECT_KEY_FILE="/nonexistent")

    assert listed.exit_code == 0, listed.output
    assert [r["read_by"] for r in json.loads(listed.stdout)["reads"]] == ["s.staff"]
