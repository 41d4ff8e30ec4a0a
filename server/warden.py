"""What happens to a client that breaks the rules: refused, told, throttled or closed.

Every such event is counted for ``/healthz`` (never who) and logged as one line with
the client's address and the reason, never a traceback: a client's fault is not the
server's error. Paths are logged without their query values, which may hold a token.
"""

from __future__ import annotations

import logging
from typing import Any

from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from tourpanel import protocol as p

from .auth import Claims
from .connection import Connection
from .counters import SecurityCounters
from .feeds import Feed
from .frames import text_frame, write
from .guard import Refusal
from .limits import Verdict
from .redact import redact
from .responses import json_response
from .settings import Settings

__all__ = ["Warden", "who"]

log = logging.getLogger("tourpanel.server")


class Warden:
    """The server's handshake checks and limits, and what breaking them costs."""

    def __init__(self, settings: Settings) -> None:
        self.admission = settings.admission()
        self.rate_limit = settings.rate()
        self.max_pending = settings.max_pending_bytes
        self.counters = SecurityCounters()

    def admit(
        self, conn: Connection, request: Request, *, from_address: int, in_all: int
    ) -> Response | None:
        """A refusal, or ``None`` with the client's claims kept on ``conn``.

        ``from_address`` and ``in_all`` count the connections open now, this one included.
        """
        headers = request.headers
        verdict = self.admission.check(
            path=request.path,
            origin=_header(headers, "Origin"),
            host=_header(headers, "Host"),
            authorization=_header(headers, "Authorization"),
            from_address=from_address,
            in_all=in_all,
        )
        if isinstance(verdict, Refusal):
            self.counters.refused[verdict.reason] += 1
            log.info(
                "refused %s from %s: %d %s",
                redact(request.path),
                conn.peer,
                verdict.status,
                verdict.reason,
            )
            return json_response(conn.protocol, verdict.status, verdict.body)
        conn.claims = verdict
        return None

    def limited(self, conn: Connection, verdict: Verdict) -> None:
        feed, limit = conn.feed, self.rate_limit
        assert isinstance(feed, Feed)
        assert limit is not None
        if verdict is Verdict.CUT_OFF:
            self.counters.flood_closed += 1
            log.warning("client %s sent too fast for %.0f s; closing", conn.peer, limit.sustain)
            conn.close(CloseCode.POLICY_VIOLATION, "sent too many messages for too long")
            return
        self.counters.rate_limited += 1
        log.info("client %s went over %g messages/s; not read for now", conn.peer, limit.rate)
        message = (
            f"more than {limit.rate:g} messages per second (bursts of {limit.burst:g}): "
            "what follows is not read until the budget refills; keep it up for "
            f"{limit.sustain:.0f} s and the connection closes"
        )
        _error(conn, feed, p.ErrorCode.RATE_LIMITED, message)

    def too_slow(self, conn: Connection) -> None:
        self.counters.slow_dropped += 1
        log.warning(
            "client %s left more than %d bytes unread; dropping it", conn.peer, self.max_pending
        )
        conn.close(CloseCode.POLICY_VIOLATION, "too slow: read what the server sends")

    def expired(self, conn: Connection) -> None:
        self.counters.expired_closed += 1
        log.info("client %s%s: token expired; closing", conn.peer, who(conn.claims))
        conn.close(CloseCode.POLICY_VIOLATION, "token expired; reconnect with a new one")


def _header(headers: Any, name: str) -> str | None:
    """The header's value; a repeated one counts as absent only if its copies differ."""
    values = headers.get_all(name)
    if not values:
        return None
    return str(values[0]) if len(set(values)) == 1 else "\x00repeated"


def who(claims: Claims | None) -> str:
    return "" if claims is None else f" ({claims.sub})"


def _error(conn: Connection, feed: Feed[Connection], code: p.ErrorCode, message: str) -> None:
    write(conn, text_frame(feed.error(code, message)))
