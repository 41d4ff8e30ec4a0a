"""The plain HTTP answers of the feed server: ``/healthz``, a helpful 404, a 500.

They are handshake responses built with websockets' ``ServerProtocol.reject``, so
websockets writes them and closes the connection as for any refused handshake.
"""

from __future__ import annotations

import http
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

__all__ = ["HANDSHAKE_ERROR", "HEALTH_PATH", "http_response", "internal_error", "json_response"]

HEALTH_PATH = "/healthz"
HANDSHAKE_ERROR = "The server failed to answer this request; the error is in its log.\n"


def http_response(
    protocol: ServerProtocol,
    request: Request,
    *,
    serves: Callable[[str], bool],
    feed_paths: Iterable[str],
    health: Callable[[], dict[str, Any]],
) -> Response | None:
    """The answer to a request that is not a WebSocket for a feed; ``None`` for one.

    ``serves(path)`` tells whether a feed is at ``path``; ``health()`` builds what
    ``GET /healthz`` answers.
    """
    path = urlsplit(request.path).path
    if path == HEALTH_PATH:
        return json_response(protocol, http.HTTPStatus.OK, health())
    if not serves(path):
        paths = ", ".join(feed_paths)
        return protocol.reject(
            http.HTTPStatus.NOT_FOUND,
            f"No feed at {path}. This server has feeds at {paths} "
            f"and its health at {HEALTH_PATH}.\n",
        )
    return None


def internal_error(protocol: ServerProtocol) -> Response:
    """A 500 for when building the answer failed (log the error before)."""
    return protocol.reject(http.HTTPStatus.INTERNAL_SERVER_ERROR, HANDSHAKE_ERROR)


def json_response(protocol: ServerProtocol, status: http.HTTPStatus, body: Any) -> Response:
    response = protocol.reject(status, json.dumps(body, ensure_ascii=False) + "\n")
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    response.headers["Cache-Control"] = "no-store"
    return response
