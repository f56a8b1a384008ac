"""AMIF evidence packs: build a deterministic zip of figures with proofs, and verify one offline.

A pack (docs/amif.md, "The evidence pack") holds, for one project and period:

* ``indicators.json`` / ``indicators.csv``: the P12 indicators, progress against targets, hours
  per service category and the P13 cost figures, each value with the facts behind it;
* ``participants.json`` / ``participants.csv``: per-participant evidence under pseudonyms;
* ``proofs.json``: for every fact behind a number, the stored event's leaf material
  (notification id, stream id, version, topic and the exact stored bytes, whose SHA-256 goes
  into the leaf) and its RFC 6962 inclusion proof against the checkpoint;
* ``checkpoint.txt`` and ``public-key.pem``: the signed checkpoint and the key that signed it;
* ``pack.json``: what the pack is of; ``summary.html``: a readable summary;
* ``manifest.json``: the SHA-256 of every other file;
* in a signed pack, ``issuer-key.pem`` (the issuer's public key, listed in the manifest) and
  ``manifest.sig``: the issuer's Ed25519 signature over the exact bytes of ``manifest.json``.

Entries are sorted, stored uncompressed with fixed timestamps and attributes, and JSON is
written with sorted keys, so the same inputs give the same bytes, and :func:`verify_pack` can
rebuild the container from its entries and compare it byte for byte (Ed25519 signatures are
deterministic, so a signed pack is reproducible too). The verification needs no database: it
checks the container, the manifest and its signature, the key, the checkpoint signature, every
proof, that every reported number's facts are proven, and recounts every figure from the proven
facts with the same counting code as the report (``ledger.amif.compute``).
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import struct
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.amif import (
    FACT_FIELDS,
    PARTICIPANT_COLUMNS,
    AmifFigures,
    Fact,
    NoProjectError,
    compute,
    fact_ref,
    indicators_json,
    participant_json,
    revise,
)
from ledger.amif_rules import indicator_set_by_version
from ledger.errors import TrajectError
from ledger.integrity import (
    Checkpoint,
    CheckpointFormatError,
    IntegrityError,
    Row,
    Signature,
    SignatureFormatError,
    key_id,
    leaf_hash,
    load_private_key,
    node_hash,
    parse_checkpoint,
    parse_signature_line,
    public_key_pem,
    sign,
    verify_checkpoint_signature,
    verify_inclusion,
    verify_signature,
)
from ledger.spreadsheet import spreadsheet_safe
from ledger.values import Period

FORMAT_V1 = "traject-amif-evidence-pack-v1"
"""The first pack format: its CSV files hold every cell as it is."""
FORMAT = "traject-amif-evidence-pack-v2"
"""The format new packs are built in: as v1, with the CSV cells a spreadsheet would run as a
formula escaped (``ledger.spreadsheet``). A pack is verified by the format it names, so packs
issued in an earlier format still verify byte for byte."""
FORMATS = (FORMAT_V1, FORMAT)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig"
ISSUER_KEY = "issuer-key.pem"
CHECKPOINT = "checkpoint.txt"
PUBLIC_KEY = "public-key.pem"
PACK = "pack.json"
INDICATORS_JSON = "indicators.json"
INDICATORS_CSV = "indicators.csv"
PARTICIPANTS_JSON = "participants.json"
PARTICIPANTS_CSV = "participants.csv"
PROOFS = "proofs.json"
SUMMARY = "summary.html"
CORRECTED = "EventCorrected"


class EvidencePackError(TrajectError):
    """The evidence pack cannot be built from this checkpoint (the message says why)."""


# --------------------------------------------------------------------------------------------
# Proofs for many leaves at once
# --------------------------------------------------------------------------------------------


class ProofBuilder:
    """Inclusion proofs of many leaves of one tree, each interior node hashed once.

    ``ledger.integrity.inclusion_proof`` hashes O(n) per proof; a pack needs thousands of
    proofs of one tree. The roots of all aligned perfect subtrees are computed level by level
    (n − 1 hashes in all), the few others (on the tree's right edge) on demand and kept. The
    paths are those of RFC 6962 §2.1.1.
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = leaves
        self.levels: list[list[bytes]] = [list(leaves)]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append(
                [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            )
        self._edge: dict[tuple[int, int], bytes] = {}

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range the RFC 6962 recursion visits."""
        size = end - start
        if size & (size - 1) == 0:  # a perfect subtree, aligned by construction
            height = size.bit_length() - 1
            return self.levels[height][start >> height]
        key = (start, end)
        found = self._edge.get(key)
        if found is None:
            k = 1 << ((size - 1).bit_length() - 1)
            found = node_hash(self.subtree(start, start + k), self.subtree(start + k, end))
            self._edge[key] = found
        return found

    def proof(self, index: int) -> list[bytes]:
        path: list[bytes] = []
        start, end, m = 0, len(self.leaves), index
        while end - start > 1:
            k = 1 << ((end - start - 1).bit_length() - 1)
            if m < k:
                path.append(self.subtree(start + k, end))
                end = start + k
            else:
                path.append(self.subtree(start, start + k))
                start, m = start + k, m - k
        path.reverse()
        return path

    def root(self) -> bytes:
        return self.subtree(0, len(self.leaves)) if self.leaves else hashlib.sha256(b"").digest()


# --------------------------------------------------------------------------------------------
# Rendering the pack's files (shared by build and verify: verify re-renders and compares)
# --------------------------------------------------------------------------------------------


def dumps(data: Any) -> bytes:
    """Canonical JSON of the pack: sorted keys, two-space indent, a final newline."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n"


def _csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]], pack_format: str) -> bytes:
    """A CSV file of the pack, rendered as the pack's format renders it: from v2 on, a cell a
    spreadsheet would run as a formula is escaped, as in the reports' CSV."""
    escape = pack_format != FORMAT_V1
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        cells = ("" if row.get(c) is None else _cell(row.get(c)) for c in columns)
        writer.writerow([spreadsheet_safe(cell) if escape else cell for cell in cells])
    return buffer.getvalue().encode("utf-8")


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


