"""How fast a client may send: a token bucket per connection, and its verdicts.

Every frame a client sends costs a token (data, control and continuation frames
alike, and those read past the budget too), and a request whose answer is long (a
``RESUME`` replay) costs more, in proportion to what it sends back. Tokens come back
at ``rate`` per second up to ``burst``. A client over its budget is not read until
the bucket has refilled: TCP backpressure then throttles it at no cost to the
server, for as long as its flood would take to pay off (up to ``sustain`` seconds).
A client still over budget after ``sustain`` seconds is cut off. Pure: the time is
passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["REPLIES_PER_TOKEN", "RateLimit", "TokenBucket", "Verdict"]

REPLIES_PER_TOKEN = 10  # what a request's answer may hold before it costs more than a frame


class Verdict(Enum):
    OK = "ok"
    OVER = "over"  # just went over budget: tell the client, stop reading until resume_in()
    THROTTLE = "throttle"  # still over budget: stop reading until resume_in()
    CUT_OFF = "cut_off"  # over budget for too long: close the connection


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The budget every connection of a server gets."""

    rate: float = 20.0  # tokens per second
    burst: float = 40.0
    sustain: float = 5.0  # seconds over budget before a client is cut off


class TokenBucket:
    """One connection's budget; starts full."""

    __slots__ = ("limit", "over_since", "stamp", "tokens")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.limit = limit
        self.tokens = limit.burst
        self.stamp = now
        self.over_since: float | None = None  # when the client went over its budget

    def spend(self, now: float, cost: float = 1.0) -> Verdict:
        """Pay ``cost`` tokens; the bucket may go below zero, delaying the next read."""
        limit = self.limit
        self.tokens = min(limit.burst, self.tokens + (now - self.stamp) * limit.rate) - cost
        self.stamp = now
        if self.tokens >= 0:
            if self.tokens >= limit.burst / 2:
                self.over_since = None  # quiet long enough to refill: a new start
            return Verdict.OK
        if self.over_since is None:
            self.over_since = now
            return Verdict.OVER
        if now - self.over_since >= limit.sustain:
            return Verdict.CUT_OFF
        return Verdict.THROTTLE

    def owe(self, cost: float = 1.0) -> None:
        """Charge frames read past the budget: the client waits for them too.

        The debt stops at ``sustain`` seconds of refill: a client still over budget
        when it is read again is cut off then.
        """
        self.tokens = max(-self.limit.rate * self.limit.sustain, self.tokens - cost)

    def resume_in(self, now: float) -> float:
        """Seconds from ``now`` until the bucket holds a token again."""
        limit = self.limit
        tokens = min(limit.burst, self.tokens + (now - self.stamp) * limit.rate)
        return max(0.0, (1.0 - tokens) / limit.rate)
