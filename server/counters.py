"""What the server refused and cut off, as counts for ``/healthz``: never who."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SecurityCounters"]


@dataclass(slots=True)
class SecurityCounters:
    refused: Counter[str] = field(default_factory=Counter)  # handshakes, by reason
    rate_limited: int = 0  # times a client went over its message budget
    flood_closed: int = 0  # clients closed for staying over it
    slow_dropped: int = 0  # clients dropped for not reading
    expired_closed: int = 0  # connections closed as their token expired

    def health(self) -> dict[str, Any]:
        return {
            "refusedHandshakes": dict(sorted(self.refused.items())),
            "rateLimited": self.rate_limited,
            "floodClosed": self.flood_closed,
            "slowConsumersDropped": self.slow_dropped,
            "tokensExpired": self.expired_closed,
        }
