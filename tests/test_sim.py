"""The simulations: deterministic under a seed, seats never negative, the reset rule."""

from __future__ import annotations

import random

from tourpanel.server.sim import SeatChange, draw_number, sell_seats

from tourpanel.protocol import DEFAULT_TOURS, Tour


def full() -> dict[str, int]:
    return {tour.id: tour.capacity for tour in DEFAULT_TOURS}


def run_tours(seed: int, steps: int) -> list[list[SeatChange]]:
    rng, seats, out = random.Random(seed), full(), []
    for _ in range(steps):
        changes = sell_seats(rng, seats)
        for change in changes:
            seats[change.tour_id] = change.seats
        out.append(changes)
    return out


def test_the_lesson_catalogue() -> None:
    assert (
        Tour("tour_paris", "Paris City Tour", 20),
        Tour("tour_london", "London Eye Experience", 15),
        Tour("tour_rome", "Rome Colosseum Tour", 18),
    ) == DEFAULT_TOURS


def test_numbers_are_1_to_100_and_reproducible() -> None:
    rng_a, rng_b = random.Random("seed"), random.Random("seed")
    a = [draw_number(rng_a) for _ in range(5000)]
    b = [draw_number(rng_b) for _ in range(5000)]
    assert a == b
    assert min(a) == 1
    assert max(a) == 100


def test_same_seed_same_tour_stream() -> None:
    assert run_tours(3, 500) == run_tours(3, 500)
    assert run_tours(3, 500) != run_tours(4, 500)


def test_each_sale_takes_one_to_three_seats_and_never_goes_negative() -> None:
    rng, seats = random.Random(11), full()
    for _ in range(2000):
        sale, *refill = sell_seats(rng, seats)
        assert not sale.reset
        assert sale.seats >= 0
        sold = seats[sale.tour_id] - sale.seats
        assert sold in {1, 2, 3} or (sale.seats == 0 and sold < 3)
        seats[sale.tour_id] = sale.seats
        for change in refill:
            seats[change.tour_id] = change.seats


def test_reset_refills_every_tour_only_when_all_are_sold_out() -> None:
    resets = 0
    for changes in run_tours(5, 3000):
        sale, refill = changes[0], changes[1:]
        if refill:
            resets += 1
            assert refill == [SeatChange(t.id, t.capacity, reset=True) for t in DEFAULT_TOURS]
            assert sale.seats == 0
    assert resets > 10


def test_no_reset_while_a_tour_has_seats() -> None:
    seats = {"tour_paris": 0, "tour_london": 0, "tour_rome": 5}
    rng = random.Random(1)
    for _ in range(50):  # Rome keeps at least 2 seats whatever one sale takes
        assert len(sell_seats(rng, seats)) == 1
