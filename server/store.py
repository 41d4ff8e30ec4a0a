"""The state a feed keeps: tour seats, its epoch and its recent broadcasts.

The transport only talks to :class:`Store`, so a persistent store (SQLite, Redis)
can replace :class:`MemoryStore` without touching it. The interface is synchronous
on purpose: the broadcast tick must read, change and record state without yielding
to the event loop, so that no client sees messages out of order. A networked store
keeps a local mirror and writes behind.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Protocol

__all__ = ["DEFAULT_HISTORY", "Entry", "MemoryStore", "Store", "new_epoch"]

DEFAULT_HISTORY = 1000


@dataclass(frozen=True, slots=True)
class Entry:
    """A broadcast as sent: its ``seq``, the tour it concerns (if any) and its JSON."""

    seq: int
    topic: str | None
    text: str


def new_epoch() -> str:
    """A fresh history id: a client holding another epoch cannot resume here."""
    return secrets.token_hex(6)


class Store(Protocol):
    """What a feed needs to remember."""

    @property
    def epoch(self) -> str:
        """Id of this history; changes whenever ``seq`` restarts."""
        ...

    @property
    def last_seq(self) -> int:
        """Seq of the latest broadcast, 0 before the first."""
        ...

    def seats(self) -> dict[str, int]:
        """Current seats per tour id (a copy)."""
        ...

    def set_seats(self, tour_id: str, seats: int) -> None: ...

    def append(self, entry: Entry) -> None:
        """Record a broadcast; its ``seq`` must be ``last_seq + 1``."""
        ...

    def since(self, seq: int) -> list[Entry] | None:
        """The broadcasts after ``seq`` in order, or ``None`` when they are not all held."""
        ...


class MemoryStore:
    """A :class:`Store` in process memory, holding the last ``history`` broadcasts."""

    def __init__(
        self,
        seats: Mapping[str, int] | None = None,
        *,
        history: int = DEFAULT_HISTORY,
        epoch: str | None = None,
    ) -> None:
        if history < 0:
            raise ValueError(f"history must be 0 or more, got {history}")
        self._seats = dict(seats or {})
        self._history: deque[Entry] = deque(maxlen=history)
        self._epoch = epoch or new_epoch()
        self._last_seq = 0

    @property
    def epoch(self) -> str:
        return self._epoch

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def seats(self) -> dict[str, int]:
        return dict(self._seats)

    def set_seats(self, tour_id: str, seats: int) -> None:
        self._seats[tour_id] = seats

    def append(self, entry: Entry) -> None:
        if entry.seq != self._last_seq + 1:
            raise ValueError(f"seq {entry.seq} does not follow {self._last_seq}")
        self._last_seq = entry.seq
        self._history.append(entry)

    def since(self, seq: int) -> list[Entry] | None:
        if seq > self._last_seq or seq < 0:
            return None
        if seq == self._last_seq:
            return []
        oldest = self._history[0].seq if self._history else self._last_seq + 1
        if seq + 1 < oldest:
            return None
        return list(islice(self._history, seq + 1 - oldest, None))
