"""This instance's part in a group of instances that share one Redis.

For each feed one instance leads: it holds the lease and runs the simulation,
committing each step under its fencing token, so a stalled former leader cannot
write. Every instance, the leader too, reads the feeds' streams and broadcasts what
it reads to its own clients: a client on any instance gets the same messages, in
the same order, numbered by one ``seq`` per feed. Each instance mirrors the stream
in a :class:`MemoryStore`, from which it answers ``RESUME`` and sends ``INITIAL_STATE``.

When Redis goes away, clients keep their connections; the instance retries with
backoff and reads on from where it stopped. If Redis lost the history (wiped, or
trimmed past this reader), the feed's clients are closed with 1012 so that they
reconnect and get a snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError
from websockets.frames import CloseCode

from tourpanel import protocol as p

from .errors import Unavailable
from .feeds import Delivery, Feed
from .ops import Op, Record
from .redact import redact_url
from .redis_store import EpochLost, Fenced, RedisStreams
from .store import Entry, MemoryStore, new_epoch

__all__ = ["Replica"]

log = logging.getLogger("tourpanel.server")

READ_BLOCK_MS = 1000
BACKOFF = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
START_TIMEOUT = 10.0  # seconds to reach Redis at start before giving up
STOP_TIMEOUT = READ_BLOCK_MS / 1000 + 6.0  # a blocking read, then a socket timeout
LOST_HISTORY = "the feed's shared history was lost; reconnect for a fresh snapshot"


class Host(Protocol):
    """What the replica needs of the server it runs in."""

    feeds: dict[str, Feed[Any]]

    def interval(self, feed: str) -> float: ...

    def deliver(self, feed: str, deliveries: Iterable[Delivery[Any]]) -> None: ...

    def close_feed(self, feed: str, code: CloseCode, reason: str) -> None: ...


@dataclass
class _Role:
    """One feed's lease as this instance knows it."""

    token: str = ""  # ours while we lead, else ''
    leader: str = ""  # whoever leads, as Redis said last
    until: float = 0.0  # monotonic time our lease surely lasts to
    behind: int = 0  # stream entries not yet read, at the last heartbeat

    def leading(self) -> bool:
        return bool(self.token) and time.monotonic() < self.until