INDICATOR_CSV_COLUMNS = ("figure", "key", "municipality", "period", "cumulative", "facts")


def indicators_csv(data: Mapping[str, Any], pack_format: str = FORMAT) -> bytes:
    """The tables of indicators.json flattened: one row per figure (and per municipality)."""
    rows: list[dict[str, Any]] = []
    for value in data["indicators"]:
        rows.append(
            {
                "figure": "indicator",
                "key": value["code"],
                "municipality": "total",
                "period": value["period"],
                "cumulative": value["cumulative"],
                "facts": len(value["facts"]),
            }
        )
        rows += [
            {
                "figure": "indicator",
                "key": value["code"],
                "municipality": m["municipality"],
                "period": m["period"],
                "cumulative": m["cumulative"],
            }
            for m in value["by_municipality"]
        ]
    rows += [
        {
            "figure": "progress",
            "key": "target",
            "municipality": p["municipality"],
            "period": p["target"],
            "cumulative": p["realised"],
        }
        for p in data["progress"]
    ]
    rows += [
        {
            "figure": "hours",
            "key": h["category"],
            "municipality": "total",
            "period": h["hours"],
            "cumulative": h["participants"],
            "facts": len(h["facts"]),
        }
        for h in data["hours"]
    ]
    cost = data["cost"]
    for key in ("eligible_costs", "active_participants", "cost_per_participant", "declared"):
        rows.append({"figure": "cost", "key": key, "municipality": "total", "period": cost[key]})
    return _csv(INDICATOR_CSV_COLUMNS, rows, pack_format)


def participants_csv(rows: Sequence[Mapping[str, Any]], pack_format: str = FORMAT) -> bytes:
    return _csv((*PARTICIPANT_COLUMNS, "facts"), rows, pack_format)


def _issuer_html(issuer: Mapping[str, Any] | None) -> str:
    if issuer is None:
        return (
            f"<p>Unsigned: no issuer signed {MANIFEST}; the facts are proven by the checkpoint, "
            "but nothing in the pack attests who issued it.</p>"
        )
    return (
        f"<p>Issued by key <code>{html.escape(issuer['key_id'])}</code> ({ISSUER_KEY}): "
        f"{MANIFEST_SIG} is its Ed25519 signature over {MANIFEST}.</p>"
    )


def summary_html(pack: Mapping[str, Any], data: Mapping[str, Any], participants: int) -> bytes:
    """A self-contained, readable summary of the pack (no scripts, no external resources)."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>AMIF evidence {e(pack['project'])} {e(pack['period'])}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #999;"
        "padding:.2em .5em}td.n{text-align:right}</style></head><body>",
        f"<h1>AMIF evidence pack: {e(pack['project'])} ({e(data['fund'])}), "
        f"period {e(pack['period'])}</h1>",
        f"<p>{e(data['title'])}. Indicator set {e(data['indicator_set'])}; "
        f"{'as known at ' + e(pack['as_known_at']) if pack['as_known_at'] else 'current knowledge'}"
        f"; checkpoint of {pack['checkpoint']['tree_size']} events, root "
        f"<code>{e(pack['checkpoint']['root'])}</code>, key {e(pack['checkpoint']['key_id'])}; "
        f"{pack['facts']} facts proven; {participants} participants.</p>",
        _issuer_html(pack.get("issuer")),
        "<h2>Indicators</h2><table><tr><th>code</th><th>indicator</th><th>period</th>"
        "<th>cumulative</th><th>per municipality (period/cumulative)</th></tr>",
    ]
    for v in data["indicators"]:
        places = ", ".join(
            f"{e(m['municipality'])} {m['period']}/{m['cumulative']}" for m in v["by_municipality"]
        )
        mark = "" if v["verified"] else " [U]"
        parts.append(
            f"<tr><td>{e(v['code'])}{mark}</td><td>{e(v['wording'])}</td>"
            f"<td class=n>{v['period']}</td><td class=n>{v['cumulative']}</td>"
            f"<td>{places}</td></tr>"
        )
    parts.append("</table><p>[U]: wording not verified against the regulation.</p>")
    parts.append(
        "<h2>Participants against targets</h2><table><tr><th>municipality</th><th>target</th>"
        "<th>realised</th><th>remaining</th></tr>"
    )
    parts += [
        f"<tr><td>{e(p['municipality'])}</td><td class=n>{p['target']}</td>"
        f"<td class=n>{p['realised']}</td><td class=n>{p['remaining']}</td></tr>"
        for p in data["progress"]
    ]
    parts.append(
        "</table><h2>Hours by service category</h2><table><tr><th>category</th><th>hours</th>"
        "<th>participants</th><th>hours per participant</th></tr>"
    )
    parts += [
        f"<tr><td>{e(h['category'])}</td><td class=n>{h['hours']}</td>"
        f"<td class=n>{h['participants']}</td>"
        f"<td class=n>{h['hours_per_participant'] or '-'}</td></tr>"
        for h in data["hours"]
    ]
    cost = data["cost"]
    parts.append("</table><h2>Cost per participant</h2><table>")
    for label, key in (
        ("eligible costs (EUR)", "eligible_costs"),
        ("active participants", "active_participants"),
        ("cost per participant (EUR)", "cost_per_participant"),
        ("declared (EUR)", "declared"),
        ("staff hours", "staff_hours"),
    ):
        parts.append(f"<tr><th>{label}</th><td class=n>{e(str(cost[key] or '-'))}</td></tr>")
    parts.append(f"</table><p>Method: {e(cost['method'])}.</p>")
    parts.append(
        "<h2>Checking this pack</h2><p>Run <code>traject audit verify-pack PACK.zip "
        "--public-key KEY.pub</code> (no database needed); docs/amif.md describes each check "
        "so that it can be repeated without traject.</p></body></html>"
    )
    return ("\n".join(parts) + "\n").encode("utf-8")


def by_leaf(data: Any, index_of: Mapping[str, int]) -> Any:
    """``data`` with every ``facts`` list of references replaced by the facts' leaf indices.

    The pack's tables name facts by their position in the checkpointed log (``leaf_index`` in
    proofs.json), so that they carry no person ids; a reference without a leaf stays as it is
    (and is reported as unproven).
    """
    if isinstance(data, list):
        return [by_leaf(item, index_of) for item in data]
    if isinstance(data, dict):
        return {
            key: sorted(
                (index_of.get(ref, ref) for ref in value), key=lambda v: (isinstance(v, str), v)
            )
            if key == "facts" and isinstance(value, list)
            else by_leaf(value, index_of)
            for key, value in data.items()
        }
    return data


def write_zip(files: Mapping[str, bytes]) -> bytes:
    """The deterministic container: sorted entries, stored, fixed time and attributes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            archive.writestr(info, files[name])
    return buffer.getvalue()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackInput:
    """What a pack is built from (gathered by ``projections.amif.evidence_pack``)."""

    figures: AmifFigures
    facts: Sequence[Fact]
    as_known_at: str | None
    position: int
    rule_version: str
    digest: str | None
    checkpoint_text: bytes
    public_key_pem: bytes
    pseudonym: Callable[[str], str]
    sign_key_pem: bytes | None = None  # the issuer's private key: signs manifest.json


