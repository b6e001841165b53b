"""A database from before retention gets the kept/removal columns and the audit table, rows intact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from magickbox.store.db import Database
from magickbox.store.schema import BASELINE


def test_an_old_sessions_table_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(BASELINE[0])  # the sessions table as first shipped: no `kept`
        conn.execute(
            "INSERT INTO sessions (scratchdir, pid, source, calling_aet, called_aet, caller_ip, state,"
            " received_at, updated_at)"
            " VALUES ('tmp.AAAAAAAAAA', 'p', 'dicom', 'A', 'B', 'ip', 'finished', 1, 1)"
        )
    for _ in range(2):  # twice: idempotent
        db = Database(path)
        row = db.query_one("SELECT * FROM sessions")
        assert row is not None and row["pid"] == "p" and row["kept"] == 0 and row["input_removed_at"] is None
        assert db.query("SELECT * FROM audit_log") == []
        db.close()
