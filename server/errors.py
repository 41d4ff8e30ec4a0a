"""The one error for a store or broker the server cannot use: at start (it stops), or
for a while (a booking event waits and is retried)."""

from __future__ import annotations

__all__ = ["Unavailable"]


class Unavailable(RuntimeError):
    """A store or broker named in the settings cannot be used; the message says which."""
