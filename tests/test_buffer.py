"""The bounded buffer: rollover, cursors, concurrent appends, frame dtypes."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from tourpanel.buffer import FeedBuffer, flatten, to_frame


def row(i: int) -> dict[str, object]:
    return {"type": "RANDOM_NUMBER", "value": i, "timestamp": "2025-01-08T10:50:00.000Z"}


def test_rollover_keeps_the_newest_rows() -> None:
    buffer = FeedBuffer(maxlen=5)
    buffer.extend(row(i) for i in range(8))
    assert len(buffer) == 5
    assert buffer.cursor == 8
    assert [r["value"] for r in buffer.rows()] == [3, 4, 5, 6, 7]


def test_cursor_returns_only_newer_rows() -> None:
    buffer = FeedBuffer(maxlen=100)
    first = buffer.since(0)
    assert (first.rows, first.cursor, first.skipped) == ([], 0, 0)
    buffer.extend(row(i) for i in range(3))
    batch = buffer.since(first.cursor)
    assert [r["value"] for r in batch.rows] == [0, 1, 2]
    buffer.append(row(3))
    again = buffer.since(batch.cursor)
    assert [r["value"] for r in again.rows] == [3]
    assert buffer.since(again.cursor).rows == []


def test_a_slow_reader_learns_how_many_rows_it_missed() -> None:
    buffer = FeedBuffer(maxlen=4)
    buffer.extend(row(i) for i in range(10))
    batch = buffer.since(2)
    assert [r["value"] for r in batch.rows] == [6, 7, 8, 9]
    assert batch.skipped == 4


def test_clear_keeps_cursors_valid() -> None:
    buffer = FeedBuffer(maxlen=10)
    buffer.extend(row(i) for i in range(3))
    buffer.clear()
    assert buffer.since(3).rows == []
    buffer.append(row(99))
    assert [r["value"] for r in buffer.since(3).rows] == [99]


def test_concurrent_appends_lose_nothing_while_reading() -> None:
    buffer = FeedBuffer(maxlen=1_000_000)
    writers = [
        threading.Thread(
            target=lambda k=k: [buffer.append(row(k * 10_000 + i)) for i in range(10_000)]
        )
        for k in range(4)
    ]
    seen: list[object] = []
    cursor = 0
    for writer in writers:
        writer.start()
    while any(w.is_alive() for w in writers) or cursor < buffer.cursor:
        batch = buffer.since(cursor)
        seen.extend(r["value"] for r in batch.rows)
        cursor = batch.cursor
    for writer in writers:
        writer.join()
    assert len(seen) == 40_000
    assert sorted(seen) == list(range(40_000))  # type: ignore[type-var]


def test_frame_types_times_and_numbers() -> None:
    buffer = FeedBuffer()
    buffer.append({**row(5), "received": 1736333400.25})
    buffer.append(
        {
            "type": "WELCOME",
            "message": "hi",
            "timestamp": "2025-01-08T10:50:01.5Z",
            "received": 1736333401.0,
        }
    )
    frame = buffer.frame()
    for column in ("timestamp", "received"):
        assert isinstance(frame[column].dtype, pd.DatetimeTZDtype)
        assert str(frame[column].dt.tz) == "UTC"
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2025-01-08T10:50:00Z")
    assert frame["value"].iloc[0] == 5
    assert frame["value"].isna().iloc[1]
    assert list(buffer.frame(since=1)["type"]) == ["WELCOME"]


def test_frame_of_nothing_is_an_empty_frame() -> None:
    assert to_frame([]).empty


def test_flatten_nests_into_dotted_columns() -> None:
    assert flatten({"a": 1, "b": {"c": 2, "d": {"e": [3]}}}) == {"a": 1, "b.c": 2, "b.d.e": [3]}


def test_maxlen_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FeedBuffer(maxlen=0)
