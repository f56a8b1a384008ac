"""P12 AMIF indicators and P13 cost per participant: the read model over the AMIF facts.

The read model keeps every revision of the AMIF participation facts (on the person streams,
with ``project_id``) and of the project-stream facts (registration, time sheets, costs,
declarations, management verifications) in ``amif_facts``, with the project code in its own
column. The query selects one project's fact revisions as known at a moment and counts them
with :func:`ledger.amif.compute`, the same function an evidence pack is rechecked with; the
definitions are in docs/reports.md (P12, P13).

Each figure carries the references (``stream_id:version``) of every stored event behind it: the
original events and the corrections that gave them the values they count with.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from operator import attrgetter
from typing import Any, ClassVar

import orjson

from ledger import audit
from ledger import events as ev
from ledger.amif import FACT_FIELDS, AmifFigures, Fact, NoProjectError, compute, project_of
from ledger.amif_rules import INDICATOR_SETS, IndicatorSet, indicator_set
from ledger.application import TrajectoryLedger
from ledger.errors import TrajectError
from ledger.evidence import EvidencePackError, PackInput, build_pack
from ledger.values import Period
from projections.base import (
    TEXT,
    Column,
    Projection,
    Views,
    catch_up,
    checked_on_failure,
    collector_paused,
    not_covered,
    timestamp_text,
)


class UnknownProjectError(TrajectError):
    def __init__(self, code: str) -> None:
        super().__init__(f"no AMIF project {code} is registered (as known at the moment asked)")


class NoIndicatorSetError(TrajectError):
    def __init__(self, project: str, fund: str, period: Period) -> None:
        starts = [item.valid_from for item in INDICATOR_SETS if item.fund.value == fund]
        since = f"its first is in force from {min(starts)}" if starts else "it has none"
        super().__init__(
            f"--period: {period} begins on {period.start}, before any indicator set of "
            f"{project}'s fund {fund} was in force ({since}): give a period that begins on "
            "or after it"
        )


def indicator_set_of(project: str, period: Period) -> Callable[[str, date], IndicatorSet]:
    """``amif_rules.indicator_set`` for ``compute``, refusing a period that begins before the
    fund's first indicator set with a message instead of a KeyError."""

    def choose(fund: str, on: date) -> IndicatorSet:
        try:
            return indicator_set(fund, on)
        except (KeyError, ValueError):
            raise NoIndicatorSetError(project.upper(), fund, period) from None

    return choose


class AmifProjection(Projection):
    name = "amif"
    # the "… of which" sub-indicators count of the participants (indicator sets ….2026.2): the
    # rows are the same, the figures change (projections/definitions.py)
    version = 2
    kinds: ClassVar[Mapping[type[ev.TrajectEvent], tuple[str, ...]]] = {
        getattr(ev, kind): fields for kind, fields in FACT_FIELDS.items()
    }
    fact_columns = (Column("project", TEXT, nullable=False),)
    fact_indexes = (("project",),)

    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        return (project_of(kind, payload),)


AMIF = AmifProjection()


@dataclass(frozen=True)
class AmifReport:
    """P12/P13 figures of one project and period, with what they were computed from."""

    figures: AmifFigures
    facts: tuple[Fact, ...]  # every fact of the project as counted
    as_known_at: str | None
    position: int
    rule_version: str
    digest: str | None


def pseudonym_key(app: TrajectoryLedger, project: str) -> bytes:
    """The per-project key of participant pseudonyms, derived from the ledger's keyed-hash key.

    The same person gets the same pseudonym in every pack of the project, and different ones
    across projects; computing one from a person id needs the master key. The pseudonym keeps
    the person id out of the tables only: a pack's proofs carry each fact's stream id, so a
    pack links each pseudonym to its person id, and packs link through it (docs/amif.md).
    """
    return hmac.new(
        app.keyring.bsn_key, f"traject amif pseudonym v1|{project.upper()}".encode(), "sha256"
    ).digest()


def pseudonym(key: bytes, person_id: str) -> str:
    """``P-`` and 16 hex digits of HMAC-SHA256(key, person id)."""
    return "P-" + hmac.new(key, person_id.encode(), hashlib.sha256).hexdigest()[:16]


