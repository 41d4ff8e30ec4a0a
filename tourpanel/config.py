"""Dashboard configuration: ``panel serve tourpanel/app.py --args …`` or ``TOURPANEL_*``."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields

from . import defaults
from .credentials import HIDDEN, check_token, redact_url
from .labels import LABELS
from .listener import check_url
from .options import Option, parse_options, positive_float
from .reconnect import DEFAULT_RECONNECT, Reconnect

__all__ = ["DashboardConfig", "parse_config"]


@dataclass(frozen=True, kw_only=True, slots=True, repr=False)
class DashboardConfig:
    """What the dashboard shows and how; no URL means the built-in feeds."""

    tours_url: str | None = None
    random_url: str | None = None
    language: str = "en"
    flush_ms: int = defaults.FLUSH_MS
    buffer_rows: int = defaults.BUFFER_ROWS
    chart_points: int = defaults.CHART_POINTS
    reconnect_base: float = DEFAULT_RECONNECT.base
    reconnect_cap: float = DEFAULT_RECONNECT.cap
    max_incoming_size: int = defaults.MAX_MESSAGE_BYTES
    token: str | None = None  # sent to both feeds as ``Authorization: Bearer``; never shown

    @property
    def reconnect(self) -> Reconnect:
        return Reconnect(base=self.reconnect_base, cap=self.reconnect_cap)

    def __repr__(self) -> str:
        # The token never shows, nor one written into a feed URL's query.
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "token":
                value = HIDDEN if value else None
            elif isinstance(value, str) and f.name.endswith("_url"):
                value = redact_url(value)
            shown.append(f"{f.name}={value!r}")
        return f"DashboardConfig({', '.join(shown)})"


def _language(text: str) -> str:
    if text.lower() not in LABELS:
        raise ValueError(f"must be one of {', '.join(LABELS)}")
    return text.lower()


def _whole(minimum: int) -> Callable[[str], int]:
    def convert(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise ValueError(f"must be at least {minimum}")
        return value

    return convert


def _url(text: str) -> str | None:
    return check_url(text) if text else None


def _token(text: str) -> str | None:
    # Never raises: argparse and parse_options quote a value they could not convert,
    # and a token must not be printed. The listener checks it, without quoting it.
    return text.strip() or None


OPTIONS = (
    Option("--tours-url", "tours_url", _url, "tours feed URL (default: built-in feed)"),
    Option("--random-url", "random_url", _url, "random feed URL (default: built-in feed)"),
    Option("--language", "language", _language, "labels: en or fr (the lesson's wording)"),
    Option(
        "--flush-ms",
        "flush_ms",
        _whole(defaults.FLUSH_MS_MIN),
        "milliseconds between screen updates",
    ),
    Option("--buffer-rows", "buffer_rows", _whole(1), "rows kept per feed"),
    Option(
        "--chart-points",
        "chart_points",
        _whole(defaults.CHART_POINTS_MIN),
        "points kept per tour line",
    ),
    Option("--reconnect-base", "reconnect_base", positive_float, "first retry delay cap (s)"),
    Option("--reconnect-cap", "reconnect_cap", positive_float, "longest retry delay (s)"),
    Option(
        "--max-incoming-size",
        "max_incoming_size",
        _whole(1),
        "largest feed message in bytes; a larger one closes the connection (1009)",
    ),
    Option(
        "--token",
        "token",
        _token,
        "bearer token for feeds that require one, sent as an Authorization header and "
        "never logged; prefer the environment variable (a command line shows in ps)",
        secret=True,
    ),
)


def parse_config(argv: Sequence[str], environ: Mapping[str, str]) -> DashboardConfig:
    """Read the dashboard's options; a bad value exits with a message naming it."""
    parser = argparse.ArgumentParser(
        prog="panel serve tourpanel/app.py --args",
        description="Live dashboard of the tour and random-number feeds.",
        epilog="Each option can also be set by the environment variable named after it.",
    )
    args = parse_options(parser, OPTIONS, DashboardConfig(), argv, environ)
    try:
        args.token = check_token(args.token)
    except ValueError as exc:  # the message never quotes the token
        parser.error(f"--token (or TOURPANEL_TOKEN): {exc}")
    return DashboardConfig(**{f.name: getattr(args, f.name) for f in fields(DashboardConfig)})
