"""AMIF evidence packs over the scenario of tests/amif_scenario.py: a pack verifies offline,
is byte-for-byte reproducible, and fails, naming the file, when any byte is altered."""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import subprocess
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import orjson
import pytest
from amif_scenario import PROJECT, Scenario, build

from ledger import audit
from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.evidence import (
    FORMAT,
    FORMAT_V1,
    INDICATORS_CSV,
    INDICATORS_JSON,
    ISSUER_KEY,
    MANIFEST,
    MANIFEST_SIG,
    EvidencePackError,
    dumps,
    manifest_signature,
    participants_csv,
    summary_html,
    verify_pack,
    write_zip,
)
from ledger.integrity import generate_signing_key, key_id, load_private_key, public_key_pem
from ledger.values import Period
from projections import Views
from projections.amif import evidence_pack

ROOT = Path(__file__).resolve().parents[2]
Y2021 = Period.parse("2021")


@pytest.fixture
def signed(ledger: TrajectoryLedger) -> tuple[Scenario, bytes, bytes, bytes]:
    """The scenario, a checkpoint of all of it, and the signer's key pair."""
    scenario = build(ledger)
    private, public = generate_signing_key()
    checkpoint = audit.checkpoint(ledger, private, "traject test ledger")
    return scenario, checkpoint.text.encode(), private, public


def pack_of(views: Views, checkpoint: bytes, public: bytes, **options) -> bytes:
    return evidence_pack(
        views, PROJECT, Y2021, checkpoint_text=checkpoint, public_key_pem=public, **options
    )


def entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def problems_of(data: bytes, public: bytes, issuer: bytes | None = None) -> str:
    report = verify_pack(data, public, issuer)
    assert not report.ok
    return "\n".join(str(p) for p in report.problems)


def test_a_pack_verifies_offline_and_is_reproducible(signed, views: Views):
    _, checkpoint, _, public = signed
    built_before = datetime.now(UTC)
    data = pack_of(views, checkpoint, public)
    report = verify_pack(data, public)
    assert report.ok, report.problems
    assert report.figures == 11  # every AMIF 2021-2027 indicator recounted
    files = entries(data)
    assert sorted(files) == [
        "checkpoint.txt",
        "indicators.csv",
        "indicators.json",
        "manifest.json",
        "pack.json",
        "participants.csv",
        "participants.json",
        "proofs.json",
        "public-key.pem",
        "summary.html",
    ]
    figures = orjson.loads(files[INDICATORS_JSON])
    participants = {i["code"]: i["period"] for i in figures["indicators"]}
    assert participants["O.2.3"] == 4  # A, B, C, D (see the scenario)
    assert figures["cost"]["cost_per_participant"] == "3125.13"
    # the pack is of the moment it was built: the same ledger, checkpoint and options, with
    # that moment, give the same bytes
    moment = datetime.fromisoformat(orjson.loads(files["pack.json"])["as_known_at"])
    assert built_before <= moment <= datetime.now(UTC)
    assert pack_of(views, checkpoint, public, as_known_at=moment) == data


def test_participants_appear_only_under_pseudonyms(signed, views: Views):
    scenario, checkpoint, _, public = signed
    files = entries(pack_of(views, checkpoint, public))
    rows = orjson.loads(files["participants.json"])
    assert len(rows) == 4
    assert all(row["participant"].startswith("P-") for row in rows)
    tables = b"".join(
        files[name] for name in ("participants.csv", "participants.json", "indicators.json")
    ).decode()
    for name in "ABCD":
        # person ids appear only in proofs.json, as part of each stored event's leaf
        assert str(scenario.people[name]) not in tables
        assert str(scenario.people[name]) in files["proofs.json"].decode()


FORMULA_REF = '=HYPERLINK("http://example.invalid/","DMS")'
FIRST_FORMAT_PACK = ROOT / "tests" / "data" / "packs" / "2026-12-07-0fbfcac"


