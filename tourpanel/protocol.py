"""The wire contract shared by the feeds and the dashboard — pure, no I/O.

The lesson's messages keep their exact shape (``type`` first, the lesson's field
names and order, compact JSON, UTF-8 text, ISO-8601 UTC timestamps with
milliseconds and ``Z``). Extensions only *add* fields (``seq``, ``epoch``, …)
and message types, which the lesson's clients ignore.

Every problem with an incoming message raises :class:`ProtocolError`, whose
``code`` is the one the server puts in its ``ERROR`` reply.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

__all__ = [
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
    "Unsubscribe",
    "Unsubscribed",
    "Welcome",
    "decode",
    "decode_client",
    "encode",
    "format_timestamp",
    "parse_timestamp",
]


class Kind(StrEnum):
    """Every ``type`` the protocol knows."""

    # The lesson's messages (server → client).
    WELCOME = "WELCOME"
    RANDOM_NUMBER = "RANDOM_NUMBER"
    INITIAL_STATE = "INITIAL_STATE"
    AVAILABILITY_UPDATE = "AVAILABILITY_UPDATE"
    # Extensions, client → server.
    SUBSCRIBE = "SUBSCRIBE"
    UNSUBSCRIBE = "UNSUBSCRIBE"
    PING = "PING"
    RESUME = "RESUME"
    # Extensions, server → client.
    PONG = "PONG"
    ERROR = "ERROR"
    SUBSCRIBED = "SUBSCRIBED"
    UNSUBSCRIBED = "UNSUBSCRIBED"
    RESUMED = "RESUMED"
    SNAPSHOT = "SNAPSHOT"


class ErrorCode(StrEnum):
    """Machine-readable reasons carried by ``ERROR`` replies."""

    BAD_JSON = "bad_json"
    BAD_MESSAGE = "bad_message"
    BAD_FIELD = "bad_field"
    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_TOUR = "unknown_tour"
    UNSUPPORTED = "unsupported"
    INTERNAL = "internal_error"


class ProtocolError(ValueError):
    """An incoming message that cannot be accepted; ``code`` says why."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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


# -- Messages --------------------------------------------------------------------------
# Each dataclass maps its Python field names to wire names through ``metadata["wire"]``
# (camelCase where the lesson uses it). Optional fields left at ``None`` are omitted, so
# the lesson's shapes come out exactly as the Node server sends them.


def _wire(name: str, default: Any = None) -> Any:
    return field(default=default, metadata={"wire": name})


@dataclass(frozen=True, slots=True)
class Message:
    """Base of every message; ``KIND`` is its wire ``type``."""

    KIND: ClassVar[Kind]


@dataclass(frozen=True, slots=True)
class Welcome(Message):
    KIND: ClassVar[Kind] = Kind.WELCOME
    message: str = _wire("message", "")
    timestamp: str = _wire("timestamp", "")
    feed: str | None = _wire("feed")
    epoch: str | None = _wire("epoch")
    seq: int | None = _wire("seq")


@dataclass(frozen=True, slots=True)
class RandomNumber(Message):
    KIND: ClassVar[Kind] = Kind.RANDOM_NUMBER
    value: int = _wire("value", 0)
    timestamp: str = _wire("timestamp", "")
    seq: int | None = _wire("seq")
    epoch: str | None = _wire("epoch")


@dataclass(frozen=True, slots=True)
class InitialState(Message):
    """A tour's state sent on connect (and in a ``SNAPSHOT``)."""

    KIND: ClassVar[Kind] = Kind.INITIAL_STATE
    tour_id: str = _wire("tourId", "")
    tour_name: str = _wire("tourName", "")
    available_seats: int = _wire("availableSeats", 0)
    timestamp: str = _wire("timestamp", "")
    seq: int | None = _wire("seq")
    epoch: str | None = _wire("epoch")


@dataclass(frozen=True, slots=True)
class AvailabilityUpdate(Message):
    """A broadcast change of one tour's seats; ``reset`` marks the refill after a sell-out."""

    KIND: ClassVar[Kind] = Kind.AVAILABILITY_UPDATE
    tour_id: str = _wire("tourId", "")
    tour_name: str = _wire("tourName", "")
    available_seats: int = _wire("availableSeats", 0)
    timestamp: str = _wire("timestamp", "")
    seq: int | None = _wire("seq")
    epoch: str | None = _wire("epoch")
    reset: bool | None = _wire("reset")


@dataclass(frozen=True, slots=True)
class Subscribe(Message):
    KIND: ClassVar[Kind] = Kind.SUBSCRIBE
    tour_id: str = _wire("tourId", "")


@dataclass(frozen=True, slots=True)
class Unsubscribe(Message):
    KIND: ClassVar[Kind] = Kind.UNSUBSCRIBE
    tour_id: str = _wire("tourId", "")


@dataclass(frozen=True, slots=True)
class Ping(Message):
    KIND: ClassVar[Kind] = Kind.PING


@dataclass(frozen=True, slots=True)
class Resume(Message):
    """Ask for the broadcasts after ``seq`` of history ``epoch``."""

    KIND: ClassVar[Kind] = Kind.RESUME
    epoch: str = _wire("epoch", "")
    seq: int = _wire("seq", 0)


@dataclass(frozen=True, slots=True)
class Pong(Message):
    KIND: ClassVar[Kind] = Kind.PONG
    timestamp: str | None = _wire("timestamp")


@dataclass(frozen=True, slots=True)
class Error(Message):
    KIND: ClassVar[Kind] = Kind.ERROR
    code: str = _wire("code", "")
    message: str = _wire("message", "")
    timestamp: str | None = _wire("timestamp")


