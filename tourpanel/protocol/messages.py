"""The messages of the wire, as frozen dataclasses; ``KIND`` is each one's ``type``."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

__all__ = [
    "CLIENT_KINDS",
    "AvailabilityUpdate",
    "ClientMessage",
    "Error",
    "InitialState",
    "Kind",
    "Message",
    "Ping",
    "Pong",
    "RandomNumber",
    "Resume",
    "Resumed",
    "Snapshot",
    "Subscribe",
    "Subscribed",
    "Unsubscribe",
    "Unsubscribed",
    "Welcome",
    "message_class",
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
CLIENT_KINDS = frozenset({Kind.SUBSCRIBE, Kind.UNSUBSCRIBE, Kind.PING, Kind.RESUME})
"""The types a client may send."""


def message_class(kind: Kind) -> type[Message]:
    """The dataclass of messages of type ``kind``."""
    return _BY_KIND[kind]
