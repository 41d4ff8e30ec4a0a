"""One call to get a live feed: the built-in one, or any WebSocket JSON feed by URL.

    from tourpanel.live import feed
    numbers = feed("random")            # the built-in feed, started in this process
    other = feed(url="ws://host/feed")  # any feed sending JSON objects

Listeners are shared per process, so calling ``feed`` again (another cell, another
browser tab) returns the same connection and the same buffer.
"""

from __future__ import annotations

import os

from .buffer import DEFAULT_MAXLEN
from .embedded import embedded_feeds
from .listener import DEFAULT_RECONNECT, FeedListener, Reconnect, shared_listener

__all__ = ["feed"]


def feed(
    name: str = "tours",
    *,
    url: str | None = None,
    subscriptions: tuple[str, ...] = (),
    maxlen: int = DEFAULT_MAXLEN,
    reconnect: Reconnect = DEFAULT_RECONNECT,
) -> FeedListener:
    """The running listener of feed ``name`` (``tours`` or ``random``), or of ``url``.

    Without ``url`` the built-in feeds start in this process on a free loopback
    port (their ``TOURPANEL_*`` variables apply), so it works offline.
    """
    if url is None:
        if name not in ("tours", "random"):
            raise ValueError(f"unknown built-in feed {name!r}; use 'tours' or 'random', or url=")
        url = embedded_feeds(os.environ).url(name)
    return shared_listener(url, maxlen=maxlen, reconnect=reconnect, subscriptions=subscriptions)
