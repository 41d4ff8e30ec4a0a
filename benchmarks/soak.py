"""Soak: a long run at a high rate through feed server, listener and dashboard.

Runs ``tourpanel-server`` with the random feed at ``--rate`` messages per second, a
``panel serve tourpanel/app.py`` watching it (its listener fills the buffer) with one
Chromium tab open, and samples the resident memory of each process. After the
warm-up, growth must stay small: every buffer and chart is bounded.

    python -m benchmarks.soak --duration 600 --rate 2000 --svg docs/soak.svg
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from .e2e import CHROMIUM, FLAGS
from .procstat import chromium_pids, rss_bytes, total
from .stack import running_stack

COLOURS = {"server": "#1f77b4", "panel": "#ff7f0e", "chromium": "#2ca02c"}


def chromium_rss() -> int:
    """Resident memory of every Chromium process on the machine."""
    return int(total(rss_bytes, chromium_pids()))


def svg(samples: list[dict[str, float]], warmup: float) -> str:
    """RSS over time per process, as a small standalone SVG chart."""
    width, height, pad = 720, 300, 40
    end = max(s["t"] for s in samples)
    top = max(max(s[k] for k in COLOURS) for s in samples) * 1.1

    def point(t: float, mb: float) -> str:
        x = pad + t / end * (width - 2 * pad)
        y = height - pad - mb / top * (height - 2 * pad)
        return f"{x:.1f},{y:.1f}"

    lines = []
    for name, colour in COLOURS.items():
        path = " ".join(point(s["t"], s[name]) for s in samples)
        lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        last = samples[-1]
        x, y = point(last["t"], last[name]).split(",")
        lines.append(f'<text x="{float(x) - 60}" y="{float(y) - 6}" fill="{colour}">{name}</text>')
    warm_x = pad + warmup / end * (width - 2 * pad)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        f'stroke="#999"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#999"/>'
        f'<line x1="{warm_x:.1f}" y1="{pad}" x2="{warm_x:.1f}" y2="{height - pad}" '
        f'stroke="#bbb" stroke-dasharray="4"/>'
        f'<text x="{pad}" y="{pad - 10}">RSS (MB, max {top:.0f}) over {end:.0f} s; '
        f"dashed: end of warm-up</text>{''.join(lines)}</svg>"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--duration", type=float, default=600)
    parser.add_argument("--warmup", type=float, default=60)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--every", type=float, default=10, help="seconds between samples")
    parser.add_argument("--svg", type=Path, help="write the RSS chart here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    samples: list[dict[str, float]] = []
    with running_stack(rate=args.rate) as stack:
        feed, app, url = stack.feed, stack.app, stack.app_url
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            page.goto(url)
            page.locator(".tp-number").first.wait_for(timeout=60_000)
            started = time.monotonic()
            while (elapsed := time.monotonic() - started) <= args.duration:
                samples.append(
                    {
                        "t": round(elapsed, 1),
                        "server": rss_bytes(feed.pid) / 2**20,
                        "panel": rss_bytes(app.pid) / 2**20,
                        "chromium": chromium_rss() / 2**20,
                    }
                )
                time.sleep(args.every)
            with urllib.request.urlopen(stack.health_url) as reply:
                sent = json.load(reply)["feeds"]["random"]["seq"]
            browser.close()
    warm = next((s for s in samples if s["t"] >= args.warmup), samples[0])
    growth = {k: round((samples[-1][k] - warm[k]) / warm[k] * 100, 2) for k in COLOURS}
    result = {
        "duration_s": args.duration,
        "rate": args.rate,
        "messages_sent": sent,
        "rss_mb_after_warmup": {k: round(warm[k], 1) for k in COLOURS},
        "rss_mb_at_end": {k: round(samples[-1][k], 1) for k in COLOURS},
        "growth_percent": growth,
    }
    if args.svg:
        args.svg.write_text(svg(samples, args.warmup))
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{sent:,} messages in {args.duration:g} s; RSS growth after warm-up: "
            + ", ".join(
                f"{k} {v:+.2f} % ({result['rss_mb_at_end'][k]} MB)" for k, v in growth.items()
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
