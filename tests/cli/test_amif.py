"""`traject report amif`, `traject audit evidence` and `traject audit verify-pack` end to end.

The AMIF scenario of tests/amif_scenario.py is recorded through the application on the CLI's
own SQLite file; the commands under test then run as a user would run them.
"""

from __future__ import annotations

import json
import sqlite3
import zipfile
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from amif_scenario import Scenario, build
from cli_helpers import Traject, initialised_ledger
from click.testing import Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ledger.application import TrajectoryLedger
from ledger.config import parse_database_url
from ledger.crypto import read_key_file
from ledger.integrity import key_id


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


def evidence(traject: Traject, checkpoint: Path, public: Path, out: Path, *more: str) -> Result:
    """`traject audit evidence` of MWP 2021 (run, not asserted)."""
    return traject(
        "audit", "evidence", "--project", "MWP", "--period", "2021",
        "--checkpoint", str(checkpoint), "--public-key", str(public), "--out", str(out), *more,
    )  # fmt: skip


def offline(tmp_path: Path) -> Traject:
    """The auditor's `traject`: no database (the CLI points at one that does not exist)."""
    return Traject(f"sqlite:///{tmp_path / 'absent' / 'none.db'}", tmp_path / "no.key")


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
    assert "MWP,2021,O.2.3,GM0622,2,2,false" in csv_text
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


def test_a_pack_issued_in_the_first_format_still_verifies(tmp_path: Path):
    # an auditor holds a pack that traject 0fbfcac issued, before CSV cells were escaped
    made = Path(__file__).resolve().parents[1] / "data" / "packs" / "2026-12-07-0fbfcac"
    pack, public = made / "mwp-2021.zip", made / "auditor.pub"
    result = offline(tmp_path).ok(
        "audit", "verify-pack", str(pack), "--public-key", str(public), "--require-signature"
    )
    assert result.stdout.startswith(f"{pack} verified (signed by key ")


def test_a_pack_file_that_is_no_zip_is_input_verify_pack_cannot_use(tmp_path: Path):
    # as `audit verify` takes a file that is no checkpoint (docs/audit.md, "Exit status"):
    # exit 2, the file named with what is wrong, nothing verified and no result on stdout
    made = Path(__file__).resolve().parents[1] / "data" / "packs" / "2026-12-07-0fbfcac"
    public = made / "auditor.pub"
    text, empty, cut = tmp_path / "notes.zip", tmp_path / "empty.zip", tmp_path / "cut.zip"
    text.write_text("not a pack\n")
    empty.write_bytes(b"")
    cut.write_bytes((made / "mwp-2021.zip").read_bytes()[:-22])  # without its end record
    for pack in (text, empty, cut):
        for json_flag in ((), ("--json",)):
            result = offline(tmp_path)(
                "audit", "verify-pack", str(pack), "--public-key", str(public), *json_flag
            )
            assert result.exit_code == 2, result.output
            assert result.stdout == ""
            assert result.stderr == (
                f"Error: {pack}: not an evidence pack: not a readable zip file (File is not a "
                "zip file)\n"
            )


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
    assert "summary.html: does not match pack.json and the figures: line " in result.stderr
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
    # one key signs the checkpoint and the pack
    sign_key = str(tmp_path / "auditor.key")
    assert evidence(traject, checkpoint, public, pack, "--sign-key", sign_key).exit_code == 0
    result = traject.ok(
        "audit", "verify-pack", str(pack), "--public-key", str(public), "--require-signature"
    )
    assert f"verified (signed by key {key_id(public.read_bytes())})" in result.stdout


