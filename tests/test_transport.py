"""The feeds over real sockets on loopback: greeting, broadcast, subscriptions, resume,
bad input, heartbeat and health."""

from __future__ import annotations

import json
import logging
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import pytest
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.sync.client import connect
from websockets.uri import parse_uri

from .conftest import TIMEOUT, ServerThread, greet, open_client, recv_json, send_json, wait_until


def test_random_feed_greets_then_broadcasts(server: ServerThread) -> None:
    with open_client(server.url("random")) as ws:
        [welcome] = greet(ws, "random")
        assert welcome["type"] == "WELCOME"
        assert welcome["message"] == "Bienvenue sur le serveur de nombres aléatoires!"
        server.tick("random")
        number = recv_json(ws)
        assert number["type"] == "RANDOM_NUMBER"
        assert 1 <= number["value"] <= 100
        assert number["seq"] == welcome["seq"] + 1
        assert number["epoch"] == welcome["epoch"]
        assert number["timestamp"].endswith("Z")


def test_tours_feed_greets_with_every_tour(server: ServerThread) -> None:
    with open_client(server.url("tours")) as ws:
        welcome, *states = greet(ws, "tours")
        assert welcome["message"] == "Connecté au serveur de disponibilité des tours"
        assert [(s["type"], s["tourId"], s["availableSeats"]) for s in states] == [
            ("INITIAL_STATE", "tour_paris", 20),
            ("INITIAL_STATE", "tour_london", 15),
            ("INITIAL_STATE", "tour_rome", 18),
        ]
        server.tick("tours")
        update = recv_json(ws)
        assert update["type"] == "AVAILABILITY_UPDATE"
        assert list(update)[:5] == ["type", "tourId", "tourName", "availableSeats", "timestamp"]


@pytest.mark.parametrize("path", ["", "/", "/anything?x=1"])
def test_a_single_feed_answers_on_any_path_like_the_lesson(
    make_server: Callable[..., ServerThread], path: str
) -> None:
    server = make_server(feeds=("tours",))
    with open_client(f"ws://127.0.0.1:{server.server.port}{path}") as ws:
        assert greet(ws, "tours")[0]["feed"] == "tours"


def test_compression_is_off_even_when_the_client_offers_it(server: ServerThread) -> None:
    with connect(server.url("tours"), open_timeout=TIMEOUT) as ws:  # offers permessage-deflate
        assert ws.request is not None
        assert "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers


def test_broadcast_reaches_every_client_identically(server: ServerThread) -> None:
    with ExitStack() as stack:
        clients = [stack.enter_context(open_client(server.url("tours"))) for _ in range(8)]
        for ws in clients:
            greet(ws, "tours")
        server.tick("tours", times=3)
        received = [[ws.recv(timeout=TIMEOUT) for _ in range(3)] for ws in clients]
        assert all(r == received[0] for r in received)
        assert [json.loads(m)["seq"] for m in received[0]] == [1, 2, 3]


def test_subscribers_get_only_their_tours(server: ServerThread) -> None:
    with open_client(server.url("tours")) as everything, open_client(server.url("tours")) as rome:
        greet(everything, "tours")
        greet(rome, "tours")
        send_json(rome, {"type": "SUBSCRIBE", "tourId": "tour_rome"})
        assert recv_json(rome) == {
            "type": "SUBSCRIBED",
            "tourId": "tour_rome",
            "tourIds": ["tour_rome"],
        }
        server.tick("tours", times=40)
        sent = server.health()["feeds"]["tours"]["seq"]  # resets add broadcasts to ticks
        every = [recv_json(everything) for _ in range(sent)]
        expected = [m for m in every if m["tourId"] == "tour_rome"]
        assert expected, "40 seeded ticks include Rome"
        assert len(expected) < len(every)
        assert [recv_json(rome) for _ in expected] == expected
        send_json(rome, {"type": "PING"})
        assert recv_json(rome)["type"] == "PONG", "nothing else was queued for the subscriber"


