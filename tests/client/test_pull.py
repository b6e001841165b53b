"""`mb pull` / `mb pull-input`: file names, contents, skipping, redoing a broken download, errors."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
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


class CuttingProxy:
    """A TCP relay in front of a real box that cuts the first zip download after `cut` bytes."""

    def __init__(self, target_port: int, cut: int) -> None:
        self.target_port, self.cut, self.cuts = target_port, cut, 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        request = client.recv(65536)
        cutting = b"getOutputZip" in request and self.cuts == 0
        self.cuts += int(cutting)
        upstream.sendall(request)
        threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
        self._pipe(upstream, client, self.cut if cutting else None)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while data := source.recv(65536):
                if limit is not None and sent + len(data) > limit:
                    sink.sendall(data[: limit - sent])
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.server.close()


def test_a_download_broken_midway_is_done_again_and_checked(
    fleet: Fleet, sender: str, tmp_path: Path
) -> None:
    box = fleet.boxes[0]
    caller = unique("cut")
    payload = os.urandom(3 << 20)
    session = box.make_session(caller, {"scan.dcm": payload})
    box.wait_state(session.scratchdir, "finished")
    proxy = CuttingProxy(box.process.http_port, cut=1 << 20)
    try:
        fleet.write_machines([{"Machine": "127.0.0.1", "Port": str(proxy.port)}])
        result = run_mb(fleet.home, "pull", caller, "--into", str(tmp_path))
    finally:
        proxy.close()
    assert result.returncode == 0, result.stderr
    assert proxy.cuts == 1
    assert "trying again" in result.stderr, result.stderr
    assert _entries(tmp_path / f"{session.pid}_{session.scratchdir}.zip") == {
        f"{session.scratchdir}/OUTPUT/scan.dcm": payload
    }
