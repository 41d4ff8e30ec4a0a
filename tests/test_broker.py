"""Booking events from the real RabbitMQ, through ``tourpanel-server --amqp``, to clients.

Each test declares an exchange, a queue and a dead-letter queue of its own (the
server declares them; the ``broker`` fixture deletes them), publishes with aio-pika
as another system would, and reads what WebSocket clients receive and what
``/healthz`` counts. Redis mode uses a key prefix of the test's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import pytest
from websockets.sync.client import ClientConnection

from .conftest import TIMEOUT, greet, open_client, wait_until
from .services import AMQP_URL, REDIS_URL, need_rabbitmq, report_counts, run, unique
from .test_process import LISTENING, ServerProcess

pytestmark = [pytest.mark.services, pytest.mark.process]

QUIET = ("--tours-interval", "3600", "--random-interval", "3600")
CAPACITY = {"tour_paris": 20, "tour_london": 15, "tour_rome": 18}

Event = dict[str, Any] | bytes


@dataclass(frozen=True)
class Names:
    """One test's exchange and queues, as the servers are told them."""

    exchange: str
    queue: str
    dead_letter: str

    def args(self, *, url: str = AMQP_URL) -> list[str]:
        return [
            "--amqp", url,
            "--amqp-exchange", self.exchange,
            "--amqp-queue", self.queue,
            "--amqp-dead-letter", self.dead_letter,
        ]  # fmt: skip


# -- talking to RabbitMQ as the booking system does -------------------------------------


