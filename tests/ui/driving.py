"""Moves sessions through their states from the test process, through the store's named functions."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from magickbox.config import load_settings
from magickbox.store import Store
from magickbox.store.sessions import Session, SessionKey


def open_store(data: Path) -> Store:
    return Store(load_settings(data=str(data)))


def received(store: Store, calling: str, called: str = "ProcCopy", bucket: str = "ProcCopy") -> Session:
    """A session that has received two instances and is queued for its bucket."""
    key = SessionKey(calling, called, "127.0.0.1", "1.2.826.0.1." + str(uuid.uuid4().int)[:20])
    session = store.sessions.join_or_create(key, bucket, "scp_" + key.study_uid)  # type: ignore[operator]
    for name in ("a.dcm", "b.dcm"):
        (store.layout.input_dir(session.scratchdir) / name).write_bytes(b"\0" * 2048)
    store.sessions.record_instances(session.id, 2, 4096)
    store.sessions.seal(session.id)
    return store.sessions.get(session.id)


def start(store: Store, session: Session, log: str = "") -> None:
    store.sessions.mark_running(session.id)
    append_log(store, session, log)


def append_log(store: Store, session: Session, text: str) -> None:
    with store.layout.log_path(session.scratchdir).open("a", encoding="utf-8") as handle:
        handle.write(text)


def finish(store: Store, session: Session, outcome: str = "finished") -> None:
    (store.layout.output_dir(session.scratchdir) / "result.txt").write_text("done\n")
    proc = [{"success": "success" if outcome == "finished" else "failed", "message": ""}]
    store.layout.proc_path(session.scratchdir).write_text(json.dumps(proc))
    store.sessions.mark_ended(session.id, outcome)
