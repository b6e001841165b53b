"""Sessions of a given size and state, made through the store (as the receiver and scheduler would)."""

from __future__ import annotations

import json
import secrets

from magickbox.config import Settings
from magickbox.store import Session, SessionState, Store
from tests.support import sessions as factory

BUCKET = "bucketKeep"
BUCKET_AET = "ProcKeep"


def make_session(store: Store, end: str | None = "finished", size: int = 4096, caller: str = "") -> Session:
    """A session of the test bucket with `size` bytes of INPUT, taken to `end` (None: running)."""
    key = factory.key(caller or "K" + secrets.token_hex(3), BUCKET_AET)
    session = factory.receiving(store, key, BUCKET)
    folder = store.layout.session_dir(session.scratchdir)
    with (folder / "INPUT" / "big.dcm").open("wb") as out:
        for _ in range(size // (1 << 20)):
            out.write(b"\1" * (1 << 20))
        out.write(b"\1" * (size % (1 << 20)))
    (folder / "OUTPUT" / "result.txt").write_text("result\n")
    store.sessions.release(session.id, 0)
    factory.start(store, session.id)
    if end is not None:
        factory.end(store, session.id, SessionState(end))
    return store.sessions.get(session.id)


def exists(store: Store, scratchdir: str) -> bool:
    return any(s.scratchdir == scratchdir for s in store.sessions.all())


def with_bucket(settings: Settings, **info: object) -> None:
    """Install (or change) the test bucket's info.json, with extra keys such as retention_days."""
    folder = settings.streams_dir / BUCKET
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "info.json").write_text(json.dumps({"name": "k", "AETitle": BUCKET_AET, "enabled": 1, **info}))
    (folder / "work.sh").write_text("#!/bin/sh\n")
    (folder / "work.sh").chmod(0o755)
