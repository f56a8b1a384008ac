"""The vocabulary of failure: every error a user can cause, with a complete message."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from datetime import date
    from uuid import UUID

    from pydantic import ValidationError
    from pydantic_core import ErrorDetails


class TrajectError(Exception):
    """A refusal the user can act on. The message names the field and the rule.

    The command line exits with status 1 for these: the input is well-formed, and the ledger
    refuses it for what it holds (a domain rule, a missing person) or cannot be used (a wrong
    master key, an unreachable database). Malformed input is an :class:`InputError`.
    """


class InputError(TrajectError):
    """The input itself is malformed, whatever the ledger holds: a field value an event's model
    refuses, a reference too short to look up. The command line exits with status 2 (bad
    input), as for a value its options refuse."""


FieldLabel = Callable[[str, str], str]
"""How a message names a field: (the event kind the message is about, the field) → the name
shown. The ledger names the stored field; the command line names the option it was typed as
(``commands.fields.field_label``)."""


def same_name(kind: str, field: str) -> str:
    """The stored field's own name (the ledger's messages, an import's rejects)."""
    return field


class ValidationFailedError(InputError):
    """Input did not satisfy an event's field types or constraints."""

    def __init__(self, kind: str, problems: list[tuple[str, str]]) -> None:
        self.kind = kind
        self.problems = problems
        super().__init__(self.named(same_name))

    def named(self, label: FieldLabel) -> str:
        """The message, each field named by ``label``."""
        details = "; ".join(
            f"{label(self.kind, field)}: {message}" for field, message in self.problems
        )
        return f"{self.kind}: {details}"


class StreamIntegrityError(TrajectError):
    """A stream's stored events do not number 1, 2, 3, …: the log was altered outside traject
    (a row deleted, or one inserted by hand). Nothing of the stream can be trusted until an
    auditor has looked: ``traject audit verify`` names what changed."""

    def __init__(self, stream_id: UUID, version: int, previous: int) -> None:
        self.stream_id = stream_id
        self.version = version
        self.previous = previous
        what = (
            f"so version {previous + 1} is missing"
            if version > previous + 1
            else f"so version {version} is stored twice or out of order"
        )
        super().__init__(
            f"stream {stream_id}: version {version} follows version {previous}, {what}: the "
            "event log was altered outside traject; run `traject audit verify` to see what "
            "changed"
        )


class MalformedEventError(TrajectError):
    """A stored event row is not in the form traject writes (its topic, version or stored
    bytes emptied or of another type, stored bytes that are not a JSON object): the log was
    altered outside traject. Nothing of the stream can be trusted until an auditor has looked:
    ``traject audit verify`` names every such row."""

    def __init__(self, stream_id: object, version: object, what: str) -> None:
        self.stream_id = stream_id
        self.version = version
        self.what = what
        super().__init__(
            f"stream {stream_id}: the stored event of version {version!r} cannot be read: "
            f"{what}: the event log was altered outside traject; run `traject audit verify` "
            "to see what changed"
        )

    def __reduce__(self) -> tuple[type[MalformedEventError], tuple[object, object, str]]:
        return type(self), (self.stream_id, self.version, self.what)  # across processes


class RuleViolationError(TrajectError):
    """A hard rule of the domain refused the event (ordering, regime, terminal state)."""

    def __init__(self, kind: str, field: str, rule: str) -> None:
        self.kind = kind
        self.field = field
        self.rule = rule
        super().__init__(f"{kind}: {field}: {rule}")

    def named(self, label: FieldLabel) -> str:
        """The message, its field named by ``label``."""
        return f"{self.kind}: {label(self.kind, self.field)}: {self.rule}"


@dataclass(frozen=True)
class BrokenFact:
    """A later fact of a stream that a correction or retraction would make break a hard rule."""

    version: int
    kind: str
    occurred_on: date
    field: str
    rule: str

    def __str__(self) -> str:
        return f"v{self.version} {self.kind} of {self.occurred_on}: {self.field}: {self.rule}"


class LaterFactsBrokenError(RuleViolationError):
    """A correction or retraction refused: with it applied, later facts of the stream would
    break hard rules they met before. ``broken`` names each of them."""

    def __init__(self, kind: str, field: str, broken: Sequence[BrokenFact]) -> None:
        self.broken = tuple(broken)
        versions = ", ".join(f"v{fact.version}" for fact in self.broken)
        listing = "; ".join(str(fact) for fact in self.broken)
        super().__init__(
            kind,
            field,
            f"later facts would break the rules: {listing} — correct or retract {versions} "
            "first, or make the corrections in the other order",
        )


