"""Fan-out: N WebSocket clients on loopback against one feed server.

Measures, for each target: delivery latency (client receive time − the message's
server timestamp, p50/p99), the server's CPU time per delivered message, and its
resident memory per connection. Targets are started by this script from a command
line, so the same run measures ``tourpanel-server`` and the lesson's Node server:

    python -m benchmarks.fanout --clients 5000 --duration 60 \\
        --target "python|tourpanel-server tours --host 127.0.0.1 --port {port}" \\
        --target "node|../shared/tools/seed-node-server tours {port}"

Both broadcast every 5 s by default (the lesson's rate); ``--target`` commands may
set another interval. The first target is the reference for the printed ratios.
``tourpanel-server`` holds 100 connections per client address by default: pass it
``--max-connections-per-ip`` above ``--clients``. A command with ``{secret}`` gets a
fresh HS256 secret there (``--jwt-secret {secret}``), and its clients a token signed
with it (``Authorization: Bearer``). Refused handshakes are counted by HTTP status.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import secrets
import shlex
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime

import jwt

from .procstat import cpu_seconds, percentile, ratio, rss_bytes

BROADCASTS = (b'{"type":"AVAILABILITY_UPDATE"', b'{"type":"RANDOM_NUMBER"')
TIMESTAMP = b'"timestamp":"'
TEXT, PING, PONG = 0x1, 0x9, 0xA
PONG_DELAY = 0.5  # seconds
HANDSHAKE = (
    "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "{headers}\r\n"
)
TOKEN_TTL = 3600  # seconds: longer than any run


def upgrade_request(host: str, token: str | None = None) -> bytes:
    """The opening handshake every client sends, built once; ``token`` as a Bearer header."""
    headers = "" if token is None else f"Authorization: Bearer {token}\r\n"
    return HANDSHAKE.format(host=host, headers=headers).encode()


def secret_for(command: str) -> str | None:
    """A fresh HS256 secret when ``command`` asks for one with ``{secret}``, else ``None``."""
    return secrets.token_urlsafe(32) if "{secret}" in command else None


def token_for(secret: str | None, *, sub: str = "bench") -> str | None:
    """A token the target accepts (``None`` for a target without a secret)."""
    if secret is None:
        return None
    claims = {"sub": sub, "exp": int(time.time()) + TOKEN_TTL}
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass
class Result:
    target: str
    clients: int
    connected: int
    delivered: int
    p50_ms: float
    p99_ms: float
    cpu_us_per_message: float
    rss_mb_idle: float
    rss_kb_per_connection: float
    refused: dict[str, int] = field(default_factory=dict)  # HTTP status → handshakes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"target exited with {proc.returncode} before listening")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.2)
    raise TimeoutError(f"nothing listened on port {port} within {timeout} s")


class Tally:
    """What every client of one run shares: connections opened, latencies, pongs owed."""

    def __init__(self) -> None:
        self.opened = 0
        self.refused: Counter[str] = Counter()
        self.counting = False
        self.latencies: list[float] = []
        self.pongs: list[tuple[asyncio.Transport, bytes]] = []

    def owe_pong(self, transport: asyncio.Transport, payload: bytes) -> None:
        """Answer a ping later, together with the others of the same round.

        Real clients answer on their own machines; answering here at once would hold
        up every delivery still to be timed by this process's pong work, and so would
        a timer per client. One timer sends them all half a second later, well in time.
        """
        if not self.pongs:
            asyncio.get_running_loop().call_later(PONG_DELAY, self._send_pongs)
        self.pongs.append((transport, payload))

    def _send_pongs(self) -> None:
        pongs, self.pongs = self.pongs, []
        for transport, payload in pongs:
            if not transport.is_closing():
                transport.write(pong(payload))


class LeanClient(asyncio.Protocol):
    """A WebSocket client cut down to what the measurement needs.

    One Python process plays every client, so whatever it spends on a message delays
    every later delivery it records; a full websockets client per connection cost more
    per message than the servers under test. This one parses frame headers, answers
    pings and reads the timestamp of broadcasts. It trusts the server: no validation,
    no fragmented messages, no closing handshake.
    """

    def __init__(self, tally: Tally, request: bytes) -> None:
        self.tally = tally
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        received = time.time()
        buffer = self.buffer + data if self.buffer else data
        at = 0
        if not self.open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self.tally.refused[buffer[9:12].decode(errors="replace")] += 1
                assert self.transport is not None
                self.transport.close()
                return
            self.open = True
            self.tally.opened += 1
            at = end + 4
        size = len(buffer)
        while size - at >= 2:
            opcode, length, head = buffer[at] & 0x0F, buffer[at + 1] & 0x7F, 2
            if length == 126:
                length, head = int.from_bytes(buffer[at + 2 : at + 4], "big"), 4
            elif length == 127:
                length, head = int.from_bytes(buffer[at + 2 : at + 10], "big"), 10
            end = at + head + length
            if end > size:
                break
            if opcode == PING:
                assert self.transport is not None
                self.tally.owe_pong(self.transport, buffer[at + head : end])
            elif opcode == TEXT and self.tally.counting:
                self.record(buffer[at + head : end], received)
            at = end
        self.buffer = buffer[at:]

    def record(self, payload: bytes, received: float) -> None:
        # Cheaper than json.loads: both servers write "type" first and a
        # 24-character "timestamp".
        if payload.startswith(BROADCASTS):
            at = payload.find(TIMESTAMP) + len(TIMESTAMP)
            sent = datetime.fromisoformat(payload[at : at + 24].decode()).timestamp()
            self.tally.latencies.append((received - sent) * 1000)


def pong(payload: bytes) -> bytes:
    """A client PONG frame; masked, as clients must, with a zero key (so the payload as is)."""
    return bytes([0x80 | PONG, 0x80 | len(payload)]) + bytes(4) + payload


async def measure(
    name: str, command: str, clients: int, duration: float, batch: int, warmup: float = 0.0
) -> Result:
    port = free_port()
    secret = secret_for(command)
    proc = subprocess.Popen(
        shlex.split(command.format(port=port, secret=secret)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    loop = asyncio.get_running_loop()
    tally = Tally()
    request = upgrade_request(f"127.0.0.1:{port}", token_for(secret))
    transports: list[asyncio.BaseTransport] = []

    async def open_one() -> None:
        transport, _ = await loop.create_connection(
            lambda: LeanClient(tally, request), "127.0.0.1", port
        )
        transports.append(transport)

    try:
        await wait_listening(port, proc)
        await asyncio.sleep(1)
        idle = rss_bytes(proc.pid)
        for start in range(0, clients, batch):
            await asyncio.gather(*(open_one() for _ in range(min(batch, clients - start))))
        deadline = time.monotonic() + 120
        while tally.opened + tally.refused.total() < clients and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        # Fresh connections deliver slower for a while, whatever the server: twice the
        # p50 for the first 30-45 s, on the lesson's server as on this one. Measuring
        # from the first broadcast penalised whichever target ran first.
        await asyncio.sleep(1 + warmup)
        # Thousands of client connections make a heap whose full garbage collections
        # take a few hundred milliseconds; they would stall every client at once and
        # show up as the server's latency. Nothing here needs collecting while measuring.
        gc.collect()
        gc.freeze()
        loaded = rss_bytes(proc.pid)
        cpu_before = cpu_seconds(proc.pid)
        tally.counting = True
        await asyncio.sleep(duration)
        tally.counting = False
        cpu = cpu_seconds(proc.pid) - cpu_before
        gc.unfreeze()
        latencies = tally.latencies
        delivered = len(latencies)
        return Result(
            target=name,
            clients=clients,
            connected=tally.opened,
            delivered=delivered,
            p50_ms=round(percentile(latencies, 50), 2),
            p99_ms=round(percentile(latencies, 99), 2),
            cpu_us_per_message=round(cpu / delivered * 1e6, 2) if delivered else float("nan"),
            rss_mb_idle=round(idle / 2**20, 1),
            rss_kb_per_connection=round((loaded - idle) / max(1, tally.opened) / 1024, 2),
            refused=dict(tally.refused),
        )
    finally:
        for transport in transports:
            transport.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fanout", description=__doc__)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=30, help="seconds measured")
    parser.add_argument("--batch", type=int, default=200, help="connections opened at once")
    parser.add_argument(
        "--warmup", type=float, default=60, help="seconds connected before measuring"
    )
    parser.add_argument(
        "--prime",
        type=float,
        default=10,
        help="seconds of a discarded pass against the first target, run before all others",
    )
    parser.add_argument(
        "--target",
        action="append",
        required=True,
        help="NAME|COMMAND with {port}; the server must serve the feed at ws://127.0.0.1:{port}",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per target")
    args = parser.parse_args(argv)
    if args.prime > 0:
        # The first pass of this process delivers slower than the next ones against
        # the very same server, warm-up or not (docs/benchmarks.md, fan-out, has the
        # figures). Whichever target came first paid for it; a pass thrown away puts
        # every target after the first.
        name, command = args.target[0].split("|", 1)
        asyncio.run(measure(name, command, args.clients, args.prime, args.batch))
    results = []
    for spec in args.target:
        name, command = spec.split("|", 1)
        result = asyncio.run(
            measure(name, command, args.clients, args.duration, args.batch, args.warmup)
        )
        results.append(result)
        print(json.dumps(asdict(result)) if args.json else _describe(result), flush=True)
    if len(results) > 1 and not args.json:
        first = results[0]
        for other in results[1:]:
            cpu = ratio(first.cpu_us_per_message, other.cpu_us_per_message)
            rss = ratio(first.rss_kb_per_connection, other.rss_kb_per_connection)
            p99 = ratio(first.p99_ms, other.p99_ms)
            print(
                f"{first.target}/{other.target}: cpu per message {cpu}, "
                f"rss per connection {rss}, p99 latency {p99}"
            )
    return 0


def _describe(r: Result) -> str:
    refused = ", ".join(f"{n} × HTTP {status}" for status, n in sorted(r.refused.items()))
    return (
        f"{r.target}: {r.connected}/{r.clients} clients, {r.delivered} messages delivered; "
        f"latency p50 {r.p50_ms} ms, p99 {r.p99_ms} ms; "
        f"cpu {r.cpu_us_per_message} µs/message; rss {r.rss_mb_idle} MB idle, "
        f"{r.rss_kb_per_connection} KB/connection" + (f"; REFUSED {refused}" if refused else "")
    )


if __name__ == "__main__":
    sys.exit(main())
