"""Turns a feed's messages into buffer rows, in order, without duplicates — pure.

Feeds that number their broadcasts (``seq`` within an ``epoch``) can be resumed:
after a reconnection the sequencer asks for ``RESUME`` and holds every broadcast
until the server's ``RESUMED`` (replay complete) or ``SNAPSHOT`` (replay impossible)
arrives, then releases them sorted and de-duplicated, so the buffer has no holes
and no repeats. If the feed refuses or never answers the ``RESUME`` (an ``ERROR``,
or too many messages held), what was held is released as a resync. Feeds without
positions (the lesson's Node servers, any JSON feed) pass straight through.

Nothing is dropped without being counted: a repeated broadcast counts as a
duplicate, and a feed whose position jumps back or to another epoch in the middle
of a connection is followed as a resync.
"""

from __future__ import annotations

from typing import Any

from . import protocol as p
from .buffer import Row, flatten
from .protocol import Kind

__all__ = ["MAX_HELD", "Sequencer"]

Payload = dict[str, Any]

MAX_HELD = 10_000  # broadcasts held while waiting for the end of a replay

# Replies meant for the client itself; they are not data.
_CONTROL = frozenset({Kind.PONG, Kind.SUBSCRIBED, Kind.UNSUBSCRIBED, Kind.RESUMED, Kind.ERROR})
# Messages with a ``seq`` that state a position rather than carry a new broadcast.
_POSITION_ONLY = frozenset({Kind.WELCOME, Kind.INITIAL_STATE, Kind.SNAPSHOT})


def _seq(payload: Payload) -> int | None:
    value = payload.get("seq")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _epoch(payload: Payload) -> str | None:
    value = payload.get("epoch")
    return value if isinstance(value, str) else None


class Sequencer:
    """One feed's position, gap and resync bookkeeping across connections."""

    def __init__(self, *, subscriptions: tuple[str, ...] = ()) -> None:
        self.subscriptions = subscriptions
        self.epoch: str | None = None
        self.seq: int | None = None
        self.gaps = 0
        self.resyncs = 0
        self.duplicates = 0
        self.server_error: str | None = None
        # While a RESUME runs: broadcasts held, the greeting's state set aside, and
        # the position the greeting announced (used if the resume fails).
        self._held: list[tuple[int, Row]] | None = None
        self._greeting: list[Row] = []
        self._announced: tuple[str | None, int | None] = (None, None)

    def disconnected(self) -> None:
        """The connection ended: a resume in progress is abandoned (retried on reconnect)."""
        if self._held is not None:
            self._held, self._greeting = None, []

    def receive(self, payload: Payload, received: float) -> tuple[list[Row], list[p.Message]]:
        """Rows to append for ``payload`` and replies to send, in order."""
        kind = p.known_kind(payload)
        row = flatten(payload)
        row["received"] = received
        if kind is Kind.WELCOME:
            self.server_error = None
            return [row], self._welcome(payload)
        if kind is Kind.ERROR:
            self.server_error = f"server error {payload.get('code')}: {payload.get('message')}"
            return (self._give_up() if self._held is not None else []), []
        if self._held is not None:
            return self._resuming(kind, payload, row), []
        if kind in _CONTROL:
            return [], []
        return self._live(kind, payload, row), []

    def _live(self, kind: Kind | None, payload: Payload, row: Row) -> list[Row]:
        seq = _seq(payload)
        if seq is None:
            return [row]
        if kind in _POSITION_ONLY:
            if kind is not Kind.INITIAL_STATE:
                self.seq = seq
            return [row]
        epoch = _epoch(payload)
        if self.seq is not None:
            if epoch is not None and self.epoch is not None and epoch != self.epoch:
                self.resyncs += 1  # the feed restarted under us: follow its new history
                self.epoch = epoch
            elif seq == self.seq:
                self.duplicates += 1
                return []
            elif seq < self.seq:
                self.resyncs += 1  # the feed went back: follow it rather than drop the rest
            elif seq > self.seq + 1 and not self.subscriptions:
                self.gaps += 1  # subscribers skip other tours' seqs by design
        self.seq = seq
        return [row]

    def _welcome(self, welcome: Payload) -> list[p.Message]:
        replies: list[p.Message] = [p.Subscribe(tour_id=tour) for tour in self.subscriptions]
        epoch, seq = _epoch(welcome), _seq(welcome)
        if epoch is None or seq is None:
            self.epoch = self.seq = None  # a feed without positions: nothing to resume
        elif self.epoch is not None and self.seq is not None:
            replies.append(p.Resume(epoch=self.epoch, seq=self.seq))
            self._held, self._greeting, self._announced = [], [], (epoch, seq)
        else:
            self.epoch, self.seq = epoch, seq
        return replies

    def _resuming(self, kind: Kind | None, payload: Payload, row: Row) -> list[Row]:
        assert self._held is not None
        assert self.seq is not None
        if kind is Kind.RESUMED or kind is Kind.SNAPSHOT:
            done = p.typed(payload)
            if isinstance(done, p.Resumed):
                fresh = {s: r for s, r in self._held if s > self.seq}
                self._held, self._greeting = None, []
                self.epoch, self.seq = done.epoch, max([done.seq, *fresh])
                return [fresh[s] for s in sorted(fresh)]
            if isinstance(done, p.Snapshot):
                released = [r for _, r in sorted(self._held, key=lambda item: item[0])]
                self._held, self._greeting = None, []
                self.resyncs += 1
                self.epoch, self.seq = done.epoch, done.seq
                return [*released, row]  # the fresh INITIAL_STATEs follow as usual
            return self._give_up()  # malformed: carry on without the replay
        if kind is Kind.INITIAL_STATE:
            self._greeting.append(row)  # superseded by the replay, unless it fails
            return []
        if kind in _CONTROL:
            return []
        seq = _seq(payload)
        if seq is None:
            return [row]  # data without a position is no part of the replay
        self._held.append((seq, row))
        return self._give_up() if len(self._held) > MAX_HELD else []

    def _give_up(self) -> list[Row]:
        """The resume failed: keep the greeting's state and what arrived, as a resync."""
        assert self._held is not None
        held = sorted(self._held, key=lambda item: item[0])
        rows = [*self._greeting, *(r for _, r in held)]
        epoch, seq = self._announced
        self.epoch = epoch
        self.seq = max([s for s in (seq, *(s for s, _ in held)) if s is not None], default=None)
        self._held, self._greeting = None, []
        self.resyncs += 1
        return rows
