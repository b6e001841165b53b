"""A real box: `magickbox serve` as a subprocess on free loopback ports with its own data folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.dcmtk import storescu
from tests.support.net import free_port, wait_for_port, wait_until


def receive_worker_pids(serve_pid: int) -> dict[int, int]:
    """The receive workers of the `magickbox serve` process `serve_pid`: slot -> pid (/proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            b"magickbox.receive.worker_process" in argv
            and argv[argv.index(b"--parent") + 1] == str(serve_pid).encode()
        ):
            found[int(argv[argv.index(b"--slot") + 1])] = int(entry.name)
    return found


@dataclass
class BoxProcess:
    data: Path
    ae_title: str = "MAGICKBOX"
    settle_s: float = 0.3
    env: dict[str, str] = field(default_factory=dict)
    stages: str = ""  # `--stages` (empty: all)
    dicom_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, wait_dicom: bool = True) -> BoxProcess:
        env = {
            **os.environ,
            "MAGICKBOX_SESSION_SETTLE_S": str(self.settle_s),
            "MAGICKBOX_MIN_FREE_BYTES": "0",
            # Housekeeping off unless a test sets it: full-disk tests fill their disk on purpose.
            "MAGICKBOX_DISK_HIGH_PERCENT": "100",
            "MAGICKBOX_DISK_LOW_PERCENT": "99",
            # One receive worker (a Python process less per box): tests of several ask for them.
            "MAGICKBOX_RECEIVE_WORKERS": "1",
            **self.env,
        }
        log = (self.data.parent / f"{self.data.name}-serve.log").open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "magickbox.cli.magickbox", "serve",
                "--data", str(self.data), "--host", "127.0.0.1",
                "--dicom-port", str(self.dicom_port), "--http-port", str(self.http_port),
                "--ae-title", self.ae_title, *(["--stages", self.stages] if self.stages else []),
            ],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        stages = self.stages.split(",") if self.stages else ["receive", "http"]
        if "http" in stages:
            wait_until(self._healthy, timeout=30, what=f"box on {self.url}")
        if wait_dicom and "receive" in stages:
            wait_for_port(self.dicom_port)
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"box exited with {self.proc.returncode}; see {self.server_log()}")
        try:
            return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def storescu(self, folder: Path, calling: str = "MySelf", called: str = "ProcCopy") -> None:
        """Send `folder` to this box with dcmtk's storescu as the seed page types it; fail if it fails."""
        storescu(self.dicom_port, folder, calling=calling, called=called, check=True, timeout=60)

    def receive_workers(self) -> dict[int, int]:
        """The box's receive worker processes now: slot -> pid (read from /proc)."""
        assert self.proc is not None
        return receive_worker_pids(self.proc.pid)

    def server_log(self, limit: int = 4000) -> str:
        """The end (last `limit` characters) of the box's output."""
        path = self.data.parent / f"{self.data.name}-serve.log"
        return path.read_text(errors="replace")[-limit:] if path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def get_json(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.url + path, params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def add_bucket(self, folder: str, info: dict[str, Any], script: str | None = None) -> Path:
        """Write `streams/<folder>/` with info.json and an executable work.sh."""
        bucket = self.data / "streams" / folder
        bucket.mkdir(parents=True, exist_ok=True)
        (bucket / "info.json").write_text(json.dumps(info))
        if script is not None:
            work = bucket / "work.sh"
            work.write_text(script)
            work.chmod(0o755)
        return bucket
