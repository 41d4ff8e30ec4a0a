"""``tourpanel-server token``: mint a development token with the configured secret."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence

from tourpanel.options import env_name

from .auth import mint

__all__ = ["main_token", "parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``1h`` or ``7d`` in seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text.lower())
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90s, 15m or 1h")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def main_token(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    """Print a token for ``--sub``; the secret comes from --jwt-secret or the environment."""
    parser = argparse.ArgumentParser(
        prog="tourpanel-server token",
        description=(
            "Print an HS256 token signed with the server's secret, for development and "
            "classroom use. Pass it to clients as ?token=… or 'Authorization: Bearer …'."
        ),
    )
    parser.add_argument("--sub", required=True, help="who the token is for (its sub claim)")
    parser.add_argument("--ttl", type=parse_duration, default=3600.0, help="lifetime, e.g. 1h")
    parser.add_argument(
        "--tours", help="comma-separated tour ids the token may receive (default: all)"
    )
    parser.add_argument("--audience", help="aud claim, if the server checks one")
    parser.add_argument("--issuer", help="iss claim, if the server checks one")
    parser.add_argument("--jwt-secret", help=f"the server's secret [env {env_name('jwt_secret')}]")
    args = parser.parse_args(argv)
    secret = args.jwt_secret or environ.get(env_name("jwt_secret"))
    if not secret:
        parser.error(f"no secret: pass --jwt-secret or set {env_name('jwt_secret')}")
    tours = None if args.tours is None else [t.strip() for t in args.tours.split(",") if t.strip()]
    print(
        mint(
            secret,
            sub=args.sub,
            ttl=args.ttl,
            tours=tours,
            audience=args.audience or environ.get(env_name("jwt_audience")),
            issuer=args.issuer or environ.get(env_name("jwt_issuer")),
        )
    )
    return 0
