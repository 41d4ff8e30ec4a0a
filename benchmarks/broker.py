"""Broker to screen: a booking event published to RabbitMQ, until a WebSocket client has it.

Starts ``--instances`` ``tourpanel-server tours`` on one Redis key prefix, each with
``--amqp`` on an exchange, queue and dead-letter queue of this run's own (deleted
afterwards, with the Redis keys), and ``--tours-interval 3600`` so that only the
events make updates. One client on each instance. Then publishes ``--events`` booking
events with aio-pika at a steady ``--rate``, as another system would (persistent,
with publisher confirms), and times each from just before its publish to its
arrival at each client; the consumers compete for the queue, so each event is
applied by one instance and reaches the other's client through Redis.

    python -m benchmarks.broker --events 1000 --rate 200

A broadcast does not carry the event's id, so each event sets an absolute count
(``availableSeats``) that the client can recognise: the tours in turn, each one seat
further round ``0..capacity`` than its last, so the same tour and count come back
only every 48 events or more (240 ms at 200/s) and an arrival is matched with the
oldest unmatched event of its tour and count. ``--warmup`` events go first, not
measured (the first events through fresh connections take longer). Reported per client: sent against
delivered (and any update that matches no event), latency p50/p99 from publish to
receipt, and split at the update's server timestamp (when the event was applied).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import aio_pika

from .fanout import LeanClient, Tally, upgrade_request
from .procstat import percentile
from .scaleout import (
    REDIS_URL,
    SERVER,
    Instance,
    delete_prefix,
    disconnected,
    stop_all,
    unique_prefix,
    wait_roles,
)

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
UPDATE = b'{"type":"AVAILABILITY_UPDATE"'
INITIAL = b'{"type":"INITIAL_STATE"'
CAPACITY = {"tour_paris": 20, "tour_london": 15, "tour_rome": 18}


@dataclass(frozen=True, slots=True)
class Arrival:
    received: float  # wall clock, as the client read it
    tour: str
    seats: int
    stamped: float  # the update's server timestamp: when the event was applied


class Receiver(LeanClient):
    """A lean client that keeps the seats it starts from and every update it receives."""

    def __init__(self, tally: Tally, request: bytes) -> None:
        super().__init__(tally, request)
        self.seats: dict[str, int] = {}
        self.arrivals: list[Arrival] = []

    def record(self, payload: bytes, received: float) -> None:
        if payload.startswith(UPDATE):
            message = json.loads(payload)
            stamped = datetime.fromisoformat(message["timestamp"]).timestamp()
            self.arrivals.append(
                Arrival(received, message["tourId"], message["availableSeats"], stamped)
            )
        elif payload.startswith(INITIAL):
            message = json.loads(payload)
            self.seats[message["tourId"]] = message["availableSeats"]


@dataclass
class Result:
    instance: int
    port: int
    role: str | None
    sent: int
    delivered: int  # updates matched with an event
    unmatched: int  # updates that match no event sent (expected 0)
    missing: int  # events this client never got (expected 0)
    publish_rate: float  # events per second, as published
    p50_ms: float  # publish → receipt
    p99_ms: float
    max_ms: float
    applied_p50_ms: float  # publish → the update's server timestamp (ms resolution)
    applied_p99_ms: float
    delivered_p50_ms: float  # server timestamp → receipt
    delivered_p99_ms: float
    applied_here: int  # measured events this instance's consumer applied
    dead_lettered: int  # by every instance, warm-up included (expected 0)
    server_log: list[str] = field(default_factory=list)


def schedule(count: int, seats: dict[str, int], run: str) -> list[dict[str, Any]]:
    """The events to publish: tours in turn, each count one further round its range."""
    tours = list(CAPACITY)
    events = []
    for i in range(count):
        tour = tours[i % len(tours)]
        value = (seats[tour] + 1 + i // len(tours)) % (CAPACITY[tour] + 1)
        events.append({"tourId": tour, "availableSeats": value, "eventId": f"{run}-{i}"})
    return events


async def publish(
    url: str, exchange_name: str, events: list[dict[str, Any]], rate: float
) -> tuple[list[float], float]:
    """Publish ``events`` at ``rate`` a second; each one's wall time just before, and the rate."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()  # with publisher confirms
        exchange = await channel.get_exchange(exchange_name)
        loop = asyncio.get_running_loop()
        sent: list[float] = []
        confirms = []
        start = loop.time()
        for i, event in enumerate(events):
            delay = start + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            message = aio_pika.Message(
                json.dumps(event).encode(),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            )
            sent.append(time.time())
            # Not awaited one by one: the rate stays steady whatever a confirm takes.
            confirms.append(asyncio.ensure_future(exchange.publish(message, "booking.bench")))
        await asyncio.gather(*confirms)
        seconds = loop.time() - start
        return sent, len(events) / seconds if seconds > 0 else float("nan")
    finally:
        await connection.close()


