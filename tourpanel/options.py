"""Command-line options that fall back to ``TOURPANEL_*`` environment variables.

Shared by ``python -m server`` and the dashboard so both read their configuration
the same way: the command line wins over the environment, which wins over the
defaults of a frozen settings dataclass.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Option", "env_name", "parse_options", "positive_float"]


@dataclass(frozen=True, slots=True)
class Option:
    """``--flag`` filling settings field ``field`` through ``convert``."""

    flag: str
    field: str
    convert: Callable[[str], Any]
    help: str
    secret: bool = False  # its value is never shown, not even as a default in --help


def env_name(field: str) -> str:
    return f"TOURPANEL_{field.upper()}"


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError("must be a positive number")
    return value


def parse_options(
    parser: argparse.ArgumentParser,
    options: Sequence[Option],
    defaults: Any,
    argv: Sequence[str] | None,
    environ: Mapping[str, str],
) -> argparse.Namespace:
    """Add ``options`` to ``parser`` with defaults from ``environ``, then parse ``argv``.

    An invalid environment value is a usage error naming the variable.
    """
    hidden: dict[str, Any] = {}
    for option in options:
        variable = env_name(option.field)
        default = getattr(defaults, option.field)
        raw = environ.get(variable)
        if raw:
            try:
                default = option.convert(raw)
            except ValueError as exc:
                shown = "…" if option.secret else repr(raw)
                parser.error(f"{variable}={shown} is invalid for {option.flag}: {exc}")
        if option.secret:
            hidden[option.field], default = default, argparse.SUPPRESS
        parser.add_argument(
            option.flag,
            dest=option.field,
            type=option.convert,
            default=default,
            help=f"{option.help} [env {variable}]",
        )
    args = parser.parse_args(argv)
    for name, value in hidden.items():
        if not hasattr(args, name):
            setattr(args, name, value)
    return args
