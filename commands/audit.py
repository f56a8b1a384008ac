"""``traject audit``: signing keys, signed checkpoints, verifying the log, proofs and replay.

Every command takes ``--json`` (or ``traject --json``) for the stable JSON shapes documented in
docs/audit.md ("JSON output"). ``verify-proof`` never opens the ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from commands import render
from commands.context import TrajectContext, pass_traject
from commands.output import new_file, new_file_or_none
from commands.reading import READ_VIA
from commands.replaying import (
    REPLAY_SETTINGS,
    check_replayable,
    replay,
    resolve,
    with_report_day,
)
from commands.types import MOMENT_FORMS, IsoDate, KeyFile, KnownAtMoment, whole_number
from ledger import audit
from ledger.application import TrajectoryLedger
from ledger.crypto import write_new_file
from ledger.errors import InputError, TrajectError
from ledger.integrity import (
    Checkpoint,
    IntegrityError,
    VerificationReport,
    check_proof_document,
    generate_signing_key,
    parse_checkpoint,
)

F = TypeVar("F", bound=Callable[..., Any])


def json_option(function: F) -> F:
    """``--json``: the command's result as JSON on stdout (docs/audit.md, "JSON output")."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="print the result as JSON (the shapes are in docs/audit.md)",
    )(function)


def file_option(name: str, dest: str, help: str, *, required: bool = False) -> Any:
    """An option naming a file (never a directory), given to the command as a ``Path``."""
    return click.option(
        name, dest, type=click.Path(dir_okay=False, path_type=Path), required=required, help=help
    )


def quiet_option(function: F) -> F:
    return click.option("--quiet", "-q", is_flag=True, help="no progress bar on stderr")(function)


def _ledger(traject: TrajectContext) -> TrajectoryLedger:
    """The ledger for the integrity commands, which read stored bytes and never decrypt.

    The master key is neither read nor checked (an auditor need not hold it, and a key file
    that no longer opens the ledger does not matter): the ledger is opened with a throwaway
    key that nothing uses.
    """
    return traject.keyless


def _wants_json(traject: TrajectContext, as_json: bool) -> bool:
    return as_json or traject.json


class AuditFailedError(TrajectError):
    """The log does not verify: the problems were printed on stderr."""


def read_given(path: Path, what: str) -> bytes:
    """A file given on the command line; one that cannot be read is bad input (exit 2), as a
    key file that cannot be read is (``KeyFile``)."""
    try:
        return path.read_bytes()
    except OSError as error:
        msg = f"{path}: cannot read the {what}: {error.strerror}"
        raise InputError(msg) from None


def checkpoint_file(path: Path) -> Checkpoint:
    """The checkpoint in a file given on the command line; one that cannot be read or holds no
    checkpoint is bad input (exit 2): nothing is checked with it."""
    text = read_given(path, "checkpoint")  # its message names the file
    try:
        return parse_checkpoint(text)
    except TrajectError as error:
        msg = f"{path}: {error}"
        raise InputError(msg) from None


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
@json_option
@pass_traject
def keygen(traject: TrajectContext, out: Path, as_json: bool) -> None:
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
    text = (
        f"Private key written to {out} (mode 0600): keep it outside the database.\n"
        f"Public key written to {public_path}: give it to whoever verifies."
    )
    data = {"private_key": str(out), "public_key": str(public_path)}
    traject.emit(text, data, as_json=_wants_json(traject, as_json))


def _write_text(path: Path, text: str, what: str) -> None:
    """Write ``text`` to the new file ``path`` (``--out``), as a whole or not at all."""
    with new_file(path, OUT, what) as handle:
        handle.write(text.encode("utf-8"))


OUT = "'--out'"
NEW_FILE = "to this new file (never overwritten) instead of printing it"
CHECKPOINT_OUT = f"write the checkpoint text {NEW_FILE}"
PROOF_OUT = f"write the proof document {NEW_FILE}"