def build_pack(pack: PackInput, rows: Iterable[Row]) -> bytes:
    """The evidence pack's zip bytes.

    ``rows`` are the stored events in notification order (at least the checkpoint's tree).

    Raises:
        EvidencePackError: the signing key is not an Ed25519 private key; the checkpoint is
            malformed, not signed by the public key, does not match the log, or does not cover
            every fact behind the figures.
    """
    try:
        issuer = None if pack.sign_key_pem is None else load_private_key(pack.sign_key_pem)
    except IntegrityError as error:
        raise EvidencePackError(f"--sign-key: {error}") from None
    try:
        checkpoint = parse_checkpoint(pack.checkpoint_text)
    except CheckpointFormatError as error:
        raise EvidencePackError(f"--checkpoint: {error}") from None
    if not verify_checkpoint_signature(checkpoint, pack.public_key_pem):
        msg = "--checkpoint: its signature does not verify with the --public-key given"
        raise EvidencePackError(msg)
    wanted = {ref for fact in pack.facts for ref in fact.refs}
    leaves: list[bytes] = []
    material: dict[str, dict[str, Any]] = {}
    for row in rows:
        if len(leaves) == checkpoint.tree_size:
            break
        ref = fact_ref(str(row.stream_id), row.version)
        leaf = leaf_hash(*row)
        if ref in wanted:
            material[ref] = {
                "ref": ref,
                "kind": row.topic.rpartition(":")[2],
                "notification_id": row.notification_id,
                "stream_id": str(row.stream_id),
                "version": row.version,
                "topic": row.topic,
                "state": row.state.decode("utf-8"),
                "state_sha256": _sha256(row.state),
                "leaf_index": len(leaves),
                "leaf_hash": leaf.hex(),
            }
        leaves.append(leaf)
    if len(leaves) < checkpoint.tree_size:
        msg = (
            f"--checkpoint covers {checkpoint.tree_size} events but the log has only "
            f"{len(leaves)}: it is not a checkpoint of this ledger"
        )
        raise EvidencePackError(msg)
    builder = ProofBuilder(leaves)
    if builder.root() != checkpoint.root:
        msg = (
            "--checkpoint does not match this ledger's log (another ledger's checkpoint, or an "
            "altered log: run `traject audit verify`)"
        )
        raise EvidencePackError(msg)
    missing = sorted(wanted - set(material))
    if missing:
        msg = (
            f"{len(missing)} fact(s) behind the figures were recorded after the checkpoint "
            f"(first: {missing[0]}): sign a newer checkpoint, or give --as-known-at no later "
            f"than the checkpoint's time ({checkpoint.created_at})"
        )
        raise EvidencePackError(msg)
    proofs = []
    for ref in sorted(material, key=lambda r: material[r]["leaf_index"]):
        item = material[ref]
        item["path"] = [p.hex() for p in builder.proof(item["leaf_index"])]
        item["tree_size"] = checkpoint.tree_size
        proofs.append(item)
    return write_zip(render_files(pack, checkpoint, proofs, issuer))


def manifest(files: Mapping[str, bytes]) -> bytes:
    """``manifest.json``: the SHA-256 of every file given (all but the manifest and its sig)."""
    return dumps(
        {"format": FORMAT, "files": {name: _sha256(body) for name, body in sorted(files.items())}}
    )


