from __future__ import annotations

import sys
from pathlib import Path

from magickbox.run.process import RunSpec, run_process
from tests.run.conftest import pid_alive
from tests.support.net import wait_until


def _spec(tmp_path: Path, code: str, timeout: float | None = None) -> RunSpec:
    return RunSpec([sys.executable, "-c", code], tmp_path, {"PATH": "/usr/bin:/bin"}, timeout)


def test_success_and_failure_codes(tmp_path: Path) -> None:
    with (tmp_path / "log").open("ab") as log:
        ok = run_process(_spec(tmp_path, "print('hi')"), log)
        bad = run_process(_spec(tmp_path, "import sys; sys.exit(4)"), log)
    assert (ok.outcome, ok.exit_code) == ("success", 0)
    assert (bad.outcome, bad.exit_code, bad.message) == ("failed", 4, "exit code 4")
    assert "hi" in (tmp_path / "log").read_text()


def test_timeout_kills_children_too(tmp_path: Path) -> None:
    code = (
        "import subprocess, pathlib, time\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "pathlib.Path('child').write_text(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    with (tmp_path / "log").open("ab") as log:
        result = run_process(_spec(tmp_path, code, timeout=1.0), log)
    assert result.outcome == "timeout"
    child = int((tmp_path / "child").read_text())
    wait_until(lambda: not pid_alive(child), timeout=5, what="the child is killed")


def test_leftover_background_children_are_stopped(tmp_path: Path) -> None:
    code = (
        "import subprocess, pathlib\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        "pathlib.Path('child').write_text(str(child.pid))\n"
    )
    with (tmp_path / "log").open("ab") as log:
        result = run_process(_spec(tmp_path, code), log)
    assert result.outcome == "success"
    child = int((tmp_path / "child").read_text())
    wait_until(lambda: not pid_alive(child), timeout=5, what="the left-behind child is killed")


def test_missing_program_is_a_failure_not_an_exception(tmp_path: Path) -> None:
    spec = RunSpec([str(tmp_path / "nope.sh")], tmp_path, {}, None)
    result = run_process(spec, 1)
    assert result.outcome == "failed" and "could not start" in result.message
