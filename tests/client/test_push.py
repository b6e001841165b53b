"""`mb push`: least loaded box, several folders, folder structure, arguments, errors, flat memory."""

from __future__ import annotations

import json
import os
import select
import subprocess
from pathlib import Path

from tests.client.conftest import AET, MB, Fleet, dead_port, mb_json, run_mb
from tests.support.peak_rss import run_measured


def _folder(root: Path, name: str, files: dict[str, bytes]) -> Path:
    folder = root / name
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def test_push_goes_to_the_less_loaded_box(fleet: Fleet, sender: str, tmp_path: Path) -> None:
    box_a, box_b = fleet.boxes
    held = _folder(tmp_path, "subject-held", {"hold": b"", "img.dcm": b"held"})
    first = mb_json(fleet.home, "push", AET, str(held))
    assert [r["Port"] for r in first] == [box_a.port]  # a tie goes to the first box of ~/.magickbox
    scratchdir = first[0]["scratchdir"]
    try:
        box_a.wait_state(scratchdir, "running")
        second = mb_json(fleet.home, "push", AET, str(_folder(tmp_path, "subject-2", {"a.dcm": b"x"})))
        assert second[0]["Port"] == box_b.port  # box A has a running job, box B none
        assert second[0]["scratchdir"] in box_b.scratchdirs()
        assert second[0]["AETitleCaller"] == sender
    finally:
        box_a.release(scratchdir)
    box_a.wait_state(scratchdir, "finished")


def test_push_several_folders_one_session_each_with_structure_and_arguments(
    fleet: Fleet, sender: str, tmp_path: Path
) -> None:
    one = _folder(
        tmp_path, "sub-01", {"anat/T1/img1.dcm": b"1" * 1000, "anat/T1/img2.dcm": b"2", "notes.txt": b"n"}
    )
    two = _folder(tmp_path, "sub-02", {"func/run-1/img.dcm": b"3" * 5000})
    result = run_mb(fleet.home, "push", AET, str(one), str(two), "--fast --level=2")
    assert result.returncode == 0, result.stderr
    pushed = json.loads(result.stdout)
    assert [Path(p["folder"]).name for p in pushed] == ["sub-01", "sub-02"]
    assert len({p["scratchdir"] for p in pushed}) == 2
    assert "send directory" in result.stderr  # the original's announcement, now on stderr
    assert "folder 1 of 2:" in result.stderr and "folder 2 of 2:" in result.stderr
    by_name = {Path(p["folder"]).name: p for p in pushed}
    box = next(b for b in fleet.boxes if b.port == by_name["sub-01"]["Port"])
    session = box.store.sessions.by_scratchdir(by_name["sub-01"]["scratchdir"])
    assert session.arguments == "--fast --level=2"
    assert session.calling_aet == sender
    inputs = box.store.layout.input_dir(session.scratchdir)
    stored = sorted(p.relative_to(inputs).as_posix() for p in inputs.rglob("*") if p.is_file())
    assert stored == ["anat/T1/img1.dcm", "anat/T1/img2.dcm", "notes.txt"]
    assert (inputs / "anat/T1/img1.dcm").read_bytes() == b"1" * 1000


def test_push_to_a_bucket_nobody_offers_fails_clearly(fleet: Fleet, sender: str, tmp_path: Path) -> None:
    result = run_mb(fleet.home, "push", "ProcNobody", str(_folder(tmp_path, "d", {"a": b"a"})))
    assert result.returncode != 0
    assert "ProcNobody" in result.stderr and "computeModules" in result.stderr


def test_push_of_a_missing_folder_is_a_usage_error(fleet: Fleet, sender: str, tmp_path: Path) -> None:
    one = _folder(tmp_path, "d", {"a": b"a"})
    result = run_mb(fleet.home, "push", AET, str(one), str(tmp_path / "nope"), "args")
    assert result.returncode == 2
    assert "nope is not a folder" in result.stderr


