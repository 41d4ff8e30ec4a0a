"""The two feeds of the lesson as sans-I/O state machines.

A feed decides *what* to send and *to whom*; the transport only writes. Connections
are opaque keys here, time comes from an injected clock and randomness from an
injected generator, so every rule of the protocol is testable without a socket.

Each broadcast is encoded once and recorded with its ``seq`` in the store; the
same text is what every recipient gets, live or replayed after ``RESUME``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from tourpanel import protocol as p
from tourpanel.protocol import DEFAULT_TOURS, Tour

from .registry import Registry
from .sim import draw_number, sell_seats
from .store import Entry, Store

__all__ = ["Delivery", "Feed", "RandomFeed", "TourFeed"]

C = TypeVar("C", bound=Hashable)

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Delivery(Generic[C]):
    """One encoded broadcast and the connections it goes to."""

    recipients: Iterable[C]
    text: str


class Feed(Generic[C]):
    """What both feeds share: greeting, client requests, history and resume."""

    name: str = ""
    welcome_text: str = ""

    def __init__(
        self,
        *,
        store: Store,
        rng: random.Random,
        clock: Clock = time.time,
        max_subscriptions: int = 100,
    ) -> None:
        self.store = store
        self.rng = rng
        self.clock = clock
        self.max_subscriptions = max_subscriptions
        self.registry: Registry[C] = Registry()
        # Topics a client's token limits it to; absent: no limit.
        self.allowed: dict[C, frozenset[str]] = {}

    # -- connections ---------------------------------------------------------------

    def connect(self, conn: C, *, tours: Iterable[str] | None = None) -> list[str]:
        """Register ``conn``; returns what to send it first (``WELCOME``, then state).

        ``tours`` (a token's claim) limits what it receives and may subscribe to.
        """
        self.registry.add(conn)
        if tours is not None:
            self._restrict(conn, frozenset(tours))
        stamp = self._now()
        welcome = p.Welcome(
            message=self.welcome_text,
            timestamp=stamp,
            feed=self.name,
            epoch=self.store.epoch,
            seq=self.store.last_seq,
        )
        return [p.encode(welcome), *self.state(stamp, conn)]

    def disconnect(self, conn: C) -> None:
        """Forget ``conn`` and all its subscriptions."""
        self.registry.remove(conn)
        self.allowed.pop(conn, None)

    def handle(self, conn: C, data: str | bytes, *, replay: bool = True) -> list[str]:
        """Answer one client message; invalid input gets an ``ERROR``, never an exception.

        ``replay=False`` while an earlier replay is still being sent: ``RESUME`` waits.
        """
        try:
            if isinstance(data, bytes):
                raise p.ProtocolError(
                    p.ErrorCode.BAD_MESSAGE,
                    "binary frames are not accepted; send JSON as a text message",
                )
            message = p.decode_client(data)
            if isinstance(message, p.Resume) and not replay:
                raise p.ProtocolError(
                    p.ErrorCode.RATE_LIMITED,
                    "an earlier replay is still being sent; RESUME once it has arrived",
                )
            return self._answer(conn, message)
        except p.ProtocolError as exc:
            return [self.error(exc.code, exc.message)]

    def error(self, code: p.ErrorCode, message: str) -> str:
        return p.encode(p.Error(code=code.value, message=message, timestamp=self._now()))

    # -- broadcasts ----------------------------------------------------------------

    def tick(self) -> list[Delivery[C]]:
        """Advance the simulation one step; returns the broadcasts to deliver."""
        raise NotImplementedError

    def state(self, stamp: str, conn: C | None = None) -> list[str]:
        """Messages that bring ``conn`` up to date (empty for a stateless feed)."""
        return []

    def _restrict(self, conn: C, topics: frozenset[str]) -> None:
        """Limit ``conn`` to ``topics`` (a feed without topics has nothing to limit)."""

    def health(self) -> dict[str, Any]:
        return {
            "connections": len(self.registry),
            "epoch": self.store.epoch,
            "seq": self.store.last_seq,
        }

    def _record(self, topic: str | None, message: p.Message) -> Delivery[C]:
        """Number ``message`` with the next ``seq``, encode it once and keep it."""
        seq = self.store.last_seq + 1
        text = p.encode(replace(message, seq=seq))  # type: ignore[call-arg]
        self.store.append(Entry(seq, topic, text))
        return Delivery(self.registry.recipients(topic), text)

    # -- client requests -----------------------------------------------------------

    def _answer(self, conn: C, message: p.ClientMessage) -> list[str]:
        if isinstance(message, p.Ping):
            return [p.encode(p.Pong(timestamp=self._now()))]
        if isinstance(message, p.Resume):
            return self._resume(conn, message)
        raise p.ProtocolError(
            p.ErrorCode.UNSUPPORTED,
            f"the {self.name} feed has no tours to {message.KIND.value.lower()}; "
            "connect to the tours feed for that",
        )

    def _resume(self, conn: C, request: p.Resume) -> list[str]:
        epoch, last = self.store.epoch, self.store.last_seq
        entries = self.store.since(request.seq) if request.epoch == epoch else None
        if entries is not None:
            texts = [e.text for e in entries if self.registry.wants(conn, e.topic)]
            done = p.Resumed(epoch=epoch, seq=last, replayed=len(texts))
            return [*texts, p.encode(done)]
        if request.epoch != epoch:
            reason = "epoch_changed"
        elif request.seq > last:
            reason = "ahead"
        else:
            reason = "too_old"
        stamp = self._now()
        snapshot = p.Snapshot(epoch=epoch, seq=last, reason=reason, timestamp=stamp)
        return [p.encode(snapshot), *self.state(stamp, conn)]

    def _now(self) -> str:
        return p.format_timestamp(self.clock())


class RandomFeed(Feed[C]):
    """Exercise 1: a number from 1 to 100 for everyone, every tick."""

    name = "random"
    welcome_text = "Bienvenue sur le serveur de nombres aléatoires!"

    def tick(self) -> list[Delivery[C]]:
        number = p.RandomNumber(
            value=draw_number(self.rng), timestamp=self._now(), epoch=self.store.epoch
        )
        return [self._record(None, number)]


class TourFeed(Feed[C]):
    """Exercise 3: seats of three tours, one random sale per tick, with subscriptions."""

    name = "tours"
    welcome_text = "Connecté au serveur de disponibilité des tours"

    def __init__(
        self,
        *,
        store: Store,
        rng: random.Random,
        clock: Clock = time.time,
        max_subscriptions: int = 100,
        tours: tuple[Tour, ...] = DEFAULT_TOURS,
    ) -> None:
        super().__init__(store=store, rng=rng, clock=clock, max_subscriptions=max_subscriptions)
        self.tours = tours
        self._by_id = {tour.id: tour for tour in tours}
        held = store.seats()
        for tour in tours:
            if tour.id not in held:
                store.set_seats(tour.id, tour.capacity)

    def state(self, stamp: str, conn: C | None = None) -> list[str]:
        seats, epoch, seq = self.store.seats(), self.store.epoch, self.store.last_seq
        allowed = None if conn is None else self.allowed.get(conn)
        return [
            p.encode(
                p.InitialState(
                    tour_id=tour.id,
                    tour_name=tour.name,
                    available_seats=seats[tour.id],
                    timestamp=stamp,
                    seq=seq,
                    epoch=epoch,
                )
            )
            for tour in self.tours
            if allowed is None or tour.id in allowed
        ]

    def _restrict(self, conn: C, topics: frozenset[str]) -> None:
        allowed = topics.intersection(self._by_id)
        self.allowed[conn] = allowed
        self.registry.restrict(conn, self._ordered(allowed))

    def health(self) -> dict[str, Any]:
        return {**super().health(), "subscribers": self.registry.topic_counts()}

    def tick(self) -> list[Delivery[C]]:
        stamp, epoch = self._now(), self.store.epoch
        deliveries = []
        for change in sell_seats(self.rng, self.store.seats(), self.tours):
            self.store.set_seats(change.tour_id, change.seats)
            update = p.AvailabilityUpdate(
                tour_id=change.tour_id,
                tour_name=self._by_id[change.tour_id].name,
                available_seats=change.seats,
                timestamp=stamp,
                epoch=epoch,
                reset=True if change.reset else None,
            )
            deliveries.append(self._record(change.tour_id, update))
        return deliveries

    def _answer(self, conn: C, message: p.ClientMessage) -> list[str]:
        if isinstance(message, p.Subscribe | p.Unsubscribe):
            if message.tour_id not in self._by_id:
                known = ", ".join(self._by_id)
                raise p.ProtocolError(
                    p.ErrorCode.UNKNOWN_TOUR,
                    f"unknown tour {message.tour_id!r}; known tours: {known}",
                )
            allowed = self.allowed.get(conn)
            if allowed is not None and message.tour_id not in allowed:
                raise p.ProtocolError(
                    p.ErrorCode.FORBIDDEN,
                    f"this connection's token does not allow tour {message.tour_id!r}",
                )
            if isinstance(message, p.Subscribe):
                held_now = self.registry.subscriptions(conn) or frozenset()
                if message.tour_id not in held_now and len(held_now) >= self.max_subscriptions:
                    raise p.ProtocolError(
                        p.ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                        f"at most {self.max_subscriptions} subscriptions per connection; "
                        "UNSUBSCRIBE from one first",
                    )
                held = self.registry.subscribe(conn, message.tour_id)
                reply: p.Message = p.Subscribed(
                    tour_id=message.tour_id, tour_ids=self._ordered(held)
                )
            else:
                universe = self._by_id if allowed is None else self._ordered(allowed)
                held = self.registry.unsubscribe(conn, message.tour_id, universe=universe)
                reply = p.Unsubscribed(tour_id=message.tour_id, tour_ids=self._ordered(held))
            return [p.encode(reply)]
        return super()._answer(conn, message)

    def _ordered(self, tour_ids: frozenset[str]) -> tuple[str, ...]:
        return tuple(tour.id for tour in self.tours if tour.id in tour_ids)
