"""Tour cards: one per tour, its seats coloured by the lesson's thresholds."""

from __future__ import annotations

import html
from typing import Any

from ..buffer import Row
from ..protocol import Kind
from ..summaries import availability_level, local_time
from .base import FeedView, html_pane, waiting
from .markup import LiveMarkup

__all__ = ["TOUR_KINDS", "TourCards"]

TOUR_KINDS = frozenset({Kind.INITIAL_STATE, Kind.AVAILABILITY_UPDATE})
"""The messages that tell a tour's seats."""


class TourCards(FeedView):
    """One card per tour: name, seats coloured by the lesson's thresholds, last update."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._tours: dict[str, tuple[str, int, str]] = {}
        self._pane = html_pane(self._render(), name="tour-cards")

    def _apply(self, rows: list[Row], now: float) -> None:
        changed = False
        for row in rows:
            tour_id, seats = row.get("tourId"), row.get("availableSeats")
            if (
                row.get("type") in TOUR_KINDS
                and isinstance(tour_id, str)
                and isinstance(seats, int)
                and not isinstance(seats, bool)
            ):
                name = str(row.get("tourName") or tour_id)
                self._tours[tour_id] = (name, seats, str(row.get("timestamp", "")))
                changed = True
        if changed:
            self._pane.html = self._render()

    def _render(self) -> str:
        if not self._tours:
            return waiting(self.labels.waiting_tours)
        cards = []
        for tour_id, (name, seats, stamp) in self._tours.items():
            cards.append(
                f'<div class="tp-card tp-{availability_level(seats)}" '
                f'data-tour="{html.escape(tour_id)}" data-seats="{seats}">'
                f'<div class="tp-card-header">{html.escape(name)}</div>'
                f'<div class="tp-card-body"><span class="tp-dot"></span>'
                f'<span class="tp-seats">{seats}</span>'
                f'<span class="tp-unit">{html.escape(self.labels.seats)}</span></div>'
                f'<div class="tp-updated">{html.escape(self.labels.updated)} '
                f"{html.escape(local_time(stamp))}</div></div>"
            )
        return f'<div class="tp-cards">{"".join(cards)}</div>'

    def __panel__(self) -> LiveMarkup:
        return self._pane