def manifest_signature(manifest_bytes: bytes, private_key: Ed25519PrivateKey) -> bytes:
    """``manifest.sig``: the signature line of docs/audit.md ("Checkpoints", line 7) over
    exactly the bytes of ``manifest.json``, and a newline."""
    return (sign(manifest_bytes, private_key).line + "\n").encode("utf-8")


def render_files(
    pack: PackInput,
    checkpoint: Checkpoint,
    proofs: list[dict[str, Any]],
    issuer: Ed25519PrivateKey | None = None,
) -> dict[str, bytes]:
    figures = pack.figures
    index_of = {str(item["ref"]): int(item["leaf_index"]) for item in proofs}
    data = by_leaf(indicators_json(figures, with_facts=True), index_of)
    participants = by_leaf(
        [
            participant_json(row, pack.pseudonym(row.person), with_facts=True)
            for row in figures.participants
        ],
        index_of,
    )
    meta: dict[str, Any] = {
        "format": FORMAT,
        "project": figures.project,
        "period": figures.period,
        "as_known_at": pack.as_known_at,
        "indicator_set": figures.indicator_set,
        "rule_version": pack.rule_version,
        "projection": {"name": "amif", "position": pack.position, "digest": pack.digest},
        "checkpoint": {
            "origin": checkpoint.origin,
            "tree_size": checkpoint.tree_size,
            "root": checkpoint.root_hex,
            "key_id": checkpoint.key_id,
            "created_at": checkpoint.created_at,
        },
        "facts": len(proofs),
        "pseudonyms": "HMAC-SHA256 of the person id under a per-project key the pack does "
        "not contain",
    }
    if issuer is not None:
        meta["issuer"] = {"key_id": key_id(issuer.public_key()), "signs": MANIFEST}
    files = {
        PACK: dumps(meta),
        CHECKPOINT: pack.checkpoint_text,
        PUBLIC_KEY: pack.public_key_pem,
        INDICATORS_JSON: dumps(data),
        INDICATORS_CSV: indicators_csv(data),
        PARTICIPANTS_JSON: dumps(participants),
        PARTICIPANTS_CSV: participants_csv(participants),
        PROOFS: dumps(proofs),
        SUMMARY: summary_html(meta, data, len(participants)),
    }
    if issuer is not None:
        files[ISSUER_KEY] = public_key_pem(issuer)  # listed in the manifest, so signed too
    files[MANIFEST] = manifest(files)
    if issuer is not None:
        files[MANIFEST_SIG] = manifest_signature(files[MANIFEST], issuer)
    return files


# --------------------------------------------------------------------------------------------
# Verifying
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackProblem:
    """One thing in the pack that does not check out: where (file, entry) and what."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


UNSIGNED = "unsigned"
VALID = "valid"
INVALID = "invalid"


@dataclass(frozen=True)
class PackReport:
    """What :func:`verify_pack` found.

    ``signature`` is ``valid`` (the manifest is signed by the trusted issuer key),
    ``invalid`` (a problem names ``manifest.sig``, ``issuer-key.pem`` or the key option) or
    ``unsigned`` (the pack carries no signature: nothing attests who issued it). ``issuer`` is
    the key id that ``manifest.sig`` names. ``opened``: false when the data does not open as a
    zip file at all (no evidence pack: nothing else was checked; the one problem says why).
    """

    problems: tuple[PackProblem, ...]
    facts: int
    figures: int
    signature: str = UNSIGNED
    issuer: str | None = None
    opened: bool = True

    @property
    def ok(self) -> bool:
        return not self.problems


class _Problems(list[PackProblem]):
    def add(self, where: str, message: str) -> None:
        self.append(PackProblem(where, message))


ZIP_ERRORS = (
    zipfile.BadZipFile,
    ValueError,
    OSError,
    EOFError,
    NotImplementedError,  # a record asking for a zip version or feature zipfile lacks
    RuntimeError,
    struct.error,
)
"""What Python's zipfile raises on a damaged container (any altered byte may cause any)."""


def _read_zip(data: bytes, problems: _Problems) -> dict[str, bytes] | None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except ZIP_ERRORS as error:
        problems.add("zip container", f"not a readable zip file ({error})")
        return None
    files: dict[str, bytes] = {}
    with archive:
        names = archive.namelist()
        if len(names) != len(set(names)):
            problems.add("zip container", "an entry name occurs twice")
        for info in archive.infolist():
            name = info.filename
            if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & ~0x800:
                # the pack stores every entry plainly: no compression, encryption or patches
                problems.add(name, "not stored plainly as the pack format requires")
                continue
            try:
                files[name] = archive.read(info)
            except ZIP_ERRORS as error:
                problems.add(name, f"cannot be read from the zip ({error})")
    return files


