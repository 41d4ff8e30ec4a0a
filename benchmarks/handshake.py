"""Handshakes: how fast a feed server lets new clients in, with a token and without.

N client loops on loopback, each opening a WebSocket again and again: it sends a
pre-built upgrade request, reads until the first message (``WELCOME``) has come,
sends a close frame and waits for the server to close the connection. Measured for
a fixed duration after a warm-up: handshakes per second, the p50/p99 time from
``connect()`` to the first message, and the server's CPU time per handshake.

    python -m benchmarks.handshake --concurrency 32 --duration 20 \\
        --target "python|tourpanel-server tours --host 127.0.0.1 --port {port}" \\
        --target "python-jwt|tourpanel-server tours --host 127.0.0.1 --port {port} \\
            --jwt-secret {secret}" \\
        --target "node|../shared/tools/seed-node-server tours {port}"

A command with ``{secret}`` gets a fresh HS256 secret there and its clients a valid
token (``Authorization: Bearer``); such a target then gets a second phase in which
every client sends a token signed with another secret, and the refusals (HTTP 401
expected) are counted the same way. Every answer is counted by HTTP status, so a
server that refuses for another reason (429: pass ``--max-connections-per-ip``)
shows it. The clients share one process, built to cost less per handshake than the
servers: raw asyncio protocols, no validation; its own CPU share is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from .fanout import free_port, secret_for, token_for, upgrade_request, wait_listening
from .procstat import cpu_seconds, percentile, ratio

WELCOME = b'{"type":"WELCOME"'
CLOSE = bytes([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8])  # masked (zero key), code 1000
NOT_WELCOME = "no-welcome"  # a 101 whose first message was something else
ERROR = "error"  # reset, refused or timed out before an answer
CLOSE_TIMEOUT = "close-timeout"  # answered, but the server did not close in time


@dataclass
class Result:
    target: str
    phase: str  # "valid" (or no token), "wrong-token"
    expected_status: int
    concurrency: int
    seconds: float
    handshakes: int  # answered with expected_status (a 101: and the first message came)
    handshakes_per_s: float
    p50_ms: float  # connect() to the first message (or to the refusal's head)
    p99_ms: float
    max_ms: float
    server_cpu_us_per_handshake: float
    server_cpu_percent: float
    client_cpu_percent: float
    statuses: dict[str, int] = field(default_factory=dict)  # every answer in the window


class Attempt(asyncio.Protocol):
    """One connection: the request, the answer's status and first frame, then the close."""

    __slots__ = ("answered", "buffer", "closed", "request", "status", "transport")

    def __init__(
        self, request: bytes, answered: asyncio.Future[str], closed: asyncio.Future[None]
    ) -> None:
        self.request = request
        self.answered = answered
        self.closed = closed
        self.buffer = b""
        self.status: bytes | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.answered.done():
            return  # the rest of the greeting, the server's close frame
        buffer = self.buffer + data if self.buffer else data
        if self.status is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            self.status = buffer[9:12]
            if self.status != b"101":
                self.answered.set_result(self.status.decode(errors="replace"))
                return  # a refusal: the server closes after its body
            buffer = buffer[end + 4 :]
        if len(buffer) >= 4:  # a greeting is text under 64 KiB: 2 or 4 bytes of header
            length, head = buffer[1] & 0x7F, 2
            if length == 126:
                length, head = int.from_bytes(buffer[2:4], "big"), 4
            if len(buffer) >= head + length:
                first = buffer[head : head + length]
                self.answered.set_result("101" if first.startswith(WELCOME) else NOT_WELCOME)
                assert self.transport is not None
                self.transport.write(CLOSE)  # the server answers and closes the TCP
                return
        self.buffer = buffer

    def eof_received(self) -> None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answered.done():
            self.answered.set_result(ERROR)
        if not self.closed.done():
            self.closed.set_result(None)


class Tally:
    def __init__(self) -> None:
        self.counting = False
        self.stop = False
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []  # ms, answers with the expected status only


async def client_loop(
    port: int, request: bytes, expected: str, tally: Tally, timeout: float
) -> None:
    loop = asyncio.get_running_loop()
    while not tally.stop:
        answered: asyncio.Future[str] = loop.create_future()
        closed: asyncio.Future[None] = loop.create_future()
        transport: asyncio.BaseTransport | None = None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                transport, _ = await loop.create_connection(
                    partial(Attempt, request, answered, closed), "127.0.0.1", port
                )
                status = await answered
                took = (time.perf_counter() - started) * 1000
                if tally.counting:
                    tally.statuses[status] += 1
                    if status == expected:
                        tally.latencies.append(took)
                await closed
        except (OSError, TimeoutError):
            if tally.counting:
                tally.statuses[CLOSE_TIMEOUT if answered.done() else ERROR] += 1
            if isinstance(transport, asyncio.Transport):
                transport.abort()
            await asyncio.sleep(0.01)  # a refused connect() would spin otherwise


async def phase(
    name: str,
    phase_name: str,
    *,
    pid: int,
    port: int,
    request: bytes,
    expected: int,
    concurrency: int,
    warmup: float,
    duration: float,
    timeout: float,
) -> Result:
    tally = Tally()
    loops = [
        asyncio.create_task(client_loop(port, request, str(expected), tally, timeout))
        for _ in range(concurrency)
    ]
    await asyncio.sleep(warmup)
    cpu_before, client_before = cpu_seconds(pid), time.process_time()
    started = time.monotonic()
    tally.counting = True
    await asyncio.sleep(duration)
    tally.counting = False
    seconds = time.monotonic() - started
    cpu, client = cpu_seconds(pid) - cpu_before, time.process_time() - client_before
    tally.stop = True
    await asyncio.gather(*loops)
    done = len(tally.latencies)
    return Result(
        target=name,
        phase=phase_name,
        expected_status=expected,
        concurrency=concurrency,
        seconds=round(seconds, 2),
        handshakes=done,
        handshakes_per_s=round(done / seconds, 1),
        p50_ms=round(percentile(tally.latencies, 50), 2),
        p99_ms=round(percentile(tally.latencies, 99), 2),
        max_ms=round(max(tally.latencies, default=float("nan")), 2),
        server_cpu_us_per_handshake=round(cpu / done * 1e6, 1) if done else float("nan"),
        server_cpu_percent=round(cpu / seconds * 100, 1),
        client_cpu_percent=round(client / seconds * 100, 1),
        statuses=dict(tally.statuses),
    )


