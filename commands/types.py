"""Click parameter types for traject's values: dates, moments, BSN, codes, amounts and pairs.

Each type rejects bad input at parse time with a message that names the rule, so a typo is a
usage error (exit 2) and never reaches the ledger.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, get_args

import click

from ledger import events as ev
from ledger.aggregates import dutch_moment
from ledger.errors import TrajectError
from ledger.integrity import load_private_key, load_public_key
from ledger.municipalities import resolve
from ledger.values import (
    NUL_RULE,
    TEXT_MAX_LENGTH,
    CountryCode,
    GemeenteCode,
    normalise_bsn,
)


def pattern_of(annotated: Any) -> str:
    """The regular expression of an ``Annotated[str, StringConstraints(pattern=…)]`` type."""
    for candidate in get_args(annotated):
        for item in get_args(candidate)[1:] or (candidate,):
            if getattr(item, "pattern", None):
                return str(item.pattern)
    msg = f"{annotated} has no pattern"
    raise ValueError(msg)


PERIOD_DASH = re.compile(r"^([0-9]{4})-(?=[HhQq])")
"""The dash between a period's year and its half-year or quarter (``2024-H1``)."""
PATTERN_RULES: dict[str, tuple[str, str]] = {
    # pattern -> (what it is, an example); read from the ledger's own types, so a pattern
    # changed there cannot leave a stale description here
    pattern_of(GemeenteCode): ("a CBS municipality code: GM and 4 digits", "GM0622"),
    pattern_of(ev.PeriodText): ("a half-year: the year, H and 1 or 2", "2024H1"),
    pattern_of(CountryCode): (
        "an ISO 3166 alpha-2 country code (XXA: stateless, XXX: unknown)",
        "SY",
    ),
    pattern_of(ev.PersonRegistered.model_fields["v_number"].annotation): (
        "a V-nummer: 10 digits",
        "1234567890",
    ),
    pattern_of(ev.ProjectCode): (
        "a project code: a letter or digit, then letters, digits, - or _ (at most 40)",
        "MWP",
    ),
    pattern_of(ev.Sha256): ("a SHA-256 digest: 64 lowercase hex digits", "9f86d08…"),
    pattern_of(ev.ReportingPeriodText): (
        "a reporting period: a year, a half-year (H1, H2) or a quarter (Q1-Q4)",
        "2021H1",
    ),
}


DUTCH_MONTHS = (
    "januari", "februari", "maart", "april", "mei", "juni",
    "juli", "augustus", "september", "oktober", "november", "december",
)  # fmt: skip
MONTH_WORDS = {
    **{name: number for number, name in enumerate(DUTCH_MONTHS, start=1)},
    **{name[:3]: number for number, name in enumerate(DUTCH_MONTHS, start=1)},
    "mrt": 3,
    "okt": 10,
}
"""Month names as a Dutch caseworker writes them (``7 december 2026``, ``7 dec 2026``)."""


def day_first_date(text: str) -> date | None:
    """The date a Dutch writer means by ``text`` written day first (``7-12-2026``,
    ``07/12/2026``, ``7.12.2026``, ``7 december 2026``), or None: only to name it in a message,
    never to store it, as ``12-7-2026`` may mean 7 December to someone else."""
    numeric = re.fullmatch(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})", text)
    worded = re.fullmatch(r"(\d{1,2})\s+([a-z]+)\.?\s+(\d{4})", text.lower())
    try:
        if numeric:
            day, month, year = map(int, numeric.groups())
            return date(year, month, day)
        if worded and worded.group(2) in MONTH_WORDS:
            return date(int(worded.group(3)), MONTH_WORDS[worded.group(2)], int(worded.group(1)))
    except ValueError:
        return None
    return None


def year_first_hint(kind: click.ParamType[Any], value: Any, param: Any, ctx: Any) -> None:
    """Fail when ``value`` is a date written day first, naming its year-first form (month in
    words, so that a swapped day and month shows); return when it is not one."""
    meant = day_first_date(str(value).strip())
    if meant is not None:
        kind.fail(
            f"{value!r}: write the year first, as YYYY-MM-DD: for "
            f"{meant.day} {DUTCH_MONTHS[meant.month - 1]} {meant.year} that is "
            f"{meant.isoformat()}",
            param,
            ctx,
        )