async def arrived(clients: list[Receiver], count: int, timeout: float) -> None:
    """Wait until every client has ``count`` updates, or ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(len(c.arrivals) >= count for c in clients):
        await asyncio.sleep(0.05)


async def consuming(instances: list[Instance]) -> bool:
    """Whether every instance's consumer is connected to the broker."""
    for instance in instances:
        if not (await asyncio.to_thread(instance.health))["broker"]["connected"]:
            return False
    return True


async def delete_names(url: str, exchange: str, *queues: str) -> None:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue)
        await channel.exchange_delete(exchange)
    finally:
        await connection.close()


def match(events: list[dict[str, Any]], sent: list[float], arrivals: list[Arrival]) -> Any:
    """Each arrival's event (the oldest unmatched of its tour and count); the rest unmatched."""
    pending: dict[tuple[str, int], deque[float]] = {}
    for event, at in zip(events, sent, strict=True):
        pending.setdefault((event["tourId"], event["availableSeats"]), deque()).append(at)
    total, applied, delivered, unmatched = [], [], [], 0
    for arrival in arrivals:
        waiting = pending.get((arrival.tour, arrival.seats))
        if not waiting:
            unmatched += 1
            continue
        at = waiting.popleft()
        total.append((arrival.received - at) * 1000)
        applied.append((arrival.stamped - at) * 1000)
        delivered.append((arrival.received - arrival.stamped) * 1000)
    return total, applied, delivered, unmatched


