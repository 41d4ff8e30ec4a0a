"""Live views for *any* JSON feed: the latest messages as a table, a numeric field over time.

They read a buffer as the tour and random views do (flattened rows, nested fields
as ``a.b`` columns) and flush the same way; see :mod:`tourpanel.views.base`.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure

from ..buffer import Row, to_frame
from ..defaults import CHART_POINTS, CHART_POINTS_MIN
from ..summaries import is_finite_number, local_ms
from .base import FeedView

__all__ = ["FieldPlot", "LatestTable"]


class LatestTable(FeedView):
    """The newest messages, newest first, with every column the feed has sent so far."""

    length = param.Integer(default=10, bounds=(1, 500), doc="Messages shown.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._latest: deque[Row] = deque(maxlen=self.length)
        self._pane = pn.pane.DataFrame(
            pd.DataFrame(), index=False, sizing_mode="stretch_width", max_rows=self.length
        )

    def _apply(self, rows: list[Row], now: float) -> None:
        self._latest.extend(rows[-self.length :])
        self._pane.object = to_frame(list(reversed(self._latest)))

    def __panel__(self) -> pn.pane.DataFrame:
        return self._pane


class FieldPlot(FeedView):
    """One numeric field over time (the server's ``timestamp``, else arrival time)."""

    field = param.String(default="value", doc="Column to plot, e.g. 'value' or 'price.bid'.")
    max_points = param.Integer(
        default=CHART_POINTS, bounds=(CHART_POINTS_MIN, None), doc="Points kept."
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.source = ColumnDataSource({"x": [], "y": []}, name=f"field-{self.field}")
        self.figure = figure(
            title=self.field,
            x_axis_type="datetime",
            height=280,
            sizing_mode="stretch_width",
            tools="pan,xwheel_zoom,box_zoom,reset,save",
        )
        self.figure.line("x", "y", source=self.source, line_width=2, color="#667eea")
        self.figure.scatter("x", "y", source=self.source, size=4, color="#667eea")
        self._pane = pn.pane.Bokeh(self.figure, sizing_mode="stretch_width")

    def _apply(self, rows: list[Row], now: float) -> None:
        picked = [r for r in rows if is_finite_number(r.get(self.field))]
        if not picked:
            return
        frame = to_frame(picked)
        times = [frame[c] for c in ("timestamp", "received") if c in frame]
        if not times:
            return  # nothing says when: a row from no listener and no server time
        when = times[0] if len(times) == 1 else times[0].fillna(times[1])
        known = when.notna().to_numpy()
        self.source.stream(
            {
                "x": local_ms(when[known]),
                "y": frame[self.field].to_numpy(dtype="float64")[known],
            },
            rollover=self.max_points,
        )

    @property
    def bokeh_panes(self) -> list[pn.pane.Bokeh]:
        return [self._pane]

    def __panel__(self) -> pn.pane.Bokeh:
        return self._pane
