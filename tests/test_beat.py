"""The shared grid on which a page's slower redraws fall due."""

from __future__ import annotations

from tourpanel.beat import Beat


def test_redraws_fall_due_on_the_grid_from_the_first_question() -> None:
    beat = Beat()
    assert beat.due(float("-inf"), 100.0, 1.0)  # never drawn: due, and the grid starts here
    assert not beat.due(100.0, 100.75, 1.0)
    assert beat.due(100.75, 101.0, 1.0)
    assert not beat.due(101.0, 101.9, 1.0)
    assert beat.due(100.3, 101.1, 1.0)  # drawn off the grid: due again at its next instant
    assert not beat.due(100.3, 100.9, 1.0)


def test_two_periods_share_the_origin() -> None:
    beat = Beat()
    beat.due(float("-inf"), 50.0, 1.0)
    assert beat.due(51.5, 52.0, 2.0)  # 52 is on the 2 s grid from 50
    assert not beat.due(50.5, 51.5, 2.0)
    assert beat.due(50.0, 50.1, 0)  # no period: every flush
