"""The dashboard in a real browser: ``panel serve tourpanel/app.py`` driven by Chromium.

Needs Debian's Chromium at /usr/bin/chromium (``.ci/run`` installs it); skipped
with a reason otherwise. Each test saves a screenshot under ``artifacts/browser/``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ARTIFACTS, TIMEOUT, free_port, wait_until
from .test_process import LISTENING, ServerProcess

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
FAST_FEEDS = {"TOURPANEL_TOURS_INTERVAL": "0.3", "TOURPANEL_RANDOM_INTERVAL": "0.15"}


class PanelApp:
    """``panel serve tourpanel/app.py`` on a free loopback port."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/app"
        self.log = ARTIFACTS / f"panel-{self.port}.log"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "panel", "serve", "tourpanel/app.py",
                "--address", "127.0.0.1", "--port", str(self.port),
                "--allow-websocket-origin", f"127.0.0.1:{self.port}",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_until(self._ready, timeout=60)

    def _ready(self) -> bool:
        assert self.proc.poll() is None, f"panel serve exited:\n{self.log.read_text()}"
        try:
            with urllib.request.urlopen(self.url, timeout=5) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log_file.close()


@pytest.fixture
def serve_app() -> Iterator[Callable[..., PanelApp]]:
    apps: list[PanelApp] = []

    def start(**env: str) -> PanelApp:
        app = PanelApp(env)
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.close()


def seats(page: Any) -> dict[str, int]:
    cards = page.locator(".tp-card")
    return {
        cards.nth(i).get_attribute("data-tour"): int(cards.nth(i).get_attribute("data-seats"))
        for i in range(cards.count())
    }


def points(page: Any, tour: str) -> int:
    return int(
        page.evaluate(
            """name => {
                for (const doc of window.Bokeh.documents) {
                    const source = doc.get_model_by_name(name);
                    if (source) return source.data.y.length;
                }
                return 0;
            }""",
            f"seats-{tour}",
        )
    )


def last_points(page: Any) -> dict[str, int]:
    """The newest seat count each tour's chart line holds in the browser."""
    return dict(
        page.evaluate(
            """() => {
                const out = {};
                for (const doc of window.Bokeh.documents) {
                    for (const model of doc._all_models.values()) {
                        const name = model.name || "";
                        if (name.startsWith("seats-") && !name.startsWith("seats-now-")) {
                            const y = model.data.y;
                            if (y.length) out[name.slice(6)] = y[y.length - 1];
                        }
                    }
                }
                return out;
            }"""
        )
    )


def times_in_order(page: Any) -> bool:
    """Each chart line's times never go back (a point sent twice would)."""
    return bool(
        page.evaluate(
            """() => {
                for (const doc of window.Bokeh.documents) {
                    for (const model of doc._all_models.values()) {
                        if (!(model.name || "").startsWith("seats-tour")) continue;
                        const x = model.data.x;
                        for (let i = 1; i < x.length; i++) if (x[i] < x[i - 1]) return false;
                    }
                }
                return true;
            }"""
        )
    )


def feed_status(page: Any, feed: str) -> str | None:
    row = page.locator(f'tr[data-feed="{feed}"]')
    return row.get_attribute("data-status") if row.count() else None


def test_built_in_feeds_come_alive_from_one_command(
    serve_app: Callable[..., PanelApp], open_page: Callable[[str], Any]
) -> None:
    app = serve_app(**FAST_FEEDS)
    page = open_page(app.url)
    wait_until(lambda: len(seats(page)) == 3, timeout=30)
    assert set(seats(page)) == {"tour_paris", "tour_london", "tour_rome"}
    first, first_points = seats(page), points(page, "tour_paris")
    wait_until(lambda: seats(page) != first)
    wait_until(lambda: points(page, "tour_paris") > first_points)
    wait_until(lambda: page.locator(".tp-history li").count() == 10)
    assert page.locator(".tp-number-value").inner_text().strip().isdigit()
    # The chart and the cards come from the same rows: they agree once a flush lands.
    wait_until(lambda: last_points(page) == seats(page))
    late = open_page(app.url)  # a tab opened on a buffer that already has history
    wait_until(lambda: len(seats(late)) == 3 and last_points(late) == seats(late))
    assert times_in_order(page)
    assert times_in_order(late)
    assert feed_status(page, "tours") == "connected"
    assert feed_status(page, "random") == "connected"
    header = page.locator(".tp-status th").all_inner_texts()
    assert header[-2:] == ["discarded", "missed"]
    # On a phone the status table still fits, every column with it.
    late.set_viewport_size({"width": 390, "height": 900})
    wait_until(lambda: fits(late, ".tp-status", 390))
    late.screenshot(path=str(ARTIFACTS / "phone_width.png"), full_page=True)