def test_resume_fills_the_gap_in_order(server: ServerThread) -> None:
    with open_client(server.url("tours")) as ws:
        welcome = greet(ws, "tours")[0]
        server.tick("tours", times=2)
        seen = [recv_json(ws) for _ in range(2)]
    server.tick("tours", times=5)  # missed while away
    with open_client(server.url("tours")) as ws:
        greet(ws, "tours")
        send_json(ws, {"type": "RESUME", "epoch": welcome["epoch"], "seq": seen[-1]["seq"]})
        replayed = [recv_json(ws) for _ in range(5)]
        assert [m["seq"] for m in replayed] == [3, 4, 5, 6, 7]
        assert all(m["type"] == "AVAILABILITY_UPDATE" for m in replayed)
        assert recv_json(ws) == {
            "type": "RESUMED",
            "epoch": welcome["epoch"],
            "seq": 7,
            "replayed": 5,
        }
        server.tick("tours")
        assert recv_json(ws)["seq"] == 8, "live broadcasts continue after the replay"


def test_resume_outside_history_gets_a_snapshot(make_server: Callable[..., ServerThread]) -> None:
    server = make_server(history=3)
    with open_client(server.url("tours")) as ws:
        epoch = greet(ws, "tours")[0]["epoch"]
    server.tick("tours", times=10)
    with open_client(server.url("tours")) as ws:
        greet(ws, "tours")
        send_json(ws, {"type": "RESUME", "epoch": epoch, "seq": 2})
        snapshot = recv_json(ws)
        assert (snapshot["type"], snapshot["reason"]) == ("SNAPSHOT", "too_old")
        states = [recv_json(ws) for _ in range(3)]
        assert [s["type"] for s in states] == ["INITIAL_STATE"] * 3
        assert {s["seq"] for s in states} == {snapshot["seq"]}


BAD_INPUT: list[tuple[str | bytes, str]] = [
    ("hello", "bad_json"),
    ('{"type":"SUBSCRIBE"', "bad_json"),
    ("[]", "bad_message"),
    ('{"tourId":"tour_rome"}', "bad_message"),
    ('{"type":"TELEPORT"}', "unknown_type"),
    ('{"type":"SUBSCRIBE","tourId":7}', "bad_field"),
    ('{"type":"RESUME","epoch":"x","seq":"7"}', "bad_field"),
    ('{"type":"SUBSCRIBE","tourId":"tour_atlantis"}', "unknown_tour"),
    (b"\x00\x01binary", "bad_message"),
    ("[" * 2000 + "]" * 2000, "bad_json"),  # nested too deeply for Python's parser
]


@pytest.mark.parametrize(("payload", "code"), BAD_INPUT)
def test_bad_input_gets_an_error_and_everyone_carries_on(
    server: ServerThread, payload: str | bytes, code: str
) -> None:
    with open_client(server.url("tours")) as bad, open_client(server.url("tours")) as good:
        greet(bad, "tours")
        greet(good, "tours")
        bad.send(payload)
        error = recv_json(bad)
        assert error["type"] == "ERROR"
        assert error["code"] == code
        assert error["message"]
        server.tick("tours")
        assert recv_json(bad)["type"] == "AVAILABILITY_UPDATE", "the sender stays connected"
        assert recv_json(good)["type"] == "AVAILABILITY_UPDATE"


def test_oversized_message_closes_only_that_connection(
    make_server: Callable[..., ServerThread],
) -> None:
    server = make_server(max_message_size=1024)
    with open_client(server.url("tours")) as bad, open_client(server.url("tours")) as good:
        greet(bad, "tours")
        greet(good, "tours")
        bad.send(json.dumps({"type": "PING", "padding": "x" * 5000}))
        with pytest.raises(ConnectionClosed) as info:
            recv_json(bad)
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1009  # message too big
        server.tick("tours")
        assert recv_json(good)["type"] == "AVAILABILITY_UPDATE"


