"""Panel components for live feeds: tour cards, seat chart, random numbers, feed status.

Each component reads its feed's buffer through a cursor and applies every new row
in one batch per flush, inside ``pn.io.hold()``. A flush runs from a periodic
callback on the session's own event loop (``start()``), never from the listener
thread. Each browser session builds its own components, figures and sources.
"""

from __future__ import annotations

import html
import logging
import math
import time
from collections import deque
from datetime import datetime, tzinfo
from typing import Any, NamedTuple, cast

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.document import Document
from bokeh.models import Range1d
from bokeh.server.callbacks import PeriodicCallback as BokehPeriodicCallback

from . import charts
from .beat import Beat
from .board import NumberBoard
from .buffer import FeedBuffer, Row
from .labels import LABELS, Labels
from .listener import FeedListener
from .offline import serve_css_from_jupyter
from .protocol import RANDOM_MAX, RANDOM_MIN
from .stats import Status
from .summaries import RateMeter, RollingCounts, availability_level, local_time, message_age

__all__ = ["Dashboard", "FeedStatus", "LiveView", "RandomPanel", "SeatChart", "TourCards"]

log = logging.getLogger("tourpanel.views")

TOUR_TYPES = frozenset({"INITIAL_STATE", "AVAILABILITY_UPDATE"})
NUMBER_TYPE = "RANDOM_NUMBER"

CSS = """
:host { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.tp-cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 16px; }
.tp-card { background: #fff; border-radius: 10px; box-shadow: 0 2px 6px rgba(0,0,0,.12);
  overflow: hidden; border-left: 6px solid #999; }
.tp-card.tp-high { border-left-color: #28a745; }
.tp-card.tp-medium { border-left-color: #ffc107; }
.tp-card.tp-low { border-left-color: #dc3545; }
.tp-card-header { background: linear-gradient(135deg, #667eea 0%, #764ba2 100%); color: #fff;
  padding: 10px 14px; font-weight: 600; font-size: 16px; }
.tp-card-body { display: flex; align-items: baseline; justify-content: center; gap: 8px;
  padding: 12px 0 4px; }
.tp-dot { width: 14px; height: 14px; border-radius: 50%; display: inline-block;
  align-self: center; }
.tp-high .tp-dot { background: #28a745; } .tp-medium .tp-dot { background: #ffc107; }
.tp-low .tp-dot { background: #dc3545; }
.tp-seats { font-size: 40px; font-weight: 700; color: #333; }
.tp-unit { color: #6c757d; font-size: 16px; }
.tp-updated { text-align: center; color: #6c757d; font-size: 12px; padding: 4px 0 10px; }
.tp-waiting { color: #6c757d; font-style: italic; padding: 16px; text-align: center; }
.tp-number { background: linear-gradient(135deg, #667eea 0%, #764ba2 100%); color: #fff;
  border-radius: 10px; text-align: center; padding: 14px; }
.tp-number-label { opacity: .9; font-size: 14px; }
.tp-number-value { font-size: 56px; font-weight: 700; line-height: 1.1; }
.tp-number-time { opacity: .85; font-size: 13px; }
.tp-history h4 { margin: 10px 0 6px; color: #333; }
.tp-history ol { list-style: none; padding: 0; margin: 0; }
.tp-history li { display: flex; justify-content: space-between; background: #f8f9fa;
  border-radius: 6px; padding: 4px 10px; margin-bottom: 4px; }
.tp-history-value { font-weight: 700; color: #667eea; }
.tp-history-time { color: #6c757d; font-size: 12px; }
.tp-status { border-collapse: collapse; font-size: 13px; }
.tp-status td, .tp-status th { padding: 3px 8px; text-align: left; white-space: nowrap; }
.tp-status th { color: #6c757d; font-weight: 500; }
.tp-badge { border-radius: 12px; padding: 2px 10px; font-weight: 600; }
.tp-badge.connected { background: #d4edda; color: #155724; }
.tp-badge.connecting, .tp-badge.reconnecting { background: #fff3cd; color: #856404; }
.tp-badge.disconnected { background: #f8d7da; color: #721c24; }
"""


def _html(text: str, **params: Any) -> pn.pane.HTML:
    return pn.pane.HTML(text, stylesheets=[CSS], sizing_mode="stretch_width", **params)


def _waiting(text: str) -> str:
    return f'<div class="tp-waiting">{html.escape(text)}</div>'