def fits(page: Any, selector: str, width: int) -> bool:
    """Whether ``selector`` and the page itself stay within ``width`` CSS pixels."""
    box = page.locator(selector).first.bounding_box()
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    return bool(box and box["x"] + box["width"] <= width and scroll <= width)


def test_external_feed_down_and_back(
    serve_app: Callable[..., PanelApp], open_page: Callable[[str], Any]
) -> None:
    port = free_port()
    args = ("--port", str(port), "--tours-interval", "0.3", "--random-interval", "0.15")
    feed = ServerProcess(*args)
    try:
        feed.wait_for(LISTENING)
        app = serve_app(
            TOURPANEL_TOURS_URL=f"ws://127.0.0.1:{port}/tours",
            TOURPANEL_RANDOM_URL=f"ws://127.0.0.1:{port}/random",
            TOURPANEL_RECONNECT_BASE="0.2",
            TOURPANEL_RECONNECT_CAP="0.5",
        )
        pages = [open_page(app.url) for _ in range(3)]
        page = pages[-1]
        wait_until(lambda: len(seats(page)) == 3, timeout=30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT) as reply:
            health = reply.read().decode()
        assert '"connections": 2' in health, "three tabs share one connection per feed"
        feed.proc.send_signal(signal.SIGTERM)
        assert feed.proc.wait(TIMEOUT) == 0
        wait_until(lambda: feed_status(page, "tours") == "reconnecting")
        assert "reconnecting" in page.locator('tr[data-feed="tours"] .tp-badge').inner_text()
        page.screenshot(path=str(ARTIFACTS / "external_feed_down.png"), full_page=True)
    finally:
        feed.close()
    feed = ServerProcess(*args)
    try:
        feed.wait_for(LISTENING)
        wait_until(lambda: feed_status(page, "tours") == "connected", timeout=30)
        before = page.locator(".tp-history li").first.inner_text()
        wait_until(lambda: page.locator(".tp-history li").first.inner_text() != before)
        wait_until(lambda: "resyncs" in page.locator(".tp-status").inner_text())
        resyncs = page.locator('tr[data-feed="tours"] td').nth(5).inner_text()
        assert resyncs == "1", "a restarted feed has a new history: resynced from a snapshot"
    finally:
        feed.close()


def test_a_closed_tab_stops_its_updates(browser: Any) -> None:
    """Each session's periodic flush ends with the session; the others' go on."""
    import panel as pn
    from tourpanel.server import Settings
    from tourpanel.server.background import BackgroundServer

    from tourpanel.listener import FeedListener
    from tourpanel.views import Dashboard

    feed = BackgroundServer(Settings(host="127.0.0.1", port=0, tours_interval=0.2)).start()
    listener = FeedListener(feed.url("tours")).start()
    boards: list[Dashboard] = []
    ticks: list[int] = []

    def create() -> Dashboard:
        board = Dashboard(tours=listener.buffer, sources={"tours": listener}, flush_period=100)
        index = len(boards)
        ticks.append(0)

        def tick() -> None:
            ticks[index] += 1
            board.flush()

        board._tick = tick  # type: ignore[method-assign]
        board.start()
        boards.append(board)
        return board

    port = free_port()
    server = pn.serve(
        {"app": create},
        port=port,
        address="127.0.0.1",
        websocket_origin=f"127.0.0.1:{port}",
        show=False,
        threaded=True,
        verbose=False,
        check_unused_sessions_milliseconds=200,
        unused_session_lifetime_milliseconds=2000,  # longer than a page takes to connect
    )
    try:
        closing, staying = browser.new_context(), browser.new_context()
        for context in (closing, staying):
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}/app")
            wait_until(lambda: len(seats(page)) == 3)  # noqa: B023 (waited on in the loop)
        wait_until(lambda: len(boards) == 2 and all(b._callback is not None for b in boards))
        closing.close()
        wait_until(lambda: boards[0]._callback is None, timeout=30)
        assert not boards[0]._running
        stopped_at, staying_at = ticks[0], ticks[1]
        wait_until(lambda: ticks[1] >= staying_at + 5)  # half a second of the other's flushes
        assert ticks[0] == stopped_at
        staying.close()
    finally:
        server.stop()
        listener.stop()
        feed.stop()
