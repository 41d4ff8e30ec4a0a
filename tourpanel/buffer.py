"""A bounded, thread-safe buffer of feed messages with cursor-based reads — no I/O.

The listener thread appends one flat row (a dict) per message: O(1), no pandas on
the hot path. Readers keep a *cursor* (how many rows had ever been appended when
they last read) and ask only for what is newer; pandas comes in once per read,
when :meth:`FeedBuffer.frame` turns a batch of rows into a DataFrame. A thread
that needs rows to arrive waits on a condition the appends signal, never polls.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

import pandas as pd

from .defaults import BUFFER_ROWS

__all__ = ["Batch", "FeedBuffer", "flatten", "to_frame"]

Row = dict[str, Any]

# Columns that hold times: ``timestamp`` is the server's ISO-8601 text, ``received``
# the client's POSIX seconds. Both become timezone-aware UTC datetimes in frames.
_ISO_COLUMNS = ("timestamp",)
_EPOCH_COLUMNS = ("received",)


@dataclass(frozen=True, slots=True)
class Batch:
    """Rows newer than a cursor; ``skipped`` rows fell out of the buffer unread."""

    rows: list[Row]
    cursor: int
    skipped: int = 0


class FeedBuffer:
    """The last ``maxlen`` rows of a feed; safe to append from one thread, read from others."""

    def __init__(self, maxlen: int = BUFFER_ROWS) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen must be at least 1, got {maxlen}")
        self.maxlen = maxlen
        self._rows: deque[Row] = deque(maxlen=maxlen)
        self._total = 0
        self._types: dict[Any, int] = {}  # held rows per ``type`` value
        self._lock = threading.Lock()
        self._appended = threading.Condition(self._lock)  # signalled only while awaited
        self._waiters = 0

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def cursor(self) -> int:
        """How many rows were ever appended: read from here to get only new rows."""
        return self._total

    def append(self, row: Row) -> None:
        self.extend((row,))

    def extend(self, rows: Iterable[Row]) -> None:
        batch = rows if isinstance(rows, list) else list(rows)
        with self._lock:
            held, types, full = self._rows, self._types, self.maxlen
            for row in batch:
                if len(held) == full:
                    types[held[0].get("type")] -= 1  # the oldest row is about to go
                held.append(row)
                kind = row.get("type")
                types[kind] = types.get(kind, 0) + 1
            self._total += len(batch)
            if self._waiters:
                self._appended.notify_all()

    def count(self, kind: str | None = None) -> int:
        """How many rows are held (whose ``type`` is ``kind``, if given)."""
        with self._lock:
            return self._count(kind)

    def wait_for_count(self, count: int, *, kind: str | None = None, timeout: float) -> bool:
        """Block until :meth:`count` reaches ``count``; ``False`` if not after ``timeout`` s.

        Woken by the appends themselves, not by polling.
        """
        with self._lock:
            self._waiters += 1
            try:
                return self._appended.wait_for(lambda: self._count(kind) >= count, timeout)
            finally:
                self._waiters -= 1

    def _count(self, kind: str | None) -> int:
        return len(self._rows) if kind is None else self._types.get(kind, 0)

    def since(self, cursor: int) -> Batch:
        """Rows appended after ``cursor``, oldest first, and the cursor to use next."""
        with self._lock:
            total, held = self._total, len(self._rows)
            oldest = total - held
            start = max(cursor, oldest)
            rows = list(islice(self._rows, start - oldest, None)) if start < total else []
        return Batch(rows, total, skipped=max(0, oldest - cursor))

    def rows(self) -> list[Row]:
        """A copy of every held row, oldest first."""
        with self._lock:
            return list(self._rows)

    def frame(self, since: int | None = None) -> pd.DataFrame:
        """The held rows (or those after cursor ``since``) as a DataFrame with typed times."""
        rows = self.rows() if since is None else self.since(since).rows
        return to_frame(rows)

    def clear(self) -> None:
        """Drop every row; cursors stay valid (readers just see nothing new)."""
        with self._lock:
            self._rows.clear()
            self._types.clear()


def to_frame(rows: list[Row]) -> pd.DataFrame:
    """Rows → DataFrame: ``timestamp``/``received`` as UTC datetimes, integers kept."""
    frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    for column in _ISO_COLUMNS:
        if column in frame:
            frame[column] = pd.to_datetime(
                frame[column], utc=True, format="ISO8601", errors="coerce"
            )
    for column in _EPOCH_COLUMNS:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
    return frame


def flatten(payload: Mapping[str, Any], prefix: str = "") -> Row:
    """Nested objects become dotted columns (``{"a": {"b": 1}}`` → ``{"a.b": 1}``)."""
    row: Row = {}
    for key, value in payload.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):  # what JSON objects decode to: no ABC check per value
            row.update(flatten(value, f"{name}."))
        else:
            row[name] = value
    return row
