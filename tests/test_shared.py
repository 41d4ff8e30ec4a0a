"""Several ``tourpanel-server`` instances sharing one Redis: one history, one leader, no loss.

Every test counts what was committed to Redis against what each client received
(``artifacts/faults.txt`` keeps the counts of the fault tests).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tourpanel.server.ops import AddSeats, Op, Rejected, SetSeats, apply
from tourpanel.server.redis_store import Fenced, RedisStreams
from tourpanel.server.sim import Sale
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tourpanel.protocol import DEFAULT_TOURS, parse_timestamp

from .conftest import TIMEOUT, open_client, recv_json, send_json, wait_until
from .services import (
    REDIS_URL,
    RedisServer,
    need_redis,
    redis_delete,
    report_counts,
    run,
    unique,
)
from .test_process import LISTENING, ServerProcess

pytestmark = [pytest.mark.services, pytest.mark.process]

CAPACITY = {tour.id: tour.capacity for tour in DEFAULT_TOURS}


class Group:
    """``count`` tours servers on one Redis and key prefix, ticking fast."""

    def __init__(self, url: str, prefix: str, *extra: str) -> None:
        self.url, self.prefix, self.extra = url, prefix, extra
        self.servers: list[ServerProcess] = []
        self.ports: list[str] = []

    def start(self, count: int, *, interval: str = "0.02") -> Group:
        for _ in range(count):
            server = ServerProcess(
                "tours", "--store", self.url, "--store-prefix", self.prefix,
                "--tours-interval", interval, "--lease", "1", *self.extra,
            )  # fmt: skip
            self.servers.append(server)
            self.ports.append(server.wait_for(LISTENING)[1])
        return self

    def health(self, index: int) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.ports[index]}/healthz"
        with urllib.request.urlopen(url, timeout=TIMEOUT) as reply:
            return json.load(reply)  # type: ignore[no-any-return]

    def leader(self) -> int:
        """Index of the instance that leads the tours feed (waits for one)."""

        def find() -> int | None:
            for index, server in enumerate(self.servers):
                if server.proc.poll() is None:
                    role = self.health(index)["store"]["feeds"]["tours"]["role"]
                    if role == "leader":
                        return index
            return None

        return wait_until(lambda: (found := find()) is not None and found + 1) - 1

    def committed(self) -> int:
        """The last seq Redis gave the tours feed."""
        client = redis.Redis.from_url(self.url)
        try:
            return int(client.get(f"{{{self.prefix}:tours}}:seq") or 0)
        finally:
            client.close()

    def settle(self, watchers: list[Watcher]) -> tuple[int, list[int]]:
        """Stop every instance, then let each client resume on a quiet one.

        Returns what was committed and what each client received, both counted
        from the client's first position: every update committed must arrive.
        """
        for server in self.servers:
            if server.proc.poll() is None:
                server.proc.terminate()
                try:
                    server.proc.wait(TIMEOUT)
                except subprocess.TimeoutExpired:
                    server.proc.kill()
                    raise AssertionError(f"no clean exit:\n{server.rest_of_log()}") from None
        committed = self.committed()
        self.start(1, interval="3600")  # leads, but sends nothing new
        for watcher in watchers:
            watcher.urls.append(ws_url(self.ports[-1]))
        for watcher in watchers:
            watcher.wait_for_seq(committed)
            watcher.stop()
        return committed, [len(w.seqs) for w in watchers]

    def close(self) -> None:
        for server in self.servers:
            server.close()


@pytest.fixture
def group(redis_prefix: str) -> Iterator[Group]:
    made = Group(REDIS_URL, redis_prefix)
    yield made
    made.close()


class Watcher(threading.Thread):
    """A client that keeps every update, reconnecting (to the next URL) and resuming."""

    def __init__(self, *urls: str) -> None:
        super().__init__(daemon=True)
        self.urls = list(urls)
        self.epoch: str | None = None
        self.seqs: list[int] = []
        self.texts: dict[int, dict[str, Any]] = {}
        self.duplicates = 0
        self.reconnections = 0
        self.stopping = threading.Event()
        self.closes: list[int | None] = []
        self.snapshots: list[dict[str, Any]] = []

    @property
    def last(self) -> int:
        return self.seqs[-1] if self.seqs else 0

    def run(self) -> None:
        turn = 0
        while not self.stopping.is_set():
            url = self.urls[turn % len(self.urls)]
            try:
                self._follow(url)
            except ConnectionClosed as closed:
                self.closes.append(closed.rcvd.code if closed.rcvd else None)
            except (OSError, InvalidHandshake):  # a server going away mid-handshake
                self.stopping.wait(0.05)  # nobody listens there (yet)
            turn += 1
            self.reconnections += 1

    def _follow(self, url: str) -> None:
        with open_client(url) as ws:
            welcome = recv_json(ws)
            if self.epoch is None:
                self.epoch = welcome["epoch"]
                self.start_seq = welcome["seq"]
            else:
                send_json(ws, {"type": "RESUME", "epoch": self.epoch, "seq": self.last})
            while not self.stopping.is_set():
                try:
                    message = json.loads(ws.recv(timeout=0.2))
                except TimeoutError:
                    continue
                kind = message["type"]
                if kind == "SNAPSHOT":
                    self.snapshots.append(message)
                    self.epoch = message["epoch"]
                elif kind == "AVAILABILITY_UPDATE":
                    seq = message["seq"]
                    if self.seqs and seq <= self.last and message["epoch"] == self.epoch:
                        self.duplicates += 1
                        continue
                    self.seqs.append(seq)
                    self.texts[seq] = message

    def wait_for_seq(self, seq: int, timeout: float = TIMEOUT) -> None:
        wait_until(lambda: self.last >= seq, timeout=timeout)

    def stop(self) -> None:
        self.stopping.set()
        self.join(TIMEOUT)

    def gaps(self) -> list[tuple[int, int]]:
        return [(a, b) for a, b in zip(self.seqs, self.seqs[1:], strict=False) if b != a + 1]


def watch(*urls: str) -> Watcher:
    watcher = Watcher(*urls)
    watcher.start()
    wait_until(lambda: watcher.epoch is not None)
    return watcher


def _stamp(message: dict[str, Any]) -> float:
    return parse_timestamp(message["timestamp"]).timestamp()


def ws_url(port: str) -> str:
    return f"ws://127.0.0.1:{port}/"


# -- several instances -------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 3])
def test_clients_on_every_instance_see_every_update_once_and_in_order(
    group: Group, count: int
) -> None:
    group.start(count)
    watchers = [watch(ws_url(port)) for port in group.ports]
    target = max(w.start_seq for w in watchers) + 60
    for watcher in watchers:
        watcher.wait_for_seq(target)
    health = [group.health(i)["store"] for i in range(count)]
    committed, delivered = group.settle(watchers)
    assert delivered == [committed - w.start_seq for w in watchers]
    first = watchers[0]
    for watcher in watchers:
        assert watcher.gaps() == []
        assert watcher.duplicates == 0
        assert watcher.seqs[0] == watcher.start_seq + 1
        common = set(watcher.texts) & set(first.texts)
        assert len(common) >= 60
        assert all(watcher.texts[s] == first.texts[s] for s in common)  # the same text
    roles = [h["feeds"]["tours"]["role"] for h in health]
    assert sorted(roles) == ["follower"] * (count - 1) + ["leader"]
    assert all(h["connected"] for h in health)


def test_the_leader_killed_another_leads_within_the_lease_and_nothing_is_lost(
    group: Group,
) -> None:
    group.start(3)
    leader = group.leader()
    others = [i for i in range(3) if i != leader]
    followers = [watch(ws_url(group.ports[i])) for i in others]
    # A client of the leader moves to the other instances when it dies, and resumes.
    mover = watch(ws_url(group.ports[leader]), *(ws_url(group.ports[i]) for i in others))
    before = max(w.last for w in (*followers, mover)) + 20
    for watcher in (*followers, mover):
        watcher.wait_for_seq(before)

    group.servers[leader].proc.kill()  # kill -9
    killed_at = time.time()
    # The new leader's first update: stamped after the kill (the dead one's last
    # commits may still be arriving).
    first = followers[0]
    wait_until(lambda: any(_stamp(m) > killed_at for m in list(first.texts.values())[-5:]))
    failover = min(_stamp(m) for m in first.texts.values() if _stamp(m) > killed_at) - killed_at
    new_leader = group.leader()
    assert new_leader in others
    assert failover < 1.0 + 2.0  # the lease, and a follower's look every lease / 6

    watchers = [*followers, mover]
    after = max(w.last for w in watchers) + 20
    for watcher in watchers:
        watcher.wait_for_seq(after)
    assert mover.reconnections >= 1
    committed, delivered = group.settle(watchers)
    for watcher in watchers:
        assert watcher.gaps() == []
        assert watcher.duplicates == 0
    sent = [committed - w.start_seq for w in watchers]
    assert delivered == sent
    report_counts(
        "redis-leader-kill-9", failover_s=round(failover, 3), sent=sent, delivered=delivered
    )


def test_a_stalled_leader_loses_its_lease_and_cannot_write(group: Group) -> None:
    group.start(2)
    stalled = group.leader()
    other = 1 - stalled
    watcher = watch(ws_url(group.ports[other]))
    watcher.wait_for_seq(watcher.start_seq + 10)
    group.servers[stalled].proc.send_signal(signal.SIGSTOP)  # a long GC pause, a VM freeze
    try:
        wait_until(lambda: group.health(other)["store"]["feeds"]["tours"]["role"] == "leader")
        watcher.wait_for_seq(watcher.last + 20)
    finally:
        group.servers[stalled].proc.send_signal(signal.SIGCONT)
    group.servers[stalled].wait_for(re.compile(r"tours feed: lease lost to "))
    watcher.wait_for_seq(watcher.last + 20)
    assert group.health(stalled)["store"]["feeds"]["tours"]["role"] == "follower"
    committed, delivered = group.settle([watcher])
    assert watcher.gaps() == []
    assert watcher.duplicates == 0
    assert delivered == [committed - watcher.start_seq]
    report_counts("redis-stalled-leader", sent=committed - watcher.start_seq, delivered=delivered)


def test_a_write_under_a_lost_lease_is_fenced(redis_prefix: str) -> None:
    async def scenario() -> None:
        a, b = _streams(redis_prefix), _streams(redis_prefix)
        epoch = (await a.open("tours", DEFAULT_TOURS, "e")).epoch
        first = await a.beat("tours", "a", "", 100)
        await asyncio.sleep(0.2)  # the lease expires
        second = await b.beat("tours", "b", "", 10_000)
        assert second.token.startswith("b:")
        assert int(second.token.split(":")[1]) > int(first.token.split(":")[1])  # a new term
        with pytest.raises(Fenced):
            await a.commit(
                "tours", Sale("tour_rome", 1), epoch=epoch, stamp="s", tours=DEFAULT_TOURS,
                token=first.token,
            )  # fmt: skip
        assert await b.commit(
            "tours", Sale("tour_rome", 1), epoch=epoch, stamp="s", tours=DEFAULT_TOURS,
            token=second.token,
        ) == [1]  # fmt: skip
        renewed = await a.beat("tours", "a", first.token, 100)
        assert renewed.token == second.token  # a cannot take it back while b holds it
        await a.close()
        await b.close()

    run(scenario())


@pytest.mark.parametrize("how", ["sigterm", "kill-9"])
def test_redis_restarted_mid_run_clients_stay_and_resume_without_holes(
    tmp_path: Path, how: str
) -> None:
    own = RedisServer(tmp_path).start()
    prefix = unique("restart")
    cluster = Group(own.url, prefix).start(2)
    try:
        watchers = [watch(ws_url(port)) for port in cluster.ports]
        for watcher in watchers:
            watcher.wait_for_seq(watcher.start_seq + 20)
        own.stop(kill=how == "kill-9")
        for index in range(2):
            wait_until(lambda i=index: not cluster.health(i)["store"]["connected"])
        assert cluster.health(0)["status"] == "degraded"
        cut = max(w.last for w in watchers)
        # The clients stay connected while Redis is away, and new ones are served:
        with open_client(ws_url(cluster.ports[0])) as probe:
            assert recv_json(probe)["type"] == "WELCOME"
            send_json(probe, {"type": "PING"})
            assert any(recv_json(probe)["type"] == "PONG" for _ in range(5))
        own.start()
        for index in range(2):
            wait_until(lambda i=index: cluster.health(i)["store"]["connected"], timeout=20)
        for watcher in watchers:
            watcher.wait_for_seq(cut + 20, timeout=20)
        assert [w.closes for w in watchers] == [[], []]  # nobody was disconnected
        committed, delivered = cluster.settle(watchers)
        for watcher in watchers:
            assert watcher.gaps() == []
            assert watcher.duplicates == 0
        sent = [committed - w.start_seq for w in watchers]
        assert delivered == sent
        report_counts(f"redis-restart-{how}", sent=sent, delivered=delivered)
    finally:
        cluster.close()
        own.stop()


def test_redis_losing_the_history_sends_clients_to_a_snapshot(group: Group) -> None:
    group.start(2)
    watchers = [watch(ws_url(port)) for port in group.ports]
    for watcher in watchers:
        watcher.wait_for_seq(watcher.start_seq + 10)
    old_epoch = watchers[0].epoch
    redis_delete(REDIS_URL, group.prefix)  # as a FLUSHALL would
    for watcher in watchers:
        wait_until(lambda w=watcher: w.snapshots)
        watcher.stop()
        assert watcher.closes[0] == 1012  # service restart: reconnect
        assert watcher.snapshots[0]["reason"] == "epoch_changed"
        assert watcher.snapshots[0]["epoch"] != old_epoch
    assert watchers[0].snapshots[0]["epoch"] == watchers[1].snapshots[0]["epoch"]


def test_health_and_logs_name_the_leader(group: Group) -> None:
    group.start(2)
    leader = group.leader()
    group.servers[leader].wait_for(re.compile(r"tours feed: this instance leads \(term \d+\)"))
    store = group.health(1 - leader)["store"]
    assert store["kind"] == "redis"
    assert store["feeds"]["tours"]["leader"].startswith(group.health(leader)["store"]["instance"])
    assert "password" not in json.dumps(store)


# -- one Redis, many writers -------------------------------------------------------------


def _streams(prefix: str, *, history: int = 10_000) -> RedisStreams:
    return RedisStreams(REDIS_URL, prefix=prefix, history=history)


async def _commit_all(
    prefix: str, ops: list[Op], *, writers: int
) -> tuple[list[int], int, list[Any]]:
    """Commit ``ops`` concurrently from ``writers`` clients; seqs, rejections, stream."""
    clients = [_streams(prefix) for _ in range(writers)]
    epoch = (await clients[0].open("tours", DEFAULT_TOURS, "e")).epoch
    seqs: list[int] = []
    rejected = 0

    async def one(index: int, op: Op) -> None:
        nonlocal rejected
        try:
            got = await clients[index % writers].commit(
                "tours", op, epoch=epoch, stamp="s", tours=DEFAULT_TOURS
            )
            seqs.extend(got or [])
        except Rejected:
            rejected += 1

    await asyncio.gather(*(one(i, op) for i, op in enumerate(ops)))
    stream = await clients[0].redis.xrange(clients[0].key("tours", "stream"))
    for client in clients:
        await client.close()
    return seqs, rejected, stream


def test_concurrent_decrements_never_go_below_zero_and_none_is_lost(redis_prefix: str) -> None:
    ops: list[Op] = [AddSeats("tour_paris", -1) for _ in range(50)]
    seqs, rejected, stream = run(_commit_all(redis_prefix, ops, writers=5))
    assert len(seqs) == CAPACITY["tour_paris"]  # every seat sold once
    assert rejected == 50 - CAPACITY["tour_paris"]
    values = [int(fields["v"]) for _, fields in stream]
    assert values == list(range(CAPACITY["tour_paris"] - 1, -1, -1))


def test_concurrent_bookings_and_sales_lose_no_update(redis_prefix: str) -> None:
    rng = random.Random(3)
    ops: list[Op] = [
        rng.choice([AddSeats("tour_london", d) for d in (-1, 1)] + [Sale("tour_london", 1)])
        for _ in range(300)
    ]
    seqs, rejected, stream = run(_commit_all(redis_prefix, ops, writers=6))
    assert sorted(seqs) == list(range(1, len(seqs) + 1))  # one seq each, none twice
    seats = CAPACITY["tour_london"]
    for _, fields in stream:  # each step is one seat away from the one before
        value = int(fields["v"])
        assert fields["r"] == "1" or abs(value - seats) <= 1
        assert 0 <= value <= CAPACITY["tour_london"]
        seats = value
    assert len(stream) == len(seqs)
    report_counts("redis-concurrent-writers", ops=len(ops), committed=len(seqs), rejected=rejected)


# -- the Lua rules against the Python ones ----------------------------------------------

TOUR_IDS = st.sampled_from([tour.id for tour in DEFAULT_TOURS])
OPS = st.one_of(
    st.builds(Sale, TOUR_IDS, st.integers(1, 3)),
    st.builds(SetSeats, TOUR_IDS, st.integers(-2, 22)),
    st.builds(AddSeats, TOUR_IDS, st.integers(-6, 6)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=1, max_size=60))
def test_any_interleaving_of_sales_and_bookings_follows_the_python_rules(ops: list[Op]) -> None:
    need_redis()
    prefix = unique("prop")
    try:
        outcome = run(_apply_in_order(prefix, ops))
    finally:
        redis_delete(REDIS_URL, prefix)
    model = dict(CAPACITY)
    expected: list[tuple[str, int]] = []
    for op in ops:
        try:
            changes = apply(op, model, DEFAULT_TOURS)  # type: ignore[arg-type]
        except Rejected:
            expected.append(("rejected", 0))
            continue
        for change in changes:
            model[change.tour_id] = change.seats
        expected.append(("ok", len(changes)))
    assert [(kind, len(seqs)) for kind, seqs in outcome["results"]] == expected
    seqs = [s for _, got in outcome["results"] for s in got]
    assert seqs == list(range(1, len(seqs) + 1))  # strictly increasing, no gap
    assert outcome["seats"] == model
    assert all(0 <= n <= CAPACITY[t] for t, n in outcome["seats"].items())


async def _apply_in_order(prefix: str, ops: list[Op]) -> dict[str, Any]:
    client = _streams(prefix)
    epoch = (await client.open("tours", DEFAULT_TOURS, "e")).epoch
    results: list[tuple[str, list[int]]] = []
    for op in ops:
        try:
            got = await client.commit("tours", op, epoch=epoch, stamp="s", tours=DEFAULT_TOURS)
            results.append(("ok", got or []))
        except Rejected:
            results.append(("rejected", []))
    seats = (await client.open("tours", DEFAULT_TOURS, "e")).seats
    await client.close()
    return {"results": results, "seats": seats}
