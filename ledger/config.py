"""Translate one setting, the database URL, into the event-sourcing library's settings."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from ledger.errors import TrajectError

DEFAULT_SQLITE_PATH = "traject.db"
SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
"""A schema name the event store can use: it writes it into SQL unquoted, so another (upper
case folds to lower case and is then not found) would make a ledger no later command opens."""


@dataclass(frozen=True)
class StoreConfig:
    """Where the ledger lives, and the library settings that open it."""

    url: str
    kind: str  # "sqlite" or "postgres"
    library_env: dict[str, str] = field(default_factory=dict)
    sqlite_path: Path | None = None

    def describe(self) -> str:
        """Where the ledger lives, as a URL without credentials."""
        if self.sqlite_path is not None:
            return f"sqlite:///{self.sqlite_path}"
        parts = urlsplit(self.url)
        host = parts.hostname or "localhost"
        return f"postgresql://{host}:{parts.port or 5432}{parts.path}"


def parse_database_url(url: str | None) -> StoreConfig:
    """``sqlite:///path`` (or a plain path) for the embedded store, ``postgresql://…`` else.

    PostgreSQL URLs take ``?schema=NAME`` to keep a ledger in its own schema.
    """
    text = (url or DEFAULT_SQLITE_PATH).strip()
    if text.startswith(("postgresql://", "postgres://")):
        return _postgres(text)
    if text.startswith("sqlite://"):
        path_text = text[len("sqlite://") :]
        path_text = path_text[1:] if path_text.startswith("/") else path_text
        if not path_text:
            msg = f"database URL {text!r}: give a file, e.g. sqlite:///traject.db"
            raise TrajectError(msg)
    elif "://" in text:
        msg = f"database URL {text!r}: use sqlite:///PATH or postgresql://USER@HOST/DB"
        raise TrajectError(msg)
    else:
        path_text = text
    path = Path(path_text).expanduser()
    return StoreConfig(
        url=text,
        kind="sqlite",
        sqlite_path=path,
        library_env={
            "PERSISTENCE_MODULE": "ledger.persistence:TrajectSQLiteFactory",
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": "30",
            "APPLICATION_RECORDER_TOPIC": "ledger.persistence:TrajectSQLiteRecorder",
        },
    )


def _port_text(netloc: str) -> str:
    """The port of a URL's ``user@host:port`` part as written (no check)."""
    return netloc.rpartition("@")[2].rpartition("]")[2].rpartition(":")[2]


def _postgres(text: str) -> StoreConfig:
    shown = re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", text)  # never the password

    def refused(rule: str) -> TrajectError:
        return TrajectError(f"database URL {shown!r}: {rule}")

    try:
        parts = urlsplit(text)
    except ValueError as error:
        raise refused(f"not a URL ({error})") from None
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range: named below
        port = 0
    if port == 0:
        raise refused(f"port {_port_text(parts.netloc)}: a port is a number from 1 to 65535")
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise refused("name the database, e.g. postgresql://postgres@host/traject")
    query = parse_qs(parts.query, keep_blank_values=True)
    for name in query:
        if name != "schema":
            raise refused(
                f"unknown parameter {name}: traject takes only ?schema=NAME; connection "
                f"settings such as sslmode go in libpq's environment variables (PGSSLMODE, …)"
            )
    schemas = query.get("schema", ["public"])
    if len(schemas) > 1:
        raise refused("schema is given twice")
    if not SCHEMA_NAME.fullmatch(schemas[0]):
        raise refused(
            f"schema {schemas[0]!r}: a schema name is lower-case letters, digits and _, "
            "beginning with a letter or _, at most 63 characters"
        )
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_SCHEMA": schemas[0],
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_POOL_SIZE": "2",
        "POSTGRES_MAX_OVERFLOW": "4",
        "APPLICATION_RECORDER_TOPIC": "ledger.postgres:TrajectPostgresRecorder",
    }
    return StoreConfig(url=text, kind="postgres", library_env=env)
