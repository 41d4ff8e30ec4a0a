"""A background WebSocket client per feed, filling a :class:`FeedBuffer`.

The listener runs its own event loop in a daemon thread and never touches Panel or
Bokeh: its only output is rows in the buffer and counters read by :meth:`stats`.
The receive loop does as little as possible per message (parse, flatten, append),
so a fast feed never stalls on rendering.

Reconnection follows the pure :func:`~tourpanel.reconnect.backoff` policy, reset
after a healthy stretch; a feed that refuses the listener (401, 403, 429, 503 before
the upgrade, or a close 1008) is retried more slowly, as
:func:`~tourpanel.reconnect.retry_delay` says, and shown as ``refused`` or ``busy``.
Ordering, de-duplication and ``RESUME`` after a reconnection are decided by the pure
:class:`~tourpanel.sequencer.Sequencer`; messages are read and replies written
through the wire contract's codec. A token goes in the ``Authorization`` header and
never into a log line, an error, ``url`` or a repr (:mod:`tourpanel.credentials`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosedError,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)
from websockets.frames import CloseCode
from websockets.uri import parse_uri

from . import protocol as p
from .buffer import FeedBuffer
from .credentials import RedactingLogger, bearer, check_token, redact, redact_url, url_secrets
from .defaults import BUFFER_ROWS, MAX_MESSAGE_BYTES
from .health import FeedHealth
from .reconnect import (
    DEFAULT_RECONNECT,
    Reconnect,
    backoff,
    closed_by_policy,
    describe_refusal,
    refusal_of,
    retry_delay,
)
from .sequencer import Sequencer
from .stats import FeedStats, Refusal, Status

__all__ = ["FeedListener", "check_url", "shared_listener", "stop_shared_listeners"]

log = logging.getLogger("tourpanel.listener")


class FeedListener:
    """Listens to one feed URL in a background thread and appends rows to ``buffer``.

    ``max_size`` bounds one incoming message (bytes): a larger one closes the
    connection (1009), is counted as discarded, and the listener reconnects.
    ``token`` is sent as ``Authorization: Bearer <token>``; ``url`` is the feed URL
    as shown, any ``token=`` in its query replaced by ``***``.
    """

    def __init__(
        self,
        url: str,
        *,
        buffer: FeedBuffer | None = None,
        maxlen: int = BUFFER_ROWS,
        reconnect: Reconnect = DEFAULT_RECONNECT,
        subscriptions: tuple[str, ...] = (),
        max_size: int = MAX_MESSAGE_BYTES,
        token: str | None = None,
    ) -> None:
        if max_size < 1:
            raise ValueError(f"max_size must be at least 1 byte, got {max_size}")
        self._target = check_url(url)  # what is dialled: it may carry ?token=
        self._token = check_token(token)
        self._secrets = (*((self._token,) if self._token else ()), *url_secrets(url))
        self.url = redact_url(url)
        self.buffer = buffer if buffer is not None else FeedBuffer(maxlen)
        self.reconnect = reconnect
        self.subscriptions = subscriptions
        self.max_size = max_size
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None
        # Written by the listener thread, read by any: changed and read under the lock,
        # so that stats() is one consistent moment.
        self._lock = threading.Lock()
        self._health = FeedHealth(self.url)
        self._sequencer = Sequencer(subscriptions=subscriptions)

    def __repr__(self) -> str:
        token = ", token=***" if self._token else ""
        return f"FeedListener({self.url!r}{token})"

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
        with self._lock:
            self._health.status = Status.DISCONNECTED

    def stats(self) -> FeedStats:
        """How the feed is doing, all counters taken at the same moment."""
        sequencer = self._sequencer
        with self._lock:
            return self._health.snapshot(
                time.monotonic(),
                gaps=sequencer.gaps,
                resyncs=sequencer.resyncs,
                duplicates=sequencer.duplicates,
                server_error=sequencer.server_error,
                epoch=sequencer.epoch,
                seq=sequencer.seq,
            )

    def wait_for_rows(self, count: int, *, kind: str | None = None, timeout: float = 30.0) -> int:
        """Block until the buffer holds ``count`` rows (of ``type`` ``kind``, if given).

        Returns how many there are, or raises ``TimeoutError`` saying what is missing.
        In a notebook prefer ``await until_rows(...)``: it keeps live views updating.
        """
        if not self.buffer.wait_for_count(count, kind=kind, timeout=timeout):
            stats = self.stats()
            raise TimeoutError(
                f"{self.url}: {self.buffer.count(kind)} of {count} rows after {timeout:.0f} s "
                f"(status {stats.status.value}; {stats.last_error or 'no error'})"
            )
        return self.buffer.count(kind)

    async def until_rows(
        self, count: int, *, kind: str | None = None, timeout: float = 30.0
    ) -> int:
        """Like :meth:`wait_for_rows`, waiting in a worker thread so the event loop runs on."""
        return await asyncio.to_thread(self.wait_for_rows, count, kind=kind, timeout=timeout)

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        self._main = loop.create_task(self._listen())
        ready.set()
        try:
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._main)
        finally:
            loop.close()
            with self._lock:
                self._health.status = Status.DISCONNECTED

    # -- connection loop ---------------------------------------------------------------

    async def _listen(self) -> None:
        delays = backoff(self.reconnect.base, self.reconnect.cap)
        headers = bearer(self._token) if self._token else None
        # websockets logs the request line and headers at DEBUG: through this, hidden.
        wslog = logging.getLogger("websockets.client")
        logger = RedactingLogger(wslog, self._secrets) if self._secrets else None
        while True:
            connected_at = None
            why = "the server closed the connection"
            refusal: Refusal | None = None
            try:
                async with connect(
                    self._target,
                    open_timeout=self.reconnect.open_timeout,
                    max_size=self.max_size,
                    additional_headers=headers,
                    logger=logger,
                ) as ws:
                    connected_at = time.monotonic()
                    with self._lock:
                        self._health.connected(connected_at)
                    log.info("connected to %s", self.url)
                    await self._receive(ws)
            except InvalidStatus as exc:
                refusal = refusal_of(exc.response.status_code, exc.response.body)
                why = _describe(exc)
            except ConnectionClosedError as exc:
                why = _describe(exc)
                if exc.rcvd is not None:
                    refusal = closed_by_policy(exc.rcvd.code, exc.rcvd.reason)
                if exc.sent is not None and exc.sent.code == CloseCode.MESSAGE_TOO_BIG:
                    why = f"a message over {self.max_size} bytes was refused; reconnecting"
                    with self._lock:
                        self._health.discarded += 1
            except (OSError, TimeoutError, WebSocketException) as exc:
                why = _describe(exc)
            except Exception as exc:  # never let one failure end the listener
                log.exception("unexpected failure on %s", self.url)
                why = _describe(exc)
            self._sequencer.disconnected()
            if connected_at is not None and (
                time.monotonic() - connected_at >= self.reconnect.healthy_after
            ):
                delays = backoff(self.reconnect.base, self.reconnect.cap)
            delay = retry_delay(refusal, next(delays), self.reconnect)
            why = redact(describe_refusal(refusal) if refusal else why, self._secrets)
            with self._lock:
                self._health.retrying(time.time(), delay, why, refusal=refusal)
            state = "unavailable" if refusal is None else "refused the listener"
            log.warning("feed %s %s (%s); retrying in %.1f s", self.url, state, why, delay)
            await asyncio.sleep(delay)
            with self._lock:
                self._health.next_retry_at = None

    async def _receive(self, ws: ClientConnection) -> None:
        health, sequencer, lock = self._health, self._sequencer, self._lock
        async for data in ws:
            received, arrival = time.time(), time.monotonic()
            try:
                payload = p.load(data)
            except p.ProtocolError as exc:
                with lock:
                    health.discarded += 1
                log.debug("discarded a message from %s: %s", self.url, exc.message)
                continue
            with lock:
                health.arrived(received, arrival, payload.get("timestamp"))
                try:
                    rows, replies = sequencer.receive(payload, received)
                except Exception:  # a message the sequencer cannot place is counted, not fatal
                    health.discarded += 1
                    log.exception("discarded a message from %s it could not place", self.url)
                    continue
            if rows:
                self.buffer.extend(rows)
            for reply in replies:
                await ws.send(p.encode(reply))


def check_url(url: str) -> str:
    """``url`` if it is a usable ``ws://`` or ``wss://`` URL; a ``ValueError`` saying why if not."""
    try:
        parse_uri(url)
    except (InvalidURI, ValueError) as exc:
        shown, hidden = redact_url(url), url_secrets(url)
        raise ValueError(f"invalid feed URL {shown!r}: {redact(str(exc), hidden)}") from None
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

_shared: dict[tuple[str, tuple[str, ...], str | None], FeedListener] = {}
_shared_lock = threading.Lock()


def shared_listener(
    url: str,
    *,
    maxlen: int = BUFFER_ROWS,
    reconnect: Reconnect = DEFAULT_RECONNECT,
    subscriptions: tuple[str, ...] = (),
    max_size: int = MAX_MESSAGE_BYTES,
    token: str | None = None,
) -> FeedListener:
    """The process's running listener for ``url`` (and ``token``), started on first use.

    Every dashboard session and notebook cell asking for the same feed shares it:
    ten open tabs mean one upstream connection.
    """
    key = (url, subscriptions, check_token(token))
    with _shared_lock:
        listener = _shared.get(key)
        if listener is None:
            listener = FeedListener(
                url,
                maxlen=maxlen,
                reconnect=reconnect,
                subscriptions=subscriptions,
                max_size=max_size,
                token=token,
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
