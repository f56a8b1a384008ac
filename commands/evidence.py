"""``traject audit evidence`` and ``traject audit verify-pack``: AMIF evidence packs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from commands.audit import AuditFailedError, file_option
from commands.context import TrajectContext, pass_traject
from commands.reporting import as_known_at_option, period_option
from commands.types import PatternType, pattern_of
from ledger.errors import TrajectError
from ledger.events import ProjectCode
from ledger.evidence import verify_pack
from ledger.values import Period
from projections import Views
from projections.amif import evidence_pack

SHOWN_PROBLEMS = 50


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        msg = f"{path}: cannot read the {what}: {error.strerror}"
        raise TrajectError(msg) from None


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
@file_option(
    "--public-key",
    "public_key_file",
    "the public key of the checkpoint's signer; it goes into the pack",
    required=True,
)
@as_known_at_option()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="the zip file to write (never overwritten)",
)
@pass_traject
def evidence_command(
    traject: TrajectContext,
    *,
    project: str,
    period: Period,
    checkpoint_file: Path,
    public_key_file: Path,
    as_known_at: datetime | None,
    out: Path,
) -> None:
    """Write an AMIF evidence pack: the indicators, per-participant evidence and an
    inclusion proof of every fact behind every number against a signed checkpoint.

    The same ledger, checkpoint and options give the same bytes. Check a pack with
    `traject audit verify-pack` (docs/amif.md).

    \b
    Example:
      traject audit evidence --project MWP --period 2021 --as-known-at 2022-02-01 \\
        --checkpoint 2022-02-01.checkpoint --public-key auditor.pub --out mwp-2021.zip
    """
    if out.exists():
        msg = f"{out} exists: an evidence pack is never overwritten; choose another --out"
        raise click.BadParameter(msg, param_hint="'--out'")
    data = evidence_pack(
        Views(traject.app),
        project,
        period,
        checkpoint_text=_read(checkpoint_file, "checkpoint"),
        public_key_pem=_read(public_key_file, "public key"),
        as_known_at=as_known_at,
    )
    try:
        with out.open("xb") as handle:
            handle.write(data)
    except OSError as error:
        out.unlink(missing_ok=True)
        msg = f"{out}: cannot write the evidence pack: {error.strerror}"
        raise TrajectError(msg) from None
    click.echo(f"Evidence pack of {project} {period} written to {out} ({len(data)} bytes)")


@click.command("verify-pack")
@click.argument("pack", type=click.Path(dir_okay=False, path_type=Path))
@file_option(
    "--public-key",
    "public_key_file",
    "the public key you trust for the checkpoint (not the one inside the pack)",
    required=True,
)
def verify_pack_command(pack: Path, public_key_file: Path) -> None:
    """Check an AMIF evidence pack offline (no database): the manifest, the checkpoint
    signature, every inclusion proof, and every figure recounted from the proven facts.

    Names each file and entry that fails on stderr and exits with status 1.

    \b
    Example:
      traject audit verify-pack mwp-2021.zip --public-key auditor.pub
    """
    report = verify_pack(_read(pack, "evidence pack"), _read(public_key_file, "public key"))
    if not report.ok:
        for problem in report.problems[:SHOWN_PROBLEMS]:
            click.echo(f"Problem: {problem}", err=True)
        count = len(report.problems)
        if count > SHOWN_PROBLEMS:
            click.echo(f"… and {count - SHOWN_PROBLEMS} more problems", err=True)
        msg = f"{pack} does not verify: {count} problem{'s' if count != 1 else ''}"
        raise AuditFailedError(msg)
    click.echo(
        f"{pack} verified: {report.facts} facts proven against the checkpoint, "
        f"{report.figures} indicators recounted"
    )
