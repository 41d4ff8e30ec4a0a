"""Shared helpers: a real feed server on a loopback port, and waiting on conditions."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import pytest
from websockets.sync.client import ClientConnection, connect

from server import Settings
from server.background import BackgroundServer

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


class ServerThread(BackgroundServer):
    """A background feed server with test conveniences."""

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
        thread = ServerThread(replace(QUIET, **overrides))
        thread.start()
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
