"""Dutch municipalities by CBS gemeentecode and name: dated reference data, read from ledger/data.

Municipalities merge (*herindeling*), so the list is versioned by the year whose 1 January
division it describes. Each list is a CSV file ``ledger/data/cbs_gemeenten_<year>.csv``
(``code,name``, the names as CBS writes them, e.g. ``'s-Gravenhage``, ``Bergen (NH.)``); the
municipalities dissolved since are kept in ``cbs_gemeenten_opgeheven.csv`` with the date they
ended and the code they merged into, so that old events still show a name.

Source: CBS, *Gemeentelijke indeling op 1 januari 2025* (342 municipalities). The file was
compiled offline from the 1 January 2022 division as published in the open-source
``minvws/nl-covid19-data-dashboard`` (``packages/common/src/data/gm.ts``, 345 municipalities),
with the later herindelingen applied: Weesp into Amsterdam (24 March 2022) and Brielle,
Hellevoetsluis and Westvoorne into Voorne aan Zee (GM1992, 1 January 2023). 2024 and 2025 brought
no changes. A new year's list is a new file plus a line in ``LISTS``; nothing else changes.

:func:`resolve` turns what a user types (a code, a name in any case, ``Den Haag``, ``Den Bosch``,
a name without its CBS suffix such as ``Hengelo``) into the code.
"""

from __future__ import annotations

import csv
import difflib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

from ledger.errors import TrajectError

LISTS: dict[int, str] = {2025: "cbs_gemeenten_2025.csv"}
"""The year of each 1 January division → its data file (the newest is the default)."""
DISSOLVED_FILE = "cbs_gemeenten_opgeheven.csv"
SOURCE = (
    "CBS Gemeentelijke indeling op 1 januari {year} (compiled from the 2022 division in "
    "minvws/nl-covid19-data-dashboard, with the 2022-2023 herindelingen applied)"
)

ALIASES: dict[str, str] = {
    # common names beside the official ones (normalised by _key)
    "den haag": "GM0518",
    "the hague": "GM0518",
    "den bosch": "GM0796",
    "noordoost friesland": "GM1970",
    "zuidwest friesland": "GM1900",
    "tietjerksteradeel": "GM0737",
    "de friese meren": "GM1940",
}
_CODE = re.compile(r"^(?:GM)?(\d{4})$", re.IGNORECASE)
_SUFFIX = re.compile(r"\s*\([^)]*\)$")


class UnknownMunicipalityError(TrajectError):
    """A name or code that is not a municipality in the list (the message names close matches)."""


def _unknown(text: str, year: int, matches: list[str]) -> UnknownMunicipalityError:
    hint = f"; did you mean {' or '.join(matches)}?" if matches else ""
    return UnknownMunicipalityError(
        f"{text!r} is not a municipality in the CBS list of {year}: give a CBS code "
        f"such as GM0363 or a name such as Amsterdam{hint}"
    )


class AmbiguousMunicipalityError(TrajectError):
    """A short name that fits several municipalities (``Bergen``)."""

    def __init__(self, text: str, candidates: list[str]) -> None:
        super().__init__(f"{text!r} fits several municipalities: {', '.join(candidates)}")


@dataclass(frozen=True)
class Dissolved:
    """A municipality that no longer exists, and where it went."""

    code: str
    name: str
    ended_on: date
    merged_into: str


@dataclass(frozen=True)
class MunicipalityList:
    """The municipalities of one year's 1 January division, code → name."""

    year: int
    names: dict[str, str]

    @property
    def source(self) -> str:
        return SOURCE.format(year=self.year)

    def __len__(self) -> int:
        return len(self.names)

    def label(self, code: str) -> str:
        """``GM0363 Amsterdam``; a dissolved code says so; an unknown code stays as it is."""
        name = name_of(code, self.year)
        return f"{code} {name}" if name else code


def _read(filename: str) -> list[dict[str, str]]:
    text = resources.files("ledger").joinpath("data", filename).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def municipality_list(year: int | None = None) -> MunicipalityList:
    """The list of ``year`` (default: the newest).

    Raises:
        KeyError: there is no list for ``year``.
    """
    chosen = max(LISTS) if year is None else year
    rows = _read(LISTS[chosen])
    return MunicipalityList(chosen, {row["code"]: row["name"] for row in rows})


