"""Where the server listens and how many connections it can hold there.

A server out of file descriptors cannot even refuse a client politely, and asyncio
reports each failed ``accept()`` with a traceback. So the server raises its soft
descriptor limit to the hard one at start, keeps its connection cap below it with
room to answer "503, full" and to log, and reports failed accepts once a second.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
import time
from typing import Any

__all__ = ["FD_RESERVE", "AcceptErrors", "connection_cap", "listen_hosts", "raise_fd_limit"]

log = logging.getLogger("tourpanel.server")

FD_RESERVE = 64  # descriptors kept free: listening sockets, logs, refusing the next client
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


def listen_hosts(host: str, port: int) -> str | list[str]:
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


def raise_fd_limit() -> int:
    """Raise this process's soft limit of open files to the hard one; returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 2**20)
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-files limit from %d: %s", soft, exc)
    return soft


def connection_cap(wanted: int) -> int:
    """``wanted``, or fewer if the open-files limit would not leave room for them."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    cap = max(1, int(soft) - FD_RESERVE)
    if cap < wanted:
        log.warning(
            "the open-files limit (%d) allows %d connections, not --max-connections %d; "
            "raise it (ulimit -n) to hold more",
            soft,
            cap,
            wanted,
        )
    return min(wanted, cap)


class AcceptErrors:
    """A loop exception handler: a failed ``accept()`` logged once a second, no traceback.

    asyncio already waits a second before accepting again; everything else goes on
    to the handler that was there before.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.previous = loop.get_exception_handler()
        self.failed = 0
        self._logged_at = 0.0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _OUT_OF_RESOURCES:
            self.failed += 1
            now = time.monotonic()
            if now - self._logged_at >= 1.0:
                self._logged_at = now
                log.warning(
                    "cannot accept connections: %s (%d failed so far); "
                    "raise the open-files limit or lower --max-connections",
                    exc.strerror or exc,
                    self.failed,
                )
            return
        if self.previous is not None:
            self.previous(loop, context)
        else:
            loop.default_exception_handler(context)

    def install(self) -> None:
        self.loop.set_exception_handler(self)

    def remove(self) -> None:
        if self.loop.get_exception_handler() is self:
            self.loop.set_exception_handler(self.previous)
