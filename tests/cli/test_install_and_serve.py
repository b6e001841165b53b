"""scripts/install-and-serve on a copy of the project: the first start installs, the second skips
pip, and a changed source file installs again (a stale install would run old code)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start(project: Path) -> str:
    """Run the script with `serve --help` (so it returns at once); its stderr and stdout."""
    done = subprocess.run(
        ["bash", str(project / "scripts" / "install-and-serve"), "--help"],
        cwd=project, capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    assert "usage: magickbox serve" in done.stdout
    return done.stderr


@pytest.mark.slow
def test_second_start_skips_pip_and_a_change_installs_again(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    for folder in ("scripts", "src"):
        shutil.copytree(
            ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    assert "installing MagickBox" in start(project)
    assert "pip skipped" in start(project)
    (project / "src" / "magickbox" / "errors.py").open("a").write("# changed\n")
    assert "installing MagickBox" in start(project)
    assert "pip skipped" in start(project)
