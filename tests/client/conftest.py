"""Real `mb` processes against real boxes on loopback.

`mb` runs as the console script of the venv, with `MB_HOME` pointing at a test folder that holds
`.mb` and `.magickbox`. Session states are driven through the box's store from the test process
(the SQLite file is shared across processes), which is the stage contract the scheduler uses.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from magickbox.config import load_settings
from magickbox.store import Store
from magickbox.store.sessions import Session, SessionKey
from tests.support.box import BoxProcess
from tests.support.net import free_port

MB = Path(sys.executable).parent / "mb"
AET = "ProcX"
BUCKET = "bucketProcX"


def run_mb(
    home: Path, *args: str, cwd: Path | None = None, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MB_HOME": str(home)}
    return subprocess.run(
        [str(MB), *args],
        cwd=cwd or home,
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def mb_json(home: Path, *args: str, expect: int = 0) -> Any:
    result = run_mb(home, *args)
    assert result.returncode == expect, f"mb {' '.join(args)}: {result.returncode}\n{result.stderr}"
    return json.loads(result.stdout)


@dataclass
class Box:
    """A served box and its store, seen from the test process."""

    process: BoxProcess
    store: Store
    label: str = ""

    @property
    def port(self) -> str:
        return str(self.process.http_port)

    def machine(self) -> dict[str, Any]:
        return {"Machine": "127.0.0.1", "Port": self.port, "Sender": "", "Status": None}

    def make_session(
        self, caller: str, end: str | None = None, output: dict[str, bytes] | None = None, log: str = ""
    ) -> Session:
        """A DICOM-like session from `caller` for ProcX, left queued (end=None), running or ended."""
        sessions = self.store.sessions
        key = SessionKey(caller, AET, "127.0.0.1", "1.2.826.0.1." + str(secrets.randbelow(10**12)))
        session = sessions.join_or_create(key, BUCKET, f"scp_{key.study_uid}")
        folder = self.store.layout.session_dir(session.scratchdir)
        (folder / "INPUT" / "img0001.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"input of " + caller.encode())
        sessions.release(session.id, 0)  # settle 0: sealed (queued) at once
        for name, data in (output or {}).items():
            path = folder / "OUTPUT" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if log:
            (folder / "processing.log").write_text(log)
        if end is not None:
            self.drive(session.scratchdir, end)
        return sessions.get(session.id)

    def drive(self, scratchdir: str, end: str) -> None:
        """Play the scheduler: queued -> running (-> end)."""
        sessions = self.store.sessions
        session = sessions.by_scratchdir(scratchdir)
        if session.state in ("queued", "receiving"):
            sessions.mark_running(session.id)
        if end != "running":
            sessions.mark_ended(session.id, end)

    def scratchdirs(self) -> set[str]:
        return {s.scratchdir for s in self.store.sessions.all()}


def start_box(data: Path, buckets: tuple[str, ...] = (AET,), env: dict[str, str] | None = None) -> Box:
    process = BoxProcess(data=data, env=env or {})
    for aet in buckets:
        process.add_bucket(f"bucket{aet}", {"name": aet.lower(), "AETitle": aet, "enabled": 1, "version": "1.0"})
    process.start(wait_dicom=False)
    return Box(process, Store(load_settings(data=str(data))))


def stop_box(box: Box) -> None:
    box.process.stop()
    box.store.db.close()


@dataclass
class Fleet:
    """Two boxes offering ProcX (the second also ProcY), and an MB_HOME listing both."""

    boxes: list[Box]
    home: Path
    extra: list[dict[str, Any]] = field(default_factory=list)

    def write_machines(self, machines: list[dict[str, Any]] | None = None) -> None:
        entries = machines if machines is not None else [b.machine() for b in self.boxes] + self.extra
        (self.home / ".magickbox").write_text(json.dumps(entries, indent=2))


def make_home(folder: Path, sender: str = "tester", timeout_ns: int = 5_000_000_000) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".mb").write_text(json.dumps({"Sender": sender, "Timeout": timeout_ns}))
    return folder


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("fleet")
    boxes = [start_box(root / "a"), start_box(root / "b", buckets=(AET, "ProcY"))]
    fleet = Fleet(boxes, make_home(root / "home"))
    fleet.write_machines()
    yield fleet
    for box in boxes:
        stop_box(box)


@pytest.fixture
def home(fleet: Fleet) -> Iterator[Path]:
    """The fleet's MB_HOME, restored after a test that rewrites it."""
    fleet.write_machines()
    yield fleet.home
    fleet.write_machines()
    (fleet.home / ".mb").write_text(json.dumps({"Sender": "tester", "Timeout": 5_000_000_000}))


def unique(prefix: str = "c") -> str:
    return prefix + secrets.token_hex(4)


def dead_port() -> int:
    """A loopback port where nothing listens (connection refused at once)."""
    return free_port()


def wait_for(predicate: Any, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError("condition not met")
