"""Attacks on a live ``tourpanel-server`` (tier 7): fuzzing, floods, clients that never
read, pipelining, slowloris. Each asserts that well-behaved clients lost nothing (their
``seq`` are consecutive) and that the server stayed up; none asserts a wall-clock bound:
timings under attack are compared with the same server's timings without it.

Run with ``-s`` to see the figures each attack prints.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import select
import signal
import socket
import statistics
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from tourpanel import protocol as p

from .conftest import TIMEOUT, greet, open_client, recv_json, wait_until
from .test_process import LISTENING, ServerProcess
from .test_transport import HEALTH_REQUEST, parse_http, read_frames, read_to_end

pytestmark = [pytest.mark.attack, pytest.mark.process]

TOURS = [tour.id for tour in p.DEFAULT_TOURS]
BROADCASTS = {"AVAILABILITY_UPDATE", "RANDOM_NUMBER"}
SERVER_TYPES = {kind.value for kind in p.Kind} - {kind.value for kind in p.CLIENT_KINDS}
CLIENT_ERRORS = {code.value for code in p.ErrorCode} - {p.ErrorCode.INTERNAL.value}
# Every stderr line is one log record in the server's format: a traceback or any other
# multi-line output breaks it.
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING) \S+: ")

# (test, exit code after SIGTERM, stderr) of every server this module ran.
SERVER_LOGS: list[tuple[str, int | None, str]] = []


# -- the server and its clients ---------------------------------------------------------


class Server(ServerProcess):
    """``tourpanel-server`` on a free loopback port; stopped with SIGTERM, log kept."""

    def __init__(self, *args: str) -> None:
        super().__init__(*args)
        self.port = int(self.wait_for(LISTENING)[1])

    def url(self, path: str = "/") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def health(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}/healthz"
        with urllib.request.urlopen(url, timeout=TIMEOUT) as reply:
            return json.load(reply)  # type: ignore[no-any-return]

    def cpu_seconds(self) -> float:
        """User and system CPU time the server has used."""
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def security(self) -> dict[str, Any]:
        return self.health()["security"]  # type: ignore[no-any-return]

    def memory(self, field: str = "VmRSS") -> int:
        """Resident memory in KiB: ``VmRSS`` now, or ``VmHWM`` (the peak so far)."""
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.proc.pid}/status")

    def stop(self) -> tuple[int | None, str]:
        """SIGTERM, as an operator stops it; its exit code and whole stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(TIMEOUT)
        code = self.proc.poll()
        self.close()
        return code, self.rest_of_log()


@pytest.fixture
def spawn(request: pytest.FixtureRequest) -> Iterator[Callable[..., Server]]:
    """Start servers; each is stopped after the test and its log kept in SERVER_LOGS."""
    started: list[Server] = []

    def start(*args: str) -> Server:
        server = Server(*args)
        started.append(server)
        return server

    yield start
    for server in started:
        SERVER_LOGS.append((request.node.name, *server.stop()))