class UnchangedCorrectionError(RuleViolationError):
    """A correction refused because it changes nothing: every field it sets already holds the
    value it gives, in the target as it now stands. ``unchanged`` pairs each such field with
    that value as shown (None for a personal field: a personal value is not repeated)."""

    def __init__(
        self, kind: str, target_version: int, unchanged: Sequence[tuple[str, str | None]]
    ) -> None:
        self.target_version = target_version
        self.unchanged = tuple(unchanged)
        first, shown = self.unchanged[0]
        super().__init__(kind, first, f"{_holds(target_version, shown)}: {NOTHING_CHANGES}")
        self.args = (self.named(same_name),)

    def named(self, label: FieldLabel) -> str:
        held = "; ".join(
            f"{label(self.kind, name)}: {_holds(self.target_version, shown)}"
            for name, shown in self.unchanged
        )
        return f"{self.kind}: {held}: {NOTHING_CHANGES}"


NOTHING_CHANGES = "the correction changes nothing; nothing was recorded"


def _holds(version: int, shown: str | None) -> str:
    if shown is None:
        return f"v{version} already holds this value (personal: not shown)"
    return f"v{version} already holds {shown}"


class IdempotencyKeyReusedError(RuleViolationError):
    """An idempotency key seen before came with another fact: a retry of the same fact is a
    no-op, but a different fact under a used key would be lost, so it is refused."""

    def __init__(
        self,
        kind: str,
        key: str,
        recorded: tuple[str, int, UUID],
        differences: Sequence[str],
    ) -> None:
        self.key = key
        recorded_kind, version, stream_id = recorded
        self.recorded = recorded
        self.differences = tuple(differences)
        advice = "give a new key for a new fact"
        same_fact = not {"stream", "kind"} & set(self.differences)
        if same_fact and recorded_kind not in ("EventCorrected", "EventRetracted"):
            advice += (
                ", or, to change the fact it names, correct that fact (traject correct, or an "
                f"event-corrected line with target {key!r})"
            )
        super().__init__(
            kind,
            "idempotency_key",
            f"{key!r} was used for another fact: {recorded_kind} version {version} of "
            f"{stream_id} (this one differs in {', '.join(self.differences)}); a key names one "
            f"fact: {advice}",
        )


@dataclass(frozen=True)
class Enrolment:
    """An effective AMIF enrolment on a person's stream, named without personal data: the
    person's stream, the version of its ParticipantEnrolled and the (corrected) date."""

    person_id: UUID
    version: int
    occurred_on: date

    def __str__(self) -> str:
        return f"person {self.person_id} v{self.version} enrolled on {self.occurred_on}"


ENROLMENTS_LISTED = 10
"""The enrolments an :class:`EnrolmentsOutsideWindowError` names in its message (it holds all)."""


class EnrolmentsOutsideWindowError(RuleViolationError):
    """A correction of a project's eligibility window refused: enrolments of the project on
    persons' streams, inside the window before, would fall outside it. ``outside`` names each."""

    def __init__(
        self, project: str, window: tuple[date, date], field: str, outside: Sequence[Enrolment]
    ) -> None:
        self.outside = tuple(outside)
        listing = "; ".join(str(enrolment) for enrolment in self.outside[:ENROLMENTS_LISTED])
        more = len(self.outside) - ENROLMENTS_LISTED
        if more > 0:
            listing += f"; and {more} more"
        count = len(self.outside)
        super().__init__(
            "ProjectRegistered",
            field,
            f"every enrolment must fall in {project}'s eligibility window; the corrected window "
            f"{window[0]} to {window[1]} would leave {count} "
            f"enrolment{'s' if count > 1 else ''} outside it: {listing} — correct or retract "
            "those enrolments first, or keep the window around them",
        )


class StreamNotFoundError(TrajectError):
    def __init__(self, what: str, ref: UUID | str) -> None:
        self.ref = ref
        super().__init__(f"no {what} {ref} in this ledger")


class PersonNotFoundError(StreamNotFoundError):
    """No person has this id (or id prefix). ``bsn``: the reference is a valid BSN, which a
    caseworker may type for a person: the message says how to find a person by BSN, and does
    not repeat the number (a BSN is never echoed)."""

    def __init__(self, ref: UUID | str, *, bsn: bool = False) -> None:
        if not bsn:
            super().__init__("person", ref)
            return
        self.ref = ref
        TrajectError.__init__(
            self,
            "no person has this id or id prefix; it is a valid BSN: `traject person find --bsn "
            "BSN` gives the id of the person registered with it",
        )


