"""The notebooks run top to bottom in a real kernel, offline, and end with live data."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.notebook

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
LIVE_LINE = re.compile(r"(\d+) live (?:numbers|updates|messages) in the buffer")
FAST = {"TOURPANEL_RANDOM_INTERVAL": "0.05", "TOURPANEL_TOURS_INTERVAL": "0.05"}


def test_the_three_notebooks_exist() -> None:
    assert [path.name for path in NOTEBOOKS] == [
        "01_random_numbers.ipynb",
        "02_tour_availability.ipynb",
        "03_explore_any_feed.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: strip outputs before committing"
            assert cell.execution_count is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_runs_top_to_bottom_with_live_data(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FAST.items():  # the kernel inherits them; the notebooks only set defaults
        monkeypatch.setenv(name, value)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    printed = "".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "stream"
    )
    match = LIVE_LINE.search(printed)
    assert match, f"{path.name} printed no live-data summary:\n{printed}"
    assert int(match[1]) >= 10
    errors = [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert errors == []