@cache
def dissolved() -> dict[str, Dissolved]:
    """Municipalities dissolved by a herindeling, by their former code."""
    return {
        row["code"]: Dissolved(
            row["code"], row["name"], date.fromisoformat(row["ended_on"]), row["merged_into"]
        )
        for row in _read(DISSOLVED_FILE)
    }


def name_of(code: str, year: int | None = None) -> str | None:
    """The name of ``code``: from the list, or ``Weesp (opgeheven 2022-03-24)`` when dissolved."""
    names = municipality_list(year).names
    if code in names:
        return names[code]
    gone = dissolved().get(code)
    if gone is not None:
        return f"{gone.name} (opgeheven {gone.ended_on.isoformat()})"
    return None


def _key(text: str) -> str:
    """Case, accents, apostrophes, hyphens, spacing folded: ``'s-Gravenhage`` → ``s gravenhage``."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).casefold()
    folded = re.sub(r"['’‘`]", "", folded).replace("-", " ")
    folded = re.sub(r"^gemeente\s+", "", folded.strip())
    return re.sub(r"\s+", " ", folded).strip()


@cache
def _index(year: int) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Exact keys → code, and short keys (CBS suffix dropped) → codes."""
    exact: dict[str, str] = {}
    short: dict[str, list[str]] = {}
    for code, name in municipality_list(year).names.items():
        exact[_key(name)] = code
        bare = _key(_SUFFIX.sub("", name))
        if bare != _key(name):
            short.setdefault(bare, []).append(code)
    for alias, code in ALIASES.items():
        exact.setdefault(alias, code)
    return exact, short


def resolve(text: str, year: int | None = None) -> str:
    """The CBS code of a municipality given by code (``GM0363``, ``gm0363``, ``0363``) or name.

    Names are matched without regard to case, accents, apostrophes or hyphens; ``Den Haag`` and
    ``Den Bosch`` work, and so does a name without its CBS suffix when only one municipality has
    it (``Hengelo`` for ``Hengelo (O.)``, but not ``Bergen``). A code of a dissolved
    municipality is accepted (its events keep their code).

    Raises:
        UnknownMunicipalityError: neither a code nor a name in the list (with close matches).
        AmbiguousMunicipalityError: a short name that fits several municipalities.
    """
    listing = municipality_list(year)
    stripped = text.strip()
    code_match = _CODE.match(stripped)
    if code_match:
        code = f"GM{code_match.group(1)}"
        if code in listing.names or code in dissolved():
            return code
        raise _unknown(stripped, listing.year, [])
    exact, short = _index(listing.year)
    key = _key(stripped)
    if key in exact:
        return exact[key]
    if key in short:
        codes = short[key]
        if len(codes) == 1:
            return codes[0]
        raise AmbiguousMunicipalityError(stripped, [listing.label(c) for c in sorted(codes)])
    for gone in dissolved().values():
        if _key(gone.name) == key:
            merged = listing.label(gone.merged_into)
            msg = (
                f"{stripped!r} was merged into {merged} on {gone.ended_on.isoformat()}: give "
                f"{gone.merged_into}, or {gone.code} for facts recorded under the old code"
            )
            raise UnknownMunicipalityError(msg)
    names = {_key(name): name for name in listing.names.values()}
    # a name's first words (``Nuenen`` of ``Nuenen, Gerwen en Nederwetten``), then close spellings
    starting = sorted(k for k in names if key and k.startswith((f"{key} ", f"{key},")))
    close = difflib.get_close_matches(key, list(names), n=3, cutoff=0.75)
    matches = list(dict.fromkeys([*starting, *close]))[:3]
    raise _unknown(stripped, listing.year, [names[k] for k in matches])


def label(code: str | None) -> str | None:
    """``GM0363 Amsterdam`` for a code (None stays None)."""
    return None if code is None else municipality_list().label(code)
