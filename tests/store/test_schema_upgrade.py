"""Schema versioning: unversioned databases upgrade to migration 1, later migrations run once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from magickbox.config import load_settings
from magickbox.store import Store, schema
from magickbox.store.db import Database
from magickbox.store.schema import BASELINE, BASELINE_COLUMNS, MIGRATIONS, Migration, SchemaTooNew
from tests.support import sessions as factory

OLD_JOBS = """
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL, bucket TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, lease_until REAL, queued_at REAL NOT NULL,
    started_at REAL, ended_at REAL, exit_code INTEGER, reason TEXT NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0
)
"""


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def test_a_database_from_before_the_slurm_columns_gets_them(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(OLD_JOBS)
        conn.execute("INSERT INTO jobs (session_id, bucket, state, queued_at) VALUES (1, 'B', 'done', 1.0)")
    assert user_version(path) == 0
    for _ in range(2):  # twice: a versioned database is left alone
        db = Database(path)
        columns = {str(r["name"]) for r in db.query("PRAGMA table_info(jobs)")}
        assert {column for _, column, _ in BASELINE_COLUMNS} <= columns
        row = db.query_one("SELECT * FROM jobs WHERE id = 1")
        assert row is not None and row["bucket"] == "B" and row["executor"] == "local"
        assert row["slurm_job_id"] is None and row["slurm_state"] == ""
        db.close()
        assert user_version(path) == len(MIGRATIONS)


def test_an_unversioned_store_keeps_its_sessions_and_works_on(tmp_path: Path) -> None:
    """A data folder written by the last unversioned MagickBox: its schema, user_version 0."""
    settings = load_settings(data=str(tmp_path / "data"))
    store = Store(settings)
    made = factory.make_session(store, bucket="b")
    store.db.close()
    with sqlite3.connect(settings.db_path) as conn:  # back to what the old code left
        conn.execute("PRAGMA user_version = 0")
    reopened = Store(settings)
    with reopened.connection():
        assert user_version(settings.db_path) == len(MIGRATIONS)
        assert reopened.sessions.get(made.id) == made
        assert [j.state for j in reopened.jobs.for_session(made.id)] == ["done"]
        assert factory.make_session(reopened, bucket="b").state == "finished"


def test_baseline_is_what_migration_one_creates(tmp_path: Path) -> None:
    db = Database(tmp_path / "new.db")
    tables = {str(r["name"]) for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    expected = {s.split("EXISTS", 1)[1].split("(", 1)[0].strip() for s in BASELINE if "CREATE TABLE" in s}
    assert expected <= tables, "later migrations add tables; the baseline's are all there"


def test_a_new_migration_runs_once_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "store.db"
    Database(path).close()
    added = Migration("test: notes", ["CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"])
    filled = Migration("test: a first note", ["INSERT INTO notes (text) VALUES ('one')"])
    monkeypatch.setattr(schema, "MIGRATIONS", [*MIGRATIONS, added, filled])
    for _ in range(2):
        db = Database(path)
        assert [r["text"] for r in db.query("SELECT text FROM notes")] == ["one"]
        db.close()
    assert user_version(path) == len(MIGRATIONS) + 2


def test_a_failed_migration_leaves_the_old_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "store.db"
    Database(path).close()
    broken = Migration("test: half", ["CREATE TABLE half (id INTEGER)", "INSERT INTO nowhere VALUES (1)"])
    monkeypatch.setattr(schema, "MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(sqlite3.OperationalError, match="nowhere"):
        Database(path)
    assert user_version(path) == len(MIGRATIONS)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None


def test_a_database_from_a_newer_box_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    Database(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(SchemaTooNew, match="schema version"):
        Database(path)
