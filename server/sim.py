"""The lesson's simulations as pure functions of a random generator and state.

No clock, no I/O: the caller owns time and state, so the same seed gives the same
stream of values in a test, a notebook or the server.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from tourpanel.protocol import DEFAULT_TOURS, RANDOM_MAX, RANDOM_MIN, Tour

__all__ = ["SeatChange", "draw_number", "sell_seats"]


@dataclass(frozen=True, slots=True)
class SeatChange:
    """One tour's new seat count; ``reset`` marks the refill after every tour sold out."""

    tour_id: str
    seats: int
    reset: bool = False


def draw_number(rng: random.Random) -> int:
    """A whole number from 1 to 100 inclusive, as in Exercise 1."""
    return rng.randint(RANDOM_MIN, RANDOM_MAX)


def sell_seats(
    rng: random.Random, seats: Mapping[str, int], tours: tuple[Tour, ...] = DEFAULT_TOURS
) -> list[SeatChange]:
    """One tick of Exercise 3: a random tour loses 1–3 seats, never going below 0.

    When that sale leaves every tour at 0, every tour is refilled to its capacity;
    the refill is returned as extra changes (``reset=True``) so that clients learn
    of it instead of showing sold-out tours that are not.
    """
    tour = tours[rng.randrange(len(tours))]
    sold = rng.randint(1, 3)
    left = max(0, seats[tour.id] - sold)
    changes = [SeatChange(tour.id, left)]
    after = {**seats, tour.id: left}
    if all(after[t.id] == 0 for t in tours):
        changes.extend(SeatChange(t.id, t.capacity, reset=True) for t in tours)
    return changes
