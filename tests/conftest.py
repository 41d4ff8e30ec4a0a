"""Shared helpers: a real feed server on a loopback port, and waiting on conditions."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from tourpanel.server import Settings
from tourpanel.server.background import BackgroundServer
from websockets.sync.client import ClientConnection, connect

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = os.environ.get("TOURPANEL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

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

# A JSON Web Token: three base64url parts, the first a JSON object ('{"' is 'eyJ').
JWT_PATTERN = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")


class _TokenWatch(logging.Handler):
    """Keeps every record of the project's loggers that holds something like a JWT."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if JWT_PATTERN.search(message):
            self.leaks.append(f"{record.name}: {message}")


@pytest.fixture(scope="session", autouse=True)
def no_token_in_any_log() -> Iterator[None]:
    """Across the whole run, no log line of the project holds a token (issue: security)."""
    watch = _TokenWatch()
    project = logging.getLogger("tourpanel")
    previous = project.level
    project.addHandler(watch)
    project.setLevel(logging.DEBUG)
    yield
    project.removeHandler(watch)
    project.setLevel(previous)
    assert watch.leaks == [], "tokens were logged"


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


# -- the packages as installed ---------------------------------------------------------


def installed_layout() -> Path:
    """The packages laid out as pip installs them: ``server/`` copied to ``tourpanel/server``.

    mypy and import-linter find packages by folder, not through the import hook of
    an editable install, so they read this copy (what setuptools' strict editable
    mode builds). It lives under ``build/`` so that mypy's cache survives between runs.
    """
    tree = ROOT / "build" / "installed-layout"
    package = tree / "tourpanel"
    shutil.rmtree(package, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "tourpanel", package, ignore=ignore)
    shutil.copytree(ROOT / "server", package / "server", ignore=ignore)
    return tree


# -- browsers ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: apt-get install chromium (or set TOURPANEL_CHROMIUM)"
        )
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[[str], Any]]:
    """Open pages that may only talk to localhost; screenshot the last one at the end."""
    contexts: list[Any] = []
    outside: list[str] = []

    def guard(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if host in {"127.0.0.1", "localhost"} or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    def open_(url: str) -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        contexts.append(context)
        context.route("**/*", guard)
        page = context.new_page()
        # The page's own errors, kept beside its screenshot for when a test fails.
        console = ARTIFACTS / f"{request.node.name}.console.txt"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        console.write_text("")

        def keep(line: str) -> None:
            with console.open("a") as out:
                out.write(f"{time.strftime('%H:%M:%S')} {line}\n")

        page.on(
            "console",
            lambda msg: (
                keep(f"{msg.type}: {msg.text}") if msg.type in {"error", "warning"} else None
            ),
        )
        page.on("pageerror", lambda exc: keep(f"pageerror: {exc}"))
        page.goto(url)
        return page

    yield open_
    if contexts:
        last = contexts[-1].pages[-1]
        last.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    for context in contexts:
        context.close()
    assert outside == [], f"the page tried to reach the internet: {outside}"


# -- the real Redis (tests/services.py) --------------------------------------------------


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of the shared Redis for this test only, removed afterwards."""
    from .services import REDIS_URL, need_redis, redis_delete, unique

    need_redis()
    prefix = unique("store")
    yield prefix
    redis_delete(REDIS_URL, prefix)
