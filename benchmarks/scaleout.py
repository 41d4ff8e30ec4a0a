"""Scale-out: the fan-out of ``benchmarks.fanout`` through Redis, one instance and two.

Three scenarios, measured in the same run against ``tourpanel-server tours``:

- ``memory-1``: one instance, N clients, memory store (the reference);
- ``redis-1``: one instance, N clients, on Redis (every update goes through a Redis
  Stream before the instance broadcasts it: the extra hop alone);
- ``redis-2``: two instances on one Redis prefix, N/2 clients each (the first started
  leads and runs the simulation, the other follows the stream).

    python -m benchmarks.scaleout --clients 5000 --duration 30 --warmup 30

For each: messages delivered, latency p50/p99 (client receive time − the message's
timestamp, which the leader sets before it commits: the Redis hop is inside it) over
every delivery and, per tick and instance, to the first client only (the hop and the
instance's own turn, without the fan-out to the others); the instances' CPU time
per delivered message (summed over every instance process), the Redis server's CPU
time per delivered message on its own (its pid from ``INFO server``, read in
``/proc``), this process's CPU (it plays every client) and the machine's; the p99
differences from ``memory-1`` of the same round; the deliveries lost or repeated: the
clients count updates by ``seq``, and each one committed in the window must reach every
client once (they keep counting ``--drain`` seconds past it for that). Each scenario
gets a key prefix of its own, deleted afterwards.

``--tours-interval`` is 0.1 s by default (10 broadcasts a second instead of the
lesson's one every 5 s): some 300 broadcasts in a 30 s window, enough for a p99 that
compares, while a broadcast to every client (a few tens of milliseconds) is over
well before the next one (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import secrets
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis

from .fanout import TIMESTAMP, LeanClient, Tally, free_port, upgrade_request, wait_listening
from .procstat import TICKS, cpu_seconds, percentile, total

REDIS_URL = "redis://127.0.0.1:6379/0"
SERVER = f"{sys.executable} -m tourpanel.server"
SCENARIOS = {"memory-1": ("memory", 1), "redis-1": ("redis", 1), "redis-2": ("redis", 2)}
NOTEWORTHY = ("WARNING", "ERROR", "CRITICAL", "Traceback")
UPDATE = b'{"type":"AVAILABILITY_UPDATE"'
SEQ = b'"seq":'


class CountingClient(LeanClient):
    """``benchmarks.fanout``'s client, also counting the updates it receives by ``seq``.

    Every update committed while measuring must reach every client once: the counts
    tell a lost or repeated delivery from one still in flight at the window's edges.
    ``first`` keeps each update's lowest latency among the clients of one instance (and
    its timestamp): the time to its first client, before the fan-out to the others adds
    its own.
    """

    def __init__(
        self,
        tally: Tally,
        request: bytes,
        seqs: Counter[int],
        first: dict[int, tuple[float, bytes]],
    ) -> None:
        super().__init__(tally, request)
        self.seqs = seqs
        self.first = first

    def record(self, payload: bytes, received: float) -> None:
        super().record(payload, received)
        if payload.startswith(UPDATE):
            at = payload.find(SEQ) + len(SEQ)
            seq = int(payload[at : payload.find(b",", at)])
            self.seqs[seq] += 1
            latency = self.tally.latencies[-1]  # the one the fan-out client just took
            if seq not in self.first or latency < self.first[seq][0]:
                at = payload.find(TIMESTAMP) + len(TIMESTAMP)
                self.first[seq] = (latency, payload[at : at + 24])


class Instance:
    """One ``tourpanel-server tours`` process: its port (kept across restarts) and its log."""

    def __init__(self, server: str, options: list[str], log: Path) -> None:
        self.port = free_port()
        self.command = [
            *shlex.split(server),
            "tours",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--log-level", "WARNING",
            "--max-connections-per-ip", "100000",
            *options,
        ]  # fmt: skip
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> Instance:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.command, stdout=out, stderr=subprocess.STDOUT)
        await wait_listening(self.port, self.proc, timeout=30)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def health(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}/healthz"
        with urllib.request.urlopen(url, timeout=10) as reply:
            return json.load(reply)  # type: ignore[no-any-return]

    async def role(self) -> str | None:
        """``leader`` or ``follower`` of the tours feed (``None`` on the memory store)."""
        store = (await asyncio.to_thread(self.health))["store"]
        return store["feeds"]["tours"]["role"] if store and store.get("feeds") else None

    def kill(self) -> None:
        """``kill -9``: no lease handed over, nothing flushed."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def noteworthy(self) -> list[str]:
        """What the server logged at WARNING or above (it runs with ``--log-level WARNING``)."""
        if not self.log.exists():
            return []
        lines = self.log.read_text(errors="replace").splitlines()
        return [f"port {self.port}: {line}" for line in lines if any(w in line for w in NOTEWORTHY)]


