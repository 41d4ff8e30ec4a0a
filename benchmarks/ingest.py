"""Ingest: how fast the listener turns a feed into buffer rows.

A feed process sends ``--messages`` numbered RANDOM_NUMBER messages as fast as the
connection takes them. The same run measures a bare ``websockets`` loop that only
receives and decodes JSON, then a :class:`~tourpanel.listener.FeedListener` filling
a buffer of ``--maxlen`` rows, and reports both rates, their ratio, and how much
this process's memory grew (bounded by the buffer, not by the message count).

    python -m benchmarks.ingest --messages 200000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from tourpanel import protocol as p
from tourpanel.listener import FeedListener

from .fanout import free_port, wait_listening
from .procstat import rss_bytes


def encoded_stream(count: int) -> list[str]:
    """WELCOME, then ``count`` numbered numbers, encoded once up front."""
    stamp = p.format_timestamp(time.time())
    welcome = p.Welcome(message="ingest", timestamp=stamp, feed="random", epoch="bench", seq=0)
    return [p.encode(welcome)] + [
        p.encode(p.RandomNumber(value=seq % 100 + 1, timestamp=stamp, seq=seq, epoch="bench"))
        for seq in range(1, count + 1)
    ]


async def blast(port: int, count: int) -> None:
    stream = encoded_stream(count)

    async def handler(ws: ServerConnection) -> None:
        for text in stream:
            await ws.send(text)
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=None):
        await asyncio.Future()


async def bare_rate(url: str, count: int) -> float:
    started = time.perf_counter()
    received = 0
    async with connect(url, compression=None, max_size=None, ping_interval=None) as ws:
        async for data in ws:
            json.loads(data)
            received += 1
            if received == count + 1:
                break
    return count / (time.perf_counter() - started)


def listener_rate(url: str, count: int, maxlen: int) -> tuple[float, int]:
    started = time.perf_counter()
    listener = FeedListener(url, maxlen=maxlen).start()
    while listener.buffer.cursor < count + 1:
        time.sleep(0.001)
    elapsed = time.perf_counter() - started
    held = len(listener.buffer)
    listener.stop()
    return count / elapsed, held


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest", description=__doc__)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--maxlen", type=int, default=50_000, help="buffer rows")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(blast(args.serve, args.messages))
        return 0
    port = free_port()
    feed = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.ingest",
            "--serve",
            str(port),
            "--messages",
            str(args.messages),
        ],
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    try:
        asyncio.run(wait_listening(port, feed))
        url = f"ws://127.0.0.1:{port}"
        rss_before = rss_bytes(os.getpid())
        bare = asyncio.run(bare_rate(url, args.messages))
        rate, held = listener_rate(url, args.messages, args.maxlen)
        grown = (rss_bytes(os.getpid()) - rss_before) / 2**20
    finally:
        feed.terminate()
        feed.wait(10)
    result = {
        "messages": args.messages,
        "bare_msgs_per_s": round(bare),
        "listener_msgs_per_s": round(rate),
        "ratio": round(rate / bare, 3),
        "buffer_rows": held,
        "rss_growth_mb": round(grown, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"bare receive+decode {result['bare_msgs_per_s']:,} msg/s; listener into buffer "
            f"{result['listener_msgs_per_s']:,} msg/s ({result['ratio']:.0%} of bare); "
            f"buffer holds {held:,} rows; this process grew {result['rss_growth_mb']} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
