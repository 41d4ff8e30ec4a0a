"""One heartbeat for the whole server, its pings riding on the broadcasts.

Every ``interval`` a sweep starts a ping round that asks every open connection for a
pong, without a task, a future or a timer per client: with thousands of clients,
websockets' per-connection keepalive costs more than the broadcasts.

Rather than a write of its own, each connection's ping goes out in the same write as
the next broadcast it receives; those that receive none within the round's window
get it on its own then. That saves a system call per client per round; the rest of
the heartbeat's cost is reading the pongs, one read per client per round (both are
measured in docs/benchmarks.md, fan-out).

A client has answered once its latest pong carries this round's payload, or a later
one: nothing per client but that payload, and no future or timer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable

from websockets.protocol import State

from .connection import Connection
from .frames import fan_out, ping_frame, write

__all__ = ["Heartbeat", "PingRound"]

log = logging.getLogger("tourpanel.server")


class PingRound:
    """The ping of one sweep: owed by ``conns`` until written, then awaited."""

    def __init__(self, sweep: int, conns: Iterable[Connection]) -> None:
        self.payload = sweep.to_bytes(8, "big")  # later rounds compare greater
        self.frame = ping_frame(self.payload)
        self.owed = set(conns)
        self.sent: list[Connection] = []

    def deliver(self, conns: Iterable[Connection], frame: bytes) -> None:
        """Write a broadcast ``frame`` to ``conns``, with the ping for those who owe it."""
        owed = self.owed
        if not owed:
            fan_out(conns, frame)
            return
        with_ping = frame + self.frame
        for conn in conns:
            if conn in owed:
                owed.remove(conn)
                self.sent.append(conn)
                write(conn, with_ping)
            else:
                write(conn, frame)

    def flush(self) -> None:
        """Ping on its own every connection no broadcast reached during the window."""
        for conn in self.owed:
            self.sent.append(conn)
            write(conn, self.frame)
        self.owed.clear()

    def silent(self) -> list[Connection]:
        """The connections pinged in this round that have not answered yet."""
        return [conn for conn in self.sent if conn.last_pong < self.payload]


class Heartbeat:
    """Ping ``connections`` every ``interval``; cut off those silent for ``timeout``.

    ``broadcast_every`` is the longest broadcast period of the server: pings wait at
    most that long (and at most half the interval) for a broadcast to ride on.

    Like the lesson's ``ws.terminate()``, a dead peer is aborted at once rather than
    sent a closing handshake it will never answer, so it leaves every subscription
    within interval + window + timeout. (A client that does not read is dropped
    sooner, at the write that passes its output bound: see server.connection.)
    """

    def __init__(
        self,
        connections: Collection[Connection],
        *,
        interval: float,
        timeout: float | None,
        broadcast_every: float,
    ) -> None:
        self.connections = connections
        self.interval = interval
        self.timeout = timeout
        self.window = min(broadcast_every, interval / 2)
        self.round: PingRound | None = None  # the round whose window is open

    def deliver(self, conns: Iterable[Connection], frame: bytes) -> None:
        """Write a broadcast ``frame`` to ``conns``, carrying the pings that are due."""
        if self.round is not None:
            self.round.deliver(conns, frame)
        else:
            fan_out(conns, frame)

    async def run(self) -> None:
        """Sweep until cancelled."""
        loop = asyncio.get_running_loop()
        sweep, next_sweep = 0, loop.time() + self.interval
        while True:
            await asyncio.sleep(max(0.0, next_sweep - loop.time()))
            next_sweep += self.interval
            sweep += 1
            conns = [c for c in self.connections if c.state is State.OPEN]
            self.round = ping_round = PingRound(sweep, conns)
            try:
                await asyncio.sleep(self.window)
            finally:
                self.round = None
                ping_round.flush()
            timeout = self.timeout
            if timeout is not None:  # checked on its own, so sweeps keep their cadence
                loop.call_later(timeout, _drop_silent, ping_round, timeout)


def _drop_silent(ping_round: PingRound, timeout: float) -> None:
    for conn in ping_round.silent():
        if conn.state is not State.CLOSED:
            log.warning(
                "client %s did not answer a ping within %.1f s; dropping it", conn.peer, timeout
            )
            conn.transport.abort()
