"""A served box shared by the API tests of one module, and helpers that make sessions in its store.

Sessions are created through the store from the test process (the box's SQLite is shared), so no
receiver or scheduler is needed.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from magickbox.config import load_settings
from magickbox.store import Session, SessionKey, SessionState, Store
from tests.support import sessions as factory
from tests.support.box import BoxProcess

BUCKET_AET = "ProcTest"
BUCKET = "bucketProcTest"


@dataclass
class Served:
    box: BoxProcess
    store: Store

    @property
    def url(self) -> str:
        return self.box.url

    def make_session(
        self,
        caller: str = "",
        end: str | None = "finished",
        output: dict[str, bytes] | None = None,
        log: str | None = "processing...\n",
        pid: str | None = None,
    ) -> Session:
        """A session from `caller` for the test bucket, taken to `end` (None: left queued)."""
        caller = caller or "t" + secrets.token_hex(4)
        sessions = self.store.sessions
        key = SessionKey(caller, BUCKET_AET, "127.0.0.1", "1.2.3." + str(secrets.randbelow(10**9)))
        session = sessions.join_or_create(key, BUCKET, pid or f"scp_{key.study_uid}")
        folder = self.store.layout.session_dir(session.scratchdir)
        (folder / "INPUT" / "img0001.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"input")
        sessions.release(session.id, 0)
        if end is not None:
            factory.start(self.store, session.id)
            if log is not None:
                (folder / "processing.log").write_text(log)
            for name, data in (output or {"result.txt": b"result\n"}).items():
                path = folder / "OUTPUT" / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            if end != SessionState.RUNNING:
                factory.end(self.store, session.id, SessionState(end))
        return sessions.get(session.id)


def start_served(data: Path, env: dict[str, str] | None = None) -> Served:
    # Only the HTTP API: the tests' sessions must stay where they put them (no scheduler).
    box = BoxProcess(data=data, env=env or {}, stages="http")
    box.add_bucket(
        BUCKET, {"name": "test", "AETitle": BUCKET_AET, "enabled": 1, "version": "1.0"}, "#!/bin/sh\n"
    )
    box.add_bucket("bucketOff", {"name": "off", "AETitle": "ProcOff", "enabled": 0})
    box.add_bucket("bucketBroken", {"name": "broken"})
    box.start(wait_dicom=False)
    return Served(box, Store(load_settings(data=str(data))))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_served(tmp_path_factory.mktemp("box") / "data")
    yield served
    served.box.stop()
    served.store.db.close()
