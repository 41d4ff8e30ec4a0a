"""The Panel components rendered headless: flush, then assert on the Bokeh models."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from typing import Any

import pytest
from bokeh.document import Document
from bokeh.model import DataModel
from bokeh.models import ColumnDataSource
from panel.models import HTML
from pyviz_comms import Comm

from tourpanel.buffer import FeedBuffer
from tourpanel.labels import LABELS, labels_for
from tourpanel.stats import FeedStats, Status
from tourpanel.summaries import RateMeter, RollingCounts, availability_level, message_age
from tourpanel.views import (
    Dashboard,
    FeedStatus,
    FieldPlot,
    LatestTable,
    RandomPanel,
    SeatChart,
    TourCards,
)

from .conftest import free_port, wait_until

STAMP = "2025-01-08T10:50:{:02d}.000Z"
NOW = 1736333400.0  # 2025-01-08T10:50:00Z, the rows' own time

HEALTHY = FeedStats(
    url="ws://127.0.0.1:9/unused",
    status=Status.CONNECTED,
    messages=0,
    last_received=None,
    last_timestamp=None,
    next_retry_at=None,
    gaps=0,
    resyncs=0,
    retries=0,
    discarded=0,
    last_error=None,
    epoch=None,
    seq=None,
)


class Recorded:
    """A stats source that is not a listener: it says what it was told to."""

    def __init__(self, **changes: Any) -> None:
        self.snapshot = replace(HEALTHY, **changes)

    def stats(self) -> FeedStats:
        return self.snapshot


@pytest.fixture
def buffer() -> FeedBuffer:
    """A feed's buffer alone: the tests fill it as a listener would."""
    return FeedBuffer()


def tour(
    tour_id: str, seats: int, second: int = 0, kind: str = "AVAILABILITY_UPDATE"
) -> dict[str, Any]:
    names = {"tour_paris": "Paris City Tour", "tour_rome": "Rome Colosseum Tour"}
    return {
        "type": kind,
        "tourId": tour_id,
        "tourName": names.get(tour_id, tour_id),
        "availableSeats": seats,
        "timestamp": STAMP.format(second),
    }


def number(value: int, second: int = 0) -> dict[str, Any]:
    return {"type": "RANDOM_NUMBER", "value": value, "timestamp": STAMP.format(second)}


def render(view: Any) -> Any:
    return view.__panel__().get_root(Document(), comm=Comm())


def html_text(root: Any) -> str:
    """The markup of every HTML pane and every LiveMarkup (its data model holds ``html``)."""
    panes = [model.text for model in root.select({"type": HTML})]
    markup = [model.html for model in root.select({"type": DataModel}) if hasattr(model, "html")]
    return " ".join(html.unescape(text) for text in panes + markup)


def test_tour_cards_wait_then_show_each_tour_coloured(buffer: FeedBuffer) -> None:
    cards = TourCards(buffer=buffer)
    root = render(cards)
    assert "Waiting for tour data" in html_text(root)
    buffer.extend(
        [tour("tour_paris", 20, kind="INITIAL_STATE"), tour("tour_rome", 7), tour("tour_x", 2)]
    )
    assert cards.flush() == 3
    text = html_text(root)
    assert 'data-tour="tour_paris" data-seats="20"' in text
    assert "tp-card tp-high" in text
    assert 'class="tp-card tp-medium" data-tour="tour_rome"' in text
    assert 'class="tp-card tp-low" data-tour="tour_x"' in text
    assert "Rome Colosseum Tour" in text
    buffer.append(tour("tour_paris", 4, second=5))
    cards.flush()
    assert 'class="tp-card tp-low" data-tour="tour_paris" data-seats="4"' in html_text(root)


