"""When to try a feed again: exponential backoff with full jitter, as a pure generator.

The listener only sleeps on what :func:`backoff` yields, so the policy is tested
without a socket or a clock.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["DEFAULT_RECONNECT", "Reconnect", "backoff"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Reconnect:
    """Backoff policy: delays grow from ``base`` to ``cap`` seconds, with full jitter."""

    base: float = 1.0
    cap: float = 30.0
    healthy_after: float = 10.0  # connected this long, the next failure starts over
    open_timeout: float = 10.0


DEFAULT_RECONNECT = Reconnect()


def backoff(
    base: float = DEFAULT_RECONNECT.base,
    cap: float = DEFAULT_RECONNECT.cap,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Delays before each retry: uniform in [0, min(cap, base·2ⁿ)] (full jitter).

    Jitter spreads a classroom of clients so they do not all reconnect at once
    when a feed comes back.
    """
    draw = rng or random.Random()
    attempt = 0
    while True:
        yield draw.uniform(0, min(cap, base * 2 ** min(attempt, 32)))
        attempt += 1
