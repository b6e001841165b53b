"""Moves sessions through their states from the test process, through the store's named functions."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from magickbox.config import load_settings
from magickbox.store import Session, SessionKey, SessionState, Store
from tests.support import sessions as factory
from tests.support.dcmtk import storescu
from tests.support.dicomdata import write_study
from tests.support.net import wait_until


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
    factory.start(store, session.id)
    append_log(store, session, log)


def append_log(store: Store, session: Session, text: str) -> None:
    with store.layout.log_path(session.scratchdir).open("a", encoding="utf-8") as handle:
        handle.write(text)


def finish(store: Store, session: Session, outcome: str = "finished") -> None:
    (store.layout.output_dir(session.scratchdir) / "result.txt").write_text("done\n")
    proc = [{"success": "success" if outcome == "finished" else "failed", "message": ""}]
    store.layout.proc_path(session.scratchdir).write_text(json.dumps(proc))
    factory.end(store, session.id, SessionState(outcome))


def receiving(store: Store, calling: str, called: str = "ProcCopy") -> Session:
    """A session still receiving (an association open): no stage of a running box moves it on."""
    key = SessionKey(calling, called, "127.0.0.1", "1.2.826.0.1." + str(uuid.uuid4().int)[:20])
    return store.sessions.join_or_create(key, called, "scp_" + str(key.study_uid))


def send(box_dicom_port: int, folder: Path, calling: str, called: str, count: int = 2) -> None:
    """Send a new study with dcmtk's storescu, as a scanner would."""
    write_study(folder, count)
    storescu(box_dicom_port, folder, calling=calling, called=called, check=True, timeout=60)


def session_of(store: Store, calling: str) -> Session | None:
    return next((s for s in store.sessions.all() if s.calling_aet == calling), None)


def wait_for_state(store: Store, calling: str, *states: str, timeout: float = 30) -> Session:
    found: list[Session] = []

    def reached() -> bool:
        session = session_of(store, calling)
        if session is not None and session.state in states:
            found.append(session)
            return True
        return False

    wait_until(reached, timeout=timeout, what=f"a session from {calling} in {states}")
    return found[0]
