from __future__ import annotations

import json

import pytest

from magickbox.errors import Conflict
from magickbox.scratchdir import is_scratchdir_name
from magickbox.store import Store
from magickbox.store.sessions import SessionKey
from magickbox.store.states import SessionState
from tests.support import sessions as factory

KEY = SessionKey("MySelf", "ProcBucket", "127.0.0.1", "1.2.3")


def test_new_session_has_original_layout_and_info_json(store: Store) -> None:
    session = store.sessions.join_or_create(KEY, "bucketProc", "scp_1.2.3")
    folder = store.layout.session_dir(session.scratchdir)
    assert is_scratchdir_name(session.scratchdir)
    assert (folder / "INPUT").is_dir() and (folder / "OUTPUT").is_dir()
    info = json.loads((folder / "info.json").read_text())
    assert info["CallerIP"] == "127.0.0.1"
    assert info["AETitleCalled"] == "ProcBucket"
    assert info["AETitleCaller"] == "MySelf"
    assert all(isinstance(value, str) for value in info.values())
    assert session.state == "receiving" and session.pid == "scp_1.2.3"


def test_second_association_with_same_key_joins_until_sealed(store: Store) -> None:
    first = store.sessions.join_or_create(KEY, "b", "scp_1.2.3")
    second = store.sessions.join_or_create(KEY, "b", "scp_1.2.3")
    assert second.id == first.id and second.open_associations == 2
    store.sessions.release(first.id, settle_s=60)
    assert store.sessions.get(first.id).state == "receiving"
    store.sessions.release(first.id, settle_s=0)
    assert store.sessions.get(first.id).state == "queued"
    third = store.sessions.join_or_create(KEY, "b", "scp_1.2.3")
    assert third.id != first.id, "a resend after sealing is a new session"


def test_settle_window_seals_only_when_due(store: Store) -> None:
    session = store.sessions.join_or_create(KEY, "b", "scp_1.2.3")
    store.sessions.release(session.id, settle_s=5)
    deadline = store.sessions.next_settle_deadline()
    assert deadline is not None
    assert store.sessions.seal_due(deadline - 1) == []
    assert store.sessions.seal_due(deadline) == [session.id]
    jobs = store.db.query("SELECT bucket, state FROM jobs WHERE session_id = ?", (session.id,))
    assert [(j["bucket"], j["state"]) for j in jobs] == [("b", "queued")]


def test_abort_makes_incomplete_and_forbids_processing(store: Store) -> None:
    session = store.sessions.join_or_create(KEY, "b", "scp_1.2.3")
    store.sessions.abort(session.id, "association aborted")
    aborted = store.sessions.get(session.id)
    assert aborted.state == "incomplete" and aborted.reason == "association aborted"
    with pytest.raises(Conflict):
        store.sessions.seal(session.id)
    assert store.jobs.for_session(session.id) == []


def test_recovery_after_crash(store: Store) -> None:
    open_one = store.sessions.join_or_create(KEY, "b", "scp_1.2.3")
    settling = store.sessions.join_or_create(SessionKey("X", "ProcBucket", "127.0.0.2", "9"), "b", "scp_9")
    store.sessions.release(settling.id, settle_s=60)
    (store.layout.incoming_dir(settling.scratchdir)).mkdir()
    broken, sealed = store.sessions.recover_receiving()
    assert broken == [open_one.id] and sealed == [settling.id]
    assert store.sessions.get(open_one.id).state == "incomplete"
    assert store.sessions.get(settling.id).state == "queued"
    assert not store.layout.incoming_dir(settling.scratchdir).exists()


def test_history_records_every_state(store: Store) -> None:
    session = store.sessions.join_or_create(KEY, "b", "scp_1.2.3")
    store.sessions.release(session.id, settle_s=0)
    factory.start(store, session.id)
    factory.end(store, session.id, SessionState.FINISHED)
    states = [row["state"] for row in store.sessions.history(session.id)]
    assert states == ["receiving", "queued", "running", "finished"]
    assert store.sessions.get(session.id).ended_at is not None


def test_delete_removes_folder_and_rows(store: Store) -> None:
    session = store.sessions.join_or_create(KEY, "b", "scp_1.2.3")
    store.sessions.delete(session.id)
    assert not store.layout.session_dir(session.scratchdir).exists()
    assert store.sessions.all() == []


def test_recovery_removes_interrupted_writes_and_orphan_folders(store: Store) -> None:
    session = store.sessions.join_or_create(KEY, "b", "scp_1.2.3")
    folder = store.layout.session_dir(session.scratchdir)
    (folder / ".info.json.1a2b3c4d.tmp").write_text("{half")
    orphan = store.layout.create_session_dir({"CallerIP": "x"})  # folder made, row never committed
    kept = store.layout.create_session_dir({"CallerIP": "y"})
    (store.layout.input_dir(kept) / "a.dcm").write_bytes(b"data")
    store.sessions.recover_receiving()
    assert not (folder / ".info.json.1a2b3c4d.tmp").exists()
    assert (folder / "info.json").exists()
    assert not store.layout.session_dir(orphan).exists()
    assert (store.layout.input_dir(kept) / "a.dcm").exists(), "received data is never thrown away"


def test_rerun_only_of_ended_sessions(store: Store) -> None:
    session = store.sessions.join_or_create(KEY, "b", "scp_1.2.3")
    store.sessions.release(session.id, settle_s=0)
    factory.start(store, session.id)
    with pytest.raises(Conflict):
        store.sessions.requeue(session.id, "re-run")
    factory.end(store, session.id, SessionState.FAILED, "exit code 1")
    store.sessions.requeue(session.id, "re-run")
    jobs = store.db.query("SELECT state FROM jobs WHERE session_id = ? ORDER BY id", (session.id,))
    assert [job["state"] for job in jobs][-1] == "queued" and store.sessions.get(session.id).state == "queued"
