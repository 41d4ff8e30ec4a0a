"""The handshake's checks and the per-client limits, over real sockets on loopback.

Tokens, origins, Host names and connection caps are refused with an HTTP status before
the upgrade; limits on what an open connection sends answer with ``ERROR`` or a close.
The floods, the fuzzing and the slow readers are in test_attacks.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tourpanel.server import Settings
from tourpanel.server.auth import mint
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from .conftest import TIMEOUT, ServerThread, greet, recv_json, send_json, wait_until

SECRET = "a classroom secret that is long enough for HS256"
TOURS = ("tour_paris", "tour_london", "tour_rome")


def token(**claims: Any) -> str:
    return jwt.encode({"sub": "ada", "exp": time.time() + 600, **claims}, SECRET, "HS256")


def dial(url: str, *, bearer: str | None = None, **headers: str) -> ClientConnection:
    extra = dict(headers)
    if bearer is not None:
        extra["Authorization"] = f"Bearer {bearer}"
    return connect(url, open_timeout=TIMEOUT, compression=None, additional_headers=extra)


def refusal(url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of a handshake the server refuses."""
    with pytest.raises(InvalidStatus) as refused:
        dial(url, **kwargs).close()
    response = refused.value.response
    assert response.headers["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.body)


def close_of(ws: ClientConnection) -> tuple[int | None, str]:
    """Read until the server closes; its close code and reason."""
    try:
        while True:
            ws.recv(timeout=TIMEOUT)
    except ConnectionClosed as closed:
        return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, "")