def handshake(url: str) -> tuple[socket.socket, ClientProtocol]:
    """A raw WebSocket: a plain socket and websockets' Sans-I/O protocol to parse frames."""
    uri = parse_uri(url)
    protocol = ClientProtocol(uri, max_size=None)
    protocol.send_request(protocol.connect())
    sock = socket.create_connection((uri.host, uri.port), timeout=TIMEOUT)
    sock.sendall(b"".join(protocol.data_to_send()))
    while protocol.state is State.CONNECTING:
        data = sock.recv(65536)
        assert data, "the server closed the connection during the handshake"
        protocol.receive_data(data)
    assert protocol.state is State.OPEN, protocol.handshake_exc
    protocol.events_received()  # the response, not a frame
    return sock, protocol


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    length: int | None = None,
) -> bytes:
    """A client frame built by hand, so that it can break every rule of RFC 6455."""
    size = len(payload) if length is None else length
    head = bytearray([(0x80 if fin else 0) | rsv << 4 | opcode])
    mask_bit = 0x80 if masked else 0
    if size < 126:
        head.append(mask_bit | size)
    elif size < 2**16:
        head += bytes([mask_bit | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([mask_bit | 127]) + size.to_bytes(8, "big")
    if not masked:
        return bytes(head) + payload
    key = b"\x37\xfa\x21\x3d"
    stream = (key * (len(payload) // 4 + 1))[: len(payload)]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(
        len(payload), "big"
    )
    return bytes(head) + key + body


def text(message: Any) -> bytes:
    return frame(Opcode.TEXT, json.dumps(message).encode())


class Watcher(threading.Thread):
    """A well-behaved client in its own thread: reads every broadcast, notes seq and delay."""

    def __init__(self, url: str, feed: str = "tours") -> None:
        super().__init__(daemon=True)
        self._exit = contextlib.ExitStack()
        self.ws = self._exit.enter_context(open_client(url))
        self.first_seq = greet(self.ws, feed)[0]["seq"]
        # (monotonic time received, seq, wall time received - timestamp, timestamp)
        self.received: list[tuple[float, int, float, float]] = []
        self.error: BaseException | None = None
        self._done = threading.Event()
        self.start()

    def run(self) -> None:
        try:
            while not self._done.is_set():
                try:
                    data = self.ws.recv(timeout=0.1)
                except TimeoutError:
                    continue
                now, arrived = time.time(), time.monotonic()
                message = json.loads(data)
                if message["type"] in BROADCASTS:
                    sent = p.parse_timestamp(message["timestamp"]).timestamp()
                    self.received.append((arrived, message["seq"], now - sent, sent))
        except BaseException as exc:  # reported by lost_nothing()
            self.error = exc

    def stop(self) -> None:
        self._done.set()
        self.join(TIMEOUT)
        self._exit.close()

    def lost_nothing(self) -> int:
        """Assert that every broadcast since the greeting came, in order; how many came."""
        assert self.error is None, f"the well-behaved client failed: {self.error!r}"
        seqs = [seq for _, seq, _, _ in self.received]
        assert seqs, "the well-behaved client received no broadcast"
        expected = list(range(self.first_seq + 1, self.first_seq + 1 + len(seqs)))
        assert seqs == expected, f"gaps or reordering: {_gaps(seqs, self.first_seq)}"
        return len(seqs)

    def window(self, start: float, end: float) -> dict[str, float]:
        """Broadcasts per second received in [start, end), and p99s in seconds: of their
        delivery latency, and of the gaps between ticks (a tick's timestamp is taken when
        it runs, so only the gaps show a tick that the server ran late)."""
        inside = [(at, lat, sent) for at, _, lat, sent in self.received if start <= at < end]
        assert len(inside) >= 10, f"only {len(inside)} broadcasts in the window"
        first_of_tick: dict[float, float] = {}  # a tick's broadcasts share its timestamp
        for at, _, sent in inside:
            first_of_tick.setdefault(sent, at)
        ticks = sorted(first_of_tick.values())
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        return {
            "rate": len(inside) / (end - start),
            "latency": statistics.quantiles([lat for _, lat, _ in inside], n=100)[98],
            "gap": statistics.quantiles(gaps, n=100)[98],
        }


def _gaps(seqs: list[int], first: int) -> list[tuple[int, int]]:
    pairs = zip([first, *seqs], seqs, strict=False)
    return [(a, b) for a, b in pairs if b != a + 1][:10]


def assert_up(server: Server, path: str = "/") -> None:
    """The server answers its health check and greets a new client."""
    assert server.health()["status"] == "ok"
    with open_client(server.url(path)) as ws:
        assert recv_json(ws)["type"] == "WELCOME"


# -- 1. property-based fuzzing ----------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """Frames a fuzzing client sends in a row; ``ends`` if they may end the connection
    with a close code the client chose."""

    label: str
    frames: tuple[bytes, ...]
    ends: bool = False


texts = st.text(st.characters(exclude_categories=()), max_size=12)  # lone surrogates too
huge_numbers = st.integers(1, 4000).map(lambda digits: int("9" * digits)) | st.integers(
    -(2**80), 2**80
)
json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | huge_numbers | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=10,
)
client_types = st.sampled_from([kind.value for kind in p.CLIENT_KINDS])
other_types = st.sampled_from([*(kind.value for kind in p.Kind), "ping", "", "PING\x00"])


def client_messages(epoch: str) -> st.SearchStrategy[dict[str, Any]]:
    """Messages that look like the client's, fields often of the wrong type."""
    return st.fixed_dictionaries(
        {"type": client_types | client_types | client_types | other_types | json_values},
        optional={
            "tourId": st.sampled_from([*TOURS, "tour_atlantis"]) | json_values,
            "epoch": st.sampled_from([epoch, "x"]) | json_values,
            "seq": st.integers(-3, 300) | huge_numbers | json_values,
            "tourIds": st.lists(st.sampled_from(TOURS)) | json_values,
        },
    )


def encoded(value: Any, ascii_only: bool) -> bytes:
    """JSON text; with ``ascii_only=False`` a lone surrogate becomes invalid UTF-8."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def fragmented(draw: st.DrawFn, payloads: st.SearchStrategy[bytes]) -> Piece:
    """One message in 2 to 70 frames (past 64 the server closes 1009), pings between."""
    payload = draw(payloads)
    count = draw(st.integers(2, 70))
    cuts = sorted(draw(st.lists(st.integers(0, len(payload)), min_size=count - 1)))[: count - 1]
    parts = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=False)]
    opcode = draw(st.sampled_from([Opcode.TEXT, Opcode.BINARY]))
    frames = []
    for i, part in enumerate(parts):
        frames.append(frame(opcode if i == 0 else Opcode.CONT, part, fin=i == len(parts) - 1))
        if draw(st.integers(0, 9)) == 0:
            frames.append(frame(Opcode.PING, b"between"))
    return Piece(f"fragmented {'long' if len(parts) > 64 else 'short'}", tuple(frames))


def pieces(epoch: str) -> st.SearchStrategy[Piece]:
    messages = client_messages(epoch)
    valid = st.sampled_from(
        [
            {"type": "PING"},
            {"type": "SUBSCRIBE", "tourId": "tour_rome"},
            {"type": "UNSUBSCRIBE", "tourId": "tour_paris"},
            {"type": "RESUME", "epoch": epoch, "seq": 0},
            {"type": "RESUME", "epoch": "x", "seq": 0},
        ]
    )
    # Mostly ASCII JSON (a lone surrogate as its escape), else UTF-8 that may be invalid.
    ascii_only = st.sampled_from([True, True, True, False])
    message_bytes = st.builds(encoded, messages | valid | json_values, ascii_only)
    nested = st.integers(1, 2040).map(lambda n: b"[" * n + b"]" * n)
    single = st.builds(
        lambda opcode, data: Piece(f"{opcode.name.lower()} message", (frame(opcode, data),)),
        st.sampled_from([Opcode.TEXT, Opcode.TEXT, Opcode.TEXT, Opcode.BINARY]),
        message_bytes | message_bytes | st.binary(max_size=300) | nested,
    )
    control = st.builds(
        lambda opcode, data: Piece(f"{opcode.name.lower()} frame", (frame(opcode, data),)),
        st.sampled_from([Opcode.PING, Opcode.PONG]),
        st.binary(max_size=125),
    )
    close = st.builds(
        lambda code, reason: Piece(
            "close frame", (frame(Opcode.CLOSE, code.to_bytes(2, "big") + reason),), ends=True
        ),
        st.integers(0, 5000),
        # Logged as the client is dropped: line breaks and terminal escapes too.
        st.binary(max_size=20)
        | st.sampled_from([b"a\nb", b"a\r\nb", b"\x1b[2J", "\u2028\x85".encode()]),
    )
    broken = st.sampled_from(
        [
            Piece("reserved opcode", (frame(3, b"x"),)),
            Piece("reserved opcode", (frame(11),)),
            Piece("reserved bits", (frame(Opcode.TEXT, b"{}", rsv=4),)),
            Piece("unmasked frame", (frame(Opcode.TEXT, b'{"type":"PING"}', masked=False),)),
            Piece("control frame over 125 bytes", (frame(Opcode.PING, b"x" * 126),)),
            Piece("fragmented control frame", (frame(Opcode.PING, b"", fin=False),)),
            Piece("continuation out of nowhere", (frame(Opcode.CONT, b"}"),)),
            Piece("unfinished message", (frame(Opcode.TEXT, b"{", fin=False),)),
            Piece("length of 2**40", (frame(Opcode.BINARY, length=2**40),)),
            Piece("message over 4096 bytes", (frame(Opcode.TEXT, b" " * 4097),)),
            Piece("one-byte close", (frame(Opcode.CLOSE, b"\x03"),), ends=True),
        ]
    )
    # Weighted so that most batches reach the decoder before a broken frame ends them.
    weighted = [*[single] * 8, fragmented(message_bytes), control, control, close, broken]
    return st.sampled_from(weighted).flatmap(lambda strategy: strategy)


class FuzzingClient:
    """A raw connection that sends pieces, then a ping of its own, and reads up to its pong."""

    def __init__(self, url: str) -> None:
        self.sock, self.protocol = handshake(url)
        self.replies: Counter[str] = Counter()

    def send(self, data: bytes, token: bytes) -> int | bool | None:
        """``True`` if still open once everything sent was answered, else the close code
        (``None`` for a close without one)."""
        with contextlib.suppress(OSError):  # closed while sending: what it said comes below
            self.sock.sendall(data + frame(Opcode.PING, token))
        protocol = self.protocol
        while True:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            except TimeoutError:
                raise AssertionError(f"the server did not answer within {TIMEOUT} s") from None
            if not data:
                protocol.receive_eof()
                return protocol.close_rcvd.code if protocol.close_rcvd else None
            protocol.receive_data(data)
            answered = False
            for event in protocol.events_received():
                if event.opcode is Opcode.TEXT:
                    message = json.loads(event.data)
                    assert message["type"] in SERVER_TYPES, message
                    if message["type"] == "ERROR":
                        assert message["code"] in CLIENT_ERRORS, message
                    self.replies[message.get("code", message["type"])] += 1
                answered |= event.opcode is Opcode.PONG and event.data == token
            if protocol.close_rcvd is not None:
                return protocol.close_rcvd.code
            if answered:
                return True

    def close(self) -> None:
        self.sock.close()


# 1002 protocol error, 1007 invalid data, 1008 over the message budget for too long,
# 1009 too big (or in too many fragments).
FUZZ_CLOSE_CODES = {1002, 1007, 1008, 1009}


def test_fuzzed_frames_and_messages_spare_the_well_behaved(
    spawn: Callable[..., Server],
) -> None:
    """Frames of every kind, valid or not, from several connections: the server answers
    each with a reply, an ERROR or a close with a defined code, never an internal error.

    The budget is high enough that most examples fit in it (they reach the parser) and
    low enough that the larger ones go over it, so both paths are fuzzed."""
    server = spawn(
        "--tours-interval", "0.05", "--random-interval", "0.1", "--history", "100",
        "--rate-limit", "1000", "--rate-burst", "100", "--close-timeout", "1",
    )  # fmt: skip
    watchers = [Watcher(server.url("/tours")) for _ in range(2)]
    epoch = server.health()["feeds"]["tours"]["epoch"]
    paths = ["/tours", "/tours", "/random"]
    clients: dict[int, FuzzingClient] = {}
    frames_sent: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    replies: Counter[str] = Counter()

    @settings(
        max_examples=600,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(which=st.integers(0, len(paths) - 1), batch=st.lists(pieces(epoch), max_size=6))
    def fuzz(which: int, batch: list[Piece]) -> None:
        if which not in clients:
            clients[which] = FuzzingClient(server.url(paths[which]))
        client = clients[which]
        for piece in batch:
            frames_sent[piece.label] += len(piece.frames)
        frames_sent["ping awaited"] += 1
        token = b"awaited %d" % sum(frames_sent.values())
        outcome = client.send(b"".join(f for piece in batch for f in piece.frames), token)
        if outcome is True:
            outcomes["still open"] += 1
            return
        outcomes[f"closed {outcome}"] += 1
        replies.update(client.replies)
        client.close()
        del clients[which]
        if not any(piece.ends for piece in batch):
            assert outcome in FUZZ_CLOSE_CODES

    try:
        fuzz()
        for client in clients.values():
            replies.update(client.replies)
            client.close()
        assert_up(server, "/tours")
        assert_up(server, "/random")
    finally:
        for watcher in watchers:
            watcher.stop()
    received = [watcher.lost_nothing() for watcher in watchers]
    total = sum(frames_sent.values())
    print(f"\n[fuzz] {total} frames sent: {dict(frames_sent.most_common())}")
    print(f"[fuzz] outcomes: {dict(outcomes.most_common())}")
    print(f"[fuzz] replies: {dict(replies.most_common())}")
    print(f"[fuzz] well-behaved clients received {received} broadcasts, no gap")
    assert total >= 1000


# -- 2. floods ------------------------------------------------------------------------------


class Flooder:
    """Sends ``repeated`` as fast as TCP lets it, after ``first``, until the server cuts it
    off; reads what comes back in another thread (a flooder, not a slow reader)."""

    def __init__(self, url: str, repeated: bytes, first: bytes = b"") -> None:
        self.sock, self.protocol = handshake(url)
        self.first, self.repeated = first, repeated
        self.bytes_sent = 0
        self.replies: Counter[str] = Counter()
        self.close_code: int | None = None
        self.closed_after: float | None = None  # seconds from the start to the close frame
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._send, daemon=True),
            threading.Thread(target=self._read, daemon=True),
        ]
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()

    @property
    def frames_sent(self) -> int:
        return (self.bytes_sent - len(self.first)) // len(self.repeated) + bool(self.first)

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def _send(self) -> None:
        batch = memoryview(self.repeated * max(1, 65536 // len(self.repeated)))
        try:
            self.sock.sendall(self.first)
            self.bytes_sent = len(self.first)
            offset = 0
            while not self._stop.is_set():
                sent = self.sock.send(batch[offset:])
                self.bytes_sent += sent
                offset = (offset + sent) % len(batch)
        except OSError:
            pass  # cut off: reset, broken pipe or, if never cut off, closed by stop()

    def _read(self) -> None:
        try:
            while data := self.sock.recv(65536):
                self.protocol.receive_data(data)
                for event in self.protocol.events_received():
                    if event.opcode is Opcode.TEXT:
                        message = json.loads(event.data)
                        self.replies[message.get("code", message["type"])] += 1
                    elif event.opcode is Opcode.CLOSE and self.close_code is None:
                        close = self.protocol.close_rcvd
                        self.close_code = close.code if close else None
                        self.closed_after = time.monotonic() - self.started
        except OSError:
            pass
        self._stop.set()  # the server is gone: stop sending

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):  # unblock both threads, if still connected
            self.sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(TIMEOUT)
        self.sock.close()


FLOODS = {
    "PING": (text({"type": "PING"}), b"", "PONG"),
    "SUBSCRIBE": (text({"type": "SUBSCRIBE", "tourId": "tour_paris"}), b"", "SUBSCRIBED"),
    "empty continuation": (frame(Opcode.CONT, fin=False), frame(Opcode.TEXT, fin=False), None),
}
BASELINE_SECONDS = 3.0
LATENCY_FLOOR = 0.050  # seconds added to twice the unflooded figure, against scheduler noise


def observe(server: Server, watcher: Watcher, busy: Callable[[], bool]) -> dict[str, float]:
    """What the watcher received while ``busy()``: broadcasts per second, p99 of their
    delivery latency (receive time - timestamp) and of the gaps between ticks, and the
    server's CPU share. The health check is polled meanwhile, in every window alike."""
    start, cpu = time.monotonic(), server.cpu_seconds()
    deadline = start + 30.0
    answered = 0
    while busy():
        assert time.monotonic() < deadline, "the window never ended"
        answered += server.health()["status"] == "ok"
        time.sleep(0.25)  # the health check's pace, not a synchronisation
    end = time.monotonic()
    return {
        **watcher.window(start, end),
        "seconds": end - start,
        "cpu": (server.cpu_seconds() - cpu) / (end - start),
        "health answered": answered,
    }


def slower(calm: dict[str, float], flooded: dict[str, float]) -> list[str]:
    """How the flooded window is worse than the calm one past the tolerances."""
    problems = []
    if abs(flooded["rate"] - calm["rate"]) > 0.10 * calm["rate"]:
        problems.append(f"{flooded['rate']:.1f} broadcasts/s instead of {calm['rate']:.1f}")
    for key, what in (("latency", "delivery latency"), ("gap", "gap between ticks")):
        bound = 2 * calm[key] + LATENCY_FLOOR
        if flooded[key] > bound:
            problems.append(f"p99 {what} {flooded[key] * 1000:.0f} ms > {bound * 1000:.0f} ms")
    return problems


def test_floods_leave_the_other_clients_timing_unchanged(spawn: Callable[..., Server]) -> None:
    """One client sends as fast as it can (PINGs, SUBSCRIBEs, empty continuation frames)
    for longer than the 5 s the budget tolerates, while another receives the tours feed:
    compared with the same server unflooded, as many broadcasts per second (within 10 %),
    p99 delivery latency and p99 gap between ticks within twice the unflooded ones."""
    server = spawn("tours", "--tours-interval", "0.05", "--close-timeout", "1")
    watcher = Watcher(server.url())
    problems: dict[str, list[str]] = {}
    try:
        wait_until(lambda: len(watcher.received) >= 5)
        until = time.monotonic() + BASELINE_SECONDS
        calm = observe(server, watcher, lambda: time.monotonic() < until)
        print(f"\n[flood] without flood: {_figures(calm)}")
        for name, (repeated, first, answer) in FLOODS.items():
            before = server.security()
            flooder = Flooder(server.url(), repeated, first)
            try:
                flooded = observe(server, watcher, lambda flooder=flooder: flooder.running)
            finally:
                flooder.stop()
            after = server.security()
            answered = flooder.replies[answer] if answer else 0
            print(
                f"[flood] {name}: {flooder.frames_sent} frames sent, {answered} answered, "
                f"{flooder.replies['rate_limited']} rate_limited, close {flooder.close_code} "
                f"after {flooder.closed_after or 0:.2f} s; other client {_figures(flooded)}"
            )
            assert flooder.replies["rate_limited"] == 1, flooder.replies
            assert flooder.close_code == 1008
            assert answered <= flooder.frames_sent // 1000
            assert after["rateLimited"] == before["rateLimited"] + 1
            assert after["floodClosed"] == before["floodClosed"] + 1
            assert flooded["health answered"] >= 1
            problems[name] = slower(calm, flooded)
        assert_up(server)
    finally:
        watcher.stop()
    print(f"[flood] the other client received {watcher.lost_nothing()} broadcasts, no gap")
    slowed = {name: found for name, found in problems.items() if found}
    assert not slowed


def _figures(window: dict[str, float]) -> str:
    return (
        f"{window['rate']:.1f} broadcasts/s, p99 latency {window['latency'] * 1000:.1f} ms, "
        f"p99 gap {window['gap'] * 1000:.0f} ms, server CPU {window['cpu']:.0%} "
        f"over {window['seconds']:.1f} s, health answered {window['health answered']}x"
    )


# -- 3. clients that never read -----------------------------------------------------------


class NeverReader:
    """Completes the handshake, then only sends ``RESUME`` after ``RESUME``, never reading
    the answers, until the server cuts it off.

    It paces itself, 100 every 20 ms: flat out, it would only queue megabytes of requests
    in the kernel for the server to work through after the drop."""

    # Answered by a SNAPSHOT and the three tours' INITIAL_STATE, some 600 bytes.
    REQUEST = text({"type": "RESUME", "epoch": "x", "seq": 0})

    def __init__(self, url: str) -> None:
        self.sock, _ = handshake(url)
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, daemon=True)
        self._thread.start()

    def _send(self) -> None:
        batch = self.REQUEST * 100
        try:
            while not self._stop.wait(0.02):  # the attack's pace, not a synchronisation
                self.sock.sendall(batch)
                self.requests += 100
        except OSError:
            pass  # dropped

    @property
    def dropped(self) -> bool:
        return not self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT)
        self.sock.close()


NEVER_READERS = 4


def test_clients_that_never_read_are_dropped_and_their_memory_freed(
    spawn: Callable[..., Server],
) -> None:
    """With no heartbeat to notice them, clients that send but never read are dropped
    at the write that passes --max-pending-bytes (1 MiB), and the memory they held is
    returned; a well-behaved client meanwhile receives everything, in order.

    The budget is off: it would throttle the RESUMEs long before the output bound,
    which is the defence under test here."""
    server = spawn(
        "tours", "--tours-interval", "0.01", "--history", "50", "--ping-interval", "0",
        "--rate-limit", "0", "--close-timeout", "0.5",
    )  # fmt: skip
    with open_client(server.url()) as warm_up:  # a first client's imports and buffers
        greet(warm_up, "tours")
        for _ in range(60):  # and the history full
            recv_json(warm_up)
    watcher = Watcher(server.url())
    wait_until(lambda: len(watcher.received) >= 10)
    baseline = server.memory()
    readers = [NeverReader(server.url()) for _ in range(NEVER_READERS)]
    try:
        wait_until(
            lambda: server.security()["slowConsumersDropped"] >= NEVER_READERS,
            timeout=3 * TIMEOUT,
        )
        wait_until(lambda: all(reader.dropped for reader in readers))
        peak = server.memory("VmHWM")
        after = wait_until(
            lambda: (rss := server.memory()) <= 1.10 * baseline and rss, timeout=3 * TIMEOUT
        )
        assert server.health()["connections"] == 1, "only the well-behaved client is left"
        assert_up(server)
    finally:
        for reader in readers:
            reader.close()
        watcher.stop()
    requests = sum(reader.requests for reader in readers)
    print(
        f"\n[never reads] {NEVER_READERS} clients dropped after {requests} RESUMEs unread; "
        f"server RSS baseline {baseline} KiB, peak {peak} KiB, after {after} KiB; "
        f"the well-behaved client received {watcher.lost_nothing()} broadcasts, no gap"
    )
    assert peak > baseline + 1024, "the server did hold their output (a MiB each)"


# -- 4. pipelining ----------------------------------------------------------------------------


def test_a_thousand_pipelined_requests_get_one_answer_then_the_close(
    spawn: Callable[..., Server],
) -> None:
    """RFC 9112 (9.6): after a response with ``Connection: close`` the server processes
    no further request on that connection; the client sends the rest again, elsewhere."""
    server = spawn("--tours-interval", "0.05")
    watcher = Watcher(server.url("/tours"))
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(HEALTH_REQUEST * 1000)
            status, headers, body = parse_http(read_to_end(sock))  # one answer, nothing else
        assert (status, headers["connection"]) == (200, "close")
        assert json.loads(body)["status"] == "ok"
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(HEALTH_REQUEST)  # the second request, sent again
            assert parse_http(read_to_end(sock))[0] == 200
        assert_up(server, "/tours")
    finally:
        watcher.stop()
    watcher.lost_nothing()


def upgrade_request(url: str, **headers: str) -> tuple[ClientProtocol, bytes]:
    protocol = ClientProtocol(parse_uri(url), max_size=None)
    request = protocol.connect()
    for name, value in headers.items():
        request.headers[name] = value
    protocol.send_request(request)
    return protocol, b"".join(protocol.data_to_send())


def close_after_101(sock: socket.socket, protocol: ClientProtocol) -> int | None:
    """Read the 101, then frames up to the server's close (within TIMEOUT); its code."""
    deadline = time.monotonic() + TIMEOUT
    while protocol.close_rcvd is None and (data := sock.recv(65536)):
        assert time.monotonic() < deadline, "no close within the timeout"
        protocol.receive_data(data)
        assert protocol.handshake_exc is None, "the 101 came"
        protocol.events_received()
    return protocol.close_rcvd.code if protocol.close_rcvd else None


# Sent in the same packet as the upgrade request: what the first frames may break.
IN_THE_UPGRADE_PACKET = {
    "invalid UTF-8": ([frame(Opcode.TEXT, b'{"type":"\xff"}')], 1007),
    "an unmasked frame": ([frame(Opcode.TEXT, b'{"type":"PING"}', masked=False)], 1002),
    "a length of 2**63 - 1": ([frame(Opcode.BINARY, length=2**63 - 1)], 1009),
    "65 fragments": (
        [frame(Opcode.TEXT, b"[", fin=False), *[frame(Opcode.CONT, b" ", fin=False)] * 64],
        1009,
    ),
    "a second HTTP request": ([HEALTH_REQUEST], 1002),
}


def test_first_frames_in_the_upgrade_packet_meet_every_limit(
    spawn: Callable[..., Server],
) -> None:
    """Frames that arrive with the upgrade request are parsed once the 101 has gone,
    under the same limits and the same budget as any other (a burst of 100 here, so
    that 65 fragments reach the fragment limit rather than the budget)."""
    server = spawn("--tours-interval", "0.05", "--random-interval", "3600", "--rate-burst", "100")
    watcher = Watcher(server.url("/tours"))
    try:
        for name, (frames, code) in IN_THE_UPGRADE_PACKET.items():
            protocol, request = upgrade_request(server.url("/tours"))
            with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
                sock.sendall(request + b"".join(frames))
                assert close_after_101(sock, protocol) == code, name
        # A burst past the budget in the upgrade's packet: 100 answers, one rate_limited,
        # and the connection is read again once the budget refills.
        limited = server.security()["rateLimited"]
        protocol, request = upgrade_request(server.url("/random"))
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(request + text({"type": "PING"}) * 150)
            frames: list[Frame] = []  # the first may come in the same read as the 101
            while len(frames) < 102:
                protocol.receive_data(sock.recv(65536))
                frames += [e for e in protocol.events_received() if isinstance(e, Frame)]
            replies = [json.loads(f.data) for f in frames]
            kinds = Counter(reply.get("code", reply["type"]) for reply in replies)
            assert kinds == {"WELCOME": 1, "PONG": 100, "rate_limited": 1}
            sock.sendall(text({"type": "PING"}))
            later = read_frames(sock, protocol, count=1)
            assert json.loads(later[0].data)["type"] == "PONG"
        assert server.security()["rateLimited"] == limited + 1
        assert_up(server, "/tours")
    finally:
        watcher.stop()
    watcher.lost_nothing()


def test_frames_behind_a_refused_upgrade_are_never_read(spawn: Callable[..., Server]) -> None:
    """A refused handshake (here a foreign Origin) is one HTTP answer and the close: the
    PINGs behind it get no PONG, and a health check followed by an upgrade opens nothing."""
    server = spawn("--tours-interval", "0.05")
    watcher = Watcher(server.url("/tours"))
    try:
        _, request = upgrade_request(server.url("/tours"), Origin="https://evil.example")
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(request + text({"type": "PING"}) * 10)
            status, _, body = parse_http(read_to_end(sock))
        assert (status, json.loads(body)["reason"]) == (403, "origin")
        _, request = upgrade_request(server.url("/tours"))
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            sock.sendall(HEALTH_REQUEST + request)
            status, _, body = parse_http(read_to_end(sock))
        assert (status, json.loads(body)["connections"]) == (200, 1)  # the watcher only
        health = server.health()
        assert health["connections"] == 1
        assert health["security"]["refusedHandshakes"] == {"origin": 1}
    finally:
        watcher.stop()
    watcher.lost_nothing()


# -- 5. slowloris ---------------------------------------------------------------------------

SLOWLORIS = 50  # half-open requests at once, under the 100 a client address may hold
OPEN_TIMEOUT = 0.5


def test_slowloris_requests_are_cut_off_at_the_open_timeout(
    spawn: Callable[..., Server],
) -> None:
    """Requests that never end, one more header byte every 100 ms, are cut off once
    --open-timeout has passed since they connected, however much they trickle; new
    clients connect meanwhile and the feed goes on."""
    server = spawn("--tours-interval", "0.05", "--open-timeout", str(OPEN_TIMEOUT))
    watcher = Watcher(server.url("/tours"))
    head = b"GET /tours HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nX-Slow: "
    opened: dict[socket.socket, float] = {}
    lasted: list[float] = []
    try:
        for _ in range(SLOWLORIS):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
            opened[sock] = time.monotonic()
            sock.sendall(head)
        with open_client(server.url("/tours")) as newcomer:  # while they all hang on
            assert len(greet(newcomer, "tours")) == 4
        assert server.health()["status"] == "ok"
        deadline = time.monotonic() + TIMEOUT
        while opened and time.monotonic() < deadline:
            readable, _, _ = select.select(list(opened), [], [], 0.1)
            for sock in readable:  # the end of the stream, or a reset: cut off
                with contextlib.suppress(OSError):
                    assert sock.recv(65536) == b"", "no answer to a request never finished"
                lasted.append(time.monotonic() - opened.pop(sock))
                sock.close()
            for sock in opened:
                with contextlib.suppress(OSError):
                    sock.send(b"x")  # one more byte of the header, as slowloris does
        assert not opened, f"{len(opened)} half-sent requests still open after {TIMEOUT} s"
        assert min(lasted) >= OPEN_TIMEOUT
        assert_up(server, "/tours")
    finally:
        for sock in opened:
            sock.close()
        watcher.stop()
    received = watcher.lost_nothing()
    print(
        f"\n[slowloris] {SLOWLORIS} half-sent requests cut off after "
        f"{min(lasted):.2f}-{max(lasted):.2f} s (--open-timeout {OPEN_TIMEOUT}); "
        f"the well-behaved client received {received} broadcasts, no gap"
    )


# -- 6. the server's log ---------------------------------------------------------------------

FORGED = "2026-01-01 00:00:00,000 WARNING tourpanel.server: forged by a client"


def refused_upgrade(path: bytes) -> bytes:
    """An upgrade request for ``path`` as raw bytes (urllib would strip control
    characters from a URL), from an Origin the server refuses."""
    return (
        b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\nOrigin: https://evil.example\r\n\r\n"
    )


def test_client_text_cannot_forge_log_records() -> None:
    """What a client chose (a close reason, a request path) cannot start a log line of
    its own, nor bring terminal escapes into the log."""
    server = Server("tours")
    try:
        sock, protocol = handshake(server.url())
        with sock:  # the reason is logged as the client is dropped
            sock.sendall(
                frame(Opcode.CLOSE, (4000).to_bytes(2, "big") + b"bye\n" + FORGED.encode())
            )
            read_frames(sock, protocol, until=Opcode.CLOSE)
        wait_until(lambda: server.health()["connections"] == 0)
        for path in (b"/\r" + FORGED.replace(" ", "_").encode(), b"/\x1b[2J\x1b[31mred"):
            with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
                sock.sendall(refused_upgrade(path))  # refused, and logged with its path
                assert parse_http(read_to_end(sock))[0] == 403
    finally:
        _, log = server.stop()
    lines = log.split("\n")  # read with universal newlines: a CR ends a line too
    forged = [line for line in lines if line.startswith((FORGED, FORGED.replace(" ", "_")))]
    assert forged == [], log
    assert "\x1b" not in log, log


def test_client_faults_are_one_log_line_never_a_traceback() -> None:
    """Every server of this module logged each client's fault as one line: no traceback,
    nothing at ERROR, and each exited 0 on SIGTERM. This test adds a server of its own
    fed a little of everything, so that it checks something when run alone."""
    server = Server("--tours-interval", "0.05", "--open-timeout", "0.5")
    try:
        faults = [
            frame(Opcode.TEXT, b"\xed\xa0\x80"),  # a surrogate in UTF-8: 1007
            text({"type": "SUBSCRIBE", "tourId": "\ud800"}),  # as its JSON escape: an ERROR
            frame(Opcode.TEXT, b"[" * 3000 + b"]" * 1000),  # nested too deeply: an ERROR
            frame(Opcode.TEXT, b" " * 5000),  # too big: 1009
            frame(Opcode.TEXT, b"{", fin=False) + frame(Opcode.TEXT, b"}"),  # 1002
        ]
        for fault in faults:
            sock, protocol = handshake(server.url("/tours"))
            with sock:
                sock.sendall(fault + frame(Opcode.CLOSE, (1000).to_bytes(2, "big")))
                read_frames(sock, protocol, until=Opcode.CLOSE)
        requests = [b"GARBAGE\r\n\r\n", b"GET /tours HTTP/1.1\r\n\r\n", b"GET /tours HTTP/1.1\r\n"]
        for request in requests:  # not HTTP, not an upgrade, never finished
            with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
                sock.sendall(request)
                with contextlib.suppress(ConnectionResetError):
                    read_to_end(sock)
        assert_up(server, "/tours")
    finally:
        own = ("test_client_faults_are_one_log_line_never_a_traceback", *server.stop())
    logs = [*SERVER_LOGS, own]
    for test, code, log in logs:
        assert "Traceback (most recent call last)" not in log, f"{test}:\n{log}"
        # Lines as a log file has them: str.splitlines() would also break at the
        # vertical tabs and separators a fuzzed close reason may hold.
        odd = [line for line in log.split("\n")[:-1] if not LOG_LINE.match(line)]
        assert odd == [], f"{test}: lines that are not one log record each: {odd[:5]}"
        assert "\x1b" not in log, f"{test}: a terminal escape in the log"
        assert code == 0, f"{test}: exit code {code} after SIGTERM"
    lines = sum(log.count("\n") for _, _, log in logs)
    print(f"\n[log] {len(logs)} servers, {lines} log lines, no traceback")
