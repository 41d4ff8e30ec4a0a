"""The dashboard built from its configuration: what ``app.py``, tests and notebooks call.

    from tourpanel.dashboard import create_dashboard
    create_dashboard().servable()   # both built-in feeds, English labels

The listeners are shared per process (:func:`tourpanel.live.feed`); each call builds
a new page on them, as each browser session needs its own.
"""

from __future__ import annotations

from .config import DashboardConfig
from .labels import labels_for
from .live import feed
from .views import Dashboard

__all__ = ["create_dashboard"]


def create_dashboard(config: DashboardConfig | None = None) -> Dashboard:
    """A started :class:`~tourpanel.views.Dashboard` of the configured feeds.

    A feed without a URL is the built-in one, started in this process on first use.
    """
    config = config or DashboardConfig()
    tours, random = (
        feed(
            name,
            url=url,
            maxlen=config.buffer_rows,
            reconnect=config.reconnect,
            max_size=config.max_incoming_size,
            token=config.token,
        )
        for name, url in (("tours", config.tours_url), ("random", config.random_url))
    )
    dashboard = Dashboard(
        tours=tours.buffer,
        random=random.buffer,
        sources={"tours": tours, "random": random},
        labels=labels_for(config.language),
        flush_period=config.flush_ms,
        max_points=config.chart_points,
    )
    dashboard.start()
    return dashboard