def test_seat_chart_streams_one_line_per_tour_with_rollover(buffer: FeedBuffer) -> None:
    chart = SeatChart(buffer=buffer, max_points=10)
    root = render(chart)
    buffer.extend(tour("tour_paris", 20 - i, second=i) for i in range(15))
    buffer.append(tour("tour_rome", 18, kind="INITIAL_STATE"))
    buffer.append({"type": "WELCOME", "message": "hi", "timestamp": STAMP.format(0)})
    chart.flush()
    sources = {s.name: s for s in root.select({"type": ColumnDataSource})}
    paris = sources["seats-tour_paris"].data
    assert list(paris["y"]) == [float(20 - i) for i in range(5, 15)]  # the newest 10
    assert list(sources["seats-tour_rome"].data["y"]) == [18.0]
    assert paris["x"][1] - paris["x"][0] == 1000.0  # one second apart, in milliseconds
    buffer.append(tour("tour_paris", 1, second=20))
    chart.flush()
    assert sources["seats-tour_paris"].data["y"][-1] == 1.0
    assert len(sources["seats-tour_paris"].data["y"]) == 10


def test_seat_chart_carries_each_tour_on_to_now(buffer: FeedBuffer) -> None:
    chart = SeatChart(buffer=buffer)
    root = render(chart)
    buffer.append(tour("tour_rome", 18, second=0, kind="INITIAL_STATE"))
    chart.flush(now=1736333400.0)  # the update's own time
    chart.flush(now=1736333460.0)  # a minute later, nothing new
    sources = {s.name: s for s in root.select({"type": ColumnDataSource})}
    line, tail = sources["seats-tour_rome"].data, sources["seat-tails"].data  # a row per tour
    assert list(tail["y"]) == [18.0]
    assert list(tail["name"]) == ["Rome Colosseum Tour"]
    assert tail["x0"][0] == line["x"][-1]
    assert tail["x1"][0] - tail["x0"][0] == 60_000.0
    # The time axis runs from the first point to now, with a margin each side.
    x_range = chart.figure.x_range
    assert x_range.start < line["x"][0] < tail["x1"][0] < x_range.end


def test_seat_chart_follows_now_until_the_user_moves_the_view(buffer: FeedBuffer) -> None:
    chart = SeatChart(buffer=buffer)
    render(chart)
    buffer.append(tour("tour_rome", 18, second=0, kind="INITIAL_STATE"))
    chart.flush(now=1736333400.0)
    x_range = chart.figure.x_range
    chart.flush(now=1736333460.0)
    followed = (x_range.start, x_range.end)
    assert (x_range.reset_start, x_range.reset_end) == followed  # what the reset tool shows
    x_range.update(start=followed[0] - 5000, end=followed[0])  # a pan, as the browser sends it
    chart.flush(now=1736333520.0)
    assert (x_range.start, x_range.end) == (followed[0] - 5000, followed[0])
    x_range.update(start=x_range.reset_start, end=x_range.reset_end)  # the reset tool
    chart.flush(now=1736333580.0)
    assert x_range.end > followed[1]  # following again


def test_random_panel_history_and_histogram(buffer: FeedBuffer) -> None:
    panel = RandomPanel(buffer=buffer)
    root = render(panel)
    board = root.select_one({"name": "random-current"})  # the data the browser gets
    assert board.numbers == []
    assert board.waiting.startswith("Waiting for the first number")
    values = [5, 15, 15, 100, 1, 42, 42, 42, 99, 60, 61, 7]
    buffer.extend(number(v, second=i) for i, v in enumerate(values))
    panel.flush()
    history = [int(value) for value, _time, _stamp in board.numbers]
    assert history == list(reversed(values))[:10]  # newest first: the big number is 7
    assert board.numbers[0][2] == STAMP.format(11)  # its server timestamp
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d", time) for _value, time, _ in board.numbers)
    bars = next(s for s in root.select({"type": ColumnDataSource}) if s.name == "random-histogram")
    assert list(bars.data["top"]) == [3, 2, 0, 0, 3, 1, 1, 0, 0, 2]
    assert list(bars.data["range"])[:2] == ["1–10", "11–20"]
    expected = next(
        s for s in root.select({"type": ColumnDataSource}) if s.name == "random-expected"
    )
    assert list(expected.data["y"]) == [1.2, 1.2]


def test_histogram_counts_the_whole_buffer_not_only_new_rows(buffer: FeedBuffer) -> None:
    panel = RandomPanel(buffer=buffer)
    buffer.extend(number(50) for _ in range(4))
    panel.flush(now=100.0)
    buffer.append(number(50))
    panel.flush(now=100.5)  # redrawn at most once a second…
    assert list(panel.bars.data["top"])[4] == 4
    panel.flush(now=101.0)  # …even with nothing new since
    assert list(panel.bars.data["top"])[4] == 5


