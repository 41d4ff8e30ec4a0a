"""Which store ``--store`` names: ``memory``, ``sqlite:///file.db`` or ``redis://host:port/db``.

SQLite paths follow SQLAlchemy's spelling: ``sqlite:///state.db`` is relative to the
working directory, ``sqlite:////var/lib/tourpanel/state.db`` is absolute.
"""

from __future__ import annotations

from pathlib import Path

from .sqlite_store import SqliteStore
from .store import MemoryStore, Store

__all__ = ["REDIS_SCHEMES", "check_store", "open_local", "store_kind"]

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
USAGE = "memory, sqlite:///path/to/file.db or redis://host:port/db"


def store_kind(url: str) -> str:
    """``memory``, ``sqlite`` or ``redis``; raises ``ValueError`` for anything else."""
    if url == "memory":
        return "memory"
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return "sqlite"
    if url.startswith(REDIS_SCHEMES):
        return "redis"
    raise ValueError(f"must be {USAGE}, got {url!r}")


def check_store(url: str) -> str:
    """``url`` if it names a store (for the option parser)."""
    store_kind(url)
    return url


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def open_local(url: str, feed: str, *, history: int) -> Store:
    """``feed``'s store here: a SQLite file, or memory (with Redis: the replica's mirror)."""
    if store_kind(url) == "sqlite":
        return SqliteStore(sqlite_path(url), feed, history=history)
    return MemoryStore(history=history)
