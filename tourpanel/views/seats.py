"""Seats over time: a step line per tour, streamed with rollover, carried on to now."""

from __future__ import annotations

import time
from typing import Any, NamedTuple, cast

import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, Range1d

from .. import charts
from ..buffer import Row
from ..defaults import CHART_POINTS, CHART_POINTS_MIN
from ..summaries import chart_ms, local_ms
from .base import FeedView
from .cards import TOUR_KINDS

__all__ = ["SeatChart"]


class _LastPoint(NamedTuple):
    """A tour's newest point: where its dotted tail starts."""

    name: str
    color: str
    x: float
    y: float


class SeatChart(FeedView):
    """Seats over time, a step line per tour, streamed with rollover.

    A dotted tail carries each tour's last value on to the present, so a tour that
    has not changed for a while still reads as a line, not a lone dot. The time
    axis follows from the oldest point to now, until the user pans or zooms; the
    chart's reset tool brings the following back.
    """

    max_points = param.Integer(
        default=CHART_POINTS, bounds=(CHART_POINTS_MIN, None), doc="Points kept per tour."
    )
    tail_period = param.Number(
        default=5.0,
        bounds=(0, None),
        doc="Seconds between tail moves with no new seats (a repaint of the chart in every tab).",
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.figure, self.tails = charts.seat_figure(self.labels)
        self._time_range = cast(Range1d, self.figure.x_range)
        self.sources: dict[str, ColumnDataSource] = {}  # per tour id, named seats-<id>
        self._last: dict[str, _LastPoint] = {}  # per tour, where its tail starts
        self._tail_moved = 0.0
        self._pane = pn.pane.Bokeh(self.figure, sizing_mode="stretch_width")
        self._follow(chart_ms(time.time()))

    def _update(self, now: float) -> int:
        applied = super()._update(now)
        if applied or self.beat.due(self._tail_moved, now, self.tail_period):
            self._tail_moved = now
            now_x = chart_ms(now)
            tours = list(self._last.values())
            ends = [max(now_x, tour.x) for tour in tours]
            self.tails.data = {
                "x0": [tour.x for tour in tours],
                "x1": ends,
                "y": [tour.y for tour in tours],
                "name": [tour.name for tour in tours],
                "color": [tour.color for tour in tours],
            }
            self._follow(max(ends, default=now_x))
        return applied

    def _follow(self, end_x: float) -> None:
        """Show from the oldest point to ``end_x``, padded, unless the user moved the view.

        What this view sets last is kept as ``reset_start``/``reset_end`` too: a pan or
        zoom in the browser moves the range away from it, and the reset tool puts it
        back, which resumes the following.
        """
        x_range = self._time_range
        shown = (x_range.reset_start, x_range.reset_end)
        if shown[0] is not None and (x_range.start, x_range.end) != shown:
            return
        starts = [float(s.data["x"][0]) for s in self.sources.values() if len(s.data["x"])]
        start = min(starts, default=end_x - 60_000.0)
        pad = max(end_x - start, 1000.0) * 0.05
        x_range.update(
            start=start - pad, end=end_x + pad, reset_start=start - pad, reset_end=end_x + pad
        )

    def _apply(self, rows: list[Row], now: float) -> None:
        tours = [
            r for r in rows if r.get("type") in TOUR_KINDS and isinstance(r.get("tourId"), str)
        ]
        if not tours:
            return
        columns = ["tourId", "tourName", "availableSeats", "timestamp"]
        frame = pd.DataFrame.from_records(tours, columns=columns)
        stamps = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601", errors="coerce")
        frame["x"] = local_ms(stamps)
        frame["availableSeats"] = pd.to_numeric(frame["availableSeats"], errors="coerce")
        frame = frame.dropna(subset=["x", "availableSeats"])
        frame["tourName"] = frame["tourName"].where(frame["tourName"].notna(), frame["tourId"])
        for tour_id, group in frame.groupby("tourId", sort=False):
            key = str(tour_id)
            x, y = group["x"].to_numpy(), group["availableSeats"].to_numpy(dtype="float64")
            data = {"x": x, "y": y, "name": group["tourName"].astype(str).to_numpy()}
            name = str(group["tourName"].iloc[-1])
            if key in self.sources:
                self.sources[key].stream(data, rollover=self.max_points)
                color = self._last[key].color
            else:
                color = charts.tour_color(len(self.sources))
                recent = {column: values[-self.max_points :] for column, values in data.items()}
                self.sources[key] = charts.add_tour_line(self.figure, key, name, color, recent)
            self._last[key] = _LastPoint(name, color, float(x[-1]), float(y[-1]))

    @property
    def bokeh_panes(self) -> list[pn.pane.Bokeh]:
        return [self._pane]

    def __panel__(self) -> pn.pane.Bokeh:
        return self._pane