def test_histogram_follows_the_buffer_window() -> None:
    small = FeedBuffer(maxlen=4)
    panel = RandomPanel(buffer=small)
    small.extend(number(5) for _ in range(3))
    panel.flush(now=100.0)
    small.extend([number(95), number(95), number(95)])  # pushes two 5s out
    panel.flush(now=101.0)
    top = list(panel.bars.data["top"])
    assert (top[0], top[9]) == (1, 3)
    assert panel.missed == 0  # pushed out after the view had read them


def test_rolling_counts_follow_their_window() -> None:
    values = [(i * 37) % 100 + 1 if i % 7 else None for i in range(500)]
    rolling = RollingCounts(120)
    rolling.add(values)
    kept = [v for v in values[-120:] if v is not None]
    hist = rolling.histogram()
    assert list(hist.counts) == [
        sum(1 + 10 * b <= v <= 10 + 10 * b for v in kept) for b in range(10)
    ]
    assert hist.expected == len(kept) / 10


def status_cells(root: Any, feed: str) -> list[str]:
    """A feed's status cells: name, state, rate, age, gaps, resyncs, discarded, missed."""
    row = re.search(rf'<tr data-feed="{feed}".*?</tr>', html_text(root))
    assert row, f"no status row for {feed}"
    return [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row[0])]


def test_feed_status_reads_any_stats_source() -> None:
    source = Recorded(messages=12, gaps=1, resyncs=2, discarded=3)
    status = FeedStatus(sources={"tours": source})
    root = render(status)
    status.flush()
    text = html_text(root)
    assert 'data-feed="tours" data-status="connected"' in text
    assert "msg/s" in text
    assert status_cells(root, "tours")[4:] == ["1", "2", "3", "–"]  # no views: missed unknown
    assert 'title="messages received but not kept' in text  # each column explained


def test_feed_status_shows_a_silent_feed_as_stale() -> None:
    source = Recorded(status=Status.STALE, last_received=NOW - 42)
    status = FeedStatus(sources={"random": source}, labels=labels_for("fr"))
    root = render(status)
    status.flush(now=NOW)
    assert 'data-feed="random" data-status="stale"' in html_text(root)
    assert status_cells(root, "random")[1] == "inactif — aucun message depuis 42 s"
    source.snapshot = replace(source.snapshot, status=Status.STALE, last_received=NOW)
    status.flush(now=NOW + 7)  # a change of text within the refresh period waits for it…
    status.flush(now=NOW + 8)
    assert status_cells(root, "random")[1] == "inactif — aucun message depuis 8 s"
    status = FeedStatus(sources={"random": source})
    root = render(status)
    status.flush(now=NOW + 8)
    assert status_cells(root, "random")[1] == "stale — no message for 8 s"


def test_rows_that_leave_the_buffer_unread_are_shown_as_missed() -> None:
    small = FeedBuffer(maxlen=5)
    small.extend(number(1) for _ in range(20))  # before the view: history, not missed
    cards, panel = TourCards(buffer=small), RandomPanel(buffer=small)
    status = FeedStatus(sources={"random": Recorded()}, views={"random": [cards, panel]})
    root = render(status)
    for view in (cards, panel, status):
        view.flush(now=NOW)
    assert (cards.missed, panel.missed) == (0, 0)
    small.extend(number(2, second=i) for i in range(12))  # seven leave before the next read
    panel.flush(now=NOW)
    assert panel.missed == 7
    status.flush(now=NOW + 5)
    assert status_cells(root, "random")[-1] == "7"
    assert '<td class="tp-lost">7</td>' in html_text(root)  # highlighted
    assert [int(v) for v, _t, _s in panel.board.numbers][:5] == [2] * 5  # what it could read