async def run(args: argparse.Namespace, logs: Path) -> list[Result]:
    prefix = unique_prefix("broker")
    exchange, queue, dead = prefix, f"{prefix}.queue", f"{prefix}.dead"
    options = [
        "--tours-interval", "3600",
        "--store", args.redis,
        "--store-prefix", prefix,
        "--amqp", args.amqp,
        "--amqp-exchange", exchange,
        "--amqp-queue", queue,
        "--amqp-dead-letter", dead,
    ]  # fmt: skip
    instances = [
        Instance(args.server, options, logs / f"instance-{i}.log") for i in range(args.instances)
    ]
    loop = asyncio.get_running_loop()
    transports: list[Any] = []
    try:
        for instance in instances:
            await instance.start()
        roles = await wait_roles(instances)
        clients = []
        for instance in instances:
            tally = Tally()
            tally.counting = True
            request = upgrade_request(f"127.0.0.1:{instance.port}")
            transport, client = await loop.create_connection(
                partial(Receiver, tally, request), "127.0.0.1", instance.port
            )
            transports.append(transport)
            clients.append(client)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
            len(c.seats) == len(CAPACITY) for c in clients
        ):
            await asyncio.sleep(0.01)
        while time.monotonic() < deadline and not await consuming(instances):
            await asyncio.sleep(0.1)
        planned = schedule(args.warmup + args.events, clients[0].seats, prefix)
        warmup, events = planned[: args.warmup], planned[args.warmup :]
        if warmup:  # not measured: the first events of a connection take longer
            await publish(args.amqp, exchange, warmup, args.rate)
            await arrived(clients, len(warmup), args.timeout)
            await asyncio.sleep(0.2)
            for client in clients:
                del client.arrivals[:]
        before = [(await asyncio.to_thread(i.health))["broker"] for i in instances]
        sent, rate = await publish(args.amqp, exchange, events, args.rate)
        await arrived(clients, len(events), args.timeout)
        await asyncio.sleep(0.2)  # anything beyond what was sent would show now
        brokers = [(await asyncio.to_thread(i.health))["broker"] for i in instances]
        results = []
        for index, (instance, client) in enumerate(zip(instances, clients, strict=True)):
            total, applied, delivered, unmatched = match(events, sent, client.arrivals)
            results.append(
                Result(
                    instance=index,
                    port=instance.port,
                    role=roles[index],
                    sent=len(events),
                    delivered=len(total),
                    unmatched=unmatched,
                    missing=len(events) - len(total),
                    publish_rate=round(rate, 1),
                    p50_ms=round(percentile(total, 50), 2),
                    p99_ms=round(percentile(total, 99), 2),
                    max_ms=round(max(total, default=float("nan")), 2),
                    applied_p50_ms=round(percentile(applied, 50), 2),
                    applied_p99_ms=round(percentile(applied, 99), 2),
                    delivered_p50_ms=round(percentile(delivered, 50), 2),
                    delivered_p99_ms=round(percentile(delivered, 99), 2),
                    applied_here=brokers[index]["applied"] - before[index]["applied"],
                    dead_lettered=sum(b["deadLettered"] for b in brokers),
                )
            )
    finally:
        for transport in transports:
            transport.close()
        await disconnected(instances)
        stop_all(instances)
        delete_prefix(args.redis, prefix)
        await delete_names(args.amqp, exchange, queue, dead)
        noteworthy = [line for instance in instances for line in instance.noteworthy()]
        for line in noteworthy:
            print(f"server logged: {line}", file=sys.stderr, flush=True)
    for result in results:
        result.server_log = noteworthy
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.broker", description=__doc__)
    parser.add_argument("--events", type=int, default=1000, help="booking events published")
    parser.add_argument("--rate", type=float, default=200, help="events published per second")
    parser.add_argument(
        "--warmup", type=int, default=20, help="events published first, and not measured"
    )
    parser.add_argument("--instances", type=int, default=2, help="on one Redis prefix")
    parser.add_argument(
        "--timeout", type=float, default=10, help="seconds to wait for stragglers after the last"
    )
    parser.add_argument("--amqp", default=AMQP_URL, help="RabbitMQ URL")
    parser.add_argument("--redis", default=REDIS_URL, help="Redis URL the instances share")
    parser.add_argument("--server", default=SERVER, help="command that starts tourpanel-server")
    parser.add_argument("--json", action="store_true", help="print one JSON object per client")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="broker-") as folder:
        results = asyncio.run(run(args, Path(folder)))
    for result in results:
        print(json.dumps(asdict(result)) if args.json else _describe(result), flush=True)
    return 0


def _describe(r: Result) -> str:
    odd = (
        f"; {r.unmatched} UNMATCHED, {r.missing} MISSING, {r.dead_lettered} DEAD-LETTERED"
        if r.unmatched or r.missing or r.dead_lettered
        else ""
    )
    return (
        f"instance {r.instance} ({r.role}): {r.delivered}/{r.sent} events delivered "
        f"(published at {r.publish_rate}/s; {r.applied_here} applied by this instance); "
        f"publish → client p50 {r.p50_ms} ms, p99 {r.p99_ms} ms, max {r.max_ms} ms "
        f"(publish → applied p50 {r.applied_p50_ms} / p99 {r.applied_p99_ms} ms, "
        f"applied → client p50 {r.delivered_p50_ms} / p99 {r.delivered_p99_ms} ms){odd}"
    )


if __name__ == "__main__":
    sys.exit(main())