def _facts(views: Views, project: str, as_known_at: datetime | None) -> list[Fact]:
    """The project's facts as known at the moment, each with its original and corrections.

    One read of every revision known by the moment: the revisions current at it are the facts,
    and the revisions a correction had closed by then give each fact's chain of corrections.
    """
    code = project.upper()
    stream = str(ev.project_stream_id(code))
    table = views.table(AMIF.facts_table.name)
    cut = None if as_known_at is None else timestamp_text(as_known_at)
    with views.transaction(commit=False) as tx:
        rows = tx.all(
            "SELECT stream_id, version, revision, kind, occurred_on, municipality, known_to,"
            f" superseded_by, payload FROM {table} WHERE (project = ? OR stream_id = ?)"
            + ("" if cut is None else " AND known_from <= ?"),
            [code, stream] if cut is None else [code, stream, cut],
        )
    corrections: dict[tuple[str, int], dict[int, int]] = {}
    current = []
    for row in rows:
        known_to, superseded_by = row[6], row[7]
        if superseded_by is not None:
            corrections.setdefault((str(row[0]), int(row[1])), {})[int(row[2])] = int(superseded_by)
        if known_to is None or (cut is not None and str(known_to) > cut):
            current.append(row)
    facts: list[Fact] = []
    # the dates and payloads are taken from the stored events as they are
    with checked_on_failure(views, lambda: {str(row[0]) for row in current}):
        for stream_id, version, revision, kind, occurred_on, municipality, _, _, payload in current:
            key = (str(stream_id), int(version))
            refs: tuple[str, ...] = (f"{stream_id}:{version}",)
            if revision:  # a corrected fact: the corrections that gave it its values
                chain = corrections.get(key, {})
                refs += tuple(f"{stream_id}:{chain[r]}" for r in range(int(revision)) if r in chain)
            facts.append(
                Fact(
                    stream_id=key[0],
                    version=key[1],
                    kind=str(kind),
                    occurred_on=_day(str(occurred_on)),
                    municipality=str(municipality),
                    payload=orjson.loads(payload),
                    refs=refs,
                )
            )
    facts.sort(key=_fact_order)
    return facts


_day = lru_cache(maxsize=8192)(date.fromisoformat)  # few distinct dates: parse each once
_fact_order = attrgetter("stream_id", "version")


@collector_paused()
def amif(
    views: Views,
    project: str,
    period: Period,
    *,
    as_known_at: datetime | None = None,
    participants: bool = False,
) -> AmifReport:
    """The P12 indicators and P13 cost figures of ``project`` for ``period``.

    Args:
        project: the project code (case does not matter).
        period: the reporting period (a year, half-year or quarter); cumulative values run
            from the start of the project to its last day.
        as_known_at: count only what was recorded by this moment (corrections recorded later
            are ignored).
        participants: also make each participant's evidence row (``figures.participants``,
            empty without it), which only an evidence pack shows.

    Raises:
        UnknownProjectError: no such project is registered (as known at the moment).

    Catches up first, so the answer includes every stored event.
    """
    result = catch_up(views, AMIF)
    facts = _facts(views, project, as_known_at)
    try:
        # the payloads are taken from the stored events as they are
        with checked_on_failure(
            views,
            lambda: {fact.stream_id for fact in facts},
            (ValueError, TypeError, KeyError, ArithmeticError),
        ):
            figures = compute(
                facts,
                project,
                period,
                indicator_set_of(project, period),
                participants=participants,
            )
    except NoProjectError:
        raise UnknownProjectError(project.upper()) from None
    return AmifReport(
        figures=figures,
        facts=tuple(facts),
        as_known_at=timestamp_text(as_known_at) if as_known_at else None,
        position=result.position,
        rule_version=AMIF.rule_version,
        digest=result.digest,
    )


def _require_every_fact(views: Views, as_known_at: datetime | None) -> None:
    """Refuse a pack counted from the read model as it stands (a user who may only read it)
    when events recorded by ``as_known_at`` (or by now) lie after its position: their facts
    would be missing from the pack, and every proof in it would still verify."""
    missing = not_covered(views, as_known_at, "a pack", names=[AMIF.name])
    if missing is not None:
        msg = (
            f"{missing}: no evidence pack was written. Run `traject audit evidence` as staff "
            "or the owner, or have them run `traject report amif` first (it catches the read "
            "model up)"
        )
        raise EvidencePackError(msg)


def evidence_pack(
    views: Views,
    project: str,
    period: Period,
    *,
    checkpoint_text: bytes,
    public_key_pem: bytes,
    sign_key_pem: bytes | None = None,
    as_known_at: datetime | None = None,
) -> bytes:
    """The AMIF evidence pack (zip bytes) of ``project`` and ``period`` (docs/amif.md).

    The figures are those of :func:`amif` as known at ``as_known_at``, by default the moment
    the pack is built: a pack always states the moment its knowledge is of,
    and ``verify-pack`` checks that no fact it proves was recorded after it. Given that
    moment, the same ledger gives the same pack again. Every stored event behind the figures
    is proven against the signed checkpoint. With ``sign_key_pem`` (the issuer's Ed25519
    private key) the pack's manifest is signed.

    Raises:
        UnknownProjectError: no such project.
        ledger.evidence.EvidencePackError: the signing key is not an Ed25519 private key; the
            checkpoint is not signed by the key, does not match the log, or does not cover
            every fact behind the figures; the read model, which this user may not catch up,
            does not hold every fact known at the moment.
    """
    if as_known_at is None:
        as_known_at = datetime.now(UTC)
    report = amif(views, project, period, as_known_at=as_known_at, participants=True)
    _require_every_fact(views, as_known_at)
    key = pseudonym_key(views.app, report.figures.project)
    inputs = PackInput(
        figures=report.figures,
        facts=report.facts,
        as_known_at=report.as_known_at,
        position=report.position,
        rule_version=report.rule_version,
        digest=report.digest,
        checkpoint_text=checkpoint_text,
        public_key_pem=public_key_pem,
        pseudonym=lambda person: pseudonym(key, person),
        sign_key_pem=sign_key_pem,
    )
    return build_pack(inputs, audit.rows(views.app))
