"""The listener against real servers on loopback: receive, reconnect, resume, resync."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.sync.server import ServerConnection, serve

from tourpanel.listener import FeedListener, shared_listener, stop_shared_listeners
from tourpanel.reconnect import Reconnect, backoff
from tourpanel.stats import Status

from .conftest import TIMEOUT, ServerThread, free_port, wait_until

FAST = Reconnect(base=0.05, cap=0.2, healthy_after=60, open_timeout=5)


@pytest.fixture
def listen() -> Iterator[Callable[..., FeedListener]]:
    started: list[FeedListener] = []

    def make(url: str, **kwargs: Any) -> FeedListener:
        listener = FeedListener(url, reconnect=kwargs.pop("reconnect", FAST), **kwargs).start()
        started.append(listener)
        return listener

    yield make
    for listener in started:
        listener.stop()


def types(listener: FeedListener) -> list[str]:
    return [row["type"] for row in listener.buffer.rows()]


def update_seqs(listener: FeedListener) -> list[int]:
    return [r["seq"] for r in listener.buffer.rows() if r["type"] == "AVAILABILITY_UPDATE"]


def drop_connections(server: ServerThread, feed: str) -> None:
    """Cut every client of ``feed`` off abruptly, as a network failure would."""

    def abort() -> None:
        for conn in list(server.server.feeds[feed].registry.recipients(None)):
            conn.transport.abort()

    server.call(abort)


def test_backoff_grows_to_the_cap_with_full_jitter() -> None:
    delays = backoff(1.0, 30.0, random.Random(1))
    first = [next(delays) for _ in range(12)]
    for attempt, delay in enumerate(first):
        assert 0 <= delay <= min(30.0, 2**attempt)
    again = backoff(1.0, 30.0, random.Random(1))
    assert first == [next(again) for _ in range(12)], "same generator, same delays"
    assert max(first[6:]) > 2, "later delays reach well beyond the base"


def test_receives_the_greeting_and_broadcasts(
    server: ServerThread, listen: Callable[..., FeedListener]
) -> None:
    listener = listen(server.url("tours"))
    wait_until(lambda: len(listener.buffer) == 4)
    assert types(listener) == ["WELCOME"] + ["INITIAL_STATE"] * 3
    server.tick("tours", times=3)
    wait_until(lambda: len(update_seqs(listener)) == 3)
    stats = listener.stats()
    assert stats.status is Status.CONNECTED
    assert stats.messages == 7
    assert stats.seq == 3
    assert stats.last_timestamp is not None
    assert all("received" in row for row in listener.buffer.rows())


def test_resumes_the_gap_with_no_duplicates_and_no_holes(
    server: ServerThread, listen: Callable[..., FeedListener]
) -> None:
    listener = listen(server.url("tours"))
    wait_until(lambda: len(listener.buffer) == 4)
    server.tick("tours", times=3)
    wait_until(lambda: len(update_seqs(listener)) == 3)
    for _ in range(3):  # several outages, broadcasts racing each reconnection
        drop_connections(server, "tours")
        server.tick("tours", times=4)
        last = server.health()["feeds"]["tours"]["seq"]
        wait_until(lambda last=last: listener.stats().seq == last)
    server.tick("tours", times=2)
    last = server.health()["feeds"]["tours"]["seq"]
    wait_until(lambda: listener.stats().seq == last)
    assert update_seqs(listener) == list(range(1, last + 1))
    stats = listener.stats()
    assert stats.gaps == 0
    assert stats.resyncs == 0
    assert stats.retries >= 3
    seats_from_updates: dict[str, int] = {}
    for row in listener.buffer.rows():
        if row["type"] in {"INITIAL_STATE", "AVAILABILITY_UPDATE"}:
            seats_from_updates[row["tourId"]] = row["availableSeats"]
    server_seats = server.call(lambda: server.server.feeds["tours"].store.seats())
    assert seats_from_updates == server_seats


def test_reconnects_after_a_restart_and_resyncs_from_a_snapshot(
    make_server: Callable[..., ServerThread], listen: Callable[..., FeedListener]
) -> None:
    first = make_server()
    port = first.server.port
    listener = listen(first.url("tours"))
    wait_until(lambda: len(listener.buffer) == 4)
    first.tick("tours", times=2)
    wait_until(lambda: listener.stats().seq == 2)
    first.stop()
    down = wait_until(lambda: (s := listener.stats()).status is Status.RECONNECTING and s)
    assert down.next_retry_at is not None
    assert down.last_error
    second = make_server(port=port)  # a new history: the epoch changes
    wait_until(lambda: listener.stats().resyncs == 1)
    assert listener.stats().status is Status.CONNECTED
    assert listener.stats().epoch == second.call(lambda: second.server.feeds["tours"].store.epoch)
    tail = types(listener)[-5:]
    assert tail == ["WELCOME", "SNAPSHOT"] + ["INITIAL_STATE"] * 3
    second.tick("tours")
    wait_until(lambda: types(listener)[-1] == "AVAILABILITY_UPDATE")


def test_subscribed_listener_gets_only_its_tour(
    server: ServerThread, listen: Callable[..., FeedListener]
) -> None:
    listener = listen(server.url("tours"), subscriptions=("tour_rome",))
    wait_until(lambda: server.health()["feeds"]["tours"]["subscribers"] == {"tour_rome": 1})
    server.tick("tours", times=30)
    wait_until(lambda: listener.stats().messages >= 5)
    server.tick("tours")  # a last broadcast so the waits below settle on something
    rome = server.call(
        lambda: [
            e for e in server.server.feeds["tours"].store.since(0) or [] if e.topic == "tour_rome"
        ]
    )
    wait_until(lambda: len(update_seqs(listener)) == len(rome))
    assert {r["tourId"] for r in listener.buffer.rows() if r["type"] == "AVAILABILITY_UPDATE"} == {
        "tour_rome"
    }
    assert listener.stats().gaps == 0


@pytest.fixture
def json_feed() -> Iterator[Callable[[list[Any]], str]]:
    """A plain websockets server that sends the given JSON values to each client."""
    servers: list[Any] = []

    def start(messages: list[Any]) -> str:
        def handler(ws: ServerConnection) -> None:
            for message in messages:
                ws.send(message if isinstance(message, str) else json.dumps(message))
            for _ in ws:  # hold the connection open until the client leaves
                pass

        srv = serve(handler, "127.0.0.1", 0)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"ws://127.0.0.1:{srv.socket.getsockname()[1]}"

    yield start
    for srv in servers:
        srv.shutdown()


def test_any_json_feed_is_flattened_and_odd_messages_skipped(
    json_feed: Callable[[list[Any]], str], listen: Callable[..., FeedListener]
) -> None:
    url = json_feed(
        [
            {"type": "TRADE", "price": {"bid": 1.5, "ask": 1.6}, "symbol": "EUR"},
            "not json",
            [1, 2, 3],
            "[" * 100_000 + "]" * 100_000,  # deeper than Python's parser goes
            {"type": "RESUMED", "seq": "3"},  # a control reply out of place
            {"no_type": True, "seq": "x"},
        ]
    )
    listener = listen(url)
    wait_until(lambda: len(listener.buffer) == 2)
    assert listener.stats().discarded == 3
    assert listener.buffer.rows()[0] | {"received": 0} == {
        "type": "TRADE",
        "price.bid": 1.5,
        "price.ask": 1.6,
        "symbol": "EUR",
        "received": 0,
    }
    assert listener.buffer.rows()[1]["no_type"] is True
    assert listener.stats().status is Status.CONNECTED


def test_a_dead_url_reports_why_and_keeps_trying(listen: Callable[..., FeedListener]) -> None:
    port = free_port()  # nothing listens there
    listener = listen(f"ws://127.0.0.1:{port}")
    stats = wait_until(lambda: (s := listener.stats()).retries >= 2 and s)
    assert stats.status is Status.RECONNECTING
    assert stats.last_error is not None
    assert "refused" in stats.last_error


@pytest.mark.parametrize("url", ["http://example.org", "ws://", "ws://localhost:port/x"])
def test_an_invalid_url_is_refused_at_once(url: str) -> None:
    with pytest.raises(ValueError, match="invalid feed URL"):
        FeedListener(url)


def test_one_shared_listener_per_feed() -> None:
    try:
        a = shared_listener("ws://127.0.0.1:9/none", reconnect=FAST)
        b = shared_listener("ws://127.0.0.1:9/none")
        c = shared_listener("ws://127.0.0.1:9/none", subscriptions=("tour_rome",))
        assert a is b
        assert c is not a
    finally:
        stop_shared_listeners()
    assert not [t for t in threading.enumerate() if t.name == "listener ws://127.0.0.1:9/none"]
    assert a.stats().status is Status.DISCONNECTED


def test_waiting_for_rows_times_out_with_the_reason(listen: Callable[..., FeedListener]) -> None:
    port = free_port()  # nothing listens there
    listener = listen(f"ws://127.0.0.1:{port}")
    with pytest.raises(TimeoutError, match=r"0 of 1 rows after 0 s"):
        listener.wait_for_rows(1, timeout=0.2)


def test_a_message_over_the_size_limit_is_counted_and_the_listener_reconnects(
    json_feed: Callable[[list[Any]], str], listen: Callable[..., FeedListener]
) -> None:
    url = json_feed([{"n": 1}, {"big": "x" * 2000}, {"n": 2}])
    listener = listen(url, max_size=1024)
    # Each connection keeps the first message and is closed (1009) at the second.
    stats = wait_until(lambda: (s := listener.stats()).discarded >= 2 and s)
    assert stats.last_error is not None
    assert "over 1024 bytes" in stats.last_error
    assert {row.get("n") for row in listener.buffer.rows()} == {1}
    assert all("big" not in row for row in listener.buffer.rows())


def test_a_feed_that_falls_silent_is_shown_stale_not_connected(
    listen: Callable[..., FeedListener],
) -> None:
    def handler(ws: ServerConnection) -> None:
        for n in range(3):  # a rhythm of 0.1 s, then silence
            ws.send(json.dumps({"n": n}))
            time.sleep(0.1)
        for _ in ws:
            pass

    with serve(handler, "127.0.0.1", 0) as srv:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        listener = listen(f"ws://127.0.0.1:{srv.socket.getsockname()[1]}")
        wait_until(lambda: listener.stats().messages == 3)
        stale = wait_until(lambda: (s := listener.stats()).status is Status.STALE and s)
        assert time.time() - (stale.last_received or 0) >= 0.3  # three of its intervals
        listener.stop()
        srv.shutdown()


def test_waiting_for_rows_wakes_when_they_arrive() -> None:
    listener = FeedListener("ws://127.0.0.1:9/unused")  # never started: rows come from here
    feeder = threading.Timer(
        0.05, lambda: listener.buffer.extend({"type": "X", "n": n} for n in range(3))
    )
    feeder.start()
    assert listener.wait_for_rows(2, kind="X", timeout=TIMEOUT) == 3
    feeder.join()


def test_stats_are_one_moment_while_messages_pour_in(
    make_server: Callable[..., ServerThread], listen: Callable[..., FeedListener]
) -> None:
    server = make_server(random_interval=0.001)
    listener = listen(server.url("random"))
    wait_until(lambda: listener.stats().messages > 50)
    welcome_seq = listener.buffer.rows()[0]["seq"]
    for _ in range(200):
        stats = listener.stats()
        # The WELCOME, then one message per broadcast since: both counters of one instant.
        assert stats.seq is not None
        assert stats.messages == 1 + stats.seq - welcome_seq