def test_feed_status_counts_down_to_the_next_try() -> None:
    from tourpanel.listener import FeedListener, Reconnect  # a real listener is a source too

    port = free_port()  # nothing listens there
    dead = FeedListener(f"ws://127.0.0.1:{port}", reconnect=Reconnect(base=30, cap=30)).start()
    try:
        wait_until(lambda: dead.stats().next_retry_at is not None)
        status = FeedStatus(sources={"tours": dead})
        root = render(status)
        status.flush()
        assert 'data-status="reconnecting"' in html_text(root)
        assert re.search(r"reconnecting \(next try in \d+ s\)", html_text(root))
        assert status_cells(root, "tours")[2:] == ["0.0", "–", "0", "0", "0", "–"]
        assert "refused" in html_text(root)  # the reason, as the badge's tooltip
    finally:
        dead.stop()


def test_odd_feed_values_never_break_a_flush(buffer: FeedBuffer) -> None:
    board_parts = [
        RandomPanel(buffer=buffer),
        SeatChart(buffer=buffer),
        TourCards(buffer=buffer),
    ]
    roots = [render(part) for part in board_parts]
    buffer.extend(
        [
            {"type": "RANDOM_NUMBER", "value": float("nan"), "timestamp": STAMP.format(0)},
            {"type": "RANDOM_NUMBER", "value": 10**30, "timestamp": STAMP.format(1)},
            {"type": "RANDOM_NUMBER", "value": 1e300, "timestamp": "0001-01-01T00:00:00+01:00"},
            {"type": "RANDOM_NUMBER", "value": True, "timestamp": STAMP.format(1)},
            {
                "type": "AVAILABILITY_UPDATE",
                "tourId": "t",
                "availableSeats": "many",
                "timestamp": STAMP.format(2),
            },
            {
                "type": "AVAILABILITY_UPDATE",
                "tourId": "u",
                "availableSeats": 3,
                "timestamp": STAMP.format(3),
            },
            number(42, second=4),
        ]
    )
    for part in board_parts:
        part.flush()
    assert list(board_parts[0].bars.data["top"])[4] == 1  # only the 42 counts
    assert list(board_parts[1].sources) == ["u"]
    assert board_parts[1].sources["u"].data["name"][0] == "u"  # no name: the id, not "nan"
    assert 'data-tour="u"' in html_text(roots[2])


