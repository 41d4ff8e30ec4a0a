"""Where an HTTP request's head ends, found across reads without keeping the head.

Until a request is answered, websockets must get no byte past its head (see
:mod:`tourpanel.server.connection`); only the last few bytes of each read are kept
to find an end marker split between two reads.
"""

from __future__ import annotations

__all__ = ["END_OF_HEAD", "HEAD_TAIL", "head_end"]

END_OF_HEAD = b"\r\n\r\n"  # the empty line that ends an HTTP request's head
HEAD_TAIL = len(END_OF_HEAD) - 1  # bytes kept to find one split across two reads


def head_end(tail: bytes, data: bytes) -> int:
    """Where in ``data`` the request head ends (just past its empty line), or -1.

    ``tail`` holds the last bytes received before ``data``, fewer than the marker's
    length, so a marker split across two reads is found; it comes first if it exists.
    """
    if tail:
        across = (tail + data[:HEAD_TAIL]).find(END_OF_HEAD)
        if across >= 0:
            return across + len(END_OF_HEAD) - len(tail)
    found = data.find(END_OF_HEAD)
    return found + len(END_OF_HEAD) if found >= 0 else -1
