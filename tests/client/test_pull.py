"""`mb pull` / `mb pull-input`: file names, contents, skipping, redoing a broken download, errors."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from tests.client.conftest import Fleet, run_mb, unique


def _entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}


def test_pull_writes_pid_scratchdir_zip_with_the_output(fleet: Fleet, sender: str, tmp_path: Path) -> None:
    box_a, box_b = fleet.boxes
    caller = unique("pull")
    sessions = [
        box_a.make_session(caller, {"img1.dcm": b"one", "img2.dcm": b"two"}),
        box_b.make_session(caller, {"scan.dcm": b"three" * 1000}),
    ]
    for box, session in zip(fleet.boxes, sessions, strict=True):
        box.wait_state(session.scratchdir, "finished")
    result = run_mb(fleet.home, "pull", caller, "--into", str(tmp_path))
    assert result.returncode == 0, result.stderr
    first = tmp_path / f"{sessions[0].pid}_{sessions[0].scratchdir}.zip"
    second = tmp_path / f"{sessions[1].pid}_{sessions[1].scratchdir}.zip"
    assert _entries(first) == {
        f"{sessions[0].scratchdir}/OUTPUT/img1.dcm": b"one",
        f"{sessions[0].scratchdir}/OUTPUT/img2.dcm": b"two",
    }
    assert _entries(second) == {f"{sessions[1].scratchdir}/OUTPUT/scan.dcm": b"three" * 1000}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, second.name])  # no .part left
    assert f"wrote {first}" in result.stdout

    again = run_mb(fleet.home, "g", caller, "--into", str(tmp_path))
    assert again.returncode == 0
    assert f"file {first.name} exists, skip download..." in again.stdout


def test_pull_input_writes_input_zip(fleet: Fleet, sender: str, tmp_path: Path) -> None:
    box = fleet.boxes[1]
    caller = unique("pin")
    session = box.make_session(caller, {"a.dcm": b"input-a"})
    result = run_mb(fleet.home, "pi", caller, "--into", str(tmp_path))
    assert result.returncode == 0, result.stderr
    target = tmp_path / f"{session.pid}_{session.scratchdir}_input.zip"
    assert _entries(target) == {f"{session.scratchdir}/INPUT/a.dcm": b"input-a"}


def test_pull_redoes_a_broken_download(fleet: Fleet, sender: str, tmp_path: Path) -> None:
    """A `.part` left by an interrupted run is resumed if the box allows, else done again; checked."""
    box = fleet.boxes[0]
    caller = unique("part")
    session = box.make_session(caller, {"big.dcm": bytes(range(256)) * 4000})
    box.wait_state(session.scratchdir, "finished")
    target = tmp_path / f"{session.pid}_{session.scratchdir}.zip"
    (tmp_path / (target.name + ".part")).write_bytes(b"PK\x03\x04 half of an old download")
    result = run_mb(fleet.home, "pull", caller, "--into", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert _entries(target) == {f"{session.scratchdir}/OUTPUT/big.dcm": bytes(range(256)) * 4000}
    assert not (tmp_path / (target.name + ".part")).exists()


def test_pull_of_several_sessions_runs_in_parallel_and_reports_each(
    fleet: Fleet, sender: str, tmp_path: Path
) -> None:
    box = fleet.boxes[1]
    caller = unique("par")
    sessions = [box.make_session(caller, {f"f{i}.dcm": bytes([i]) * 50_000}) for i in range(5)]
    for session in sessions:
        box.wait_state(session.scratchdir, "finished")
    result = run_mb(fleet.home, "pull", caller, "-j", "3", "--into", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert len(list(tmp_path.glob("*.zip"))) == 5
    assert result.stdout.count("wrote ") == 5
    assert "pull " in result.stderr  # progress lines (no terminal: plain lines)


def test_pull_needs_a_regex(fleet: Fleet, sender: str, tmp_path: Path) -> None:
    result = run_mb(fleet.home, "pull", cwd=tmp_path)
    assert result.returncode == 2
    assert "needs a regular expression" in result.stderr


def test_pull_of_a_session_without_output_writes_a_valid_empty_zip(
    fleet: Fleet, sender: str, tmp_path: Path
) -> None:
    """The original saved a 0-byte file; the zip here is always a checked, valid archive."""
    box = fleet.boxes[0]
    caller = unique("empty")
    session = box.make_session(caller, {"a.dcm": b"a"})
    box.wait_state(session.scratchdir, "finished")
    shutil.rmtree(box.store.layout.session_dir(session.scratchdir) / "OUTPUT")
    result = run_mb(fleet.home, "pull", caller, "--into", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert _entries(tmp_path / f"{session.pid}_{session.scratchdir}.zip") == {}
    assert "(0 files" in result.stdout
