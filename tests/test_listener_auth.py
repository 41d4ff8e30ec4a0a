"""The listener against a feed that wants a token: header, refusals, slow retries, secrecy.

The feed is websockets' own server on a loopback port, its ``process_request``
checking ``Authorization`` and refusing before the upgrade with the status and JSON
body the feed server sends; no transport is mocked. Retry delays are injected small,
and every wait polls a condition with a deadline.
"""

from __future__ import annotations

import html
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from tourpanel.config import DashboardConfig, parse_config
from tourpanel.credentials import check_token, redact_url
from tourpanel.labels import labels_for
from tourpanel.listener import FeedListener, check_url, stop_shared_listeners
from tourpanel.live import feed
from tourpanel.reconnect import Reconnect, closed_by_policy, refusal_of, retry_delay
from tourpanel.stats import FeedStats, Refusal, Status
from tourpanel.views import FeedStatus, TourCards
from tourpanel.views.status import refusal_text

from .conftest import ServerThread, wait_until
from .test_views import Recorded, html_text, render, status_cells

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2VjcmV0LXNpZ25hdHVyZQ"
QUERY_TOKEN = "query-secret-4242"
SLOW = 0.5  # the injected "once a minute" after a 401, a 403 or a close 1008
FLOOR = 0.2  # the injected floor after a 429 or a 503
# Ordinary failures would retry within 20 ms: any wait near SLOW or FLOOR is the refusal's.
POLICY = Reconnect(
    base=0.01, cap=0.02, healthy_after=60, open_timeout=5, refused_delay=SLOW, busy_floor=FLOOR
)
SERVER_LOG = "tests.auth_feed"  # the test server's own log, which sees the token as it must


def unauthorized(reason: str, message: str = "get a new token") -> tuple[int, Any]:
    return 401, {"error": "unauthorized", "reason": reason, "message": message}


class AuthFeed:
    """A feed that wants ``Bearer <token>``, or refuses every handshake with ``answer``.

    ``close_with`` (code, reason): after the greeting, close the accepted connection.
    """

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.answer: tuple[int, Any] | None = None
        self.close_with: tuple[int, str] | None = None
        self.attempts: list[float] = []  # monotonic time of each handshake received
        self.headers: list[str | None] = []  # the Authorization header of each
        self._lock = threading.Lock()
        self._server = serve(
            self._handler,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            logger=logging.getLogger(SERVER_LOG),
        )
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/feed"

    def count(self) -> int:
        with self._lock:
            return len(self.attempts)

    def gaps(self) -> list[float]:
        with self._lock:
            return [b - a for a, b in zip(self.attempts, self.attempts[1:], strict=False)]

    def stop(self) -> None:
        self._server.shutdown()

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        header = request.headers.get("Authorization")
        with self._lock:
            self.attempts.append(time.monotonic())
            self.headers.append(header)
        if self.answer is not None:
            return refuse(conn, *self.answer)
        if header is None:
            return refuse(conn, *unauthorized("missing", "send Authorization: Bearer <token>"))
        if header != f"Bearer {self.token}":
            return refuse(conn, *unauthorized("bad_signature", "the signature does not verify"))
        return None

    def _handler(self, ws: ServerConnection) -> None:
        ws.send(json.dumps({"type": "HELLO", "n": 1}))
        if self.close_with is not None:
            ws.close(*self.close_with)
            return
        for _ in ws:  # hold the connection open until the client leaves
            pass


def refuse(conn: ServerConnection, status: int, body: Any) -> Response:
    """What the feed server answers: the status, and a JSON body (or plain text)."""
    response = conn.respond(status, body if isinstance(body, str) else json.dumps(body))
    if not isinstance(body, str):
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
    return response


@pytest.fixture
def auth_feed() -> Iterator[AuthFeed]:
    server = AuthFeed()
    yield server
    server.stop()


@pytest.fixture
def listen() -> Iterator[Callable[..., FeedListener]]:
    started: list[FeedListener] = []

    def make(url: str, **kwargs: Any) -> FeedListener:
        listener = FeedListener(url, reconnect=kwargs.pop("reconnect", POLICY), **kwargs).start()
        started.append(listener)
        return listener

    yield make
    for listener in started:
        listener.stop()


def refused(listener: FeedListener, status: Status = Status.REFUSED) -> FeedStats:
    return wait_until(lambda: (s := listener.stats()).status is status and s.refusal and s)