@dataclass(frozen=True, slots=True)
class Subscribed(Message):
    """Acknowledges ``SUBSCRIBE``; ``tour_ids`` is the client's whole subscription."""

    KIND: ClassVar[Kind] = Kind.SUBSCRIBED
    tour_id: str = _wire("tourId", "")
    tour_ids: tuple[str, ...] = _wire("tourIds", ())


@dataclass(frozen=True, slots=True)
class Unsubscribed(Message):
    KIND: ClassVar[Kind] = Kind.UNSUBSCRIBED
    tour_id: str = _wire("tourId", "")
    tour_ids: tuple[str, ...] = _wire("tourIds", ())


@dataclass(frozen=True, slots=True)
class Resumed(Message):
    """Ends a successful replay: ``replayed`` messages followed, up to ``seq``."""

    KIND: ClassVar[Kind] = Kind.RESUMED
    epoch: str = _wire("epoch", "")
    seq: int = _wire("seq", 0)
    replayed: int = _wire("replayed", 0)


@dataclass(frozen=True, slots=True)
class Snapshot(Message):
    """The gap could not be replayed: fresh state follows, as of ``seq``."""

    KIND: ClassVar[Kind] = Kind.SNAPSHOT
    epoch: str = _wire("epoch", "")
    seq: int = _wire("seq", 0)
    reason: str = _wire("reason", "")
    timestamp: str | None = _wire("timestamp")


ClientMessage = Subscribe | Unsubscribe | Ping | Resume

_BY_KIND: dict[Kind, type[Message]] = {
    cls.KIND: cls
    for cls in (
        Welcome,
        RandomNumber,
        InitialState,
        AvailabilityUpdate,
        Subscribe,
        Unsubscribe,
        Ping,
        Resume,
        Pong,
        Error,
        Subscribed,
        Unsubscribed,
        Resumed,
        Snapshot,
    )
}
_CLIENT_KINDS = frozenset({Kind.SUBSCRIBE, Kind.UNSUBSCRIBE, Kind.PING, Kind.RESUME})


def encode(message: Message) -> str:
    """Serialise to the compact JSON that ``JSON.stringify`` would produce."""
    payload: dict[str, Any] = {"type": message.KIND.value}
    for f in fields(message):
        value = getattr(message, f.name)
        if value is None:
            continue
        payload[f.metadata["wire"]] = list(value) if isinstance(value, tuple) else value
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _load_object(data: str | bytes) -> dict[str, Any]:
    try:
        payload = json.loads(data)
    except RecursionError:
        raise ProtocolError(ErrorCode.BAD_JSON, "message is nested too deeply") from None
    except ValueError as exc:  # invalid JSON or UTF-8, or an integer too long to read
        raise ProtocolError(
            ErrorCode.BAD_JSON, f"message is not valid JSON ({exc}); send one JSON object"
        ) from None
    if not isinstance(payload, dict):
        raise ProtocolError(
            ErrorCode.BAD_MESSAGE,
            f"message must be a JSON object with a 'type', got {type(payload).__name__}",
        )
    return payload


def _kind_of(payload: dict[str, Any]) -> Kind:
    name = payload.get("type")
    if not isinstance(name, str):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "message has no string 'type' field")
    try:
        return Kind(name)
    except ValueError:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {name!r}") from None


# Field annotations are strings here (``from __future__ import annotations``).
_EXPECTED: dict[str, type] = {
    "str": str,
    "int": int,
    "str | None": str,
    "int | None": int,
    "bool | None": bool,
    "tuple[str, ...]": list,
}


def _build(cls: type[Message], payload: dict[str, Any]) -> Message:
    """Build ``cls`` from a wire payload, checking types; unknown fields are ignored."""
    values: dict[str, Any] = {}
    for f in fields(cls):
        wire_name = f.metadata["wire"]
        optional = "None" in str(f.type)
        if wire_name not in payload:
            if optional:
                continue
            raise ProtocolError(
                ErrorCode.BAD_FIELD, f"{cls.KIND.value} needs a '{wire_name}' field"
            )
        value = payload[wire_name]
        expected = _EXPECTED[str(f.type)]
        wrong = not isinstance(value, expected) or (expected is int and isinstance(value, bool))
        if wrong:
            raise ProtocolError(
                ErrorCode.BAD_FIELD,
                f"{cls.KIND.value}.{wire_name} must be {_type_name(expected)}, "
                f"got {json.dumps(value, ensure_ascii=False)}",
            )
        if expected is list:
            if not all(isinstance(item, str) for item in value):
                raise ProtocolError(
                    ErrorCode.BAD_FIELD, f"{cls.KIND.value}.{wire_name} must list strings"
                )
            value = tuple(value)
        values[f.name] = value
    return cls(**values)


def _type_name(expected: type) -> str:
    names = {str: "a string", int: "an integer", bool: "true or false", list: "a list"}
    return names[expected]


def decode(data: str | bytes) -> Message:
    """Decode any known message; fields it does not know are ignored.

    Raises :class:`ProtocolError` for invalid JSON, non-objects, unknown types and
    missing or mistyped fields.
    """
    payload = _load_object(data)
    return _build(_BY_KIND[_kind_of(payload)], payload)


def decode_client(data: str | bytes) -> ClientMessage:
    """Decode a client → server message, validating it fully."""
    payload = _load_object(data)
    kind = _kind_of(payload)
    if kind not in _CLIENT_KINDS:
        allowed = ", ".join(sorted(k.value for k in _CLIENT_KINDS))
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE,
            f"{kind.value} is sent by the server, not accepted from clients; "
            f"clients may send {allowed}",
        )
    message = _build(_BY_KIND[kind], payload)
    if isinstance(message, Resume) and message.seq < 0:
        raise ProtocolError(ErrorCode.BAD_FIELD, "RESUME.seq must be 0 or more")
    return message  # type: ignore[return-value]
