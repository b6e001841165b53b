"""The store on a real full file system (a tmpfs): writes fail cleanly, deleting still works."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from magickbox.config import load_settings
from magickbox.errors import StoreFull
from magickbox.store import Store
from magickbox.store.sessions import Session, SessionKey
from tests.support.tmpfs import SmallDisk, empty_wal, small_tmpfs


@pytest.fixture
def disks(tmp_path: Path) -> Iterator[tuple[SmallDisk, SmallDisk]]:
    """The data folder (database) on one tmpfs and scratch/ on another: fill either one alone."""
    with (
        small_tmpfs(tmp_path / "data", "8m") as data,
        small_tmpfs(tmp_path / "data" / "scratch", "8m") as scratch,
    ):
        yield data, scratch


@pytest.fixture
def store(disks: tuple[SmallDisk, SmallDisk]) -> Iterator[Store]:
    opened = Store(load_settings(data=str(disks[0].root)))
    yield opened
    opened.db.close()


def upload(store: Store, payload: int = 0) -> Session:
    session = store.sessions.create_upload(SessionKey("TESTER", "B", "127.0.0.1", None), "B", "p", "", "")
    (store.layout.input_dir(session.scratchdir) / "a.dcm").write_bytes(b"\0" * payload)
    return session


def fill_database_disk(store: Store, disk: SmallDisk) -> None:
    empty_wal(store.settings.db_path)
    disk.fill()


def test_a_refused_commit_rolls_back_and_raises_store_full(
    store: Store, disks: tuple[SmallDisk, SmallDisk]
) -> None:
    session = upload(store)
    fill_database_disk(store, disks[0])
    with pytest.raises(StoreFull, match="could not write"):
        store.sessions.abort(session.id, "x" * 20000)
    assert not store.db.connection().in_transaction, "a connection was left inside a transaction"
    assert store.sessions.get(session.id).state == session.state, "half a transaction became visible"
    assert [e["state"] for e in store.sessions.history(session.id)] == ["receiving"]
    disks[0].free()
    store.sessions.abort(session.id, "the upload broke off")
    assert store.sessions.get(session.id).state == "incomplete"


def test_a_disk_io_error_is_store_full_too() -> None:
    from magickbox.files import is_disk_full

    error = sqlite3.OperationalError("disk I/O error")
    error.sqlite_errorcode = 10 | (3 << 8)  # type: ignore[attr-defined]  # SQLITE_IOERR_WRITE
    assert is_disk_full(error)
    assert not is_disk_full(sqlite3.OperationalError("no such table"))


def test_delete_frees_the_folder_when_the_records_cannot_go_and_finishes_later(
    store: Store, disks: tuple[SmallDisk, SmallDisk]
) -> None:
    data, scratch = disks
    kept, doomed = upload(store, 1000), upload(store, 4 << 20)
    fill_database_disk(store, data)
    scratch_free = scratch.free_bytes
    assert store.sessions.delete(doomed.id) is False, "the records could not have been deleted"
    assert scratch.free_bytes >= scratch_free + (4 << 20), "the payload's space was not freed"
    assert not store.layout.session_dir(doomed.scratchdir).exists()
    assert store.sessions.finish_deletes() == 1, "still full: the deletion must wait"
    data.free()
    assert store.sessions.finish_deletes() == 0
    assert [s.scratchdir for s in store.sessions.all()] == [kept.scratchdir]
    assert store.layout.tombstoned() == []


def test_a_restart_finishes_a_deletion_the_full_disk_held_back(
    store: Store, disks: tuple[SmallDisk, SmallDisk]
) -> None:
    doomed = upload(store, 1000)
    fill_database_disk(store, disks[0])
    assert store.sessions.delete(doomed.id) is False
    store.db.close()
    disks[0].free()
    restarted = Store(store.settings)
    try:
        restarted.sessions.recover_receiving()
        assert restarted.sessions.all() == []
        assert list(restarted.layout.root.iterdir()) == []
    finally:
        restarted.db.close()
