"""Turns a feed's messages into buffer rows, in order, without duplicates — pure.

Feeds that number their broadcasts (``seq`` within an ``epoch``) can be resumed:
after a reconnection the sequencer asks for ``RESUME`` and holds every broadcast
until the server's ``RESUMED`` (replay complete) or ``SNAPSHOT`` (replay impossible)
arrives, then releases them sorted and de-duplicated, so the buffer has no holes
and no repeats. If the feed refuses or never answers the ``RESUME`` (an ``ERROR``,
or too many messages held), what was held is released as a resync. Feeds without
positions (the lesson's Node servers, any JSON feed) pass straight through.
"""

from __future__ import annotations

from typing import Any

from .buffer import Row, flatten

__all__ = ["MAX_HELD", "Sequencer"]

Message = dict[str, Any]

MAX_HELD = 10_000  # broadcasts held while waiting for the end of a replay

# Replies meant for the client itself; they are not data.
_CONTROL = frozenset({"PONG", "SUBSCRIBED", "UNSUBSCRIBED", "RESUMED", "ERROR"})
# Messages with a ``seq`` that state a position rather than carry a new broadcast.
_POSITION_ONLY = frozenset({"WELCOME", "INITIAL_STATE", "SNAPSHOT"})


def _seq(message: Message) -> int | None:
    value = message.get("seq")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _epoch(message: Message) -> str | None:
    value = message.get("epoch")
    return value if isinstance(value, str) else None


class Sequencer:
    """One feed's position, gap and resync bookkeeping across connections."""

    def __init__(self, *, subscriptions: tuple[str, ...] = ()) -> None:
        self.subscriptions = subscriptions
        self.epoch: str | None = None
        self.seq: int | None = None
        self.gaps = 0
        self.resyncs = 0
        self.server_error: str | None = None
        # While a RESUME runs: broadcasts held, the greeting's state set aside, and
        # the position the greeting announced (used if the resume fails).
        self._held: list[tuple[int, Row]] | None = None
        self._greeting: list[Row] = []
        self._announced: tuple[str | None, int | None] = (None, None)

    def disconnected(self) -> None:
        """The connection ended: a resume in progress is abandoned (retried on reconnect)."""
        self._held = None
        self._greeting = []

    def receive(self, message: Message, received: float) -> tuple[list[Row], list[Message]]:
        """Rows to append for ``message`` and replies to send, in order."""
        kind = message.get("type")
        row = flatten(message)
        row["received"] = received
        if kind == "WELCOME":
            self.server_error = None
            return [row], self._welcome(message)
        if kind == "ERROR":
            self.server_error = f"server error {message.get('code')}: {message.get('message')}"
            return (self._give_up() if self._held is not None else []), []
        if self._held is not None:
            return self._resuming(kind, message, row), []
        if kind in _CONTROL:
            return [], []
        seq = _seq(message)
        if seq is not None and kind not in _POSITION_ONLY and self.seq is not None:
            if seq <= self.seq:
                return [], []  # already held
            if seq > self.seq + 1 and not self.subscriptions:
                self.gaps += 1  # subscribers skip other tours' seqs by design
        if seq is not None and kind != "INITIAL_STATE":
            self.seq = seq
        return [row], []

    def _welcome(self, welcome: Message) -> list[Message]:
        replies: list[Message] = [
            {"type": "SUBSCRIBE", "tourId": tour} for tour in self.subscriptions
        ]
        epoch, seq = _epoch(welcome), _seq(welcome)
        if epoch is None or seq is None:
            self.epoch = self.seq = None  # a feed without positions: nothing to resume
        elif self.epoch is not None and self.seq is not None:
            replies.append({"type": "RESUME", "epoch": self.epoch, "seq": self.seq})
            self._held, self._greeting, self._announced = [], [], (epoch, seq)
        else:
            self.epoch, self.seq = epoch, seq
        return replies

    def _resuming(self, kind: Any, message: Message, row: Row) -> list[Row]:
        assert self._held is not None
        assert self.seq is not None
        seq = _seq(message)
        if kind == "RESUMED" and seq is not None and _epoch(message) is not None:
            fresh = {s: r for s, r in self._held if s > self.seq}
            self._held, self._greeting = None, []
            self.epoch, self.seq = _epoch(message), max([seq, *fresh])
            return [fresh[s] for s in sorted(fresh)]
        if kind == "SNAPSHOT" and seq is not None:
            released = [r for _, r in sorted(self._held, key=lambda item: item[0])]
            self._held, self._greeting = None, []
            self.resyncs += 1
            self.epoch, self.seq = _epoch(message), seq
            return [*released, row]  # the fresh INITIAL_STATEs follow as usual
        if kind in ("RESUMED", "SNAPSHOT"):
            return self._give_up()  # malformed: carry on without the replay
        if kind == "INITIAL_STATE":
            self._greeting.append(row)  # superseded by the replay, unless it fails
        elif seq is not None and kind not in _POSITION_ONLY:
            self._held.append((seq, row))
            if len(self._held) > MAX_HELD:
                return self._give_up()
        return []

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
