"""Proof documents: `traject audit prove` and `consistency` write them, `verify-proof` checks
them offline (no database), and every alteration makes the check fail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Traject

from ledger.integrity import leaf_hash_of_state_hash


@pytest.fixture
def signed(ledger: Traject, tmp_path: Path) -> dict[str, Any]:
    """Two checkpoints (3 then 5 events), their files, a person's inclusion proof file."""
    person = ledger.linked_person()
    ledger.ok("audit", "keygen", "--out", str(tmp_path / "a.key"))
    key = str(tmp_path / "a.key")
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    ledger.ok("audit", "checkpoint", "-q", "--key", key, "--out", str(old))
    ledger.register()
    ledger.register()
    ledger.ok("audit", "checkpoint", "-q", "--key", key, "--out", str(new))
    proof = tmp_path / "proof.json"
    ledger.ok("audit", "prove", person, "3", "--out", str(proof))
    consistency = tmp_path / "consistency.json"
    ledger.ok("audit", "consistency", str(old), str(new), "--out", str(consistency))
    return {
        "person": person,
        "public": tmp_path / "a.pub",
        "old": old,
        "new": new,
        "proof": proof,
        "consistency": consistency,
    }


def offline(traject: Traject, tmp_path: Path, *args: str) -> Any:
    """`traject audit verify-proof` with a database that does not exist: it must not need one."""
    return traject(
        "audit",
        "verify-proof",
        *args,
        TRAJECT_DATABASE_URL=f"sqlite:///{tmp_path / 'nowhere' / 'none.db'}",
    )


def test_an_inclusion_proof_verifies_offline(
    ledger: Traject, tmp_path: Path, signed: dict[str, Any]
) -> None:
    document = json.loads(signed["proof"].read_text())
    assert document["format"] == "traject-inclusion-proof-v1"
    assert document["event"]["stream_id"] == signed["person"]
    assert document["event"]["version"] == 3
    # the leaf is the documented hash of the event's fields
    event = document["event"]
    from uuid import UUID  # noqa: PLC0415

    assert (
        document["proof"]["leaf_hash"]
        == leaf_hash_of_state_hash(
            event["notification_id"],
            UUID(event["stream_id"]),
            3,
            event["topic"],
            bytes.fromhex(event["state_sha256"]),
        ).hex()
    )
    assert document["proof"]["tree_size"] == 5  # against the latest checkpoint
    result = offline(ledger, tmp_path, str(signed["proof"]), "--public-key", str(signed["public"]))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("inclusion proof holds: event 3")
    as_json = offline(
        ledger, tmp_path, str(signed["proof"]), "--public-key", str(signed["public"]), "--json"
    )
    data = json.loads(as_json.stdout)
    assert (data["ok"], data["kind"], data["problems"]) == (True, "inclusion", [])
    assert data["summary"].startswith("event 3 ")


def flip_hex(text: str) -> str:
    return ("0" if text[0] != "0" else "1") + text[1:]


ALTERATIONS = {
    "path": (
        lambda d: d["proof"]["path"].__setitem__(0, flip_hex(d["proof"]["path"][0])),
        "does not lead to the checkpoint's root",
    ),
    "state": (
        lambda d: d["event"].__setitem__("state_sha256", flip_hex(d["event"]["state_sha256"])),
        "not the hash of the event's fields",
    ),
    "version": (
        lambda d: d["event"].__setitem__("version", 2),
        "not the hash of the event's fields",
    ),
    "index": (
        lambda d: d["proof"].__setitem__("index", d["proof"]["index"] - 1),
        "does not lead to the checkpoint's root",
    ),
    "checkpoint": (
        lambda d: d.__setitem__("checkpoint", d["checkpoint"].replace("\n5\n", "\n6\n")),
        "the signature does not verify",
    ),
}


@pytest.mark.parametrize("what", sorted(ALTERATIONS))
def test_an_altered_inclusion_proof_fails(
    ledger: Traject, tmp_path: Path, signed: dict[str, Any], what: str
) -> None:
    alter, named = ALTERATIONS[what]
    document = json.loads(signed["proof"].read_text())
    alter(document)
    signed["proof"].write_text(json.dumps(document))
    result = offline(ledger, tmp_path, str(signed["proof"]), "--public-key", str(signed["public"]))
    assert result.exit_code == 1
    assert named in result.stderr
    assert "the inclusion proof does not hold" in result.stderr


