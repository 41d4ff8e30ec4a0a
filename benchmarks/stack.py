"""The whole chain as processes: a feed server and ``panel serve tourpanel/app.py`` on it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .fanout import free_port

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Stack:
    feed: subprocess.Popen[bytes]
    app: subprocess.Popen[bytes]
    health_url: str  # the feed's /healthz
    app_url: str  # the dashboard page


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(url)


@contextmanager
def running_stack(*, rate: float, flush_ms: int = 250) -> Iterator[Stack]:
    """Both feeds (random at ``rate`` msg/s) and the dashboard watching them."""
    feed_port, app_port = free_port(), free_port()
    feed = subprocess.Popen(
        [
            sys.executable, "-m", "tourpanel.server",
            "--host", "127.0.0.1", "--port", str(feed_port),
            "--random-interval", str(1 / rate), "--log-level", "WARNING",
        ],
        cwd=ROOT,
    )  # fmt: skip
    env = {
        **os.environ,
        "TOURPANEL_TOURS_URL": f"ws://127.0.0.1:{feed_port}/tours",
        "TOURPANEL_RANDOM_URL": f"ws://127.0.0.1:{feed_port}/random",
        "TOURPANEL_FLUSH_MS": str(flush_ms),
    }
    app = subprocess.Popen(
        [
            sys.executable, "-m", "panel", "serve", "tourpanel/app.py", "--address", "127.0.0.1",
            "--port", str(app_port), "--allow-websocket-origin", f"127.0.0.1:{app_port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    stack = Stack(
        feed, app, f"http://127.0.0.1:{feed_port}/healthz", f"http://127.0.0.1:{app_port}/app"
    )
    try:
        wait_http(stack.health_url, feed)
        wait_http(stack.app_url, app)
        yield stack
    finally:
        for proc in (app, feed):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
