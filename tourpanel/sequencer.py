"""Turns a feed's messages into buffer rows, in order, without duplicates — pure.

Feeds that number their broadcasts (``seq`` within an ``epoch``) can be resumed:
after a reconnection the sequencer asks for ``RESUME`` and holds every broadcast
until the server's ``RESUMED`` (replay complete) or ``SNAPSHOT`` (replay impossible)
arrives, then releases them sorted and de-duplicated, so the buffer has no holes
and no repeats. Feeds without positions (the lesson's Node servers, any JSON feed)
pass straight through.
"""

from __future__ import annotations

from typing import Any

from .buffer import Row, flatten

__all__ = ["Sequencer"]

Message = dict[str, Any]

# Replies meant for the client itself; they are not data.
_CONTROL = frozenset({"PONG", "SUBSCRIBED", "UNSUBSCRIBED", "RESUMED", "ERROR"})
# Messages with a ``seq`` that state a position rather than carry a new broadcast.
_POSITION_ONLY = frozenset({"WELCOME", "INITIAL_STATE", "SNAPSHOT"})


class Sequencer:
    """One feed's position, gap and resync bookkeeping across connections."""

    def __init__(self, *, subscriptions: tuple[str, ...] = ()) -> None:
        self.subscriptions = subscriptions
        self.epoch: str | None = None
        self.seq: int | None = None
        self.gaps = 0
        self.resyncs = 0
        self.server_error: str | None = None
        self._pending: list[Row] | None = None  # broadcasts held while a RESUME runs

    def disconnected(self) -> None:
        """The connection ended: a resume in progress is abandoned (retried on reconnect)."""
        self._pending = None

    def receive(self, message: Message, received: float) -> tuple[list[Row], list[Message]]:
        """Rows to append for ``message`` and replies to send, in order."""
        kind = message.get("type")
        row = flatten(message)
        row["received"] = received
        if kind == "WELCOME":
            return [row], self._welcome(message)
        if kind == "ERROR":
            self.server_error = f"server error {message.get('code')}: {message.get('message')}"
            return [], []
        if self._pending is not None:
            return self._resuming(kind, message, row), []
        if kind in _CONTROL:
            return [], []
        seq = message.get("seq")
        if isinstance(seq, int) and kind not in _POSITION_ONLY and self.seq is not None:
            if seq <= self.seq:
                return [], []  # already held
            if seq > self.seq + 1 and not self.subscriptions:
                self.gaps += 1  # subscribers skip other tours' seqs by design
        if isinstance(seq, int) and kind != "INITIAL_STATE":
            self.seq = seq
        return [row], []

    def _welcome(self, welcome: Message) -> list[Message]:
        replies: list[Message] = [
            {"type": "SUBSCRIBE", "tourId": tour} for tour in self.subscriptions
        ]
        epoch, seq = welcome.get("epoch"), welcome.get("seq")
        if not isinstance(epoch, str) or not isinstance(seq, int):
            self.epoch = self.seq = None  # a feed without positions: nothing to resume
        elif self.epoch is not None and self.seq is not None:
            replies.append({"type": "RESUME", "epoch": self.epoch, "seq": self.seq})
            self._pending = []
        else:
            self.epoch, self.seq = epoch, seq
        return replies

    def _resuming(self, kind: Any, message: Message, row: Row) -> list[Row]:
        assert self._pending is not None
        assert self.seq is not None
        if kind == "RESUMED":
            fresh = {r["seq"]: r for r in self._pending if r["seq"] > self.seq}
            self._pending = None
            self.epoch = message.get("epoch", self.epoch)
            self.seq = max([message.get("seq", self.seq), *fresh])
            return [fresh[s] for s in sorted(fresh)]
        if kind == "SNAPSHOT":
            held = sorted(self._pending, key=lambda r: r["seq"])
            self._pending = None
            self.resyncs += 1
            self.epoch, self.seq = message.get("epoch"), message.get("seq")
            return [*held, row]  # the fresh INITIAL_STATEs follow as usual
        if isinstance(message.get("seq"), int) and kind not in _POSITION_ONLY:
            self._pending.append(row)
        # INITIAL_STATE of the greeting: the replay brings the same state, in order.
        return []
