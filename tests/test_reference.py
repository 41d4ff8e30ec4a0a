"""Side by side with the lesson's own Node.js servers: the same client sees the same
message shapes from both (extension fields aside).

Needs node and npm, and the tool that runs the lesson's servers: set
``TOURPANEL_SEED_NODE_SERVER`` to its path, or keep it at ``../shared/tools/``
beside this checkout. Skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import WebSocketException

from .conftest import free_port, greet, open_client, recv_json, wait_until
from .test_process import LISTENING, ServerProcess

pytestmark = pytest.mark.reference

EXTENSIONS = {"seq", "epoch", "feed", "reset"}
TOOL = Path(
    os.environ.get(
        "TOURPANEL_SEED_NODE_SERVER",
        Path(__file__).resolve().parents[2] / "shared" / "tools" / "seed-node-server",
    )
)


@pytest.fixture
def node_server() -> Iterator[Any]:
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are needed to run the lesson's reference server")
    if not TOOL.is_file():
        pytest.skip(f"reference tool not found at {TOOL}; set TOURPANEL_SEED_NODE_SERVER")
    procs: list[subprocess.Popen[bytes]] = []

    def start(kind: str) -> str:
        port = free_port()
        proc = subprocess.Popen(
            [str(TOOL), kind, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        procs.append(proc)
        url = f"ws://127.0.0.1:{port}"

        def accepting() -> bool:
            assert proc.poll() is None, (
                "the reference server exited; is the npm registry reachable?"
            )
            try:
                with open_client(url):
                    return True
            except (OSError, WebSocketException):
                return False

        wait_until(accepting, timeout=120)  # the first run installs `ws` with npm
        return url

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def shape(message: dict[str, Any]) -> list[tuple[str, str]]:
    """Field names in order with their JSON types, extension fields left out."""
    return [(k, type(v).__name__) for k, v in message.items() if k not in EXTENSIONS]


def first_messages(url: str, feed: str) -> list[dict[str, Any]]:
    with open_client(url) as ws:
        return [*greet(ws, feed), recv_json(ws, timeout=15)]


@pytest.mark.parametrize("feed", ["random", "tours"])
def test_same_shapes_as_the_node_server(node_server: Any, feed: str) -> None:
    node = first_messages(node_server(feed), feed)
    python_server = ServerProcess(feed, "--random-interval", "0.1", "--tours-interval", "0.1")
    try:
        port = python_server.wait_for(LISTENING)[1]
        ours = first_messages(f"ws://127.0.0.1:{port}", feed)
    finally:
        python_server.close()
    assert [shape(m) for m in ours] == [shape(m) for m in node]
    assert ours[0]["message"] == node[0]["message"]  # the French welcome, same UTF-8 text
    if feed == "tours":
        initial = [(m["tourId"], m["tourName"]) for m in ours[1:4]]
        assert initial == [(m["tourId"], m["tourName"]) for m in node[1:4]]
