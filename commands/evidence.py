"""``traject audit evidence`` and ``traject audit verify-pack``: AMIF evidence packs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from commands import render
from commands.audit import OUT, AuditFailedError, file_option, json_option, read_given
from commands.context import TrajectContext, pass_traject
from commands.output import new_file
from commands.reporting import as_known_at_option, period_option
from commands.types import KeyFile, PatternType, pattern_of
from ledger.errors import InputError
from ledger.events import ProjectCode
from ledger.evidence import UNSIGNED, verify_pack
from ledger.integrity import key_id, public_key_pem
from ledger.values import Period
from projections import Views
from projections.amif import evidence_pack

SHOWN_PROBLEMS = 50


@click.command("evidence")
@click.option(
    "--project",
    type=PatternType(pattern_of(ProjectCode), upper=True),
    required=True,
    help="the AMIF project code",
)
@period_option("2021, 2021H1 or 2021Q3")
@file_option(
    "--checkpoint",
    "checkpoint_file",
    "a signed checkpoint (from `traject audit checkpoint`) covering every fact",
    required=True,
)
@click.option(
    "--public-key",
    "public_key",
    type=KeyFile(private=False),
    required=True,
    help="the public key of the checkpoint's signer; it goes into the pack",
)
@click.option(
    "--sign-key",
    type=KeyFile(private=True),
    help="the issuer's private key (from `traject audit keygen`; may be the checkpoint's): "
    "signs manifest.json, and its public key goes into the pack",
)
@as_known_at_option()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="the zip file to write (never overwritten)",
)
@json_option
@pass_traject
def evidence_command(
    traject: TrajectContext,
    *,
    project: str,
    period: Period,
    checkpoint_file: Path,
    public_key: bytes,
    sign_key: bytes | None,
    as_known_at: datetime | None,
    out: Path,
    as_json: bool,
) -> None:
    """Write an AMIF evidence pack: the indicators, per-participant evidence and an
    inclusion proof of every fact behind every number against a signed checkpoint.

    With --sign-key the issuer signs the pack's manifest (manifest.sig), so that an auditor
    can check who issued the pack and that no byte of it changed. The figures are as known
    at --as-known-at, by default the moment the command runs; pack.json states that moment,
    and verify-pack checks that no fact in the pack was recorded after it. The same ledger,
    checkpoint, key, options and moment give the same bytes. Check a pack with
    `traject audit verify-pack` (docs/amif.md).

    \b
    Example:
      traject audit evidence --project MWP --period 2021 --as-known-at 2022-02-01 \\
        --checkpoint 2022-02-01.checkpoint --public-key auditor.pub \\
        --sign-key issuer.key --out mwp-2021.zip
    """
    if out.exists():
        msg = f"{out} exists: an evidence pack is never overwritten; choose another --out"
        raise click.BadParameter(msg, param_hint="'--out'")
    data = evidence_pack(
        Views(traject.app),
        project,
        period,
        checkpoint_text=read_given(checkpoint_file, "checkpoint"),
        public_key_pem=public_key,
        sign_key_pem=sign_key,
        as_known_at=as_known_at,
    )
    with new_file(out, OUT, "evidence pack") as handle:  # whole, or not at all
        handle.write(data)
    signer = None if sign_key is None else key_id(public_key_pem(sign_key))
    signed = "" if signer is None else f", signed by key {signer}"
    traject.emit(
        f"Evidence pack of {project} {period} written to {out} ({len(data)} bytes{signed})",
        {"out": str(out), "bytes": len(data), "signed_by": signer},
        as_json=as_json or None,
    )


@click.command("verify-pack")
@click.argument("pack", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    "public_key",
    type=KeyFile(private=False),
    required=True,
    help="the public key you trust for the checkpoint (not the one inside the pack)",
)
@click.option(
    "--issuer-key",
    type=KeyFile(private=False),
    help="the public key you trust for the pack's issuer, if not the --public-key; "
    "an unsigned pack then fails",
)
@click.option(
    "--require-signature", is_flag=True, help="fail when the pack is unsigned (no manifest.sig)"
)
@json_option
@pass_traject
def verify_pack_command(
    traject: TrajectContext,
    *,
    pack: Path,
    public_key: bytes,
    issuer_key: bytes | None,
    require_signature: bool,
    as_json: bool,
) -> None:
    """Check an AMIF evidence pack offline (no database): the issuer's signature over the
    manifest, the manifest, the checkpoint signature, every inclusion proof, and every figure
    recounted from the proven facts.

    A signed pack's manifest must be signed by --issuer-key or, without it, by the
    --public-key. An unsigned pack verifies with a warning that it is unsigned, unless
    --require-signature or --issuer-key is given. A key file that is not an Ed25519 public
    key, and a PACK that cannot be read or is no zip file, are refused (exit 2): nothing was
    verified. Names each file and entry that fails on stderr and exits with status 1. With
    --json the result is also one JSON object on stdout (docs/audit.md, "JSON output").

    \b
    Example:
      traject audit verify-pack mwp-2021.zip --public-key auditor.pub
      traject audit verify-pack mwp-2021.zip --public-key auditor.pub --issuer-key issuer.pub
    """
    report = verify_pack(
        read_given(pack, "evidence pack"),
        public_key,
        issuer_key,
        require_signature=require_signature,
    )
    if not report.opened:  # no evidence pack: nothing was verified
        msg = f"{pack}: not an evidence pack: {report.problems[0].message}"
        raise InputError(msg)
    wants_json = as_json or traject.json
    if wants_json:
        data = {
            "ok": report.ok,
            "signature": report.signature,
            "issuer": report.issuer,
            "facts": report.facts,
            "figures": report.figures,
            "problems": [{"where": p.where, "message": p.message} for p in report.problems],
        }
        traject.emit("", data, as_json=True)
    if not report.ok:
        for problem in report.problems[:SHOWN_PROBLEMS]:
            click.echo(f"Problem: {problem}", err=True)
        count = len(report.problems)
        if count > SHOWN_PROBLEMS:
            click.echo(f"… and {count - SHOWN_PROBLEMS} more problems", err=True)
        msg = f"{pack} does not verify: {render.counted(count, 'problem')}"
        raise AuditFailedError(msg)
    if report.signature == UNSIGNED:
        click.echo(
            f"Warning: {pack} is unsigned: nothing shows who issued it, and whoever rewrites "
            "its manifest can change what is not recounted (give --require-signature to refuse "
            "unsigned packs)",
            err=True,
        )
    if wants_json:
        return
    issuer = "unsigned" if report.signature == UNSIGNED else f"signed by key {report.issuer}"
    click.echo(
        f"{pack} verified ({issuer}): {report.facts} facts proven against the checkpoint, "
        f"{report.figures} indicators recounted"
    )