class IsoDate(click.ParamType[date]):
    """A calendar date written year first, as YYYY-MM-DD (``2026-12-7`` is read as
    2026-12-07).

    A date written day first, as Dutch writers do (``7-12-2026``, ``7 december 2026``), is
    refused with the year-first form of the date it seems to mean, month in words, so that
    day and month can never be swapped without a word.
    """

    name = "date"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        text = str(value).strip()
        year_first = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
        if year_first:
            year, month, day = map(int, year_first.groups())
            if not year or not 1 <= month <= 12:
                what = f"month {month}" if year else "year 0"
                self.fail(f"{value!r} is not a date: there is no {what}", param, ctx)
            last = calendar.monthrange(year, month)[1]
            if not 1 <= day <= last:
                self.fail(
                    f"{value!r} is not a date: {DUTCH_MONTHS[month - 1]} {year} has days 1 to "
                    f"{last}",
                    param,
                    ctx,
                )
            return date(year, month, day)
        year_first_hint(self, value, param, ctx)
        self.fail(f"{value!r} is not a date: use YYYY-MM-DD, e.g. 2024-03-04", param, ctx)


MOMENT_FORMS = (
    "an ISO date-time (Dutch time unless it names an offset, such as +00:00 or Z) or a date "
    "(00:00 Dutch time, the start of that day)"
)
"""How a moment is written, for the help of the options that take one (:class:`IsoMoment`)."""


class IsoMoment(click.ParamType[datetime]):
    """A moment: an ISO date-time or a date (its start, 00:00), converted to UTC.

    A moment without an offset is Dutch time (Europe/Amsterdam, as the ledger's days are:
    :func:`ledger.aggregates.dutch_moment`), one with an offset or ``Z`` is taken as given.
    """

    name = "moment"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "DATETIME"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            given = value
        else:
            try:
                given = datetime.fromisoformat(str(value).strip())
            except ValueError:
                year_first_hint(self, value, param, ctx)
                self.fail(
                    f"{value!r} is not a date or date-time: use YYYY-MM-DD or "
                    "YYYY-MM-DDTHH:MM[:SS][+HH:MM], e.g. 2024-06-02T12:00",
                    param,
                    ctx,
                )
        moment = dutch_moment(given)
        problem = self.problem(moment, value)
        if problem is not None:
            self.fail(problem, param, ctx)
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            self.fail(f"{value!r} is outside the calendar a moment can hold", param, ctx)

    def problem(self, moment: datetime, value: Any) -> str | None:
        """The rule of the option ``moment`` (aware: as given, or in Dutch time) breaks, or None;
        ``value`` is the text it was read from."""
        return None


class KnownAtMoment(IsoMoment):
    """The moment of ``--as-known-at``: an :class:`IsoMoment` that is not in the future.

    What the ledger will know later is not known yet: a cut-off after now would count facts
    recorded after the command ran, so the same command would give other figures later.
    """

    def problem(self, moment: datetime, value: Any) -> str | None:
        if moment > datetime.now(UTC):
            return (
                f"{moment.isoformat()} is in the future; the ledger can only say what it knew "
                "up to now"
            )
        return None


class KeyFile(click.ParamType[bytes]):
    """A file holding an Ed25519 key in PEM (as `traject audit keygen` writes), read and
    checked at parse time: the private key to sign with, or a public key to verify with.

    The value is the file's bytes, so a bad key file fails before anything is written.
    """

    name = "file"

    def __init__(self, *, private: bool) -> None:
        self.private = private

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "FILE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> bytes:
        if isinstance(value, bytes):
            return value
        try:
            data = Path(value).read_bytes()
        except OSError as error:
            self.fail(f"{value}: cannot read the key file: {error.strerror}", param, ctx)
        try:
            (load_private_key if self.private else load_public_key)(data)
        except TrajectError as error:
            self.fail(f"{value}: {error}", param, ctx)
        return data


