"""The project's own hygiene: dependency lists agree, lint and types are clean, and CI
runs exactly what the README tells a new user to type."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from .conftest import installed_layout

ROOT = Path(__file__).resolve().parents[1]


# PyPI names whose conda-forge package is named otherwise ("redis" there is the server).
CONDA_NAMES = {"redis-py": "redis"}


def _normalise(spec: str) -> str:
    spec = re.sub(r"\s+", "", spec).lower()
    name = re.match(r"[a-z0-9_.-]+", spec)
    if name and name.group() in CONDA_NAMES:
        spec = CONDA_NAMES[name.group()] + spec[name.end() :]
    return spec


def test_environment_yml_lists_the_same_dependencies_as_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [
        dep for extra in project["optional-dependencies"].values() for dep in extra
    ]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [dep for dep in env["dependencies"] if isinstance(dep, str)]
    conda = [dep for dep in conda if not re.match(r"(python|pip)\b", dep)]
    assert sorted(set(map(_normalise, conda))) == sorted(set(map(_normalise, wanted)))
    python = next(dep for dep in env["dependencies"] if str(dep).startswith("python"))
    assert _normalise(python) == "python" + _normalise(project["requires-python"])


def _readme_block(heading: str) -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(rf"{re.escape(heading)}.*?```(?:sh|bash)\n(.*?)```", readme, re.S)
    assert match, f"README has no shell block after {heading!r}"
    return match.group(1).strip()


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    command = _readme_block("## Run the tests")
    ci = (ROOT / ".ci" / "run").read_text()
    assert command in ci.splitlines()


def tool(name: str) -> str:
    tool = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if tool is None:
        pytest.fail(f"{name} is not installed; install the test extra: pip install -e '.[test]'")
    return tool


@pytest.mark.parametrize(
    "args", [["ruff", "check", "."], ["ruff", "format", "--check", "."]], ids=["check", "format"]
)
def test_ruff_passes(args: list[str]) -> None:
    done = subprocess.run([tool(args[0]), *args[1:]], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_passes() -> None:
    tree = installed_layout()
    config = ROOT / "pyproject.toml"
    done = subprocess.run(
        [tool("mypy"), "--config-file", str(config)], cwd=tree, capture_output=True, text=True
    )
    # Paths are reported inside the copy: tourpanel/server/x.py is server/x.py here.
    assert done.returncode == 0, done.stdout + done.stderr