class Replica:
    """Runs ``host``'s feeds against the shared state in ``shared``."""

    def __init__(self, host: Host, shared: RedisStreams, *, lease: float) -> None:
        self.host = host
        self.shared = shared
        self.lease = lease
        self.instance = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
        self.roles = {name: _Role() for name in host.feeds}
        self.connected = False
        self.read_lag_ms: float | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._resyncing: set[str] = set()
        self._stop = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Load every feed's shared state (waiting for Redis a while), then run."""
        deadline = time.monotonic() + START_TIMEOUT
        for name in self.host.feeds:
            while True:
                try:
                    await self._load(name)
                    break
                except RedisError as exc:
                    if time.monotonic() > deadline:
                        raise Unavailable(
                            f"cannot reach Redis at {redact_url(self.shared.url)} ({exc}); "
                            "start it, or check --store"
                        ) from exc
                    await asyncio.sleep(0.5)
        self._set_connected(True)
        log.info("instance %s shares state in %s", self.instance, redact_url(self.shared.url))
        for name in self.host.feeds:
            self._tasks.append(asyncio.create_task(self._hold_lease(name), name=f"lease-{name}"))
            self._tasks.append(asyncio.create_task(self._simulate(name), name=f"sim-{name}"))
        self._tasks.append(asyncio.create_task(self._read(), name="stream-reader"))

    async def stop(self) -> None:
        """Stop, and hand the leases over at once rather than when they expire.

        The loops are asked to stop, not cancelled: cancelling redis-py commands in
        flight on a shared pool can leave a task waiting forever (redis/redis-py#2665
        and its kin), and a blocking read ends within ``READ_BLOCK_MS`` anyway.
        """
        self._stop.set()
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT)
            for task in stuck:  # a command that never answers: last resort
                task.cancel()
        self._tasks = []
        for name, role in self.roles.items():
            if role.token:
                with contextlib.suppress(RedisError):
                    await self.shared.release(name, role.token)
                log.info("%s feed: lease released", name)
                role.token = ""
        await self.shared.close()

    async def _backoff(self, exc: RedisError, failures: int) -> int:
        """Note Redis away and wait as long as ``failures`` in a row ask; their new count."""
        self._set_connected(False, exc)
        await self._pause(BACKOFF[min(failures, len(BACKOFF) - 1)])
        return failures + 1

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the replica is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    # -- writing -----------------------------------------------------------------------

    async def commit(self, name: str, op: Op, *, event_id: str | None = None) -> bool:
        """Apply a booking event's ``op`` (from any instance); ``False`` if already applied.

        Raises :class:`~tourpanel.server.ops.Rejected`, or :class:`Unavailable` when
        Redis is unreachable (nothing was applied then).
        """
        feed = self.host.feeds[name]
        stamp = p.format_timestamp(feed.clock())

        def attempt() -> Awaitable[list[int] | None]:
            epoch = feed.store.epoch  # read anew: a resync changes it
            return self.shared.commit(
                name, op, epoch=epoch, stamp=stamp, tours=feed.tours, event_id=event_id
            )

        try:
            try:
                seqs = await attempt()
            except EpochLost:
                await self._resync(name)
                seqs = await attempt()
        except RedisError as exc:
            raise Unavailable(f"Redis at {redact_url(self.shared.url)}: {exc}") from exc
        return seqs is not None

    async def _simulate(self, name: str) -> None:
        interval = self.host.interval(name)
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        role = self.roles[name]
        while not self._stop.is_set():
            deadline = max(deadline + interval, loop.time())
            await self._pause(deadline - loop.time())
            if self._stop.is_set() or not role.leading():
                continue
            feed = self.host.feeds[name]
            try:
                for op in feed.propose():
                    await self.shared.commit(
                        name,
                        op,
                        epoch=feed.store.epoch,
                        stamp=p.format_timestamp(feed.clock()),
                        tours=feed.tours,
                        token=role.token,
                    )
            except Fenced:
                log.warning("%s feed: lease lost to another instance; following", name)
                role.token = ""
            except EpochLost:
                await self._resync(name)
            except RedisError as exc:
                self._set_connected(False, exc)
            except Exception:
                log.exception("%s feed step failed; next in %.1f s", name, interval)

    # -- the lease ---------------------------------------------------------------------

    async def _hold_lease(self, name: str) -> None:
        role = self.roles[name]
        lease_ms = int(self.lease * 1000)
        failures = 0
        while not self._stop.is_set():
            asked = time.monotonic()
            try:
                answer = await self.shared.beat(name, self.instance, role.token, lease_ms)
            except RedisError as exc:
                failures = await self._backoff(exc, failures)
                continue
            failures = 0
            self._set_connected(True)
            mine = answer.token.startswith(f"{self.instance}:")
            if mine and not role.token:
                log.info(
                    "%s feed: this instance leads (term %s)", name, answer.token.rsplit(":", 1)[-1]
                )
            elif role.token and not mine:
                log.warning("%s feed: lease lost to %s; following", name, answer.token)
            elif answer.token != role.leader and not mine:
                log.info("%s feed: %s leads", name, answer.token or "no instance")
            role.leader = answer.token
            role.token = answer.token if mine else ""
            role.until = asked + self.lease if mine else 0.0
            store = self.host.feeds[name].store
            if answer.epoch != store.epoch:
                await self._resync(name)
            role.behind = max(0, answer.last_seq - store.last_seq)
            # A leader renews well within its lease; a follower looks often to take over.
            await self._pause(self.lease / (3 if mine else 6))

    # -- reading -----------------------------------------------------------------------

    async def _read(self) -> None:
        failures = 0
        while not self._stop.is_set():
            positions = {name: feed.store.last_seq for name, feed in self.host.feeds.items()}
            try:
                found = await self.shared.read(positions, block_ms=READ_BLOCK_MS)
            except RedisError as exc:
                failures = await self._backoff(exc, failures)
                continue
            failures = 0
            self._set_connected(True)
            for name, records in found.items():
                await self._follow(name, records)

    async def _follow(self, name: str, records: list[Record]) -> None:
        """Deliver what was read of ``name``, in one batch, up to a loss of history."""
        feed = self.host.feeds[name]
        last, epoch = feed.store.last_seq, feed.store.epoch
        fresh: list[Record] = []
        lost: bool | None = None  # None: nothing lost; False: a new epoch; True: a gap
        for record in records:
            if record.epoch != epoch:
                lost = False  # Redis was wiped and began a new history
                break
            if record.seq <= last:
                continue  # read twice around a resync
            if record.seq != last + 1:
                log.warning(
                    "%s feed: Redis no longer holds seq %d to %d (trimmed while this "
                    "instance could not read)",
                    name,
                    last + 1,
                    record.seq - 1,
                )
                lost = True
                break
            fresh.append(record)
            last = record.seq
        if fresh:
            self.host.deliver(name, feed.keep(fresh))
            with contextlib.suppress(ValueError):
                sent = p.parse_timestamp(fresh[-1].stamp).timestamp()
                self.read_lag_ms = round((time.time() - sent) * 1000, 1)
        if lost is not None:
            await self._resync(name, force=lost)

    # -- state -------------------------------------------------------------------------

    async def _load(self, name: str) -> bool:
        """Mirror ``name``'s shared state; ``True`` if its epoch changed."""
        feed = self.host.feeds[name]
        state = await self.shared.open(name, feed.tours, new_epoch())
        changed = state.epoch != feed.store.epoch
        mirror = MemoryStore(state.seats, history=self.shared.history, epoch=state.epoch)
        feed.store = mirror
        mirror.load(
            [Entry(r.seq, r.topic, feed.render(r)) for r in state.entries], last_seq=state.last_seq
        )
        return changed

    async def _resync(self, name: str, *, force: bool = False) -> None:
        """Reload ``name`` after Redis lost its history; its clients reconnect for a snapshot."""
        if name in self._resyncing:
            return
        self._resyncing.add(name)
        try:
            old = self.host.feeds[name].store.epoch
            changed = await self._load(name)
            if changed or force:
                log.warning(
                    "%s feed: shared history %s lost, now %s; closing its clients (1012) so "
                    "they resume from a snapshot",
                    name,
                    old,
                    self.host.feeds[name].store.epoch,
                )
                self.host.close_feed(name, CloseCode.SERVICE_RESTART, LOST_HISTORY)
        except RedisError as exc:
            self._set_connected(False, exc)
        finally:
            self._resyncing.discard(name)

    def _set_connected(self, up: bool, exc: Exception | None = None) -> None:
        if up and not self.connected:
            log.info("Redis at %s answers", redact_url(self.shared.url))
        elif not up and self.connected:
            log.warning(
                "Redis at %s is unreachable (%s); clients stay connected, retrying",
                redact_url(self.shared.url),
                exc,
            )
        self.connected = up

    def health(self) -> dict[str, Any]:
        return {
            "kind": "redis",
            "url": redact_url(self.shared.url),
            "connected": self.connected,
            "instance": self.instance,
            "readLagMs": self.read_lag_ms,
            "feeds": {
                name: {
                    "role": "leader" if role.leading() else "follower",
                    "leader": role.leader or None,
                    "behind": role.behind,
                }
                for name, role in self.roles.items()
            },
        }
