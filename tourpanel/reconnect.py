"""When to try a feed again, and what a refusal means — pure: no socket, no clock.

Ordinary failures (nothing listening, a drop, a 404) follow :func:`backoff`:
exponential with full jitter. A feed that *refuses* the listener is different:
retrying fast cannot help and floods its logs, so

- 401 (token), 403 (origin, host) and close 1008 (policy, e.g. "token expired")
  wait :attr:`Reconnect.refused_delay` (a minute) between tries: someone must act;
- 429 (too many connections from this address) and 503 (server full) keep the
  backoff but never go below :attr:`Reconnect.busy_floor`.

:func:`refusal_of` and :func:`closed_by_policy` read the server's answer,
:func:`retry_delay` says how long to wait; the listener only sleeps on it.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

from .stats import Refusal, Status

__all__ = [
    "BUSY_STATUSES",
    "DEFAULT_RECONNECT",
    "POLICY_VIOLATION",
    "REFUSED_STATUSES",
    "Reconnect",
    "backoff",
    "closed_by_policy",
    "describe_refusal",
    "refusal_of",
    "retry_delay",
    "status_of",
]

REFUSED_STATUSES = frozenset({401, 403})  # someone must act: a token, an allowlist
BUSY_STATUSES = frozenset({429, 503})  # the server is saturated: later may work
POLICY_VIOLATION = 1008  # the close code a feed uses for an expired token

BODY_READ = 4096  # bytes of a refusal's body worth parsing; the rest is not a short JSON
MESSAGE_SHOWN = 200  # characters of the server's message kept
_WORD = re.compile(r"[A-Za-z0-9_.-]{1,40}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True, kw_only=True, slots=True)
class Reconnect:
    """Backoff policy: delays grow from ``base`` to ``cap`` seconds, with full jitter.

    ``refused_delay`` is the wait after a 401, a 403 or a close 1008; ``busy_floor``
    the shortest wait after a 429 or a 503. Tests inject small values.
    """

    base: float = 1.0
    cap: float = 30.0
    healthy_after: float = 10.0  # connected this long, the next failure starts over
    open_timeout: float = 10.0
    refused_delay: float = 60.0  # at most one try a minute while refused
    busy_floor: float = 5.0  # never faster than this while the server is full


DEFAULT_RECONNECT = Reconnect()


def backoff(
    base: float = DEFAULT_RECONNECT.base,
    cap: float = DEFAULT_RECONNECT.cap,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Delays before each retry: uniform in [0, min(cap, base·2ⁿ)] (full jitter).

    Jitter spreads a classroom of clients so they do not all reconnect at once
    when a feed comes back.
    """
    draw = rng or random.Random()
    attempt = 0
    while True:
        yield draw.uniform(0, min(cap, base * 2 ** min(attempt, 32)))
        attempt += 1


def refusal_of(status_code: int, body: bytes | bytearray | None = None) -> Refusal | None:
    """What a handshake answered with ``status_code`` means; ``None`` if not a refusal.

    The body's JSON ``reason`` (one word) and ``message`` are kept when it parses;
    a plain-text or oversized body leaves them ``None``. Other statuses (404, 500…)
    are ordinary failures, retried with the backoff.
    """
    if status_code not in REFUSED_STATUSES | BUSY_STATUSES:
        return None
    reason = message = None
    if body and len(body) <= BODY_READ:
        try:
            parsed = json.loads(bytes(body).decode("utf-8"))
        except (ValueError, RecursionError):  # not UTF-8, not JSON, nested too deep
            parsed = None
        if isinstance(parsed, dict):
            word = parsed.get("reason")
            reason = word if isinstance(word, str) and _WORD.fullmatch(word) else None
            message = _clean(parsed.get("message"))
    return Refusal(code=status_code, reason=reason, message=message)


def closed_by_policy(code: int | None, reason: str = "") -> Refusal | None:
    """A close the server sent with ``code``: a refusal if 1008 (policy violation)."""
    if code != POLICY_VIOLATION:
        return None
    return Refusal(code=code, reason=_clean(reason))


def status_of(refusal: Refusal) -> Status:
    """``BUSY`` while the server is saturated, ``REFUSED`` when someone must act."""
    return Status.BUSY if refusal.code in BUSY_STATUSES else Status.REFUSED


def retry_delay(refusal: Refusal | None, backoff_delay: float, policy: Reconnect) -> float:
    """Seconds before the next try: ``backoff_delay``, slowed down after a refusal."""
    if refusal is None:
        return backoff_delay
    if refusal.code in BUSY_STATUSES or _dropped_for_load(refusal):
        return max(backoff_delay, policy.busy_floor)
    return max(backoff_delay, policy.refused_delay)


def _dropped_for_load(refusal: Refusal) -> bool:
    """A 1008 for reading too slowly or sending too fast: no one needs to change a token."""
    return refusal.closed and not (refusal.reason or "").lower().startswith("token")


_GENERIC = {
    401: "the feed wants a valid token: set TOURPANEL_TOKEN (or --token, or feed(token=…))",
    403: "the feed does not accept connections from here (its Origin or Host allowlist)",
    429: "too many connections from this address",
    503: "the feed is full",
}


def describe_refusal(refusal: Refusal) -> str:
    """One line for logs and tooltips: the code, the server's reason and its advice."""
    if refusal.closed:
        return f"closed by the feed ({refusal.code}): {refusal.reason or 'policy violation'}"
    word = f" {refusal.reason}" if refusal.reason else ""
    advice = refusal.message or _GENERIC.get(refusal.code, "refused")
    return f"HTTP {refusal.code}{word}: {advice}"


def _clean(text: object) -> str | None:
    """The server's text on one line and not too long, or ``None`` if it is not text."""
    if not isinstance(text, str):
        return None
    text = _CONTROL.sub(" ", text).strip()
    if len(text) > MESSAGE_SHOWN:
        text = text[: MESSAGE_SHOWN - 1] + "…"
    return text or None
