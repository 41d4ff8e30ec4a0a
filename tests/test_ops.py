"""The rules every store applies, and booking events as they arrive — pure."""

from __future__ import annotations

import pytest
from tourpanel.server.events import MAX_EVENT_BYTES, InvalidEvent, parse_event
from tourpanel.server.ops import AddSeats, Rejected, SetSeats, apply
from tourpanel.server.sim import Sale, SeatChange

from tourpanel.protocol import DEFAULT_TOURS

FULL = {tour.id: tour.capacity for tour in DEFAULT_TOURS}


def test_a_sale_never_goes_below_zero() -> None:
    assert apply(Sale("tour_paris", 3), {**FULL, "tour_paris": 2}, DEFAULT_TOURS) == [
        SeatChange("tour_paris", 0)
    ]


def test_the_last_sale_refills_every_tour() -> None:
    empty = {**dict.fromkeys(FULL, 0), "tour_rome": 1}
    changes = apply(Sale("tour_rome", 2), empty, DEFAULT_TOURS)
    assert changes[0] == SeatChange("tour_rome", 0)
    assert changes[1:] == [SeatChange(t.id, t.capacity, reset=True) for t in DEFAULT_TOURS]


def test_absolute_and_relative_counts_apply_within_capacity() -> None:
    assert apply(SetSeats("tour_london", 0), FULL, DEFAULT_TOURS) == [SeatChange("tour_london", 0)]
    assert apply(AddSeats("tour_london", -15), FULL, DEFAULT_TOURS) == [
        SeatChange("tour_london", 0)
    ]


@pytest.mark.parametrize(
    ("op", "reason"),
    [
        (SetSeats("tour_london", 16), "out_of_range"),
        (AddSeats("tour_london", 1), "out_of_range"),
        (AddSeats("tour_london", -16), "out_of_range"),
        (SetSeats("tour_tokyo", 1), "unknown_tour"),
    ],
)
def test_counts_that_cannot_apply_are_rejected_whole(op: SetSeats | AddSeats, reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        apply(op, FULL, DEFAULT_TOURS)
    assert caught.value.reason == reason
    assert "tour_" in str(caught.value)


def test_events_parse_into_operations() -> None:
    absolute = parse_event(b'{"tourId": "tour_paris", "availableSeats": 12, "eventId": "b-1"}')
    assert absolute.op == SetSeats("tour_paris", 12)
    assert absolute.event_id == "b-1"
    relative = parse_event(b'{"tourId": "tour_paris", "seatsDelta": -2}', message_id="m-9")
    assert relative.op == AddSeats("tour_paris", -2)
    assert relative.event_id == "m-9"  # the AMQP message id de-duplicates too
    assert parse_event(b'{"tourId": "tour_paris", "seatsDelta": 1}').event_id is None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "bad_json"),
        (b"\xff\xfe", "bad_json"),
        (b"[1, 2]", "bad_json"),
        (b'{"availableSeats": 3}', "bad_type"),
        (b'{"tourId": 7, "availableSeats": 3}', "bad_type"),
        (b'{"tourId": "tour_paris"}', "bad_type"),
        (b'{"tourId": "tour_paris", "availableSeats": 3, "seatsDelta": 1}', "bad_type"),
        (b'{"tourId": "tour_paris", "availableSeats": "3"}', "bad_type"),
        (b'{"tourId": "tour_paris", "availableSeats": true}', "bad_type"),
        (b'{"tourId": "tour_paris", "seatsDelta": 1.5}', "bad_type"),
        (b'{"tourId": "tour_paris", "availableSeats": -1}', "out_of_range"),
        (b'{"tourId": "tour_paris", "seatsDelta": 1, "eventId": 5}', "bad_type"),
        (b'{"tourId": "tour_paris", "seatsDelta": 1, "eventId": ""}', "bad_type"),
        (b" " * (MAX_EVENT_BYTES + 1), "too_large"),
        (b"1" * 5000, "bad_json"),  # past Python's digits limit
        (b"[" * 5000 + b"]" * 5000, "bad_json"),  # past its nesting limit
    ],
)
def test_malformed_events_say_what_is_wrong(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(body)
    assert caught.value.reason == reason
    assert str(caught.value)