def test_a_signed_pack_verifies_with_the_issuer_key_and_fails_with_another(
    amif_ledger, tmp_path: Path
):
    traject, _ = amif_ledger
    checkpoint, public = keys_and_checkpoint(traject, tmp_path)
    traject.ok("audit", "keygen", "--out", str(tmp_path / "issuer.key"))
    issuer = tmp_path / "issuer.pub"
    issuer_id = key_id(issuer.read_bytes())
    pack = tmp_path / "mwp.zip"
    made = evidence(traject, checkpoint, public, pack, "--sign-key", str(tmp_path / "issuer.key"))
    assert made.exit_code == 0, made.output
    assert made.stdout.endswith(f" bytes, signed by key {issuer_id})\n")
    auditor = offline(tmp_path)
    result = auditor.ok(
        "audit", "verify-pack", str(pack), "--public-key", str(public),
        "--issuer-key", str(issuer), "--require-signature",
    )  # fmt: skip
    assert result.stdout.startswith(f"{pack} verified (signed by key {issuer_id}): ")
    assert result.stdout.endswith(" facts proven against the checkpoint, 11 indicators recounted\n")
    assert result.stderr == ""
    # the checkpoint signer's key is not the issuer's
    wrong = auditor("audit", "verify-pack", str(pack), "--public-key", str(public))
    assert wrong.exit_code == 1
    assert wrong.stderr == (
        "Problem: issuer-key.pem: is not the issuer key given with --public-key (no "
        "--issuer-key given)\n"
        f"Problem: manifest.sig: signed by key {issuer_id}, not by the issuer key given with "
        f"--public-key (no --issuer-key given) ({key_id(public.read_bytes())})\n"
        f"Error: {pack} does not verify: 2 problems\n"
    )
    # --json: the same verdict as one object on stdout; the problems still on stderr
    facts = int(result.stdout.split(": ")[1].split(" ")[0])
    data = json.loads(
        auditor.ok(
            "audit", "verify-pack", str(pack), "--public-key", str(public),
            "--issuer-key", str(issuer), "--json",
        ).stdout
    )  # fmt: skip
    assert data == {
        "ok": True,
        "signature": "valid",
        "issuer": issuer_id,
        "facts": facts,
        "figures": 11,
        "problems": [],
    }
    wrong = auditor("audit", "verify-pack", str(pack), "--public-key", str(public), "--json")
    assert wrong.exit_code == 1
    data = json.loads(wrong.stdout)
    assert (data["ok"], data["signature"]) == (False, "invalid")
    assert [p["where"] for p in data["problems"]] == ["issuer-key.pem", "manifest.sig"]
    assert "Problem: manifest.sig: signed by key" in wrong.stderr


