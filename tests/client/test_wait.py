"""`mb wait <regex>`: blocks until every matching session ended; non-zero when one did not finish."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from tests.client.conftest import AET, MB, Fleet, mb_json, run_mb, unique


def _push(fleet: Fleet, folder: Path, files: dict[str, bytes]) -> dict[str, str]:
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    pushed: dict[str, str] = mb_json(fleet.home, "push", AET, str(folder))[0]
    return pushed


def _box(fleet: Fleet, port: str):  # type: ignore[no-untyped-def]
    return next(b for b in fleet.boxes if b.port == port)


def test_wait_blocks_until_every_matching_session_finished(fleet: Fleet, sender: str, tmp_path: Path) -> None:
    held = _push(fleet, tmp_path / "held", {"hold": b"", "a.dcm": b"a"})
    quick = _push(fleet, tmp_path / "quick", {"b.dcm": b"b"})
    box = _box(fleet, held["Port"])
    box.wait_state(held["scratchdir"], "running")
    env = {**os.environ, "MB_HOME": str(fleet.home)}
    waiter = subprocess.Popen(
        [str(MB), "wait", sender, "--interval", "0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)
        assert waiter.poll() is None  # still waiting: one session is running
        box.release(held["scratchdir"])
        out, err = waiter.communicate(timeout=60)
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert waiter.returncode == 0, err
    ended = json.loads(out)
    assert {e["scratchdir"] for e in ended} == {held["scratchdir"], quick["scratchdir"]}
    assert {e["status"] for e in ended} == {"finished"}
    assert "2 of 2 sessions ended" in err


def test_wait_exits_non_zero_when_a_session_failed(fleet: Fleet, sender: str, tmp_path: Path) -> None:
    failing = _push(fleet, tmp_path / "bad", {"fail": b"", "a.dcm": b"a"})
    _push(fleet, tmp_path / "good", {"b.dcm": b"b"})
    result = run_mb(fleet.home, "wait", sender, "--interval", "0.2")
    assert result.returncode == 1
    assert f"{failing['scratchdir']} on 127.0.0.1:{failing['Port']} is failed" in result.stderr
    states = {e["scratchdir"]: e["status"] for e in json.loads(result.stdout)}
    assert states[failing["scratchdir"]] == "failed"
    assert sorted(states.values()) == ["failed", "finished"]


def test_wait_with_nothing_matching_is_an_error(fleet: Fleet, sender: str) -> None:
    result = run_mb(fleet.home, "wait", "nothing-" + unique())
    assert result.returncode == 1
    assert "nothing to wait for" in result.stderr


def test_wait_gives_up_after_its_timeout(fleet: Fleet, sender: str, tmp_path: Path) -> None:
    held = _push(fleet, tmp_path / "held", {"hold": b"", "a.dcm": b"a"})
    box = _box(fleet, held["Port"])
    try:
        result = run_mb(fleet.home, "wait", sender, "--interval", "0.2", "--timeout", "1")
        assert result.returncode == 1
        assert "gave up after 1s" in result.stderr
    finally:
        box.release(held["scratchdir"])
    box.wait_state(held["scratchdir"], "finished")
