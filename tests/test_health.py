"""When a feed counts as stale: learnt from its own rhythm, with injected times."""

from __future__ import annotations

from tourpanel.health import STALE_UNKNOWN, FeedHealth
from tourpanel.stats import Status


def snapshot_status(health: FeedHealth, mono: float) -> Status:
    return health.snapshot(
        mono, gaps=0, resyncs=0, duplicates=0, server_error=None, epoch=None, seq=None
    ).status


def test_stale_after_three_of_its_own_intervals_then_live_again() -> None:
    health = FeedHealth("ws://x")
    health.connected(100.0)
    for t in (100.0, 100.0, 100.01, 105.0, 110.0):  # a greeting burst, then every 5 s
        health.arrived(t, t, None)
    assert health.stale_after() == 15.0
    assert snapshot_status(health, 124.9) is Status.CONNECTED
    assert snapshot_status(health, 125.1) is Status.STALE
    health.arrived(126.0, 126.0, "2025-01-08T10:50:00.000Z")
    assert snapshot_status(health, 126.5) is Status.CONNECTED


def test_before_the_rhythm_is_known_a_long_default_applies() -> None:
    health = FeedHealth("ws://x")
    health.connected(0.0)
    health.arrived(0.0, 0.0, None)
    assert snapshot_status(health, STALE_UNKNOWN - 1) is Status.CONNECTED
    assert snapshot_status(health, STALE_UNKNOWN + 1) is Status.STALE


def test_only_a_connected_feed_can_be_stale() -> None:
    health = FeedHealth("ws://x")
    health.retrying(0.0, 5.0, "connection refused")
    assert snapshot_status(health, 1000.0) is Status.RECONNECTING
    assert health.retries == 1
