"""The feed server on its own event loop in a daemon thread.

The dashboard embeds the feeds this way when no external URL is given, notebooks
start them from a cell, and the tests drive a real server without an asyncio test
runner.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from .settings import Settings
from .transport import FeedServer

__all__ = ["BackgroundServer"]

T = TypeVar("T")

START_TIMEOUT = 10.0


class BackgroundServer:
    """``FeedServer(settings)`` running in a background thread until :meth:`stop`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self._started: Future[FeedServer] = Future()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="feed-server", daemon=True)
        self._server: FeedServer | None = None

    @property
    def server(self) -> FeedServer:
        assert self._server is not None, "call start() first"
        return self._server

    def start(self, timeout: float = START_TIMEOUT) -> BackgroundServer:
        """Start listening; returns once the port is bound (raises if it cannot be)."""
        self._thread.start()
        self._server = self._started.result(timeout=timeout)
        return self

    def stop(self, timeout: float = START_TIMEOUT) -> None:
        """Close every connection (1001) and end the thread."""
        if self._thread.is_alive() and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)

    def call(self, fn: Callable[[], T], timeout: float = START_TIMEOUT) -> T:
        """Run ``fn`` on the server's loop (where its state lives) and return its result."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def tick(self, feed: str, times: int = 1) -> None:
        """Broadcast ``times`` steps of ``feed`` now."""
        for _ in range(times):
            self.call(lambda: self.server.tick(feed))

    def url(self, feed: str) -> str:
        return self.server.url(feed)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        finally:
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
            else:
                raise
