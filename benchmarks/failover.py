"""Failover: how long the clients of a follower wait when the leader is killed (``kill -9``).

Starts ``--instances`` ``tourpanel-server tours`` on one Redis key prefix, ticking
every ``--tours-interval`` with ``--lease``. Each trial: find the leader through
``/healthz``, connect a client to a follower, let it receive a few updates, ``kill -9``
the leader at a random moment of its renewal cycle, and time from the kill to the
first ``AVAILABILITY_UPDATE`` the client receives from the new leader (the first whose
server timestamp is later than the kill: an update the old leader committed just
before dying may still arrive after it). The client keeps reading a while, and every
``seq`` it saw across the failover is checked: no gap, no duplicate. The killed
instance is then restarted (same port) for the next trial.

    python -m benchmarks.failover --trials 10

With the default lease of 3 s a leader renews every second and a follower looks
every half second, so the expected time is 2 to 3.5 s: what was left of the lease
when the leader died, then the next look of a follower, then the new leader's tick.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from .fanout import LeanClient, Tally, upgrade_request
from .scaleout import (
    REDIS_URL,
    SERVER,
    Instance,
    delete_prefix,
    stop_all,
    unique_prefix,
    wait_roles,
)

UPDATE = b'{"type":"AVAILABILITY_UPDATE"'
WELCOME = b'{"type":"WELCOME"'


@dataclass(frozen=True, slots=True)
class Update:
    received: float  # wall clock, as the client read it
    seq: int
    stamped: float  # the message's server timestamp


class Watcher(LeanClient):
    """A lean client that keeps every update it receives, and notices when it is dropped."""

    def __init__(self, tally: Tally, request: bytes, updates: list[Update]) -> None:
        super().__init__(tally, request)
        self.updates = updates
        self.welcome_seq: int | None = None  # where the client starts
        self.lost = False

    def record(self, payload: bytes, received: float) -> None:
        if payload.startswith(WELCOME):
            self.welcome_seq = json.loads(payload)["seq"]
        elif payload.startswith(UPDATE):
            message = json.loads(payload)
            stamped = datetime.fromisoformat(message["timestamp"]).timestamp()
            self.updates.append(Update(received, message["seq"], stamped))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


@dataclass
class Trial:
    trial: int
    instances: int
    lease_s: float
    killed_port: int
    client_port: int
    failover_s: float  # kill → the client receives the new leader's first update
    takeover_s: float  # kill → the new leader stamps its first update
    stall_s: float  # the client's last update from the old leader → the new leader's first
    late_old_updates: int  # committed by the old leader before the kill, received after it
    client_instance_leads: bool  # the client's instance is the new leader
    seqs_checked: int  # the greeting's seq and every update's in the trial, in order
    gaps: list[list[int]]  # [before, after] where a seq was skipped
    duplicates: int
    client_dropped: bool
    server_log: list[str] = field(default_factory=list)


@dataclass
class Summary:
    trials: int
    instances: int
    lease_s: float
    tours_interval_s: float
    failover_s_min: float
    failover_s_median: float
    failover_s_max: float
    takeover_s_median: float
    seqs_checked: int
    gaps: int
    duplicates: int
    consecutive: bool  # every trial: no gap, no duplicate, client never dropped


async def until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        await asyncio.sleep(0.005)


async def trial(number: int, instances: list[Instance], args: argparse.Namespace) -> Trial:
    roles = await wait_roles(instances)
    if roles.count("leader") != 1:
        raise RuntimeError(f"trial {number}: no single leader, roles {roles}")
    leader = roles.index("leader")
    watched = next(i for i, role in enumerate(roles) if role == "follower")
    victim, host = instances[leader], instances[watched]
    logged = [len(instance.noteworthy()) for instance in instances]
    loop = asyncio.get_running_loop()
    tally, updates = Tally(), list[Update]()
    tally.counting = True
    request = upgrade_request(f"127.0.0.1:{host.port}")
    transport, client = await loop.create_connection(
        lambda: Watcher(tally, request, updates), "127.0.0.1", host.port
    )
    try:
        await until(lambda: len(updates) >= args.before, 30, "no updates before the kill")
        # A leader renews every third of its lease: killed at a fixed time after the
        # previous trial's takeover, it would always die at the same point of that
        # cycle, and every trial would measure the same remainder of the lease.
        await asyncio.sleep(random.uniform(0, args.lease / 3))
        killed = time.time()
        victim.kill()
        await until(
            lambda: any(u.stamped > killed for u in updates),
            args.lease * 3 + 10,
            "no update from a new leader",
        )
        first = next(u for u in updates if u.stamped > killed)
        old = [u for u in updates if u.stamped <= killed]
        done = len(updates) + args.after
        await until(lambda: len(updates) >= done, 30, "the new leader stopped sending")
        living = [i for i in instances if i is not victim]
        new_roles = await wait_roles(living)
        seqs = [u.seq for u in updates]
        if client.welcome_seq is not None:  # the first update follows the greeting's seq
            seqs.insert(0, client.welcome_seq)
        pairs = list(pairwise(seqs))
        result = Trial(
            trial=number,
            instances=len(instances),
            lease_s=args.lease,
            killed_port=victim.port,
            client_port=host.port,
            failover_s=round(first.received - killed, 3),
            takeover_s=round(first.stamped - killed, 3),
            stall_s=round(first.received - old[-1].received, 3),
            late_old_updates=sum(1 for u in old if u.received > killed),
            client_instance_leads=new_roles[living.index(host)] == "leader",
            seqs_checked=len(seqs),
            gaps=[[a, b] for a, b in pairs if b > a + 1],
            duplicates=sum(1 for a, b in pairs if b <= a),
            client_dropped=client.lost,
        )
    finally:
        transport.close()
    await victim.start()  # for the next trial, as a follower
    result.server_log = [
        line
        for instance, seen in zip(instances, logged, strict=True)
        for line in instance.noteworthy()[seen:]
    ]
    return result


async def run(args: argparse.Namespace, logs: Path) -> list[Trial]:
    prefix = unique_prefix("failover")
    options = [
        "--tours-interval", str(args.tours_interval),
        "--store", args.redis,
        "--store-prefix", prefix,
        "--lease", str(args.lease),
    ]  # fmt: skip
    instances = [
        Instance(args.server, options, logs / f"instance-{i}.log") for i in range(args.instances)
    ]
    try:
        for instance in instances:
            await instance.start()
        results = []
        for number in range(1, args.trials + 1):
            result = await trial(number, instances, args)
            results.append(result)
            print(json.dumps(asdict(result)) if args.json else _describe(result), flush=True)
        return results
    finally:
        stop_all(instances)
        delete_prefix(args.redis, prefix)
        for instance in instances:
            for line in instance.noteworthy():
                print(f"server logged: {line}", file=sys.stderr, flush=True)


def summarise(results: list[Trial], args: argparse.Namespace) -> Summary:
    times = [r.failover_s for r in results]
    return Summary(
        trials=len(results),
        instances=args.instances,
        lease_s=args.lease,
        tours_interval_s=args.tours_interval,
        failover_s_min=min(times),
        failover_s_median=round(statistics.median(times), 3),
        failover_s_max=max(times),
        takeover_s_median=round(statistics.median(r.takeover_s for r in results), 3),
        seqs_checked=sum(r.seqs_checked for r in results),
        gaps=sum(len(r.gaps) for r in results),
        duplicates=sum(r.duplicates for r in results),
        consecutive=all(not r.gaps and not r.duplicates and not r.client_dropped for r in results),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.failover", description=__doc__)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--instances", type=int, default=3, help="2 or more on one Redis prefix")
    parser.add_argument("--lease", type=float, default=3.0, help="the instances' --lease")
    parser.add_argument(
        "--tours-interval", type=float, default=0.05, help="seconds between tour updates"
    )
    parser.add_argument(
        "--before", type=int, default=10, help="updates the client receives before the kill"
    )
    parser.add_argument(
        "--after", type=int, default=20, help="updates it receives after the new leader's first"
    )
    parser.add_argument("--redis", default=REDIS_URL, help="Redis URL the instances share")
    parser.add_argument("--server", default=SERVER, help="command that starts tourpanel-server")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object per trial, then the summary"
    )
    args = parser.parse_args(argv)
    if args.instances < 2:
        parser.error("--instances must be 2 or more")
    with tempfile.TemporaryDirectory(prefix="failover-") as folder:
        results = asyncio.run(run(args, Path(folder)))
    summary = summarise(results, args)
    print(json.dumps(asdict(summary)) if args.json else _summary(summary), flush=True)
    return 0


def _describe(r: Trial) -> str:
    checks = (
        "seq consecutive"
        if not r.gaps and not r.duplicates
        else (f"GAPS {r.gaps}, {r.duplicates} DUPLICATES")
    )
    return (
        f"trial {r.trial}: failover {r.failover_s} s (new leader's first stamp at "
        f"{r.takeover_s} s, client stalled {r.stall_s} s; {r.late_old_updates} updates of the "
        f"old leader after the kill); client's instance "
        f"{'leads' if r.client_instance_leads else 'follows'}; {r.seqs_checked} updates, "
        f"{checks}" + ("; CLIENT DROPPED" if r.client_dropped else "")
    )


def _summary(s: Summary) -> str:
    return (
        f"{s.trials} trials, {s.instances} instances, lease {s.lease_s} s: failover min "
        f"{s.failover_s_min} s, median {s.failover_s_median} s, max {s.failover_s_max} s "
        f"(new leader's first stamp: median {s.takeover_s_median} s); {s.seqs_checked} "
        f"updates checked, {s.gaps} gaps, {s.duplicates} duplicates"
    )


if __name__ == "__main__":
    sys.exit(main())
