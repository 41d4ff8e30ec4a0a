"""A feed's token, kept out of everything a person can read: logs, errors, URLs, reprs.

The token travels as an ``Authorization: Bearer`` header. A token written into the
URL (``?token=…``, which the feed server also accepts) is sent as given but shown
as ``token=***``; :class:`RedactingLogger` removes both from websockets' own debug
log, which prints the request line and every request header.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

__all__ = [
    "HIDDEN",
    "RedactingLogger",
    "bearer",
    "check_token",
    "redact",
    "redact_url",
    "url_secrets",
]

HIDDEN = "***"
# Query parameters that carry a credential, the value ending at & or #.
_IN_QUERY = re.compile(r"([?&](?:access_)?token=)([^&#]*)", re.IGNORECASE)
_BEARER = re.compile(r"bearer\s+", re.IGNORECASE)
# RFC 6750's b64token, what a JWT is made of; anything else cannot go in a header.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def check_token(token: str | None) -> str | None:
    """``token`` without spaces around it or a ``Bearer`` prefix; ``None`` if empty.

    A token that an HTTP header cannot carry is a ``ValueError`` that never quotes it.
    """
    if token is None:
        return None
    token = token.strip()
    if _BEARER.match(token):  # the whole header value was given
        token = _BEARER.sub("", token, count=1).strip()
    if not token:
        return None
    if not _B64TOKEN.fullmatch(token):
        raise ValueError(
            "the token holds spaces or characters an HTTP header cannot carry; "
            "pass the bare token (a JWT is letters, digits and - _ . ~ + / =)"
        )
    return token


def url_secrets(url: str) -> tuple[str, ...]:
    """The credentials written into ``url``'s query, as written and decoded."""
    found = [m.group(2) for m in _IN_QUERY.finditer(url) if m.group(2)]
    return tuple(dict.fromkeys([*found, *(unquote(v) for v in found)]))


def redact_url(url: str) -> str:
    """``url`` as shown to people: each ``token=`` value replaced by ``***``."""
    return _IN_QUERY.sub(lambda m: m.group(1) + (HIDDEN if m.group(2) else ""), url)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***`` (longest first, so none peeks out)."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, HIDDEN)
    return text


class RedactingLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger that formats each record and removes ``secrets`` before passing it on.

    websockets accepts a :class:`logging.LoggerAdapter` as ``logger=`` (its logging
    guide); at DEBUG it logs ``> Authorization: Bearer …`` and the request path.
    """

    def __init__(self, logger: logging.Logger, secrets: Iterable[str]) -> None:
        super().__init__(logger, {})
        self._secrets = tuple(s for s in secrets if s)

    def __repr__(self) -> str:
        return f"<RedactingLogger {self.logger.name} ({len(self._secrets)} hidden)>"

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):  # a malformed format: show its parts
            text = " ".join(map(str, (msg, *args)))
        self.logger.log(level, "%s", redact(text, self._secrets), **kwargs)


def bearer(token: str) -> Mapping[str, str]:
    """The handshake header carrying ``token``."""
    return {"Authorization": f"Bearer {token}"}