class PersonReferenceError(InputError):
    """Text that cannot name a person: not a person id, nor a long enough prefix of one."""

    def __init__(self, ref: str, minimum: int) -> None:
        self.ref = ref
        what = "is too short for" if len(ref.strip()) < minimum else "is not"
        super().__init__(
            f"{ref!r} {what} a person reference: give a person id, or a unique prefix of it of "
            f"at least {minimum} characters (0-9, a-f)"
        )


class SealNotFoundError(TrajectError):
    def __init__(self, municipality: str, version: int) -> None:
        super().__init__(
            f"SEAL: no sealed report v{version} on {municipality}'s stream "
            "(`traject report sealed` lists them)"
        )


class SealAlteredError(TrajectError):
    """Seals whose stored figures are not those their digest seals (``ledger.seals``): each
    seal is checked when it is recorded or imported, so the stored event was altered since,
    and its figures must not be shown as the sealed ones."""

    def __init__(self, municipality: str, altered: Sequence[tuple[int, str, str]]) -> None:
        self.municipality = municipality
        self.versions = tuple(version for version, _, _ in altered)
        if len(altered) == 1:
            ((version, field, rule),) = altered
            what = (
                f"seal v{version} on {municipality}'s stream was altered after it was recorded "
                f"({field}: {rule}): its stored figures are not the ones it sealed"
            )
        else:
            details = "; ".join(f"v{v}: {field}: {rule}" for v, field, rule in altered)
            what = (
                f"seals {', '.join(f'v{v}' for v in self.versions)} on {municipality}'s stream "
                f"were altered after they were recorded ({details}): their stored figures are "
                "not the ones they sealed"
            )
        super().__init__(f"{what}; run `traject audit verify` to see what changed")


class AmbiguousReferenceError(TrajectError):
    def __init__(self, ref: str, count: int) -> None:
        super().__init__(f"person reference {ref!r} matches {count} persons: give more characters")


class DuplicatePersonError(TrajectError):
    """A registration (or a correction of one) gives a BSN another person holds."""

    def __init__(self) -> None:
        super().__init__(self.named(same_name))

    def named(self, label: FieldLabel) -> str:
        """The message, the BSN named by ``label`` (``--bsn`` of ``traject person register``)."""
        bsn = label("PersonRegistered", "bsn")
        return f"{bsn}: a person with this BSN is already registered (see `person find`)"


class DuplicateExternalRefError(TrajectError):
    def __init__(self, source_key: str) -> None:
        self.source_key = source_key
        super().__init__(f"person: a person with external key {source_key!r} is already registered")


class ConcurrentModificationError(TrajectError):
    def __init__(self, stream_id: UUID, attempts: int) -> None:
        super().__init__(
            f"stream {stream_id} kept changing while writing ({attempts} attempts): try again"
        )


class MasterKeyError(TrajectError):
    """The master key is missing, malformed, or not the one this ledger was created with."""


class DataKeyError(TrajectError):
    """A stream's data key row in ``traject_data_keys`` is missing or does not open, although
    the master key is the ledger's: the key table was altered outside traject (a row deleted,
    overwritten or copied from another stream). traject never deletes a data key (erasure
    leaves a tombstone), so the personal fields of that stream cannot be read until the row is
    restored from a backup."""

    def __init__(self, subject: UUID, what: str) -> None:
        self.subject = subject
        self.what = what
        super().__init__(
            f"stream {subject}: its personal fields cannot be read: {what}: the key table "
            "(traject_data_keys) was altered outside traject; restore the row from a backup "
            "(`traject audit verify` checks the events, not the key table)"
        )

    def __reduce__(self) -> tuple[type[DataKeyError], tuple[UUID, str]]:
        return type(self), (self.subject, self.what)  # across processes


class MasterKeyRotatedError(MasterKeyError):
    """The ledger's master key was rotated while a command held the old one: nothing written."""

    def __init__(self) -> None:
        super().__init__(
            "the ledger's master key was rotated (`traject admin rotate-master-key`) while this "
            "command ran with the old one: nothing was written. Run it again with the new key"
        )


class KeyRotationError(TrajectError):
    """The master key could not be rotated; nothing was changed."""


class RetentionHoldError(TrajectError):
    """Erasure refused: a retention basis is still open, or a legal hold is."""

    def __init__(self, person: UUID, on: object, refusals: list[str]) -> None:
        self.refusals = refusals
        super().__init__(
            f"PersonalDataShredded: erasure of {person} refused on {on}: " + "; ".join(refusals)
        )


