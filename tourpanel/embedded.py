"""The built-in feeds, started once per process on a free loopback port.

``panel serve tourpanel/app.py`` and the notebooks use them when no feed URL is
given, so the dashboard shows live data with nothing else running. This is the only
module of the dashboard side that imports the feed server, and only when the
built-in feeds are first asked for: a dashboard watching external feeds never loads it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from .protocol import FEEDS

if TYPE_CHECKING:
    from .server.background import BackgroundServer

__all__ = ["embedded_feeds"]

_server: BackgroundServer | None = None
_lock = threading.Lock()


def embedded_feeds(environ: Mapping[str, str] | None = None) -> BackgroundServer:
    """The process's built-in feed server (both feeds), started on first call.

    The server's own ``TOURPANEL_*`` variables (intervals, seed, …) apply; it always
    listens on 127.0.0.1 on a free port, and asks for no token: it serves this process
    only, and a ``TOURPANEL_JWT_SECRET`` exported for a shared server must not lock
    the dashboard out of its own feeds.
    """
    global _server
    with _lock:
        if _server is None:
            from .server.background import BackgroundServer
            from .server.settings import parse_settings

            settings = parse_settings([], environ or {})
            settings = replace(
                settings,
                host="127.0.0.1",
                port=0,
                feeds=FEEDS,
                jwt_secret=None,
                jwt_public_key=None,
                jwt_algorithms=None,
            )
            _server = BackgroundServer(settings).start()
        return _server
