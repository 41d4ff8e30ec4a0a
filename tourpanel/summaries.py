"""Small pure computations behind the views: levels, bins, rates, times — no Panel."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import numpy as np
import pandas as pd

from .protocol import RANDOM_MAX, RANDOM_MIN

__all__ = [
    "Histogram",
    "RateMeter",
    "RollingCounts",
    "availability_level",
    "chart_ms",
    "is_finite_number",
    "local_ms",
    "local_time",
    "message_age",
]


def availability_level(seats: int) -> str:
    """The lesson's colour bands: more than 10 high, 5–10 medium, under 5 low."""
    if seats > 10:
        return "high"
    if seats >= 5:
        return "medium"
    return "low"


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts of values per bin, with what a uniform draw would give."""

    left: np.ndarray  # first value of each bin
    right: np.ndarray  # last value of each bin
    counts: np.ndarray
    expected: float  # per bin, for the same number of draws


def _binned(per_value: np.ndarray, *, bins: int, low: int) -> Histogram:
    """Counts of each whole number from ``low`` on, grouped into ``bins`` equal ranges."""
    span = len(per_value)
    if span % bins:
        raise ValueError(f"{bins} bins do not split {low}..{low + span - 1} evenly")
    width = span // bins
    counts = per_value.reshape(bins, width).sum(axis=1)
    left = low + width * np.arange(bins)
    return Histogram(left, left + width - 1, counts, expected=int(counts.sum()) / bins)


def is_finite_number(value: Any) -> bool:
    """Whether a feed value can be plotted: an int or float, finite, and not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def local_ms(stamps: pd.Series) -> np.ndarray:
    """UTC datetimes → this machine's wall-clock time in ms, for Bokeh's datetime axis."""
    local = stamps.dt.tz_convert(_local_zone()).dt.tz_localize(None)
    millis: np.ndarray = local.to_numpy().astype("datetime64[ms]").astype("float64")
    return millis


def chart_ms(now: float) -> float:
    """POSIX seconds → the charts' time axis, as :func:`local_ms` does, without pandas."""
    offset = datetime.fromtimestamp(now, _local_zone()).utcoffset()
    return (now + (offset.total_seconds() if offset else 0.0)) * 1000.0


def _local_zone() -> tzinfo | None:
    return datetime.now().astimezone().tzinfo


def local_time(iso: str) -> str:
    """``HH:MM:SS`` of an ISO-8601 timestamp in this machine's time zone."""
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%H:%M:%S")
    except (ValueError, OverflowError):
        return iso


def message_age(iso: str | None, now: float) -> float | None:
    """Seconds between a server timestamp and ``now`` (POSIX seconds)."""
    if iso is None:
        return None
    try:
        return now - datetime.fromisoformat(iso).timestamp()
    except (ValueError, OverflowError):
        return None


class RateMeter:
    """Messages per second over a sliding window of (time, total) samples."""

    def __init__(self, window: float = 5.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def update(self, total: int, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        self._samples.append((now, total))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window:
            self._samples.popleft()
        first_time, first_total = self._samples[0]
        elapsed = now - first_time
        return (total - first_total) / elapsed if elapsed > 0 else 0.0


class RollingCounts:
    """Counts of whole numbers ``low``..``high`` over the last ``window`` rows.

    Kept up to date row by row, so a histogram of a full buffer costs what the new
    rows cost, not a pass over the whole buffer on every flush. Rows that
    carry no number (``None``) still take their place in the window, so the window
    follows the buffer it mirrors.
    """

    def __init__(self, window: int, *, low: int = RANDOM_MIN, high: int = RANDOM_MAX) -> None:
        self.low, self.high = low, high
        self._rows: deque[int | None] = deque(maxlen=window)
        self._counts = np.zeros(high - low + 1, dtype=np.int64)

    def add(self, values: Iterable[int | None]) -> None:
        for value in values:
            if len(self._rows) == self._rows.maxlen:
                self._count(self._rows[0], -1)
            self._rows.append(value)
            self._count(value, 1)

    def _count(self, value: int | None, delta: int) -> None:
        if value is not None and self.low <= value <= self.high:
            self._counts[value - self.low] += delta

    def histogram(self, bins: int = 10) -> Histogram:
        """The counts grouped into ``bins`` equal ranges (1–10, 11–20, … for ten bins)."""
        return _binned(self._counts, bins=bins, low=self.low)