def why(stats: FeedStats) -> tuple[int, str | None]:
    """The refusal's code and reason."""
    assert stats.refusal is not None
    return stats.refusal.code, stats.refusal.reason


# -- the token on the wire -------------------------------------------------------------


def test_the_token_is_sent_as_a_bearer_header(
    auth_feed: AuthFeed, listen: Callable[..., FeedListener]
) -> None:
    listener = listen(auth_feed.url, token=TOKEN)
    wait_until(lambda: len(listener.buffer) == 1)
    assert listener.stats().status is Status.CONNECTED
    assert auth_feed.headers == [f"Bearer {TOKEN}"]
    assert listener.stats().refusal is None


def test_without_a_token_no_header_is_sent_and_the_feed_says_one_is_needed(
    auth_feed: AuthFeed, listen: Callable[..., FeedListener]
) -> None:
    listener = listen(auth_feed.url)
    stats = refused(listener)
    assert auth_feed.headers[0] is None
    assert stats.refusal == Refusal(
        code=401, reason="missing", message="send Authorization: Bearer <token>"
    )


def test_feed_takes_the_token_from_its_argument_or_tourpanel_token(
    auth_feed: AuthFeed, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        given = feed(url=auth_feed.url, token=TOKEN, reconnect=POLICY)
        wait_until(lambda: given.stats().status is Status.CONNECTED)
        monkeypatch.setenv("TOURPANEL_TOKEN", TOKEN)
        from_env = feed(url=auth_feed.url, reconnect=POLICY)
        assert from_env is given, "the same feed and token: one shared listener"
        monkeypatch.setenv("TOURPANEL_TOKEN", "another.token")
        other = feed(url=auth_feed.url, reconnect=POLICY)
        assert other is not given
        wait_until(lambda: "Bearer another.token" in auth_feed.headers)
    finally:
        stop_shared_listeners()


# -- refusals before the upgrade -------------------------------------------------------


def test_a_401_shows_its_reason_and_is_retried_only_after_the_slow_delay(
    auth_feed: AuthFeed, listen: Callable[..., FeedListener]
) -> None:
    auth_feed.answer = unauthorized("expired", "the token has expired; get a new one")
    listener = listen(auth_feed.url, token=TOKEN)
    stats = refused(listener)
    assert stats.refusal == Refusal(
        code=401, reason="expired", message="the token has expired; get a new one"
    )
    assert stats.last_error == "HTTP 401 expired: the token has expired; get a new one"
    assert stats.next_retry_at is not None
    assert stats.next_retry_at <= time.time() + SLOW
    wait_until(lambda: auth_feed.count() >= 3)
    # On the ordinary backoff (20 ms at most) these would be dozens of tries by now.
    assert all(gap >= 0.9 * SLOW for gap in auth_feed.gaps()), auth_feed.gaps()
    assert listener.stats().retries >= 2
    auth_feed.answer = None  # a valid token is accepted again: the listener comes back
    wait_until(lambda: listener.stats().status is Status.CONNECTED)
    assert listener.stats().refusal is None
    assert listener.stats().last_error is None


def test_a_403_names_what_is_not_allowed(
    auth_feed: AuthFeed, listen: Callable[..., FeedListener]
) -> None:
    auth_feed.answer = (403, {"error": "forbidden", "reason": "origin", "message": "not listed"})
    listener = listen(auth_feed.url)
    stats = refused(listener)
    assert why(stats) == (403, "origin")
    assert stats.last_error == "HTTP 403 origin: not listed"
    wait_until(lambda: auth_feed.count() >= 2)
    assert min(auth_feed.gaps()) >= 0.9 * SLOW


@pytest.mark.parametrize(
    ("status", "reason"), [(429, "per_ip_limit"), (503, "server_full")], ids=["429", "503"]
)
def test_a_busy_server_is_retried_with_backoff_but_never_faster_than_the_floor(
    auth_feed: AuthFeed, listen: Callable[..., FeedListener], status: int, reason: str
) -> None:
    auth_feed.answer = (status, {"error": "busy", "reason": reason, "message": "try later"})
    listener = listen(auth_feed.url, token=TOKEN)
    stats = refused(listener, Status.BUSY)
    assert why(stats) == (status, reason)
    wait_until(lambda: auth_feed.count() >= 4)  # it does keep trying, well before SLOW each
    gaps = auth_feed.gaps()
    assert all(gap >= 0.9 * FLOOR for gap in gaps), gaps
    assert min(gaps) < SLOW, "busy is not refused: no minute-long wait"


def test_a_refusal_without_json_gets_a_generic_text(
    auth_feed: AuthFeed, listen: Callable[..., FeedListener]
) -> None:
    auth_feed.answer = (401, "Unauthorized\n")
    listener = listen(auth_feed.url)
    stats = refused(listener)
    assert stats.refusal == Refusal(code=401)
    assert stats.last_error is not None
    assert stats.last_error.startswith(
        "HTTP 401: the feed wants a valid token: set TOURPANEL_TOKEN"
    )


def test_another_status_is_an_ordinary_failure_on_the_fast_backoff(
    auth_feed: AuthFeed, listen: Callable[..., FeedListener]
) -> None:
    auth_feed.answer = (404, "Not Found\n")
    listener = listen(auth_feed.url)
    wait_until(lambda: auth_feed.count() >= 5, timeout=3 * SLOW)  # no slow delay here
    stats = listener.stats()
    assert stats.status is Status.RECONNECTING
    assert stats.refusal is None
    assert "HTTP 404" in (stats.last_error or "")


def test_a_close_1008_is_shown_with_its_reason_and_retried_slowly(
    auth_feed: AuthFeed, listen: Callable[..., FeedListener]
) -> None:
    auth_feed.close_with = (1008, "token expired")
    listener = listen(auth_feed.url, token=TOKEN)
    stats = refused(listener)
    assert stats.refusal == Refusal(code=1008, reason="token expired")
    assert stats.last_error == "closed by the feed (1008): token expired"
    wait_until(lambda: auth_feed.count() >= 2)
    assert min(auth_feed.gaps()) >= 0.9 * SLOW
    assert listener.buffer.count() >= 1  # what came before the close was kept


# -- the token stays secret ------------------------------------------------------------


def test_the_token_never_shows_in_logs_errors_reprs_or_urls(
    auth_feed: AuthFeed, listen: Callable[..., FeedListener], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # before connecting: websockets logs headers at DEBUG
    url = f"{auth_feed.url}?token={QUERY_TOKEN}&lang=en"
    auth_feed.close_with = (1008, "token expired")  # connected, then closed, then…
    listener = listen(url, token=TOKEN)
    wait_until(lambda: listener.stats().refusal == Refusal(code=1008, reason="token expired"))
    auth_feed.answer = unauthorized("bad_signature", "the signature does not verify")  # …refused
    wait_until(lambda: (r := listener.stats().refusal) is not None and r.code == 401)
    with pytest.raises(TimeoutError) as timeout:
        listener.wait_for_rows(100, timeout=0.01)
    stats = listener.stats()
    # Everything logged but by the test's own server, which must see the token.
    ours = [r for r in caplog.records if not r.name.startswith(SERVER_LOG)]
    assert any(r.getMessage() == "> Authorization: Bearer ***" for r in ours), "headers logged"
    assert any(
        QUERY_TOKEN not in r.getMessage() and "GET /feed?token=***" in r.getMessage() for r in ours
    )
    shown = [
        *(caplog.handler.format(r) for r in ours),
        repr(listener),
        str(listener),
        repr(stats),
        str(stats),
        listener.url,
        stats.url,
        str(timeout.value),
        *(t.name for t in threading.enumerate()),
    ]
    for text in shown:
        assert TOKEN not in text
        assert QUERY_TOKEN not in text
    assert listener.url == f"{auth_feed.url}?token=***&lang=en"
    assert auth_feed.headers[0] == f"Bearer {TOKEN}"  # and yet both were sent


def test_config_takes_the_token_from_the_environment_or_the_command_line_and_hides_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert parse_config([], {"TOURPANEL_TOKEN": f" {TOKEN}\n"}).token == TOKEN
    assert parse_config(["--token", f"Bearer {TOKEN}"], {"TOURPANEL_TOKEN": "x"}).token == TOKEN
    assert parse_config([], {}).token is None
    config = DashboardConfig(token=TOKEN, tours_url=f"ws://h/x?token={QUERY_TOKEN}")
    assert TOKEN not in repr(config)
    assert QUERY_TOKEN not in repr(config)
    assert "token='***'" in repr(config)
    for argv, env in ((["--token", "two words"], {}), ([], {"TOURPANEL_TOKEN": "two words"})):
        with pytest.raises(SystemExit):
            parse_config(argv, env)
        err = capsys.readouterr().err
        assert "HTTP header cannot carry" in err
        assert "two words" not in err


def test_token_and_url_checks_never_quote_the_secret() -> None:
    with pytest.raises(ValueError, match="cannot carry") as bad:
        check_token(f"{TOKEN} trailing words")
    assert TOKEN not in str(bad.value)
    with pytest.raises(ValueError, match="invalid feed URL") as url:
        check_url(f"ws://localhost:port/x?token={QUERY_TOKEN}")
    assert QUERY_TOKEN not in str(url.value)
    assert check_token("   ") is None
    assert redact_url("wss://h/f?a=1&access_token=s%20x#f") == "wss://h/f?a=1&access_token=***#f"


# -- the policy, pure ------------------------------------------------------------------


def test_refusals_are_read_from_the_status_and_json_body() -> None:
    body = json.dumps({"error": "unauthorized", "reason": "expired", "message": "renew\nit"})
    assert refusal_of(401, body.encode()) == Refusal(code=401, reason="expired", message="renew it")
    assert refusal_of(403, b"Forbidden") == Refusal(code=403)
    assert refusal_of(429, b"[1]") == Refusal(code=429)
    assert refusal_of(503, json.dumps({"reason": "<b>x</b>", "message": 3}).encode()) == Refusal(
        code=503
    )
    assert refusal_of(401, b"\xff\xfe") == Refusal(code=401)
    assert refusal_of(401, b"[" * 5000) == Refusal(code=401)  # too long to be the short JSON
    assert refusal_of(404, b"{}") is None
    assert refusal_of(500) is None
    long = refusal_of(401, json.dumps({"message": "m" * 1000}).encode())
    assert long is not None
    assert long.message is not None
    assert len(long.message) == 200
    assert closed_by_policy(1008, "token expired") == Refusal(code=1008, reason="token expired")
    assert closed_by_policy(1011, "oops") is None
    assert closed_by_policy(None) is None


def test_retry_delays_after_each_kind_of_refusal() -> None:
    policy = Reconnect()
    assert (policy.refused_delay, policy.busy_floor) == (60.0, 5.0)
    assert retry_delay(None, 0.3, policy) == 0.3
    for refusal in (
        Refusal(code=401),
        Refusal(code=403),
        Refusal(code=1008, reason="token expired"),
    ):
        assert retry_delay(refusal, 0.3, policy) == 60.0
    # Full, or dropped for load (too slow, too fast): no one has a token to change.
    for refusal in (
        Refusal(code=429),
        Refusal(code=503),
        Refusal(code=1008, reason="too slow: read"),
    ):
        assert retry_delay(refusal, 0.3, policy) == 5.0
        assert retry_delay(refusal, 17.0, policy) == 17.0  # the backoff, if longer


# -- the status view -------------------------------------------------------------------


def test_the_status_view_shows_a_refused_listener_with_what_to_do(
    auth_feed: AuthFeed, listen: Callable[..., FeedListener]
) -> None:
    auth_feed.answer = unauthorized("expired", "the token has expired; get a new one")
    listener = listen(auth_feed.url, token=TOKEN, reconnect=replace(POLICY, refused_delay=30))
    refused(listener)
    cards = TourCards(buffer=listener.buffer)
    status = FeedStatus(sources={"tours": listener}, views={"tours": [cards]})
    root = render(status)
    status.flush()
    text = html_text(root)
    assert 'data-feed="tours" data-status="refused"' in text
    badge = status_cells(root, "tours")[1]
    assert badge.startswith("token rejected: expired — set TOURPANEL_TOKEN (next try in ")
    assert 'title="HTTP 401 expired: the token has expired; get a new one"' in text
    assert TOKEN not in text


@pytest.mark.parametrize(
    ("refusal", "english", "french"),
    [
        (
            Refusal(code=401, reason="missing"),
            "the feed needs a token — set TOURPANEL_TOKEN (next try in 60 s)",
            "le flux demande un jeton — définissez TOURPANEL_TOKEN (prochain essai dans 60 s)",
        ),
        (
            Refusal(code=401, reason="bad_signature"),
            "token rejected: bad signature — set TOURPANEL_TOKEN (next try in 60 s)",
            "jeton refusé : bad signature — définissez TOURPANEL_TOKEN (prochain essai dans 60 s)",
        ),
        (
            Refusal(code=403, reason="origin"),
            "origin not allowed — ask the feed's operator (next try in 60 s)",
            "origine non autorisée — voyez l'exploitant du flux (prochain essai dans 60 s)",
        ),
        (
            Refusal(code=403, reason="host"),
            "host not allowed — check the feed URL (next try in 60 s)",
            "hôte non autorisé — vérifiez l'URL du flux (prochain essai dans 60 s)",
        ),
        (
            Refusal(code=403),
            "refused by the feed (HTTP 403) — next try in 60 s",
            "refusé par le flux (HTTP 403) — prochain essai dans 60 s",
        ),
        (
            Refusal(code=429, reason="per_ip_limit"),
            "too many connections from this address — retrying in 60 s",
            "trop de connexions depuis cette adresse — nouvel essai dans 60 s",
        ),
        (
            Refusal(code=503, reason="server_full"),
            "server full — retrying in 60 s",
            "serveur complet — nouvel essai dans 60 s",
        ),
        (
            Refusal(code=1008, reason="token expired"),
            "closed by the feed: token expired (next try in 60 s)",
            "fermé par le flux : token expired (prochain essai dans 60 s)",
        ),
    ],
    ids=["401-missing", "401-reason", "403-origin", "403-host", "403", "429", "503", "1008"],
)
def test_each_refusal_has_its_text_in_both_languages(
    refusal: Refusal, english: str, french: str
) -> None:
    assert refusal_text(labels_for("en"), refusal, "60") == english
    assert refusal_text(labels_for("fr"), refusal, "60") == french
    busy = refusal.code in (429, 503)
    source = Recorded(
        status=Status.BUSY if busy else Status.REFUSED, refusal=refusal, next_retry_at=1059.6
    )
    status = FeedStatus(sources={"random": source}, labels=labels_for("fr"))
    root = render(status)
    status.flush(now=1000.0)
    assert html.unescape(status_cells(root, "random")[1]) == french


# -- against the project's own feed server ---------------------------------------------

SECRET = "tests-secret-of-at-least-32-bytes!"


def minted(*, ttl: float = 3600, now: float | None = None) -> str:
    from tourpanel.server.auth import mint

    return mint(SECRET, sub="dashboard", ttl=ttl, now=now)


@pytest.fixture
def secured(make_server: Callable[..., ServerThread]) -> ServerThread:
    return make_server(jwt_secret=SECRET)


def test_the_feed_server_accepts_the_listeners_token(
    secured: ServerThread, listen: Callable[..., FeedListener]
) -> None:
    listener = listen(secured.url("tours"), token=minted())
    wait_until(lambda: len(listener.buffer) == 4)  # the greeting: WELCOME and three tours
    assert listener.stats().status is Status.CONNECTED


def test_the_feed_server_refusals_reach_the_status(
    secured: ServerThread, listen: Callable[..., FeedListener]
) -> None:
    missing = refused(listen(secured.url("tours")))
    assert why(missing) == (401, "missing")
    expired = refused(listen(secured.url("tours"), token=minted(now=time.time() - 7200)))
    assert why(expired) == (401, "expired")
    assert expired.last_error is not None
    assert expired.last_error.startswith("HTTP 401 expired: ")


def test_a_token_expiring_on_the_feed_server_is_closed_then_refused(
    secured: ServerThread, listen: Callable[..., FeedListener]
) -> None:
    # exp is whole seconds: a ttl of 2 leaves 1 to 2 s (a ttl of 1 could leave none).
    listener = listen(secured.url("random"), token=minted(ttl=2))
    wait_until(lambda: listener.stats().status is Status.CONNECTED)
    closed = refused(listener)  # the server closes it with 1008 once the token expires
    assert closed.refusal is not None
    assert closed.refusal.code == 1008
    assert (closed.refusal.reason or "").startswith("token expired")
    again = wait_until(lambda: (r := listener.stats().refusal) is not None and r.code == 401 and r)
    assert again.reason == "expired"  # the same token, tried again after the slow delay


def test_the_feed_servers_connection_cap_shows_busy(
    make_server: Callable[..., ServerThread], listen: Callable[..., FeedListener]
) -> None:
    capped = make_server(max_connections_per_ip=1)
    first = listen(capped.url("random"))
    wait_until(lambda: first.stats().status is Status.CONNECTED)
    second = refused(listen(capped.url("random")), Status.BUSY)
    assert why(second) == (429, "per_ip_limit")