class BsnType(click.ParamType[str]):
    """A burgerservicenummer that passes the 11-proef, written with or without spaces or dots
    between its digits (1234.56.782); never echoed back in a message."""

    name = "bsn"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "BSN"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return normalise_bsn(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""The whole numbers a stored fact holds: its JSON numbers are 64-bit."""


def out_of_int64(number: int) -> str | None:
    """Why ``number`` cannot be stored in a fact (``too large: at most …``), or None."""
    if number > INT64_MAX:
        return f"too large: at most {INT64_MAX}"
    if number < INT64_MIN:
        return f"too small: at least {INT64_MIN}"
    return None


def _whole(kind: click.ParamType[int], value: Any, param: Any, ctx: Any) -> int:
    """``value`` as a whole number written in digits (with an optional sign), one a stored
    fact can hold."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = str(value).strip()
        if not re.fullmatch(r"[+-]?[0-9]+", text):
            kind.fail(f"{value!r} is not a whole number, e.g. 4", param, ctx)
        number = int(text)
    problem = out_of_int64(number)
    if problem is not None:
        kind.fail(f"{number} is {problem}", param, ctx)
    return number


class WholeNumber(click.types.IntParamType):
    """A whole number: ``three``, ``2.5`` or ``true`` fail saying so."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        return _whole(self, value, param, ctx)


class WholeNumberRange(click.IntRange):
    """A whole number within bounds (shown in the help as click shows a range)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        return super().convert(_whole(self, value, param, ctx), param, ctx)


def whole_number(minimum: int | None = None, maximum: int | None = None) -> click.ParamType[int]:
    """The type of a whole-number option: bounded when a bound is given."""
    if minimum is None and maximum is None:
        return WholeNumber()
    return WholeNumberRange(min=minimum, max=maximum)


class ShortText(click.ParamType[str]):
    """A short free text that is stored as given (stripped): not empty, at most 200 characters,
    no NUL character, as the catalog's ``Text`` fields (e.g. the purpose of a read)."""

    name = "text"
    limit = TEXT_MAX_LENGTH

    def __init__(self, what: str) -> None:
        self.what = what

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "TEXT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        if not text:
            self.fail(f"empty: give {self.what}", param, ctx)
        if len(text) > self.limit:
            self.fail(f"{len(text)} characters: at most {self.limit}", param, ctx)
        if "\x00" in text:
            self.fail(NUL_RULE, param, ctx)
        return text


class PatternType(click.ParamType[str]):
    """Text that must match one of the catalog's patterns (codes, periods, digests).

    A code written in capitals is also taken in small letters (``sy`` for SY, ``2024h1`` for
    2024H1): there is no other code it could mean.
    """

    name = "text"

    def __init__(self, pattern: str, *, upper: bool = False) -> None:
        self.pattern = pattern
        self.upper = upper
        self.period = pattern in ev.PERIOD_PATTERNS  # a half-year or quarter: 2024-H1 taken
        self.rule, self.example = PATTERN_RULES.get(pattern, (f"text matching {pattern}", ""))

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str | None:
        return self.example if self.example and len(self.example) <= 8 else None

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).strip()
        if self.period:  # as the reports take it: 2024-H1 is 2024H1
            text = PERIOD_DASH.sub(r"\1", text)
        if self.upper or (
            not re.match(self.pattern, text) and re.match(self.pattern, text.upper())
        ):
            # a code in capitals typed in small letters (sy, 2024h1) is that code
            text = text.upper()
        if not re.match(self.pattern, text):
            example = f", e.g. {self.example}" if self.example else ""
            self.fail(f"{value!r} is not {self.rule}{example}", param, ctx)
        return text


class AliasChoice(click.Choice[str]):
    """A case-insensitive choice that also takes other words for its values (``v`` and
    ``vrouw`` for ``f``), read as the value they stand for."""

    def __init__(self, choices: list[str], aliases: dict[str, str]) -> None:
        super().__init__(choices, case_sensitive=False)
        self.aliases = aliases

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        given = self.aliases.get(str(value).strip().lower(), value)
        return str(super().convert(given, param, ctx))


class MunicipalityType(click.ParamType[str]):
    """A municipality by CBS code (GM0363) or name (Amsterdam, 's-Hertogenbosch, Den Bosch).

    Converts to the CBS code; a code or name that is not in the dated CBS list of
    ``ledger.municipalities`` fails (a name with its close matches), so a typo is refused
    before it is recorded. The code of a dissolved municipality (GM0457 Weesp) is accepted,
    for facts that happened before it merged.
    """

    name = "municipality"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "GM0363|NAME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return resolve(str(value))
        except TrajectError as error:
            self.fail(str(error), param, ctx)


def dutch_number(kind: click.ParamType[Any], value: str, param: Any, ctx: Any) -> str:
    """``value`` as a number is written in Python, read as a Dutch caseworker writes it.

    A leading euro sign is left out (``€ 12,50``); a decimal comma is a decimal point
    (``12,5``); dots between groups of three digits are thousands separators when the writing
    has only one reading (``1.250,50``, ``1.250.000``). ``1.250`` and ``1,250`` have two (one
    thousand two hundred and fifty, or one and a quarter, as the writer is Dutch or English):
    refused, never guessed.
    """
    text = value.strip().removeprefix("€").strip()
    if re.fullmatch(r"[1-9]\d{0,2}(\.\d{3})+,\d+|[1-9]\d{0,2}(\.\d{3}){2,}", text):
        return text.replace(".", "").replace(",", ".")  # 1.250,50 and 1.250.000
    ambiguous = re.fullmatch(r"([1-9]\d{0,2})[.,](\d{3})", text)
    if ambiguous:
        whole, part = ambiguous.groups()
        fraction = str(Decimal(f"{whole}.{part}").normalize()).replace(".", ",")
        kind.fail(
            f"{value!r} can be read two ways: write {whole}{part} if the {text[len(whole)]!r} "
            f"separates thousands, or {fraction} if it marks the decimals",
            param,
            ctx,
        )
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")  # Dutch decimal comma
    return text


