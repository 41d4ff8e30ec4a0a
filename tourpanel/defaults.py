"""Every default and bound of the dashboard side, declared once.

The configuration, the listener and the views all read them from here, so a
changed default changes everywhere at once.
"""

from __future__ import annotations

__all__ = [
    "BUFFER_ROWS",
    "CHART_POINTS",
    "CHART_POINTS_MIN",
    "FLUSH_MS",
    "FLUSH_MS_MIN",
    "MAX_MESSAGE_BYTES",
]

FLUSH_MS = 250
"""Milliseconds between two screen updates: all new data is applied in one batch."""
FLUSH_MS_MIN = 20

BUFFER_ROWS = 50_000
"""Messages kept per feed."""

CHART_POINTS = 2000
"""Points kept per tour line of the seat chart."""
CHART_POINTS_MIN = 10

MAX_MESSAGE_BYTES = 2**20
"""Largest message a listener accepts (1 MiB); a larger one closes the connection (1009)."""
