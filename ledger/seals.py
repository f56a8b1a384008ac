"""Sealed reports: canonical JSON and its digest, the rules a seal keeps, and the comparison of
a sealed result with a restated one (docs/reports.md, "Sealed reports and restatements").

A report's JSON is compared figure by figure: both documents are flattened to paths → values
(``flatten_pair``) and the values compared. A list of objects is keyed by its rows' labels
rather than by position, so a row added or dropped does not shift every row after it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from ledger import events as ev
from ledger.errors import SealAlteredError

PERSON_KEYS = frozenset({"person_id", "bsn", "external_ref"})
"""Keys that identify a person: a sealed result must hold none of them."""

IGNORED_PATHS = frozenset({"as_known_at"})
"""Paths not compared: the knowledge cut-off differs between the two runs by design."""

Scalar = str | int | float | bool | None


def canonical_json(data: Any) -> bytes:
    """``data`` as canonical JSON: orjson's compact form with sorted keys (UTF-8)."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def canonical_digest(data: Any) -> str:
    """SHA-256 (hex) of ``data`` as canonical JSON."""
    return hashlib.sha256(canonical_json(data)).hexdigest()


def without_basis(result: Any) -> Any:
    """A report's result without its ``basis`` (the read model as it stands now, which moves
    as events are added, while the answer as known at a moment does not)."""
    if isinstance(result, dict):
        return {k: v for k, v in result.items() if k != "basis"}
    return result


def person_paths(data: Any, path: str = "") -> list[str]:
    """Where ``data`` holds a key that identifies a person (``PERSON_KEYS``)."""
    found: list[str] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            here = f"{path}.{key}" if path else str(key)
            if key in PERSON_KEYS:
                found.append(here)
            found += person_paths(value, here)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += person_paths(value, f"{path}[{index}]")
    return found


READ_MODELS = frozenset(
    {
        *("amif", "candidates", "caseload", "cohort", "guidance", "helprequests"),
        *("housing", "inburgering", "ladder", "outflow", "pvt", "reunification"),
    }
)
"""The names of the read models a report is counted from (``projections.PROJECTIONS``, which
the ledger may not import; tests/test_catalog.py keeps the two the same)."""


def read_models_problem(event: ev.ReportSealed) -> tuple[str, str] | None:
    """The rule ``event``'s ``read_models`` breaks, as (field, rule), or None: it may name only
    read models this ledger has (:data:`READ_MODELS`). Checked when a seal is recorded or
    imported; a seal of class version 1 names none."""
    unknown = sorted(set(event.read_models or ()) - READ_MODELS)
    if not unknown:
        return None
    named = ", ".join(unknown)
    return (
        "read_models",
        f"names only read models of this ledger ({', '.join(sorted(READ_MODELS))}); "
        f"{named} {'is' if len(unknown) == 1 else 'are'} not one",
    )


def seal_problem(event: ev.ReportSealed) -> tuple[str, str] | None:
    """The first rule ``event`` breaks, as (field, rule), or None.

    Its result is a JSON object in canonical form, ``digest`` is its SHA-256, and it names no
    person. Checked for every seal, made by ``traject report seal`` or imported, and again
    whenever a seal is read back (``check_seals``) or the log verified (``stored_seal_problem``):
    a seal that breaks it was altered after it was recorded.
    """
    return _figures_problem(event.result_json, event.digest)


def _figures_problem(result_json: str, digest: str) -> tuple[str, str] | None:
    try:
        result = orjson.loads(result_json)
    except orjson.JSONDecodeError:
        return "result_json", "must be a JSON object"
    if not isinstance(result, dict):
        return "result_json", "must be a JSON object"
    if canonical_json(result) != result_json.encode():
        return "result_json", "must be canonical JSON (keys sorted, compact)"
    if canonical_digest(result) != digest:
        return "digest", "must be the SHA-256 of result_json"
    personal = person_paths(result)
    if personal:
        return "result_json", f"a sealed report holds no personal data; found {personal[0]}"
    return None


def stored_seal_problem(state: bytes) -> tuple[str, str] | None:
    """``seal_problem`` of a seal's stored bytes, read as they are (``traject audit verify``
    reads rows without the mapper, so that a row the model would refuse is named too)."""
    try:
        data = orjson.loads(state)
    except orjson.JSONDecodeError:
        return "state", "is not JSON"
    if not isinstance(data, dict):
        return "state", "must be a JSON object"
    result_json, digest = data.get("result_json"), data.get("digest")
    if not isinstance(result_json, str) or not isinstance(digest, str):
        return "state", "must hold result_json and digest as text"
    return _figures_problem(result_json, digest)


