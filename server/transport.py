"""The thin I/O edge: listening, routing, the broadcast ticks, the heartbeat, ``/healthz``.

All decisions live in :mod:`server.feeds`; this module moves bytes. Every write goes
straight to the transport, pre-framed and without awaiting, so a connection's greeting,
its replies and the broadcasts it receives never interleave out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import random
import socket
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

from tourpanel import protocol as p

from .connection import Connection
from .feeds import Feed, RandomFeed, TourFeed
from .frames import fan_out, text_frame, write
from .heartbeat import PingRound
from .settings import Settings
from .store import MemoryStore

__all__ = ["FeedServer"]

log = logging.getLogger("tourpanel.server")

HEALTH_PATH = "/healthz"
MAX_CATCH_UP = 1.0  # seconds of missed broadcast ticks made up after a delay
# A client with this much still unsent cannot answer a ping in time: it is too slow.
STALLED_BUFFER = 4 * 2**20
INTERNAL_ERROR = "the server failed on this message (it is logged); the connection stays open"
HANDSHAKE_ERROR = "The server failed to answer this request; the error is in its log.\n"

_FEED_TYPES: dict[str, type[Feed[Connection]]] = {
    "random": RandomFeed,
    "tours": TourFeed,
}


def _rng(seed: str | None, feed: str) -> random.Random:
    """One generator per feed, so each feed's stream depends only on the seed."""
    return random.Random(None if seed is None else f"{seed}/{feed}")


