"""`traject report amif`, `traject audit evidence` and `traject audit verify-pack` end to end.

The AMIF scenario of tests/amif_scenario.py is recorded through the application on the CLI's
own SQLite file; the commands under test then run as a user would run them.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from amif_scenario import Scenario, build
from cli_helpers import Traject

from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.crypto import read_key_file


def record_scenario(ledger: Traject) -> Scenario:
    """The AMIF scenario, recorded through the application on the CLI's own store."""
    store = parse_database_url(ledger.database_url)
    app = TrajectoryLedger(
        {**store.library_env, "CREATE_TABLE": "no"}, read_key_file(ledger.key_file)
    )
    try:
        return build(app)
    finally:
        app.close()


@pytest.fixture
def amif_ledger(ledger: Traject) -> tuple[Traject, Scenario]:
    return ledger, record_scenario(ledger)


def keys_and_checkpoint(traject: Traject, tmp_path: Path) -> tuple[Path, Path]:
    traject.ok("audit", "keygen", "--out", str(tmp_path / "auditor.key"))
    checkpoint = tmp_path / "cp.txt"
    key = str(tmp_path / "auditor.key")
    traject.ok("audit", "checkpoint", "--key", key, "--out", str(checkpoint))
    return checkpoint, tmp_path / "auditor.pub"


def test_report_amif_as_json_csv_and_table(amif_ledger):
    traject, _ = amif_ledger
    data = traject.json("report", "amif", "--project", "mwp", "--period", "2021")
    assert data["project"] == "MWP"
    assert {i["code"]: i["period"] for i in data["indicators"]}["O.2.3"] == 4
    assert data["cost"]["cost_per_participant"] == "3125.13"
    assert data["basis"]["projection"] == "amif"
    csv_text = traject.ok(
        "report", "amif", "--project", "MWP", "--period", "2021", "--format", "csv"
    ).stdout
    assert csv_text.splitlines()[0] == (
        "project,period,code,municipality,period_value,cumulative,verified"
    )
    assert "MWP,2021,O.2.3,GM0622,2,2,False" in csv_text
    table = traject.ok("report", "amif", "--project", "MWP", "--period", "2021").stdout
    assert "Number of participants supported" in table
    assert "3125.13" in table


def test_report_amif_refuses_bad_input(amif_ledger):
    traject, _ = amif_ledger
    result = traject("report", "amif", "--project", "MWP", "--period", "2021H3")
    assert result.exit_code == 2
    assert "--period" in result.stderr
    result = traject("report", "amif", "--project", "NOPE", "--period", "2021")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: no AMIF project NOPE is registered (as known at the moment asked)"
    )


def test_a_pack_is_written_then_verified_without_a_database(amif_ledger, tmp_path: Path):
    traject, _ = amif_ledger
    checkpoint, public = keys_and_checkpoint(traject, tmp_path)
    pack = tmp_path / "mwp-2021.zip"
    traject.ok(
        "audit", "evidence", "--project", "MWP", "--period", "2021",
        "--checkpoint", str(checkpoint), "--public-key", str(public), "--out", str(pack),
    )  # fmt: skip
    # the auditor has no database: point the CLI at one that does not exist
    offline = Traject(f"sqlite:///{tmp_path / 'absent' / 'none.db'}", tmp_path / "no.key")
    result = offline.ok("audit", "verify-pack", str(pack), "--public-key", str(public))
    assert "verified" in result.stdout
    assert not (tmp_path / "absent").exists()
    # the pack is never overwritten
    again = traject(
        "audit", "evidence", "--project", "MWP", "--period", "2021",
        "--checkpoint", str(checkpoint), "--public-key", str(public), "--out", str(pack),
    )  # fmt: skip
    assert again.exit_code == 2
    assert "never overwritten" in again.stderr


def test_verify_pack_names_the_altered_file_and_exits_1(amif_ledger, tmp_path: Path):
    traject, _ = amif_ledger
    checkpoint, public = keys_and_checkpoint(traject, tmp_path)
    pack = tmp_path / "mwp.zip"
    traject.ok(
        "audit", "evidence", "--project", "MWP", "--period", "2021",
        "--checkpoint", str(checkpoint), "--public-key", str(public), "--out", str(pack),
    )  # fmt: skip
    with zipfile.ZipFile(pack) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    pack_meta = json.loads(files["pack.json"])
    assert pack_meta["project"] == "MWP"
    files["summary.html"] = files["summary.html"].replace(b"3125.13", b"2125.13")
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(forged, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    result = traject("audit", "verify-pack", str(forged), "--public-key", str(public))
    assert result.exit_code == 1
    assert "summary.html: its SHA-256 does not match manifest.json" in result.stderr
    assert "summary.html: does not match indicators.json" in result.stderr
    assert result.stderr.strip().endswith("does not verify: 3 problems")


@pytest.mark.postgres
def test_report_and_pack_on_postgresql(cli_postgres_url: str, tmp_path: Path):
    traject = Traject(cli_postgres_url, tmp_path / "traject.key")
    traject.init("--municipality", "GM0622")
    record_scenario(traject)
    data = traject.json("report", "amif", "--project", "MWP", "--period", "2021")
    assert {i["code"]: i["cumulative"] for i in data["indicators"]}["O.2.3"] == 4
    checkpoint, public = keys_and_checkpoint(traject, tmp_path)
    pack = tmp_path / "mwp.zip"
    traject.ok(
        "audit", "evidence", "--project", "MWP", "--period", "2021",
        "--checkpoint", str(checkpoint), "--public-key", str(public), "--out", str(pack),
    )  # fmt: skip
    traject.ok("audit", "verify-pack", str(pack), "--public-key", str(public))