def raw_client(url: str) -> tuple[socket.socket, ClientProtocol]:
    """A WebSocket as a plain socket and websockets' sans-I/O protocol, to see raw frames."""
    protocol = ClientProtocol(parse_uri(url))
    protocol.send_request(protocol.connect())
    uri = parse_uri(url)
    sock = socket.create_connection((uri.host, uri.port), timeout=TIMEOUT)
    sock.sendall(b"".join(protocol.data_to_send()))
    while protocol.state is State.CONNECTING:
        protocol.receive_data(sock.recv(65536))
    assert protocol.state is State.OPEN, protocol.handshake_exc
    protocol.events_received()  # the handshake response, not a frame
    return sock, protocol


def silent_client(url: str, *, first: dict[str, Any] | None = None) -> socket.socket:
    """Open a WebSocket, optionally send one message, then never read again (so never pong)."""
    sock, protocol = raw_client(url)
    if first is not None:
        protocol.send_text(json.dumps(first).encode())
        sock.sendall(b"".join(protocol.data_to_send()))
    return sock


def read_frames(
    sock: socket.socket, protocol: ClientProtocol, *, count: int = 0, until: Opcode | None = None
) -> list[Frame]:
    """Read until ``count`` frames, or one with opcode ``until``, or the end, have arrived."""
    frames: list[Frame] = []

    def done() -> bool:
        if count:
            return len(frames) >= count
        return any(frame.opcode is until for frame in frames)

    while not done():
        data = sock.recv(65536)
        if not data:
            protocol.receive_eof()
            break
        protocol.receive_data(data)
        frames += [e for e in protocol.events_received() if isinstance(e, Frame)]
    return frames


def test_a_message_sent_in_fragments_is_handled_whole(server: ServerThread) -> None:
    with open_client(server.url("tours")) as ws:
        greet(ws, "tours")
        ws.send(['{"type":"SUBSCR', 'IBE","tourId":', '"tour_rome"}'])
        assert recv_json(ws)["type"] == "SUBSCRIBED"


@pytest.mark.parametrize("split", [0, 2, 3, 6])
def test_frames_sent_before_the_handshake_answer_are_not_lost(
    server: ServerThread, split: int
) -> None:
    """RFC 6455 tells clients to wait for the 101; one that does not is served all the
    same, even when the request's last read holds only the first ``split`` bytes of a frame."""
    uri = parse_uri(server.url("tours"))
    protocol = ClientProtocol(uri)
    protocol.send_request(protocol.connect())
    handshake = b"".join(protocol.data_to_send())
    protocol.state = State.OPEN  # so that it frames messages before the answer
    protocol.send_text(b'{"type":"PING"}')
    protocol.send_text(b'{"type":"PING"}')
    frames = b"".join(protocol.data_to_send())
    protocol.state = State.CONNECTING
    with socket.create_connection((uri.host, uri.port), timeout=TIMEOUT) as sock:
        sock.sendall(handshake + frames[:split])
        while protocol.state is State.CONNECTING:  # the 101 came: the request was read
            protocol.receive_data(sock.recv(65536))
        sock.sendall(frames[split:])
        types = [json.loads(f.data)["type"] for f in read_frames(sock, protocol, count=6)]
    assert types == ["WELCOME", *["INITIAL_STATE"] * 3, "PONG", "PONG"]


def test_invalid_utf8_closes_only_that_connection(server: ServerThread) -> None:
    with open_client(server.url("tours")) as good:
        greet(good, "tours")
        sock, protocol = raw_client(server.url("tours"))
        with sock:
            protocol.send_text(b'{"type":"\xff"}')
            sock.sendall(b"".join(protocol.data_to_send()))
            read_frames(sock, protocol, until=Opcode.CLOSE)
            assert protocol.close_rcvd is not None
            assert protocol.close_rcvd.code == 1007  # invalid data
        server.tick("tours")
        assert recv_json(good)["type"] == "AVAILABILITY_UPDATE"


def test_a_client_ping_gets_its_pong(server: ServerThread) -> None:
    sock, protocol = raw_client(server.url("random"))
    with sock:
        protocol.send_ping(b"are you there")
        sock.sendall(b"".join(protocol.data_to_send()))
        frames = read_frames(sock, protocol, until=Opcode.PONG)
    assert [f.data for f in frames if f.opcode is Opcode.PONG] == [b"are you there"]


