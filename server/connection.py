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
"""

from __future__ import annotations

import asyncio
from typing import Protocol as Interface
from typing import TypeAlias

from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import OPEN, State
from websockets.server import ServerProtocol

__all__ = ["Connection", "Hub"]

Payload: TypeAlias = bytes | bytearray | memoryview

END_OF_HEAD = b"\r\n\r\n"  # the empty line that ends an HTTP request's head
_KEEP = len(END_OF_HEAD) - 1  # bytes kept to find one split across two reads


class Hub(Interface):
    """What a connection reports to: the server that owns it."""

    open_timeout: float
    close_timeout: float
    max_size: int | None
    connections: set[Connection]  # every connection, from connect until lost

    def respond(self, conn: Connection, request: Request) -> Response:
        """The handshake response: 101 to open a WebSocket, anything else to refuse."""

    def opened(self, conn: Connection, request: Request) -> None:
        """The WebSocket is open; the 101 response has been written."""

    def received(self, conn: Connection, data: str | bytes) -> None:
        """A whole message arrived."""

    def lost(self, conn: Connection, exc: Exception | None) -> None:
        """The TCP connection is gone, for whatever reason."""


class Connection(asyncio.Protocol):
    """A client's connection; ``protocol`` and ``transport`` are websockets' and asyncio's."""

    __slots__ = (
        "_fragments",
        "_head_tail",
        "_timer",
        "feed",
        "hub",
        "last_pong",
        "protocol",
        "transport",
    )

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.protocol = ServerProtocol(max_size=hub.max_size)
        self.transport: asyncio.Transport
        self.feed: object = None  # set by the hub once open
        self.last_pong = b""  # payload of the latest pong, see server.heartbeat
        # The request head's last bytes so far, to find its end across reads;
        # None once the request has been answered.
        self._head_tail: bytes | None = b""
        self._fragments: tuple[Opcode, list[Payload]] | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def peer(self) -> str:
        address = self.transport.get_extra_info("peername")
        return f"{address[0]}:{address[1]}" if address else "unknown peer"

    @property
    def state(self) -> State:
        return self.protocol.state

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
        self.hub.connections.add(self)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.hub.open_timeout, transport.abort)

    def data_received(self, data: bytes) -> None:
        tail = self._head_tail
        if tail is not None:
            # Until the request is answered, websockets gets no byte past its head:
            # it would parse what follows as frames before the response is chosen,
            # and a rejection after it failed on them would send a second EOF.
            end = _head_end(tail, data)
            if end < 0:
                self._head_tail = (tail + data[-_KEEP:])[-_KEEP:]
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
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.hub.lost(self, exc)

    # -- inside ------------------------------------------------------------------------

    def _receive_data(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Frame):
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

    def _receive(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.PONG:
            self.last_pong = bytes(frame.data)
        elif opcode is Opcode.CONT:  # websockets checks that a message is in progress
            assert self._fragments is not None
            first, parts = self._fragments
            parts.append(frame.data)
            if frame.fin:
                self._fragments = None
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


def _head_end(tail: bytes, data: bytes) -> int:
    """Where in ``data`` the request head ends (just past its empty line), or -1.

    ``tail`` holds the last bytes received before ``data``, fewer than the marker's
    length, so a marker split across two reads is found; it comes first if it exists.
    """
    if tail:
        across = (tail + data[:_KEEP]).find(END_OF_HEAD)
        if across >= 0:
            return across + len(END_OF_HEAD) - len(tail)
    found = data.find(END_OF_HEAD)
    return found + len(END_OF_HEAD) if found >= 0 else -1
