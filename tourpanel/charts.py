"""The Bokeh figures: seats over time (a step line per tour) and the number histogram.

Plain Bokeh, no Panel: the views own the data flow; these functions only build
models with stable names so that tests and browsers can find them.
"""

from __future__ import annotations

from typing import Any

from bokeh.models import ColumnDataSource, DataRange1d, HoverTool, Range1d
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from .labels import Labels
from .protocol import RANDOM_MAX, RANDOM_MIN

__all__ = ["add_tour_line", "histogram_figure", "seat_figure", "tour_color"]


def seat_figure(labels: Labels) -> tuple[figure, ColumnDataSource]:
    """The seat chart and the source of its dotted tails (one segment per tour, to now).

    The time axis is a ``Range1d`` that the view moves itself, in the same update
    as the tails: a ``DataRange1d`` would be recomputed in the browser while it
    paints, which asks for a second paint each time and sends the new range back
    to the server. One renderer draws every tail, so each repaint walks fewer views.
    """
    fig = figure(
        title=labels.seat_chart_title,
        x_axis_type="datetime",
        x_axis_label=labels.time,
        y_axis_label=labels.seats,
        height=320,
        sizing_mode="stretch_width",
        toolbar_location="above",
        tools="pan,xwheel_zoom,box_zoom,reset,save",
        name="seat-chart",
        x_range=Range1d(start=0, end=1),
        y_range=DataRange1d(start=0),
    )
    tails = ColumnDataSource(
        {"x0": [], "x1": [], "y": [], "name": [], "color": []}, name="seat-tails"
    )
    # Drawn from the start, so the figure never has "no renderers".
    fig.segment("x0", "y", "x1", "y", source=tails, line_width=2, color="color", line_dash="dotted")
    fig.add_tools(HoverTool(tooltips=[("", "@name"), (labels.seats, "@y")]))
    return fig, tails


def tour_color(index: int) -> str:
    """The colour of the ``index``-th tour: its line, dots and tail."""
    return str(Category10_10[index % len(Category10_10)])


def add_tour_line(
    fig: figure, tour_id: str, name: str, color: str, data: dict[str, Any]
) -> ColumnDataSource:
    """A step line with a dot per update for one tour, starting with ``data``.

    Returns the source, named ``seats-<tourId>``. A new source gets its first
    points in its constructor, never by ``stream()``: the browser would receive
    them twice, once with the new model and once streamed.
    """
    source = ColumnDataSource(data, name=f"seats-{tour_id}")
    fig.step("x", "y", source=source, mode="after", line_width=2, color=color, legend_label=name)
    fig.scatter("x", "y", source=source, size=4, color=color)
    fig.legend.location = "bottom_left"
    fig.legend.background_fill_alpha = 0.6  # the lines show through where they meet
    fig.legend.click_policy = "hide"
    return source


def histogram_figure(labels: Labels) -> tuple[figure, ColumnDataSource, ColumnDataSource]:
    """Bars of counts per bin and a line at the uniform expectation.

    The count axis is a ``Range1d`` the view sets with each redraw, for the same
    reason as the seat chart's time axis: one paint per redraw, nothing sent back.
    """
    fig = figure(
        title=labels.histogram_title,
        x_axis_label=labels.value,
        y_axis_label=labels.histogram_count,
        height=260,
        sizing_mode="stretch_width",
        toolbar_location=None,
        name="random-histogram-figure",
        x_range=Range1d(start=RANDOM_MIN - 0.5, end=RANDOM_MAX + 0.5),
        y_range=Range1d(start=0, end=1),
    )
    bars = ColumnDataSource(
        {"center": [], "top": [], "width": [], "range": []}, name="random-histogram"
    )
    fig.vbar(x="center", top="top", width="width", source=bars, color="#667eea", alpha=0.8)
    expected = ColumnDataSource({"x": [], "y": []}, name="random-expected")
    fig.line(
        "x",
        "y",
        source=expected,
        color="#dc3545",
        line_dash="dashed",
        line_width=2,
        legend_label=labels.histogram_expected,
    )
    fig.legend.location = "top_right"
    fig.legend.background_fill_alpha = 0.6  # the bars show through where they meet
    fig.add_tools(HoverTool(tooltips=[(labels.value, "@range"), (labels.histogram_count, "@top")]))
    return fig, bars, expected
