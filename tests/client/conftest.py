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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from magickbox.config import load_settings
from magickbox.store import Session, SessionKey, Store
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


# The test bucket: copies INPUT to OUTPUT; a file `hold` in the input keeps it running until the test
# creates `release` in the session folder; a file `fail` makes it fail.
WORK_SH = """#!/bin/sh
echo "ProcX processing $MB_SCRATCHDIR for $MB_AETITLE_CALLER args=[$MB_ARGUMENTS]"
if [ -e "$1/hold" ]; then
  n=0
  while [ ! -e "$MB_SCRATCHDIR/release" ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done
fi
if [ -e "$1/fail" ]; then echo "failing as asked"; exit 3; fi
cp -R "$1"/. "$2"/
echo "ProcX done"
"""


@dataclass
class Box:
    """A served box (with the real scheduler) and its store, seen from the test process."""

    process: BoxProcess
    store: Store

    @property
    def port(self) -> str:
        return str(self.process.http_port)

    @property
    def label(self) -> str:
        return f"127.0.0.1:{self.port}"

    def machine(self) -> dict[str, Any]:
        return {"Machine": "127.0.0.1", "Port": self.port, "Sender": "", "Status": None}

    def make_session(self, caller: str, files: dict[str, bytes] | None = None) -> Session:
        """A DICOM-like session from `caller` for ProcX, sealed at once; the scheduler runs it."""
        sessions = self.store.sessions
        key = SessionKey(caller, AET, "127.0.0.1", "1.2.826.0.1." + str(secrets.randbelow(10**12)))
        session = sessions.join_or_create(key, BUCKET, f"scp_{key.study_uid}")
        folder = self.store.layout.session_dir(session.scratchdir)
        for name, data in (files or {"img0001.dcm": b"input of " + caller.encode()}).items():
            (folder / "INPUT" / name).write_bytes(data)
        sessions.release(session.id, 0)  # settle 0: sealed (queued) at once
        return sessions.get(session.id)

    def state(self, scratchdir: str) -> str:
        return self.store.sessions.by_scratchdir(scratchdir).state

    def wait_state(self, scratchdir: str, *states: str, timeout: float = 30) -> None:
        wait_for(lambda: self.state(scratchdir) in states, timeout)

    def release(self, scratchdir: str) -> None:
        """Let a held ProcX run go on."""
        (self.store.layout.session_dir(scratchdir) / "release").write_text("go")

    def scratchdirs(self) -> set[str]:
        return {s.scratchdir for s in self.store.sessions.all()}


def start_box(data: Path, buckets: tuple[str, ...] = (AET,), env: dict[str, str] | None = None) -> Box:
    process = BoxProcess(data=data, env=env or {})
    for aet in buckets:
        info = {
            "name": aet.lower(),
            "AETitle": aet,
            "enabled": 1,
            "version": "1.0",
            "description": f"{aet} test",
        }
        process.add_bucket(f"bucket{aet}", info, WORK_SH)
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


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Shared by all client tests: each test uses its own sender/caller, so they do not see each other."""
    root = tmp_path_factory.mktemp("fleet")
    with ThreadPoolExecutor(2) as pool:  # both boxes start at the same time
        boxes = list(
            pool.map(lambda args: start_box(*args), [(root / "a", (AET,)), (root / "b", (AET, "ProcY"))])
        )
    fleet = Fleet(boxes, make_home(root / "home"))
    fleet.write_machines()
    yield fleet
    for box in boxes:
        stop_box(box)


@pytest.fixture
def sender(fleet: Fleet) -> Iterator[str]:
    """A sender (AETitleCaller) of this test only, written to the fleet's `.mb`; both files restored after."""
    name = unique("s")
    fleet.write_machines()
    make_home(fleet.home, sender=name)
    yield name
    fleet.write_machines()
    make_home(fleet.home)


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
