"""Every problem with an incoming message is a :class:`ProtocolError`."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ErrorCode", "ProtocolError"]


class ErrorCode(StrEnum):
    """Machine-readable reasons carried by ``ERROR`` replies."""

    BAD_JSON = "bad_json"
    BAD_MESSAGE = "bad_message"
    BAD_FIELD = "bad_field"
    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_TOUR = "unknown_tour"
    UNSUPPORTED = "unsupported"
    FORBIDDEN = "forbidden"  # the client's token does not allow it
    RATE_LIMITED = "rate_limited"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    INTERNAL = "internal_error"


class ProtocolError(ValueError):
    """An incoming message that cannot be accepted; ``code`` says why."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
