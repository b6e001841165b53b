"""Jobs: the queued run of one bucket on one session (one row per attempt series).

Sealing a session (store.sessions) inserts its job; the scheduler (magickbox.run) claims jobs with
leases and ends them; the API asks for cancellation through `request_cancel`.
"""

from __future__ import annotations

import sqlite3

from magickbox.store.db import Database

QUEUED = "queued"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"
ACTIVE = (QUEUED, RUNNING)


class JobStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def active_for_session(self, session_id: int) -> sqlite3.Row | None:
        return self.db.query_one(
            "SELECT * FROM jobs WHERE session_id = ? AND state IN ('queued', 'running') ORDER BY id DESC",
            (session_id,),
        )

    def request_cancel(self, session_id: int) -> bool:
        """Ask the scheduler to stop this session's queued or running job. True if there was one."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET cancel_requested = 1"
                " WHERE session_id = ? AND state IN ('queued', 'running')",
                (session_id,),
            )
            return cursor.rowcount > 0
