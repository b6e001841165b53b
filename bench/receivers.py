"""Receivers under test, each started on a free loopback port with an empty output folder."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import orthanc as orthanc_support
from tests.support.box import receive_worker_pids

CALLED_AET = "PROC"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


def vm_hwm_mb(pid: int) -> float | None:
    """Peak resident memory of a process (VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class Receiver:
    name: str
    work: Path
    dcmtk_env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        raise NotImplementedError

    def received(self) -> int:
        raise NotImplementedError

    def peak_mb(self) -> float | None:
        return vm_hwm_mb(self.proc.pid) if self.proc else None

    def stop(self, remove: bool = True) -> None:
        """Stop the receiver; `remove` its work folder (what it received) too."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if remove:
            shutil.rmtree(self.work, ignore_errors=True)

    def _log(self) -> int:
        self.work.mkdir(parents=True, exist_ok=True)
        return os.open(self.work / "receiver.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


class Box(Receiver):
    pythonpath: str | None = None  # another checkout's src/: that version of the box (box_at)

    def start(self) -> None:
        data = self.work / "data"
        bucket = data / "streams" / "bench"
        bucket.mkdir(parents=True)
        (bucket / "info.json").write_text(json.dumps({"name": "bench", "AETitle": CALLED_AET, "enabled": 1}))
        env = {**os.environ, "MAGICKBOX_MIN_FREE_BYTES": "0", "MAGICKBOX_SESSION_SETTLE_S": "0.5"}
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        argv = [sys.executable, "-m", "magickbox.cli.magickbox", "serve", "--data", str(data)]
        argv += ["--host", "127.0.0.1", "--dicom-port", str(self.port), "--http-port", str(free_port())]
        log = self._log()
        self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
        os.close(log)
        wait_for_port(self.port)

    def received(self) -> int:
        return sum(1 for _ in (self.work / "data" / "scratch").glob("tmp.*/INPUT/*.dcm"))

    def worker_pids(self) -> list[int]:
        """The receive worker processes of this box."""
        assert self.proc is not None
        return list(receive_worker_pids(self.proc.pid).values())

    def peak_mb(self) -> float | None:
        """The whole box: serve process plus workers (sum of each one's peak: an upper bound)."""
        peaks = [vm_hwm_mb(pid) for pid in [self.proc.pid, *self.worker_pids()]] if self.proc else []
        return sum(p for p in peaks if p is not None) or None

    def worker_peak_mb(self) -> float | None:
        peaks = [p for p in map(vm_hwm_mb, self.worker_pids()) if p is not None]
        return max(peaks) if peaks else None


class Storescp(Receiver):
    fork: bool = False

    def start(self) -> None:
        out = self.work / "out"
        out.mkdir(parents=True)
        argv = ["storescp", *(["--fork"] if self.fork else []), "-aet", CALLED_AET, "-od", str(out)]
        log = self._log()
        self.proc = subprocess.Popen([*argv, str(self.port)], env=self.dcmtk_env, stdout=log, stderr=log)
        os.close(log)
        wait_for_port(self.port)

    def received(self) -> int:
        return sum(1 for _ in (self.work / "out").iterdir())


class StorescpFork(Storescp):
    fork = True

    def peak_mb(self) -> float | None:
        return None  # one process per association: the parent's peak says nothing


class Orthanc(Receiver):
    """Orthanc with storage in the work folder (no fsync, as the others), when installed."""

    BINARY = str(orthanc_support.BINARY)
    pacs: orthanc_support.Orthanc | None = None

    def start(self) -> None:
        settings = {
            "DicomCheckCalledAet": False, "SyncStorageArea": False, "StorageCompression": False,
            "DicomAlwaysAllowStore": True,
        }  # fmt: skip
        self.pacs = orthanc_support.Orthanc(
            self.work, ae_title=CALLED_AET, name="bench", settings=settings, env=self.dcmtk_env,
            dicom_port=self.port,
        ).start()  # fmt: skip
        self.proc = self.pacs.proc
        wait_for_port(self.port)

    def received(self) -> int:
        assert self.pacs is not None
        return int(self.pacs.get_json("/statistics", timeout=10)["CountInstances"])


def box_at(revision: str, work: Path) -> type[Box]:
    """The box as of a git revision (a worktree of this repository under `work`, run with the
    installed dependencies): one run then measures a change against the version before it and
    against the same reference, which moves between runs more than most changes do."""
    root = Path(__file__).resolve().parent.parent
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"],
        cwd=root, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    tree = work / f"box-at-{commit[:12]}"
    if not (tree / "src").is_dir():
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--force", str(tree), commit],
            cwd=root, check=True, capture_output=True,
        )  # fmt: skip
    return type(f"BoxAt{commit[:7]}", (Box,), {"pythonpath": str(tree / "src")})


def available() -> dict[str, type[Receiver]]:
    kinds: dict[str, type[Receiver]] = {"box": Box, "storescp": Storescp, "storescp-fork": StorescpFork}
    if Path(Orthanc.BINARY).exists():
        kinds["orthanc"] = Orthanc
    return kinds
