"""One client: websockets' Sans-I/O protocol driven by a bare asyncio protocol.

websockets' asyncio server gives every connection a handler task, futures, a message
queue and the handshake's headers for as long as it lives, which costs several times
the lesson's Node server per client (docs/benchmarks.md, fan-out). This server never
awaits anything per connection (replies and broadcasts are written at once, see
:mod:`tourpanel.server.frames`), so a connection here is only what the protocol needs:
websockets' parser state, the asyncio transport and a few slots.

websockets does all of the protocol, through its documented Sans-I/O API only: the
opening handshake and its errors, frame parsing and masking, size limits, answering
pings, the closing handshake.

Two bounds live here, where the bytes are: a client over its message budget
(:mod:`tourpanel.server.limits`) is not read until its budget refills, and a client
that does not read what it is sent is dropped the moment its pending output passes
``max_pending`` (asyncio calls ``pause_writing`` then), whatever the heartbeat does.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol as Interface
from typing import TypeAlias

from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import OPEN, State
from websockets.server import ServerProtocol

from .auth import Claims
from .head import HEAD_TAIL, head_end
from .limits import RateLimit, TokenBucket, Verdict
from .redact import WIRE_LOG

__all__ = ["Connection", "Hub", "Police"]

Payload: TypeAlias = bytes | bytearray | memoryview


class Hub(Interface):
    """What a connection reports to: the server that owns it."""

    open_timeout: float
    close_timeout: float
    max_size: int | None
    max_fragments: int  # frames one message may come in
    max_pending: int  # bytes a connection may leave unread before it is dropped
    rate_limit: RateLimit | None
    # Where every connection of the hub reads into: asyncio fills it and hands it back
    # at once, so one buffer serves them all. Its size bounds what one read can make
    # websockets parse (a flood read past the budget) to a few milliseconds.
    read_buffer: memoryview

    @property
    def warden(self) -> Police:
        """Told when a client breaks a limit."""

    def arrived(self, conn: Connection) -> None:
        """A TCP connection was accepted; its handshake has not come yet."""

    def respond(self, conn: Connection, request: Request) -> Response:
        """The handshake response: 101 to open a WebSocket, anything else to refuse."""

    def opened(self, conn: Connection, request: Request) -> None:
        """The WebSocket is open; the 101 response has been written."""

    def received(self, conn: Connection, data: str | bytes) -> None:
        """A whole message arrived."""

    def lost(self, conn: Connection, exc: Exception | None) -> None:
        """The TCP connection is gone, for whatever reason."""


class Police(Interface):
    """What a connection reports a broken limit to (:class:`tourpanel.server.warden.Warden`)."""

    def limited(self, conn: Connection, verdict: Verdict) -> None:
        """The client went over its message budget (``OVER``) or stayed over (``CUT_OFF``)."""

    def too_slow(self, conn: Connection) -> None:
        """The client left more than ``max_pending`` bytes unread."""

    def expired(self, conn: Connection) -> None:
        """The client's token expired (see :meth:`Connection.expire_at`)."""


