"""The lesson's WebSocket feeds, served with ``websockets``: ``python -m server --help``."""

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