def test_a_pack_built_without_as_known_at_states_the_moment_it_was_built(
    amif_ledger, tmp_path: Path
):
    """An auditor reads a pack's figures as of a stated moment: without --as-known-at it is
    the moment the command ran, which verify-pack checks each proven fact against, and which
    rebuilds the same bytes when given."""
    traject, scenario = amif_ledger
    checkpoint, public = keys_and_checkpoint(traject, tmp_path)
    pack = tmp_path / "mwp.zip"
    before = datetime.now(UTC)
    assert evidence(traject, checkpoint, public, pack).exit_code == 0
    with zipfile.ZipFile(pack) as archive:
        meta = json.loads(archive.read("pack.json"))
        summary = archive.read("summary.html").decode()
    moment = datetime.fromisoformat(meta["as_known_at"])
    assert scenario.cut < before <= moment <= datetime.now(UTC)
    assert f"as known at {meta['as_known_at']}" in summary
    again = tmp_path / "again.zip"
    rebuilt = evidence(traject, checkpoint, public, again, "--as-known-at", meta["as_known_at"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert again.read_bytes() == pack.read_bytes()
    verified = offline(tmp_path).ok("audit", "verify-pack", str(pack), "--public-key", str(public))
    assert verified.stdout.startswith(f"{pack} verified (unsigned): ")


def test_an_unsigned_pack_verifies_saying_so_and_fails_when_a_signature_is_required(
    amif_ledger, tmp_path: Path
):
    traject, _ = amif_ledger
    checkpoint, public = keys_and_checkpoint(traject, tmp_path)
    pack = tmp_path / "mwp.zip"
    assert evidence(traject, checkpoint, public, pack).exit_code == 0
    auditor = offline(tmp_path)
    result = auditor.ok("audit", "verify-pack", str(pack), "--public-key", str(public))
    assert result.stdout.startswith(f"{pack} verified (unsigned): ")
    assert result.stderr == (
        f"Warning: {pack} is unsigned: nothing shows who issued it, and whoever rewrites its "
        "manifest can change what is not recounted (give --require-signature to refuse "
        "unsigned packs)\n"
    )
    refused = auditor(
        "audit", "verify-pack", str(pack), "--public-key", str(public), "--require-signature"
    )
    assert refused.exit_code == 1
    assert refused.stderr == (
        "Problem: manifest.sig: missing: the pack is unsigned (no issuer signed manifest.json), "
        "and --require-signature requires a signature\n"
        f"Error: {pack} does not verify: 1 problem\n"
    )


def test_bad_key_files_name_the_option_and_write_nothing(amif_ledger, tmp_path: Path):
    traject, _ = amif_ledger
    checkpoint, public = keys_and_checkpoint(traject, tmp_path)
    private = tmp_path / "auditor.key"
    not_a_key = tmp_path / "notes.txt"
    not_a_key.write_text("not a key\n")
    p256 = tmp_path / "p256.key"
    p256.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    missing = tmp_path / "absent.key"
    pack = tmp_path / "mwp.zip"
    for given, message in (
        (missing, "cannot read the key file: No such file or directory"),
        (not_a_key, "signing key: not a PEM private key (an unencrypted PKCS#8 Ed25519 key is "
         "needed)"),
        (p256, "signing key: not an Ed25519 key"),
        (public, "signing key: this is a public key; give the private key (the file `traject "
         "audit keygen --out` wrote, not the .pub beside it)"),
    ):  # fmt: skip
        result = evidence(traject, checkpoint, public, pack, "--sign-key", str(given))
        assert result.exit_code == 2, given
        assert result.stderr.endswith(
            f"Error: Invalid value for '--sign-key': {given}: {message}\n"
        ), result.stderr
        assert not pack.exists()
    # the auditor gives a private key where the issuer's public key is needed
    assert evidence(traject, checkpoint, public, pack, "--sign-key", str(private)).exit_code == 0
    result = offline(tmp_path)(
        "audit", "verify-pack", str(pack), "--public-key", str(public), "--issuer-key", str(private)
    )
    assert result.exit_code == 2
    assert result.stderr.endswith(
        f"Error: Invalid value for '--issuer-key': {private}: public key: this is a private key; "
        "give the public key (the .pub file)\n"
    )


def test_verify_pack_refuses_a_key_file_that_is_not_a_public_key(amif_ledger, tmp_path: Path):
    # the auditor's --public-key is checked before the pack is read: a file that is not an
    # Ed25519 public key is bad input (exit 2) naming the option and the file, instead of a
    # signature that "does not verify"
    traject, _ = amif_ledger
    checkpoint, public = keys_and_checkpoint(traject, tmp_path)
    pack = tmp_path / "mwp.zip"
    assert evidence(traject, checkpoint, public, pack).exit_code == 0
    notes = tmp_path / "notes.txt"
    notes.write_text("not a key\n")
    p256 = tmp_path / "p256.pub"
    p256.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    private = tmp_path / "auditor.key"
    for given, message in (
        (notes, "public key: not a PEM public key (an Ed25519 public key is needed: the .pub "
         "file `traject audit keygen` writes)"),
        (p256, "public key: not an Ed25519 key"),
        (private, "public key: this is a private key; give the public key (the .pub file)"),
    ):  # fmt: skip
        result = offline(tmp_path)("audit", "verify-pack", str(pack), "--public-key", str(given))
        assert result.exit_code == 2, given
        assert result.stderr.endswith(
            f"Error: Invalid value for '--public-key': {given}: {message}\n"
        ), result.stderr
    # the checkpoint's public key given to `traject audit evidence` is checked the same way
    result = evidence(traject, checkpoint, notes, tmp_path / "other.zip")
    assert result.exit_code == 2
    assert "Invalid value for '--public-key'" in result.stderr
    assert not (tmp_path / "other.zip").exists()


def test_a_project_s_facts_are_shown_and_corrected_by_its_code(amif_ledger) -> None:
    """The project's own facts (its registration, costs, verifications) have a timeline and
    take corrections from the command line, named by the project's code."""
    traject, _ = amif_ledger
    events = traject.json("timeline", "MWP")["events"]
    verification = next(e for e in events if e["kind"] == "ManagementVerificationRecorded")
    assert "Timeline of project MWP" in traject.ok("timeline", "project:MWP").stdout

    result = traject.ok(
        "correct", "MWP", str(verification["version"]), "--set", "by=ADR", "--reason", "auditor"
    )

    assert "of project MWP" in result.stdout
    after = traject.json("timeline", "MWP")["events"]
    assert after[verification["version"] - 1]["effective"]["fields"]["by"] == "ADR"


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("ParticipantEnrolled", "occurred_on", "2021-13-01"),  # parsed by the report
        ("ServiceDelivered", "hours", "many"),  # an amount, summed by the indicators
    ],
)
def test_a_value_the_report_parses_altered_by_hand_points_to_verify(
    amif_ledger: tuple[Traject, Scenario], kind: str, field: str, value: str
) -> None:
    """The AMIF read model keeps the facts' fields as stored; the report parses them. One
    altered outside traject is named (its stream, version and field), not a traceback."""
    traject, _ = amif_ledger
    path = traject.database_url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(path)) as connection, connection:
        connection.execute("DROP TRIGGER IF EXISTS traject_events_no_update")
        rowid, stream, version, stored = connection.execute(
            "SELECT rowid, originator_id, originator_version, state FROM stored_events"
            " WHERE topic = ? ORDER BY rowid LIMIT 1",
            [f"ledger.events:{kind}"],
        ).fetchone()
        state = json.loads(stored)
        state[field] = value
        altered = json.dumps(state, sort_keys=True, separators=(",", ":")).encode()
        connection.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", [altered, rowid])
    refused = traject("report", "amif", "--project", "MWP", "--period", "2021")
    assert refused.exit_code == 1, refused.output
    assert (
        f"stream {UUID(stream)}: the stored event of version {version} cannot be read: its "
        f"stored fields do not fit {kind} ({field}: "
    ) in refused.stderr
    assert "run `traject audit verify`" in refused.stderr


