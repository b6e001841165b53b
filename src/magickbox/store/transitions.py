"""State changes of a session inside a caller's transaction: checked, applied and recorded.

The session, job and delivery stores call these so that a job (or a delivery) and its session
change together in one transaction, and every change lands in `session_events`.
"""

from __future__ import annotations

import sqlite3

from magickbox.errors import Conflict, NotFound
from magickbox.store.states import SESSION_TRANSITIONS, JobState, SessionState


def record_event(conn: sqlite3.Connection, session_id: int, state: str, detail: str, now: float) -> None:
    """Add a line to the session's history (a state, or 'routing' with what routing became)."""
    conn.execute(
        "INSERT INTO session_events(session_id, at, state, detail) VALUES (?, ?, ?, ?)",
        (session_id, now, state, detail),
    )


def session_state(conn: sqlite3.Connection, session_id: int) -> SessionState | None:
    """The session's state now; None when it does not exist (deleted)."""
    row = conn.execute("SELECT state FROM sessions WHERE id = ?", (session_id,)).fetchone()
    return None if row is None else SessionState(row["state"])


def move_state(
    conn: sqlite3.Connection,
    session_id: int,
    new_state: SessionState,
    reason: str,
    now: float,
    **columns: object,
) -> None:
    """Change a session's state, checked against SESSION_TRANSITIONS and recorded as an event."""
    state = session_state(conn, session_id)
    if state is None:
        raise NotFound(f"session {session_id} does not exist")
    if new_state not in SESSION_TRANSITIONS[state]:
        raise Conflict(f"session {session_id} is {state}; it cannot become {new_state}")
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    extra = f", {assignments}" if assignments else ""
    conn.execute(
        f"UPDATE sessions SET state = :state, reason = :reason, updated_at = :now{extra} WHERE id = :id",
        {"state": new_state, "reason": reason, "now": now, "id": session_id, **columns},
    )
    record_event(conn, session_id, new_state, reason, now)


def insert_job(conn: sqlite3.Connection, session_id: int, bucket: str, now: float) -> None:
    """Queue a job for a session that has just become queued (sealed or re-run)."""
    conn.execute(
        "INSERT INTO jobs(session_id, bucket, state, queued_at) VALUES (?, ?, ?, ?)",
        (session_id, bucket, JobState.QUEUED, now),
    )
