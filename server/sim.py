"""The lesson's simulations as pure functions of a random generator and state.

No clock, no I/O: the caller owns time and state, so the same seed gives the same
stream of values in a test, a notebook or the server.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from tourpanel.protocol import DEFAULT_TOURS, RANDOM_MAX, RANDOM_MIN, Tour

__all__ = ["Sale", "SeatChange", "apply_sale", "draw_number", "draw_sale", "sell_seats"]


@dataclass(frozen=True, slots=True)
class SeatChange:
    """One tour's new seat count; ``reset`` marks the refill after every tour sold out."""

    tour_id: str
    seats: int
    reset: bool = False


def draw_number(rng: random.Random) -> int:
    """A whole number from 1 to 100 inclusive, as in Exercise 1."""
    return rng.randint(RANDOM_MIN, RANDOM_MAX)


@dataclass(frozen=True, slots=True)
class Sale:
    """The simulation's step: ``sold`` seats of one tour go (never below 0)."""

    tour_id: str
    sold: int


def draw_sale(rng: random.Random, tours: tuple[Tour, ...] = DEFAULT_TOURS) -> Sale:
    """One tick of Exercise 3: a random tour and 1–3 seats sold."""
    tour = tours[rng.randrange(len(tours))]
    return Sale(tour.id, rng.randint(1, 3))


def apply_sale(
    sale: Sale, seats: Mapping[str, int], tours: tuple[Tour, ...] = DEFAULT_TOURS
) -> list[SeatChange]:
    """What ``sale`` does to ``seats``: the tour loses them, never going below 0.

    When that sale leaves every tour at 0, every tour is refilled to its capacity;
    the refill is returned as extra changes (``reset=True``) so that clients learn
    of it instead of showing sold-out tours that are not.
    """
    left = max(0, seats[sale.tour_id] - sale.sold)
    changes = [SeatChange(sale.tour_id, left)]
    after = {**seats, sale.tour_id: left}
    if all(after[t.id] == 0 for t in tours):
        changes.extend(SeatChange(t.id, t.capacity, reset=True) for t in tours)
    return changes


def sell_seats(
    rng: random.Random, seats: Mapping[str, int], tours: tuple[Tour, ...] = DEFAULT_TOURS
) -> list[SeatChange]:
    """A drawn sale applied to ``seats`` (:func:`draw_sale`, then :func:`apply_sale`)."""
    return apply_sale(draw_sale(rng, tours), seats, tours)