def check_seals(seals: Iterable[ev.ReportSealed]) -> None:
    """Refuse to vouch for seals whose stored figures break ``seal_problem``.

    Every seal is checked when it is recorded or imported, so one that fails now was altered
    after it was recorded: its figures are not the ones it sealed.

    Raises:
        SealAlteredError: naming each such seal (all of one municipality's stream).
    """
    altered = [(seal, problem) for seal in seals if (problem := seal_problem(seal)) is not None]
    if altered:
        municipality = altered[0][0].municipality
        raise SealAlteredError(
            municipality, [(seal.originator_version, *problem) for seal, problem in altered]
        )


# --- comparing two results ----------------------------------------------------------------------


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def _is_label(value: Any) -> bool:
    return value is None or isinstance(value, str | bool)


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _row_key(row: Mapping[str, Any], names: Sequence[str]) -> str:
    return ",".join(f"{n}={_text(row[n])}" for n in names if row.get(n) is not None)


def row_labels(lists: Sequence[list[Any]]) -> list[str] | None:
    """The label fields that key the rows of ``lists`` (the same list in each document).

    Labels are the fields that are text, true/false or null in every row; the key is the
    shortest run of them, in name order, that tells the rows of each list apart. None when the
    rows are not all objects or no run of labels tells them apart: then rows are keyed by
    position.
    """
    rows = [row for items in lists for row in items]
    if not rows or not all(isinstance(row, dict) for row in rows):
        return None
    names = sorted({name for row in rows for name in row})
    labels = [n for n in names if all(_is_label(row.get(n)) for row in rows)]
    for size in range(1, len(labels) + 1):
        chosen = labels[:size]
        if all(len({_row_key(row, chosen) for row in items}) == len(items) for items in lists):
            return chosen
    return None


def _walk(values: list[Any], path: str, out: list[dict[str, Any]]) -> None:
    present = [v for v in values if v is not MISSING]
    if present and all(isinstance(v, dict) for v in present):
        names = list(dict.fromkeys(name for v in present for name in v))
        for name in names:
            here = f"{path}.{name}" if path else str(name)
            _walk([MISSING if v is MISSING else v.get(name, MISSING) for v in values], here, out)
        return
    if present and all(isinstance(v, list) for v in present):
        labels = row_labels(present)
        keyed: list[dict[str, Any]] = []
        for v in values:
            rows = [] if v is MISSING else v
            if labels is None:
                keyed.append({str(i): row for i, row in enumerate(rows)})
            else:
                keyed.append({_row_key(row, labels): _drop(row, labels) for row in rows})
        for key in dict.fromkeys(k for rows in keyed for k in rows):
            _walk([rows.get(key, MISSING) for rows in keyed], f"{path}[{key}]", out)
        return
    for value, flat in zip(values, out, strict=True):
        if value is not MISSING:
            scalar = value if _is_scalar(value) else canonical_json(value).decode()
            flat[path] = scalar


def _drop(row: dict[str, Any], labels: Sequence[str]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in labels}


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def flatten_pair(original: Any, restated: Any) -> tuple[dict[str, Scalar], dict[str, Scalar]]:
    """Both documents as paths → values, with the same keys for the same rows.

    A path is the object keys joined by dots; a list of rows adds ``[label=value,…]`` (the
    row's labels, see ``row_labels``) or ``[index]``. Empty objects and lists give no path.
    """
    out: list[dict[str, Any]] = [{}, {}]
    _walk([original, restated], "", out)
    return out[0], out[1]


@dataclass(frozen=True)
class Change:
    """One figure that differs: ``status`` is changed, added (only restated) or removed."""

    path: str
    original: Scalar
    restated: Scalar
    status: Literal["changed", "added", "removed"]


@dataclass(frozen=True)
class Comparison:
    changes: tuple[Change, ...]
    unchanged: int


def _same(a: Scalar, b: Scalar) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b and (a is None) == (b is None)


def compare(original: Any, restated: Any) -> Comparison:
    """Every figure of ``restated`` that differs from ``original``, and how many do not.

    The results' ``basis`` and the ``as_known_at`` they echo are not compared.
    """
    before, after = flatten_pair(without_basis(original), without_basis(restated))
    changes: list[Change] = []
    unchanged = 0
    for path in dict.fromkeys([*before, *after]):
        if path in IGNORED_PATHS:
            continue
        if path not in after:
            changes.append(Change(path, before[path], None, "removed"))
        elif path not in before:
            changes.append(Change(path, None, after[path], "added"))
        elif _same(before[path], after[path]):
            unchanged += 1
        else:
            changes.append(Change(path, before[path], after[path], "changed"))
    return Comparison(tuple(changes), unchanged)
