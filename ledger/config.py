"""Translate one setting, the database URL, into the event-sourcing library's settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from ledger.errors import TrajectError

DEFAULT_SQLITE_PATH = "traject.db"


@dataclass(frozen=True)
class StoreConfig:
    """Where the ledger lives, and the library settings that open it."""

    url: str
    kind: str  # "sqlite" or "postgres"
    library_env: dict[str, str] = field(default_factory=dict)
    sqlite_path: Path | None = None

    def describe(self) -> str:
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


def _postgres(text: str) -> StoreConfig:
    parts = urlsplit(text)
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        msg = f"database URL {text!r}: name the database, e.g. postgresql://postgres@host/traject"
        raise TrajectError(msg)
    query = parse_qs(parts.query)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_SCHEMA": query.get("schema", ["public"])[0],
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_POOL_SIZE": "2",
        "POSTGRES_MAX_OVERFLOW": "4",
        "APPLICATION_RECORDER_TOPIC": "ledger.postgres:TrajectPostgresRecorder",
    }
    return StoreConfig(url=text, kind="postgres", library_env=env)
