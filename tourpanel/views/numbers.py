"""The random numbers: the current one, the latest ones, and their distribution so far."""

from __future__ import annotations

from collections import deque
from typing import Any, cast

import numpy as np
import panel as pn
import param
from bokeh.models import Range1d

from .. import charts
from ..buffer import Row
from ..protocol import RANDOM_MAX, RANDOM_MIN, Kind
from ..summaries import RollingCounts, is_finite_number, local_time
from .base import CSS, FeedView
from .board import NumberBoard

__all__ = ["RandomPanel"]

LEGEND_ROOM = 1.3  # the count axis ends this far above the tallest bar

_SPAN = RANDOM_MAX - RANDOM_MIN + 1  # how many values a draw can take


class RandomPanel(FeedView):
    """The current number, the last ten newest first, and the distribution so far."""

    history_length = param.Integer(default=10, bounds=(1, None), doc="Numbers in the history.")
    bins = param.Integer(
        default=10,
        bounds=(1, _SPAN),
        doc=f"Histogram bins over {RANDOM_MIN}–{RANDOM_MAX}: a divisor of {_SPAN}.",
    )
    histogram_period = param.Number(
        default=1.0,
        bounds=(0, None),
        doc="Seconds between histogram redraws (browsers repaint it).",
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if _SPAN % self.bins:
            raise ValueError(f"bins={self.bins} must divide the {_SPAN} values evenly")
        # [value, HH:MM:SS, timestamp] as the board shows them, each formatted once.
        self._recent: deque[list[str]] = deque(maxlen=self.history_length)
        self._counts = RollingCounts(self._rows.maxlen)
        self._histogram_stale = False
        self._histogram_drawn = float("-inf")
        self.figure, self.bars, self.expected = charts.histogram_figure(self.labels)
        self._count_range = cast(Range1d, self.figure.y_range)
        labels = self.labels
        self.board = NumberBoard(
            label=labels.current_number,
            received_at=labels.received_at,
            history_title=labels.history,
            waiting=labels.waiting_number,
            stylesheets=[CSS],
            sizing_mode="stretch_width",
            margin=(5, 10),
            name="random-current",
        )
        self._chart = pn.pane.Bokeh(self.figure, sizing_mode="stretch_width")
        # Side by side when there is room, the chart below the board on a phone.
        # (Both grow into a line of their own; beside each other, the chart takes the room.)
        self._pane = pn.FlexBox(
            pn.Column(self.board, sizing_mode="stretch_width", styles={"flex": "1 1 300px"}),
            pn.Column(self._chart, sizing_mode="stretch_width", styles={"flex": "100 1 400px"}),
            sizing_mode="stretch_width",
        )

    def _apply(self, rows: list[Row], now: float) -> None:
        # The histogram follows the buffer row by row (see RollingCounts), whatever
        # the rows are, so that it covers exactly what the buffer holds.
        self._counts.add(_whole_number(r) for r in rows)
        numbers = [
            r
            for r in rows
            if r.get("type") == Kind.RANDOM_NUMBER and is_finite_number(r.get("value"))
        ]
        if not numbers:
            return
        for row in numbers[-self.history_length :]:
            stamp = str(row.get("timestamp", ""))
            self._recent.appendleft([str(row["value"]), local_time(stamp), stamp])
        self.board.numbers = list(self._recent)
        self._histogram_stale = True

    def _update(self, now: float) -> int:
        applied = super()._update(now)
        if self._histogram_stale and self.beat.due(
            self._histogram_drawn, now, self.histogram_period
        ):
            self._update_histogram()
            self._histogram_stale, self._histogram_drawn = False, now
        return applied

    def _update_histogram(self) -> None:
        hist = self._counts.histogram(self.bins)
        self.bars.data = {
            "center": (hist.left + hist.right) / 2,
            "top": hist.counts,
            "width": np.full(len(hist.counts), (hist.right[0] - hist.left[0] + 1) * 0.9),
            "range": [f"{lo}–{hi}" for lo, hi in zip(hist.left, hist.right, strict=True)],
        }
        edge = hist.left[0] - 0.5, hist.right[-1] + 0.5
        self.expected.data = {"x": list(edge), "y": [hist.expected, hist.expected]}
        # Set here rather than by a DataRange1d (see charts.py), with room above the
        # tallest bar for the legend, which would otherwise cover it.
        self._count_range.end = max(float(hist.counts.max()), hist.expected, 1.0) * LEGEND_ROOM

    @property
    def bokeh_panes(self) -> list[pn.pane.Bokeh]:
        return [self._chart]

    def __panel__(self) -> pn.FlexBox:
        return self._pane


def _whole_number(row: Row) -> int | None:
    """The row's ``value`` if it is a whole random number in range, else ``None``."""
    value = row.get("value")
    if row.get("type") != Kind.RANDOM_NUMBER or isinstance(value, bool):
        return None
    if isinstance(value, int) and RANDOM_MIN <= value <= RANDOM_MAX:
        return value
    return None
