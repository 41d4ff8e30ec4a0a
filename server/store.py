"""The state a feed keeps: tour seats, its epoch and its recent broadcasts.

Feeds only talk to :class:`Store`, so the SQLite store (``sqlite_store.py``) replaces
:class:`MemoryStore` without touching them. The interface is synchronous on purpose:
a commit must read, change and record state without yielding to the event loop, so
that no client sees messages out of order, and it is written before it is broadcast.
With Redis several instances share the state: each keeps a :class:`MemoryStore` as
its mirror of the shared stream (``replica.py``).
"""

from __future__ import annotations

import secrets
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Protocol

__all__ = ["DEFAULT_HISTORY", "EVENTS_KEPT", "Entry", "MemoryStore", "Store", "new_epoch"]

DEFAULT_HISTORY = 1000
EVENTS_KEPT = 100_000  # booking event ids remembered to apply each event once


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

    def set_seats(self, tour_id: str, seats: int) -> None:
        """Seed a tour's seats (a new store); changes go through :meth:`record`."""
        ...

    def record(
        self, entries: Sequence[Entry], seats: Mapping[str, int], *, event_id: str | None = None
    ) -> None:
        """Keep ``entries`` (seqs from ``last_seq + 1`` on) and ``seats`` together, or neither.

        ``event_id``, if given, is remembered with them (see :meth:`has_event`).
        """
        ...

    def has_event(self, event_id: str) -> bool:
        """Whether a change carrying ``event_id`` was recorded (recently)."""
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
        self._events: OrderedDict[str, None] = OrderedDict()

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
        """Keep one broadcast; its ``seq`` must be ``last_seq + 1``."""
        self.record([entry], {})

    def record(
        self, entries: Sequence[Entry], seats: Mapping[str, int], *, event_id: str | None = None
    ) -> None:
        self.check_follows(entries)
        if entries:
            self._last_seq = entries[-1].seq
            self._history.extend(entries)
        self._seats.update(seats)
        if event_id is not None:
            self._events[event_id] = None
            if len(self._events) > EVENTS_KEPT:
                self._events.popitem(last=False)

    def has_event(self, event_id: str) -> bool:
        return event_id in self._events

    def check_follows(self, entries: Sequence[Entry]) -> None:
        """Raise ``ValueError`` unless ``entries`` number on from ``last_seq``."""
        for offset, entry in enumerate(entries, start=1):
            if entry.seq != self._last_seq + offset:
                raise ValueError(f"seq {entry.seq} does not follow {self._last_seq + offset - 1}")

    def load(self, entries: Sequence[Entry], *, last_seq: int) -> None:
        """Start from a persisted history: ``entries`` (the newest kept) end at ``last_seq``."""
        self._history.clear()
        self._history.extend(entries)
        self._last_seq = last_seq

    def since(self, seq: int) -> list[Entry] | None:
        if seq > self._last_seq or seq < 0:
            return None
        if seq == self._last_seq:
            return []
        oldest = self._history[0].seq if self._history else self._last_seq + 1
        if seq + 1 < oldest:
            return None
        return list(islice(self._history, seq + 1 - oldest, None))
