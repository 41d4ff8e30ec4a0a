"""``tourpanel-server`` as a real process: startup, configuration, graceful shutdown."""

from __future__ import annotations

import json
import os
import queue
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from .conftest import TIMEOUT, free_port, greet, open_client, recv_json, wait_until

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[1]
# The console script pip installs beside this interpreter, as a user runs it.
SERVER_COMMAND = str(Path(sys.executable).with_name("tourpanel-server"))
LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


class ServerProcess:
    """``tourpanel-server`` with its stderr read line by line in the background."""

    def __init__(
        self, *args: str, env: dict[str, str] | None = None, open_files: int | None = None
    ) -> None:
        def limit() -> None:  # as `ulimit -n open_files` would, soft and hard
            if open_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

        self.proc = subprocess.Popen(
            [SERVER_COMMAND, "--host", "127.0.0.1", "--port", "0", *args],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            preexec_fn=limit if open_files is not None else None,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_for(self, pattern: re.Pattern[str]) -> re.Match[str]:
        """Wait for a log line matching ``pattern``; fails with the log so far."""
        while True:
            try:
                line = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError(
                    f"no line matching {pattern.pattern!r} in:\n{''.join(self.log)}"
                ) from None
            self.log.append(line)
            if match := pattern.search(line):
                return match

    def close(self) -> None:
        """Kill the process if it still runs and release its pipe."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(TIMEOUT)
        self._reader.join(TIMEOUT)
        assert self.proc.stderr is not None
        self.proc.stderr.close()

    def rest_of_log(self) -> str:
        self._reader.join(TIMEOUT)  # call after the process exited
        while not self.lines.empty():
            self.log.append(self.lines.get())
        return "".join(self.log)


def close_code(ws: ClientConnection) -> int | None:
    """Read until the server closes the connection; its close code."""
    try:
        while True:  # a broadcast may still arrive before the close
            recv_json(ws)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


@pytest.fixture
def spawn() -> Iterator[type[ServerProcess]]:
    started: list[ServerProcess] = []

    class Tracked(ServerProcess):
        def __init__(
            self, *args: str, env: dict[str, str] | None = None, open_files: int | None = None
        ) -> None:
            super().__init__(*args, env=env, open_files=open_files)
            started.append(self)

    yield Tracked
    for server in started:
        server.close()


def test_sigterm_closes_clients_going_away_and_exits_zero(spawn: type[ServerProcess]) -> None:
    server = spawn("--close-timeout", "3")
    port = server.wait_for(LISTENING)[1]
    with (
        open_client(f"ws://127.0.0.1:{port}/tours") as tours,
        open_client(f"ws://127.0.0.1:{port}/random") as numbers,
    ):
        greet(tours, "tours")
        greet(numbers, "random")
        server.wait_for(re.compile(r"connected to random \(1 on this feed, 2 in all\)"))
        server.proc.send_signal(signal.SIGTERM)
        assert close_code(tours) == close_code(numbers) == 1001  # going away
    assert server.proc.wait(timeout=3 + TIMEOUT) == 0
    log = server.rest_of_log()
    assert "SIGTERM received" in log
    assert "server closed" in log


def test_sigint_stops_an_idle_server(spawn: type[ServerProcess]) -> None:
    server = spawn()
    server.wait_for(LISTENING)
    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(timeout=TIMEOUT) == 0


def test_lesson_mode_serves_one_feed_at_the_root(spawn: type[ServerProcess]) -> None:
    server = spawn("random", "--random-interval", "0.05", "--seed", "7")
    port = server.wait_for(LISTENING)[1]
    with open_client(f"ws://127.0.0.1:{port}") as ws:
        [welcome] = greet(ws, "random")
        assert welcome["feed"] == "random"
        number = recv_json(ws)
        assert number["type"] == "RANDOM_NUMBER"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT) as reply:
        assert list(json.load(reply)["feeds"]) == ["random"]


def test_environment_configures_the_server(spawn: type[ServerProcess]) -> None:
    server = spawn(env={"TOURPANEL_TOURS_INTERVAL": "0.05", "TOURPANEL_LOG_LEVEL": "debug"})
    port = server.wait_for(LISTENING)[1]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT) as reply:
        assert json.load(reply)["feeds"]["tours"]["intervalSeconds"] == 0.05
    server.wait_for(re.compile(r"DEBUG tourpanel.server: tours feed broadcast seq \d+"))


def test_invalid_environment_is_a_clear_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tourpanel.server"],
        cwd=ROOT,
        env={**os.environ, "TOURPANEL_PORT": "eighty"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 2
    assert "TOURPANEL_PORT='eighty' is invalid for --port" in done.stderr


def test_port_in_use_is_reported_not_a_traceback(spawn: type[ServerProcess]) -> None:
    first = spawn()
    port = first.wait_for(LISTENING)[1]
    done = subprocess.run(
        [sys.executable, "-m", "tourpanel.server", "--host", "127.0.0.1", "--port", port],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_help_documents_every_option_and_its_variable() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tourpanel.server", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0
    for option in (
        "--host",
        "--port",
        "--random-interval",
        "--tours-interval",
        "--seed",
        "--log-level",
    ):
        assert option in done.stdout
        variable = "TOURPANEL_" + option.removeprefix("--").replace("-", "_").upper()
        assert variable in done.stdout


def test_localhost_listens_on_both_loopbacks() -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    port = free_port()
    server = ServerProcess("tours", "--host", "localhost", "--port", str(port))
    try:
        line = server.wait_for(re.compile(r"listening on (.*)"))[1]
        assert sorted(line.split(", ")) == [f"127.0.0.1:{port}", f"[::1]:{port}"]
        for host in ("127.0.0.1", "[::1]"):
            with open_client(f"ws://{host}:{port}") as ws:
                assert greet(ws, "tours")[0]["type"] == "WELCOME"
    finally:
        server.close()


def test_out_of_file_descriptors_the_server_refuses_politely_and_logs_once_a_second(
    spawn: type[ServerProcess],
) -> None:
    """Under ``ulimit -n 160``: 503 past the cap it derives, and no traceback storm."""
    server = spawn("random", "--max-connections-per-ip", "10000", "--open-timeout", "30",
                   open_files=160)  # fmt: skip
    server.wait_for(re.compile(r"the open-files limit \(160\) allows 96 connections"))
    port = server.wait_for(LISTENING)[1]
    cap = 160 - 64  # FD_RESERVE descriptors stay free to answer and to log
    upgrade = (
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    held: list[socket.socket] = []
    try:
        statuses = []
        for _ in range(cap + 10):
            sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            held.append(sock)
            sock.sendall(upgrade)
            statuses.append(sock.recv(12)[9:12])
        assert statuses.count(b"101") == cap
        assert set(statuses[cap:]) == {b"503"}
        # Now past the descriptors themselves: connections that never send a byte.
        for _ in range(80):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT))
        server.wait_for(re.compile(r"cannot accept connections"))
    finally:
        for sock in held:
            sock.close()

    # Once the descriptors are back, a client connects as before.
    def connects() -> bool:
        try:
            with open_client(f"ws://127.0.0.1:{port}") as ws:
                return greet(ws, "random")[0]["type"] == "WELCOME"
        except (OSError, ConnectionClosed, TimeoutError):
            return False

    assert wait_until(connects)
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=TIMEOUT) == 0
    log = server.rest_of_log()
    assert "Traceback" not in log
    assert log.count("cannot accept connections") <= 3  # once a second at most