def _region(data: bytes, offset: int) -> str:
    """Which part of the container a byte offset falls in (for the message)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = sorted(archive.infolist(), key=lambda i: i.header_offset)
    except ZIP_ERRORS:
        return "the container"
    inside = "the central directory"
    for info in infos:
        if info.header_offset <= offset:
            inside = f"the entry {info.filename}"
    return inside


def _json(files: Mapping[str, bytes], name: str, problems: _Problems) -> Any:
    if name not in files:
        problems.add(name, "missing from the pack")
        return None
    try:
        return orjson.loads(files[name])
    except orjson.JSONDecodeError as error:
        problems.add(name, f"not valid JSON ({error})")
        return None


def _check_manifest(files: Mapping[str, bytes], problems: _Problems) -> str:
    """Every file listed with its SHA-256; returns the pack format the manifest names, by
    which the derived files are rendered again (the current one if it names none traject
    reads)."""
    listing = _json(files, MANIFEST, problems)
    if not isinstance(listing, dict) or not isinstance(listing.get("files"), dict):
        if listing is not None:
            problems.add(MANIFEST, "expected an object with a 'files' object")
        return FORMAT
    pack_format = listing.get("format")
    if pack_format not in FORMATS:
        problems.add(
            MANIFEST, f"format {pack_format!r} is not a pack format ({', '.join(FORMATS)})"
        )
        pack_format = FORMAT
    listed: dict[str, Any] = listing["files"]
    for name in sorted(set(files) - {MANIFEST, MANIFEST_SIG} - set(listed)):
        problems.add(name, f"not listed in {MANIFEST}")
    for name, expected in sorted(listed.items()):
        if name not in files:
            problems.add(name, f"listed in {MANIFEST} but missing from the pack")
        elif _sha256(files[name]) != expected:
            problems.add(
                name,
                f"its SHA-256 does not match {MANIFEST}: "
                "the file or its manifest entry was altered",
            )
    return str(pack_format)


@dataclass(frozen=True)
class IssuerCheck:
    """Whom verify_pack trusts as the pack's issuer, and whether it insists on a signature.

    ``option`` names where the key came from, for the messages: ``--issuer-key``, or
    ``--public-key`` when the checkpoint's signer is taken to be the issuer too.
    """

    public_key_pem: bytes
    option: str
    required_by: str | None  # the option that makes an unsigned pack fail, if any


def _signature_line(data: bytes) -> Signature:
    """The one line of ``manifest.sig``, parsed strictly."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SignatureFormatError(f"not UTF-8 ({error})") from None
    if not text.endswith("\n") or "\n" in text[:-1] or "\r" in text:
        msg = "expected exactly one line ending in a newline (no carriage return)"
        raise SignatureFormatError(msg)
    return parse_signature_line(text[:-1], "the signature line")


def _check_signature(
    files: Mapping[str, bytes], issuer: IssuerCheck, problems: _Problems
) -> tuple[str, str | None]:
    """The pack's signature status (docs/amif.md, "verify-pack", step 3) and its key id."""
    signature, key = files.get(MANIFEST_SIG), files.get(ISSUER_KEY)
    if signature is None and key is None:
        if issuer.required_by is not None:
            problems.add(
                MANIFEST_SIG,
                f"missing: the pack is unsigned (no issuer signed {MANIFEST}), and "
                f"{issuer.required_by} requires a signature",
            )
            return INVALID, None
        return UNSIGNED, None
    if signature is None:
        problems.add(
            MANIFEST_SIG, f"missing, but the pack holds {ISSUER_KEY}: the signature was removed"
        )
        return INVALID, None
    before = len(problems)
    if key is None:
        problems.add(ISSUER_KEY, f"missing from the pack, which holds {MANIFEST_SIG}")
    elif key.rstrip(b"\r\n") != issuer.public_key_pem.rstrip(b"\r\n"):
        problems.add(ISSUER_KEY, f"is not the issuer key given with {issuer.option}")
    try:
        signed = _signature_line(signature)
        trusted = key_id(issuer.public_key_pem)
    except SignatureFormatError as error:
        problems.add(MANIFEST_SIG, str(error))
        return INVALID, None
    except IntegrityError as error:
        problems.add(issuer.option, str(error))
        return INVALID, None
    if signed.key_id != trusted:
        problems.add(
            MANIFEST_SIG,
            f"signed by key {signed.key_id}, not by the issuer key given with {issuer.option} "
            f"({trusted})",
        )
    elif MANIFEST in files and not verify_signature(signed, files[MANIFEST], issuer.public_key_pem):
        problems.add(
            MANIFEST_SIG,
            f"the signature over {MANIFEST} does not verify with the issuer key given with "
            f"{issuer.option}: {MANIFEST} or {MANIFEST_SIG} was altered",
        )
    return (INVALID if len(problems) > before or MANIFEST not in files else VALID), signed.key_id


def _check_key_and_checkpoint(
    files: Mapping[str, bytes], public_key_pem: bytes, problems: _Problems
) -> Checkpoint | None:
    if files.get(PUBLIC_KEY) is None:
        problems.add(PUBLIC_KEY, "missing from the pack")
    elif files[PUBLIC_KEY].rstrip(b"\r\n") != public_key_pem.rstrip(b"\r\n"):
        problems.add(PUBLIC_KEY, "is not the public key given with --public-key")
    if CHECKPOINT not in files:
        problems.add(CHECKPOINT, "missing from the pack")
        return None
    try:
        checkpoint = parse_checkpoint(files[CHECKPOINT])
    except CheckpointFormatError as error:
        problems.add(CHECKPOINT, str(error))
        return None
    try:
        signed = verify_checkpoint_signature(checkpoint, public_key_pem)
    except TrajectError as error:
        problems.add("--public-key", str(error))
        return checkpoint
    if not signed:
        problems.add(CHECKPOINT, "its signature does not verify with the given public key")
    return checkpoint


