"""Opening a database made before the Slurm columns existed adds them and keeps every row."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from magickbox.store.db import Database
from magickbox.store.schema import ADDED_COLUMNS

OLD_JOBS = """
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL, bucket TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, lease_until REAL, queued_at REAL NOT NULL,
    started_at REAL, ended_at REAL, exit_code INTEGER, reason TEXT NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0
)
"""


def test_an_old_database_gets_the_new_job_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(OLD_JOBS)
        conn.execute("INSERT INTO jobs (session_id, bucket, state, queued_at) VALUES (1, 'B', 'done', 1.0)")
    for _ in range(2):  # twice: the upgrade is idempotent
        db = Database(path)
        columns = {str(r["name"]) for r in db.query("PRAGMA table_info(jobs)")}
        assert {column for table, column, _ in ADDED_COLUMNS if table == "jobs"} <= columns
        row = db.query_one("SELECT * FROM jobs WHERE id = 1")
        assert row is not None and row["bucket"] == "B" and row["executor"] == "local"
        assert row["slurm_job_id"] is None and row["slurm_state"] == ""
        db.close()