def test_a_consistency_proof_verifies_offline_and_fails_when_altered(
    ledger: Traject, tmp_path: Path, signed: dict[str, Any]
) -> None:
    path, public = signed["consistency"], str(signed["public"])
    document = json.loads(path.read_text())
    assert document["format"] == "traject-consistency-proof-v1"
    assert (document["proof"]["size1"], document["proof"]["size2"]) == (3, 5)
    good = offline(ledger, tmp_path, str(path), "--public-key", public)
    assert good.exit_code == 0, good.output
    assert "consistency proof holds" in good.stdout
    document["proof"]["path"][-1] = flip_hex(document["proof"]["path"][-1])
    path.write_text(json.dumps(document))
    bad = offline(ledger, tmp_path, str(path), "--public-key", public)
    assert bad.exit_code == 1
    assert "does not join the two roots" in bad.stderr
    # another key: the signatures fail
    ledger.ok("audit", "keygen", "--out", str(tmp_path / "other.key"))
    other = offline(
        ledger, tmp_path, str(signed["proof"]), "--public-key", str(tmp_path / "other.pub")
    )
    assert other.exit_code == 1
    assert "the signature does not verify" in other.stderr


def test_consistency_is_refused_for_checkpoints_in_the_wrong_order_or_altered(
    ledger: Traject, signed: dict[str, Any]
) -> None:
    reversed_order = ledger("audit", "consistency", str(signed["new"]), str(signed["old"]))
    assert reversed_order.exit_code == 1
    assert "give the older checkpoint first" in reversed_order.stderr
    lines = signed["old"].read_text().splitlines(keepends=True)
    lines[2] = flip_hex(lines[2])
    signed["old"].write_text("".join(lines))
    altered = ledger("audit", "consistency", str(signed["old"]), str(signed["new"]))
    assert altered.exit_code == 1
    assert "no longer match" in altered.stderr
    garbage = ledger(
        "audit", "verify-proof", str(signed["old"]), "--public-key", str(signed["public"])
    )
    assert garbage.exit_code == 2  # no proof document: bad input, nothing checked
    assert "not JSON" in garbage.stderr or "not a proof document" in garbage.stderr


def test_consistency_refuses_a_checkpoint_file_it_cannot_use_as_bad_input(
    ledger: Traject, tmp_path: Path, signed: dict[str, Any]
) -> None:
    """As `audit verify --checkpoint` (docs/audit.md, "Exit status"): exit 2, the file named
    with what is wrong, before the ledger is read (a ledger that is not there is not reached)."""
    truncated = tmp_path / "truncated.txt"
    truncated.write_text("".join(signed["old"].read_text().splitlines(keepends=True)[:1]))
    missing = tmp_path / "no-such.txt"
    nowhere = f"sqlite:///{tmp_path / 'nowhere' / 'none.db'}"
    for old, message in (
        (truncated, f"{truncated}: checkpoint line 2 (tree size): missing (the text ends early)"),
        (missing, f"{missing}: cannot read the checkpoint: No such file or directory"),
    ):
        for url in (None, nowhere):
            env = {} if url is None else {"TRAJECT_DATABASE_URL": url}
            result = ledger("audit", "consistency", str(old), str(signed["new"]), **env)
            assert result.exit_code == 2, result.output
            assert result.stderr == f"Error: {message}\n"
            assert result.stdout == ""


def test_checkpoints_are_listed_and_exported(ledger: Traject, signed: dict[str, Any]) -> None:
    listed = ledger.json("audit", "checkpoints")["checkpoints"]
    assert [c["tree_size"] for c in listed] == [3, 5]
    assert listed[0]["text"] == signed["old"].read_text()
    assert ledger.ok("audit", "export").stdout == signed["new"].read_text()
    assert ledger.ok("audit", "export", "3").stdout == signed["old"].read_text()
    missing = ledger("audit", "export", "4")
    assert missing.exit_code == 1
    assert "the stored sizes are 3, 5" in missing.stderr
