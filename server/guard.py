"""Who may open a WebSocket: the checks a handshake passes before the upgrade.

Each refusal is an HTTP status with a short JSON body naming the reason, sent before
any 101, so a browser, ``wscat`` or the dashboard's listener can tell the user what
to change. Pure: the request's headers and counts in, a refusal or claims out.

- ``Origin``: browsers send it, and any page a user visits can open a WebSocket to a
  local server (cross-site WebSocket hijacking). By default only pages served from
  localhost, on any port (the lesson's React clients), are allowed.
- ``Host``: a server bound to loopback answers only loopback names, so a DNS name
  rebound to 127.0.0.1 by a web page does not reach it.
- Connections per client address and in all, against one client taking every slot.
- A token, when a key is configured (:mod:`tourpanel.server.auth`).
"""

from __future__ import annotations

import http
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from .auth import AuthError, Claims, TokenVerifier, token_of

__all__ = ["LOCAL_ORIGINS", "Admission", "Refusal", "is_loopback"]

LOCAL_ORIGINS = ("localhost",)  # the default of --allowed-origins: localhost, any port


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused handshake: the status, a one-word reason and what to do about it."""

    status: http.HTTPStatus
    reason: str
    message: str

    @property
    def body(self) -> dict[str, str]:
        return {
            "error": self.status.phrase.lower().replace(" ", "_"),
            "reason": self.reason,
            "message": self.message,
        }


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, no port) means this machine only."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """``Host`` without its port: ``[::1]:8080`` → ``::1``, ``localhost:8080`` → ``localhost``."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class Admission:
    """The handshake checks of one server, in the order a client would fix them."""

    def __init__(
        self,
        *,
        allowed_origins: Sequence[str] = LOCAL_ORIGINS,
        require_origin: bool = False,
        loopback_only: bool = False,
        max_per_address: int = 100,
        max_connections: int = 10_000,
        verifier: TokenVerifier | None = None,
    ) -> None:
        self.any_origin = "*" in allowed_origins
        self.local_origins = "localhost" in allowed_origins
        self.origins = {o.lower().rstrip("/") for o in allowed_origins} - {"*", "localhost"}
        self.require_origin = require_origin
        self.loopback_only = loopback_only
        self.max_per_address = max_per_address
        self.max_connections = max_connections
        self.verifier = verifier

    def check(
        self,
        *,
        path: str,
        origin: str | None,
        host: str | None,
        authorization: str | None,
        from_address: int,
        in_all: int,
    ) -> Claims | Refusal | None:
        """Claims (or ``None`` without auth) to admit the request, or why not.

        ``from_address`` and ``in_all`` count the connections open now, this one included.
        """
        refusal = self._origin(origin) or self._host(host) or self._capacity(from_address, in_all)
        if refusal is not None:
            return refusal
        if self.verifier is None:
            return None
        try:
            return self.verifier.verify(token_of(path, authorization))
        except AuthError as exc:
            return Refusal(http.HTTPStatus.UNAUTHORIZED, exc.reason, exc.message)

    def _origin(self, origin: str | None) -> Refusal | None:
        if origin is None:
            if not self.require_origin:
                return None  # wscat, the dashboard's listener: not a browser
            return Refusal(
                http.HTTPStatus.FORBIDDEN,
                "origin",
                "this server requires an Origin header (--require-origin)",
            )
        if self.any_origin or origin.lower().rstrip("/") in self.origins:
            return None
        if self.local_origins and is_loopback(urlsplit(origin).hostname or ""):
            return None
        return Refusal(
            http.HTTPStatus.FORBIDDEN,
            "origin",
            f"pages from {origin} may not connect; start the server with "
            f"--allowed-origins {origin} (or TOURPANEL_ALLOWED_ORIGINS) to allow them",
        )

    def _host(self, host: str | None) -> Refusal | None:
        if not self.loopback_only or host is None or is_loopback(_host_name(host)):
            return None
        return Refusal(
            http.HTTPStatus.FORBIDDEN,
            "host",
            f"this server listens on loopback only and does not answer for {host!r}; "
            "connect to localhost, or start it with --host 0.0.0.0 to share it",
        )

    def _capacity(self, from_address: int, in_all: int) -> Refusal | None:
        if in_all > self.max_connections:
            return Refusal(
                http.HTTPStatus.SERVICE_UNAVAILABLE,
                "server_full",
                f"the server holds its maximum of {self.max_connections} connections; "
                "try again later",
            )
        if from_address > self.max_per_address:
            return Refusal(
                http.HTTPStatus.TOO_MANY_REQUESTS,
                "per_ip_limit",
                f"this address already holds {self.max_per_address} connections; "
                "close some first (--max-connections-per-ip)",
            )
        return None
