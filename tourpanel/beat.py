"""When a view's slower redraws fall due: on one grid per page, not each on its own.

A page redraws some things less often than it flushes: the seat chart's tails, the
histogram, the status table's rates. Timed each from its own last redraw, they
drift apart and the browser repaints three times a second instead of once. Timed
from one shared origin, they fall due in the same flush and share a frame.
"""

from __future__ import annotations

import math

__all__ = ["Beat"]


class Beat:
    """Instants ``origin + k * period``, the origin being the first time it is asked."""

    def __init__(self) -> None:
        self.origin: float | None = None

    def due(self, last: float, now: float, period: float) -> bool:
        """Whether a grid instant of ``period`` lies after ``last`` and at or before ``now``."""
        if self.origin is None:
            self.origin = now
        if period <= 0 or not math.isfinite(last):
            return True
        return (now - self.origin) // period > (last - self.origin) // period
