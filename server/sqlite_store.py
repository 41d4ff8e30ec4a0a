"""The embedded persistent store: a :class:`MemoryStore` written through to SQLite.

Every commit is one SQLite transaction, written before the feed broadcasts it, so
seats, the epoch and the ``RESUME`` history survive a restart or a ``kill -9``: WAL
mode with ``synchronous=NORMAL`` makes a committed transaction safe from a crash
of the process (a power cut may lose the last ones). Reads come from memory.

One server process owns a file at a time (an advisory lock says so): several
instances share state through Redis, not through one SQLite file.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import Unavailable
from .store import DEFAULT_HISTORY, EVENTS_KEPT, Entry, MemoryStore, new_epoch

__all__ = ["SqliteStore", "StoreLocked"]

log = logging.getLogger("tourpanel.server")

SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    feed TEXT PRIMARY KEY, epoch TEXT NOT NULL, last_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS seats (
    feed TEXT NOT NULL, tour TEXT NOT NULL, seats INTEGER NOT NULL,
    PRIMARY KEY (feed, tour)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    feed TEXT NOT NULL, seq INTEGER NOT NULL, topic TEXT, text TEXT NOT NULL,
    PRIMARY KEY (feed, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    feed TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (feed, id)) WITHOUT ROWID;
"""


class StoreLocked(Unavailable):
    """Another process has the SQLite file open as its store."""


def _lock(path: Path) -> int:
    """Hold an advisory lock beside ``path`` for as long as this process lives."""
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreLocked(
            f"{path} is already the store of another tourpanel-server; give each "
            "instance its own file, or share state between instances with --store redis://…"
        ) from None
    return fd


class _Database:
    """One SQLite file, opened once per process and shared by its feeds."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.lock_fd = _lock(path)
        except OSError as exc:
            raise Unavailable(f"cannot use {path} as the store: {exc.strerror or exc}") from exc
        try:
            self.sql = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.sql.execute("PRAGMA journal_mode=WAL")
            self.sql.execute("PRAGMA synchronous=NORMAL")
            self.sql.executescript(SCHEMA)
        except sqlite3.Error as exc:
            os.close(self.lock_fd)
            raise Unavailable(
                f"cannot use {path} as the store ({exc}); is it a tourpanel SQLite file?"
            ) from exc
        self.users = 0

    def close(self) -> None:
        self.sql.close()
        os.close(self.lock_fd)


_open: dict[Path, _Database] = {}


class SqliteStore(MemoryStore):
    """Feed ``feed``'s state in the SQLite file ``path``; a new file starts a new epoch."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        feed: str,
        *,
        history: int = DEFAULT_HISTORY,
    ) -> None:
        where = Path(path).resolve()
        self._db = _open.get(where) or _Database(where)
        _open[where] = self._db
        self._db.users += 1
        self._feed = feed
        self._keep = history
        sql = self._db.sql
        row = sql.execute("SELECT epoch, last_seq FROM feeds WHERE feed = ?", (feed,)).fetchone()
        if row is None:
            epoch, last_seq = new_epoch(), 0
            sql.execute("INSERT INTO feeds VALUES (?, ?, 0)", (feed, epoch))
            log.info("%s feed: new store %s, epoch %s", feed, where, epoch)
        else:
            epoch, last_seq = row
            log.info("%s feed: store %s, epoch %s at seq %d", feed, where, epoch, last_seq)
        seats = dict(sql.execute("SELECT tour, seats FROM seats WHERE feed = ?", (feed,)))
        super().__init__(seats, history=history, epoch=epoch)
        kept = sql.execute(
            "SELECT seq, topic, text FROM history WHERE feed = ? AND seq > ? ORDER BY seq",
            (feed, last_seq - history),
        )
        self.load([Entry(*row) for row in kept], last_seq=last_seq)

    def set_seats(self, tour_id: str, seats: int) -> None:
        self._db.sql.execute(
            "INSERT OR REPLACE INTO seats VALUES (?, ?, ?)", (self._feed, tour_id, seats)
        )
        super().set_seats(tour_id, seats)

    def record(
        self, entries: Sequence[Entry], seats: Mapping[str, int], *, event_id: str | None = None
    ) -> None:
        self.check_follows(entries)
        last = entries[-1].seq if entries else self.last_seq
        feed, sql = self._feed, self._db.sql
        with sql:  # one transaction: all of it or none
            sql.execute("BEGIN IMMEDIATE")
            sql.executemany(
                "INSERT INTO history VALUES (?, ?, ?, ?)",
                [(feed, e.seq, e.topic, e.text) for e in entries],
            )
            sql.execute(
                "DELETE FROM history WHERE feed = ? AND seq <= ?", (feed, last - self._keep)
            )
            sql.executemany(
                "INSERT OR REPLACE INTO seats VALUES (?, ?, ?)",
                [(feed, tour, count) for tour, count in seats.items()],
            )
            sql.execute("UPDATE feeds SET last_seq = ? WHERE feed = ?", (last, feed))
            if event_id is not None:
                sql.execute(
                    "INSERT OR REPLACE INTO events VALUES (?, ?, ?)", (feed, event_id, last)
                )
                sql.execute(
                    "DELETE FROM events WHERE feed = ? AND seq < ?", (feed, last - EVENTS_KEPT)
                )
        super().record(entries, seats, event_id=event_id)

    def has_event(self, event_id: str) -> bool:
        row = self._db.sql.execute(
            "SELECT 1 FROM events WHERE feed = ? AND id = ?", (self._feed, event_id)
        ).fetchone()
        return row is not None

    def close(self) -> None:
        """Release the file once every feed using it is closed."""
        self._db.users -= 1
        if self._db.users == 0:
            _open.pop(self._db.path, None)
            self._db.close()