def stop_all(instances: list[Instance], timeout: float = 15) -> None:
    """SIGTERM to every instance at once (each takes up to a blocking read to stop), then wait."""
    running = [i.proc for i in instances if i.proc is not None and i.proc.poll() is None]
    for proc in running:
        proc.terminate()
    for proc in running:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_roles(instances: list[Instance], timeout: float = 15) -> list[str | None]:
    """The instances' roles once exactly one of them leads (memory store: at once)."""
    deadline = time.monotonic() + timeout
    while True:
        roles = [await instance.role() for instance in instances]
        if roles[0] is None or roles.count("leader") == 1 or time.monotonic() > deadline:
            return roles
        await asyncio.sleep(0.1)


async def disconnected(instances: list[Instance], timeout: float = 10) -> None:
    """Wait until the instances saw their clients go, so they stop at once.

    An instance stopped with clients still connected sends them a close frame and
    waits ``--close-timeout`` for answers that these clients never send.
    """
    deadline = time.monotonic() + timeout
    for instance in instances:
        while instance.proc is not None and instance.proc.poll() is None:
            try:
                if (await asyncio.to_thread(instance.health))["connections"] == 0:
                    break
            except OSError:
                break
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.05)


def machine_cpu_seconds() -> float:
    """CPU time every core of the machine spent busy so far (``/proc/stat``: all but idle)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / TICKS


def unique_prefix(stem: str) -> str:
    return f"bench-{stem}-{secrets.token_hex(4)}"


def redis_pid(url: str) -> int | None:
    """The Redis server's pid, if it runs on this machine (``/proc`` can read it)."""
    client = redis.Redis.from_url(url)
    try:
        pid = int(client.info("server")["process_id"])
    finally:
        client.close()
    try:
        cpu_seconds(pid)
    except OSError:
        return None
    return pid