def _check_proofs(
    proofs: Any, checkpoint: Checkpoint | None, problems: _Problems
) -> dict[str, dict[str, Any]]:
    """The proof entries that verify, by fact reference."""
    proven: dict[str, dict[str, Any]] = {}
    if not isinstance(proofs, list):
        if proofs is not None:
            problems.add(PROOFS, "expected a list of proofs")
        return proven
    for number, item in enumerate(proofs):
        where = f"{PROOFS} [{number}]"
        try:
            where = f"{PROOFS} [{item['ref']}]"
            state = str(item["state"]).encode("utf-8")
            stream_id = UUID(str(item["stream_id"]))
            version = int(item["version"])
            leaf = leaf_hash(
                int(item["notification_id"]), stream_id, version, str(item["topic"]), state
            )
            path = [bytes.fromhex(p) for p in item["path"]]
            index, size = int(item["leaf_index"]), int(item["tree_size"])
        except (KeyError, TypeError, ValueError) as error:
            problems.add(where, f"malformed proof entry ({error})")
            continue
        broken = _entry_rule(item, stream_id)
        if broken is not None:
            problems.add(where, broken)
            continue
        if item["ref"] != fact_ref(str(stream_id), version):
            problems.add(where, "the reference does not name its stream id and version")
            continue
        if _sha256(state) != item.get("state_sha256") or leaf.hex() != item.get("leaf_hash"):
            problems.add(where, "the stored bytes do not hash to the leaf recorded for them")
            continue
        if checkpoint is None:
            continue
        if size != checkpoint.tree_size:
            problems.add(where, f"proves against a tree of {size}, not the checkpoint's")
            continue
        if not verify_inclusion(leaf, index, size, path, checkpoint.root):
            problems.add(where, "the inclusion proof does not verify against the checkpoint root")
            continue
        proven[str(item["ref"])] = item
    return proven


PROOF_NUMBERS = ("notification_id", "version", "leaf_index", "tree_size")


def _entry_rule(item: Mapping[str, Any], stream_id: UUID) -> str | None:
    """The rule a readable proof entry breaks, if any: its fields are in the form the pack
    writes them, so that the facts rebuilt from it are keyed as the tables name them."""
    if item["stream_id"] != str(stream_id):
        return (
            f"stream_id {item['stream_id']!r}: a stream id must be the canonical lower-case "
            f"UUID form ({stream_id})"
        )
    for name in PROOF_NUMBERS:
        if type(item[name]) is not int:
            return f"{name} {item[name]!r}: must be a whole number"
    kind = str(item["topic"]).rpartition(":")[2]
    if item.get("kind") != kind:
        return f"kind {item.get('kind')!r}: must be the kind its topic names ({kind})"
    return None


def participant_label(row: Mapping[str, Any], number: int) -> str:
    """A participant row as problems name it: its position and pseudonym (a municipality may
    have several participants)."""
    return f"{number}, participant {row.get('participant')}"


def _referenced(data: Mapping[str, Any], participants: Sequence[Any]) -> list[tuple[str, Any]]:
    """(where, leaf index) for every fact a reported number or a participant row names."""
    found: list[tuple[str, str]] = []
    for v in data.get("indicators", []):
        found += [(f"{INDICATORS_JSON} indicator {v.get('code')}", r) for r in v.get("facts", [])]
    for h in data.get("hours", []):
        found += [(f"{INDICATORS_JSON} hours {h.get('category')}", r) for r in h.get("facts", [])]
    found += [(f"{INDICATORS_JSON} cost", r) for r in data.get("cost", {}).get("facts", [])]
    for number, row in enumerate(participants):
        if isinstance(row, dict):
            where = f"{PARTICIPANTS_JSON}[{participant_label(row, number)}]"
            found += [(where, r) for r in row.get("facts", [])]
    return found


def facts_from_proofs(proven: Mapping[str, Mapping[str, Any]]) -> list[Fact]:
    """The facts as they count, rebuilt from the proven stored bytes (corrections applied)."""
    originals: dict[tuple[str, int], tuple[str, dict[str, Any]]] = {}
    corrections: dict[tuple[str, int], list[tuple[int, dict[str, Any]]]] = {}
    for item in proven.values():
        state = orjson.loads(str(item["state"]))
        key = (str(item["stream_id"]), int(item["version"]))
        if item["kind"] == CORRECTED:
            target = (key[0], int(state["target_version"]))
            corrections.setdefault(target, []).append((key[1], state.get("changes") or {}))
        elif item["kind"] in FACT_FIELDS:
            originals[key] = (str(item["kind"]), state)
    facts: list[Fact] = []
    for (stream_id, version), (kind, state) in sorted(originals.items()):
        current = (
            {name: state.get(name) for name in FACT_FIELDS[kind]},
            str(state["occurred_on"]),
            str(state["municipality"]),
        )
        refs = [fact_ref(stream_id, version)]
        for number, changes in sorted(corrections.get((stream_id, version), [])):
            current = revise(kind, current, changes)
            refs.append(fact_ref(stream_id, number))
        payload, occurred_on, municipality = current
        facts.append(
            Fact(
                stream_id,
                version,
                kind,
                date.fromisoformat(occurred_on),
                municipality,
                payload,
                tuple(refs),
            )
        )
    return facts


def _entry_label(entry: Any, number: int) -> str:
    """A list entry as problems name it: an indicator by code, hours by category, a progress
    row by municipality, a participant by position and pseudonym, anything else by position."""
    if not isinstance(entry, dict):
        return str(number)
    if "participant" in entry:
        return participant_label(entry, number)
    return str(entry.get("code") or entry.get("category") or entry.get("municipality") or number)


def _compare(where: str, reported: Any, recounted: Any, problems: _Problems) -> None:
    """Name each figure that differs between the pack and the recount."""
    if reported == recounted:
        return
    if isinstance(reported, dict) and isinstance(recounted, dict):
        for key in sorted(set(reported) | set(recounted)):
            _compare(f"{where}.{key}", reported.get(key), recounted.get(key), problems)
        return
    if isinstance(reported, list) and isinstance(recounted, list):
        if len(reported) != len(recounted):
            problems.add(
                where, f"{len(reported)} entries, but {len(recounted)} recounted from the facts"
            )
            return
        for number, (a, b) in enumerate(zip(reported, recounted, strict=True)):
            _compare(f"{where}[{_entry_label(a, number)}]", a, b, problems)
        return
    problems.add(where, f"reports {reported!r}, recounted from the proven facts: {recounted!r}")


