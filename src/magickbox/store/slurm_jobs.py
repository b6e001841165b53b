"""The Slurm side of a job: its executor, Slurm job id and Slurm state, and re-attaching after a crash.

A Slurm job is never re-run because the box stopped: the cluster still runs it. A restarted box
takes over the lease of such a job (`adopt`) and its worker finds the Slurm job again by id or by
its unique name. Every change of the session goes with the job's in one transaction.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Literal

from magickbox.store.db import Database
from magickbox.store.states import JobState, SessionState
from magickbox.store.transitions import move_state

LOCAL = "local"
SLURM = "slurm"
PENDING = "PENDING"
RUNNING = "RUNNING"


def end_session(
    conn: sqlite3.Connection, session_id: int, end_state: SessionState, reason: str, now: float
) -> None:
    """Move a running session (or one waiting in Slurm's queue, shown as queued) to its end state."""
    row = conn.execute("SELECT state FROM sessions WHERE id = ?", (session_id,)).fetchone()
    state = None if row is None else str(row["state"])
    if state == SessionState.QUEUED and end_state == SessionState.FINISHED:
        # Slurm ran it between two polls: record the start so the history stays a valid path.
        move_state(conn, session_id, SessionState.RUNNING, "", now, started_at=now, ended_at=None)
        state = SessionState.RUNNING
    if state in (SessionState.RUNNING, SessionState.QUEUED):
        move_state(conn, session_id, end_state, reason, now, ended_at=now)


def leased_session(conn: sqlite3.Connection, job_id: int, owner: str) -> int | None:
    """The session of a job that `owner` still runs; None when the lease was lost."""
    row = conn.execute(
        f"SELECT session_id FROM jobs WHERE id = ? AND lease_owner = ? AND state = '{JobState.RUNNING}'",
        (job_id, owner),
    ).fetchone()
    return None if row is None else int(row["session_id"])


def change_leased(
    db: Database, job_id: int, owner: str, change: Callable[[sqlite3.Connection, int, float], None]
) -> bool:
    """Run `change(conn, session_id, now)` in one transaction while `owner` holds the job's lease.

    False (and nothing changed) when the lease was lost.
    """
    now = time.time()
    with db.transaction() as conn:
        session_id = leased_session(conn, job_id, owner)
        if session_id is None:
            return False
        change(conn, session_id, now)
    return True


class SlurmJobs:
    def __init__(self, db: Database) -> None:
        self.db = db

    def set_executor(self, job_id: int, owner: str, executor: str) -> bool:
        """Say where a claimed job runs, before anything is submitted. False if the lease was lost."""
        return self._set_while_leased("executor", executor, job_id, owner)

    def record_id(self, job_id: int, owner: str, slurm_job_id: str) -> bool:
        """Store the id sbatch printed (or the one found by name). False if the lease was lost."""
        return self._set_while_leased("slurm_job_id", slurm_job_id, job_id, owner)

    def _set_while_leased(
        self, column: Literal["executor", "slurm_job_id"], value: str, job_id: int, owner: str
    ) -> bool:
        with self.db.transaction() as conn:
            cursor = conn.execute(
                f"UPDATE jobs SET {column} = ? WHERE id = ? AND"
                f" lease_owner = ? AND state = '{JobState.RUNNING}'",
                (value, job_id, owner),
            )
            return cursor.rowcount == 1

    def record_state(self, job_id: int, owner: str, slurm_state: str, reason: str) -> None:
        """Slurm's view of a live job; a pending job's session shows as queued with Slurm's reason."""

        def record(conn: sqlite3.Connection, session_id: int, now: float) -> None:
            conn.execute(
                "UPDATE jobs SET slurm_state = ?, slurm_reason = ? WHERE id = ?",
                (slurm_state, reason, job_id),
            )
            row = conn.execute("SELECT state FROM sessions WHERE id = ?", (session_id,)).fetchone()
            state = None if row is None else str(row["state"])
            if slurm_state == PENDING and state == SessionState.RUNNING:
                detail = f"waiting in Slurm's queue: {reason if reason not in ('', 'None') else 'pending'}"
                move_state(conn, session_id, SessionState.QUEUED, detail, now, started_at=None)
            elif slurm_state == RUNNING and state == SessionState.QUEUED:
                move_state(conn, session_id, SessionState.RUNNING, "running in Slurm", now, started_at=now)

        change_leased(self.db, job_id, owner, record)

    def retry(self, job_id: int, owner: str, reason: str, max_attempts: int) -> bool:
        """Queue a job again after a failure that was not its own (node failure, preemption).

        The attempt stays counted; after `max_attempts` the job and session fail. True if queued again.
        """
        now = time.time()
        with self.db.transaction() as conn:
            session_id = leased_session(conn, job_id, owner)
            if session_id is None:
                return False
            attempts = int(conn.execute("SELECT attempts FROM jobs WHERE id = ?", (job_id,)).fetchone()[0])
            if attempts >= max_attempts:
                conn.execute(
                    f"UPDATE jobs SET state = '{JobState.FAILED}',"
                    " ended_at = ?, reason = ?, lease_owner = NULL,"
                    " lease_until = NULL WHERE id = ?",
                    (now, reason, job_id),
                )
                end_session(conn, session_id, SessionState.FAILED, reason, now)
                return False
            again = f"{reason}; queued again (attempt {attempts} of {max_attempts})"
            conn.execute(
                f"UPDATE jobs SET state = '{JobState.QUEUED}', lease_owner"
                " = NULL, lease_until = NULL, started_at = NULL,"
                " slurm_job_id = NULL, slurm_state = '', slurm_reason = '', reason = ? WHERE id = ?",
                (again, job_id),
            )
            state = str(conn.execute("SELECT state FROM sessions WHERE id = ?", (session_id,)).fetchone()[0])
            if state == SessionState.RUNNING:
                move_state(conn, session_id, SessionState.QUEUED, again, now, started_at=None, ended_at=None)
            return True

    def stale(self, owner_is_gone: Callable[[str], bool], now: float | None = None) -> list[tuple[int, str]]:
        """(job id, owner) of running Slurm jobs whose lease ran out or whose owner process is gone."""
        now = time.time() if now is None else now
        rows = self.db.query(
            "SELECT id, lease_owner, lease_until FROM jobs WHERE"
            f" state = '{JobState.RUNNING}' AND executor = 'slurm'"
        )
        return [
            (int(r["id"]), str(r["lease_owner"] or ""))
            for r in rows
            if (r["lease_until"] or 0) < now or owner_is_gone(str(r["lease_owner"] or ""))
        ]

    def adopt(self, job_id: int, old_owner: str, new_owner: str, lease_s: float) -> bool:
        """Take over the lease of a stale Slurm job (attempt and Slurm job id kept). False if taken."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET lease_owner = ?, lease_until ="
                f" ? WHERE id = ? AND state = '{JobState.RUNNING}'"
                " AND executor = 'slurm' AND lease_owner IS ?",
                (new_owner, time.time() + lease_s, job_id, old_owner or None),
            )
            return cursor.rowcount == 1