def raw_request(port: int, request: bytes) -> bytes:
    """Send ``request`` as is; the answer, read until the server closes or opens."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        answer = b""
        while not answer.startswith(b"HTTP/1.1 101") and (chunk := sock.recv(65536)):
            answer += chunk
    return answer


@pytest.fixture
def secured(make_server: Callable[..., ServerThread]) -> ServerThread:
    return make_server(jwt_secret=SECRET)


# -- tokens ------------------------------------------------------------------------------


def test_without_a_key_anyone_connects_as_in_the_lesson(server: ServerThread) -> None:
    with dial(server.url("tours")) as ws:
        assert greet(ws, "tours")[0]["type"] == "WELCOME"
    assert server.health()["authentication"] is False


@pytest.mark.parametrize("how", ["header", "query"])
def test_a_valid_token_connects(secured: ServerThread, how: str) -> None:
    good = token()
    if how == "header":
        ws = dial(secured.url("random"), bearer=good)
    else:
        ws = dial(secured.url("random") + f"?token={good}")
    with ws:
        assert greet(ws, "random")[0]["type"] == "WELCOME"
        secured.tick("random")
        assert recv_json(ws)["type"] == "RANDOM_NUMBER"


def _hs(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """A token signed by hand: how an attacker builds one PyJWT would refuse to sign."""

    def part(data: dict[str, Any]) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")

    signing = part(header) + b"." + part(claims)
    signature = base64.urlsafe_b64encode(hmac.new(key, signing, hashlib.sha256).digest())
    return (signing + b"." + signature.rstrip(b"=")).decode()


BAD_TOKENS: dict[str, Callable[[], str | None]] = {
    "missing": lambda: None,
    "malformed": lambda: "not-a-jwt",
    "bad_signature": lambda: jwt.encode(
        {"sub": "ada", "exp": time.time() + 600}, "another secret entirely, also long", "HS256"
    ),
    "wrong_algorithm": lambda: jwt.encode(
        {"sub": "ada", "exp": time.time() + 600}, SECRET * 2, "HS512"
    ),
    "not_yet_valid": lambda: token(nbf=time.time() + 600),
    "expired": lambda: token(exp=time.time() - 60),
    "missing_claim": lambda: jwt.encode({"exp": time.time() + 600}, SECRET, "HS256"),
}


@pytest.mark.parametrize("reason", sorted(BAD_TOKENS))
def test_every_bad_token_is_a_401_before_the_upgrade(secured: ServerThread, reason: str) -> None:
    bad = BAD_TOKENS[reason]()
    status, body = refusal(secured.url("tours"), bearer=bad)
    assert (status, body["error"], body["reason"]) == (401, "unauthorized", reason)
    assert body["message"]
    if bad:
        assert bad not in json.dumps(body)
    assert secured.health()["security"]["refusedHandshakes"] == {reason: 1}


def test_an_unsigned_token_is_refused(secured: ServerThread) -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    claims = base64.urlsafe_b64encode(b'{"sub":"ada"}').rstrip(b"=").decode()
    status, body = refusal(secured.url("tours"), bearer=f"{header}.{claims}.")
    assert (status, body["reason"]) == (401, "wrong_algorithm")


def test_audience_and_issuer_are_checked_when_configured(
    make_server: Callable[..., ServerThread],
) -> None:
    server = make_server(jwt_secret=SECRET, jwt_audience="class-5b", jwt_issuer="school")
    url = server.url("tours")
    assert refusal(url, bearer=token(aud="other", iss="school"))[1]["reason"] == "bad_audience"
    assert refusal(url, bearer=token(aud="class-5b", iss="other"))[1]["reason"] == "bad_issuer"
    with dial(url, bearer=token(aud="class-5b", iss="school")) as ws:
        assert greet(ws, "tours")[0]["type"] == "WELCOME"


def test_a_public_key_accepts_its_signatures_and_never_an_hmac_made_with_it(
    make_server: Callable[..., ServerThread],
) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    server = make_server(jwt_public_key=public_pem)
    url = server.url("tours")
    signed = jwt.encode({"sub": "ada", "exp": time.time() + 600}, private, "ES256")
    with dial(url, bearer=signed) as ws:
        assert greet(ws, "tours")[0]["type"] == "WELCOME"
    # The classic confusion: HS256 "signed" with the public key as the HMAC secret.
    forged = _hs({"alg": "HS256", "typ": "JWT"}, {"sub": "eve"}, public_pem.encode())
    assert refusal(url, bearer=forged)[1]["reason"] == "wrong_algorithm"


def test_key_settings_that_would_be_unsafe_are_refused_at_start() -> None:
    with pytest.raises(ValueError, match="not both"):
        Settings(jwt_secret=SECRET, jwt_public_key="-----BEGIN PUBLIC KEY-----")
    with pytest.raises(ValueError, match="HS256"):
        Settings(jwt_public_key="-----BEGIN PUBLIC KEY-----", jwt_algorithms=("HS256",))
    with pytest.raises(ValueError, match="must be among"):
        Settings(jwt_secret=SECRET, jwt_algorithms=("none",))


def test_a_token_that_expires_closes_its_connection_with_1008(secured: ServerThread) -> None:
    with dial(secured.url("random"), bearer=token(exp=int(time.time()) + 2)) as ws:
        greet(ws, "random")
        code, reason = close_of(ws)
    assert (code, reason.split(";")[0]) == (1008, "token expired")
    assert wait_until(lambda: secured.health()["security"]["tokensExpired"] == 1)


def test_a_tours_claim_limits_what_a_client_receives_and_may_subscribe_to(
    secured: ServerThread,
) -> None:
    with dial(secured.url("tours"), bearer=token(tours=["tour_paris"])) as ws:
        welcome, paris = recv_json(ws), recv_json(ws)
        assert welcome["type"] == "WELCOME"
        assert (paris["type"], paris["tourId"]) == ("INITIAL_STATE", "tour_paris")
        secured.tick("tours", times=30)  # every tour sells seats: only Paris comes
        send_json(ws, {"type": "SUBSCRIBE", "tourId": "tour_rome"})
        seen = []
        while (message := recv_json(ws))["type"] == "AVAILABILITY_UPDATE":
            seen.append(message["tourId"])
        assert set(seen) == {"tour_paris"}
        assert (message["type"], message["code"]) == ("ERROR", "forbidden")
        send_json(ws, {"type": "RESUME", "epoch": welcome["epoch"], "seq": 0})
        replayed = []
        while (message := recv_json(ws))["type"] == "AVAILABILITY_UPDATE":
            replayed.append(message["tourId"])
        assert set(replayed) == {"tour_paris"}
        assert message["type"] == "RESUMED"


SERVER_COMMAND = str(Path(sys.executable).with_name("tourpanel-server"))


def test_the_token_command_mints_a_token_the_server_accepts(secured: ServerThread) -> None:
    command = [SERVER_COMMAND, "token", "--sub", "ada", "--ttl", "15m", "--tours", "tour_rome"]
    printed = subprocess.run(
        command,
        env={"TOURPANEL_JWT_SECRET": SECRET},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    ).stdout.strip()
    claims = jwt.decode(printed, SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["tours"], claims["exp"] - claims["iat"]) == (
        "ada",
        ["tour_rome"],
        900,
    )
    with dial(secured.url("tours"), bearer=printed) as ws:
        assert recv_json(ws)["type"] == "WELCOME"
        assert recv_json(ws)["tourId"] == "tour_rome"
    assert mint(SECRET, sub="ada", ttl=60) != printed


def test_help_never_shows_the_secret() -> None:
    shown = subprocess.run(
        [SERVER_COMMAND, "--help"],
        env={"TOURPANEL_JWT_SECRET": SECRET, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    ).stdout
    assert "--jwt-secret" in shown
    assert SECRET not in shown


def test_no_log_line_holds_the_token(
    secured: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good, expired = token(), token(exp=time.time() - 60)
    with dial(secured.url("tours") + f"?token={good}") as ws:
        greet(ws, "tours")
    with dial(secured.url("tours"), bearer=good) as ws:
        greet(ws, "tours")
    refusal(secured.url("tours") + f"?token={expired}")
    refusal(secured.url("tours"), bearer=expired)
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("tourpanel.server")]
    assert any("GET /tours?token=…" in line for line in logged), "the wire log was captured"
    assert [line for line in logged if good in line or expired in line] == []
    assert good not in json.dumps(secured.health())


# -- origins and Host --------------------------------------------------------------------


def test_pages_from_localhost_on_any_port_may_connect(server: ServerThread) -> None:
    for origin in ("http://localhost:3000", "http://127.0.0.1:5173", "http://[::1]:8000"):
        with dial(server.url("tours"), Origin=origin) as ws:
            assert greet(ws, "tours")[0]["type"] == "WELCOME"


def test_a_foreign_origin_gets_403_saying_which_option_allows_it(server: ServerThread) -> None:
    status, body = refusal(server.url("tours"), Origin="https://evil.example")
    assert (status, body["reason"]) == (403, "origin")
    assert "--allowed-origins https://evil.example" in body["message"]
    assert server.health()["security"]["refusedHandshakes"] == {"origin": 1}


def test_allowed_origins_and_require_origin(make_server: Callable[..., ServerThread]) -> None:
    server = make_server(allowed_origins=("https://class.example",), require_origin=True)
    url = server.url("tours")
    with dial(url, Origin="https://class.example") as ws:
        greet(ws, "tours")
    assert refusal(url, Origin="http://localhost:3000")[0] == 403  # not in the list
    assert refusal(url)[1]["reason"] == "origin"  # no Origin at all
    anyone = make_server(allowed_origins=("*",))
    with dial(anyone.url("tours"), Origin="https://anywhere.example") as ws:
        greet(ws, "tours")


def _upgrade(host: str) -> bytes:
    return (
        f"GET /tours HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def test_a_loopback_server_answers_only_loopback_host_names(server: ServerThread) -> None:
    port = server.server.port
    rebound = raw_request(port, _upgrade(f"attacker.example:{port}"))
    assert rebound.startswith(b"HTTP/1.1 403")
    assert b'"reason": "host"' in rebound
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        assert raw_request(port, _upgrade(host)).startswith(b"HTTP/1.1 101"), host


# -- connection caps ---------------------------------------------------------------------


def test_connections_per_address_and_in_all_are_capped(
    make_server: Callable[..., ServerThread],
) -> None:
    per_ip = make_server(max_connections_per_ip=2)
    with dial(per_ip.url("random")), dial(per_ip.url("random")):
        status, body = refusal(per_ip.url("random"))
        assert (status, body["reason"]) == (429, "per_ip_limit")
    with dial(per_ip.url("random")):  # the slots came back
        pass
    full = make_server(max_connections=2)
    with dial(full.url("random")), dial(full.url("random")):
        assert refusal(full.url("random"))[:1] == (503,)


# -- limits on an open connection --------------------------------------------------------


def _frames_until_error(ws: ClientConnection) -> list[dict[str, Any]]:
    replies = [recv_json(ws)]
    while replies[-1]["type"] != "ERROR":
        replies.append(recv_json(ws))
    return replies


def test_a_client_over_its_budget_is_told_then_read_again_once_it_refills(
    make_server: Callable[..., ServerThread],
) -> None:
    server = make_server(rate_limit=10, rate_burst=5)
    with dial(server.url("random")) as ws:
        greet(ws, "random")
        for _ in range(20):
            send_json(ws, {"type": "PING"})
        replies = _frames_until_error(ws)
        assert [r["type"] for r in replies[:-1]] == ["PONG"] * len(replies[:-1])
        assert 1 <= len(replies) - 1 <= 6  # the burst, and what refilled meanwhile
        assert replies[-1]["code"] == "rate_limited"
        assert server.health()["security"]["rateLimited"] == 1
        # Frames read past the budget were dropped; once it refills, it is read again.

        def answered() -> bool:
            send_json(ws, {"type": "PING"})
            try:
                return recv_json(ws, timeout=0.2)["type"] == "PONG"
            except TimeoutError:
                return False

        wait_until(answered, interval=0.2)


def test_subscriptions_per_connection_are_capped(make_server: Callable[..., ServerThread]) -> None:
    server = make_server(max_subscriptions=1)
    with dial(server.url("tours")) as ws:
        greet(ws, "tours")
        send_json(ws, {"type": "SUBSCRIBE", "tourId": "tour_paris"})
        assert recv_json(ws)["type"] == "SUBSCRIBED"
        send_json(ws, {"type": "SUBSCRIBE", "tourId": "tour_rome"})
        assert recv_json(ws)["code"] == "too_many_subscriptions"
        send_json(ws, {"type": "SUBSCRIBE", "tourId": "tour_paris"})  # held already: fine
        assert recv_json(ws)["type"] == "SUBSCRIBED"


def test_a_message_in_too_many_fragments_closes_with_1009(
    make_server: Callable[..., ServerThread],
) -> None:
    server = make_server(max_fragments=4)
    with dial(server.url("random")) as ws:
        greet(ws, "random")
        # websockets' client fragments an iterable message into one frame per item.
        ws.send(iter(['{"type":', '"PING"', "}"]))
        assert recv_json(ws)["type"] == "PONG"
        ws.send(iter(["{", '"type"', ":", '"PI', 'NG"', "}"]))
        code, reason = close_of(ws)
    assert (code, "fragments" in reason) == (1009, True)


def test_a_lone_surrogate_gets_an_error_reply_and_the_connection_stays(
    server: ServerThread,
) -> None:
    with dial(server.url("tours")) as ws:
        greet(ws, "tours")
        for bad in ('{"type":"SUBSCRIBE","tourId":["\\ud800"]}', '{"type":"\\ud800"}'):
            ws.send(bad)
            assert recv_json(ws)["type"] == "ERROR"
        ws.send(json.dumps({"type": "SUBSCRIBE", "tourId": "\ud800"}))
        error = recv_json(ws)
        assert (error["code"], "\ud800" in error["message"]) == ("unknown_tour", False)
        send_json(ws, {"type": "PING"})
        assert recv_json(ws)["type"] == "PONG"


def test_a_burst_of_clients_is_cut_at_the_cap_not_refused_as_a_whole(
    make_server: Callable[..., ServerThread],
) -> None:
    """Handshakes still pending do not count: eight upgrades sent at once, a cap of five."""
    server = make_server(max_connections_per_ip=5)
    port = server.server.port
    socks = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) for _ in range(8)]
    try:
        for sock in socks:
            sock.sendall(_upgrade(f"127.0.0.1:{port}"))
        statuses = sorted(sock.recv(12)[9:12] for sock in socks)
    finally:
        for sock in socks:
            sock.close()
    assert statuses == [b"101"] * 5 + [b"429"] * 3
