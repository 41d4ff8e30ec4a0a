"""Who receives what: connections and their tour subscriptions (lesson improvement 1).

A connection that never subscribed receives every broadcast, as in the lesson; once
it subscribes it receives only its tours. Each connection sits in exactly one place,
so a broadcast's recipients are found without building a set per message, and
removing a connection drops it from every subscription at once.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from itertools import chain
from typing import Generic, TypeVar

__all__ = ["Registry"]

C = TypeVar("C", bound=Hashable)


class Registry(Generic[C]):
    """Connections of one feed, indexed by what they subscribed to."""

    def __init__(self) -> None:
        self._everything: set[C] = set()
        self._by_topic: dict[str, set[C]] = {}
        self._topics: dict[C, set[str] | None] = {}

    def __len__(self) -> int:
        return len(self._topics)

    def add(self, conn: C) -> None:
        """Register a new connection, receiving everything until it subscribes."""
        if conn not in self._topics:
            self._topics[conn] = None
            self._everything.add(conn)

    def remove(self, conn: C) -> None:
        """Forget a connection and every subscription it held."""
        topics = self._topics.pop(conn, None)
        self._everything.discard(conn)
        for topic in topics or ():
            self._leave(conn, topic)

    def restrict(self, conn: C, topics: Iterable[str]) -> None:
        """Subscribe ``conn`` to exactly ``topics`` (none: it receives no topic's broadcast)."""
        for topic in self._topics[conn] or ():
            self._leave(conn, topic)
        self._topics[conn] = set()
        self._everything.discard(conn)
        for topic in topics:
            self.subscribe(conn, topic)

    def subscribe(self, conn: C, topic: str) -> frozenset[str]:
        """Add ``topic`` to the connection's subscriptions; returns them all."""
        topics = self._topics[conn]
        if topics is None:
            topics = self._topics[conn] = set()
            self._everything.discard(conn)
        topics.add(topic)
        self._by_topic.setdefault(topic, set()).add(conn)
        return frozenset(topics)

    def unsubscribe(self, conn: C, topic: str, *, universe: Iterable[str]) -> frozenset[str]:
        """Remove ``topic``; returns what the connection is still subscribed to.

        A connection receiving everything is first narrowed to every topic of
        ``universe``, so unsubscribing from one tour keeps the others coming.
        A connection left with no topic receives no tour broadcast.
        """
        if self._topics[conn] is None:
            for other in universe:
                self.subscribe(conn, other)
        topics = self._topics[conn]
        assert topics is not None
        if topic in topics:
            topics.discard(topic)
            self._leave(conn, topic)
        return frozenset(topics)

    def subscriptions(self, conn: C) -> frozenset[str] | None:
        """The connection's topics, or ``None`` when it receives everything."""
        topics = self._topics[conn]
        return None if topics is None else frozenset(topics)

    def recipients(self, topic: str | None) -> Iterable[C]:
        """Connections that should receive a broadcast about ``topic`` (``None``: all)."""
        if topic is None:
            return self._topics.keys()
        return chain(self._everything, self._by_topic.get(topic, ()))

    def topic_counts(self) -> dict[str, int]:
        """Subscribers per topic (connections receiving everything are not counted)."""
        return {topic: len(members) for topic, members in sorted(self._by_topic.items())}

    def wants(self, conn: C, topic: str | None) -> bool:
        """Whether ``conn`` should receive a message about ``topic``."""
        topics = self._topics.get(conn)
        return topic is None or topics is None or topic in topics

    def _leave(self, conn: C, topic: str) -> None:
        members = self._by_topic.get(topic)
        if members is not None:
            members.discard(conn)
            if not members:
                del self._by_topic[topic]
