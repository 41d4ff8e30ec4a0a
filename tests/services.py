"""The real Redis and RabbitMQ on this machine, for the tests that need them.

Each test gets names of its own (a Redis key prefix, exchange and queue names) and
cleans them up; without the service it skips and says why. Tests that stop or
restart Redis start a ``redis-server`` of their own on a free port instead of
touching the shared one.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from .conftest import ROOT, TIMEOUT, free_port, wait_until

T = TypeVar("T")

REDIS_URL = os.environ.get("TOURPANEL_TEST_REDIS", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("TOURPANEL_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")
FAULTS = ROOT / "artifacts" / "faults.txt"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def need_redis() -> None:
    if not _answers("127.0.0.1", 6379):
        pytest.skip("no Redis at 127.0.0.1:6379 (start it: redis-server --daemonize yes)")


def need_rabbitmq() -> None:
    if not _answers("127.0.0.1", 5672):
        pytest.skip("no RabbitMQ at 127.0.0.1:5672 (start it: rabbitmq-server -detached)")


def unique(stem: str) -> str:
    return f"test-{stem}-{secrets.token_hex(4)}"


def redis_delete(url: str, prefix: str) -> None:
    """Remove every key of ``prefix`` (the feeds' keys sit under ``{prefix:feed}``)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{{{prefix}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


class RedisServer:
    """A ``redis-server`` of the test's own, with its AOF in ``folder`` (so a restart keeps it)."""

    def __init__(self, folder: Path) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(lambda: _answers("127.0.0.1", self.port))
        return self

    def stop(self, *, kill: bool = False) -> None:
        """Stop it: ``kill`` as a crash would, otherwise as an operator would (SIGTERM)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill() if kill else self.proc.terminate()
            self.proc.wait(TIMEOUT)
        wait_until(lambda: not _answers("127.0.0.1", self.port))


def report_counts(test: str, **counts: Any) -> None:
    """Note a fault test's counts (sent against delivered) in ``artifacts/faults.txt``."""
    FAULTS.parent.mkdir(parents=True, exist_ok=True)
    with FAULTS.open("a", encoding="utf-8") as out:
        out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {test} {json.dumps(counts)}\n")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from a synchronous test, on a thread of its own.

    Not ``asyncio.run`` on the test's thread: Playwright's sync API (the browser
    tests' session fixture) keeps an event loop running there.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="test-asyncio") as pool:
        return pool.submit(asyncio.run, coro).result()
