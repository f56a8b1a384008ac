"""The candidate finder: active clients matching a vacancy's occupation, language and rung.

The ``candidates`` read model keeps ``ProfileUpdated`` (occupational direction, education,
language level) and ``LanguageLevelAssessed`` (CEFR level) facts. On a date ``d``, for each
person on the **active caseload on d** (P1):

* **occupation** and **education** are the latest non-empty values of their profile updates
  with ``occurred_on <= d``;
* the **language level** is the CEFR level of the latest ``LanguageLevelAssessed`` or profile
  update that states one (any skill; a later stream version wins a tie);
* the **rung** is the latest Participatieladder rung (P1's).

Filters: ``occupation`` and ``education`` match case-insensitively as a part of the text
(``zorg`` finds ``zorg en welzijn``); ``min_language`` and ``min_rung`` need a known level or
rung at or above the minimum, in CEFR order (pre-A1 < A1 < A2 < B1 < B2 < C1 < C2). No personal
field is read: the result names persons by id only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

import orjson

from ledger import events as ev
from ledger.values import Cefr
from projections.base import (
    TEXT,
    Column,
    Projection,
    Tx,
    Views,
    catch_up,
    collector_paused,
    known_at_clause,
    timestamp_text,
)
from projections.caseload import CASELOAD, caseload
from projections.duty import combined_basis
from projections.spans import holding, refresh_spans, span_table

CEFR_ORDER: tuple[str, ...] = tuple(level.value for level in Cefr)
"""CEFR levels from low to high."""


class CandidatesProjection(Projection):
    name = "candidates"
    kinds: ClassVar[Mapping[type[ev.TrajectEvent], tuple[str, ...]]] = {
        ev.ProfileUpdated: ("occupation_direction", "education", "language_level"),
        ev.LanguageLevelAssessed: ("cefr",),
    }
    version = 2  # candidates_spans: each person's profile over the dates
    fact_indexes = (("occurred_on",),)
    derived_tables = (
        span_table(
            "candidates_spans",
            Column("occupation", TEXT),
            Column("education", TEXT),
            Column("language_level", TEXT),
        ),
    )
    derived_cost = 0.6  # each fact's payload decoded and folded (measured on 1M events)

    def fact_values(self, kind: str, payload: Mapping[str, Any]) -> tuple[Any, ...]:
        return ()

    def refresh(self, tx: Tx, stream_ids: set[str]) -> None:
        refresh_spans(tx, self, stream_ids, "kind, payload", fold=_fold, view=_profile)


CANDIDATES = CandidatesProjection()
PROFILE = ("occupation_direction", "education", "language_level")


def _apply(profile: dict[str, Any], kind: str, payload: str) -> None:
    """Fold one fact into a profile: its non-empty values replace the earlier ones."""
    values = orjson.loads(payload)
    if kind == "LanguageLevelAssessed":
        values = {"language_level": values["cefr"]}
    profile.update({k: v for k, v in values.items() if v})


def _fold(profile: dict[str, Any], row: Sequence[Any]) -> None:
    _apply(profile, str(row[2]), str(row[3]))


def _profile(profile: dict[str, Any]) -> tuple[str | None, ...] | None:
    """(occupation, education, language level), None when none is known."""
    values = tuple(profile.get(field) for field in PROFILE)
    return values if any(values) else None


@dataclass(frozen=True)
class Candidate:
    """One matching person: no personal fields, only the id and what the match rests on."""

    person_id: str
    municipality: str
    regisseurs: tuple[str, ...]
    rung: int | None
    language_level: str | None
    occupation: str | None
    education: str | None


@dataclass(frozen=True)
class CandidatesReport:
    """The candidates on ``on`` for the given criteria."""

    on: str
    as_known_at: str | None
    criteria: dict[str, Any]
    candidates: tuple[Candidate, ...]
    projections: tuple[str, ...]
    position: int
    rule_version: str
    digest: str | None


def cefr_rank(level: str | None) -> int:
    """The position of a CEFR level in :data:`CEFR_ORDER` (-1 for none)."""
    return CEFR_ORDER.index(level) if level in CEFR_ORDER else -1


def _contains(value: str | None, wanted: str | None) -> bool:
    return wanted is None or (value is not None and wanted.casefold() in value.casefold())


@collector_paused()
def find_candidates(
    views: Views,
    on: date,
    *,
    occupation: str | None = None,
    education: str | None = None,
    min_language: str | None = None,
    min_rung: int | None = None,
    municipality: str | None = None,
    as_known_at: datetime | None = None,
) -> CandidatesReport:
    """Active clients on ``on`` who match every given criterion (see the module docstring),
    sorted by person id.

    Raises:
        ValueError: ``min_language`` is not a CEFR level.

    Catches up the ``caseload`` and ``candidates`` read models first.
    """
    if min_language is not None and min_language not in CEFR_ORDER:
        msg = f"min_language must be one of {', '.join(CEFR_ORDER)}"
        raise ValueError(msg)
    rows = caseload(views, on, municipality=municipality, as_known_at=as_known_at)
    basis = combined_basis([catch_up(views, CASELOAD), catch_up(views, CANDIDATES)])
    known, params = known_at_clause(as_known_at)
    profiles: dict[str, dict[str, str]] = {}
    with views.transaction(commit=False) as tx:
        if as_known_at is None:
            spans_table = tx.table(CANDIDATES.derived_tables[0].name)
            for person, *values in tx.rows(
                f"SELECT person_id, occupation, education, language_level FROM {spans_table}"
                f" WHERE {holding()}",
                [on.isoformat(), on.isoformat()],
            ):
                profiles[str(person)] = {k: v for k, v in zip(PROFILE, values, strict=True) if v}
        else:
            facts = tx.table(CANDIDATES.facts_table.name)
            for stream_id, kind, payload in tx.rows(
                f"SELECT stream_id, kind, payload FROM {facts} WHERE {known} AND occurred_on <= ?"
                " ORDER BY stream_id, occurred_on, version",
                [*params, on.isoformat()],
            ):
                _apply(profiles.setdefault(str(stream_id), {}), str(kind), str(payload))
    found = []
    for row in rows:
        profile = profiles.get(row.person_id, {})
        level = profile.get("language_level")
        if not (
            _contains(profile.get("occupation_direction"), occupation)
            and _contains(profile.get("education"), education)
            and (min_language is None or cefr_rank(level) >= cefr_rank(min_language))
            and (min_rung is None or (row.rung is not None and row.rung >= min_rung))
        ):
            continue
        found.append(
            Candidate(
                person_id=row.person_id,
                municipality=row.municipality,
                regisseurs=row.regisseurs,
                rung=row.rung,
                language_level=level,
                occupation=profile.get("occupation_direction"),
                education=profile.get("education"),
            )
        )
    criteria = {
        "occupation": occupation,
        "education": education,
        "min_language": min_language,
        "min_rung": min_rung,
        "municipality": municipality,
    }
    return CandidatesReport(
        on=on.isoformat(),
        as_known_at=timestamp_text(as_known_at) if as_known_at else None,
        criteria=criteria,
        candidates=tuple(found),
        projections=basis.projections,
        position=basis.position,
        rule_version=CASELOAD.rule_version,
        digest=basis.digest,
    )