def test_a_new_pack_s_csv_shows_text_a_spreadsheet_would_run_as_text(ledger, views: Views):
    # the scenario, and a participant whose references were typed as spreadsheet formulas
    build(ledger)
    g = ledger.register_person(
        occurred_on=date(2021, 1, 4), birth_date=date(1990, 1, 1), sex="m", nationality=["SY"]
    ).stream_id
    ledger.record(
        g, ev.ParticipantEnrolled, occurred_on=date(2021, 4, 1), municipality="GM0622",
        project_id=PROJECT, tcn=True, permit_kind="asiel_bt", permit_valid=True,
        checked_on=date(2021, 4, 1), checked_by="k.controleur",
        eligibility_evidence_ref=FORMULA_REF, consent_ref="@SUM(A1:A9)",
    )  # fmt: skip
    private, public = generate_signing_key()
    checkpoint = audit.checkpoint(ledger, private, "traject test ledger").text.encode()
    data = pack_of(views, checkpoint, public)
    assert verify_pack(data, public).ok
    files = entries(data)
    assert orjson.loads(files[MANIFEST])["format"] == orjson.loads(files["pack.json"])["format"]
    assert orjson.loads(files[MANIFEST])["format"] == FORMAT
    (row,) = [
        r
        for r in csv.DictReader(io.StringIO(files["participants.csv"].decode()))
        if r["enrolled_on"] == "2021-04-01"
    ]
    assert row["eligibility_evidence_ref"] == "'" + FORMULA_REF
    assert row["consent_ref"] == "'@SUM(A1:A9)"
    assert row["hours_language_course"] == "0.00"
    # the JSON keeps the references as recorded
    refs = {r["consent_ref"] for r in orjson.loads(files["participants.json"])}
    assert "@SUM(A1:A9)" in refs


def test_a_pack_of_the_first_format_still_verifies_by_its_own_format():
    # built by the code of 0fbfcac, which wrote the CSV cells as they are
    data = (FIRST_FORMAT_PACK / "mwp-2021.zip").read_bytes()
    public = (FIRST_FORMAT_PACK / "auditor.pub").read_bytes()
    report = verify_pack(data, public, require_signature=True)
    assert report.ok, report.problems
    assert report.signature == "valid"
    files = entries(data)
    assert orjson.loads(files[MANIFEST])["format"] == FORMAT_V1
    assert (
        b'"=HYPERLINK(""http://example.invalid/"",""DMS"")",@SUM(A1:A9)'
        in files["participants.csv"]
    )
    # today's format renders those rows otherwise: the check rendered them as v1 does
    participants = orjson.loads(files["participants.json"])
    assert participants_csv(participants, FORMAT_V1) == files["participants.csv"]
    assert participants_csv(participants) != files["participants.csv"]


def test_a_first_format_pack_relabelled_as_the_current_format_fails_on_its_csv():
    files = entries((FIRST_FORMAT_PACK / "mwp-2021.zip").read_bytes())
    meta = orjson.loads(files["pack.json"]) | {"format": FORMAT}
    relabelled = rehashed({**files, "pack.json": dumps(meta)})
    unknown = rehashed(files) | {
        MANIFEST: dumps(orjson.loads(rehashed(files)[MANIFEST]) | {"format": "pack-v9"})
    }
    public = (FIRST_FORMAT_PACK / "auditor.pub").read_bytes()
    problems = problems_of(write_zip(relabelled), public).splitlines()
    formula = '=HYPERLINK("http://example.invalid/","DMS")'
    assert [p for p in problems if p.startswith("participants.csv")] == [
        f"participants.csv: does not match participants.json: line 3, column "
        f"eligibility_evidence_ref, reads {formula!r}, rendered: {chr(39) + formula!r}"
    ]
    assert not [p for p in problems if p.startswith(("pack.json", "indicators.csv"))]
    problems = problems_of(write_zip(unknown), public).splitlines()
    assert (
        f"manifest.json: format 'pack-v9' is not a pack format ({FORMAT_V1}, {FORMAT})" in problems
    )