def test_evidence_reports_the_pack_as_json(amif_ledger, tmp_path: Path):
    """With --json (after the command or before it) the pack written is one JSON object."""
    traject, _ = amif_ledger
    checkpoint, public = keys_and_checkpoint(traject, tmp_path)
    signer = str(tmp_path / "auditor.key")
    for n, (before, after) in enumerate(((("--json",), ()), ((), ("--json",)))):
        out = tmp_path / f"pack-{n}.zip"
        result = traject(*before, "audit", "evidence", "--project", "MWP", "--period", "2021",
                         "--checkpoint", str(checkpoint), "--public-key", str(public),
                         "--sign-key", signer, "--out", str(out), *after)  # fmt: skip
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["out"] == str(out)
        assert data["bytes"] == out.stat().st_size
        assert len(data["signed_by"]) > 0


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def amif_on_each_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Traject, Scenario]:
    """The AMIF scenario on a SQLite file or in a PostgreSQL schema of its own."""
    traject = initialised_ledger(request, tmp_path, "traject_amif")
    return traject, record_scenario(traject)


def test_a_period_before_the_fund_s_indicators_is_refused_not_a_traceback(
    amif_on_each_store: tuple[Traject, Scenario], tmp_path: Path
) -> None:
    """MWP is an AMIF 2021-2027 project: its indicator set is in force from 2021. A report, an
    evidence pack or a seal of a period that begins before it names --period and the date, exits
    1 and writes nothing; a period from 2021 on is counted."""
    traject, _ = amif_on_each_store
    checkpoint, public = keys_and_checkpoint(traject, tmp_path)
    message = (
        "Error: --period: 2020H2 begins on 2020-07-01, before any indicator set of MWP's fund "
        "AMIF_2127 was in force (its first is in force from 2021-01-01): give a period that "
        "begins on or after it\n"
    )
    out = tmp_path / "mwp-2020.zip"
    runs = (
        ("report", "amif", "--project", "mwp", "--period", "2020H2", "--format", "csv"),
        ("audit", "evidence", "--project", "MWP", "--period", "2020H2", "--checkpoint",
         str(checkpoint), "--public-key", str(public), "--out", str(out)),
        ("report", "seal", "--label", "MWP 2020H2", "report", "amif", "--project", "MWP",
         "--period", "2020H2"),
    )  # fmt: skip
    events = traject.event_count()
    for args in runs:
        result = traject(*args)
        assert (result.exit_code, result.stderr, result.stdout) == (1, message, ""), args
    assert not list(tmp_path.glob("mwp-2020.zip*"))
    assert traject.event_count() == events
    assert traject.json("report", "amif", "--project", "MWP", "--period", "2021H1")["indicators"]
