"""What may change a feed's state, and the one set of rules that applies it — pure.

The simulation proposes a :class:`~tourpanel.server.sim.Sale` or a :class:`Draw`; a booking
system sends an absolute (:class:`SetSeats`) or relative (:class:`AddSeats`) seat count.
Every store applies them by these rules at the moment of writing, never from a stale
copy, so concurrent writers lose no update and seats stay within ``[0, capacity]``.
The Redis store runs the same rules in a Lua script (``redis_store.py``); a property
test holds the two to each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tourpanel.protocol import Tour

from .sim import Sale, SeatChange, apply_sale

__all__ = [
    "AddSeats",
    "Draw",
    "Op",
    "Record",
    "Rejected",
    "SeatOp",
    "SetSeats",
    "apply",
    "out_of_range",
    "unknown_tour",
]


@dataclass(frozen=True, slots=True)
class Draw:
    """The random feed's step: ``value`` is the number everyone gets."""

    value: int


@dataclass(frozen=True, slots=True)
class SetSeats:
    """A booking system's absolute count: the tour now has ``seats`` left."""

    tour_id: str
    seats: int


@dataclass(frozen=True, slots=True)
class AddSeats:
    """A booking system's relative change: ``delta`` seats booked (< 0) or released (> 0)."""

    tour_id: str
    delta: int


SeatOp = Sale | SetSeats | AddSeats
Op = Draw | SeatOp


class Rejected(ValueError):
    """An operation that cannot apply; ``reason`` is a short code for logs and headers."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Record:
    """A committed change as every instance renders it: its ``seq`` and what changed.

    ``value`` is the number of a draw or the seats of ``topic`` (a tour id); ``epoch``
    names the history it belongs to, when it comes from a shared one.
    """

    seq: int
    topic: str | None
    value: int
    stamp: str
    reset: bool = False
    epoch: str = ""


def apply(op: SeatOp, seats: Mapping[str, int], tours: tuple[Tour, ...]) -> list[SeatChange]:
    """The seat changes ``op`` makes to ``seats``; raises :class:`Rejected` if it cannot.

    A sale sells what is left at most (the simulation's rule); a booking system's
    count that would leave the tour outside ``[0, capacity]`` is refused whole.
    """
    tour = next((t for t in tours if t.id == op.tour_id), None)
    if tour is None:
        raise unknown_tour(op.tour_id, tours)
    if isinstance(op, Sale):
        return apply_sale(op, seats, tours)
    now = seats[tour.id]
    after = op.seats if isinstance(op, SetSeats) else now + op.delta
    if not 0 <= after <= tour.capacity:
        raise out_of_range(tour.id, after=after, now=now, capacity=tour.capacity)
    return [SeatChange(tour.id, after)]


def unknown_tour(tour_id: str, tours: tuple[Tour, ...]) -> Rejected:
    known = ", ".join(tour.id for tour in tours)
    return Rejected("unknown_tour", f"unknown tour {tour_id!r}; known tours: {known}")


def out_of_range(
    tour_id: str, *, after: int | str, now: int | str, capacity: int | str
) -> Rejected:
    return Rejected(
        "out_of_range", f"{tour_id} would have {after} seats; it has {now} of {capacity}"
    )
