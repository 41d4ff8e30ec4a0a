"""Server configuration: one value object, filled from the command line and environment.

Every option has a ``TOURPANEL_*`` environment variable; the command line wins over
the environment, which wins over the defaults below (the lesson's: port 8080, a
number every 3 s, a tour update every 5 s, a heartbeat every 30 s).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tourpanel.options import Option, parse_options, positive_float
from tourpanel.protocol import FEEDS, INTERVALS

from .store import DEFAULT_HISTORY

__all__ = ["OPTIONS", "Settings", "parse_settings"]

MODES = (*FEEDS, "both")


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """How to run the feed server; the defaults reproduce the lesson."""

    feeds: tuple[str, ...] = FEEDS
    host: str = "localhost"
    port: int = 8080
    random_interval: float = INTERVALS["random"]
    tours_interval: float = INTERVALS["tours"]
    seed: str | None = None
    history: int = DEFAULT_HISTORY
    ping_interval: float | None = 30.0  # the lesson's HEARTBEAT_INTERVAL
    ping_timeout: float | None = 20.0
    open_timeout: float = 10.0
    close_timeout: float = 5.0
    max_message_size: int = 4096
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        unknown = set(self.feeds) - set(FEEDS)
        if unknown or not self.feeds:
            raise ValueError(f"feeds must be among {FEEDS}, got {self.feeds}")
        for name in ("random_interval", "tours_interval", "open_timeout", "close_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    def interval(self, feed: str) -> float:
        return self.random_interval if feed == "random" else self.tours_interval


def _heartbeat(text: str) -> float | None:
    value = float(text)
    if value < 0:
        raise ValueError("must be 0 (off) or a positive number of seconds")
    return value or None


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError("must be from 0 to 65535 (0 picks a free one)")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _level(text: str) -> str:
    level = text.upper()
    if level not in logging.getLevelNamesMapping():
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return level


OPTIONS = (
    Option("--host", "host", str, "interface to listen on (0.0.0.0 for every interface)"),
    Option("--port", "port", _port, "TCP port; 0 picks a free one"),
    Option("--random-interval", "random_interval", positive_float, "seconds between numbers"),
    Option("--tours-interval", "tours_interval", positive_float, "seconds between tour updates"),
    Option("--seed", "seed", str, "seed for reproducible simulated data (random if unset)"),
    Option("--history", "history", _count, "broadcasts kept per feed for RESUME"),
    Option("--ping-interval", "ping_interval", _heartbeat, "seconds between pings; 0 off"),
    Option("--ping-timeout", "ping_timeout", _heartbeat, "seconds to wait for a pong; 0 off"),
    Option(
        "--open-timeout",
        "open_timeout",
        positive_float,
        "seconds a client has to complete the opening handshake",
    ),
    Option("--close-timeout", "close_timeout", positive_float, "seconds to wait on close"),
    Option(
        "--max-message-size",
        "max_message_size",
        _count,
        "largest client message in bytes; 0 for no limit",
    ),
    Option("--log-level", "log_level", _level, "DEBUG, INFO, WARNING or ERROR"),
)


def parse_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build :class:`Settings` from ``argv`` and ``environ``; exits with a usage error."""
    parser = argparse.ArgumentParser(
        prog="tourpanel-server",
        description=(
            "Serve the lesson's WebSocket feeds. 'random' and 'tours' serve one feed at "
            "ws://HOST:PORT (any path), as the lesson's Node servers do; 'both' (the "
            "default) serves them at /random and /tours. GET /healthz answers JSON."
        ),
        epilog="Each option can also be set by the environment variable named after it.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("mode", nargs="?", choices=MODES, default="both", help="feeds to serve")
    args = parse_options(parser, OPTIONS, Settings(), argv, environ or {})
    values = {option.field: getattr(args, option.field) for option in OPTIONS}
    return Settings(feeds=FEEDS if args.mode == "both" else (args.mode,), **values)