class FeedServer:
    """The feeds of ``settings`` on one port, as an async context manager.

    ``async with FeedServer(settings) as server:`` listens and ticks; leaving the
    block closes every connection with 1001 (going away) and waits for them.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.feeds: dict[str, Feed[Connection]] = {
            name: _FEED_TYPES[name](
                store=MemoryStore(history=settings.history), rng=_rng(settings.seed, name)
            )
            for name in settings.feeds
        }
        self._single = len(self.feeds) == 1
        self._server: asyncio.Server | None = None
        self.connections: set[Connection] = set()
        self._all_gone = asyncio.Event()
        self.open_timeout = settings.open_timeout
        self.close_timeout = settings.close_timeout
        self.max_size = settings.max_message_size or None
        self._tickers: list[asyncio.Task[None]] = []
        self._ping_round: PingRound | None = None
        self._started = time.monotonic()

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> FeedServer:
        s = self.settings
        # No permessage-deflate (it costs ~50 KB per connection) and no keepalive task
        # per connection: the heartbeat below serves them all.
        self._server = await asyncio.get_running_loop().create_server(
            lambda: Connection(self), _listen_hosts(s.host, s.port), s.port
        )
        self._started = time.monotonic()
        self._tickers = [
            asyncio.create_task(self._tick_every(name, s.interval(name)), name=f"tick-{name}")
            for name in self.feeds
        ]
        if s.ping_interval is not None:
            self._tickers.append(asyncio.create_task(self._heartbeat(), name="heartbeat"))
        log.info("listening on %s", ", ".join(self.addresses))
        for name in self.feeds:
            log.info("%s feed at %s", name, self.url(name))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop ticking, close every connection with 1001 (going away), wait for them.

        Each client has ``close_timeout`` to answer the close frame before it is cut off.
        """
        for task in self._tickers:
            task.cancel()
        for task in self._tickers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tickers = []
        if self._server is not None:
            log.info("closing %d connection(s)", self.connection_count)
            self._server.close()
            for conn in list(self.connections):
                conn.close()
            if self.connections:
                self._all_gone.clear()
                await self._all_gone.wait()
            await self._server.wait_closed()
            self._server = None
            log.info("server closed")

    # -- addresses ---------------------------------------------------------------------

    @property
    def addresses(self) -> list[str]:
        """``host:port`` of every listening socket."""
        assert self._server is not None, "the server is not started"
        found = []
        for sock in self._server.sockets:
            host, port = sock.getsockname()[:2]
            found.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        return found

    @property
    def port(self) -> int:
        assert self._server is not None, "the server is not started"
        return int(self._server.sockets[0].getsockname()[1])

    def url(self, feed: str) -> str:
        """The WebSocket URL of ``feed`` (``/`` serves it when it is the only one)."""
        path = "" if self._single else f"/{feed}"
        return f"ws://{self.settings.host}:{self.port}{path}"

    @property
    def connection_count(self) -> int:
        return sum(len(feed.registry) for feed in self.feeds.values())

    # -- broadcasting ------------------------------------------------------------------

    def tick(self, feed: str) -> None:
        """Advance ``feed`` one step and deliver its broadcasts now."""
        for delivery in self.feeds[feed].tick():
            frame = text_frame(delivery.text)
            if self._ping_round is not None:
                self._ping_round.deliver(delivery.recipients, frame)
            else:
                fan_out(delivery.recipients, frame)
        log.debug("%s feed broadcast seq %d", feed, self.feeds[feed].store.last_seq)

    async def _tick_every(self, feed: str, interval: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            # Fixed cadence without drift: a tick that is late by a little is caught up
            # at once (short intervals outrun the timer's resolution), but after a long
            # stall (a suspended laptop) the missed ticks are skipped, not fired in a burst.
            deadline += interval
            late = loop.time() - deadline
            if late > MAX_CATCH_UP:
                deadline += late
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            try:
                self.tick(feed)
            except Exception:
                log.exception("%s feed tick failed; next tick in %.1f s", feed, interval)

    # -- connections -------------------------------------------------------------------

    def _feed_for(self, path: str) -> Feed[Connection] | None:
        if self._single:
            return next(iter(self.feeds.values()))
        return self.feeds.get(urlsplit(path).path.strip("/"))

    # The hub of every Connection: what websockets' asyncio server did per connection.

    def respond(self, conn: Connection, request: Request) -> Response:
        """The handshake's response: health, a helpful 404, or websockets' own answer."""
        handshake = conn.protocol
        assert isinstance(handshake, ServerProtocol)
        try:
            response = self._process_request(handshake, request)
        except Exception:
            log.exception("could not answer %s from %s", request.path, conn.peer)
            return handshake.reject(http.HTTPStatus.INTERNAL_SERVER_ERROR, HANDSHAKE_ERROR)
        return response or handshake.accept(request)

    def opened(self, conn: Connection, request: Request) -> None:
        feed = self._feed_for(request.path)
        assert feed is not None, "respond refuses unknown paths"
        conn.feed = feed
        _send(conn, feed.connect(conn))
        log.info(
            "client %s connected to %s (%d on this feed, %d in all)",
            conn.peer,
            feed.name,
            len(feed.registry),
            self.connection_count,
        )

    def received(self, conn: Connection, data: str | bytes) -> None:
        feed = conn.feed
        assert isinstance(feed, Feed)
        try:
            replies = feed.handle(conn, data)
        except Exception:
            log.exception("could not handle a message from %s", conn.peer)
            replies = [feed.error(p.ErrorCode.INTERNAL, INTERNAL_ERROR)]
        _send(conn, replies)

    def lost(self, conn: Connection, exc: Exception | None) -> None:
        self.connections.discard(conn)
        if not self.connections:
            self._all_gone.set()
        feed = conn.feed
        if not isinstance(feed, Feed):
            return  # never opened: a health check, a refused handshake
        feed.disconnect(conn)
        why = conn.protocol.parser_exc or exc
        if why is not None:
            log.info("client %s dropped: %s", conn.peer, why)
        log.info(
            "client %s disconnected from %s (%d on this feed, %d in all)",
            conn.peer,
            feed.name,
            len(feed.registry),
            self.connection_count,
        )

    async def _heartbeat(self) -> None:
        """Every ``ping_interval``, ping every client; cut off those silent for ``ping_timeout``.

        One sweep for the whole server, without a task, a future or a timer per
        client: with thousands of clients the per-connection keepalive of websockets
        costs more than the broadcasts. The pings ride on the broadcasts of the next
        ``window`` seconds (see :mod:`server.heartbeat`); the rest are sent alone then.

        Like the lesson's ``ws.terminate()``, a dead peer is aborted at once rather
        than sent a closing handshake it will never answer, so it leaves every
        subscription within interval + window + timeout. A client whose send buffer
        is still full from earlier messages could not answer in time either: it goes too.
        """
        interval, timeout = self.settings.ping_interval, self.settings.ping_timeout
        assert interval is not None
        assert self._server is not None
        loop = asyncio.get_running_loop()
        window = self.ping_window
        sweep, next_sweep = 0, loop.time() + interval
        while True:
            await asyncio.sleep(max(0.0, next_sweep - loop.time()))
            next_sweep += interval
            sweep += 1
            conns = {c for c in self.connections if c.state is State.OPEN}
            stalled = [c for c in conns if c.transport.get_write_buffer_size() > STALLED_BUFFER]
            self._drop(stalled, "is too slow to read what it was sent")
            self._ping_round = ping_round = PingRound(sweep, conns.difference(stalled))
            try:
                await asyncio.sleep(window)
            finally:
                self._ping_round = None
                ping_round.flush()
            if timeout is not None:  # checked on its own, so sweeps keep their cadence
                loop.call_later(timeout, self._drop_silent, ping_round, timeout)

    @property
    def ping_window(self) -> float:
        """How long pings wait for a broadcast to ride on: one broadcast period at most."""
        assert self.settings.ping_interval is not None
        longest = max(self.settings.interval(name) for name in self.feeds)
        return min(longest, self.settings.ping_interval / 2)

    def _drop_silent(self, ping_round: PingRound, timeout: float) -> None:
        self._drop(ping_round.silent(), f"did not answer a ping within {timeout:.1f} s")

    @staticmethod
    def _drop(conns: list[Connection], why: str) -> None:
        for conn in conns:
            if conn.state is not State.CLOSED:
                log.warning("client %s %s; dropping it", conn.peer, why)
                conn.transport.abort()

    def _process_request(self, handshake: ServerProtocol, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path == HEALTH_PATH:
            return _json_response(handshake, http.HTTPStatus.OK, self.health())
        if self._feed_for(path) is None:
            paths = ", ".join(f"/{name}" for name in self.feeds)
            return handshake.reject(
                http.HTTPStatus.NOT_FOUND,
                f"No feed at {path}. This server has feeds at {paths} "
                f"and its health at {HEALTH_PATH}.\n",
            )
        return None

    def health(self) -> dict[str, Any]:
        """What ``GET /healthz`` answers."""
        feeds = {}
        for name, feed in self.feeds.items():
            feeds[name] = {
                "path": "/" if self._single else f"/{name}",
                "intervalSeconds": self.settings.interval(name),
                **feed.health(),
            }
        return {
            "status": "ok",
            "uptimeSeconds": round(time.monotonic() - self._started, 3),
            "connections": self.connection_count,
            "feeds": feeds,
        }


def _listen_hosts(host: str, port: int) -> str | list[str]:
    """Where to bind: ``localhost`` means both loopbacks, as clients may try either.

    The lesson's Node server listens on every interface, so a browser that resolves
    ``localhost`` to ``::1`` reaches it; binding only what the resolver lists first
    would not. With port 0 each socket would get its own port, so only IPv4 is used.
    """
    if host != "localhost":
        return host
    if port == 0 or not socket.has_ipv6:
        return "127.0.0.1"
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return "127.0.0.1"
    return ["127.0.0.1", "::1"]


def _send(conn: Connection, texts: Iterable[str]) -> None:
    """Write ``texts`` to one connection now, in order, in one write."""
    frames = b"".join(text_frame(text) for text in texts)
    if frames:
        write(conn, frames)


def _json_response(handshake: ServerProtocol, status: http.HTTPStatus, body: Any) -> Response:
    response = handshake.reject(status, json.dumps(body, ensure_ascii=False) + "\n")
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    response.headers["Cache-Control"] = "no-store"
    return response
