"""The layering, enforced: import-linter's contracts, what importing loads, and literals.

The contracts live in ``pyproject.toml``; the tests below also check what a
contract cannot see: which modules a process really loads, that the feed server is
imported lazily, and that message types are spelled only in the wire contract.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tourpanel.protocol import Kind

from .conftest import ROOT, TIMEOUT, installed_layout
from .test_packaging import tool

PACKAGES = (ROOT / "tourpanel", ROOT / "server")
PROTOCOL = ROOT / "tourpanel" / "protocol"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("lint-imports"), str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )


def test_the_import_contracts_are_kept() -> None:
    done = lint_imports(installed_layout())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_the_contracts_catch_the_server_importing_the_dashboard(tmp_path: Path) -> None:
    tree = tmp_path / "layout"
    shutil.copytree(installed_layout(), tree, ignore=shutil.ignore_patterns(".mypy_cache"))
    feeds = tree / "tourpanel" / "server" / "feeds.py"
    feeds.write_text(feeds.read_text() + "\nimport tourpanel.views  # noqa\n")
    done = lint_imports(tree)
    assert done.returncode != 0
    assert "tourpanel.server.feeds -> tourpanel.views" in done.stdout
    assert "The feed server imports only the wire contract" in done.stdout


def loaded_by(code: str) -> set[str]:
    """Top-level names of the modules a fresh interpreter has loaded after ``code``."""
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        cwd=ROOT.parent,  # not the checkout: what an installed user gets
        timeout=60,
        check=True,
    )
    return {name.split(".")[0] for name in done.stdout.split()} | set(done.stdout.split())


HEAVY = {"asyncio", "websockets", "pandas", "numpy", "panel", "bokeh"}


def test_the_wire_contract_loads_no_io_library() -> None:
    assert loaded_by("import tourpanel.protocol") & HEAVY == set()


def test_the_package_hands_out_its_names_lazily() -> None:
    loaded = loaded_by("import tourpanel; tourpanel.__version__")
    assert loaded & (HEAVY | {"tourpanel.server"}) == set()
    assert "panel" in loaded_by("import tourpanel; tourpanel.TourCards")


def test_watching_a_feed_loads_no_server_until_the_built_in_feeds_are_asked_for() -> None:
    loaded = loaded_by("import tourpanel.live, tourpanel.listener, tourpanel.config")
    assert "tourpanel.server" not in loaded
    assert {"panel", "bokeh"} & loaded == set()


TRACED_SERVER = (sys.executable, "-X", "importtime", "-m", "tourpanel.server")


@pytest.mark.process
def test_a_running_feed_server_loads_neither_pandas_nor_panel() -> None:
    """``tourpanel-server`` serving a client, its imports traced by ``-X importtime``.

    Without a key it loads no JWT code either (PyJWT and cryptography: some 10 MB).
    """
    from websockets.sync.client import connect

    server = subprocess.Popen(
        [*TRACED_SERVER, "tours", "--host", "127.0.0.1", "--port", "0", "--tours-interval", "0.05"],
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT.parent,
    )
    try:
        assert server.stderr is not None
        lines = []
        for line in server.stderr:
            lines.append(line)
            if match := re.search(r"listening on 127\.0\.0\.1:(\d+)", line):
                break
        else:
            pytest.fail("the server did not start:\n" + "".join(lines))
        with connect(f"ws://127.0.0.1:{match[1]}", open_timeout=TIMEOUT) as ws:
            for _ in range(6):  # the greeting and broadcasts: the server at work
                ws.recv(timeout=TIMEOUT)
        server.terminate()
        lines += server.stderr.readlines()
        assert server.wait(timeout=TIMEOUT) == 0
    finally:
        server.kill()
        server.wait()
        if server.stderr is not None:
            server.stderr.close()
    imported = {line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:")}
    assert "tourpanel.server.transport" in imported  # the trace is there
    assert {name.split(".")[0] for name in imported} & {
        "pandas",
        "panel",
        "bokeh",
        "numpy",
        "jwt",
        "cryptography",
    } == set()


def _modules_outside_the_contract() -> list[Path]:
    files = [f for package in PACKAGES for f in sorted(package.rglob("*.py"))]
    return [f for f in files if PROTOCOL not in f.parents]


def test_message_types_are_spelled_only_in_the_wire_contract() -> None:
    types = {kind.value for kind in Kind}
    found = []
    for path in _modules_outside_the_contract():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and node.value in types:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert found == [], "use tourpanel.protocol.Kind instead of:\n" + "\n".join(found)


def test_the_feed_server_is_imported_lazily_and_only_for_the_built_in_feeds() -> None:
    """Module-level imports of the server appear nowhere; inside a function only in embedded."""
    eager, elsewhere = [], []
    for path in (ROOT / "tourpanel").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            names = _imported(node)
            if not any(n == "tourpanel.server" or n.startswith("tourpanel.server.") for n in names):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if path.name != "embedded.py":
                elsewhere.append(where)
            elif id(node) in top:
                eager.append(where)
    assert elsewhere == []
    assert eager == []


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = "tourpanel." if node.level == 1 else ""
        return [f"{base}{node.module or ''}"]
    return []


def test_no_module_is_over_350_lines() -> None:
    long = {
        str(f.relative_to(ROOT)): n
        for package in PACKAGES
        for f in package.rglob("*.py")
        if (n := len(f.read_text().splitlines())) > 350
    }
    assert long == {}
