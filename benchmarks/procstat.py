"""CPU time and memory of a process, read from /proc (Linux)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_bytes(pid: int) -> int:
    """Resident memory of the process."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


def percentile(values: list[float], share: float) -> float:
    """The ``share`` percentile (0–100) of ``values``, by nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(share / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def ratio(a: float, b: float) -> str:
    """``a / b`` for a printed comparison; ``n/a`` when there is nothing to compare to."""
    return f"{a / b:.2f}" if b else "n/a"


def chromium_pids() -> list[int]:
    """Every Chromium process on the machine (browsers started by the benchmarks)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if "chrom" in stat.read_text().split(")", 1)[0]:
                pids.append(int(stat.parent.name))
        except OSError:
            continue  # gone meanwhile
    return pids


def total(read: Callable[[int], float], pids: Iterable[int]) -> float:
    """``read(pid)`` summed over ``pids``, skipping processes that ended meanwhile."""
    found = 0.0
    for pid in pids:
        try:
            found += read(pid)
        except OSError:
            continue
    return found
