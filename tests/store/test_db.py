"""Database connections: one per thread, left for the next thread when it is done."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from magickbox.store import db as db_module
from magickbox.store.db import Database


def in_thread(work: Callable[[], object]) -> object:
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(work()))
    thread.start()
    thread.join(10)
    return result[0]


def use_and_release(db: Database) -> sqlite3.Connection:
    conn = db.connection()
    conn.execute("SELECT COUNT(*) FROM sessions").fetchone()
    db.release()
    return conn


def test_a_released_connection_serves_the_next_thread(tmp_path: Path) -> None:
    db = Database(tmp_path / "box.db")
    db.release()
    first = in_thread(lambda: use_and_release(db))
    second = in_thread(lambda: use_and_release(db))
    assert first is second  # not opened again (connect, pragmas, schema: ~0.4 ms)

    def settings() -> tuple[int, str]:
        conn = db.connection()
        row = conn.execute("PRAGMA foreign_keys").fetchone()
        return int(row[0]), str(conn.execute("PRAGMA journal_mode").fetchone()[0])

    assert in_thread(settings) == (1, "wal")


def test_a_connection_left_in_a_transaction_is_closed_not_reused(tmp_path: Path) -> None:
    db = Database(tmp_path / "box.db")
    db.release()

    def leave_open_transaction() -> sqlite3.Connection:
        conn = db.connection()
        conn.execute("BEGIN IMMEDIATE")
        db.release()
        return conn

    stuck = in_thread(leave_open_transaction)
    assert isinstance(stuck, sqlite3.Connection)
    with pytest.raises(sqlite3.ProgrammingError):  # closed
        stuck.execute("SELECT 1")
    fresh = in_thread(lambda: use_and_release(db))
    assert fresh is not stuck
    with db.transaction() as conn:  # the lock was let go with the closed connection
        conn.execute("UPDATE sessions SET state = state")


def test_only_a_few_are_kept_and_close_closes_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_module, "IDLE_CONNECTIONS", 2)
    db = Database(tmp_path / "box.db")
    db.release()
    barrier = threading.Barrier(3)

    def hold_then_release() -> sqlite3.Connection:
        conn = db.connection()
        barrier.wait(10)  # three threads hold a connection each at the same time
        barrier.wait(10)
        db.release()
        return conn

    results: list[sqlite3.Connection] = []
    threads = [threading.Thread(target=lambda: results.append(hold_then_release())) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    open_ones = [conn for conn in results if _is_open(conn)]
    assert len(open_ones) == 2  # the third was closed

    db.close()
    assert not any(_is_open(conn) for conn in results)


def _is_open(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return False
    return True
