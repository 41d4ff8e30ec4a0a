"""The embedded SQLite store: state and history outlive the process, clean exit or ``kill -9``."""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from tourpanel.server.feeds import TourFeed
from tourpanel.server.ops import SetSeats
from tourpanel.server.sqlite_store import SqliteStore, StoreLocked
from tourpanel.server.store import Entry

from .conftest import TIMEOUT, free_port, greet, open_client, recv_json, send_json
from .services import report_counts
from .test_process import LISTENING, ServerProcess


def feed_on(path: Path, *, history: int = 1000) -> TourFeed[int]:
    return TourFeed(store=SqliteStore(path, "tours", history=history), rng=random.Random(7))


def test_seats_epoch_and_history_survive_reopening(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    feed = feed_on(db, history=5)
    for _ in range(8):
        feed.tick()
    feed.commit([SetSeats("tour_rome", 4)], event_id="booking-1")
    before = (feed.store.epoch, feed.store.last_seq, feed.store.seats(), feed.store.since(4))
    feed.store.close()  # type: ignore[attr-defined]

    again = feed_on(db, history=5)
    store = again.store
    assert (store.epoch, store.last_seq, store.seats(), store.since(4)) == before
    assert store.seats()["tour_rome"] == 4
    assert store.since(3) is None  # older than the five kept
    assert store.has_event("booking-1")
    assert not store.has_event("booking-2")
    store.close()  # type: ignore[attr-defined]


def test_a_new_file_is_a_new_epoch(tmp_path: Path) -> None:
    a, b = SqliteStore(tmp_path / "a.db", "tours"), SqliteStore(tmp_path / "b.db", "tours")
    assert a.epoch != b.epoch
    a.close()
    b.close()


def test_one_process_owns_a_file(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = SqliteStore(db, "tours")
    other = subprocess.run(
        [sys.executable, "-c", f"from tourpanel.server.sqlite_store import SqliteStore\n"
         f"SqliteStore({str(db)!r}, 'tours')"],
        capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert other.returncode != 0
    assert StoreLocked.__name__ in other.stderr
    assert "--store redis://" in other.stderr
    store.close()


def test_a_batch_that_cannot_apply_leaves_nothing_behind(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = SqliteStore(db, "tours")
    TourFeed(store=store, rng=random.Random(1)).tick()
    before = (store.last_seq, store.seats())
    good, bad = Entry(before[0] + 1, "tour_paris", "{}"), Entry(before[0] + 3, "tour_paris", "{}")
    with pytest.raises(ValueError, match="does not follow"):
        store.record([good, bad], {"tour_paris": 1})
    assert (store.last_seq, store.seats()) == before
    store.close()
    again = SqliteStore(db, "tours")
    assert (again.last_seq, again.seats()) == before
    again.close()


def _updates_until(ws: Any, seq: int) -> list[dict[str, Any]]:
    seen = []
    while not seen or seen[-1]["seq"] < seq:
        message = recv_json(ws)
        if message["type"] == "AVAILABILITY_UPDATE":
            seen.append(message)
    return seen


@pytest.mark.process
@pytest.mark.parametrize("how", ["sigterm", "kill-9"])
def test_a_client_resumes_across_a_restart_with_exactly_what_it_missed(
    tmp_path: Path, how: str
) -> None:
    db = (tmp_path / "state.db").resolve()
    store = f"sqlite:///{db}"
    args = ("tours", "--store", store, "--tours-interval", "0.02")
    server = ServerProcess(*args)
    try:
        port = server.wait_for(LISTENING)[1]
        with (
            open_client(f"ws://127.0.0.1:{port}/") as witness,
            open_client(f"ws://127.0.0.1:{port}/") as leaver,
        ):
            welcome = greet(leaver, "tours")[0]
            greet(witness, "tours")
            epoch = welcome["epoch"]
            left_at = _updates_until(leaver, welcome["seq"] + 10)[-1]["seq"]
            leaver.close()  # misses everything from here on
            seen = _updates_until(witness, left_at + 30)
            server.proc.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
            seen += _drain(witness)
    finally:
        server.close()
    last_broadcast = seen[-1]["seq"]

    restarted = ServerProcess(*args[:3], "--tours-interval", "3600")
    try:
        port = restarted.wait_for(LISTENING)[1]
        with open_client(f"ws://127.0.0.1:{port}/") as back:
            welcome = recv_json(back)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as reply:
                assert json.load(reply)["store"] == {"kind": "sqlite", "path": str(db)}
            assert welcome["epoch"] == epoch  # the same history: no snapshot needed
            assert welcome["seq"] == last_broadcast  # nothing that was broadcast is lost
            [recv_json(back) for _ in range(3)]  # INITIAL_STATE per tour
            send_json(back, {"type": "RESUME", "epoch": epoch, "seq": left_at})
            replayed = [recv_json(back) for _ in range(last_broadcast - left_at)]
            done = recv_json(back)
    finally:
        restarted.close()
    assert done["type"] == "RESUMED"
    assert done["replayed"] == last_broadcast - left_at
    missed = [m for m in seen if m["seq"] > left_at]
    assert replayed == missed  # exactly what it missed, as it was sent
    report_counts(
        f"sqlite-restart-{how}", broadcast=last_broadcast - left_at, replayed=len(replayed)
    )


def _drain(ws: Any) -> list[dict[str, Any]]:
    """Updates still readable before the connection ends."""
    from websockets.exceptions import ConnectionClosed

    got = []
    try:
        while True:
            message = recv_json(ws)
            if message["type"] == "AVAILABILITY_UPDATE":
                got.append(message)
    except (ConnectionClosed, TimeoutError):
        return got


@pytest.mark.process
def test_a_second_server_on_the_same_file_says_what_to_do(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'state.db'}"
    first = ServerProcess("--store", store)
    try:
        first.wait_for(LISTENING)
        second = ServerProcess("--store", store)
        try:
            assert second.proc.wait(TIMEOUT) == 1
            log = second.rest_of_log()
        finally:
            second.close()
        assert re.search(r"already the store of another tourpanel-server", log)
        assert "Traceback" not in log
    finally:
        first.close()


@pytest.mark.process
def test_an_unreachable_redis_or_broker_stops_the_server_with_what_to_do(tmp_path: Path) -> None:
    closed = free_port()  # nothing listens there
    (tmp_path / "not-a-dir.txt").write_text("a file, not a folder")
    no_redis = ServerProcess("--store", f"redis://127.0.0.1:{closed}/0")
    no_broker = ServerProcess("--amqp", f"amqp://guest:secret@127.0.0.1:{closed}/")
    no_file = ServerProcess("--store", f"sqlite:///{tmp_path}/not-a-dir.txt/state.db")
    try:
        for server, advice in [
            (no_redis, "cannot reach Redis at redis://127.0.0.1:"),
            (no_broker, "cannot reach RabbitMQ at amqp://guest:…@127.0.0.1:"),
            (no_file, "cannot use "),
        ]:
            assert server.proc.wait(3 * TIMEOUT) == 1
            log = server.rest_of_log()
            assert advice in log
            assert "Traceback" not in log
            assert "secret" not in log  # the broker's password is not logged
    finally:
        for server in (no_redis, no_broker, no_file):
            server.close()