@group.command("checkpoint")
@file_option(
    "--key", "key_file", "the private signing key (from `traject audit keygen`)", required=True
)
@file_option("--out", "out", CHECKPOINT_OUT)
@quiet_option
@json_option
@pass_traject
def checkpoint_command(
    traject: TrajectContext, key_file: Path, out: Path | None, quiet: bool, as_json: bool
) -> None:
    """Verify the event log, then sign a checkpoint of all of it and store it in the ledger.

    Keep a copy of the checkpoint outside the database (with the auditor, the funder, the
    archive): `traject audit verify --checkpoint FILE` checks the log against it.

    \b
    Example:
      traject audit checkpoint --key auditor.key --out checkpoint-2024-06.txt
    """
    private_pem = read_given(key_file, "signing key")
    with new_file_or_none(out, OUT, "checkpoint") as handle:  # an existing file: refused first
        with traject.progress("verifying", quiet=quiet) as progress:
            signed = audit.checkpoint(_ledger(traject), private_pem, progress=progress)
        if handle is not None:
            handle.write(signed.text.encode("utf-8"))
    stored = dict(audit.stored_checkpoint_texts(_ledger(traject))).get(signed.tree_size)
    if stored is not None and stored != signed.text:  # one stored checkpoint per size
        kept = parse_checkpoint(stored)
        where = "the one printed" if out is None else str(out)
        traject.warn(
            [
                f"the ledger already stores a checkpoint of size {kept.tree_size} (time "
                f"{kept.created_at}, key {kept.key_id}): this one is not stored in it; keep "
                f"{where} (`traject audit export {kept.tree_size}` gives the stored one)"
            ]
        )
    if _wants_json(traject, as_json):
        traject.emit(
            "",
            {"checkpoint": audit.checkpoint_summary(signed), "out": out and str(out)},
            as_json=True,
        )
    elif out is None:
        click.echo(signed.text, nl=False)
    else:
        click.echo(f"Checkpoint of {signed.tree_size} events written to {out}")


def _problem_json(problem: Any) -> dict[str, Any]:
    return {
        "kind": problem.kind,
        "message": problem.message,
        "notification_id": problem.notification_id,
        "stream_id": None if problem.stream_id is None else str(problem.stream_id),
        "version": problem.version,
        "checkpoint_size": problem.checkpoint_size,
    }


def verification_json(report: VerificationReport, *, signatures_checked: bool) -> dict[str, Any]:
    """The JSON shape of `traject audit verify` (docs/audit.md, "JSON output")."""
    return {
        "ok": report.ok,
        "events": report.checked,
        "checkpoints": report.checkpoints_checked,
        "tree_size": report.tree_size,
        "root": report.root.hex(),
        "signatures_checked": signatures_checked,
        "problems": [_problem_json(p) for p in report.problems],
    }


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
    "public_pems",
    type=KeyFile(private=False),
    multiple=True,
    help="check every checkpoint's signature with this public key (repeatable: each "
    "checkpoint with the key its key id names, as after a new signing key)",
)
@quiet_option
@json_option
@pass_traject
def verify_command(
    traject: TrajectContext,
    checkpoint_files: tuple[Path, ...],
    public_pems: tuple[bytes, ...],
    quiet: bool,
    as_json: bool,
) -> None:
    """Recompute the integrity log from every stored event and check every checkpoint.

    Checks the checkpoints stored in the ledger and those given with --checkpoint; with
    --public-key also their signatures. Names the first changed, deleted or inserted event,
    every row not in the form traject writes (malformed) and every checkpoint that does not
    match, on stderr. Only reads: a read-only database role (traject_auditor) can run it.
    Never reads the master key.

    \b
    Exit status:
      0  the log and every checkpoint verified
      1  a problem was found (a changed, deleted or inserted event, a malformed row, a
         checkpoint or signature that does not match); also when the database cannot be
         read (an Error: line and, with --json, nothing on stdout)
      2  a --checkpoint or --public-key file cannot be read, or is no checkpoint or public
         key: nothing was verified

    \b
    Example:
      traject audit verify --checkpoint checkpoint-2024-06.txt --public-key auditor.pub
    """
    public_pem = public_pems or None
    given = [checkpoint_file(path) for path in checkpoint_files]
    with traject.progress("verifying", quiet=quiet) as progress:
        report = audit.verify(_ledger(traject), given, public_pem, progress=progress)
    wants_json = _wants_json(traject, as_json)
    if wants_json:
        traject.emit(
            "", verification_json(report, signatures_checked=public_pem is not None), as_json=True
        )
    if not report.ok:
        for problem in report.problems:
            click.echo(f"Problem: {problem}", err=True)
        count = len(report.problems)
        msg = (
            f"the log does not verify: {render.counted(count, 'problem')} "
            f"({render.counted(report.checked, 'event')}, "
            f"{render.counted(report.checkpoints_checked, 'checkpoint')})"
        )
        raise AuditFailedError(msg)
    if public_pem is None and report.checkpoints_checked:
        traject.warn(["checkpoint signatures were not checked: give --public-key"])
    if not wants_json:
        click.echo(
            f"verified {render.counted(report.checked, 'event')} against "
            f"{render.counted(report.checkpoints_checked, 'checkpoint')}"
        )


def _emit_document(text: str, out: Path | None, what: str) -> None:
    if out is None:
        click.echo(text)
        return
    _write_text(out, text + "\n", what)
    click.echo(f"{what.capitalize()} written to {out}", err=True)