def _message(event: Event, *, message_id: str | None, headers: dict[str, Any]) -> aio_pika.Message:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    return aio_pika.Message(
        body,
        content_type="application/json",
        message_id=message_id,
        headers=headers or None,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


async def _publish(
    names: Names, events: list[tuple[str, Event, str | None, dict[str, Any]]]
) -> None:
    """Publish ``(routing key, event, message id, headers)`` each, with publisher confirms."""
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(names.exchange, ensure=True)
        for routing_key, event, message_id, headers in events:
            await exchange.publish(
                _message(event, message_id=message_id, headers=headers), routing_key=routing_key
            )
    finally:
        await connection.close()


def publish(
    names: Names,
    events: list[Event],
    *,
    routing_keys: tuple[str, ...] = ("booking.tour",),
    message_ids: list[str | None] | None = None,
    headers: list[dict[str, Any]] | None = None,
) -> None:
    """Publish ``events`` in order; routing keys are used in turn."""
    rows = [
        (
            routing_keys[i % len(routing_keys)],
            event,
            None if message_ids is None else message_ids[i],
            {} if headers is None else headers[i],
        )
        for i, event in enumerate(events)
    ]
    run(_publish(names, rows))


async def _read_dead_letters(names: Names) -> list[aio_pika.abc.AbstractIncomingMessage]:
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        queue = await channel.get_queue(names.dead_letter, ensure=True)
        found = []
        while (message := await queue.get(no_ack=True, fail=False, timeout=TIMEOUT)) is not None:
            found.append(message)
        return found
    finally:
        await connection.close()


def text_headers(message: aio_pika.abc.AbstractIncomingMessage) -> dict[str, str]:
    """A message's headers as text (the broker hands strings back as bytes)."""
    return {
        key: value.decode() if isinstance(value, bytes) else str(value)
        for key, value in (message.headers or {}).items()
    }


async def _delete(names: Names) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        for queue_name in (names.queue, names.dead_letter):
            await channel.queue_delete(queue_name)
        await channel.exchange_delete(names.exchange)
    finally:
        await connection.close()


@pytest.fixture
def broker() -> Iterator[Names]:
    """Names of this test's own; the exchange and both queues are deleted afterwards."""
    need_rabbitmq()
    stem = unique("broker")
    names = Names(f"{stem}.exchange", f"{stem}.queue", f"{stem}.dead")
    yield names
    run(_delete(names))


@pytest.fixture
def spawn(broker: Names) -> Iterator[type[ServerProcess]]:
    """Servers that are all killed before ``broker`` deletes their exchange and queues."""
    started: list[ServerProcess] = []

    class Tracked(ServerProcess):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Tracked
    for server in started:
        server.close()


def start(spawn: type[ServerProcess], *args: str) -> tuple[ServerProcess, str]:
    """A tours-only server consuming booking events; the server and its port."""
    server = spawn("tours", *QUIET, *args)
    return server, server.wait_for(LISTENING)[1]


def health(port: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT) as reply:
        return json.load(reply)  # type: ignore[no-any-return]


def broker_counts(port: str) -> dict[str, Any]:
    return health(port)["broker"]  # type: ignore[no-any-return]


def total(ports: list[str], count: str) -> int:
    """``count`` of the broker consumers of all ``ports``, summed."""
    return sum(int(broker_counts(port)[count]) for port in ports)


# -- what clients receive ---------------------------------------------------------------


Connect = Callable[[str], tuple[ClientConnection, int]]


@pytest.fixture
def connect() -> Iterator[Connect]:
    """Open clients past their greeting, with the feed's seq then; all closed afterwards."""
    with contextlib.ExitStack() as stack:

        def open_(port: str) -> tuple[ClientConnection, int]:
            ws = stack.enter_context(open_client(f"ws://127.0.0.1:{port}/"))
            welcome, *states = greet(ws, "tours")
            assert welcome["type"] == "WELCOME"
            assert [s["type"] for s in states] == ["INITIAL_STATE"] * 3
            return ws, welcome["seq"]

        yield open_


def updates(ws: ClientConnection, count: int) -> list[str]:
    """The next ``count`` messages, each an AVAILABILITY_UPDATE, as sent (text)."""
    texts = [ws.recv(timeout=TIMEOUT) for _ in range(count)]
    assert [json.loads(t)["type"] for t in texts] == ["AVAILABILITY_UPDATE"] * count
    return [t if isinstance(t, str) else t.decode() for t in texts]


def nothing_more(ws: ClientConnection) -> None:
    """No further broadcast arrives (after a sentinel that was already received)."""
    with pytest.raises(TimeoutError):
        ws.recv(timeout=0.3)


def check_consecutive(texts: list[str], after: int) -> list[dict[str, Any]]:
    messages = [json.loads(t) for t in texts]
    assert [m["seq"] for m in messages] == list(range(after + 1, after + 1 + len(texts)))
    return messages


def store_args(kind: str, request: pytest.FixtureRequest) -> list[str]:
    if kind == "memory":
        return []
    prefix = request.getfixturevalue("redis_prefix")  # skips without Redis
    return ["--store", REDIS_URL, "--store-prefix", prefix]


# -- cutting the consumer off, under load ----------------------------------------------


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, f"rabbitmqctl {' '.join(args)}: {done.stderr}"
    return done.stdout


@dataclass(frozen=True)
class User:
    """A RabbitMQ user of the test's own, so that cutting it off touches no one else."""

    name: str
    url: str

    def allow(self) -> None:
        rabbitmqctl("set_permissions", "-p", "/", self.name, ".*", ".*", ".*")

    def refuse(self) -> None:
        """Its connections to vhost ``/`` are refused from now on (open ones stay)."""
        rabbitmqctl("clear_permissions", "-p", "/", self.name)

    def connections(self) -> list[str]:
        """RabbitMQ's ids of this user's open connections."""
        listing = rabbitmqctl("list_connections", "--no-table-headers", "pid", "user")
        rows = [line.split("\t") for line in listing.splitlines()]
        return [row[0] for row in rows if row[1:] == [self.name]]

    def cut_off(self, pid: str) -> None:
        rabbitmqctl("close_connection", pid, "test: the broker drops the consumer")


@pytest.fixture
def amqp_user() -> Iterator[User]:
    """A user with every right on vhost ``/``, deleted (with its connections) afterwards."""
    need_rabbitmq()
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not installed (Debian: apt-get install rabbitmq-server)")
    name, password = unique("user"), secrets.token_hex(16)
    added = subprocess.run(
        ["rabbitmqctl", "-q", "add_user", name, password],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if added.returncode != 0:  # e.g. not allowed to read the node's Erlang cookie
        pytest.skip(f"rabbitmqctl cannot manage the local broker: {added.stderr.strip()}")
    user = User(name, f"amqp://{name}:{password}@127.0.0.1:5672/")
    try:
        user.allow()
        yield user
    finally:
        rabbitmqctl("delete_user", name)


# Every (tour, seats) pair a valid absolute event can name: 56 distinct events.
PAIRS = [(tour, seats) for tour, capacity in CAPACITY.items() for seats in range(capacity + 1)]
MAX_FLOW = 5000  # events one Flow publishes at most


def absolute(index: int) -> dict[str, Any]:
    """The ``index``-th event of a run: an absolute count, told apart by its ``eventId``."""
    tour, seats = PAIRS[index % len(PAIRS)]
    return {"tourId": tour, "availableSeats": seats, "eventId": f"e{index}"}


def collect(ws: ClientConnection, count: int) -> list[str]:
    """What arrives until ``count`` messages came or none came for TIMEOUT, then a bit more."""
    texts: list[str] = []
    with contextlib.suppress(TimeoutError):
        while len(texts) < count:
            texts.append(str(ws.recv(timeout=TIMEOUT)))
        while True:  # anything past ``count`` is a duplicate or worse
            texts.append(str(ws.recv(timeout=0.3)))
    return texts


class Flow:
    """Publishes absolute events back to back from a thread until stopped: a steady load."""

    def __init__(self, names: Names, first: int) -> None:
        self.names = names
        self.first = first
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._error: BaseException | None = None

    async def _run(self) -> None:
        try:
            connection = await aio_pika.connect(AMQP_URL)
            async with connection:
                channel = await connection.channel()
                exchange = await channel.get_exchange(self.names.exchange, ensure=True)
                while not self._stop.is_set() and self.count < MAX_FLOW:
                    event = absolute(self.first + self.count)
                    await exchange.publish(_message(event, message_id=None, headers={}), "flow")
                    self.count += 1
        except BaseException as exc:  # handed to the test by stop()
            self._error = exc

    def __enter__(self) -> Flow:
        self._thread.start()
        wait_until(lambda: self.count > 0 or self._error)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive(), "the publisher did not stop"
        if self._error is not None:
            raise self._error


# -- the tests ------------------------------------------------------------------------


def test_event_reaches_clients_of_every_instance(
    spawn: type[ServerProcess], connect: Connect, broker: Names, redis_prefix: str
) -> None:
    """Two instances on one Redis compete for the queue; both clients get every event once.

    Each event is applied by one instance and broadcast by both, in the same order with
    the same text; an event sent again is a duplicate whichever instance takes it.
    """
    store = ["--store", REDIS_URL, "--store-prefix", redis_prefix]
    ports = [start(spawn, *store, *broker.args())[1] for _ in range(2)]
    clients = [connect(port) for port in ports]
    assert clients[0][1] == clients[1][1], "both instances start from the same shared seq"
    after = clients[0][1]

    n = 20
    events: list[Event] = []
    for i in range(n):
        if i % 2:  # order-independent: rome only loses seats, 10 in all, from 18
            events.append({"tourId": "tour_rome", "seatsDelta": -1, "eventId": f"e{i}"})
        else:
            tour = ("tour_paris", "tour_london")[i % 4 // 2]
            events.append({"tourId": tour, "availableSeats": i % 12, "eventId": f"e{i}"})
    resent = events[:4]
    last: Event = {"tourId": "tour_london", "availableSeats": 15, "eventId": "last"}
    publish(
        broker,
        [*events, *resent, last],
        routing_keys=("booking.paris", "a.b.c", "", "x", "booking.rome.new"),
    )

    texts = [updates(ws, n + 1) for ws, _ in clients]
    wait_until(lambda: total(ports, "consumed") == n + len(resent) + 1)
    for ws, _ in clients:
        nothing_more(ws)
    assert texts[0] == texts[1], "every instance sends the same texts"
    messages = check_consecutive(texts[0], after)
    absolute = sorted(
        (m["tourId"], m["availableSeats"]) for m in messages if m["tourId"] != "tour_rome"
    )
    assert absolute == sorted(
        (e["tourId"], e["availableSeats"])
        for e in [*events, last]
        if isinstance(e, dict) and "availableSeats" in e
    )
    rome = [m["availableSeats"] for m in messages if m["tourId"] == "tour_rome"]
    assert rome == list(range(17, 7, -1))

    counts = [broker_counts(port) for port in ports]
    assert total(ports, "applied") == n + 1
    assert total(ports, "duplicates") == len(resent)
    assert total(ports, "deadLettered") == 0
    assert all(c["applied"] > 0 for c in counts), f"one instance took every event: {counts}"
    assert all(c["connected"] and c["queue"] == broker.queue for c in counts)


def test_event_applied_with_the_memory_store(
    spawn: type[ServerProcess], connect: Connect, broker: Names
) -> None:
    """One instance, no Redis: events change the seats and reach the client in order."""
    _, port = start(spawn, *broker.args())
    ws, after = connect(port)
    publish(
        broker,
        [
            {"tourId": "tour_london", "seatsDelta": -3, "eventId": "m1"},
            {"tourId": "tour_paris", "availableSeats": 0},
        ],
    )
    first, second = check_consecutive(updates(ws, 2), after)
    assert (first["tourId"], first["tourName"], first["availableSeats"]) == (
        "tour_london",
        "London Eye Experience",
        12,
    )
    assert (second["tourId"], second["availableSeats"]) == ("tour_paris", 0)
    wait_until(lambda: total([port], "applied") == 2)
    counts = broker_counts(port)
    assert (counts["consumed"], counts["deadLettered"], counts["connected"]) == (2, 0, True)
    assert health(port)["store"]["kind"] == "memory"


BAD_EVENTS: list[tuple[str, Event, str]] = [
    ("broken JSON", b'{"tourId": "tour_paris", "availableSeats": ', "bad_json"),
    ("not UTF-8", b"\xff\xfe{}", "bad_json"),
    ("empty body", b"", "bad_json"),
    ("an array", b'["tour_paris", 3]', "bad_json"),
    ("a string", b'"tour_paris"', "bad_json"),
    ("unknown tour", {"tourId": "tour_atlantis", "availableSeats": 3}, "unknown_tour"),
    ("seats as string", {"tourId": "tour_paris", "availableSeats": "12"}, "bad_type"),
    ("seats as boolean", {"tourId": "tour_paris", "availableSeats": True}, "bad_type"),
    ("delta as float", {"tourId": "tour_paris", "seatsDelta": 1.5}, "bad_type"),
    ("delta as null", {"tourId": "tour_paris", "seatsDelta": None}, "bad_type"),
    ("tour id a number", {"tourId": 7, "availableSeats": 1}, "bad_type"),
    ("no seats field", {"tourId": "tour_paris"}, "bad_type"),
    ("both fields", {"tourId": "tour_paris", "availableSeats": 1, "seatsDelta": 1}, "bad_type"),
    ("event id a number", {"tourId": "tour_paris", "availableSeats": 1, "eventId": 5}, "bad_type"),
    ("above capacity", {"tourId": "tour_paris", "availableSeats": 21}, "out_of_range"),
    ("huge count", {"tourId": "tour_rome", "availableSeats": 10**30}, "out_of_range"),
    ("negative count", {"tourId": "tour_paris", "availableSeats": -1}, "out_of_range"),
    ("delta below zero", {"tourId": "tour_london", "seatsDelta": -16}, "out_of_range"),
    ("delta above capacity", {"tourId": "tour_rome", "seatsDelta": 1}, "out_of_range"),
    ("too large", b'{"tourId": "tour_paris", "availableSeats": 1, "pad": "' + b"x" * 70_000 + b'"}',
     "too_large"),
]  # fmt: skip


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_malformed_events_are_dead_lettered_with_their_reason(
    spawn: type[ServerProcess],
    connect: Connect,
    broker: Names,
    kind: str,
    request: pytest.FixtureRequest,
) -> None:
    """Every event that cannot apply goes to the DLQ, unchanged, with why; the next one applies."""
    _, port = start(spawn, *store_args(kind, request), *broker.args())
    ws, after = connect(port)
    labels = [label for label, _, _ in BAD_EVENTS]
    publish(
        broker,
        [event for _, event, _ in BAD_EVENTS],
        routing_keys=("booking.bad", "other"),
        headers=[{"x-test-label": label} for label in labels],
    )
    publish(broker, [{"tourId": "tour_paris", "seatsDelta": -2, "eventId": "after-bad"}])

    (valid,) = check_consecutive(updates(ws, 1), after)
    assert (valid["tourId"], valid["availableSeats"]) == ("tour_paris", 18)
    nothing_more(ws)
    wait_until(lambda: total([port], "deadLettered") == len(BAD_EVENTS))
    counts = broker_counts(port)
    assert (counts["consumed"], counts["applied"], counts["duplicates"]) == (
        len(BAD_EVENTS) + 1,
        1,
        0,
    )
    assert counts["connected"], "the consumer is still up"

    dead = run(_read_dead_letters(broker))
    by_label = {text_headers(message)["x-test-label"]: message for message in dead}
    assert sorted(by_label) == sorted(labels), "each rejected event is dead-lettered once"
    assert len(dead) == len(BAD_EVENTS)
    for i, (label, event, reason) in enumerate(BAD_EVENTS):
        message = by_label[label]
        got = text_headers(message)
        assert got["x-tourpanel-reason"] == reason, label
        assert got["x-tourpanel-error"], f"{label}: no error message"
        assert len(got["x-tourpanel-error"]) <= 500
        assert got["x-routing-key"] == ("booking.bad", "other")[i % 2], label
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        assert message.body == body, f"{label}: the body is kept as it came"


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_same_event_twice_is_applied_once(
    spawn: type[ServerProcess],
    connect: Connect,
    broker: Names,
    kind: str,
    request: pytest.FixtureRequest,
) -> None:
    """An ``eventId`` (or, without one, the AMQP message id) seen before is not applied again."""
    _, port = start(spawn, *store_args(kind, request), *broker.args())
    ws, after = connect(port)
    booking = {"tourId": "tour_london", "seatsDelta": -4, "eventId": "booking-42"}
    release = {"tourId": "tour_london", "seatsDelta": 1}  # de-duplicated by its message id
    sentinel = {"tourId": "tour_rome", "availableSeats": 5, "eventId": "sentinel"}
    publish(
        broker,
        [booking, booking, release, release, sentinel],
        message_ids=["a", "b", "msg-7", "msg-7", None],
    )
    messages = check_consecutive(updates(ws, 3), after)
    assert [(m["tourId"], m["availableSeats"]) for m in messages] == [
        ("tour_london", 11),
        ("tour_london", 12),
        ("tour_rome", 5),
    ]
    nothing_more(ws)
    wait_until(lambda: total([port], "consumed") == 5)
    counts = broker_counts(port)
    assert (counts["applied"], counts["duplicates"], counts["deadLettered"]) == (3, 2, 0)


def test_consumer_comes_back_after_the_broker_drops_it(
    amqp_user: User, spawn: type[ServerProcess], connect: Connect, broker: Names
) -> None:
    """The broker drops the server's connection under load and refuses it for a while:
    ``connected`` goes false, then true once it is let back in, and every event published
    before, across the cut, during and after reaches the client once (an event applied
    but not acknowledged comes back and is a duplicate by its ``eventId``).

    The connection is the only one of a user of the test's own: ``close_all_connections``
    (or a broker restart) would cut off every other test and person on this broker, and
    without the refusal aio-pika reconnects within milliseconds, too fast to observe.
    """
    _, port = start(spawn, *broker.args(url=amqp_user.url))
    ws, after = connect(port)
    sent = 0

    def batch(size: int) -> None:
        nonlocal sent
        publish(broker, [absolute(sent + i) for i in range(size)])
        sent += size

    batch(5)
    received = collect(ws, 5)
    assert len(received) == 5

    (pid,) = amqp_user.connections()
    amqp_user.refuse()
    with Flow(broker, sent) as flow:  # events in flight while the connection drops
        amqp_user.cut_off(pid)
        wait_until(lambda: not broker_counts(port)["connected"])
    sent += flow.count
    batch(5)  # waits in the durable queue while the consumer is away
    amqp_user.allow()
    wait_until(lambda: broker_counts(port)["connected"], timeout=20)
    batch(5)

    received += collect(ws, sent - len(received))
    wait_until(lambda: total([port], "consumed") - total([port], "duplicates") >= sent)
    counts = broker_counts(port)
    report_counts(
        "test_broker_consumer_reconnect",
        sent=sent,
        delivered=len(received),
        **{k: counts[k] for k in ("consumed", "applied", "duplicates", "deadLettered")},
    )
    messages = check_consecutive(received, after)
    assert len(messages) == sent, f"sent {sent}, delivered {len(messages)}"
    got = sorted((m["tourId"], m["availableSeats"]) for m in messages)
    assert got == sorted(PAIRS[i % len(PAIRS)] for i in range(sent))
    assert [(m["tourId"], m["availableSeats"]) for m in messages[:5]] == PAIRS[:5]
    assert (counts["applied"], counts["deadLettered"]) == (sent, 0)
    assert counts["consumed"] - counts["duplicates"] == sent
    assert amqp_user.connections() not in ([], [pid]), "a new connection replaced the old"


POISON = [
    b'{"tourId": "tour_paris", "availableSeats": ' + b"1" * 5000 + b"}",
    b"[" * 5000 + b"]" * 5000,
]


@pytest.mark.parametrize("poison", POISON, ids=["5000-digit number", "deep nesting"])
def test_event_json_cannot_read_is_dead_lettered(
    spawn: type[ServerProcess], connect: Connect, broker: Names, poison: bytes
) -> None:
    """A body under the size limit that Python's JSON parser refuses is dead-lettered too."""
    _, port = start(spawn, *broker.args())
    ws, after = connect(port)
    publish(broker, [poison, {"tourId": "tour_paris", "availableSeats": 3}])
    check_consecutive(updates(ws, 1), after)  # the next event still applies
    wait_until(lambda: total([port], "applied") == 1)
    # One event at a time, in order: the first was done with before the second applied.
    assert total([port], "deadLettered") == 1
    (dead,) = run(_read_dead_letters(broker))
    assert text_headers(dead).get("x-tourpanel-reason") == "bad_json"
