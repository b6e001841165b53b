"""`mb remove`: one match goes at once; several need a confirmation on a terminal or --yes."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from pathlib import Path

from tests.client.conftest import MB, Fleet, run_mb, unique


def test_remove_one_session(fleet: Fleet, sender: str) -> None:
    box = fleet.boxes[0]
    caller = unique("rm1")
    session = box.make_session(caller)
    box.wait_state(session.scratchdir, "finished")
    result = run_mb(fleet.home, "remove", caller)
    assert result.returncode == 0, result.stderr
    removed = json.loads(result.stdout)
    assert [(e["scratchdir"], e["Port"]) for e in removed] == [(session.scratchdir, box.port)]
    assert session.scratchdir not in box.scratchdirs()
    assert not box.store.layout.session_dir(session.scratchdir).exists()


def test_several_matches_without_a_terminal_need_yes(fleet: Fleet, sender: str) -> None:
    caller = unique("rm2")
    sessions = [(box, box.make_session(caller)) for box in fleet.boxes]
    refused = run_mb(fleet.home, "r", caller)
    assert refused.returncode == 2
    assert "2 sessions match" in refused.stderr and "--yes" in refused.stderr
    assert all(s.scratchdir in box.scratchdirs() for box, s in sessions)  # nothing deleted

    for box, session in sessions:
        box.wait_state(session.scratchdir, "finished")
    done = run_mb(fleet.home, "remove", caller, "--yes")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 2
    assert "remove: 2 of 2" in done.stderr  # progress, as plain lines when stderr is not a terminal
    assert not any(s.scratchdir in box.scratchdirs() for box, s in sessions)


def test_remove_dot_never_silently_wipes_every_box(fleet: Fleet, sender: str) -> None:
    for box in fleet.boxes:
        box.make_session(unique("keep"))
    before = [box.scratchdirs() for box in fleet.boxes]
    result = run_mb(fleet.home, "remove", ".")
    assert result.returncode == 2
    assert [box.scratchdirs() >= kept for box, kept in zip(fleet.boxes, before, strict=True)] == [True, True]


def _run_on_terminal(home: Path, args: list[str], answer: bytes) -> tuple[int, str, str]:
    """Run mb with stdin and stderr on a pseudo-terminal; type `answer` when it asks."""
    master, slave = os.openpty()
    env = {**os.environ, "MB_HOME": str(home), "TERM": "dumb"}
    proc = subprocess.Popen([str(MB), *args], env=env, stdin=slave, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while b"Type yes" not in seen and time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                seen += os.read(master, 4096)
        os.write(master, answer)
        out = proc.communicate(timeout=60)[0]
        while select.select([master], [], [], 0.1)[0]:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out.decode(), seen.decode(errors="replace")


def test_remove_asks_on_a_terminal(fleet: Fleet, sender: str) -> None:
    caller = unique("rm3")
    sessions = [(box, box.make_session(caller)) for box in fleet.boxes]
    for box, session in sessions:
        box.wait_state(session.scratchdir, "finished")

    code, out, terminal = _run_on_terminal(fleet.home, ["remove", caller], b"no\n")
    assert "2 sessions match" in terminal and "1 on 127.0.0.1:" in terminal
    assert code == 1
    assert all(s.scratchdir in box.scratchdirs() for box, s in sessions)

    code, out, terminal = _run_on_terminal(fleet.home, ["remove", caller], b"yes\n")
    assert code == 0, terminal
    assert len(json.loads(out)) == 2
    assert not any(s.scratchdir in box.scratchdirs() for box, s in sessions)
