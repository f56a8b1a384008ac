"""AMIF evidence packs over the scenario of tests/amif_scenario.py: a pack verifies offline,
is byte-for-byte reproducible, and fails, naming the file, when any byte is altered."""

from __future__ import annotations

import hashlib
import io
import zipfile

import orjson
import pytest
from amif_scenario import PROJECT, Scenario, build

from ledger import audit
from ledger import events as ev
from ledger.application import TrajectoryLedger
from ledger.evidence import (
    INDICATORS_JSON,
    MANIFEST,
    EvidencePackError,
    dumps,
    verify_pack,
    write_zip,
)
from ledger.integrity import generate_signing_key
from ledger.values import Period
from projections import Views
from projections.amif import evidence_pack

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


def problems_of(data: bytes, public: bytes) -> str:
    report = verify_pack(data, public)
    assert not report.ok
    return "\n".join(str(p) for p in report.problems)


def test_a_pack_verifies_offline_and_is_reproducible(signed, views: Views):
    _, checkpoint, _, public = signed
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
    # the same ledger, checkpoint and options give the same bytes
    assert pack_of(views, checkpoint, public) == data


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


def test_a_pack_as_known_at_replays_the_earlier_knowledge(signed, views: Views):
    scenario, checkpoint, _, public = signed
    data = pack_of(views, checkpoint, public, as_known_at=scenario.cut)
    assert verify_pack(data, public).ok
    figures = orjson.loads(entries(data)[INDICATORS_JSON])
    assert {i["code"]: i["period"] for i in figures["indicators"]}["O.2.3"] == 5  # E not retracted


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
    # can change pack.json's informational fields, such as the read model's digest: the
    # manifest is not signed; the numbers are what the proofs and the recount protect.)
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
