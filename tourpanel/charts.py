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
from .sim import RANDOM_MAX, RANDOM_MIN

__all__ = ["add_tour_line", "histogram_figure", "seat_figure"]


def seat_figure(labels: Labels) -> figure:
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
        y_range=DataRange1d(start=0),
    )
    fig.scatter([], [], alpha=0)  # tours add their lines as they appear; never "no renderers"
    fig.add_tools(HoverTool(tooltips=[("", "@name"), (labels.seats, "@y")]))
    return fig


def add_tour_line(
    fig: figure, tour_id: str, name: str, index: int, data: dict[str, Any]
) -> tuple[ColumnDataSource, ColumnDataSource]:
    """A step line for one tour starting with ``data``, and its flat tail up to now.

    Returns the sources, named ``seats-<tourId>`` and ``seats-now-<tourId>``. A new
    source gets its first points in its constructor, never by ``stream()``: the
    browser would receive them twice, once with the new model and once streamed.
    """
    source = ColumnDataSource(data, name=f"seats-{tour_id}")
    tail = ColumnDataSource({"x": [], "y": []}, name=f"seats-now-{tour_id}")
    color = Category10_10[index % len(Category10_10)]
    fig.step("x", "y", source=source, mode="after", line_width=2, color=color, legend_label=name)
    fig.scatter("x", "y", source=source, size=4, color=color)
    fig.line("x", "y", source=tail, line_width=2, color=color, line_dash="dotted")
    fig.legend.location = "bottom_left"
    fig.legend.click_policy = "hide"
    return source, tail


def histogram_figure(labels: Labels) -> tuple[figure, ColumnDataSource, ColumnDataSource]:
    """Bars of counts per bin and a line at the uniform expectation."""
    fig = figure(
        title=labels.histogram_title,
        x_axis_label=labels.value,
        y_axis_label=labels.histogram_count,
        height=260,
        sizing_mode="stretch_width",
        toolbar_location=None,
        name="random-histogram-figure",
        x_range=Range1d(start=RANDOM_MIN - 0.5, end=RANDOM_MAX + 0.5),
        y_range=DataRange1d(start=0),
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
    fig.add_tools(HoverTool(tooltips=[(labels.value, "@range"), (labels.histogram_count, "@top")]))
    return fig, bars, expected
