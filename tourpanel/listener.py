"""A background WebSocket client per feed, filling a :class:`FeedBuffer`.

The listener runs its own event loop in a daemon thread and never touches Panel or
Bokeh: its only output is rows in the buffer and counters read by :meth:`stats`.
The receive loop does as little as possible per message (parse, flatten, append),
so a fast feed never stalls on rendering.

Reconnection uses exponential backoff with full jitter (the pure :func:`backoff`
generator), reset after a healthy stretch. Ordering, de-duplication and ``RESUME``
after a reconnection are decided by the pure :class:`~tourpanel.sequencer.Sequencer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, InvalidURI, WebSocketException
from websockets.uri import parse_uri

from .buffer import DEFAULT_MAXLEN, FeedBuffer
from .sequencer import Sequencer
from .stats import FeedStats, Status

__all__ = [
    "DEFAULT_RECONNECT",
    "FeedListener",
    "Reconnect",
    "backoff",
    "check_url",
    "shared_listener",
    "stop_shared_listeners",
]

log = logging.getLogger("tourpanel.listener")


@dataclass(frozen=True, kw_only=True, slots=True)
class Reconnect:
    """Backoff policy: delays grow from ``base`` to ``cap`` seconds, with full jitter."""

    base: float = 1.0
    cap: float = 30.0
    healthy_after: float = 10.0  # connected this long, the next failure starts over
    open_timeout: float = 10.0


DEFAULT_RECONNECT = Reconnect()


def backoff(
    base: float = 1.0, cap: float = 30.0, rng: random.Random | None = None
) -> Iterator[float]:
    """Delays before each retry: uniform in [0, min(cap, base·2ⁿ)] (full jitter).

    Jitter spreads a classroom of clients so they do not all reconnect at once
    when a feed comes back.
    """
    draw = rng or random.Random()
    attempt = 0
    while True:
        yield draw.uniform(0, min(cap, base * 2 ** min(attempt, 32)))
        attempt += 1


class FeedListener:
    """Listens to one feed URL in a background thread and appends rows to ``buffer``."""

    def __init__(
        self,
        url: str,
        *,
        buffer: FeedBuffer | None = None,
        maxlen: int = DEFAULT_MAXLEN,
        reconnect: Reconnect = DEFAULT_RECONNECT,
        subscriptions: tuple[str, ...] = (),
    ) -> None:
        self.url = check_url(url)
        self.buffer = buffer if buffer is not None else FeedBuffer(maxlen)
        self.reconnect = reconnect
        self.subscriptions = subscriptions
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None
        # Written by the listener thread only; plain attributes are read atomically.
        self._status = Status.CONNECTING
        self._messages = 0
        self._last_received: float | None = None
        self._last_timestamp: str | None = None
        self._next_retry_at: float | None = None
        self._retries = 0
        self._skipped = 0
        self._last_error: str | None = None
        self._sequencer = Sequencer(subscriptions=subscriptions)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> FeedListener:
        """Start listening in a daemon thread (idempotent)."""
        if self._thread is None:
            ready = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(ready,), name=f"listener {self.url}", daemon=True
            )
            self._thread.start()
            ready.wait()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close the connection and end the thread."""
        if self._loop is not None and self._main is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._main.cancel)
        if self._thread is not None:
            self._thread.join(timeout)
        self._status = Status.DISCONNECTED

    def wait_for_rows(self, count: int, *, kind: str | None = None, timeout: float = 30.0) -> int:
        """Block until the buffer holds ``count`` rows (of ``type`` ``kind``, if given).

        Returns how many there are, or raises ``TimeoutError`` saying what is missing.
        In a notebook prefer ``await until_rows(...)``: it keeps live views updating.
        """
        deadline = time.monotonic() + timeout
        while (held := self._count(kind)) < count:
            self._check_deadline(deadline, held, count, timeout)
            time.sleep(0.05)
        return held

    async def until_rows(
        self, count: int, *, kind: str | None = None, timeout: float = 30.0
    ) -> int:
        """Like :meth:`wait_for_rows`, awaiting instead of blocking the event loop."""
        deadline = time.monotonic() + timeout
        while (held := self._count(kind)) < count:
            self._check_deadline(deadline, held, count, timeout)
            await asyncio.sleep(0.05)
        return held

    def _count(self, kind: str | None) -> int:
        rows = self.buffer.rows()
        return len(rows) if kind is None else sum(1 for r in rows if r.get("type") == kind)

    def _check_deadline(self, deadline: float, held: int, count: int, timeout: float) -> None:
        if time.monotonic() > deadline:
            stats = self.stats()
            raise TimeoutError(
                f"{self.url}: {held} of {count} rows after {timeout:.0f} s "
                f"(status {stats.status.value}; {stats.last_error or 'no error'})"
            )

    @property
    def running(self) -> bool:
        """Whether the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> FeedStats:
        return FeedStats(
            url=self.url,
            status=self._status,
            messages=self._messages,
            last_received=self._last_received,
            last_timestamp=self._last_timestamp,
            next_retry_at=self._next_retry_at,
            gaps=self._sequencer.gaps,
            resyncs=self._sequencer.resyncs,
            retries=self._retries,
            discarded=self._skipped,
            last_error=self._sequencer.server_error or self._last_error,
            epoch=self._sequencer.epoch,
            seq=self._sequencer.seq,
        )

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        self._main = loop.create_task(self._listen())
        ready.set()
        try:
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._main)
        finally:
            loop.close()
            self._status = Status.DISCONNECTED

    # -- connection loop ---------------------------------------------------------------

    async def _listen(self) -> None:
        delays = backoff(self.reconnect.base, self.reconnect.cap)
        while True:
            connected_at = None
            try:
                async with connect(
                    self.url, open_timeout=self.reconnect.open_timeout, max_size=None
                ) as ws:
                    connected_at = time.monotonic()
                    self._status, self._next_retry_at = Status.CONNECTED, None
                    self._last_error = None
                    log.info("connected to %s", self.url)
                    await self._receive(ws)
                    self._last_error = "the server closed the connection"
            except (OSError, TimeoutError, WebSocketException) as exc:
                self._last_error = _describe(exc)
            except Exception as exc:  # never let one failure end the listener
                log.exception("unexpected failure on %s", self.url)
                self._last_error = _describe(exc)
            self._sequencer.disconnected()
            if connected_at is not None and (
                time.monotonic() - connected_at >= self.reconnect.healthy_after
            ):
                delays = backoff(self.reconnect.base, self.reconnect.cap)
            delay = next(delays)
            self._status = Status.RECONNECTING
            self._next_retry_at = time.time() + delay
            self._retries += 1
            log.warning(
                "feed %s unavailable (%s); retrying in %.1f s", self.url, self._last_error, delay
            )
            await asyncio.sleep(delay)
            self._next_retry_at = None

    async def _receive(self, ws: ClientConnection) -> None:
        async for data in ws:
            received = time.time()
            try:
                message = json.loads(data)
            except (ValueError, RecursionError):
                self._skipped += 1
                log.debug("skipped a message that is not JSON from %s", self.url)
                continue
            if not isinstance(message, dict):
                self._skipped += 1
                continue
            self._messages += 1
            self._last_received = received
            stamp = message.get("timestamp")
            if isinstance(stamp, str):
                self._last_timestamp = stamp
            try:
                rows, replies = self._sequencer.receive(message, received)
            except Exception:  # a message the sequencer cannot place is dropped, not fatal
                self._skipped += 1
                log.exception("skipped a message from %s it could not place", self.url)
                continue
            if rows:
                self.buffer.extend(rows)
            for reply in replies:
                await ws.send(json.dumps(reply))


def check_url(url: str) -> str:
    """``url`` if it is a usable ``ws://`` or ``wss://`` URL; a ``ValueError`` saying why if not."""
    try:
        parse_uri(url)
    except (InvalidURI, ValueError) as exc:
        raise ValueError(f"invalid feed URL {url!r}: {exc}") from None
    return url


