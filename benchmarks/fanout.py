"""Fan-out: N WebSocket clients on loopback against one feed server.

Measures, for each target: delivery latency (client receive time − the message's
server timestamp, p50/p99), the server's CPU time per delivered message, and its
resident memory per connection. Targets are started by this script from a command
line, so the same run measures ``python -m server`` and the lesson's Node server:

    python -m benchmarks.fanout --clients 5000 --duration 60 \\
        --target "python|python -m server tours --host 127.0.0.1 --port {port}" \\
        --target "node|../shared/tools/seed-node-server tours {port}"

Both broadcast every 5 s by default (the lesson's rate); ``--target`` commands may
set another interval. The first target is the reference for the printed ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime

from websockets.asyncio.client import connect

from .procstat import cpu_seconds, percentile, rss_bytes

BROADCASTS = ('{"type":"AVAILABILITY_UPDATE"', '{"type":"RANDOM_NUMBER"')
TIMESTAMP = '"timestamp":"'


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


async def client(
    url: str, latencies: list[float], counting: asyncio.Event, opened: list[int]
) -> None:
    try:
        async with connect(url, compression=None, open_timeout=60, ping_interval=None) as ws:
            opened[0] += 1
            async for data in ws:
                received = time.time()
                if not counting.is_set() or not isinstance(data, str):
                    continue
                # Cheaper than json.loads, so the clients add as little delay as they can:
                # both servers write "type" first and a 24-character "timestamp".
                if data.startswith(BROADCASTS):
                    at = data.find(TIMESTAMP) + len(TIMESTAMP)
                    sent = datetime.fromisoformat(data[at : at + 24]).timestamp()
                    latencies.append((received - sent) * 1000)
    except Exception:
        pass  # the target closing at the end of the run


async def measure(name: str, command: str, clients: int, duration: float, batch: int) -> Result:
    port = free_port()
    url = f"ws://127.0.0.1:{port}"
    proc = subprocess.Popen(
        shlex.split(command.format(port=port)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        await wait_listening(port, proc)
        await asyncio.sleep(1)
        idle = rss_bytes(proc.pid)
        latencies: list[float] = []
        counting = asyncio.Event()
        opened = [0]
        tasks = []
        for start in range(0, clients, batch):
            tasks += [
                asyncio.create_task(client(url, latencies, counting, opened))
                for _ in range(min(batch, clients - start))
            ]
            await asyncio.sleep(0.05)
        deadline = time.monotonic() + 120
        while opened[0] < clients and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)
        # Thousands of client connections make a heap whose full garbage collections
        # take a few hundred milliseconds; they would stall every client at once and
        # show up as the server's latency. Nothing here needs collecting while measuring.
        gc.collect()
        gc.freeze()
        loaded = rss_bytes(proc.pid)
        cpu_before = cpu_seconds(proc.pid)
        counting.set()
        await asyncio.sleep(duration)
        counting.clear()
        cpu = cpu_seconds(proc.pid) - cpu_before
        gc.unfreeze()
        delivered = len(latencies)
        return Result(
            target=name,
            clients=clients,
            connected=opened[0],
            delivered=delivered,
            p50_ms=round(percentile(latencies, 50), 2),
            p99_ms=round(percentile(latencies, 99), 2),
            cpu_us_per_message=round(cpu / delivered * 1e6, 2) if delivered else float("nan"),
            rss_mb_idle=round(idle / 2**20, 1),
            rss_kb_per_connection=round((loaded - idle) / max(1, opened[0]) / 1024, 2),
        )
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        for task in asyncio.all_tasks() - {asyncio.current_task()}:
            task.cancel()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fanout", description=__doc__)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=30, help="seconds measured")
    parser.add_argument("--batch", type=int, default=200, help="connections opened at once")
    parser.add_argument(
        "--target",
        action="append",
        required=True,
        help="NAME|COMMAND with {port}; the server must serve the feed at ws://127.0.0.1:{port}",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per target")
    args = parser.parse_args(argv)
    results = []
    for spec in args.target:
        name, command = spec.split("|", 1)
        result = asyncio.run(measure(name, command, args.clients, args.duration, args.batch))
        results.append(result)
        print(json.dumps(asdict(result)) if args.json else _describe(result), flush=True)
    if len(results) > 1 and not args.json:
        first = results[0]
        for other in results[1:]:
            cpu = _ratio(first.cpu_us_per_message, other.cpu_us_per_message)
            rss = _ratio(first.rss_kb_per_connection, other.rss_kb_per_connection)
            p99 = _ratio(first.p99_ms, other.p99_ms)
            print(
                f"{first.target}/{other.target}: cpu per message {cpu}, "
                f"rss per connection {rss}, p99 latency {p99}"
            )
    return 0


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def _describe(r: Result) -> str:
    return (
        f"{r.target}: {r.connected}/{r.clients} clients, {r.delivered} messages delivered; "
        f"latency p50 {r.p50_ms} ms, p99 {r.p99_ms} ms; "
        f"cpu {r.cpu_us_per_message} µs/message; rss {r.rss_mb_idle} MB idle, "
        f"{r.rss_kb_per_connection} KB/connection"
    )


if __name__ == "__main__":
    sys.exit(main())