class LiveView(pn.viewable.Viewer):
    """Base of the live components: a periodic, batched flush of new data."""

    labels = param.ClassSelector(
        class_=Labels, default=LABELS["en"], doc="Texts to show (see tourpanel.labels)."
    )
    flush_period = param.Integer(
        default=250, bounds=(20, None), doc="Milliseconds between two flushes."
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._callback: Any = None
        self._running = False
        self.beat = Beat()  # a Dashboard gives its parts its own, so they redraw together

    def flush(self, now: float | None = None) -> int:
        """Apply everything new in one held batch; returns how many rows it applied."""
        if pn.state.curdoc is None or pn.state.curdoc.session_context is None:
            serve_css_from_jupyter(self.__panel__())  # a notebook: keep off the CDN
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
                # event in process-wide state, which with 20 tabs flushing four times
                # a second cost the process a third of its time (docs/benchmarks.md)
                # and would spin busy indicators.
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
    """A live view of one feed's buffer, read through a cursor."""

    listener = param.ClassSelector(class_=FeedListener, doc="The feed to show.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._cursor = 0  # from the oldest held row: a new tab shows the buffered history

    @property
    def buffer(self) -> FeedBuffer:
        assert self.listener is not None, "give the view a listener"
        return self.listener.buffer

    def _update(self, now: float) -> int:
        batch = self.buffer.since(self._cursor)
        self._cursor = batch.cursor
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


class TourCards(FeedView):
    """One card per tour: name, seats coloured by the lesson's thresholds, last update."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._tours: dict[str, tuple[str, int, str]] = {}
        self._pane = _html(self._render(), name="tour-cards")

    def _apply(self, rows: list[Row], now: float) -> None:
        changed = False
        for row in rows:
            tour_id, seats = row.get("tourId"), row.get("availableSeats")
            if (
                row.get("type") in TOUR_TYPES
                and isinstance(tour_id, str)
                and isinstance(seats, int)
            ):
                name = str(row.get("tourName") or tour_id)
                self._tours[tour_id] = (name, seats, str(row.get("timestamp", "")))
                changed = True
        if changed:
            self._pane.object = self._render()

    def _render(self) -> str:
        if not self._tours:
            return _waiting(self.labels.waiting_tours)
        cards = []
        for tour_id, (name, seats, stamp) in self._tours.items():
            cards.append(
                f'<div class="tp-card tp-{availability_level(seats)}" '
                f'data-tour="{html.escape(tour_id)}" data-seats="{seats}">'
                f'<div class="tp-card-header">{html.escape(name)}</div>'
                f'<div class="tp-card-body"><span class="tp-dot"></span>'
                f'<span class="tp-seats">{seats}</span>'
                f'<span class="tp-unit">{html.escape(self.labels.seats)}</span></div>'
                f'<div class="tp-updated">{html.escape(self.labels.updated)} '
                f"{html.escape(local_time(stamp))}</div></div>"
            )
        return f'<div class="tp-cards">{"".join(cards)}</div>'

    def __panel__(self) -> pn.pane.HTML:
        return self._pane


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

    max_points = param.Integer(default=2000, bounds=(10, None), doc="Points kept per tour.")
    tail_period = param.Number(
        default=5.0,
        bounds=(0, None),
        doc="Seconds between tail moves with no new seats (a repaint of the chart in every tab).",
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.figure, self.tails = charts.seat_figure(self.labels)
        self._time_range = cast(Range1d, self.figure.x_range)
        self.sources: dict[str, Any] = {}
        self._last: dict[str, _LastPoint] = {}  # per tour, where its tail starts
        self._tail_moved = 0.0
        self._pane = pn.pane.Bokeh(self.figure, sizing_mode="stretch_width")
        self._follow(_now_ms(time.time()))

    def _update(self, now: float) -> int:
        applied = super()._update(now)
        if applied or self.beat.due(self._tail_moved, now, self.tail_period):
            self._tail_moved = now
            now_x = _now_ms(now)
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
            r for r in rows if r.get("type") in TOUR_TYPES and isinstance(r.get("tourId"), str)
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


def _now_ms(now: float) -> float:
    """POSIX seconds → the chart's time axis, as ``local_ms`` (without pandas: every second)."""
    offset = datetime.fromtimestamp(now, _local_zone()).utcoffset()
    return (now + (offset.total_seconds() if offset else 0.0)) * 1000.0


def local_ms(stamps: pd.Series) -> np.ndarray:
    """UTC datetimes → this machine's wall-clock time in ms, for Bokeh's datetime axis."""
    local = stamps.dt.tz_convert(_local_zone()).dt.tz_localize(None)
    millis: np.ndarray = local.to_numpy().astype("datetime64[ms]").astype("float64")
    return millis


def _local_zone() -> tzinfo | None:
    return datetime.now().astimezone().tzinfo


class RandomPanel(FeedView):
    """The current number, the last ten newest first, and the distribution so far."""

    history_length = param.Integer(default=10, bounds=(1, None), doc="Numbers in the history.")
    bins = param.Integer(default=10, doc="Histogram bins over 1–100 (a divisor of 100).")
    histogram_period = param.Number(
        default=1.0,
        bounds=(0, None),
        doc="Seconds between histogram redraws (browsers repaint it).",
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        # [value, HH:MM:SS, timestamp] as the board shows them, each formatted once.
        self._recent: deque[list[str]] = deque(maxlen=self.history_length)
        self._counts = RollingCounts(self.buffer.maxlen)
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
        self._pane = pn.Row(
            pn.Column(self.board, width=320), self._chart, sizing_mode="stretch_width"
        )

    def _apply(self, rows: list[Row], now: float) -> None:
        # The histogram follows the buffer row by row (see RollingCounts), whatever
        # the rows are, so that it covers exactly what the buffer holds.
        self._counts.add(_whole_number(r) for r in rows)
        numbers = [r for r in rows if r.get("type") == NUMBER_TYPE and _is_number(r.get("value"))]
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
        # What DataRange1d would show (5 % above the top), set here: see charts.py.
        self._count_range.end = max(float(hist.counts.max()), hist.expected, 1.0) * 1.05

    @property
    def bokeh_panes(self) -> list[pn.pane.Bokeh]:
        return [self._chart]

    def __panel__(self) -> pn.Row:
        return self._pane


def _whole_number(row: Row) -> int | None:
    """The row's ``value`` if it is a random number 1–100, else ``None``."""
    value = row.get("value")
    if row.get("type") != NUMBER_TYPE or isinstance(value, bool):
        return None
    if isinstance(value, int) and RANDOM_MIN <= value <= RANDOM_MAX:
        return value
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class FeedStatus(LiveView):
    """Per feed: connection state, messages per second, message age, gaps and resyncs."""

    listeners = param.Dict(default={}, doc="Feed name → FeedListener.")
    refresh_period = param.Number(
        default=1.0, bounds=(0, None), doc="Seconds between refreshes of rates and ages."
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._meters = {name: RateMeter() for name in self.listeners}
        self._shown: tuple[Status, ...] = ()
        self._refreshed = float("-inf")
        self._pane = _html(self._render(time.time()), name="feed-status")

    def _update(self, now: float) -> int:
        # A change of state shows at once; rates and ages once per refresh period.
        states = tuple(listener.stats().status for listener in self.listeners.values())
        if states != self._shown or self.beat.due(self._refreshed, now, self.refresh_period):
            self._shown, self._refreshed = states, now
            text = self._render(now)
            if text != self._pane.object:
                self._pane.object = text
        return 0

    def _render(self, now: float) -> str:
        text = self.labels
        head = "".join(
            f"<th>{html.escape(h)}</th>"
            for h in ("", "", text.rate, text.age, text.gaps, text.resyncs)
        )
        rows = []
        for name, listener in self.listeners.items():
            stats = listener.stats()
            rate = self._meters[name].update(stats.messages)
            age = message_age(stats.last_timestamp, now)
            rows.append(
                f'<tr data-feed="{html.escape(name)}" data-status="{stats.status.value}">'
                f"<td><b>{html.escape(name)}</b></td>"
                f'<td><span class="tp-badge {stats.status.value}" '
                f'title="{html.escape(stats.last_error or "")}">'
                f"{html.escape(self._status_text(stats.status, stats.next_retry_at, now))}"
                f"</span></td><td>{rate:.1f}</td>"
                f"<td>{'–' if age is None else f'{age:.1f} s'}</td>"
                f"<td>{stats.gaps}</td><td>{stats.resyncs}</td></tr>"
            )
        return f'<table class="tp-status"><tr>{head}</tr>{"".join(rows)}</table>'

    def _status_text(self, status: Status, retry_at: float | None, now: float) -> str:
        if status is Status.RECONNECTING:
            seconds = max(0.0, (retry_at or now) - now)
            return self.labels.reconnecting.format(seconds=f"{seconds:.0f}")
        return str(getattr(self.labels, status.value))

    def __panel__(self) -> pn.pane.HTML:
        return self._pane


class Dashboard(LiveView):
    """The whole page: status, tour cards, seat chart and random numbers, flushed together."""

    tours = param.ClassSelector(class_=FeedListener, default=None, doc="The tours feed.")
    random = param.ClassSelector(class_=FeedListener, default=None, doc="The random feed.")
    max_points = param.Integer(default=2000, bounds=(10, None), doc="Chart points per tour.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        shared = {"labels": self.labels}
        self.parts: list[LiveView] = []
        feeds = {name: lis for name, lis in (("tours", self.tours), ("random", self.random)) if lis}
        self.status = FeedStatus(listeners=feeds, **shared)
        self.parts.append(self.status)
        sections: list[Any] = []
        if self.tours is not None:
            self.cards = TourCards(listener=self.tours, **shared)
            self.chart = SeatChart(listener=self.tours, max_points=self.max_points, **shared)
            self.parts += [self.cards, self.chart]
            sections += [pn.pane.Markdown(f"## {self.labels.tours_title}"), self.cards, self.chart]
        if self.random is not None:
            self.numbers = RandomPanel(listener=self.random, **shared)
            self.parts.append(self.numbers)
            sections += [pn.pane.Markdown(f"## {self.labels.random_title}"), self.numbers]
        header = pn.Row(
            pn.pane.Markdown(f"# {self.labels.title}", sizing_mode="stretch_width"),
            self.status,
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
