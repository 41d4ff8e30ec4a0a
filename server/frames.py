"""WebSocket frames built once and written straight to transports.

Server frames are not masked and this server negotiates no extension, so every
client gets the very same bytes: a broadcast is framed once for all connections,
which :func:`websockets.asyncio.server.broadcast` would do per connection.
"""

from __future__ import annotations

from collections.abc import Iterable

from websockets.frames import Frame, Opcode
from websockets.protocol import OPEN

from .connection import Connection

__all__ = ["fan_out", "ping_frame", "text_frame", "write"]


def text_frame(text: str) -> bytes:
    """``text`` (JSON) framed; a lone surrogate in it is sent as its JSON escape ``\\udXXX``.

    Python's JSON keeps lone surrogates that UTF-8 cannot encode; inside a JSON string
    ``backslashreplace`` writes exactly the escape JSON reads them back from.
    """
    return Frame(Opcode.TEXT, text.encode("utf-8", "backslashreplace")).serialize(mask=False)


def ping_frame(payload: bytes) -> bytes:
    return Frame(Opcode.PING, payload).serialize(mask=False)


def write(conn: Connection, frames: bytes) -> None:
    """Write whole frames now, unless the connection is closing (they would be lost).

    Nothing here sends a message in fragments, so whole frames never land inside one.
    """
    if conn.protocol.state is OPEN:
        conn.transport.write(frames)


def fan_out(conns: Iterable[Connection], frames: bytes) -> None:
    """Write the same bytes to many connections."""
    for conn in conns:
        write(conn, frames)