class Connection(asyncio.BufferedProtocol):
    """A client's connection; ``protocol`` and ``transport`` are websockets' and asyncio's."""

    __slots__ = (
        "_bucket",
        "_expiry",
        "_fragments",
        "_head_tail",
        "_paused",
        "_timer",
        "address",
        "claims",
        "feed",
        "hub",
        "last_pong",
        "protocol",
        "transport",
    )

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.protocol = ServerProtocol(max_size=hub.max_size, logger=WIRE_LOG)
        self.transport: asyncio.Transport
        self.address = ""  # the client's IP address
        self.feed: object = None  # set by the hub once open
        self.claims: Claims | None = None  # what the client's token allows, if any
        self.last_pong = b""  # payload of the latest pong, see server.heartbeat
        # The request head's last bytes so far, to find its end across reads;
        # None once the request has been answered.
        self._head_tail: bytes | None = b""
        # The message being received in fragments; None as its parts while it is
        # being discarded (a fragment of it came over the client's budget).
        self._fragments: tuple[Opcode, list[Payload] | None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._bucket: TokenBucket | None = None
        self._paused = False  # not read until the budget refills

    @property
    def peer(self) -> str:
        address = self.transport.get_extra_info("peername")
        return f"{address[0]}:{address[1]}" if address else "unknown peer"

    @property
    def state(self) -> State:
        return self.protocol.state

    def expire_at(self, when: float) -> None:
        """Tell the hub at ``when`` (seconds since the epoch) that the token expired."""
        delay = max(0.0, when - time.time())
        self._expiry = asyncio.get_running_loop().call_later(delay, self.hub.warden.expired, self)

    def charge(self, cost: float) -> None:
        """Take ``cost`` more from the client's budget (an answer that was long to send)."""
        if self._bucket is not None:
            self._over_budget(self._bucket.spend(time.monotonic(), cost))

    def close(self, code: CloseCode = CloseCode.GOING_AWAY, reason: str = "") -> None:
        """Start the closing handshake; the peer has ``close_timeout`` to finish it."""
        if self.protocol.state is OPEN:
            self.protocol.send_close(code, reason)
            self._send_pending()
        elif self.protocol.state is State.CONNECTING:
            self.transport.abort()

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        address = transport.get_extra_info("peername")
        self.address = str(address[0]) if address else ""
        # asyncio calls pause_writing once this much is pending: the slow-reader bound.
        transport.set_write_buffer_limits(high=self.hub.max_pending)
        if self.hub.rate_limit is not None:
            self._bucket = TokenBucket(self.hub.rate_limit, time.monotonic())
        self.hub.arrived(self)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.hub.open_timeout, transport.abort)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.hub.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self.hub.read_buffer[:nbytes]))

    def data_received(self, data: bytes) -> None:
        tail = self._head_tail
        if tail is not None:
            # Until the request is answered, websockets gets no byte past its head:
            # it would parse what follows as frames before the response is chosen,
            # and a rejection after it failed on them would send a second EOF.
            end = head_end(tail, data)
            if end < 0:
                self._head_tail = (tail + data[-HEAD_TAIL:])[-HEAD_TAIL:]
            else:
                self._receive_data(data[:end])
                data = data[end:]
                # Whether or not a Request came (a malformed head has already been
                # answered by websockets), the head is over.
                self._head_tail = None
                if not data:
                    return
        self._receive_data(data)

    def eof_received(self) -> None:
        self.protocol.receive_eof()
        self._send_pending()  # closes the transport once written: nothing more to read

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.receive_eof()  # idempotent; the state becomes CLOSED
        for timer in (self._timer, self._expiry):
            if timer is not None:
                timer.cancel()
        self._timer = self._expiry = None
        self.hub.lost(self, exc)

    def pause_writing(self) -> None:
        if self.protocol.state is OPEN:
            self.hub.warden.too_slow(self)

    def resume_writing(self) -> None:
        pass  # a slow reader was dropped at pause_writing: nothing waits on this

    # -- inside ------------------------------------------------------------------------

    def _receive_data(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Frame):
                # Closing, websockets finishes the handshake: nothing is answered.
                if protocol.state is OPEN and (self._bucket is None or self._afford(event)):
                    self._receive(event)
            elif isinstance(event, Request):
                self._handshake(event)
        self._send_pending()

    def _handshake(self, request: Request) -> None:
        """Answer ``request``: nothing after its head has reached websockets yet."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        protocol = self.protocol
        protocol.send_response(self.hub.respond(self, request))
        self._send_pending()  # the response goes before anything the hub writes
        if protocol.state is OPEN:
            self.hub.opened(self, request)
        # websockets' parser keeps the request it parsed for the connection's life and
        # nothing reads its headers after the answer: let them go (the memory this
        # saves per connection is measured in docs/benchmarks.md, fan-out).
        request.headers.clear()

    # -- the client's budget -------------------------------------------------------------

    def _afford(self, frame: Frame) -> bool:
        """Pay for ``frame``; over budget, it is discarded with the message it belongs to.

        Frames already read past the budget (one read holds thousands) are discarded
        and charged too: the client was told, and is not read again until it has
        paid for them, so a flood costs the server one read per pause, not a parse
        per frame.
        """
        bucket = self._bucket
        assert bucket is not None
        if self._paused:
            bucket.owe()
        else:
            verdict = bucket.spend(time.monotonic())
            if verdict is Verdict.OK:
                return True
            self._over_budget(verdict)
        opcode = frame.opcode
        if opcode is Opcode.CONT or (opcode in (Opcode.TEXT, Opcode.BINARY) and not frame.fin):
            self._fragments = None if frame.fin else (opcode, None)
        return False

    def _over_budget(self, verdict: Verdict) -> None:
        if verdict is Verdict.OK or self._paused:
            return
        if verdict is not Verdict.THROTTLE:
            self.hub.warden.limited(self, verdict)
        self._paused = True
        self.transport.pause_reading()
        if self.protocol.state is OPEN:  # cut off, it is never read again: the close timer ends it
            asyncio.get_running_loop().call_soon(self._read_again)

    def _read_again(self) -> None:
        """Resume reading once the client's budget holds a token again."""
        assert self._bucket is not None
        wait = self._bucket.resume_in(time.monotonic())
        if wait > 0:
            asyncio.get_running_loop().call_later(wait, self._read_again)
            return
        self._paused = False
        if not self.transport.is_closing() and self.protocol.state is OPEN:
            self.transport.resume_reading()

    # -- messages -------------------------------------------------------------------------

    def _receive(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.PONG:
            self.last_pong = bytes(frame.data)
        elif opcode is Opcode.CONT:  # websockets checks that a message is in progress
            if self._fragments is None:
                return  # the rest of a message that failed (too many fragments)
            first, parts = self._fragments
            if frame.fin:
                self._fragments = None
            if parts is None:
                return  # the rest of a message discarded over budget
            parts.append(frame.data)
            if len(parts) > self.hub.max_fragments:
                self._fragments = None
                self.protocol.fail(
                    CloseCode.MESSAGE_TOO_BIG,
                    f"message in more than {self.hub.max_fragments} fragments",
                )
            elif frame.fin:
                self._message(first, b"".join(parts))
        elif opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                self._message(opcode, frame.data)
            else:
                self._fragments = (opcode, [frame.data])

    def _message(self, opcode: Opcode, data: Payload) -> None:
        if opcode is Opcode.BINARY:
            self.hub.received(self, bytes(data))
            return
        try:
            text = bytes(data).decode()
        except UnicodeDecodeError as exc:
            self.protocol.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
            return
        self.hub.received(self, text)

    def _send_pending(self) -> None:
        """Write what websockets has to send (pongs, close frames, EOF); time the close."""
        protocol, transport = self.protocol, self.transport
        for data in protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()
            else:
                transport.close()
        if self._timer is None and protocol.close_expected():
            timeout = self.hub.close_timeout
            self._timer = asyncio.get_running_loop().call_later(timeout, transport.abort)