class ErasedError(TrajectError):
    def __init__(self, ref: UUID) -> None:
        super().__init__(f"the personal data of {ref} has been erased (crypto-shredded)")


class PurgeError(TrajectError):
    """Destroyed data keys could not be purged from the database's files (owner, busy store)."""


class StoreError(TrajectError):
    """The database cannot be reached or is busy."""


INSUFFICIENT_PRIVILEGE = "42501"
"""PostgreSQL's SQLSTATE for "permission denied" (and "must be owner")."""


LOCK_NOT_AVAILABLE = "55P03"
"""PostgreSQL's SQLSTATE for a lock not granted within ``lock_timeout``."""


def permission_error(error: BaseException) -> BaseException | None:
    """The PostgreSQL permission error in ``error``'s chain of causes, if there is one."""
    return sqlstate_error(error, INSUFFICIENT_PRIVILEGE)


def raised_in_database(error: BaseException) -> BaseException | None:
    """The error a PostgreSQL trigger or function raised (SQLSTATE class P0) in ``error``'s
    chain of causes, if there is one: the database refused the statement."""
    return sqlstate_error(error, PLPGSQL_ERROR_CLASS, prefix=True)


PLPGSQL_ERROR_CLASS = "P0"
"""PostgreSQL's SQLSTATE class of errors raised by PL/pgSQL (``RAISE EXCEPTION``)."""


CONNECTION_STATES = ("08", "57P01", "57P02", "57P03", "53300")
"""PostgreSQL's SQLSTATEs (by prefix) of a connection lost or not made: class 08 (connection
exception), the server shutting down, crashed or starting up (57P01-57P03), too many
connections (53300)."""

SERVER_STATE_CLASSES = ("40", "53", "55", "57", "58")
"""PostgreSQL's SQLSTATE classes of a statement the server stopped for its own state rather than
for the statement: a deadlock or serialization failure (40), insufficient resources such as a
full disk (53), a lock not available or an object in use (55), a statement cancelled by
``statement_timeout`` or an operator (57), an I/O error (58)."""


def server_error(error: BaseException) -> BaseException | None:
    """The PostgreSQL server's error (one with a SQLSTATE) in ``error``'s chain of causes, if
    there is one; None when no server answered (the network, a pool timeout, SQLite)."""
    return sqlstate_error(error, "", prefix=True)


def connection_lost(error: BaseException) -> bool:
    """Whether the server's ``error`` is a connection lost or not made
    (:data:`CONNECTION_STATES`)."""
    state = getattr(error, "sqlstate", None) or ""
    return state.startswith(CONNECTION_STATES)


def stopped_by_server(error: BaseException) -> bool:
    """Whether the server's ``error`` says it stopped the statement for its own state
    (:data:`SERVER_STATE_CLASSES`), not that the connection was lost."""
    state = getattr(error, "sqlstate", None) or ""
    return not connection_lost(error) and state[:2] in SERVER_STATE_CLASSES


def sqlstate_error(
    error: BaseException, sqlstate: str, *, prefix: bool = False
) -> BaseException | None:
    """The PostgreSQL error with ``sqlstate`` (or, with ``prefix``, one starting with it) in
    ``error``'s chain of causes, if there is one.

    The event store library wraps psycopg's errors in its own, so the chain is followed.
    """
    for current in causes(error):
        state = getattr(current, "sqlstate", None)
        if state == sqlstate or (prefix and isinstance(state, str) and state.startswith(sqlstate)):
            return current
    return None


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error``, then what caused it, and so on (each once)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


UNDEFINED_TABLE = "42P01"
"""PostgreSQL's SQLSTATE for a table that does not exist."""


def missing_table(error: BaseException) -> bool:
    """Whether ``error`` says a table does not exist: PostgreSQL's undefined table, SQLite's
    "no such table" (the database holds no traject ledger, or not all of one)."""
    if sqlstate_error(error, UNDEFINED_TABLE) is not None:
        return True
    found = sqlite_error(error)
    return found is not None and str(found).startswith("no such table")


def sqlite_error(error: BaseException) -> sqlite3.Error | None:
    """The SQLite error in ``error``'s chain of causes (the event store library wraps it in
    its own), if there is one; None for any other store."""
    return next((e for e in causes(error) if isinstance(e, sqlite3.Error)), None)


SQLITE_ENVIRONMENT = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB,
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_AUTH,
    }
)
"""SQLite's primary result codes that come from the file and the machine it is on, not from
the statement: locked by another writer (BUSY, LOCKED), cannot be opened (CANTOPEN), written
(READONLY, PERM, AUTH) or read (IOERR), a full disk (FULL), a damaged file (CORRUPT) or one
that is not a database (NOTADB). Any other code (ERROR: no such table or column, a syntax
error; MISUSE, RANGE, CONSTRAINT, MISMATCH, …) is a statement traject should not have sent."""


