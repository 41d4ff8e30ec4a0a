"""Shared helpers: a real feed server on a loopback port, and waiting on conditions."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import replace
from typing import Any, TypeVar

import pytest
from websockets.sync.client import ClientConnection, connect

from server import FeedServer, Settings

T = TypeVar("T")

TIMEOUT = 10.0  # generous: CI machines are slow; tests wait on conditions, not on time

# Intervals long enough that the tests drive every broadcast themselves with tick().
QUIET = Settings(
    host="127.0.0.1",
    port=0,
    random_interval=3600,
    tours_interval=3600,
    seed="tests",
    close_timeout=2,
)


def wait_until(
    condition: Callable[[], T], *, timeout: float = TIMEOUT, interval: float = 0.02
) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {condition}")
        time.sleep(interval)


class ServerThread:
    """A :class:`FeedServer` running on its own event loop in a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self._started: Future[FeedServer] = Future()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="feed-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())
        self.loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            async with FeedServer(self.settings) as server:
                self._started.set_result(server)
                await self._stop.wait()
        except BaseException as exc:
            if not self._started.done():
                self._started.set_exception(exc)
            raise

    def start(self) -> ServerThread:
        self._thread.start()
        self.server = self._started.result(timeout=TIMEOUT)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            assert self._stop is not None
            self.loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(TIMEOUT)
            assert not self._thread.is_alive(), "server thread did not stop"

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop and return its result."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(TIMEOUT)

    def tick(self, feed: str, times: int = 1) -> None:
        """Broadcast ``times`` steps of ``feed`` right now."""
        for _ in range(times):
            self.call(lambda: self.server.tick(feed))

    def url(self, feed: str) -> str:
        return self.server.url(feed)

    @property
    def http_base(self) -> str:
        return f"http://{self.settings.host}:{self.server.port}"

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.http_base}/healthz", timeout=TIMEOUT) as reply:
            return json.load(reply)  # type: ignore[no-any-return]


@pytest.fixture
def make_server() -> Iterator[Callable[..., ServerThread]]:
    """Start servers with ``QUIET`` settings overridden by keyword; all stop afterwards."""
    started: list[ServerThread] = []

    def make(**overrides: Any) -> ServerThread:
        thread = ServerThread(replace(QUIET, **overrides)).start()
        started.append(thread)
        return thread

    yield make
    for thread in started:
        thread.stop()


@pytest.fixture
def server(make_server: Callable[..., ServerThread]) -> ServerThread:
    """Both feeds, broadcasting only when the test ticks them."""
    return make_server()


def recv_json(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=timeout))  # type: ignore[no-any-return]


def send_json(ws: ClientConnection, payload: dict[str, Any]) -> None:
    ws.send(json.dumps(payload))


def open_client(url: str) -> ClientConnection:
    """A plain client, as a browser would open it (no compression)."""
    return connect(url, open_timeout=TIMEOUT, compression=None)


def greet(ws: ClientConnection, feed: str) -> list[dict[str, Any]]:
    """Read the greeting: WELCOME, then one INITIAL_STATE per tour on the tours feed."""
    count = 4 if feed == "tours" else 1
    return [recv_json(ws) for _ in range(count)]
