"""``tourpanel-server`` or ``python -m tourpanel.server``: serve until a signal, then close."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from .errors import Unavailable
from .listen import raise_fd_limit
from .mint import main_token
from .redact import WIRE_LOG
from .settings import Settings, parse_settings
from .transport import FeedServer

log = logging.getLogger("tourpanel.server")


async def run(settings: Settings) -> None:
    """Serve until a signal arrives; clients then get 1001 (going away)."""
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[signal.Signals] = loop.create_future()

    def on_signal(received: signal.Signals) -> None:
        if not stop.done():
            stop.set_result(received)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        async with FeedServer(settings):
            received = await stop
            log.info("%s received, shutting down", received.name)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["token"]:
        return main_token(args[1:], os.environ)
    settings = parse_settings(args, os.environ)
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if settings.log_level != "DEBUG":
        # websockets logs every connection and failed handshake (port scans) at INFO.
        WIRE_LOG.setLevel(logging.WARNING)
    raise_fd_limit()  # before the connection cap is set from it
    try:
        asyncio.run(run(settings))
    except OSError as exc:
        log.error(
            "cannot listen on %s:%s: %s — pick another --port or stop what uses it",
            settings.host,
            settings.port,
            exc.strerror or exc,
        )
        return 1
    except Unavailable as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
