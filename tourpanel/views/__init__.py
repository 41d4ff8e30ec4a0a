"""Panel components for live feeds, one per module, each reading a buffer by cursor.

Every component is a ``pn.viewable.Viewer`` with typed, documented parameters. A view
takes a :class:`~tourpanel.buffer.FeedBuffer` (``buffer=``), the status table any
:class:`~tourpanel.stats.StatsSource` (``sources=``); none of them knows the listener.
Call ``start()`` to flush on a timer in a page or a notebook, or ``flush()`` yourself.

- :mod:`.base` — :class:`LiveView` (the batched flush) and :class:`FeedView` (a cursor)
- :mod:`.cards` — :class:`TourCards`; :mod:`.seats` — :class:`SeatChart`
- :mod:`.numbers` — :class:`RandomPanel`, with :mod:`.board`'s :class:`NumberBoard`
- :mod:`.status` — :class:`FeedStatus`; :mod:`.page` — :class:`Dashboard`
- :mod:`.explore` — :class:`LatestTable`, :class:`FieldPlot`: any JSON feed
"""

from __future__ import annotations

from .base import FeedView, LiveView
from .board import NumberBoard
from .cards import TourCards
from .explore import FieldPlot, LatestTable
from .numbers import RandomPanel
from .page import Dashboard
from .seats import SeatChart
from .status import FeedStatus

__all__ = [
    "Dashboard",
    "FeedStatus",
    "FeedView",
    "FieldPlot",
    "LatestTable",
    "LiveView",
    "NumberBoard",
    "RandomPanel",
    "SeatChart",
    "TourCards",
]
