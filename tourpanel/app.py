"""``panel serve tourpanel/app.py``: the live dashboard.

The only place that wires the pieces together and reads the environment. Panel runs
this file once per browser session; the feeds and their listeners are per process.
"""

from __future__ import annotations

import os
import sys

import panel as pn

from tourpanel.config import parse_config
from tourpanel.labels import labels_for
from tourpanel.listener import FeedListener
from tourpanel.live import feed
from tourpanel.views import Dashboard

pn.extension(design="native")

config = parse_config(sys.argv[1:], os.environ)


def _listener(url: str | None, name: str) -> FeedListener:
    """The shared listener of feed ``name``: at ``url``, or the built-in feed when unset."""
    return feed(name, url=url, maxlen=config.buffer_rows, reconnect=config.reconnect)


labels = labels_for(config.language)
dashboard = Dashboard(
    tours=_listener(config.tours_url, "tours"),
    random=_listener(config.random_url, "random"),
    labels=labels,
    flush_period=config.flush_ms,
    max_points=config.chart_points,
)
dashboard.start()
dashboard.servable(title=labels.title)