def _describe(exc: BaseException) -> str:
    """A short, human explanation of why a connection failed or ended."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused — is the feed running?"
    if isinstance(exc, InvalidStatus):
        return f"the server answered HTTP {exc.response.status_code} — check the URL path"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


# -- one listener per feed per process -----------------------------------------------

_shared: dict[tuple[str, tuple[str, ...]], FeedListener] = {}
_shared_lock = threading.Lock()


def shared_listener(
    url: str,
    *,
    maxlen: int = DEFAULT_MAXLEN,
    reconnect: Reconnect = DEFAULT_RECONNECT,
    subscriptions: tuple[str, ...] = (),
) -> FeedListener:
    """The process's running listener for ``url``, started on first use.

    Every dashboard session and notebook cell asking for the same feed shares it:
    ten open tabs mean one upstream connection.
    """
    key = (url, subscriptions)
    with _shared_lock:
        listener = _shared.get(key)
        if listener is None:
            listener = FeedListener(
                url, maxlen=maxlen, reconnect=reconnect, subscriptions=subscriptions
            )
            _shared[key] = listener.start()
        return listener


def stop_shared_listeners() -> None:
    """Stop every shared listener (tests, notebook clean-up)."""
    with _shared_lock:
        listeners = list(_shared.values())
        _shared.clear()
    for listener in listeners:
        listener.stop()
