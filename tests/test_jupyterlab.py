"""A teacher's run: JupyterLab in Chromium, Run All Cells, and the inline dashboard moves."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from .conftest import ARTIFACTS, TIMEOUT, free_port, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.notebook]

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

# Bokeh draws each pane in a shadow root, which document.querySelector does not enter.
_FIND_NUMBER = """
const find = (root) => root.querySelector('.tp-number-value') ?? [...root.querySelectorAll('*')]
    .filter((el) => el.shadowRoot).map((el) => find(el.shadowRoot)).find((hit) => hit) ?? null;
const value = find(document);
"""
SCROLL_TO_NUMBER = "() => {" + _FIND_NUMBER + "value?.scrollIntoView(); return value !== null; }"
READ_NUMBER = "() => {" + _FIND_NUMBER + "return value?.textContent.trim() ?? ''; }"


@pytest.fixture
def jupyterlab(tmp_path: Path) -> Iterator[str]:
    """JupyterLab on a free port, serving a copy of the notebooks (it saves outputs)."""
    root = tmp_path / "notebooks"
    root.mkdir()
    for notebook in NOTEBOOKS.glob("*.ipynb"):
        shutil.copy(notebook, root)
    port = free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = (ARTIFACTS / f"jupyterlab-{port}.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter", "lab", "--no-browser",
            "--ip", "127.0.0.1", "--port", str(port),
            f"--ServerApp.root_dir={root}",
            "--IdentityProvider.token=", "--ServerApp.password=",
            "--allow-root",  # CI runs as root
            # A clean JupyterLab: no workspace or settings left by an earlier session.
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
            f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
            # Nothing from the internet: no news, no update checks, no extension search.
            "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ],
        env={**os.environ, "TOURPANEL_RANDOM_INTERVAL": "0.2"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, "jupyter lab exited; see its log in artifacts/browser/"
        try:
            with urllib.request.urlopen(f"{base}/api/status", timeout=5) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    try:
        wait_until(ready, timeout=60)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_run_all_cells_and_watch_the_numbers_change(
    jupyterlab: str, open_page: Callable[[str], Any]
) -> None:
    page = open_page(f"{jupyterlab}/lab/tree/01_random_numbers.ipynb?reset")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    # JupyterLab asks which kernel to start unless told to always use the preferred one.
    select = page.locator(".jp-Dialog button", has_text="Select")
    try:
        select.first.wait_for(timeout=20_000)
        select.first.click()
    except PlaywrightTimeout:
        pass  # no dialog this time: the kernel started on its own
    wait_until(
        lambda: "Idle" in page.locator(".jp-StatusBar-TextItem").all_inner_texts().__str__(),
        timeout=60,
    )
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    last_output = page.locator(".jp-OutputArea-output", has_text="live numbers in the buffer")
    last_output.first.wait_for(timeout=120_000)
    # Scroll back up to the inline dashboard, as a teacher would, and watch it move. The pane
    # redraws four times a second, so find and scroll in one step inside the page: a locator
    # resolved first and scrolled later can hold an element a redraw has already replaced.
    wait_until(lambda: page.evaluate(SCROLL_TO_NUMBER), timeout=60)
    seen: set[str] = set()
    wait_until(lambda: (seen.add(page.evaluate(READ_NUMBER)) or len(seen - {""})) >= 3, timeout=60)
    assert all(number.isdigit() for number in seen - {""})
    assert page.locator(".tp-history li").count() == 10
    status = page.locator('tr[data-feed="random"]').first
    assert status.get_attribute("data-status") == "connected"
