"""tourpanel: live WebSocket feeds, explored as they happen.

    import tourpanel
    tours = tourpanel.feed("tours")        # the built-in feed, started in this process
    tours.buffer.frame()                   # what arrived so far, as a pandas DataFrame
    tourpanel.TourCards(buffer=tours.buffer)

Names are handed out on first use (PEP 562), so ``import tourpanel`` loads neither
pandas, Panel nor websockets until a name that needs them is asked for. The feed
server is :mod:`tourpanel.server` (``tourpanel-server`` on the command line).
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .buffer import FeedBuffer
    from .config import DashboardConfig
    from .dashboard import create_dashboard
    from .listener import FeedListener
    from .live import feed
    from .reconnect import Reconnect
    from .stats import FeedStats, Status
    from .views import (
        Dashboard,
        FeedStatus,
        FieldPlot,
        LatestTable,
        RandomPanel,
        SeatChart,
        TourCards,
    )

__all__ = [
    "Dashboard",
    "DashboardConfig",
    "FeedBuffer",
    "FeedListener",
    "FeedStats",
    "FeedStatus",
    "FieldPlot",
    "LatestTable",
    "RandomPanel",
    "Reconnect",
    "SeatChart",
    "Status",
    "TourCards",
    "__version__",
    "create_dashboard",
    "feed",
]

_WHERE = {
    "Dashboard": "views",
    "DashboardConfig": "config",
    "FeedBuffer": "buffer",
    "FeedListener": "listener",
    "FeedStats": "stats",
    "FeedStatus": "views",
    "FieldPlot": "views",
    "LatestTable": "views",
    "RandomPanel": "views",
    "Reconnect": "reconnect",
    "SeatChart": "views",
    "Status": "stats",
    "TourCards": "views",
    "create_dashboard": "dashboard",
    "feed": "live",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        try:
            return version("tourpanel")
        except PackageNotFoundError:  # run from a checkout that was never installed
            return "0+unknown"
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'tourpanel' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