def _recount(
    files: Mapping[str, bytes],
    *,
    pack_format: str,
    meta: Mapping[str, Any],
    data: Mapping[str, Any],
    participants: list[Any],
    proven: Mapping[str, Mapping[str, Any]],
    problems: _Problems,
) -> int:
    try:
        period = Period.parse(str(meta["period"]))
        indicators = indicator_set_by_version(str(meta["indicator_set"]))
        figures = compute(
            facts_from_proofs(proven), str(meta["project"]), period, lambda *_: indicators
        )
    except (KeyError, ValueError, NoProjectError) as error:
        problems.add(PACK, f"cannot recount the figures ({type(error).__name__}: {error})")
        return 0
    index_of = {ref: int(item["leaf_index"]) for ref, item in proven.items()}
    recounted = by_leaf(indicators_json(figures, with_facts=True), index_of)
    _compare(INDICATORS_JSON, data, recounted, problems)
    rows = by_leaf(
        [
            participant_json(row, str(given.get("participant")), with_facts=True)
            for row, given in zip(figures.participants, participants, strict=False)
            if isinstance(given, dict)
        ],
        index_of,
    )
    if len(figures.participants) != len(participants):
        problems.add(
            PARTICIPANTS_JSON,
            f"{len(participants)} participants, but {len(figures.participants)} recounted",
        )
    else:
        _compare(PARTICIPANTS_JSON, participants, rows, problems)
    for name, expected, sources in (
        (INDICATORS_CSV, indicators_csv(data, pack_format), INDICATORS_JSON),
        (PARTICIPANTS_CSV, participants_csv(participants, pack_format), PARTICIPANTS_JSON),
        (SUMMARY, summary_html(meta, data, len(participants)), f"{PACK} and the figures"),
    ):
        given = files.get(name, b"")
        if given != expected:
            where = _first_difference(given, expected, table=name.endswith(".csv"))
            problems.add(name, f"does not match {sources}: {where}")
    return len(figures.indicators)


def _first_difference(given: bytes, expected: bytes, *, table: bool) -> str:
    """Where a derived file first differs from its rendering: the line and, in a CSV file (its
    first line a header: ``table``), the column, as the file has it and as rendered."""
    lines = given.decode("utf-8", "replace").split("\n")
    rendered = expected.decode("utf-8").split("\n")
    for number, (line, wanted) in enumerate(zip(lines, rendered, strict=False), start=1):
        if line != wanted:
            return f"line {number}{_where_in_line(line, wanted, rendered[0] if table else None)}"
    if len(lines) > len(rendered):
        return f"line {len(rendered) + 1} and on were added: {_excerpt(lines[len(rendered)], 0)}"
    return (
        f"it ends at line {len(lines)}; rendered, it goes on: {_excerpt(rendered[len(lines)], 0)}"
    )


def _where_in_line(line: str, wanted: str, header: str | None) -> str:
    """`` column NAME reads …, rendered: …`` for a CSV row of the same columns, else the text
    around the first character that differs."""
    if header is not None:
        names, cells, wanted_cells = (next(csv.reader([text])) for text in (header, line, wanted))
        if len(cells) == len(wanted_cells) == len(names):
            for name, cell, wanted_cell in zip(names, cells, wanted_cells, strict=True):
                if cell != wanted_cell:
                    return f", column {name}, reads {cell!r}, rendered: {wanted_cell!r}"
    at = next(
        (i for i, (a, b) in enumerate(zip(line, wanted, strict=False)) if a != b),
        min(len(line), len(wanted)),
    )
    return f" reads {_excerpt(line, at)}, rendered: {_excerpt(wanted, at)}"


def _excerpt(text: str, at: int) -> str:
    """Up to 80 characters of ``text`` from a little before position ``at``, quoted."""
    start = max(0, at - 20)
    return (
        ("…" if start else "")
        + repr(text[start : start + 80])
        + ("…" if len(text) > start + 80 else "")
    )


def _check_coverage(
    data: Mapping[str, Any],
    participants: Sequence[Any],
    proven: Mapping[str, Mapping[str, Any]],
    problems: _Problems,
    *,
    checked: bool,
) -> None:
    """Every fact a reported number or participant row names must have a verified proof."""
    if not checked or not proven:
        return  # without a checkpoint or any proof, the problems already reported say why
    leaves = {item["leaf_index"] for item in proven.values()}
    missing: dict[Any, str] = {}
    for where, leaf in _referenced(data, participants):
        if leaf not in leaves:
            missing.setdefault(leaf, where)
    for leaf, where in missing.items():
        problems.add(where, f"fact at leaf {leaf} has no verified proof in {PROOFS}")


def _check_meta(
    meta: Mapping[str, Any],
    checkpoint: Checkpoint | None,
    proven: int,
    pack_format: str,
    problems: _Problems,
) -> None:
    """pack.json must describe this pack: its format (the manifest's), checkpoint and number
    of facts."""
    if meta.get("format") != pack_format:
        problems.add(PACK, f"format {meta.get('format')!r} is not {pack_format}")
    if checkpoint is not None:
        expected = {
            "origin": checkpoint.origin,
            "tree_size": checkpoint.tree_size,
            "root": checkpoint.root_hex,
            "key_id": checkpoint.key_id,
            "created_at": checkpoint.created_at,
        }
        if meta.get("checkpoint") != expected:
            problems.add(PACK, f"does not describe {CHECKPOINT}")
    if meta.get("facts") != proven:
        problems.add(PACK, f"states {meta.get('facts')!r} facts, {proven} proofs verified")


