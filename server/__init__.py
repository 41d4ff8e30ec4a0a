"""The lesson's WebSocket feeds, served with ``websockets``: ``tourpanel-server --help``.

Installed as ``tourpanel.server`` from the project's ``server/`` folder; it imports
the wire contract (:mod:`tourpanel.protocol`) and small pure helpers, never the
dashboard.
"""

if __name__ != "tourpanel.server":  # e.g. ``python -m server`` inside the checkout
    raise ImportError(
        f"the feed server is tourpanel.server, not {__name__!r}: install the project "
        "(pip install -e .) and run tourpanel-server or python -m tourpanel.server"
    )

from .feeds import Delivery, Feed, RandomFeed, TourFeed
from .settings import Settings, parse_settings
from .store import Entry, MemoryStore, Store
from .transport import FeedServer

__all__ = [
    "Delivery",
    "Entry",
    "Feed",
    "FeedServer",
    "MemoryStore",
    "RandomFeed",
    "Settings",
    "Store",
    "TourFeed",
    "parse_settings",
]
