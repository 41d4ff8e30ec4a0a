"""The thin I/O edge: listening, routing connections to feeds, the broadcast ticks.

All decisions live in :mod:`tourpanel.server.feeds`; this module moves bytes. The heartbeat
is :mod:`tourpanel.server.heartbeat`, the plain HTTP answers (``/healthz``, 404, 500) are
:mod:`tourpanel.server.responses`. Every write goes
straight to the transport, pre-framed and without awaiting, so a connection's greeting,
its replies and the broadcasts it receives never interleave out of order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosedOK
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from tourpanel import protocol as p

from .connection import Connection
from .engine import Engine, cancel_all
from .feeds import Delivery, Feed
from .frames import fan_out, text_frame, write
from .heartbeat import Heartbeat
from .limits import REPLIES_PER_TOKEN
from .listen import AcceptErrors, connection_cap, listen_hosts
from .redact import redact
from .responses import http_response, internal_error
from .settings import Settings
from .warden import Warden, who

__all__ = ["FeedServer"]

log = logging.getLogger("tourpanel.server")

INTERNAL_ERROR = "the server failed on this message (it is logged); the connection stays open"
READ_SIZE = 16 * 1024  # bytes read from a client at once (asyncio's default: 256 KiB)
# Output still unsent past which a previous replay counts as in flight: RESUME waits.
REPLAY_IN_FLIGHT = 64 * 1024


class FeedServer:
    """The feeds of ``settings`` on one port, as an async context manager.

    ``async with FeedServer(settings) as server:`` listens and ticks; leaving the
    block closes every connection with 1001 (going away) and waits for them.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = Engine(settings, deliver=self.deliver, close_feed=self.close_feed)
        self.feeds: dict[str, Feed[Connection]] = self.engine.feeds
        self._single = len(self.feeds) == 1
        self._server: asyncio.Server | None = None
        self.connections: set[Connection] = set()
        self._all_gone = asyncio.Event()
        self.open_timeout = settings.open_timeout
        self.close_timeout = settings.close_timeout
        self.max_size = settings.max_message_size or None
        self.max_fragments = settings.max_fragments
        self.read_buffer = memoryview(bytearray(READ_SIZE))
        self.warden = Warden(settings)
        self.max_pending = self.warden.max_pending  # the Hub's, for each Connection
        self.rate_limit = self.warden.rate_limit
        self._per_address: dict[str, int] = {}
        self._accept_errors: AcceptErrors | None = None
        self._tickers: list[asyncio.Task[None]] = []
        self._heartbeat: Heartbeat | None = None
        self._started = time.monotonic()

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> FeedServer:
        s = self.settings
        loop = asyncio.get_running_loop()
        self.warden.admission.max_connections = connection_cap(s.max_connections)
        await self.engine.start()
        self._accept_errors = AcceptErrors(loop)
        self._accept_errors.install()
        # No permessage-deflate (its compression state per connection costs many
        # times a connection's size, see docs/benchmarks.md) and no keepalive task per
        # connection: one heartbeat serves them all.
        self._server = await loop.create_server(
            lambda: Connection(self), listen_hosts(s.host, s.port), s.port
        )
        self._started = time.monotonic()
        if s.ping_interval is not None:
            self._heartbeat = Heartbeat(
                self.connections,
                interval=s.ping_interval,
                timeout=s.ping_timeout,
                broadcast_every=max(s.interval(name) for name in self.feeds),
            )
            self._tickers.append(asyncio.create_task(self._heartbeat.run(), name="heartbeat"))
        log.info("listening on %s", ", ".join(self.addresses))
        if self.warden.admission.verifier is not None:
            log.info(
                "clients need a token (%s)", ", ".join(self.warden.admission.verifier.algorithms)
            )
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
        """Stop changing state, close every connection with 1001 (going away), wait for them.

        Each client has ``close_timeout`` to answer the close frame before it is cut off.
        """
        await self.engine.stop()
        await cancel_all(self._tickers)
        self._tickers = []
        self._heartbeat = None
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
        if self._accept_errors is not None:
            self._accept_errors.remove()
            self._accept_errors = None

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
        self.engine.tick(feed)

    def deliver(self, feed: str, deliveries: Iterable[Delivery[Connection]]) -> None:
        """Frame each broadcast once and write it to its recipients."""
        for delivery in deliveries:
            frame = text_frame(delivery.text)
            if self._heartbeat is not None:
                self._heartbeat.deliver(delivery.recipients, frame)
            else:
                fan_out(delivery.recipients, frame)
        log.debug("%s feed broadcast seq %d", feed, self.feeds[feed].store.last_seq)

    def close_feed(self, feed: str, code: CloseCode, reason: str) -> None:
        """Close every connection to ``feed`` with ``code``."""
        for conn in list(self.feeds[feed].registry.recipients(None)):
            conn.close(code, reason)

    # -- connections -------------------------------------------------------------------

    def _feed_for(self, path: str) -> Feed[Connection] | None:
        if self._single:
            return next(iter(self.feeds.values()))
        return self.feeds.get(urlsplit(path).path.strip("/"))

    # The hub of every Connection: what websockets' asyncio server did per connection.

    def arrived(self, conn: Connection) -> None:
        self.connections.add(conn)

    def respond(self, conn: Connection, request: Request) -> Response:
        """The handshake's response: health, a 404, a refusal, or websockets' own answer."""
        protocol = conn.protocol
        try:
            response = http_response(
                protocol,
                request,
                serves=lambda path: self._feed_for(path) is not None,
                feed_paths=(f"/{name}" for name in self.feeds),
                health=self.health,
            )
            if response is None:
                # Open WebSockets and this one: handshakes still pending do not count,
                # so a burst of clients is cut at the cap, not refused as a whole.
                response = self.warden.admit(
                    conn,
                    request,
                    from_address=self._per_address.get(conn.address, 0) + 1,
                    in_all=self.connection_count + 1,
                )
        except Exception:
            log.exception("could not answer %s from %s", redact(request.path), conn.peer)
            return internal_error(protocol)
        return response or protocol.accept(request)

    def opened(self, conn: Connection, request: Request) -> None:
        feed = self._feed_for(request.path)
        assert feed is not None, "respond refuses unknown paths"
        conn.feed = feed
        self._per_address[conn.address] = self._per_address.get(conn.address, 0) + 1
        claims = conn.claims
        _send(conn, feed.connect(conn, tours=None if claims is None else claims.tours))
        if claims is not None and claims.expires is not None:
            conn.expire_at(claims.expires)
        log.info(
            "client %s%s connected to %s (%d on this feed, %d in all)",
            conn.peer,
            who(claims),
            feed.name,
            len(feed.registry),
            self.connection_count,
        )

    def received(self, conn: Connection, data: str | bytes) -> None:
        feed = conn.feed
        assert isinstance(feed, Feed)
        replay = conn.transport.get_write_buffer_size() < REPLAY_IN_FLIGHT
        try:
            replies = feed.handle(conn, data, replay=replay)
        except Exception:
            log.exception("could not handle a message from %s", conn.peer)
            replies = [feed.error(p.ErrorCode.INTERNAL, INTERNAL_ERROR)]
        _send(conn, replies)
        if len(replies) > REPLIES_PER_TOKEN:  # a long answer costs its length
            conn.charge(len(replies) / REPLIES_PER_TOKEN)

    def lost(self, conn: Connection, exc: Exception | None) -> None:
        self.connections.discard(conn)
        if not self.connections:
            self._all_gone.set()
        feed = conn.feed
        if not isinstance(feed, Feed):
            return  # never opened: a health check, a refused handshake
        count = self._per_address[conn.address] - 1
        if count > 0:
            self._per_address[conn.address] = count
        else:
            del self._per_address[conn.address]
        feed.disconnect(conn)
        # The Connection fed websockets the end of the stream: the state is CLOSED.
        why = conn.protocol.close_exc
        if exc is not None or not isinstance(why, ConnectionClosedOK):
            log.info("client %s dropped: %s", conn.peer, why if exc is None else f"{why}: {exc}")
        log.info(
            "client %s disconnected from %s (%d on this feed, %d in all)",
            conn.peer,
            feed.name,
            len(feed.registry),
            self.connection_count,
        )

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
            "status": "degraded" if self.engine.degraded() else "ok",
            "uptimeSeconds": round(time.monotonic() - self._started, 3),
            "connections": self.connection_count,
            "authentication": self.warden.admission.verifier is not None,
            "security": self.warden.counters.health(),
            **self.engine.health(),
            "feeds": feeds,
        }


def _send(conn: Connection, texts: Iterable[str]) -> None:
    """Write ``texts`` to one connection now, in order, in one write."""
    frames = b"".join(text_frame(text) for text in texts)
    if frames:
        write(conn, frames)