def test_a_client_that_never_finishes_its_handshake_is_cut_off(
    make_server: Callable[..., ServerThread],
) -> None:
    server = make_server(open_timeout=0.3)
    with socket.create_connection(("127.0.0.1", server.server.port), timeout=TIMEOUT) as idle:
        idle.sendall(b"GET /tours HTTP/1.1\r\n")  # and nothing more
        assert idle.recv(65536) == b"", "the server closed the connection"
    with open_client(server.url("tours")) as ws:
        assert len(greet(ws, "tours")) == 4


def test_a_client_that_leaves_is_forgotten(server: ServerThread) -> None:
    with open_client(server.url("tours")) as ws:
        greet(ws, "tours")
        assert server.health()["connections"] == 1
    wait_until(lambda: server.health()["connections"] == 0)


def test_pings_ride_on_broadcasts(make_server: Callable[..., ServerThread]) -> None:
    """A client that receives broadcasts gets each ping in the same write as one of them,
    and its pongs count as answers (with this timeout it would be dropped otherwise)."""
    server = make_server(tours_interval=0.1, ping_interval=0.6, ping_timeout=0.3)
    sock, protocol = raw_client(server.url("tours"))
    riding, alone = 0, 0
    try:
        while riding < 4:
            data = sock.recv(65536)  # one write arrives in one read on loopback
            assert data, "the server dropped a client that answered its pings"
            protocol.receive_data(data)
            opcodes = [frame.opcode for frame in protocol.events_received()]
            sock.sendall(b"".join(protocol.data_to_send()))  # the pongs
            for before, opcode in zip([None, *opcodes], opcodes, strict=False):
                if opcode is Opcode.PING:
                    riding, alone = (
                        (riding + 1, alone) if before is Opcode.TEXT else (riding, alone + 1)
                    )
        assert alone == 0
    finally:
        sock.close()


def test_a_client_that_stops_answering_pings_is_dropped(
    make_server: Callable[..., ServerThread],
) -> None:
    interval, timeout = 0.5, 0.5
    server = make_server(ping_interval=interval, ping_timeout=timeout)
    baseline = server.health()["feeds"]["tours"]
    with open_client(server.url("tours")) as healthy:  # answers pings from its own thread
        sock = silent_client(
            server.url("tours"), first={"type": "SUBSCRIBE", "tourId": "tour_rome"}
        )
        try:
            wait_until(lambda: server.health()["feeds"]["tours"]["subscribers"] == {"tour_rome": 1})
            # Slack covers the ping timer's phase and a slow machine.
            wait_until(
                lambda: server.health()["feeds"]["tours"]["connections"] == 1,
                timeout=interval + timeout + 2.0,
            )
            after = server.health()["feeds"]["tours"]
            assert after["subscribers"] == baseline["subscribers"] == {}
            greet(healthy, "tours")
            server.tick("tours")
            assert recv_json(healthy)["type"] == "AVAILABILITY_UPDATE", "the healthy client stays"
        finally:
            sock.close()


def test_healthz_reports_feeds_and_connections(server: ServerThread) -> None:
    with open_client(server.url("random")) as ws:
        greet(ws, "random")
        server.tick("random", times=2)
        health = wait_until(lambda: (h := server.health()) and h["connections"] == 1 and h)
    assert health["status"] == "ok"
    assert health["uptimeSeconds"] >= 0
    assert health["feeds"]["random"]["path"] == "/random"
    assert health["feeds"]["random"]["seq"] == 2
    assert health["feeds"]["random"]["intervalSeconds"] == 3600
    assert health["feeds"]["tours"]["connections"] == 0
    with urllib.request.urlopen(f"{server.http_base}/healthz", timeout=TIMEOUT) as reply:
        assert reply.headers["Content-Type"] == "application/json"


def test_unknown_path_is_a_helpful_404(server: ServerThread) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{server.http_base}/trains", timeout=TIMEOUT)
    assert info.value.code == 404
    body = info.value.read().decode()
    info.value.close()
    assert "/random" in body
    assert "/tours" in body


def test_server_close_says_going_away(make_server: Callable[..., ServerThread]) -> None:
    server = make_server()
    with open_client(server.url("tours")) as ws:
        greet(ws, "tours")
        server.stop()
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=TIMEOUT)
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1001