def test_a_pack_as_known_at_replays_the_earlier_knowledge(signed, views: Views):
    scenario, checkpoint, _, public = signed
    data = pack_of(views, checkpoint, public, as_known_at=scenario.cut)
    assert verify_pack(data, public).ok
    figures = orjson.loads(entries(data)[INDICATORS_JSON])
    assert {i["code"]: i["period"] for i in figures["indicators"]}["O.2.3"] == 5  # E not retracted


def test_a_fact_recorded_after_the_pack_s_as_known_at_is_named(signed, views: Views):
    # A forger relabels a pack of current knowledge as one "as known at" the earlier cut (and
    # rewrites the manifest of the unsigned pack): C's hours were corrected, and D's guidance
    # recorded, after the cut. Every proof still verifies and the recount agrees, but the
    # proven stored bytes say when each fact was recorded: those two are named.
    scenario, checkpoint, _, public = signed
    files = entries(pack_of(views, checkpoint, public))
    meta = orjson.loads(files["pack.json"])
    cut = scenario.cut.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    meta["as_known_at"] = cut
    figures = orjson.loads(files[INDICATORS_JSON])
    rows = orjson.loads(files["participants.json"])
    files["pack.json"] = dumps(meta)
    files["summary.html"] = summary_html(meta, figures, len(rows))
    proofs = orjson.loads(files["proofs.json"])
    recorded = {p["ref"]: orjson.loads(p["state"])["timestamp"] for p in proofs}
    later = [p for p in proofs if datetime.fromisoformat(recorded[p["ref"]]) > scenario.cut]
    # C's corrected hours and D's late guidance
    assert sorted(p["kind"] for p in later) == ["EventCorrected", "ServiceDelivered"]
    text = problems_of(write_zip(rehashed(files)), public)
    for entry in later:
        assert (
            f"proofs.json [{entry['ref']}]: recorded at {recorded[entry['ref']]}, after the "
            f"pack's as-known-at {cut}: the ledger did not know this fact then"
        ) in text
    # the pack as it was really made as known at the cut verifies
    assert verify_pack(pack_of(views, checkpoint, public, as_known_at=scenario.cut), public).ok


