"""The lesson's timestamps: ISO-8601 UTC with milliseconds and ``Z``, as JavaScript writes them."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from .errors import ErrorCode, ProtocolError

__all__ = ["format_timestamp", "parse_timestamp"]


def format_timestamp(seconds: float) -> str:
    """Format POSIX seconds like JavaScript's ``Date.prototype.toISOString``."""
    millis = math.floor(seconds * 1000)
    moment = datetime.fromtimestamp(millis // 1000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis % 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO-8601 timestamp into an aware UTC ``datetime``."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ProtocolError(
            ErrorCode.BAD_FIELD, f"timestamp {text!r} is not an ISO-8601 date"
        ) from None
    if moment.tzinfo is None:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"timestamp {text!r} has no time zone")
    return moment.astimezone(UTC)
