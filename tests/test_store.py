"""The in-memory store: seats, seq, and which gaps its bounded history can fill."""

from __future__ import annotations

import pytest
from tourpanel.server.store import Entry, MemoryStore


def filled(count: int, history: int) -> MemoryStore:
    store = MemoryStore(history=history, epoch="e")
    for seq in range(1, count + 1):
        store.append(Entry(seq, None, f"m{seq}"))
    return store


def test_starts_empty_with_a_fresh_epoch() -> None:
    a, b = MemoryStore(), MemoryStore()
    assert a.last_seq == 0
    assert a.since(0) == []
    assert a.epoch != b.epoch


def test_seats_are_copied_out() -> None:
    store = MemoryStore({"t": 3})
    store.seats()["t"] = 99
    store.set_seats("u", 1)
    assert store.seats() == {"t": 3, "u": 1}


def test_since_returns_the_missed_entries_in_order() -> None:
    store = filled(10, history=5)
    assert [e.seq for e in store.since(7) or []] == [8, 9, 10]
    assert [e.seq for e in store.since(5) or []] == [6, 7, 8, 9, 10]
    assert store.since(10) == []


@pytest.mark.parametrize("seq", [4, 0, 11, -1])
def test_since_is_none_when_the_gap_is_not_held(seq: int) -> None:
    assert filled(10, history=5).since(seq) is None


def test_zero_history_still_knows_when_nothing_was_missed() -> None:
    store = filled(3, history=0)
    assert store.since(3) == []
    assert store.since(2) is None


def test_append_insists_on_consecutive_seq() -> None:
    store = filled(2, history=5)
    with pytest.raises(ValueError, match="does not follow"):
        store.append(Entry(4, None, "x"))