def test_a_failing_http_answer_is_a_500_and_the_server_carries_on(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("health is broken")

    monkeypatch.setattr(server.server, "health", broken)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{server.http_base}/healthz", timeout=TIMEOUT)
    assert info.value.code == 500
    assert "log" in info.value.read().decode()
    info.value.close()
    with open_client(server.url("tours")) as ws:
        assert len(greet(ws, "tours")) == 4


# -- bytes after the request head, in the same read ------------------------------------

HEALTH_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def read_to_end(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def parse_http(data: bytes) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response: status code, headers (lowercase names), body (per Content-Length)."""
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers["content-length"])
    assert len(rest) == length, f"one whole answer and nothing after it: {rest!r}"
    return int(status_line.split()[1]), headers, rest


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert bad == [], [r.getMessage() for r in bad]


def test_pipelined_health_checks_get_the_first_answer_then_the_close(
    server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    """A second request in the same packet used to leave the first unanswered
    (websockets parsed it as frames and our answer then sent a second EOF)."""
    caplog.set_level(logging.DEBUG)
    with socket.create_connection(("127.0.0.1", server.server.port), timeout=TIMEOUT) as sock:
        sock.sendall(HEALTH_REQUEST * 2)
        status, headers, body = parse_http(read_to_end(sock))
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert json.loads(body)["status"] == "ok"
    no_errors_logged(caplog)
    assert server.health()["status"] == "ok", "the server carries on"


def test_a_request_split_anywhere_is_answered(
    server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    """Each split in its own send, the second request pipelined behind the first:
    the end of the head is found even when it straddles two reads."""
    caplog.set_level(logging.INFO)
    for split in range(1, len(HEALTH_REQUEST)):
        with socket.create_connection(("127.0.0.1", server.server.port), timeout=TIMEOUT) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(HEALTH_REQUEST[:split])
            sock.sendall(HEALTH_REQUEST[split:] + HEALTH_REQUEST)
            status, _, body = parse_http(read_to_end(sock))
        assert (status, json.loads(body)["status"]) == (200, "ok"), f"split at {split}"
    no_errors_logged(caplog)


def upgrade_then_frames(url: str, *texts: bytes) -> tuple[ClientProtocol, bytes, bytes]:
    """A client protocol, its upgrade request, and masked text frames sent without
    waiting for the 101 (as some clients do, though RFC 6455 says to wait)."""
    protocol = ClientProtocol(parse_uri(url))
    protocol.send_request(protocol.connect())
    request = b"".join(protocol.data_to_send())
    frames = b"".join(Frame(Opcode.TEXT, text).serialize(mask=True) for text in texts)
    return protocol, request, frames


def test_an_upgrade_and_a_frame_in_one_packet_are_both_served(
    server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    uri = parse_uri(server.url("random"))
    protocol, request, frames = upgrade_then_frames(server.url("random"), b'{"type":"PING"}')
    with socket.create_connection((uri.host, uri.port), timeout=TIMEOUT) as sock:
        sock.sendall(request + frames)
        received = read_frames(sock, protocol, count=2)
    assert protocol.state is not State.CONNECTING
    assert protocol.handshake_exc is None, "the 101 came"
    assert [json.loads(f.data)["type"] for f in received] == ["WELCOME", "PONG"]
    no_errors_logged(caplog)


def test_an_upgrade_split_near_its_end_with_a_frame_behind_it(
    server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    uri = parse_uri(server.url("random"))
    request_length = len(upgrade_then_frames(server.url("random"))[1])
    for split in range(request_length - 6, request_length + 4):
        protocol, request, frames = upgrade_then_frames(server.url("random"), b'{"type":"PING"}')
        data = request + frames
        with socket.create_connection((uri.host, uri.port), timeout=TIMEOUT) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(data[:split])
            sock.sendall(data[split:])
            received = read_frames(sock, protocol, count=2)
        assert [json.loads(f.data)["type"] for f in received] == ["WELCOME", "PONG"], split
    no_errors_logged(caplog)
