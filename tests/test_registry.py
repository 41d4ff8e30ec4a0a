"""Subscriptions: never subscribed gets everything; subscribed gets only its tours."""

from __future__ import annotations

from tourpanel.server.registry import Registry

TOURS = ("paris", "london", "rome")


def test_unsubscribed_connections_receive_everything() -> None:
    reg: Registry[str] = Registry()
    reg.add("a")
    reg.add("b")
    assert set(reg.recipients("paris")) == {"a", "b"}
    assert set(reg.recipients(None)) == {"a", "b"}
    assert reg.subscriptions("a") is None


def test_subscribing_narrows_to_the_chosen_tours() -> None:
    reg: Registry[str] = Registry()
    reg.add("a")
    reg.add("b")
    assert reg.subscribe("a", "rome") == {"rome"}
    assert reg.subscribe("a", "paris") == {"rome", "paris"}
    assert sorted(reg.recipients("rome")) == ["a", "b"]
    assert list(reg.recipients("london")) == ["b"]
    assert set(reg.recipients(None)) == {"a", "b"}
    assert reg.wants("a", "paris")
    assert not reg.wants("a", "london")


def test_unsubscribe_from_everything_keeps_the_other_tours() -> None:
    reg: Registry[str] = Registry()
    reg.add("a")
    assert reg.unsubscribe("a", "paris", universe=TOURS) == {"london", "rome"}
    assert list(reg.recipients("paris")) == []
    assert reg.unsubscribe("a", "rome", universe=TOURS) == {"london"}
    assert reg.unsubscribe("a", "london", universe=TOURS) == frozenset()
    assert all(list(reg.recipients(t)) == [] for t in TOURS)
    assert reg.subscriptions("a") == frozenset()


def test_remove_forgets_every_subscription() -> None:
    reg: Registry[str] = Registry()
    reg.add("a")
    for tour in TOURS:
        reg.subscribe("a", tour)
    reg.add("b")
    reg.remove("a")
    assert len(reg) == 1
    assert list(reg.recipients(None)) == ["b"]
    assert all(list(reg.recipients(tour)) == ["b"] for tour in TOURS)
    assert reg.topic_counts() == {}
    reg.remove("a")  # idempotent
    assert len(reg) == 1
    reg.add("a")  # back as new: receiving everything again
    assert reg.subscriptions("a") is None
    assert sorted(reg.recipients("rome")) == ["a", "b"]


def test_topic_counts_report_subscribers_per_tour() -> None:
    reg: Registry[str] = Registry()
    for conn in "abc":
        reg.add(conn)
    reg.subscribe("a", "rome")
    reg.subscribe("b", "rome")
    reg.subscribe("b", "paris")
    assert reg.topic_counts() == {"paris": 1, "rome": 2}
