"""The sequencer's bookkeeping, message by message, including the races of a resume."""

from __future__ import annotations

from typing import Any

from tourpanel import protocol as p
from tourpanel.sequencer import MAX_HELD, Sequencer


def welcome(seq: int, epoch: str = "E") -> dict[str, Any]:
    return {"type": "WELCOME", "message": "hi", "timestamp": "t", "epoch": epoch, "seq": seq}


def state(tour: str, seats: int, seq: int) -> dict[str, Any]:
    return {
        "type": "INITIAL_STATE",
        "tourId": tour,
        "availableSeats": seats,
        "seq": seq,
        "epoch": "E",
    }


def update(seq: int, seats: int = 1, epoch: str = "E") -> dict[str, Any]:
    return {
        "type": "AVAILABILITY_UPDATE",
        "tourId": "t",
        "availableSeats": seats,
        "seq": seq,
        "epoch": epoch,
    }


def run(seq: Sequencer, *messages: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    rows: list[Any] = []
    replies: list[Any] = []
    for message in messages:
        new_rows, new_replies = seq.receive(message, 0.0)
        rows.extend(r.get("seq") if r["type"] != "WELCOME" else "W" for r in new_rows)
        replies.extend(new_replies)
    return rows, replies


def test_first_connection_passes_everything_through() -> None:
    seq = Sequencer()
    rows, replies = run(seq, welcome(5), state("t", 3, 5), update(6), update(7))
    assert rows == ["W", 5, 6, 7]
    assert replies == []
    assert (seq.epoch, seq.seq, seq.gaps) == ("E", 7, 0)


def test_reconnect_resumes_and_merges_a_racing_live_broadcast() -> None:
    seq = Sequencer()
    run(seq, welcome(0), update(1), update(2))
    seq.disconnected()
    # Reconnected at seq 5; broadcast 6 goes out before the server reads our RESUME,
    # then the server replays 3..6 and confirms.
    rows, replies = run(
        seq,
        welcome(5),
        state("t", 9, 5),
        update(6),
        update(3),
        update(4),
        update(5),
        update(6),
        {"type": "RESUMED", "epoch": "E", "seq": 6, "replayed": 4},
        update(7),
    )
    assert replies == [p.Resume(epoch="E", seq=2)]
    assert rows == ["W", 3, 4, 5, 6, 7]
    assert (seq.seq, seq.gaps, seq.resyncs) == (7, 0, 0)


def test_snapshot_marks_a_resync_and_keeps_what_arrived() -> None:
    seq = Sequencer()
    run(seq, welcome(0), update(1))
    seq.disconnected()
    rows, _ = run(
        seq,
        welcome(3, epoch="NEW"),
        state("t", 9, 3),
        {"type": "SNAPSHOT", "epoch": "NEW", "seq": 3, "reason": "epoch_changed"},
        state("t", 9, 3),
        update(4, epoch="NEW"),
    )
    assert rows == ["W", 3, 3, 4]  # the SNAPSHOT row, the fresh state, then live
    assert (seq.epoch, seq.seq, seq.resyncs) == ("NEW", 4, 1)


def test_duplicates_are_counted_and_gaps_counted() -> None:
    seq = Sequencer()
    rows, _ = run(seq, welcome(0), update(1), update(1), update(4), update(5))
    assert rows == ["W", 1, 4, 5]
    assert (seq.gaps, seq.duplicates, seq.resyncs) == (1, 1, 0)


def test_a_position_that_jumps_back_mid_connection_is_a_resync_not_a_drop() -> None:
    seq = Sequencer()
    rows, _ = run(seq, welcome(0), update(1), update(2), update(3), update(1), update(2))
    assert rows == ["W", 1, 2, 3, 1, 2]
    assert (seq.seq, seq.resyncs, seq.duplicates) == (2, 1, 0)


def test_an_epoch_change_mid_connection_is_followed_as_a_resync() -> None:
    seq = Sequencer()
    rows, _ = run(
        seq, welcome(0), update(1), update(2), update(1, epoch="OTHER"), update(2, epoch="OTHER")
    )
    assert rows == ["W", 1, 2, 1, 2]
    assert (seq.epoch, seq.seq, seq.resyncs, seq.duplicates) == ("OTHER", 2, 1, 0)


def test_data_without_a_position_is_never_held_back_by_a_resume() -> None:
    seq = Sequencer()
    run(seq, welcome(0), update(1))
    seq.disconnected()
    rows, _ = run(seq, welcome(1), {"type": "NOTE", "text": "hi"}, update(2))
    assert rows == ["W", None]  # the note passes; the broadcast waits for the replay


def test_subscribers_do_not_count_skipped_tours_as_gaps() -> None:
    seq = Sequencer(subscriptions=("t",))
    rows, replies = run(seq, welcome(0), update(2), update(9))
    assert replies == [p.Subscribe(tour_id="t")]
    assert rows == ["W", 2, 9]
    assert seq.gaps == 0


def test_feeds_without_positions_pass_through_and_never_resume() -> None:
    seq = Sequencer()
    plain = {"type": "WELCOME", "message": "hi", "timestamp": "t"}
    number = {"type": "RANDOM_NUMBER", "value": 3, "timestamp": "t"}
    run(seq, plain, number)
    seq.disconnected()
    rows, replies = run(seq, plain, number, number)
    assert replies == []
    assert rows == ["W", None, None]


def test_control_replies_are_not_data_and_errors_are_kept() -> None:
    seq = Sequencer()
    rows, _ = run(
        seq,
        welcome(0),
        {"type": "PONG", "timestamp": "t"},
        {"type": "SUBSCRIBED", "tourId": "t", "tourIds": ["t"]},
        {"type": "ERROR", "code": "unknown_tour", "message": "no such tour"},
    )
    assert rows == ["W"]
    assert seq.server_error == "server error unknown_tour: no such tour"


def test_a_refused_resume_keeps_the_greeting_and_what_arrived() -> None:
    seq = Sequencer()
    run(seq, welcome(0), update(1))
    seq.disconnected()
    rows, _ = run(
        seq,
        welcome(5),
        state("t", 9, 5),
        update(6),
        {"type": "ERROR", "code": "unknown_type", "message": "RESUME is not supported"},
        update(7),
    )
    assert rows == ["W", 5, 6, 7]
    assert (seq.seq, seq.resyncs) == (7, 1)
    assert seq.server_error is not None


def test_a_malformed_resumed_does_not_poison_the_position() -> None:
    seq = Sequencer()
    run(seq, welcome(0), update(1))
    seq.disconnected()
    rows, _ = run(
        seq, welcome(3), update(2), {"type": "RESUMED", "epoch": "E", "seq": "3"}, update(4)
    )
    assert rows == ["W", 2, 4]
    assert seq.seq == 4
    assert seq.resyncs == 1


def test_a_resume_that_never_ends_stops_holding_data() -> None:
    seq = Sequencer()
    run(seq, welcome(0))
    seq.disconnected()
    rows, _ = run(seq, welcome(0), *(update(i) for i in range(1, MAX_HELD + 2)))
    assert len(rows) == 1 + MAX_HELD + 1
    assert seq.resyncs == 1
    rows, _ = run(seq, update(MAX_HELD + 2))
    assert rows == [MAX_HELD + 2]


def test_a_new_welcome_clears_an_old_server_error() -> None:
    seq = Sequencer()
    run(seq, welcome(0), {"type": "ERROR", "code": "x", "message": "y"})
    assert seq.server_error
    run(seq, {"type": "WELCOME", "message": "hi", "timestamp": "t"})
    assert seq.server_error is None