def _moment(text: Any) -> datetime | None:
    """A recorded time or as-known-at moment as the pack writes it (UTC, ``Z``), or None."""
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _check_known_at(
    meta: Mapping[str, Any], proven: Mapping[str, Mapping[str, Any]], problems: _Problems
) -> None:
    """A pack as known at a moment counts only facts recorded by then: each proven fact's
    stored bytes carry the time it was recorded (``timestamp``)."""
    stated = meta.get("as_known_at")
    if stated is None:
        return  # current knowledge (a pack of an earlier release): every fact may count
    cut = _moment(stated)
    if cut is None:
        problems.add(PACK, f"as_known_at {stated!r} is not a moment (UTC, as the pack writes it)")
        return
    for ref, item in proven.items():
        try:
            recorded = orjson.loads(str(item["state"])).get("timestamp")
        except (orjson.JSONDecodeError, AttributeError):
            continue  # not a stored event's JSON: the recount names it
        moment = _moment(recorded)
        if moment is None:
            problems.add(f"{PROOFS} [{ref}]", f"recorded at {recorded!r}, which is not a moment")
        elif moment > cut:
            problems.add(
                f"{PROOFS} [{ref}]",
                f"recorded at {recorded}, after the pack's as-known-at {stated}: the ledger did "
                "not know this fact then",
            )


def _check_issuer(meta: Mapping[str, Any], signer: str | None, problems: _Problems) -> None:
    """pack.json names the issuer key of a signed pack: the key that signed manifest.json."""
    named = meta.get("issuer")
    if named is None:
        if signer is not None:
            problems.add(PACK, f"names no issuer, but {MANIFEST_SIG} is signed by key {signer}")
        return
    stated = named.get("key_id") if isinstance(named, dict) else None
    if signer is None:
        problems.add(
            PACK,
            f"names issuer key {stated!r}, but the pack has no valid {MANIFEST_SIG}: "
            "the signature was removed",
        )
    elif stated != signer:
        problems.add(PACK, f"names issuer key {stated!r}, but {MANIFEST_SIG} is signed by {signer}")


def verify_pack(
    data: bytes,
    public_key_pem: bytes,
    issuer_key_pem: bytes | None = None,
    *,
    require_signature: bool = False,
) -> PackReport:
    """Check an evidence pack offline; every problem names the file (and entry) that fails.

    ``public_key_pem`` is the checkpoint signer's key. A signed pack's manifest must be signed
    by ``issuer_key_pem`` or, without one, by that same key. An unsigned pack verifies (and
    the report says ``unsigned``) unless ``require_signature`` or an issuer key is given.
    """
    required_by = "--require-signature" if require_signature else None
    if issuer_key_pem is None:
        issuer = IssuerCheck(public_key_pem, "--public-key (no --issuer-key given)", required_by)
    else:
        issuer = IssuerCheck(issuer_key_pem, "--issuer-key", required_by or "--issuer-key")
    problems = _Problems()
    files = _read_zip(data, problems)
    if files is None:
        return PackReport(tuple(problems), 0, 0, opened=False)
    canonical = write_zip(files) if not problems else data
    if canonical != data:
        offset = next(
            (i for i, (a, b) in enumerate(zip(canonical, data, strict=False)) if a != b),
            min(len(data), len(canonical)),
        )
        problems.add(
            "zip container",
            f"byte {offset} (in {_region(data, offset)}) differs from the pack's canonical "
            "layout: the container was altered",
        )
    pack_format = _check_manifest(files, problems)
    signature, signer = _check_signature(files, issuer, problems)
    checkpoint = _check_key_and_checkpoint(files, public_key_pem, problems)
    meta = _json(files, PACK, problems)
    figures_data = _json(files, INDICATORS_JSON, problems)
    participants = _json(files, PARTICIPANTS_JSON, problems)
    proven = _check_proofs(_json(files, PROOFS, problems), checkpoint, problems)
    if isinstance(meta, dict):
        _check_meta(meta, checkpoint, len(proven), pack_format, problems)
        _check_known_at(meta, proven, problems)
        _check_issuer(meta, signer, problems)
    if meta is not None and not isinstance(meta, dict):
        problems.add(PACK, "expected a JSON object")
    if not isinstance(figures_data, dict) or not isinstance(participants, list):
        if figures_data is not None and participants is not None:
            problems.add(
                INDICATORS_JSON, "indicators.json or participants.json has the wrong shape"
            )
        return PackReport(tuple(problems), len(proven), 0, signature, signer)
    count = 0
    try:
        _check_coverage(figures_data, participants, proven, problems, checked=bool(checkpoint))
        if isinstance(meta, dict):
            count = _recount(
                files,
                pack_format=pack_format,
                meta=meta,
                data=figures_data,
                participants=participants,
                proven=proven,
                problems=problems,
            )
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        # a malformed file that still parsed as JSON (its hash problem is reported above)
        problems.add(
            f"{INDICATORS_JSON} / {PARTICIPANTS_JSON} / {PACK}",
            f"malformed: cannot read the figures ({type(error).__name__}: {error})",
        )
    return PackReport(tuple(problems), len(proven), count, signature, signer)
