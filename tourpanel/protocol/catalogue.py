"""What the lesson's feeds are: their names, cadence, number range and tours.

Both sides read these: the server to simulate, the dashboard to label and bin.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_TOURS",
    "FEEDS",
    "INTERVALS",
    "RANDOM_MAX",
    "RANDOM_MIN",
    "Tour",
]

FEEDS = ("random", "tours")
"""The built-in feeds, served at ``/random`` and ``/tours``."""

INTERVALS = {"random": 3.0, "tours": 5.0}
"""The lesson's seconds between two broadcasts of each feed."""

RANDOM_MIN = 1
RANDOM_MAX = 100


@dataclass(frozen=True, slots=True)
class Tour:
    """A tour of the catalogue; ``capacity`` is the seat count it starts and resets at."""

    id: str
    name: str
    capacity: int


DEFAULT_TOURS: tuple[Tour, ...] = (
    Tour("tour_paris", "Paris City Tour", 20),
    Tour("tour_london", "London Eye Experience", 15),
    Tour("tour_rome", "Rome Colosseum Tour", 18),
)
