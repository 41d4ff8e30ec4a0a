"""Booking events as another system publishes them, checked before they touch a store — pure.

An event is a JSON object: ``{"tourId": "tour_paris", "availableSeats": 12}`` (an
absolute count) or ``{"tourId": "tour_paris", "seatsDelta": -2}`` (a change), with an
optional ``"eventId"`` that makes it apply once however often it is delivered.
Whether the tour exists and the result stays within its capacity is decided when
it is applied (``ops.apply``), against the seats as they are then.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .ops import AddSeats, Rejected, SeatOp, SetSeats

__all__ = ["MAX_EVENT_BYTES", "BookingEvent", "InvalidEvent", "parse_event"]

MAX_EVENT_BYTES = 64 * 1024
MAX_EVENT_ID = 200
EXAMPLE = (
    '{"tourId": "tour_paris", "seatsDelta": -2} or {"tourId": "tour_paris", "availableSeats": 12}'
)


class InvalidEvent(Rejected):
    """An event that can never apply, whatever the seats; ``reason`` goes in its dead letter."""


@dataclass(frozen=True, slots=True)
class BookingEvent:
    op: SeatOp
    event_id: str | None = None


def _whole(payload: dict[str, Any], name: str) -> int:
    value = payload[name]
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidEvent("bad_type", f"{name} must be a whole number, got {value!r}")
    return value


def parse_event(body: bytes, *, message_id: str | None = None) -> BookingEvent:
    """The operation ``body`` asks for; raises :class:`InvalidEvent` saying what is wrong.

    ``message_id`` (the AMQP property) de-duplicates an event that has no ``eventId``.
    """
    if len(body) > MAX_EVENT_BYTES:
        raise InvalidEvent("too_large", f"an event is at most {MAX_EVENT_BYTES} bytes")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # ValueError: bad JSON, bytes or numbers
        raise InvalidEvent("bad_json", f"not readable JSON ({exc}); send {EXAMPLE}") from None
    if not isinstance(payload, dict):
        raise InvalidEvent("bad_json", f"an event is a JSON object: {EXAMPLE}")
    tour_id = payload.get("tourId")
    if not isinstance(tour_id, str) or not tour_id:
        raise InvalidEvent("bad_type", f"tourId must be a tour id (a string): {EXAMPLE}")
    fields = [name for name in ("availableSeats", "seatsDelta") if name in payload]
    if len(fields) != 1:
        raise InvalidEvent(
            "bad_type", f"give exactly one of availableSeats and seatsDelta: {EXAMPLE}"
        )
    op: SeatOp
    if fields[0] == "availableSeats":
        seats = _whole(payload, "availableSeats")
        if seats < 0:
            raise InvalidEvent("out_of_range", f"availableSeats must be 0 or more, got {seats}")
        op = SetSeats(tour_id, seats)
    else:
        op = AddSeats(tour_id, _whole(payload, "seatsDelta"))
    name = "eventId" if "eventId" in payload else "the AMQP message_id"
    event_id = payload.get("eventId", message_id)
    if event_id is not None and (
        not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_EVENT_ID
    ):
        raise InvalidEvent("bad_type", f"{name} must be a string of 1 to {MAX_EVENT_ID} characters")
    return BookingEvent(op, event_id)