def test_push_prefers_a_box_that_answers(fleet: Fleet, sender: str, tmp_path: Path) -> None:
    """A dead box first in the list is named; the push still lands on a live box."""
    dead = {"Machine": "127.0.0.1", "Port": str(dead_port()), "Sender": "", "Status": None}
    fleet.write_machines([dead, *[b.machine() for b in fleet.boxes]])
    result = run_mb(fleet.home, "push", AET, str(_folder(tmp_path, "d", {"a": b"a"})))
    assert result.returncode == 0, result.stderr
    assert f"127.0.0.1:{dead['Port']}" in result.stderr
    assert json.loads(result.stdout)[0]["Port"] in {b.port for b in fleet.boxes}


def _peak_rss_kb(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, int, str]:
    """Run `argv` to its end: (its peak resident memory in kB, exit code, stdout)."""
    run = run_measured(argv, env, cwd, timeout=300)
    return run.peak_kb, run.returncode, run.stdout


def test_large_push_keeps_memory_flat(fleet: Fleet, sender: str, tmp_path: Path) -> None:
    """240 MB pushed: the client's peak memory stays near that of a bare `mb list`."""
    folder = tmp_path / "big"
    folder.mkdir()
    block = os.urandom(1 << 20)
    for index in range(24):
        (folder / f"part{index:02d}.bin").write_bytes(block * 10)
    env = {**os.environ, "MB_HOME": str(fleet.home)}
    mb = str(MB)
    baseline, code, _ = _peak_rss_kb([mb, "list", "nothing-matches-this"], env, tmp_path)
    assert code == 0
    peak, code, output = _peak_rss_kb([mb, "push", AET, str(folder)], env, tmp_path)
    assert code == 0, output
    pushed = json.loads(output)
    assert pushed[0]["bytes"] > 240 << 20
    # In-memory zips (the original) would need 240 MB or more; streaming needs one buffer.
    print(f"mb push peak RSS {peak} kB, mb list {baseline} kB")
    assert peak - baseline < 64 * 1024, f"peak {peak} kB vs baseline {baseline} kB"
    box = next(b for b in fleet.boxes if b.port == pushed[0]["Port"])
    stored = box.store.layout.input_dir(pushed[0]["scratchdir"]) / "part07.bin"
    assert stored.stat().st_size == 10 << 20
    assert stored.read_bytes()[: 1 << 20] == block
    box.wait_state(pushed[0]["scratchdir"], "finished", timeout=60)


def test_push_on_a_terminal_shows_a_progress_bar(fleet: Fleet, sender: str, tmp_path: Path) -> None:
    folder = _folder(tmp_path, "tty", {f"f{i}.bin": os.urandom(1 << 20) for i in range(8)})
    master, slave = os.openpty()
    env = {**os.environ, "MB_HOME": str(fleet.home), "TERM": "xterm", "COLUMNS": "120"}
    proc = subprocess.Popen(
        [str(MB), "push", AET, str(folder)], env=env, stdout=subprocess.PIPE, stderr=slave
    )
    os.close(slave)
    seen = b""
    try:
        while proc.poll() is None or select.select([master], [], [], 0.2)[0]:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
        out = proc.communicate(timeout=60)[0]
    finally:
        os.close(master)
    assert proc.returncode == 0, seen.decode(errors="replace")
    assert json.loads(out)[0]["files"] == 8
    terminal = seen.decode(errors="replace")
    assert "\x1b[" in terminal  # drawn with control codes, not plain lines
    assert "MB/s" in terminal and "sent" in terminal


def test_push_through_the_original_upload_endpoint(fleet: Fleet, sender: str, tmp_path: Path) -> None:
    """What an original box offers: processZip.php, whose answer names no session."""
    folder = _folder(tmp_path, "legacy-subject", {"a/b.dcm": b"b"})
    env_result = subprocess.run(
        [str(MB), "push", AET, str(folder)],
        env={**os.environ, "MB_HOME": str(fleet.home), "MB_ORIGINAL_ENDPOINTS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert env_result.returncode == 0, env_result.stderr
    pushed = json.loads(env_result.stdout)[0]
    assert "scratchdir" not in pushed
    box = next(b for b in fleet.boxes if b.port == pushed["Port"])
    mine = [s for s in box.store.sessions.all() if s.calling_aet == sender]
    assert len(mine) == 1
    assert (box.store.layout.input_dir(mine[0].scratchdir) / "a" / "b.dcm").read_bytes() == b"b"
