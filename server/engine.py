"""Where a server's feeds keep their state, and what changes it.

In one process (``memory`` or ``sqlite:``) the simulations tick here, and each change
is stored, then delivered at once. With ``redis://`` the :class:`~.replica.Replica`
runs them: the leader writes to Redis and every instance delivers what it reads
back. Booking events from the broker (``--amqp``) go through :meth:`Engine.apply_event`
either way. The transport only supplies how to deliver and how to close clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from websockets.frames import CloseCode

from .errors import Unavailable
from .feeds import Delivery, Feed, RandomFeed, TourFeed
from .ops import SeatOp
from .settings import Settings
from .stores import open_local, sqlite_path, store_kind

__all__ = ["Engine", "cancel_all"]

log = logging.getLogger("tourpanel.server")

MAX_CATCH_UP = 1.0  # seconds of missed broadcast ticks made up after a delay

_FEED_TYPES: dict[str, type[Feed[Any]]] = {"random": RandomFeed, "tours": TourFeed}

Deliver = Callable[[str, Iterable[Delivery[Any]]], None]
CloseFeed = Callable[[str, CloseCode, str], None]


async def cancel_all(tasks: Iterable[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait until each has ended."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _rng(seed: str | None, feed: str) -> random.Random:
    """One generator per feed, so each feed's stream depends only on the seed."""
    return random.Random(None if seed is None else f"{seed}/{feed}")


class Engine:
    """The feeds of ``settings``, their store, their ticks and their booking events."""

    def __init__(self, settings: Settings, *, deliver: Deliver, close_feed: CloseFeed) -> None:
        self.settings = settings
        self.shared = store_kind(settings.store) == "redis"
        self.feeds: dict[str, Feed[Any]] = {
            name: _FEED_TYPES[name](
                # With Redis, a MemoryStore: the mirror the replica fills.
                store=open_local(settings.store, name, history=settings.history),
                rng=_rng(settings.seed, name),
                max_subscriptions=settings.max_subscriptions,
            )
            for name in settings.feeds
        }
        self.deliver = deliver
        self.close_feed = close_feed
        self.replica: Any = None  # a Replica when the state is in Redis
        self.consumer: Any = None  # a Consumer of booking events with --amqp
        self._tickers: list[asyncio.Task[None]] = []

    def interval(self, feed: str) -> float:
        return self.settings.interval(feed)

    async def start(self) -> None:
        """Load the state, start the simulations, then consume booking events."""
        try:
            await self._start()
        except BaseException:
            await self.stop()  # what did start is released
            raise

    async def _start(self) -> None:
        s = self.settings
        if self.shared:
            from .redis_store import RedisStreams  # redis-py loads only when used
            from .replica import Replica

            streams = RedisStreams(s.store, prefix=s.store_prefix, history=s.history)
            self.replica = Replica(self, streams, lease=s.lease)
            await self.replica.start()
        else:
            self._tickers = [
                asyncio.create_task(self._tick_every(name, s.interval(name)), name=f"tick-{name}")
                for name in self.feeds
            ]
        if s.amqp:
            from .consumer import Consumer  # aio-pika loads only when used

            self.consumer = Consumer(s, apply=self.apply_event)
            await self.consumer.start()

    async def stop(self) -> None:
        """Stop taking changes (an unacknowledged event stays queued), release the state."""
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None
        await cancel_all(self._tickers)
        self._tickers = []
        if self.replica is not None:
            await self.replica.stop()
            self.replica = None
        for feed in self.feeds.values():
            close = getattr(feed.store, "close", None)
            if close is not None:
                close()

    def tick(self, feed: str) -> None:
        """Advance ``feed`` one step and deliver its broadcasts now (one process only)."""
        if self.shared:
            raise RuntimeError("with a shared store, the leading instance steps the feeds")
        self.deliver(feed, self.feeds[feed].tick())

    async def apply_event(self, op: SeatOp, event_id: str | None) -> bool:
        """Apply a booking event to the tours; ``False`` if ``event_id`` was applied before.

        Raises :class:`~tourpanel.server.ops.Rejected` for an event that cannot apply, and
        :class:`Unavailable` when the store cannot be written now (retry later).
        """
        if self.replica is not None:
            return bool(await self.replica.commit("tours", op, event_id=event_id))
        feed = self.feeds["tours"]
        try:
            if event_id is not None and feed.store.has_event(event_id):
                return False
            deliveries = feed.commit([op], event_id=event_id)
        except sqlite3.Error as exc:  # a full disk, a file locked by another program
            raise Unavailable(f"the SQLite store: {exc}") from exc
        self.deliver("tours", deliveries)
        return True

    def health(self) -> dict[str, Any]:
        """The store's and the broker's parts of ``/healthz``."""
        url = self.settings.store
        store: dict[str, Any] = {"kind": store_kind(url)}
        if self.replica is not None:
            store = self.replica.health()
        elif store["kind"] == "sqlite":
            store["path"] = str(sqlite_path(url).resolve())
        return {"store": store, "broker": None if self.consumer is None else self.consumer.health()}

    def degraded(self) -> bool:
        """Whether Redis or the broker is out of reach (clients stay, updates wait)."""
        return any(
            part is not None and not part.connected for part in (self.replica, self.consumer)
        )

    async def _tick_every(self, feed: str, interval: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            # Fixed cadence without drift: a tick that is late by a little is caught up
            # at once (short intervals outrun the timer's resolution), but after a long
            # stall (a suspended laptop) the missed ticks are skipped, not fired in a burst.
            deadline += interval
            late = loop.time() - deadline
            if late > MAX_CATCH_UP:
                deadline += late
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            try:
                self.tick(feed)
            except Exception:
                log.exception("%s feed tick failed; next tick in %.1f s", feed, interval)
