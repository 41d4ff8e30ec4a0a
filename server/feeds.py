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
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tourpanel import protocol as p
from tourpanel.protocol import DEFAULT_TOURS, Tour

from .ops import Draw, Op, Record, Rejected, SeatOp, apply
from .registry import Registry
from .sim import draw_number, draw_sale
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
    tours: tuple[Tour, ...] = ()  # what the seat operations apply to (none: no seats)

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
        return self.commit(self.propose())

    def propose(self) -> list[Op]:
        """The simulation's next step, not yet applied."""
        raise NotImplementedError

    def changes(self, op: Op, seats: dict[str, int]) -> list[tuple[str | None, int, bool]]:
        """``(topic, value, reset)`` of each broadcast ``op`` makes; raises :class:`Rejected`."""
        raise NotImplementedError

    def render(self, record: Record) -> str:
        """The one encoding of ``record`` that every client, live or replayed, receives."""
        raise NotImplementedError

    def commit(self, ops: list[Op], *, event_id: str | None = None) -> list[Delivery[C]]:
        """Apply ``ops`` to the store, all or none, and return the broadcasts to deliver.

        Each broadcast is numbered, encoded once and written before it is returned.
        """
        stamp, seats, seq = self._now(), self.store.seats(), self.store.last_seq
        records = []
        for op in ops:
            for topic, value, reset in self.changes(op, seats):
                seq += 1
                records.append(Record(seq, topic, value, stamp, reset))
                if topic is not None:
                    seats[topic] = value
        return self.keep(records, event_id=event_id)

    def keep(self, records: list[Record], *, event_id: str | None = None) -> list[Delivery[C]]:
        """Encode ``records`` once, store them, and return them to deliver.

        :meth:`commit` numbers them here; with Redis they were committed elsewhere.
        """
        entries = [Entry(r.seq, r.topic, self.render(r)) for r in records]
        changed = {r.topic: r.value for r in records if r.topic is not None}
        self.store.record(entries, changed, event_id=event_id)
        return [Delivery(self.registry.recipients(e.topic), e.text) for e in entries]

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

    def propose(self) -> list[Op]:
        return [Draw(draw_number(self.rng))]

    def changes(self, op: Op, seats: dict[str, int]) -> list[tuple[str | None, int, bool]]:
        if not isinstance(op, Draw):
            raise Rejected("unsupported", "the random feed has no seats to change")
        return [(None, op.value, False)]

    def render(self, record: Record) -> str:
        return p.encode(
            p.RandomNumber(
                value=record.value, timestamp=record.stamp, epoch=self.store.epoch, seq=record.seq
            )
        )


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

    def propose(self) -> list[Op]:
        return [draw_sale(self.rng, self.tours)]

    def changes(self, op: Op, seats: dict[str, int]) -> list[tuple[str | None, int, bool]]:
        if isinstance(op, Draw):
            raise Rejected("unsupported", "the tours feed draws no numbers")
        seat_op: SeatOp = op
        return [(c.tour_id, c.seats, c.reset) for c in apply(seat_op, seats, self.tours)]

    def render(self, record: Record) -> str:
        assert record.topic is not None, "every tour update names its tour"
        return p.encode(
            p.AvailabilityUpdate(
                tour_id=record.topic,
                tour_name=self._by_id[record.topic].name,
                available_seats=record.value,
                timestamp=record.stamp,
                epoch=self.store.epoch,
                seq=record.seq,
                reset=True if record.reset else None,
            )
        )

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