def test_dashboard_redraws_its_slower_parts_in_the_same_flush(buffer: FeedBuffer) -> None:
    numbers = FeedBuffer()
    dashboard = Dashboard(tours=buffer, random=numbers)  # histogram 1 s, tails 5 s
    render(dashboard)
    tails, bars = dashboard.chart.tails, dashboard.numbers.bars
    start = 1736333460.0  # a minute after the updates' own times
    buffer.append(tour("tour_rome", 18, kind="INITIAL_STATE"))
    redrawn: dict[str, list[float]] = {"histogram": [], "tails": []}
    for tick in range(21):  # five seconds of flushes, a number before each
        numbers.append(number(5))
        if tick == 2:
            buffer.append(tour("tour_rome", 17, second=1))
        shown = (sum(bars.data["top"]), list(tails.data["x1"]))
        dashboard.flush(now=start + tick * 0.25)
        if sum(bars.data["top"]) != shown[0]:
            redrawn["histogram"].append(tick * 0.25)
        if list(tails.data["x1"]) != shown[1]:
            redrawn["tails"].append(tick * 0.25)
    assert redrawn["histogram"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    # With new seats, and else on the histogram's beat: never a repaint of their own.
    assert redrawn["tails"] == [0.0, 0.5, 5.0]


def test_dashboard_flushes_every_part_in_one_go(buffer: FeedBuffer) -> None:
    numbers = FeedBuffer(maxlen=3)
    sources = {"tours": Recorded(), "random": Recorded(discarded=4)}
    dashboard = Dashboard(tours=buffer, random=numbers, sources=sources, labels=labels_for("fr"))
    root = render(dashboard)
    buffer.append(tour("tour_paris", 12, kind="INITIAL_STATE"))
    numbers.append(number(33))
    assert dashboard.flush(now=NOW) == 3  # the card and the chart each apply the tour row
    text = html_text(root)
    assert 'data-seats="12"' in text
    assert "places" in text  # the French labels reach every part
    assert dashboard.numbers.board.numbers[0][0] == "33"
    assert dashboard.numbers.board.label == "Nombre actuel"
    numbers.extend(number(n) for n in range(1, 6))  # two leave before the page reads them
    dashboard.flush(now=NOW + 1)
    assert status_cells(root, "random")[-2:] == ["4", "2"]  # discarded, missed
    assert status_cells(root, "tours")[-2:] == ["0", "0"]
    assert "manqués" in html_text(root)


def feed_rows() -> list[dict[str, Any]]:
    return [
        {"type": "WELCOME", "message": "hi", "timestamp": STAMP.format(0)},
        tour("tour_paris", 20, second=1, kind="INITIAL_STATE"),
        tour("tour_paris", 19, second=2),
        number(42, second=3),
    ]


def model_data(root: Any) -> dict[str, Any]:
    """What a flushed view sent to its Bokeh models: HTML, sources, and custom models."""
    data: dict[str, Any] = {"html": html_text(root)}
    for source in root.select({"type": ColumnDataSource}):
        data[source.name] = {k: list(v) for k, v in source.data.items()}
    board = root.select_one({"name": "random-current"})
    if board is not None:
        data["numbers"] = [row[0] for row in board.numbers]
    return data


@pytest.mark.parametrize(
    ("make", "check"),
    [
        (lambda b: TourCards(buffer=b), lambda d: 'data-seats="19"' in d["html"]),
        (lambda b: SeatChart(buffer=b), lambda d: d["seats-tour_paris"]["y"] == [20.0, 19.0]),
        (lambda b: RandomPanel(buffer=b), lambda d: d["numbers"] == ["42"]),
        (lambda b: FieldPlot(buffer=b, field="value"), lambda d: d["field-value"]["y"] == [42.0]),
        (lambda b: LatestTable(buffer=b), lambda d: "WELCOME" in d["html"] and "42" in d["html"]),
        (lambda b: Dashboard(tours=b, random=b), lambda d: d["numbers"] == ["42"]),
    ],
    ids=["cards", "seats", "numbers", "field", "table", "dashboard"],
)
def test_each_view_from_a_buffer_alone(make: Any, check: Any) -> None:
    """No listener anywhere: a buffer filled by hand is all a view needs."""
    buffer = FeedBuffer()
    view = make(buffer)
    root = render(view)
    buffer.extend(feed_rows())
    assert view.flush(now=NOW) > 0
    assert check(model_data(root))


def test_a_view_without_a_buffer_says_how_to_give_one() -> None:
    with pytest.raises(TypeError, match=r"TourCards\(buffer="):
        TourCards()


def test_labels_exist_in_both_languages() -> None:
    assert set(LABELS) == {"en", "fr"}
    assert labels_for("FR").waiting_tours == "En attente des données des tours..."
    with pytest.raises(ValueError, match="en, fr"):
        labels_for("de")


@pytest.mark.parametrize(
    ("seats", "level"),
    [(20, "high"), (11, "high"), (10, "medium"), (5, "medium"), (4, "low"), (0, "low")],
)
def test_availability_levels_follow_the_lesson(seats: int, level: str) -> None:
    assert availability_level(seats) == level


def test_histogram_bins_and_expectation() -> None:
    counts = RollingCounts(10)
    counts.add([1, 10, 11, 100, 0, 101, None])
    hist = counts.histogram(bins=10)
    assert list(hist.counts) == [2, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    assert hist.expected == 0.4
    assert (hist.left[0], hist.right[0], hist.right[-1]) == (1, 10, 100)
    with pytest.raises(ValueError, match="evenly"):
        counts.histogram(bins=7)
    with pytest.raises(ValueError, match="divide"):
        RandomPanel(buffer=FeedBuffer(), bins=7)


def test_rate_meter_and_message_age() -> None:
    meter = RateMeter(window=5)
    assert meter.update(0, now=0.0) == 0.0
    assert meter.update(10, now=1.0) == 10.0
    assert meter.update(20, now=2.0) == 10.0
    assert message_age("2025-01-08T10:50:00.000Z", 1736333401.5) == 1.5
    assert message_age(None, 0) is None
