"""On a fresh machine `mb list` names the command that makes it work, and that command does."""

from __future__ import annotations

import re
from pathlib import Path

from tests.client.conftest import run_mb
from tests.support.box import BoxProcess


def test_the_hint_without_machines_is_a_command_that_works(
    tmp_path: Path, box_factory: type[BoxProcess]
) -> None:
    box = box_factory(data=tmp_path / "data", stages="http").start(wait_dicom=False)
    home = tmp_path / "home"
    home.mkdir()
    first = run_mb(home, "list")
    assert first.returncode != 0
    hint = re.search(r"'(mb activeMachines add HOST PORT)'", first.stderr)
    assert hint is not None, first.stderr
    command = hint.group(1).replace("HOST", "127.0.0.1").replace("PORT", str(box.http_port)).split()
    assert run_mb(home, *command[1:]).returncode == 0
    listed = run_mb(home, "list")
    assert listed.returncode == 0, listed.stderr
