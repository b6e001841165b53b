"""Debian's Orthanc as a real PACS for tests and benches: free loopback ports, all its state in one
folder, ready when its REST API answers.

Tests take the session-wide `orthanc` fixture (tests/conftest.py: one Orthanc per run, its tests in
one xdist group) and add the studies and modalities they need; benches (bench/retrieve.py,
bench/receivers.py) start their own with `Orthanc(folder, ...).start()` and extra `settings`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.net import free_port, wait_until

BINARY = Path("/usr/sbin/Orthanc")


def missing() -> str | None:
    """Why Orthanc cannot run here (a skip reason), or None."""
    return None if BINARY.exists() else f"Orthanc is not installed ({BINARY}; scripts/install-test-deps)"


@dataclass
class Orthanc:
    """One Orthanc process; `settings` are merged over the defaults (its configuration keys)."""

    root: Path
    ae_title: str = "ORTHANC"
    name: str = "test-pacs"
    settings: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] | None = None
    dicom_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def storage(self) -> Path:
        return self.root / "db"

    def config(self) -> dict[str, Any]:
        """The configuration file's content: storage in `root`, no remote access, no plugins."""
        return {
            "Name": self.name, "StorageDirectory": str(self.storage), "IndexDirectory": str(self.storage),
            "DicomAet": self.ae_title, "DicomPort": self.dicom_port, "HttpPort": self.http_port,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "Plugins": [],
            **self.settings,
        }  # fmt: skip

    def start(self, *, timeout: float = 30) -> Orthanc:
        """Start Orthanc and return when its REST API answers (its log: `root/orthanc.log`)."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "orthanc.json"
        path.write_text(json.dumps(self.config()))
        with (self.root / "orthanc.log").open("ab") as log:
            env = {**os.environ, **self.env} if self.env is not None else None
            self.proc = subprocess.Popen(
                [str(BINARY), str(path)], stdout=log, stderr=subprocess.STDOUT, env=env
            )
        wait_until(self._up, timeout=timeout, what=f"Orthanc on {self.url}")
        return self

    def _up(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            tail = (self.root / "orthanc.log").read_text(errors="replace")[-1500:]
            raise RuntimeError(f"Orthanc exited with {self.proc.returncode}: {tail}")
        try:
            return httpx.get(self.url + "/system", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, *, remove_storage: bool = True) -> None:
        """Stop Orthanc; `remove_storage` deletes what it stored (the log stays)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if remove_storage:
            shutil.rmtree(self.storage, ignore_errors=True)

    def upload(self, paths: Iterable[Path]) -> set[str]:
        """Store DICOM files through the REST API; the Orthanc ids of the studies they belong to."""
        studies = set()
        for path in paths:
            answer = httpx.post(self.url + "/instances", content=path.read_bytes(), timeout=30)
            answer.raise_for_status()
            studies.add(str(answer.json()["ParentStudy"]))
        return studies

    def register(self, name: str, ae_title: str, port: int, *, host: str = "127.0.0.1") -> None:
        """Add (or replace) a modality `name`: a C-STORE / C-MOVE / C-GET peer at host:port."""
        body = {"AET": ae_title, "Host": host, "Port": port, "AllowGet": True, "AllowMove": True}
        httpx.put(f"{self.url}/modalities/{name}", json=body, timeout=10).raise_for_status()

    def send(self, modality: str, resources: Iterable[str], *, timeout: float = 120) -> httpx.Response:
        """Have Orthanc C-STORE `resources` (Orthanc ids) to a registered modality, synchronously."""
        body = {"Resources": sorted(resources), "Synchronous": True}
        return httpx.post(f"{self.url}/modalities/{modality}/store", json=body, timeout=timeout)

    def delete_studies(self, studies: Iterable[str]) -> None:
        """Remove studies (Orthanc ids), so a shared Orthanc holds only what its next test adds."""
        for study in studies:
            httpx.delete(f"{self.url}/studies/{study}", timeout=30).raise_for_status()

    def get_json(self, path: str, *, timeout: float = 30) -> Any:
        answer = httpx.get(self.url + path, timeout=timeout)
        answer.raise_for_status()
        return answer.json()