class DecimalType(click.ParamType[Decimal]):
    """An exact amount or number of hours, optionally bounded.

    Exponent notation is read as the number it writes (1e3, 2.5E2) and kept as its plain
    decimal (1000, 250), as a JSON number of an import is: a stored value reads as written.
    """

    name = "decimal"

    def __init__(self, minimum: Decimal | int | None = None, maximum: Decimal | int | None = None):
        self.minimum = minimum
        self.maximum = maximum

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "NUMBER"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Decimal:
        if isinstance(value, Decimal):
            number = value
        else:
            text = dutch_number(self, str(value), param, ctx)
            try:
                number = Decimal(text)
            except InvalidOperation:
                number = Decimal("NaN")
            if not number.is_finite():
                self.fail(f"{value!r} is not a number, e.g. 12.5", param, ctx)
            exponent = number.as_tuple().exponent
            if isinstance(exponent, int) and exponent > 0:  # 1e3: kept as 1000, written in full
                try:
                    number = number.quantize(Decimal(1))
                except InvalidOperation:
                    self.fail(f"{value!r} has more digits than a number here takes", param, ctx)
        if self.minimum is not None and number < self.minimum:
            self.fail(f"{value!r} is below the minimum {self.minimum}", param, ctx)
        if self.maximum is not None and number > self.maximum:
            self.fail(f"{value!r} is above the maximum {self.maximum}", param, ctx)
        return number


class KeyCount(click.ParamType[tuple[str, int]]):
    """KEY=N, repeated to build a mapping such as targets per municipality."""

    name = "key=n"

    def __init__(self, key_type: click.ParamType[str]) -> None:
        self.key_type = key_type

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "KEY=N"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, int]:
        if isinstance(value, tuple):
            return value
        key, sep, count = str(value).partition("=")
        if not sep or not count.strip().isdigit():
            self.fail(f"{value!r} is not KEY=N with a whole number N, e.g. GM0622=40", param, ctx)
        return self.key_type.convert(key, param, ctx), int(count)


DATE_FIELD = "on"
"""How the command line names the date a fact happened (``occurred_on``): ``--on``, and ``on``
in ``traject correct --set on=…``."""


class FieldValue(click.ParamType[tuple[str, str | None]]):
    """FIELD=VALUE for a correction; an empty VALUE clears an optional field.

    FIELD is the event's field or its ``traject record`` option (``housing-kind``,
    ``--housing-kind``); ``on`` is the date the fact happened (``occurred_on``).
    """

    name = "field=value"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "FIELD=VALUE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, str | None]:
        if isinstance(value, tuple):
            return value
        name, sep, text = str(value).partition("=")
        field = name.strip().removeprefix("--").replace("-", "_")
        if field == DATE_FIELD:  # the date as `traject record … --on` gives it
            field = "occurred_on"
        if not sep or not re.fullmatch(r"[a-z][a-z0-9_]*", field):
            self.fail(f"{value!r} is not FIELD=VALUE, e.g. rung=4", param, ctx)
        return field, (text if text != "" else None)


class EvidenceRef(click.ParamType[dict[str, str]]):
    """A supporting document as KIND:REFERENCE:SHA256 (the document itself stays out)."""

    name = "evidence"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "KIND:REF:SHA256"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> dict[str, str]:
        if isinstance(value, dict):
            return value
        kind, _, rest = str(value).partition(":")
        reference, _, digest = rest.rpartition(":")
        digest = digest.strip().lower()
        if not kind.strip() or not reference.strip():
            self.fail(
                f"{value!r} is not KIND:REFERENCE:SHA256, e.g. contract:ZK-2024-17:9f86d08…",
                param,
                ctx,
            )
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            self.fail(f"{value!r}: the SHA-256 must be 64 hex digits", param, ctx)
        return {"kind": kind.strip(), "reference": reference.strip(), "sha256": digest}


class OptionalArguments(click.Argument):
    """Any number of positional values (``nargs=-1``), shown as ``[NAME]...`` in the usage line
    and named ``NAME`` in a refusal (click would quote the whole usage form)."""

    def get_error_hint(self, ctx: click.Context | None) -> str:
        return f"'{(self.metavar or self.name or '').strip('[].').upper()}'"
