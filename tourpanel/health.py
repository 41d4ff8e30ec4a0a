"""A listener's counters, and when its feed counts as stale — pure; the listener locks.

A feed is *stale* when it has been silent for several of its own intervals: the
interval is learnt from the longest of the recent gaps between messages (messages
closer than :data:`BURST` are one burst, like a greeting), so a feed that speaks
every 3 s turns stale after about 9 s, and one that speaks once a minute after
about 3 minutes. Until it has shown its rhythm, :data:`STALE_UNKNOWN` applies.
"""

from __future__ import annotations

from collections import deque

from .reconnect import status_of
from .stats import FeedStats, Refusal, Status

__all__ = ["BURST", "STALE_INTERVALS", "STALE_UNKNOWN", "FeedHealth"]

STALE_INTERVALS = 3.0  # silent for this many of its intervals: stale
STALE_UNKNOWN = 30.0  # seconds, before the feed's interval is known
BURST = 0.05  # seconds: messages closer than this belong to one burst
GAPS_KEPT = 16


class FeedHealth:
    """What :class:`~tourpanel.stats.FeedStats` reports, kept up to date by one listener.

    Times are the caller's: ``wall`` in POSIX seconds (shown), ``mono`` from a
    monotonic clock (measured).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.status = Status.CONNECTING
        self.messages = 0
        self.discarded = 0
        self.retries = 0
        self.last_received: float | None = None
        self.last_timestamp: str | None = None
        self.next_retry_at: float | None = None
        self.last_error: str | None = None
        self.refusal: Refusal | None = None
        self._last_arrival: float | None = None
        self._connected_at = 0.0
        self._gaps: deque[float] = deque(maxlen=GAPS_KEPT)

    def connected(self, mono: float) -> None:
        self.status, self.next_retry_at, self.last_error = Status.CONNECTED, None, None
        self.refusal = None
        self._connected_at = mono

    def retrying(
        self, wall: float, delay: float, why: str, *, refusal: Refusal | None = None
    ) -> None:
        """The next try is in ``delay`` s; ``refusal``: the server turned us away."""
        self.status = Status.RECONNECTING if refusal is None else status_of(refusal)
        self.next_retry_at, self.last_error, self.refusal = wall + delay, why, refusal
        self.retries += 1

    def arrived(self, wall: float, mono: float, timestamp: object) -> None:
        """A JSON object arrived (``timestamp``: its own field, if any)."""
        if self._last_arrival is not None and mono - self._last_arrival >= BURST:
            self._gaps.append(mono - self._last_arrival)
        self._last_arrival, self.last_received = mono, wall
        self.messages += 1
        if isinstance(timestamp, str):
            self.last_timestamp = timestamp

    def stale_after(self) -> float:
        """Seconds of silence after which the feed is shown as stale."""
        if len(self._gaps) < 2:
            return STALE_UNKNOWN
        return STALE_INTERVALS * max(self._gaps)

    def status_at(self, mono: float) -> Status:
        if self.status is not Status.CONNECTED:
            return self.status
        since = max(self._last_arrival or 0.0, self._connected_at)
        return Status.STALE if mono - since > self.stale_after() else Status.CONNECTED

    def snapshot(
        self,
        mono: float,
        *,
        gaps: int,
        resyncs: int,
        duplicates: int,
        server_error: str | None,
        epoch: str | None,
        seq: int | None,
    ) -> FeedStats:
        return FeedStats(
            url=self.url,
            status=self.status_at(mono),
            messages=self.messages,
            last_received=self.last_received,
            last_timestamp=self.last_timestamp,
            next_retry_at=self.next_retry_at,
            gaps=gaps,
            resyncs=resyncs,
            retries=self.retries,
            discarded=self.discarded + duplicates,
            last_error=server_error or self.last_error,
            epoch=epoch,
            seq=seq,
            refusal=self.refusal,
        )