@group.command("prove")
@click.argument("person")
@click.argument("version", type=whole_number(1))
@file_option("--out", "out", PROOF_OUT)
@json_option
@pass_traject
def prove_command(
    traject: TrajectContext, person: str, version: int, out: Path | None, as_json: bool
) -> None:
    """Print the inclusion proof of one event against the latest stored checkpoint.

    PERSON is a person id or a unique prefix of it, VERSION the event's version in that stream
    (as `traject timeline` shows). The output is a self-contained JSON proof document (the
    event's fields, the audit path and the checkpoint; docs/audit.md, "Proof documents"):
    `traject audit verify-proof` checks it offline. --json changes nothing: it is JSON.

    \b
    Example:
      traject audit prove 3219ed75 2 --out proof.json
    """
    del as_json  # the proof document is JSON already
    app = _ledger(traject)
    document = audit.inclusion_document(app, app.resolve_person(person), version)
    _emit_document(document.to_json(), out, "inclusion proof")


@group.command("consistency")
@click.argument("old", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(dir_okay=False, path_type=Path))
@file_option("--out", "out", PROOF_OUT)
@json_option
@pass_traject
def consistency_command(
    traject: TrajectContext, old: Path, new: Path, out: Path | None, as_json: bool
) -> None:
    """Print the consistency proof that checkpoint OLD's log is a prefix of checkpoint NEW's.

    OLD and NEW are checkpoint files (from `traject audit checkpoint --out` or `traject audit
    export`). The proof is computed from the stored events and refused if they no longer give
    either root. The output is a self-contained JSON proof document holding both checkpoints:
    `traject audit verify-proof` checks it offline. Exit 0 when the proof is written, 1 when
    it is refused, 2 when OLD or NEW cannot be read or is no checkpoint (nothing was read from
    the ledger).

    \b
    Example:
      traject audit consistency checkpoint-2024-06.txt checkpoint-2024-12.txt --out c.json
    """
    del as_json  # the proof document is JSON already
    first, second = checkpoint_file(old), checkpoint_file(new)  # before the ledger is opened
    document = audit.consistency_document(_ledger(traject), first, second)
    _emit_document(document.to_json(), out, "consistency proof")


@group.command("verify-proof")
@click.argument("proof", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    "public_pems",
    type=KeyFile(private=False),
    required=True,
    multiple=True,
    help="the public key the checkpoints must be signed with (repeatable: each checkpoint "
    "with the key its key id names, as after a new signing key)",
)
@json_option
@pass_traject
def verify_proof_command(
    traject: TrajectContext, proof: Path, public_pems: tuple[bytes, ...], as_json: bool
) -> None:
    """Check an inclusion or consistency proof document offline, without the database.

    Checks the checkpoint signatures with --public-key, then the audit or consistency path
    against the checkpoint roots. Exit 0 when the proof holds, 1 when it does not, 2 when
    PROOF or a key file cannot be read or is no proof document or public key.

    \b
    Example:
      traject audit verify-proof proof.json --public-key auditor.pub
    """
    try:
        result = check_proof_document(read_given(proof, "proof document"), public_pems)
    except IntegrityError as error:  # no proof document: nothing was checked
        msg = f"{proof}: {error}"
        raise InputError(msg) from None
    data = {
        "ok": result.ok,
        "kind": result.kind,
        "summary": result.summary,
        "problems": list(result.problems),
    }
    if _wants_json(traject, as_json):
        traject.emit("", data, as_json=True)
    for problem in result.problems:
        click.echo(f"Problem: {problem}", err=True)
    if not result.ok:
        msg = f"{proof}: the {result.kind} proof does not hold"
        raise AuditFailedError(msg)
    if not _wants_json(traject, as_json):
        click.echo(f"{result.kind} proof holds: {result.summary}")


@group.command("checkpoints")
@json_option
@pass_traject
def checkpoints_command(traject: TrajectContext, as_json: bool) -> None:
    """List the checkpoints stored in the ledger, smallest first.

    \b
    Example:
      traject audit checkpoints
    """
    found = audit.stored_checkpoints(_ledger(traject))
    data = {
        "checkpoints": [
            audit.checkpoint_summary(item.checkpoint) | {"stored_at": item.stored_at}
            for item in found
        ]
    }
    if _wants_json(traject, as_json):
        traject.emit("", data, as_json=True)
        return
    from rich import box  # noqa: PLC0415 - rich only when shown
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="Stored checkpoints", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("tree size", "last event", "time", "key id", "root"):
        table.add_column(name, justify="right" if name in ("tree size", "last event") else "left")
    for item in found:
        c = item.checkpoint
        table.add_row(
            str(c.tree_size), str(c.last_notification_id), c.created_at, c.key_id, c.root_hex[:16]
        )
    table.caption = f"{len(found)} checkpoint(s); export one with `traject audit export`"
    traject.console.print(table)


