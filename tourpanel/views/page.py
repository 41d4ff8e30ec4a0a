"""The whole page: status, tour cards, seat chart and random numbers, flushed together."""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from ..buffer import FeedBuffer
from ..defaults import CHART_POINTS, CHART_POINTS_MIN
from .base import FeedView, LiveView
from .cards import TourCards
from .numbers import RandomPanel
from .seats import SeatChart
from .status import FeedStatus

__all__ = ["Dashboard"]


class Dashboard(LiveView):
    """The lesson's two feeds on one page, every part flushed in the same batch.

    It reads buffers and stats sources only: ``Dashboard(tours=listener.buffer,
    sources={"tours": listener})``. A feed without a buffer gets no section; the
    status table shows every source, with the rows this page missed of the feeds
    it shows (``sources`` keys ``"tours"`` and ``"random"`` pair with the buffers).
    """

    tours = param.ClassSelector(
        class_=FeedBuffer,
        default=None,
        allow_None=True,
        constant=True,
        doc="The tours feed's buffer: tour cards and seat chart (none: no tours section).",
    )
    random = param.ClassSelector(
        class_=FeedBuffer,
        default=None,
        allow_None=True,
        constant=True,
        doc="The random feed's buffer: current number, history, histogram (none: no section).",
    )
    sources = param.Dict(
        default={},
        constant=True,
        doc="Feed name → stats source (e.g. its listener) for the status table.",
    )
    max_points = param.Integer(
        default=CHART_POINTS, bounds=(CHART_POINTS_MIN, None), doc="Chart points per tour."
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        shared = {"labels": self.labels}
        readers: dict[str, list[FeedView]] = {}
        sections: list[Any] = []
        if self.tours is not None:
            self.cards = TourCards(buffer=self.tours, **shared)
            self.chart = SeatChart(buffer=self.tours, max_points=self.max_points, **shared)
            readers["tours"] = [self.cards, self.chart]
            sections += [pn.pane.Markdown(f"## {self.labels.tours_title}"), self.cards, self.chart]
        if self.random is not None:
            self.numbers = RandomPanel(buffer=self.random, **shared)
            readers["random"] = [self.numbers]
            sections += [pn.pane.Markdown(f"## {self.labels.random_title}"), self.numbers]
        self.status = FeedStatus(sources=dict(self.sources), views=readers, **shared)
        # The status last: it shows what the views missed in this very flush.
        self.parts: list[LiveView] = [*(v for vs in readers.values() for v in vs), self.status]
        # The title and the status side by side on a wide screen, stacked on a phone.
        header = pn.FlexBox(
            pn.pane.Markdown(f"# {self.labels.title}", margin=(0, 10)),
            self.status,
            justify_content="space-between",
            align_items="center",
            sizing_mode="stretch_width",
        )
        self._layout = pn.Column(header, *sections, sizing_mode="stretch_width", max_width=1200)
        for part in self.parts:
            part.beat = self.beat

    def _update(self, now: float) -> int:
        return sum(part._update(now) for part in self.parts)

    @property
    def bokeh_panes(self) -> list[pn.pane.Bokeh]:
        return [pane for part in self.parts for pane in part.bokeh_panes]

    def __panel__(self) -> pn.Column:
        return self._layout
