"""``traject audit``: signing keys, signed checkpoints of the event log, and verifying the log."""

from __future__ import annotations

from pathlib import Path

import click

from commands.context import TrajectContext, pass_traject
from ledger import audit
from ledger.crypto import write_new_file
from ledger.errors import TrajectError
from ledger.integrity import Checkpoint, generate_signing_key, parse_checkpoint


class AuditFailedError(TrajectError):
    """The log does not verify: the problems were printed on stderr."""


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        msg = f"{path}: cannot read the {what}: {error.strerror}"
        raise TrajectError(msg) from None


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        write_new_file(path, data, mode)
    except FileExistsError:
        msg = f"{path} exists: a key file is never overwritten; choose another --out"
        raise TrajectError(msg) from None
    except OSError as error:
        msg = f"{path}: cannot write: {error.strerror}"
        raise TrajectError(msg) from None


@click.group("audit")
def group() -> None:
    """The integrity log: sign checkpoints of the event log and verify it (docs/audit.md)."""


@group.command("keygen")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="the private key file to write (mode 0600); the public key goes beside it, as .pub",
)
def keygen(out: Path) -> None:
    """Make an Ed25519 signing key pair for checkpoints; never overwrites a file.

    Keep the private key away from the database: whoever can write to the database must not be
    able to sign. Give the public key to whoever verifies.

    \b
    Example:
      traject audit keygen --out auditor.key
    """
    public_path = out.with_suffix(".pub")
    if public_path == out:
        msg = f"{out}: the private key file must not end in .pub"
        raise TrajectError(msg)
    if public_path.exists():
        msg = f"{public_path} exists: a key file is never overwritten; choose another --out"
        raise TrajectError(msg)
    private_pem, public_pem = generate_signing_key()
    _write_new(out, private_pem, 0o600)
    try:
        _write_new(public_path, public_pem, 0o644)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    click.echo(f"Private key written to {out} (mode 0600): keep it outside the database.")
    click.echo(f"Public key written to {public_path}: give it to whoever verifies.")


@group.command("checkpoint")
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="the private signing key (from `traject audit keygen`)",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the checkpoint text to this file instead of printing it",
)
@pass_traject
def checkpoint_command(traject: TrajectContext, key_file: Path, out: Path | None) -> None:
    """Verify the event log, then sign a checkpoint of all of it and store it in the ledger.

    Keep a copy of the checkpoint outside the database (with the auditor, the funder, the
    archive): `traject audit verify --checkpoint FILE` checks the log against it.

    \b
    Example:
      traject audit checkpoint --key auditor.key --out checkpoint-2024-06.txt
    """
    private_pem = _read(key_file, "signing key")
    signed = audit.checkpoint(traject.app, private_pem, f"traject ledger {traject.where}")
    if out is None:
        click.echo(signed.text, nl=False)
        return
    try:
        out.write_text(signed.text, encoding="utf-8")
    except OSError as error:
        msg = f"{out}: cannot write the checkpoint: {error.strerror}"
        raise TrajectError(msg) from None
    click.echo(f"Checkpoint of {signed.tree_size} events written to {out}")


@group.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_files",
    type=click.Path(dir_okay=False, path_type=Path),
    multiple=True,
    help="a checkpoint kept outside the ledger (repeatable)",
)
@click.option(
    "--public-key",
    "public_key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="check every checkpoint's signature with this public key",
)
@pass_traject
def verify_command(
    traject: TrajectContext, checkpoint_files: tuple[Path, ...], public_key_file: Path | None
) -> None:
    """Recompute the integrity log from every stored event and check every checkpoint.

    Checks the checkpoints stored in the ledger and those given with --checkpoint; with
    --public-key also their signatures. Names the first changed, deleted or inserted event and
    every checkpoint that does not match, on stderr, and exits with status 1.

    \b
    Example:
      traject audit verify --checkpoint checkpoint-2024-06.txt --public-key auditor.pub
    """
    given: list[Checkpoint] = []
    for path in checkpoint_files:
        try:
            given.append(parse_checkpoint(_read(path, "checkpoint")))
        except TrajectError as error:
            msg = f"{path}: {error}"
            raise AuditFailedError(msg) from None
    public_pem = _read(public_key_file, "public key") if public_key_file else None
    report = audit.verify(traject.app, given, public_pem)
    if not report.ok:
        for problem in report.problems:
            click.echo(f"Problem: {problem}", err=True)
        count = len(report.problems)
        msg = (
            f"the log does not verify: {count} problem{'s' if count != 1 else ''} "
            f"({report.checked} events, {report.checkpoints_checked} checkpoints)"
        )
        raise AuditFailedError(msg)
    if public_pem is None and report.checkpoints_checked:
        traject.warn(["checkpoint signatures were not checked: give --public-key"])
    click.echo(f"verified {report.checked} events against {report.checkpoints_checked} checkpoints")


@group.command("prove")
@click.argument("person")
@click.argument("version", type=click.IntRange(min=1))
@pass_traject
def prove_command(traject: TrajectContext, person: str, version: int) -> None:
    """Print the inclusion proof (JSON) of one event against the latest stored checkpoint.

    PERSON is a person id or a unique prefix of it, VERSION the event's version in that stream
    (as `traject timeline` shows). The proof is checked offline against the checkpoint's root
    (docs/audit.md, "Proofs").

    \b
    Example:
      traject audit prove 3219ed75 2
    """
    proof, _ = audit.prove(traject.app, traject.person(person), version)
    click.echo(proof.to_json())


from commands.evidence import evidence_command, verify_pack_command  # noqa: E402 - AMIF evidence packs

group.add_command(evidence_command)
group.add_command(verify_pack_command)