NOT_UTF8_TEXT = "Could not decode to UTF-8"
"""Python's sqlite3 reading a text value that is not UTF-8 (an OperationalError) says this."""


def is_not_utf8(error: BaseException) -> bool:
    """Whether ``error`` is SQLite's text that is not UTF-8 (raised when it is read)."""
    return NOT_UTF8_TEXT in str(error)


def sqlite_code(error: sqlite3.Error) -> int | None:
    """SQLite's primary result code of ``error`` (its extended code without the detail:
    SQLITE_IOERR for SQLITE_IOERR_WRITE); None for an error Python's sqlite3 raised itself."""
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def from_environment(error: sqlite3.Error) -> bool:
    """Whether SQLite's ``error`` comes from the file or the machine (:data:`SQLITE_ENVIRONMENT`)
    rather than from the statement (a bug)."""
    return sqlite_code(error) in SQLITE_ENVIRONMENT


# --- pydantic's complaints in traject's words ---------------------------------------------------

ONE_VALUE_TYPES = frozenset(
    # pydantic error types that mean "not a value of this one-value field"
    {
        "string_type",
        "int_type",
        "int_parsing",
        "int_from_float",
        "bool_type",
        "bool_parsing",
        "date_type",
        "date_parsing",
        "date_from_datetime_parsing",
        "datetime_type",
        "datetime_parsing",
        "decimal_type",
        "decimal_parsing",
        "uuid_type",
        "uuid_parsing",
        "enum",
        "literal_error",
    }
)
"""Of these, an input of None is an empty required field, and a list is a value given twice."""

RULES: dict[str, str] = {
    # pydantic error type -> the rule, formatted with the error's context
    "missing": "required",
    "extra_forbidden": "not a field of this event",
    "string_type": "must be text",
    "string_too_long": "at most {max_length} characters",
    "string_pattern_mismatch": "must match the pattern {pattern}",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be more than {gt}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
    "enum": "must be one of {expected}",
    "literal_error": "must be one of {expected}",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "date_type": "must be a date: YYYY-MM-DD",
    "date_parsing": "must be a date: YYYY-MM-DD",
    "date_from_datetime_parsing": "must be a date: YYYY-MM-DD",
    "datetime_type": "must be a date-time: YYYY-MM-DDTHH:MM:SS with an offset",
    "datetime_parsing": "must be a date-time: YYYY-MM-DDTHH:MM:SS with an offset",
    "timezone_aware": "must name its offset from UTC, e.g. +01:00 or Z",
    "decimal_type": "must be a number",
    "decimal_parsing": "must be a number",
    "decimal_max_places": "at most {decimal_places} decimal places",
    "decimal_max_digits": "at most {max_digits} digits",
    "uuid_type": "must be a UUID",
    "uuid_parsing": "must be a UUID",
    "too_long": "at most {max_length} items",
}


def validation_problem(item: ErrorDetails) -> str:
    """One of pydantic's complaints as traject's rule ("must not be empty"); pydantic's own
    message for a complaint without a rule here."""
    kind = item["type"]
    context = dict(item.get("ctx") or {})
    given = item.get("input")
    if kind in ONE_VALUE_TYPES and given is None:
        return "required: it cannot be empty"
    if kind in ONE_VALUE_TYPES and isinstance(given, list | tuple):
        return "given more than once; it takes one value"
    if kind == "string_too_short":
        minimum = context.get("min_length", 1)
        return "must not be empty" if minimum == 1 else f"at least {minimum} characters"
    if kind == "too_short":
        minimum = context.get("min_length", 1)
        return f"at least {minimum} item{'s' if minimum != 1 else ''}"
    rule = RULES.get(kind)
    if rule is not None:
        try:
            return rule.format(**context)
        except (KeyError, IndexError):
            pass
    return str(item["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")


def validation_problems(error: ValidationError) -> list[tuple[str, str]]:
    """pydantic's complaints about an event as (field, rule) pairs in traject's words."""
    problems = []
    for item in error.errors():
        loc = ".".join(str(part) for part in item["loc"] if not isinstance(part, int))
        if not loc:  # a rule between fields names the field it holds against, if it can
            loc = getattr((item.get("ctx") or {}).get("error"), "field", None) or "event"
        problems.append((loc, validation_problem(item)))
    return problems
