"""One client: websockets' Sans-I/O protocol driven by a bare asyncio protocol.

websockets' asyncio server gives every connection a handler task, futures, a message
queue and the handshake's headers for as long as it lives: about 13 KB a client,
nearly three times the lesson's Node server. This server never awaits anything per
connection (replies and broadcasts are written at once, see :mod:`server.frames`),
so a connection here is only what the protocol needs: websockets' parser state, the
asyncio transport and a few slots.

websockets still does all of the protocol: the opening handshake and its errors,
frame parsing and masking, size limits, answering pings, the closing handshake.
"""

from __future__ import annotations

import asyncio
from typing import Protocol as Interface
from typing import TypeAlias

from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import OPEN, SERVER, Protocol, State
from websockets.server import ServerProtocol

__all__ = ["Connection", "Hub"]

Payload: TypeAlias = bytes | bytearray | memoryview


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

    __slots__ = ("_fragments", "_timer", "feed", "hub", "last_pong", "protocol", "transport")

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.protocol: Protocol = ServerProtocol(max_size=hub.max_size)
        self.transport: asyncio.Transport
        self.feed: object = None  # set by the hub once open
        self.last_pong = b""  # payload of the latest pong, see server.heartbeat
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
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Frame):
                self._receive(event)
            elif isinstance(event, Request):
                self._handshake(event, ended=data.endswith(b"\r\n\r\n"))
        self._send_pending()

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

    def _handshake(self, request: Request, *, ended: bool) -> None:
        """Answer ``request``; ``ended``: nothing arrived after it (see _forget_handshake)."""
        assert self._timer is not None
        self._timer.cancel()
        self._timer = None
        handshake = self.protocol
        assert isinstance(handshake, ServerProtocol)
        handshake.send_response(self.hub.respond(self, request))
        if handshake.state is OPEN:
            self._send_pending()  # the 101 goes before anything the hub writes
            if ended and not handshake.reader.buffer:
                self._forget_handshake()
            self.hub.opened(self, request)

    def _forget_handshake(self) -> None:
        """Parse frames with a fresh protocol: the handshake's keeps the request (~2 KB).

        Only when the request was the last thing received: a client must wait for the
        101 before sending frames (RFC 6455, 4.1), and the handshake's parser may hold
        part of a frame from one that did not, so such a client keeps that parser.
        """
        self.protocol = Protocol(SERVER, max_size=self.hub.max_size, logger=self.protocol.logger)

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
