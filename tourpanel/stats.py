"""What a feed's health looks like to the views: a read-only snapshot, no listener needed.

The views show :class:`FeedStats` from anything with a ``stats()`` method
(:class:`StatsSource`); the listener is one such source, a test or a recording can
be another.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

__all__ = ["FeedStats", "StatsSource", "Status"]


class Status(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    STALE = "stale"  # connected, but silent for several of the feed's own intervals
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, kw_only=True, slots=True)
class FeedStats:
    """A consistent snapshot of a listener's health, safe to read from any thread."""

    url: str
    status: Status
    messages: int  # JSON objects received and handed on
    last_received: float | None  # POSIX seconds
    last_timestamp: str | None  # the server's timestamp of the latest message
    next_retry_at: float | None  # POSIX seconds, while reconnecting
    gaps: int
    resyncs: int
    retries: int  # connection attempts scheduled after a failure or a drop
    discarded: int  # messages received but not kept: not JSON objects, duplicates, too large
    last_error: str | None
    epoch: str | None
    seq: int | None


class StatsSource(Protocol):
    """Anything that can say how its feed is doing."""

    def stats(self) -> FeedStats: ...
