"""The feeds as sans-I/O state machines: connections are plain strings, time is fixed."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from tourpanel.server.feeds import RandomFeed, TourFeed
from tourpanel.server.store import MemoryStore

NOW = 1736333400.0  # 2025-01-08T10:50:00.000Z


def tours(history: int = 100, seed: int = 1) -> TourFeed[str]:
    return TourFeed(
        store=MemoryStore(history=history, epoch="E"), rng=random.Random(seed), clock=lambda: NOW
    )


def numbers(seed: int = 1) -> RandomFeed[str]:
    return RandomFeed(store=MemoryStore(epoch="E"), rng=random.Random(seed), clock=lambda: NOW)


def loads(texts: list[str]) -> list[dict[str, Any]]:
    return [json.loads(t) for t in texts]


def delivered(
    feed: TourFeed[str] | RandomFeed[str], ticks: int = 1
) -> list[tuple[set[str], dict[str, Any]]]:
    out = []
    for _ in range(ticks):
        out.extend((set(d.recipients), json.loads(d.text)) for d in feed.tick())
    return out


def test_tours_greeting_is_the_lessons_plus_position() -> None:
    greeting = loads(tours().connect("a"))
    assert greeting == [
        {
            "type": "WELCOME",
            "message": "Connecté au serveur de disponibilité des tours",
            "timestamp": "2025-01-08T10:50:00.000Z",
            "feed": "tours",
            "epoch": "E",
            "seq": 0,
        },
        *(
            {
                "type": "INITIAL_STATE",
                "tourId": tid,
                "tourName": name,
                "availableSeats": seats,
                "timestamp": "2025-01-08T10:50:00.000Z",
                "seq": 0,
                "epoch": "E",
            }
            for tid, name, seats in [
                ("tour_paris", "Paris City Tour", 20),
                ("tour_london", "London Eye Experience", 15),
                ("tour_rome", "Rome Colosseum Tour", 18),
            ]
        ),
    ]


def test_random_greeting_and_broadcast() -> None:
    feed = numbers()
    assert (
        loads(feed.connect("a"))[0]["message"] == "Bienvenue sur le serveur de nombres aléatoires!"
    )
    [(to, message)] = delivered(feed)
    assert to == {"a"}
    assert message["type"] == "RANDOM_NUMBER"
    assert 1 <= message["value"] <= 100
    assert (message["seq"], message["epoch"]) == (1, "E")


def test_broadcast_seq_is_strictly_increasing_and_state_follows() -> None:
    feed = tours()
    feed.connect("a")
    messages = [m for _, m in delivered(feed, ticks=60)]
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    assert any(m.get("reset") for m in messages), "60 ticks sell out every tour at least once"
    last = {m["tourId"]: m["availableSeats"] for m in messages}
    assert {m["tourId"]: m["availableSeats"] for m in loads(feed.connect("b"))[1:]} == last


def test_same_seed_same_broadcasts() -> None:
    a, b = tours(seed=9), tours(seed=9)
    assert [m for _, m in delivered(a, 30)] == [m for _, m in delivered(b, 30)]


def test_subscription_routes_updates() -> None:
    feed = tours()
    for conn in ("all", "rome"):
        feed.connect(conn)
    assert loads(feed.handle("rome", '{"type":"SUBSCRIBE","tourId":"tour_rome"}')) == [
        {"type": "SUBSCRIBED", "tourId": "tour_rome", "tourIds": ["tour_rome"]}
    ]
    for to, message in delivered(feed, ticks=30):
        expected = {"all", "rome"} if message["tourId"] == "tour_rome" else {"all"}
        assert to == expected


def test_unsubscribe_replies_with_what_is_left() -> None:
    feed = tours()
    feed.connect("a")
    reply = loads(feed.handle("a", '{"type":"UNSUBSCRIBE","tourId":"tour_london"}'))
    assert reply == [
        {"type": "UNSUBSCRIBED", "tourId": "tour_london", "tourIds": ["tour_paris", "tour_rome"]}
    ]


@pytest.mark.parametrize(
    ("feed_name", "payload", "code"),
    [
        ("tours", '{"type":"SUBSCRIBE","tourId":"tour_tokyo"}', "unknown_tour"),
        ("tours", '{"type":"UNSUBSCRIBE","tourId":""}', "unknown_tour"),
        ("random", '{"type":"SUBSCRIBE","tourId":"tour_paris"}', "unsupported"),
        ("random", b'{"type":"PING"}', "bad_message"),
        ("tours", "not json", "bad_json"),
    ],
)
def test_bad_requests_get_an_error_not_an_exception(
    feed_name: str, payload: str | bytes, code: str
) -> None:
    feed = tours() if feed_name == "tours" else numbers()
    feed.connect("a")
    [reply] = loads(feed.handle("a", payload))
    assert reply["type"] == "ERROR"
    assert reply["code"] == code
    assert reply["message"]
    assert len(feed.registry) == 1


def test_unknown_tour_error_lists_the_known_tours() -> None:
    feed = tours()
    feed.connect("a")
    [reply] = loads(feed.handle("a", '{"type":"SUBSCRIBE","tourId":"tour_tokyo"}'))
    assert "tour_paris, tour_london, tour_rome" in reply["message"]


def test_ping_gets_pong() -> None:
    feed = numbers()
    feed.connect("a")
    assert loads(feed.handle("a", '{"type":"PING"}')) == [
        {"type": "PONG", "timestamp": "2025-01-08T10:50:00.000Z"}
    ]


def test_resume_replays_exactly_the_missed_broadcasts() -> None:
    feed = tours()
    feed.connect("a")
    sent = [m for _, m in delivered(feed, ticks=12)]
    feed.connect("b")
    replies = loads(feed.handle("b", '{"type":"RESUME","epoch":"E","seq":4}'))
    assert replies[:-1] == [m for m in sent if m["seq"] > 4]
    assert replies[-1] == {
        "type": "RESUMED",
        "epoch": "E",
        "seq": sent[-1]["seq"],
        "replayed": len(replies) - 1,
    }


def test_resume_respects_subscriptions() -> None:
    feed = tours()
    feed.connect("a")
    sent = [m for _, m in delivered(feed, ticks=20)]
    feed.connect("b")
    feed.handle("b", '{"type":"SUBSCRIBE","tourId":"tour_paris"}')
    replies = loads(feed.handle("b", '{"type":"RESUME","epoch":"E","seq":0}'))
    assert replies[:-1] == [m for m in sent if m["tourId"] == "tour_paris"]


@pytest.mark.parametrize(
    ("epoch", "seq", "reason"),
    [("E", 1, "too_old"), ("OLD", 15, "epoch_changed"), ("E", 99, "ahead")],
)
def test_resume_outside_history_sends_a_marked_snapshot(epoch: str, seq: int, reason: str) -> None:
    feed = tours(history=5)
    feed.connect("a")
    delivered(feed, ticks=20)
    feed.connect("b")
    replies = loads(feed.handle("b", json.dumps({"type": "RESUME", "epoch": epoch, "seq": seq})))
    last = feed.store.last_seq
    assert replies[0] == {
        "type": "SNAPSHOT",
        "epoch": "E",
        "seq": last,
        "reason": reason,
        "timestamp": "2025-01-08T10:50:00.000Z",
    }
    assert [m["type"] for m in replies[1:]] == ["INITIAL_STATE"] * 3
    assert {m["seq"] for m in replies[1:]} == {last}


def test_disconnect_leaves_nothing_behind() -> None:
    feed = tours()
    feed.connect("a")
    feed.handle("a", '{"type":"SUBSCRIBE","tourId":"tour_rome"}')
    assert feed.health()["subscribers"] == {"tour_rome": 1}
    feed.disconnect("a")
    assert feed.health()["connections"] == 0
    assert feed.health()["subscribers"] == {}
