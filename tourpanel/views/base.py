"""What every live view shares: a periodic, batched flush, and reading a buffer by cursor.

A flush runs from a periodic callback on the session's own event loop (``start()``),
never from the listener thread, and applies everything new inside ``pn.io.hold()``.
Each browser session builds its own views, figures and sources.
"""

from __future__ import annotations

import html
import logging
import time
from importlib.resources import files
from typing import Any, NamedTuple

import panel as pn
import param
from bokeh.document import Document
from bokeh.server.callbacks import PeriodicCallback as BokehPeriodicCallback

from ..beat import Beat
from ..buffer import FeedBuffer, Row
from ..defaults import FLUSH_MS, FLUSH_MS_MIN
from ..labels import LABELS, Labels
from .markup import LiveMarkup

__all__ = ["CSS", "FeedView", "LiveView"]

log = logging.getLogger("tourpanel.views")

CSS = files("tourpanel.views").joinpath("views.css").read_text(encoding="utf-8")
"""The views' stylesheet (``views.css``, shipped as package data)."""


def html_pane(text: str, **params: Any) -> LiveMarkup:
    """Markup styled with the views' stylesheet, changed by setting its ``html``."""
    return LiveMarkup(html=text, stylesheets=[CSS], sizing_mode="stretch_width", **params)


def waiting(text: str) -> str:
    return f'<div class="tp-waiting">{html.escape(text)}</div>'


class LiveView(pn.viewable.Viewer):
    """Base of the live components: a periodic, batched flush of new data."""

    labels = param.ClassSelector(
        class_=Labels, default=LABELS["en"], doc="Texts to show (see tourpanel.labels)."
    )
    flush_period = param.Integer(
        default=FLUSH_MS, bounds=(FLUSH_MS_MIN, None), doc="Milliseconds between two flushes."
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._callback: Any = None
        self._running = False
        self.beat = Beat()  # a Dashboard gives its parts its own, so they redraw together

    def flush(self, now: float | None = None) -> int:
        """Apply everything new in one held batch; returns how many rows it applied."""
        with pn.io.hold():
            applied = self._update(time.time() if now is None else now)
        # In a notebook, changes to raw Bokeh models travel only when pushed; on a
        # server this finds no comm and does nothing.
        for pane in self.bokeh_panes:
            pn.io.push_notebook(pane)
        return applied

    @property
    def bokeh_panes(self) -> list[pn.pane.Bokeh]:
        """Panes whose Bokeh models this view changes directly."""
        return []

    def _update(self, now: float) -> int:
        raise NotImplementedError

    def _tick(self) -> None:
        self.flush()

    def start(self) -> LiveView:
        """Flush every ``flush_period`` ms once the page has loaded, until it closes.

        Starting only after the browser is connected matters: a stream sent while
        a session is still being set up can be lost on the way to the page.
        """
        if not self._running:
            self._running = True
            pn.state.onload(self._begin)
            if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
                pn.state.on_session_destroyed(lambda _context: self._ended())
        return self

    def _begin(self) -> None:
        if self._running and self._callback is None:
            self.flush()
            doc = pn.state.curdoc
            if doc is not None and doc.session_context is not None:
                # Bokeh's own timer, not Panel's: Panel's marks every run as a "busy"
                # event in process-wide state, which costs a server with many tabs a
                # large share of its time (measured in docs/benchmarks.md, "Where the
                # Panel process's time goes") and would spin busy indicators.
                self._callback = _SessionTimer(
                    doc, doc.add_periodic_callback(self._tick, self.flush_period)
                )
            else:
                self._callback = pn.state.add_periodic_callback(
                    self._tick, period=self.flush_period
                )

    def stop(self) -> None:
        if self._callback is not None:
            self._callback.stop()
        self._ended()

    def _ended(self) -> None:
        """Forget the timer; a closed session has already removed its own."""
        self._running = False
        self._callback = None


class _SessionTimer(NamedTuple):
    """A Bokeh periodic callback of one session's document, stopped like Panel's."""

    doc: Document
    callback: BokehPeriodicCallback

    def stop(self) -> None:
        self.doc.remove_periodic_callback(self.callback)


class FeedView(LiveView):
    """A live view of one feed's buffer, read through a cursor.

    It starts from the oldest row the buffer holds, so a new tab shows the buffered
    history. Rows that leave the buffer before the view reads them (the feed outran
    the flushes) are counted in :attr:`missed`, which the feed status shows.
    """

    buffer = param.ClassSelector(
        class_=FeedBuffer,
        constant=True,
        doc="The feed's rows, e.g. a listener's ``buffer``; the view only reads it.",
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.buffer is None:
            name = type(self).__name__
            raise TypeError(f"{name} needs a buffer: {name}(buffer=feed('tours').buffer)")
        self._rows: FeedBuffer = self.buffer  # constant: read through this, never None
        self._cursor = 0
        self._read = False  # before the first read, nothing was the view's to miss
        self._missed = 0

    @property
    def missed(self) -> int:
        """Rows that left the buffer after this view started and before it read them."""
        return self._missed

    def _update(self, now: float) -> int:
        batch = self._rows.since(self._cursor)
        self._cursor = batch.cursor
        if self._read:
            self._missed += batch.skipped
        self._read = True
        if batch.rows:
            try:
                self._apply(batch.rows, now)
            except Exception:  # one odd batch must not stop the page from updating
                log.exception(
                    "%s skipped %d rows it could not show", type(self).__name__, len(batch.rows)
                )
        return len(batch.rows)

    def _apply(self, rows: list[Row], now: float) -> None:
        raise NotImplementedError
