"""One call to get a live feed: the built-in one, or any WebSocket JSON feed by URL.

    from tourpanel.live import feed
    numbers = feed("random")            # the built-in feed, started in this process
    other = feed(url="ws://host/feed")  # any feed sending JSON objects
    secure = feed(url="wss://host/feed", token=jwt)  # a feed that wants a token

Listeners are shared per process, so calling ``feed`` again (another cell, another
browser tab) returns the same connection and the same buffer.
"""

from __future__ import annotations

import os

from .defaults import BUFFER_ROWS, MAX_MESSAGE_BYTES
from .embedded import embedded_feeds
from .listener import FeedListener, shared_listener
from .options import env_name
from .protocol import FEEDS
from .reconnect import DEFAULT_RECONNECT, Reconnect

__all__ = ["TOKEN_VARIABLE", "feed"]

TOKEN_VARIABLE = env_name("token")  # TOURPANEL_TOKEN: the token, when feed() is given none


def feed(
    name: str = "tours",
    *,
    url: str | None = None,
    subscriptions: tuple[str, ...] = (),
    maxlen: int = BUFFER_ROWS,
    reconnect: Reconnect = DEFAULT_RECONNECT,
    max_size: int = MAX_MESSAGE_BYTES,
    token: str | None = None,
) -> FeedListener:
    """The running listener of feed ``name`` (``tours`` or ``random``), or of ``url``.

    Without ``url`` the built-in feeds start in this process on a free loopback
    port (their ``TOURPANEL_*`` variables apply), so it works offline. ``max_size``
    bounds one incoming message in bytes. ``token`` (default: ``$TOURPANEL_TOKEN``,
    if set) is sent as ``Authorization: Bearer``; a feed that needs none ignores it.
    """
    if token is None:
        token = os.environ.get(TOKEN_VARIABLE) or None
    if url is None:
        if name not in FEEDS:
            known = " or ".join(repr(f) for f in FEEDS)
            raise ValueError(f"unknown built-in feed {name!r}; use {known}, or url=")
        url = embedded_feeds(os.environ).url(name)
    return shared_listener(
        url,
        maxlen=maxlen,
        reconnect=reconnect,
        subscriptions=subscriptions,
        max_size=max_size,
        token=token,
    )
