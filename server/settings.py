"""Server configuration: one value object, filled from the command line and environment.

Every option has a ``TOURPANEL_*`` environment variable; the command line wins over
the environment, which wins over the defaults below (the lesson's: port 8080, a
number every 3 s, a tour update every 5 s, a heartbeat every 30 s).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tourpanel.options import Option, parse_options, positive_float
from tourpanel.protocol import FEEDS, INTERVALS

from .auth import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS, TokenVerifier
from .guard import LOCAL_ORIGINS, Admission, is_loopback
from .limits import RateLimit
from .store import DEFAULT_HISTORY
from .stores import check_store

__all__ = ["OPTIONS", "Settings", "parse_settings"]

MODES = (*FEEDS, "both")
MIN_SECRET_BYTES = 32  # RFC 7518: an HS256 key at least as long as its hash


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
    max_fragments: int = 64
    log_level: str = "INFO"
    # Security: see the README's "Security" section.
    jwt_secret: str | None = field(default=None, repr=False)
    jwt_public_key: str | None = field(default=None, repr=False)  # PEM text
    jwt_algorithms: tuple[str, ...] | None = None  # None: HS256 with a secret, else RS/ES256
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    allowed_origins: tuple[str, ...] = LOCAL_ORIGINS
    require_origin: bool = False
    rate_limit: float = 20.0  # client messages per second; 0 off
    rate_burst: float = 40.0
    max_connections_per_ip: int = 100
    max_connections: int = 10_000
    max_pending_bytes: int = 2**20
    max_subscriptions: int = 100
    # Persistence and scale-out: see the README's "Persistence and several instances".
    store: str = "memory"
    store_prefix: str = "tourpanel"
    lease: float = 3.0  # a dead leader's feed resumes on another instance within ~this
    amqp: str | None = field(default=None, repr=False)  # its URL may hold a password
    amqp_exchange: str = "tourpanel.availability"
    amqp_queue: str = "tourpanel.availability"
    amqp_dead_letter: str = "tourpanel.availability.dead"

    def __post_init__(self) -> None:
        unknown = set(self.feeds) - set(FEEDS)
        if unknown or not self.feeds:
            raise ValueError(f"feeds must be among {FEEDS}, got {self.feeds}")
        check_store(self.store)
        if self.amqp and "tours" not in self.feeds:
            raise ValueError("booking events (--amqp) change tours: serve the tours feed too")
        positive = ("random_interval", "tours_interval", "open_timeout", "close_timeout", "lease")
        counts = ("max_fragments", "max_connections", "max_connections_per_ip")
        for name in (*positive, *counts, "max_pending_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.jwt_secret and self.jwt_public_key:
            raise ValueError("configure either a JWT secret or a JWT public key, not both")
        if self.jwt_secret and len(self.jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"the JWT secret must be at least {MIN_SECRET_BYTES} bytes long "
                "(make one with: openssl rand -hex 32)"
            )
        self.verifier()  # a bad key or algorithm list fails now, not at the first client

    def interval(self, feed: str) -> float:
        return self.random_interval if feed == "random" else self.tours_interval

    def verifier(self) -> TokenVerifier | None:
        """The token check, or ``None`` when no key is configured (the lesson's demo)."""
        key = self.jwt_secret or self.jwt_public_key
        if not key:
            return None
        algorithms = self.jwt_algorithms or (("HS256",) if self.jwt_secret else ("RS256", "ES256"))
        return TokenVerifier(
            key, algorithms=algorithms, audience=self.jwt_audience, issuer=self.jwt_issuer
        )

    def admission(self) -> Admission:
        return Admission(
            allowed_origins=self.allowed_origins,
            require_origin=self.require_origin,
            loopback_only=is_loopback(self.host),
            max_per_address=self.max_connections_per_ip,
            max_connections=self.max_connections,
            verifier=self.verifier(),
        )

    def rate(self) -> RateLimit | None:
        if not self.rate_limit:
            return None
        return RateLimit(rate=self.rate_limit, burst=max(1.0, self.rate_burst))


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


def _names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise ValueError("must name at least one, separated by commas")
    return names


def _algorithms(text: str) -> tuple[str, ...]:
    names = tuple(name.upper() for name in _names(text))
    known = (*HMAC_ALGORITHMS, *ASYMMETRIC_ALGORITHMS)
    if unknown := [name for name in names if name not in known]:
        raise ValueError(f"{', '.join(unknown)} not allowed; choose among {', '.join(known)}")
    return names


def _pem_file(text: str) -> str:
    try:
        return Path(text).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read a PEM public key from {text}: {exc}") from None


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value not in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
        raise ValueError("must be true or false")
    return value in {"1", "true", "yes", "on"}


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError("must be 0 (off) or a positive number")
    return value


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
    Option("--max-fragments", "max_fragments", _count, "frames one client message may span"),
    Option("--log-level", "log_level", _level, "DEBUG, INFO, WARNING or ERROR"),
    Option(
        "--jwt-secret", "jwt_secret", str, "HS256 secret: clients then need a token", secret=True
    ),
    Option(
        "--jwt-public-key",
        "jwt_public_key",
        _pem_file,
        "PEM file of an RS256/ES256 public key: clients then need a token",
        secret=True,
    ),
    Option("--jwt-algorithms", "jwt_algorithms", _algorithms, "comma-separated JWT algorithms"),
    Option("--jwt-audience", "jwt_audience", str, "required aud claim"),
    Option("--jwt-issuer", "jwt_issuer", str, "required iss claim"),
    Option(
        "--allowed-origins",
        "allowed_origins",
        _names,
        "browser origins allowed to connect, comma-separated; 'localhost' (any port), '*' any",
    ),
    Option(
        "--require-origin",
        "require_origin",
        _flag,
        "true: refuse clients that send no Origin header (non-browser clients)",
    ),
    Option("--rate-limit", "rate_limit", _non_negative, "client messages per second; 0 off"),
    Option("--rate-burst", "rate_burst", positive_float, "client messages allowed at once"),
    Option(
        "--max-connections-per-ip",
        "max_connections_per_ip",
        _count,
        "connections one IP address may hold (HTTP 429 past it)",
    ),
    Option(
        "--max-connections",
        "max_connections",
        _count,
        "connections in all (HTTP 503 past it; kept below the file-descriptor limit)",
    ),
    Option(
        "--max-pending-bytes",
        "max_pending_bytes",
        _count,
        "unread output after which a client is dropped as too slow",
    ),
    Option("--max-subscriptions", "max_subscriptions", _count, "tours one client may subscribe"),
    Option(
        "--store",
        "store",
        check_store,
        "where state and history live: memory, sqlite:///file.db, redis://host:port/db",
    ),
    Option(
        "--store-prefix", "store_prefix", str, "Redis key prefix shared by a group of instances"
    ),
    Option("--lease", "lease", positive_float, "seconds a feed's leader holds its Redis lease"),
    Option(
        "--amqp",
        "amqp",
        str,
        "RabbitMQ URL to consume booking events from, e.g. amqp://guest:guest@127.0.0.1:5672/",
        secret=True,
    ),
    Option("--amqp-exchange", "amqp_exchange", str, "topic exchange booking events arrive on"),
    Option("--amqp-queue", "amqp_queue", str, "durable queue the instances share"),
    Option("--amqp-dead-letter", "amqp_dead_letter", str, "queue that rejected events go to"),
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
        epilog=(
            "Each option can also be set by the environment variable named after it. "
            "'tourpanel-server token --help' tells how to mint a development token."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("mode", nargs="?", choices=MODES, default="both", help="feeds to serve")
    args = parse_options(parser, OPTIONS, Settings(), argv, environ or {})
    values = {option.field: getattr(args, option.field) for option in OPTIONS}
    try:
        return Settings(feeds=FEEDS if args.mode == "both" else (args.mode,), **values)
    except ValueError as exc:
        parser.error(str(exc))