async def measure(name: str, command: str, args: argparse.Namespace) -> list[Result]:
    port = free_port()
    secret = secret_for(command)
    proc = subprocess.Popen(
        shlex.split(command.format(port=port, secret=secret)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    host = f"127.0.0.1:{port}"
    common = {
        "pid": proc.pid,
        "port": port,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "timeout": args.timeout,
    }
    try:
        await wait_listening(port, proc)
        await asyncio.sleep(1)
        request = upgrade_request(host, token_for(secret))
        results = [
            await phase(
                name, "valid", request=request, expected=101, duration=args.duration, **common
            )
        ]
        if secret is not None and args.refusal_duration > 0:
            wrong = upgrade_request(host, token_for(secret + "-not-it"))
            results.append(
                await phase(
                    name,
                    "wrong-token",
                    request=wrong,
                    expected=401,
                    duration=args.refusal_duration,
                    **common,
                )
            )
        return results
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.handshake", description=__doc__)
    parser.add_argument("--concurrency", type=int, default=32, help="client loops at once")
    parser.add_argument("--duration", type=float, default=20, help="seconds measured")
    parser.add_argument(
        "--refusal-duration",
        type=float,
        default=5,
        help="seconds measured with a wrong token, for targets with {secret}; 0 skips",
    )
    parser.add_argument("--warmup", type=float, default=2, help="seconds before each phase")
    parser.add_argument("--timeout", type=float, default=10, help="seconds per attempt")
    parser.add_argument(
        "--target",
        action="append",
        required=True,
        help="NAME|COMMAND with {port} (and {secret} for a JWT secret); "
        "the server must serve the tours feed at ws://127.0.0.1:{port}/",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="times every target is measured, interleaved (each round starts one target "
        "later); with more than one, the medians are printed",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per phase")
    args = parser.parse_args(argv)
    targets = [spec.split("|", 1) for spec in args.target]
    results: dict[tuple[str, str], list[Result]] = {}
    for round_ in range(args.rounds):
        # This machine's speed drifts over minutes: rotating the order spreads the drift.
        shift = round_ % len(targets)
        for name, command in targets[shift:] + targets[:shift]:
            for result in asyncio.run(measure(name, command, args)):
                results.setdefault((result.target, result.phase), []).append(result)
                if args.json:
                    print(json.dumps({"round": round_ + 1, **asdict(result)}), flush=True)
                else:
                    print(f"round {round_ + 1}: {_describe(result)}", flush=True)
    if not args.json:
        medians = {key: _median(runs) for key, runs in results.items()}
        if args.rounds > 1:
            for key, runs in results.items():
                print(_summary(key, runs, medians[key]))
        valid = [m for (_, phase), m in medians.items() if phase == "valid"]
        first = valid[0]
        for other in valid[1:]:
            print(
                f"{first['target']}/{other['target']}: handshakes/s "
                f"{ratio(first['per_s'], other['per_s'])}, "
                f"cpu per handshake {ratio(first['cpu_us'], other['cpu_us'])}, "
                f"p99 {ratio(first['p99_ms'], other['p99_ms'])}"
            )
    return 0


def _median(runs: list[Result]) -> dict[str, Any]:
    return {
        "target": runs[0].target,
        "per_s": round(statistics.median(r.handshakes_per_s for r in runs), 1),
        "p50_ms": round(statistics.median(r.p50_ms for r in runs), 2),
        "p99_ms": round(statistics.median(r.p99_ms for r in runs), 2),
        "cpu_us": round(statistics.median(r.server_cpu_us_per_handshake for r in runs), 1),
    }


def _summary(key: tuple[str, str], runs: list[Result], median: dict[str, Any]) -> str:
    def spread(values: Iterable[float]) -> str:
        ordered = sorted(values)
        return f"{ordered[0]}–{ordered[-1]}"

    return (
        f"median of {len(runs)}, {key[0]} [{key[1]}]: {median['per_s']}/s "
        f"({spread(r.handshakes_per_s for r in runs)}); p50 {median['p50_ms']} ms; "
        f"p99 {median['p99_ms']} ms ({spread(r.p99_ms for r in runs)}); "
        f"server cpu {median['cpu_us']} µs/handshake "
        f"({spread(r.server_cpu_us_per_handshake for r in runs)})"
    )


def _describe(r: Result) -> str:
    statuses = ", ".join(f"{n} × {status}" for status, n in sorted(r.statuses.items()))
    return (
        f"{r.target} [{r.phase}]: {r.handshakes_per_s}/s answered {r.expected_status} "
        f"({r.handshakes} in {r.seconds} s, {r.concurrency} at once); "
        f"p50 {r.p50_ms} ms, p99 {r.p99_ms} ms, max {r.max_ms} ms; "
        f"server cpu {r.server_cpu_us_per_handshake} µs/handshake ({r.server_cpu_percent} %), "
        f"client {r.client_cpu_percent} %; "
        f"answers: {statuses}"
    )


if __name__ == "__main__":
    sys.exit(main())