@group.command("export")
@click.argument("size", required=False, type=whole_number(0))
@file_option("--out", "out", CHECKPOINT_OUT)
@json_option
@pass_traject
def export_command(
    traject: TrajectContext, size: int | None, out: Path | None, as_json: bool
) -> None:
    """Export a stored checkpoint in its signed text form (the latest without SIZE).

    SIZE is a tree size, as `traject audit checkpoints` lists.

    \b
    Example:
      traject audit export --out checkpoint-latest.txt
      traject audit export 1200 --out checkpoint-1200.txt
    """
    found = audit.stored_checkpoint(_ledger(traject), size)
    if out is not None:
        _write_text(out, found.text, "checkpoint")
    if _wants_json(traject, as_json):
        traject.emit(
            "",
            {"checkpoint": audit.checkpoint_summary(found), "out": out and str(out)},
            as_json=True,
        )
    elif out is None:
        click.echo(found.text, nl=False)
    else:
        click.echo(f"Checkpoint of {found.tree_size} events written to {out}")


# --- reads of special-category data -----------------------------------------------------------


@group.command("reads")
@click.option(
    "--person",
    "person_ref",
    default=None,
    metavar="PERSON",
    help="only this person's reads: a person id or a unique prefix of at least 6 characters",
)
@click.option(
    "--since", type=IsoDate(), default=None, help="only reads on or after this day (Dutch time)"
)
@click.option("--user", default=None, metavar="NAME", help="only the reads by this user")
@json_option
@pass_traject
def reads_command(
    traject: TrajectContext,
    person_ref: str | None,
    since: date | None,
    user: str | None,
    as_json: bool,
) -> None:
    """List the recorded reads of special-category data (GDPR Art. 9), oldest first.

    Each SpecialCategoryRead says when, whose values, read by whom, with which command, which
    fields and for which purpose. The reads hold no personal data: no master key is needed.

    \b
    Example:
      traject audit reads --since 2026-01-01
      traject audit reads --user r.jansen --json
    """
    ledger = _ledger(traject)
    person_id = ledger.resolve_person(person_ref) if person_ref else None
    reads = ledger.special_reads(person_id=person_id, since=since, user=user)
    if _wants_json(traject, as_json):
        traject.emit("", render.reads_json(reads), as_json=True)
        return
    from commands import tables  # noqa: PLC0415 - rich only when shown

    traject.console.print(tables.reads_table(reads, "Reads of special-category data"))


# --- replay -------------------------------------------------------------------------------------


@group.command("replay", context_settings=REPLAY_SETTINGS)
@click.option(
    "--as-known-at",
    type=KnownAtMoment(),
    required=True,
    help=f"the past moment (not in the future): {MOMENT_FORMS}",
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
@click.option("--json", "as_json", is_flag=True, help="changes nothing: the result is JSON")
@pass_traject
def replay_command(
    traject: TrajectContext, as_known_at: datetime, command: tuple[str, ...], as_json: bool
) -> None:
    """Run a report or timeline COMMAND as the ledger knew it at a past moment, with proof.

    COMMAND is any read command that takes --as-known-at and --format json (every `traject
    report …` and `traject timeline`); give it without those two options. Prints JSON:
    `command` (COMMAND's words as given, with a report's --on left to its default given as
    the day it counted: the day of --as-known-at), `result` (the command's own JSON) and
    `replay`: the moment, the SHA-256 digest of the result (without its `basis`) as canonical
    JSON, the last notification id recorded by then, the rule version, and the smallest stored
    checkpoint that covers that id (or null).

    A user who may not catch read models up (traject_auditor) is refused when a read model
    the report reads has not counted an event recorded by then: have staff run the report.

    A timeline shows special-category values only when given --purpose, and records the read
    as `audit replay timeline` (see `traject timeline`).

    \b
    Example:
      traject audit replay --as-known-at 2024-07-01T00:00 report outflow --period 2024H1
    """
    del as_json  # accepted, as by every audit command (before COMMAND)
    root = click.get_current_context().find_root()
    path, target = resolve(root, command)
    check_replayable(path, target, command, "replayed")
    root.meta[READ_VIA] = "audit replay"  # a timeline's record of a read names the replay
    command = with_report_day(target, command, as_known_at)  # the day it counted, said
    result, block = replay(root, traject.reader, command, as_known_at)
    traject.emit("", {"command": list(command), "result": result, "replay": block}, as_json=True)


from commands.evidence import evidence_command, verify_pack_command  # noqa: E402 - AMIF evidence packs

group.add_command(evidence_command)
group.add_command(verify_pack_command)