def test_every_altered_byte_of_every_file_is_named(signed, views: Views):
    _, checkpoint, _, public = signed
    files = entries(pack_of(views, checkpoint, public))
    for name, body in files.items():
        for position in {0, len(body) // 3, len(body) // 2, len(body) - 1}:
            altered = bytearray(body)
            altered[position] ^= 0x01
            # the attacker writes a well-formed zip around the altered file
            forged = write_zip({**files, name: bytes(altered)})
            assert name in problems_of(forged, public), (name, position)


def test_raw_bytes_of_the_container_are_checked(signed, views: Views):
    _, checkpoint, _, public = signed
    data = pack_of(views, checkpoint, public)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        directory = archive.start_dir
    # every byte of the first and last local headers, of the first and last central
    # directory records and of the end record ...
    first, last = infos[0], infos[-1]
    positions = {
        info.header_offset + k for info in (first, last) for k in range(30 + len(info.filename))
    }
    positions |= set(range(directory, directory + 46 + len(first.filename)))
    positions |= set(range(len(data) - 22 - 46 - len(last.filename), len(data)))
    # ... and an even spread over the whole file
    positions |= set(range(7, len(data), max(1, len(data) // 60)))
    for position in sorted(positions):
        altered = bytearray(data)
        altered[position] ^= 0x01
        assert not verify_pack(bytes(altered), public).ok, position


def test_any_altered_bit_of_the_central_directory_is_named_not_a_crash(on_sqlite):
    # the high bits too: a central directory record that asks for a zip version Python's
    # zipfile does not implement (its "version needed" byte) is a damaged container, named
    # as such, not an exception out of the check
    views, checkpoint, public = on_sqlite
    data = pack_of(views, checkpoint, public)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        directory = archive.start_dir
    for position in range(directory, len(data)):
        for bit in (0x80, 0xFF):
            altered = bytearray(data)
            altered[position] ^= bit
            report = verify_pack(bytes(altered), public)
            assert not report.ok, (position, bit)
            assert all(p.where for p in report.problems), (position, bit)


def test_a_consistently_forged_number_is_caught_by_the_recount(signed, views: Views):
    _, checkpoint, _, public = signed
    files = entries(pack_of(views, checkpoint, public))
    figures = orjson.loads(files[INDICATORS_JSON])
    next(i for i in figures["indicators"] if i["code"] == "O.2.3")["period"] = 7
    files[INDICATORS_JSON] = dumps(figures)
    manifest = orjson.loads(files[MANIFEST])
    manifest["files"] = {
        n: hashlib.sha256(b).hexdigest() for n, b in files.items() if n != MANIFEST
    }
    files[MANIFEST] = dumps(manifest)
    text = problems_of(write_zip(files), public)
    assert "indicators.json.indicators[O.2.3].period: reports 7" in text
    assert "recounted from the proven facts: 4" in text


def test_another_key_fails_the_checkpoint_and_the_key_file(signed, views: Views):
    _, checkpoint, _, public = signed
    data = pack_of(views, checkpoint, public)
    _, stranger = generate_signing_key()
    text = problems_of(data, stranger)
    assert "checkpoint.txt: its signature does not verify" in text
    assert "public-key.pem: is not the public key given" in text


def test_a_pack_needs_a_checkpoint_covering_every_fact(signed, views: Views):
    scenario, checkpoint, _, public = signed
    # a fact recorded after the checkpoint changes the 2021 figures
    scenario.app.record(
        scenario.people["B"],
        ev.QualificationRecognitionApplied,
        occurred_on=Y2021.end,
        project_id=PROJECT,
    )
    with pytest.raises(EvidencePackError, match="recorded after the checkpoint"):
        pack_of(views, checkpoint, public)
    # as known at the checkpoint's moment it can still be built
    assert verify_pack(pack_of(views, checkpoint, public, as_known_at=scenario.cut), public).ok


def test_a_checkpoint_signed_by_another_key_is_refused(signed, views: Views):
    _, checkpoint, _, _ = signed
    _, stranger = generate_signing_key()
    with pytest.raises(EvidencePackError, match="signature does not verify"):
        pack_of(views, checkpoint, stranger)


def test_no_single_byte_flip_of_the_small_files_crashes_the_check(make_ledger, sqlite_store: str):
    # every byte of checkpoint.txt and public-key.pem (every fifth of pack.json), once as it
    # lands (the manifest catches it) and once with the manifest rewritten by the forger: the
    # check reports, and never crashes on what it parses. (A forger who rewrites the manifest
    # of an unsigned pack can change pack.json's informational fields, such as the read
    # model's digest; the numbers are what the proofs and the recount protect, and a signed
    # pack's manifest.sig catches the rest: see the tests below.)
    app = make_ledger(sqlite_store)
    build(app)
    private, public = generate_signing_key()
    checkpoint = audit.checkpoint(app, private, "traject test ledger").text.encode()
    files = entries(pack_of(Views(app), checkpoint, public))
    for name, step in (("checkpoint.txt", 1), ("public-key.pem", 1), ("pack.json", 5)):
        for position in range(0, len(files[name]), step):
            altered = bytearray(files[name])
            altered[position] ^= 0x01
            forged = {**files, name: bytes(altered)}
            assert name in problems_of(write_zip(forged), public), (name, position)
            manifest = orjson.loads(files[MANIFEST])
            manifest["files"][name] = hashlib.sha256(forged[name]).hexdigest()
            forged[MANIFEST] = dumps(manifest)
            report = verify_pack(write_zip(forged), public)
            if name != "pack.json":
                assert not report.ok, (name, position)


def test_a_participant_is_named_by_its_row_and_pseudonym(on_sqlite):
    # A and B both take part for GM0622: a forged figure names the row and the pseudonym,
    # not the municipality, which would not tell them apart
    views, checkpoint, public = on_sqlite
    files = entries(pack_of(views, checkpoint, public))
    rows = orjson.loads(files["participants.json"])
    number, row = next(
        (n, r) for n, r in enumerate(rows) if r["municipality"] == "GM0622" and n > 0
    )
    assert [r["municipality"] for r in rows].count("GM0622") == 2
    services = row["services"]
    row["services"] = services + 1
    forged = rehashed({**files, "participants.json": dumps(rows)})
    text = problems_of(write_zip(forged), public)
    assert (
        f"participants.json[{number}, participant {row['participant']}].services: reports "
        f"{services + 1}, recounted from the proven facts: {services}"
    ) in text
    assert "[GM0622]" not in text


def test_a_proof_entry_not_in_the_pack_s_own_form_is_named_with_its_rule(on_sqlite):
    # a forger rewrites one proof entry (and the manifest of the unsigned pack); the leaf it
    # proves is unchanged, but the entry must be as the pack writes it: the message names
    # the entry and the rule, and nothing fails to be read
    views, checkpoint, public = on_sqlite
    files = entries(pack_of(views, checkpoint, public))
    proofs = orjson.loads(files["proofs.json"])
    entry = next(p for p in proofs if p["kind"] == "ServiceDelivered")
    where = f"proofs.json [{entry['ref']}]"
    stream_id = entry["stream_id"]
    for field, value, rule in (
        (
            "stream_id",
            stream_id.upper(),
            f"stream_id {stream_id.upper()!r}: a stream id must be the canonical lower-case "
            f"UUID form ({stream_id})",
        ),
        ("version", str(entry["version"]), f"version {str(entry['version'])!r}: must be a "
         "whole number"),
        ("kind", "ParticipantExited", "kind 'ParticipantExited': must be the kind its topic "
         "names (ServiceDelivered)"),
    ):  # fmt: skip
        altered = [{**p, field: value} if p is entry else p for p in proofs]
        forged = rehashed({**files, "proofs.json": dumps(altered)})
        report = verify_pack(write_zip(forged), public)
        messages = [str(p) for p in report.problems]
        assert f"{where}: {rule}" in messages, messages
        assert not any("malformed" in m or "Error" in m for m in messages), messages


# --- the issuer's signature over the manifest -----------------------------------------------


@pytest.fixture
def on_sqlite(make_ledger, sqlite_store: str) -> tuple[Views, bytes, bytes]:
    """The scenario on an SQLite file, a checkpoint of it, and the checkpoint signer's key."""
    app = make_ledger(sqlite_store)
    build(app)
    private, public = generate_signing_key()
    return Views(app), audit.checkpoint(app, private, "traject test ledger").text.encode(), public


def rehashed(files: dict[str, bytes]) -> dict[str, bytes]:
    """``files`` with manifest.json rewritten to list every file's SHA-256, as a forger would."""
    listed = {n: hashlib.sha256(b).hexdigest() for n, b in files.items() if n not in SIGNED_NOT}
    return {**files, MANIFEST: dumps({"format": FORMAT, "files": listed})}


SIGNED_NOT = (MANIFEST, MANIFEST_SIG)


def test_a_signed_pack_verifies_with_the_issuer_key_and_is_reproducible(signed, views: Views):
    _, checkpoint, _, public = signed
    issuer_private, issuer_public = generate_signing_key()
    now = datetime.now(UTC)
    data = pack_of(views, checkpoint, public, sign_key_pem=issuer_private, as_known_at=now)
    report = verify_pack(data, public, issuer_public)
    assert report.ok, report.problems
    assert (report.signature, report.issuer) == ("valid", key_id(issuer_public))
    files = entries(data)
    assert files[ISSUER_KEY] == issuer_public
    # the issuer's key is listed in the signed manifest; the signature is not (it signs it)
    assert set(orjson.loads(files[MANIFEST])["files"]) == set(files) - {MANIFEST, MANIFEST_SIG}
    line = files[MANIFEST_SIG].decode()
    assert line.startswith(f"\u2014 {key_id(issuer_public)} ") and line.endswith("==\n")
    # Ed25519 is deterministic: the same inputs (the moment too) and key give the same bytes
    assert pack_of(views, checkpoint, public, sign_key_pem=issuer_private, as_known_at=now) == data
    # pack.json and the summary name the issuer's key
    meta = orjson.loads(files["pack.json"])
    assert meta["issuer"] == {"key_id": key_id(issuer_public), "signs": MANIFEST}
    assert f"Issued by key <code>{key_id(issuer_public)}</code>" in files["summary.html"].decode()
    # the unsigned pack of the same inputs differs only by the two entries, the manifest, the
    # issuer in pack.json and the summary's line about it
    unsigned = entries(pack_of(views, checkpoint, public, as_known_at=now))
    assert "Unsigned: no issuer signed manifest.json" in unsigned["summary.html"].decode()
    described = ("pack.json", "summary.html")
    assert {n: b for n, b in files.items() if n not in (*SIGNED_NOT, ISSUER_KEY, *described)} == {
        n: b for n, b in unsigned.items() if n not in (MANIFEST, *described)
    }
    del meta["issuer"]
    assert meta == orjson.loads(unsigned["pack.json"])


def test_one_key_may_sign_the_checkpoint_and_the_pack(signed, views: Views):
    _, checkpoint, private, public = signed
    data = pack_of(views, checkpoint, public, sign_key_pem=private)
    # without an issuer key, the checkpoint's --public-key is the issuer's
    report = verify_pack(data, public, require_signature=True)
    assert report.ok, report.problems
    assert report.signature == "valid"


def test_a_signed_pack_fails_with_another_issuer_key_naming_the_signature(on_sqlite):
    views, checkpoint, public = on_sqlite
    issuer_private, _ = generate_signing_key()
    data = pack_of(views, checkpoint, public, sign_key_pem=issuer_private)
    _, stranger = generate_signing_key()
    report = verify_pack(data, public, stranger)
    assert report.signature == "invalid"
    text = "\n".join(str(p) for p in report.problems)
    assert (
        f"manifest.sig: signed by key {key_id(public_key_pem(issuer_private))}, not by the "
        f"issuer key given with --issuer-key ({key_id(stranger)})"
    ) in text
    assert "issuer-key.pem: is not the issuer key given with --issuer-key" in text
    # without --issuer-key the checkpoint's key is taken for the issuer's, and it is not
    text = problems_of(data, public)
    assert "manifest.sig: signed by key" in text
    assert "given with --public-key (no --issuer-key given)" in text


def test_a_rewritten_manifest_is_caught_when_the_pack_is_signed(on_sqlite):
    views, checkpoint, public = on_sqlite
    issuer_private, issuer_public = generate_signing_key()
    now = datetime.now(UTC)
    files = entries(
        pack_of(views, checkpoint, public, sign_key_pem=issuer_private, as_known_at=now)
    )
    # an informational field the recount does not cover: the read model's digest
    meta = orjson.loads(files["pack.json"])
    meta["projection"]["digest"] = "0" * 64
    forged = rehashed({**files, "pack.json": dumps(meta)})
    report = verify_pack(write_zip(forged), public, issuer_public)
    assert [str(p) for p in report.problems] == [
        "manifest.sig: the signature over manifest.json does not verify with the issuer key "
        "given with --issuer-key: manifest.json or manifest.sig was altered"
    ]
    # unsigned, the same forgery goes through: that is what a signature adds
    unsigned = entries(pack_of(views, checkpoint, public, as_known_at=now))
    del meta["issuer"]
    forged = rehashed({**unsigned, "pack.json": dumps(meta)})
    assert verify_pack(write_zip(forged), public).ok
    # the forger signs with a key of their own, and puts it in the pack: still caught
    own_private, _ = generate_signing_key()
    forged = rehashed({**files, "pack.json": dumps(meta), ISSUER_KEY: public_key_pem(own_private)})
    forged[MANIFEST_SIG] = manifest_signature(forged[MANIFEST], load_private_key(own_private))
    text = problems_of(write_zip(forged), public)
    assert "issuer-key.pem: is not the issuer key given with --public-key" in text
    assert "manifest.sig: signed by key" in text


def test_an_unsigned_pack_verifies_but_says_so_and_fails_when_a_signature_is_required(
    on_sqlite,
):
    views, checkpoint, public = on_sqlite
    data = pack_of(views, checkpoint, public)
    report = verify_pack(data, public)
    assert report.ok
    assert (report.signature, report.issuer) == ("unsigned", None)
    required = (
        "manifest.sig: missing: the pack is unsigned (no issuer signed manifest.json), and "
        "{} requires a signature"
    )
    report = verify_pack(data, public, require_signature=True)
    assert [str(p) for p in report.problems] == [required.format("--require-signature")]
    # naming an issuer expects that issuer's signature
    _, issuer_public = generate_signing_key()
    report = verify_pack(data, public, issuer_public)
    assert [str(p) for p in report.problems] == [required.format("--issuer-key")]


def test_a_public_key_cannot_sign_a_pack(on_sqlite):
    views, checkpoint, public = on_sqlite
    with pytest.raises(EvidencePackError, match=r"^--sign-key: signing key: this is a public key"):
        pack_of(views, checkpoint, public, sign_key_pem=public)


def test_a_stripped_signature_reads_as_unsigned_or_is_named(on_sqlite):
    views, checkpoint, public = on_sqlite
    issuer_private, issuer_public = generate_signing_key()
    files = entries(pack_of(views, checkpoint, public, sign_key_pem=issuer_private))
    # only the signature removed: the manifest still lists the issuer's key
    without_sig = {n: b for n, b in files.items() if n != MANIFEST_SIG}
    issuer = key_id(issuer_public)
    removed = f"pack.json: names issuer key '{issuer}', but the pack has no valid manifest.sig: "
    assert problems_of(write_zip(without_sig), public) == (
        "manifest.sig: missing, but the pack holds issuer-key.pem: the signature was removed\n"
        f"{removed}the signature was removed"
    )
    # the signature and the key removed and the manifest rewritten: pack.json still names
    # the issuer
    stripped = {n: b for n, b in without_sig.items() if n != ISSUER_KEY}
    assert problems_of(write_zip(rehashed(stripped)), public).startswith(removed)
    # pack.json rewritten too: an unsigned pack, which fails as soon as the auditor asks for
    # the issuer's signature
    meta = orjson.loads(stripped["pack.json"])
    del meta["issuer"]
    unsigned = write_zip(rehashed({**stripped, "pack.json": dumps(meta)}))
    assert verify_pack(unsigned, public).signature == "unsigned"
    assert "manifest.sig: missing" in problems_of(unsigned, public, issuer_public)


def test_every_altered_byte_of_a_signed_pack_is_named(on_sqlite):
    views, checkpoint, public = on_sqlite
    issuer_private, issuer_public = generate_signing_key()
    files = entries(pack_of(views, checkpoint, public, sign_key_pem=issuer_private))
    for name, body in files.items():
        step = 1 if name in (MANIFEST, MANIFEST_SIG, ISSUER_KEY) else max(1, len(body) // 5)
        for position in range(0, len(body), step):
            altered = bytearray(body)
            altered[position] ^= 0x01
            forged = {**files, name: bytes(altered)}
            assert name in problems_of(write_zip(forged), public, issuer_public), (name, position)
            if name not in SIGNED_NOT:
                # with the manifest rewritten by the forger, the signature names the change
                text = problems_of(write_zip(rehashed(forged)), public, issuer_public)
                assert "manifest.sig: the signature over manifest.json does not verify" in text


# run unzip -p PACK NAME with Python's zipfile where unzip is not installed
UNZIP_FALLBACK = (
    "command -v unzip >/dev/null || unzip() { python3 -c 'import sys, zipfile; "
    'sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[2]).read(sys.argv[3]))\' "$@"; }\n'
)


def openssl_commands() -> str:
    """The shell commands of docs/amif.md, "The issuer's signature with OpenSSL"."""
    text = (ROOT / "docs" / "amif.md").read_text(encoding="utf-8")
    section = text.split("### The issuer's signature with OpenSSL", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_manifest_signature_checks_with_openssl(on_sqlite, tmp_path):
    # the documented commands, run as they stand on a signed pack
    views, checkpoint, public = on_sqlite
    issuer_private, issuer_public = generate_signing_key()
    data = pack_of(views, checkpoint, public, sign_key_pem=issuer_private)
    (tmp_path / "issuer.pub").write_bytes(issuer_public)

    def run(pack: bytes) -> subprocess.CompletedProcess[str]:
        (tmp_path / "mwp-2021.zip").write_bytes(pack)
        return subprocess.run(
            ["bash", "-c", "set -eo pipefail\n" + UNZIP_FALLBACK + openssl_commands()],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )

    checked = run(data)
    assert checked.returncode == 0, checked.stderr
    verified, key, named, pack_hash = checked.stdout.splitlines()
    assert verified == "Signature Verified Successfully"
    assert key == named == key_id(issuer_public)
    files = entries(data)
    assert pack_hash.split()[0] == orjson.loads(files[MANIFEST])["files"]["pack.json"]
    # one changed byte of the manifest, and OpenSSL refuses too
    forged = {**files, MANIFEST: files[MANIFEST].replace(b'"format"', b'"Format"')}
    refused = run(write_zip(forged))
    assert refused.returncode != 0
    assert "Signature Verification Failure" in refused.stdout + refused.stderr


def test_a_cell_edited_in_a_derived_csv_is_named_by_its_line_and_column(signed, views: Views):
    """A spreadsheet edit of indicators.csv or participants.csv (the manifest rewritten to
    match) is named by the line and column of the first cell that differs, with both values;
    a derived file cut short says where it ends."""
    _, checkpoint, _, public = signed
    files = entries(pack_of(views, checkpoint, public))
    lines = files[INDICATORS_CSV].decode().split("\n")
    number = next(n for n, line in enumerate(lines) if line.startswith("indicator,O.2.3,total,"))
    cells = lines[number].split(",")
    was, cells[3] = cells[3], str(int(cells[3]) + 3)
    lines[number] = ",".join(cells)
    people = list(csv.reader(io.StringIO(files["participants.csv"].decode())))
    column = people[0].index("exit_reason")
    reason, people[1][column] = people[1][column], "naar werk"
    edited = io.StringIO()
    csv.writer(edited, lineterminator="\n").writerows(people)
    forged = rehashed(
        {
            **files,
            INDICATORS_CSV: "\n".join(lines).encode(),
            "participants.csv": edited.getvalue().encode(),
            "summary.html": files["summary.html"].split(b"\n", 3)[0],
        }
    )
    problems = problems_of(write_zip(forged), public).splitlines()

    assert (
        f"indicators.csv: does not match indicators.json: line {number + 1}, column period, "
        f"reads '{int(was) + 3}', rendered: '{was}'"
    ) in problems
    assert (
        f"participants.csv: does not match participants.json: line 2, column exit_reason, "
        f"reads 'naar werk', rendered: {reason!r}"
    ) in problems
    assert any(
        p.startswith("summary.html: does not match pack.json and the figures: it ends at line 1;")
        for p in problems
    ), problems