def delete_prefix(url: str, prefix: str) -> int:
    """Remove every key of ``prefix`` (a feed's keys are ``{prefix:feed}:...``); how many."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{{{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


@dataclass
class Result:
    scenario: str
    round: int
    store: str
    instances: int
    roles: list[str | None]
    clients: int
    connected: int
    seconds: float
    committed: int  # broadcasts the feed numbered during the window
    delivered: int  # messages the clients received during the window
    lost: int  # of the committed broadcasts × connected clients, never received (expected 0)
    duplicated: int  # received more than once by a client (expected 0)
    p50_ms: float
    p99_ms: float
    max_ms: float
    first_p50_ms: float  # each tick's first update to the first client of each instance
    first_p99_ms: float
    first_p50_ms_by_instance: list[float]  # one client process reads them all: see the docs
    p99_ms_by_instance: list[float]  # the clients of each instance, in --instances order
    cpu_us_per_message: float  # every instance process, summed
    cpu_percent_by_instance: list[float]
    redis_cpu_us_per_message: float | None
    redis_cpu_percent: float | None
    client_cpu_percent: float
    machine_cpu_percent: float  # every core busy, of 100 × cores (/proc/stat)
    other_cpu_percent: float  # the machine less the above: other processes, unowned softirq
    connected_after: int  # as the instances count them once measured
    slow_consumers_dropped: int
    p99_minus_reference_ms: float | None = None  # against memory-1 of the same round
    first_p99_minus_reference_ms: float | None = None
    refused: dict[str, int] = field(default_factory=dict)
    server_log: list[str] = field(default_factory=list)  # WARNING and above, if any


async def measure(name: str, round_: int, args: argparse.Namespace, logs: Path) -> Result:
    store, count = SCENARIOS[name]
    prefix = unique_prefix("scaleout")
    options = ["--tours-interval", str(args.tours_interval)]
    if store == "redis":
        options += ["--store", args.redis, "--store-prefix", prefix, "--lease", str(args.lease)]
    instances = [
        Instance(args.server, options, logs / f"{name}-{round_}-{i}.log") for i in range(count)
    ]
    loop = asyncio.get_running_loop()
    tallies = [Tally() for _ in instances]
    seqs: Counter[int] = Counter()
    firsts: list[dict[int, tuple[float, bytes]]] = [{} for _ in instances]
    transports: list[Any] = []

    async def open_one(index: int) -> None:
        instance, tally, first = instances[index], tallies[index], firsts[index]
        request = upgrade_request(f"127.0.0.1:{instance.port}")
        transport, _ = await loop.create_connection(
            lambda: CountingClient(tally, request, seqs, first), "127.0.0.1", instance.port
        )
        transports.append(transport)

    try:
        for instance in instances:  # one after the other: the first one leads
            await instance.start()
        roles = await wait_roles(instances)
        for start in range(0, args.clients, args.batch):
            end = min(args.clients, start + args.batch)
            await asyncio.gather(*(open_one(i % count) for i in range(start, end)))
        deadline = time.monotonic() + 120
        while (
            time.monotonic() < deadline
            and sum(t.opened + t.refused.total() for t in tallies) < args.clients
        ):
            await asyncio.sleep(0.1)
        await asyncio.sleep(1 + args.warmup)
        gc.collect()
        gc.freeze()  # as in benchmarks.fanout: no full collection of the clients' heap
        rpid = redis_pid(args.redis) if store == "redis" else None
        pids = [instance.pid for instance in instances]
        # Counting starts before the seq is asked for: while the answer comes, this
        # loop goes on reading the clients' sockets, and the next update must be counted
        # by every client. Latencies are kept from the window's start only.
        for tally in tallies:
            tally.counting = True
        seq_before = (await asyncio.to_thread(instances[0].health))["feeds"]["tours"]["seq"]
        starts = [len(tally.latencies) for tally in tallies]
        cpu_before = [cpu_seconds(pid) for pid in pids]
        redis_before = total(cpu_seconds, [rpid]) if rpid else 0.0
        client_before, started = time.process_time(), time.monotonic()
        machine_before = machine_cpu_seconds()
        await asyncio.sleep(args.duration)
        seconds = time.monotonic() - started
        cpu = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True)]
        redis_cpu = total(cpu_seconds, [rpid]) - redis_before if rpid else None
        client_cpu = time.process_time() - client_before
        machine = machine_cpu_seconds() - machine_before
        ends = [len(tally.latencies) for tally in tallies]  # later ones were the drain's
        seq_after = (await asyncio.to_thread(instances[0].health))["feeds"]["tours"]["seq"]
        await asyncio.sleep(args.drain)  # the seqs up to seq_after still on their way
        for tally in tallies:
            tally.counting = False
        after = [await asyncio.to_thread(instance.health) for instance in instances]
        roles_after = await wait_roles(instances, timeout=0)
        gc.unfreeze()
        windows = [
            tally.latencies[start:end]
            for tally, start, end in zip(tallies, starts, ends, strict=True)
        ]
        if roles_after != roles:
            print(f"{name}: roles changed while measuring: {roles} → {roles_after}", flush=True)
        latencies = [ms for window in windows for ms in window]
        delivered = len(latencies)
        connected = sum(t.opened for t in tallies)
        committed = range(seq_before + 1, seq_after + 1)
        by_tick = [_by_tick(first, committed) for first in firsts]
        to_first = [ms for ticks in by_tick for ms in ticks]
        refused: dict[str, int] = {}
        for tally in tallies:
            for status, n in tally.refused.items():
                refused[status] = refused.get(status, 0) + n
        result = Result(
            scenario=name,
            round=round_,
            store=store,
            instances=count,
            roles=roles,
            clients=args.clients,
            connected=connected,
            seconds=round(seconds, 2),
            committed=len(committed),
            delivered=delivered,
            lost=sum(max(0, connected - seqs[seq]) for seq in committed),
            duplicated=sum(max(0, seqs[seq] - connected) for seq in committed),
            p50_ms=round(percentile(latencies, 50), 2),
            p99_ms=round(percentile(latencies, 99), 2),
            max_ms=round(max(latencies, default=float("nan")), 2),
            first_p50_ms=round(percentile(to_first, 50), 2),
            first_p99_ms=round(percentile(to_first, 99), 2),
            first_p50_ms_by_instance=[round(percentile(ticks, 50), 2) for ticks in by_tick],
            p99_ms_by_instance=[round(percentile(window, 99), 2) for window in windows],
            cpu_us_per_message=_per(sum(cpu), delivered),
            cpu_percent_by_instance=[round(c / seconds * 100, 1) for c in cpu],
            redis_cpu_us_per_message=None if redis_cpu is None else _per(redis_cpu, delivered),
            redis_cpu_percent=None if redis_cpu is None else round(redis_cpu / seconds * 100, 1),
            client_cpu_percent=round(client_cpu / seconds * 100, 1),
            machine_cpu_percent=round(machine / seconds * 100, 1),
            other_cpu_percent=round(
                (machine - sum(cpu) - (redis_cpu or 0.0) - client_cpu) / seconds * 100, 1
            ),
            connected_after=sum(health["connections"] for health in after),
            slow_consumers_dropped=sum(
                health["security"]["slowConsumersDropped"] for health in after
            ),
            refused=refused,
        )
    finally:
        for transport in transports:
            transport.close()
        await disconnected(instances)
        stop_all(instances)
        if store == "redis":
            delete_prefix(args.redis, prefix)
        noteworthy = [line for instance in instances for line in instance.noteworthy()]
        for line in noteworthy:
            print(f"{name}: server logged: {line}", file=sys.stderr, flush=True)
    result.server_log = noteworthy
    return result


def _by_tick(first: dict[int, tuple[float, bytes]], seqs: range) -> list[float]:
    """The lowest latency of each tick's updates (one timestamp) among ``seqs``.

    A tick is one update, or four when a sale leaves every tour sold out and the
    refill follows it at once: those go out one after the other, each to every client,
    and the later ones would measure the fan-out of the first.
    """
    ticks: dict[bytes, float] = {}
    for seq in seqs:
        if seq in first:
            latency, stamp = first[seq]
            ticks[stamp] = min(latency, ticks.get(stamp, latency))
    return list(ticks.values())


def _per(seconds: float, messages: int) -> float:
    return round(seconds / messages * 1e6, 2) if messages else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaleout", description=__doc__)
    parser.add_argument("--clients", type=int, default=5000, help="in all, split over instances")
    parser.add_argument("--duration", type=float, default=30, help="seconds measured")
    parser.add_argument(
        "--warmup", type=float, default=30, help="seconds connected before measuring"
    )
    parser.add_argument(
        "--prime",
        type=float,
        default=10,
        help="seconds of a discarded pass of the first scenario, run before all others",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=2,
        help="seconds the clients count seqs past the window, for the broadcasts in flight",
    )
    parser.add_argument("--batch", type=int, default=200, help="connections opened at once")
    parser.add_argument(
        "--tours-interval", type=float, default=0.1, help="seconds between tour updates"
    )
    parser.add_argument("--lease", type=float, default=3.0, help="the instances' --lease")
    parser.add_argument("--redis", default=REDIS_URL, help="Redis URL the instances share")
    parser.add_argument("--server", default=SERVER, help="command that starts tourpanel-server")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, from {', '.join(SCENARIOS)}; the first is the reference",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="times every scenario is measured, each round starting one scenario later",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per scenario")
    args = parser.parse_args(argv)
    names = args.scenarios.split(",")
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="scaleout-") as folder:
        logs = Path(folder)
        if args.prime > 0:
            # As in benchmarks.fanout: this process's first pass delivers slower than
            # the next ones against the very same server; throw one away.
            primed = argparse.Namespace(**{**vars(args), "duration": args.prime, "warmup": 0})
            asyncio.run(measure(names[0], 0, primed, logs))
        for round_ in range(1, args.rounds + 1):
            shift = (round_ - 1) % len(names)
            results = {}
            for name in names[shift:] + names[:shift]:
                results[name] = asyncio.run(measure(name, round_, args, logs))
            reference = results[names[0]]
            for name in names:
                result = results[name]
                if name != names[0]:
                    result.p99_minus_reference_ms = round(result.p99_ms - reference.p99_ms, 2)
                    result.first_p99_minus_reference_ms = round(
                        result.first_p99_ms - reference.first_p99_ms, 2
                    )
                print(json.dumps(asdict(result)) if args.json else _describe(result), flush=True)
    return 0


def _describe(r: Result) -> str:
    redis_part = (
        f"; redis {r.redis_cpu_us_per_message} µs/message ({r.redis_cpu_percent} % of a core)"
        if r.redis_cpu_us_per_message is not None
        else ""
    )
    versus = (
        f"; p99 {r.p99_minus_reference_ms:+} ms against the reference "
        f"(to the first client {r.first_p99_minus_reference_ms:+} ms)"
        if r.p99_minus_reference_ms is not None
        else ""
    )
    refused = ", ".join(f"{n} × HTTP {status}" for status, n in sorted(r.refused.items()))
    return (
        f"round {r.round} {r.scenario} ({r.instances} × {r.store}, roles {r.roles}): "
        f"{r.connected}/{r.clients} clients, {r.committed} broadcasts, "
        f"{r.delivered} messages delivered ({r.lost} lost, {r.duplicated} duplicated); "
        f"latency p50 {r.p50_ms} ms, "
        f"p99 {r.p99_ms} ms (by instance {r.p99_ms_by_instance}), max {r.max_ms} ms; "
        f"to the first client p50 {r.first_p50_ms} ms (by instance "
        f"{r.first_p50_ms_by_instance}), p99 {r.first_p99_ms} ms; "
        f"instances {r.cpu_us_per_message} µs/message "
        f"({' + '.join(str(c) for c in r.cpu_percent_by_instance)} % of a core){redis_part}; "
        f"clients {r.client_cpu_percent} % of a core; machine {r.machine_cpu_percent} % "
        f"({r.other_cpu_percent} % not ours){versus}"
        + (f"; REFUSED {refused}" if refused else "")
        + (
            f"; {r.connected_after} CONNECTED AFTER, {r.slow_consumers_dropped} DROPPED AS SLOW"
            if r.connected_after != r.connected or r.slow_consumers_dropped
            else ""
        )
    )


if __name__ == "__main__":
    sys.exit(main())
