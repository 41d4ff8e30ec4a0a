"""End to end: a feed at 100 msg/s into ``panel serve tourpanel/app.py``, N browser tabs.

For each tab, the time from a number's server timestamp to that number appearing
in the page (read from the page itself, in the frame that paints it); the Panel process's
CPU; and how many upstream connections it opened (from the feed's ``/healthz``).

    python -m benchmarks.e2e --sessions 1 --duration 30
    python -m benchmarks.e2e --sessions 20 --duration 30

Needs Chromium at /usr/bin/chromium (or ``TOURPANEL_CHROMIUM``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request

from playwright.sync_api import sync_playwright

from .procstat import chromium_pids, cpu_seconds, percentile, rss_bytes, total
from .stack import running_stack

CHROMIUM = os.environ.get("TOURPANEL_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
]

# Records, in the page, each new number's delay from its server timestamp: taken in
# the animation frame after the number lands in the DOM (the frame that paints it).
# Event-driven, so that measuring adds no work of its own to a busy page.
PROBE = """
window.__latencies = []; window.__measuring = false;
(() => {
  let shown = null, element = null;
  const find = (root) => {
    const hit = root.querySelector(".tp-number");
    if (hit) return hit;
    for (const node of root.querySelectorAll("*")) {
      if (node.shadowRoot) { const deep = find(node.shadowRoot); if (deep) return deep; }
    }
    return null;
  };
  const seen = () => {
    const stamp = element.getAttribute("data-timestamp");
    if (!stamp || stamp === shown) return;
    shown = stamp;
    if (!window.__measuring) return;
    requestAnimationFrame(() => window.__latencies.push(Date.now() - Date.parse(stamp)));
  };
  const observer = new MutationObserver(seen);
  setInterval(() => {  // (re)attach when the page is first drawn or redrawn
    if (element && element.isConnected) return;
    element = find(document);
    if (!element) return;
    observer.disconnect();
    observer.observe(element, { attributes: true, attributeFilter: ["data-timestamp"] });
    seen();
  }, 100);
})();
"""


def browser_cpu() -> float:
    """CPU seconds used so far by every Chromium process on the machine."""
    return total(cpu_seconds, chromium_pids())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.e2e", description=__doc__)
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--rate", type=float, default=100, help="random numbers per second")
    parser.add_argument("--flush-ms", type=int, default=250)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    with running_stack(rate=args.rate, flush_ms=args.flush_ms) as stack:
        app, url = stack.app, stack.app_url
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            pages = []
            for _ in range(args.sessions):
                page = browser.new_context().new_page()
                page.add_init_script(PROBE)
                page.goto(url)
                pages.append(page)
            for page in pages:
                page.wait_for_function("window.__latencies !== undefined", timeout=60_000)
                page.locator(".tp-number").first.wait_for(timeout=60_000)
            for page in pages:
                page.evaluate("window.__measuring = true")
            cpu_before, started = cpu_seconds(app.pid), time.monotonic()
            browser_before = browser_cpu()
            time.sleep(args.duration)
            cpu = cpu_seconds(app.pid) - cpu_before
            browser_used = browser_cpu() - browser_before
            elapsed = time.monotonic() - started
            samples = [v for page in pages for v in page.evaluate("window.__latencies")]
            browser.close()
        with urllib.request.urlopen(stack.health_url) as reply:
            upstream = json.load(reply)["connections"]
        result = {
            "sessions": args.sessions,
            "rate": args.rate,
            "flush_ms": args.flush_ms,
            "samples": len(samples),
            "p50_ms": round(percentile(samples, 50), 1),
            "p99_ms": round(percentile(samples, 99), 1),
            "panel_cpu_percent": round(cpu / elapsed * 100, 1),
            "browser_cpu_percent": round(browser_used / elapsed * 100, 1),
            "panel_rss_mb": round(rss_bytes(app.pid) / 2**20, 1),
            "upstream_connections": upstream,
        }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['sessions']} session(s) at {result['rate']:g} msg/s: value on screen "
            f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms after its server timestamp "
            f"({result['samples']} samples); panel process {result['panel_cpu_percent']} % CPU, "
            f"{result['panel_rss_mb']} MB; Chromium {result['browser_cpu_percent']} % CPU; "
            f"{result['upstream_connections']} upstream connections"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
