"""The wire contract shared by the feeds and the dashboard — pure, no I/O.

The lesson's messages keep their exact shape (``type`` first, the lesson's field
names and order, compact JSON, UTF-8 text, ISO-8601 UTC timestamps with
milliseconds and ``Z``). Extensions only *add* fields (``seq``, ``epoch``, …)
and message types, which the lesson's clients ignore.

Every problem with an incoming message raises :class:`ProtocolError`, whose
``code`` is the one the server puts in its ``ERROR`` reply. Message types are
spelled here (:class:`Kind`) and nowhere else in the project.

This package imports nothing of the project and no I/O library (an import-linter
contract in ``pyproject.toml`` keeps it so).
"""

from __future__ import annotations

from .catalogue import DEFAULT_TOURS, FEEDS, INTERVALS, RANDOM_MAX, RANDOM_MIN, Tour
from .codec import decode, decode_client, encode, kind_of, known_kind, load, typed
from .errors import ErrorCode, ProtocolError
from .messages import (
    CLIENT_KINDS,
    AvailabilityUpdate,
    ClientMessage,
    Error,
    InitialState,
    Kind,
    Message,
    Ping,
    Pong,
    RandomNumber,
    Resume,
    Resumed,
    Snapshot,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
    Welcome,
)
from .timestamps import format_timestamp, parse_timestamp

__all__ = [
    "CLIENT_KINDS",
    "DEFAULT_TOURS",
    "FEEDS",
    "INTERVALS",
    "RANDOM_MAX",
    "RANDOM_MIN",
    "AvailabilityUpdate",
    "ClientMessage",
    "Error",
    "ErrorCode",
    "InitialState",
    "Kind",
    "Message",
    "Ping",
    "Pong",
    "ProtocolError",
    "RandomNumber",
    "Resume",
    "Resumed",
    "Snapshot",
    "Subscribe",
    "Subscribed",
    "Tour",
    "Unsubscribe",
    "Unsubscribed",
    "Welcome",
    "decode",
    "decode_client",
    "encode",
    "format_timestamp",
    "kind_of",
    "known_kind",
    "load",
    "parse_timestamp",
    "typed",
]
