"""The one error a server raises when it cannot start on what it was told to use."""

from __future__ import annotations

__all__ = ["Unavailable"]


class Unavailable(RuntimeError):
    """A store or broker named in the settings cannot be used; the message says what to do."""
