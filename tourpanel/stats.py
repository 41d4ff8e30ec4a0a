"""What a feed's health looks like to the views: a read-only snapshot, no listener needed.

The views show :class:`FeedStats` from anything with a ``stats()`` method
(:class:`StatsSource`); the listener is one such source, a test or a recording can
be another.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

__all__ = ["FeedStats", "Refusal", "StatsSource", "Status"]


class Status(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    STALE = "stale"  # connected, but silent for several of the feed's own intervals
    RECONNECTING = "reconnecting"
    REFUSED = "refused"  # turned away (401, 403, close 1008): someone must act; retried slowly
    BUSY = "busy"  # turned away for now (429, 503): retried with backoff, never fast
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, kw_only=True, slots=True)
class Refusal:
    """Why the feed turned the listener away: an HTTP status before the upgrade, or close 1008.

    ``reason`` and ``message`` are the server's own (its JSON body or close reason),
    when it gave them; a feed that answers plain text leaves them ``None``.
    """

    code: int  # the HTTP status (401, 403, 429, 503) or the close code (1008)
    reason: str | None = None  # one word: expired, origin, server_full, …
    message: str | None = None  # what the server says to do

    @property
    def closed(self) -> bool:
        """The server closed an open connection (a close code), rather than refusing it."""
        return self.code >= 1000


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
    refusal: Refusal | None = None  # while REFUSED or BUSY: the server's answer


class StatsSource(Protocol):
    """Anything that can say how its feed is doing."""

    def stats(self) -> FeedStats: ...
