"""Sessions: creation, grouping of associations into sessions, sealing and re-running.

A session changes state only through `transitions.move_state`, inside one transaction that also
records the change in `session_events`. Writers of the sessions table, all in this package: this
module (receiving, sealing, re-running), `jobs` and `slurm_jobs` (a job's run moves its session
in the same transaction), `deliveries` (the `routing` column), `recovery` (at start) and
`deletion`.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from magickbox.errors import Conflict, NotFound
from magickbox.store import deletion, feeds, recovery
from magickbox.store.db import Database, RowModel
from magickbox.store.layout import ScratchLayout
from magickbox.store.pending import UnrecordedEnds
from magickbox.store.states import SESSION_ENDED, SessionState
from magickbox.store.transitions import insert_job, move_state, record_event


@dataclass(frozen=True)
class Session(RowModel):
    id: int
    scratchdir: str
    pid: str
    source: str
    calling_aet: str
    called_aet: str
    caller_ip: str
    study_uid: str | None
    group_key: str | None
    bucket: str | None
    state: str
    reason: str
    routing: str
    open_associations: int
    settle_until: float | None
    received_at: float
    sealed_at: float | None
    started_at: float | None
    ended_at: float | None
    updated_at: float
    instances: int
    bytes: int
    arguments: str
    description: str
    route_checked_at: float | None
    kept: int = 0  # 1: housekeeping never deletes it (store/retention.py)
    retrieval: int | None = None  # the retrieval that fetched it (store/retrievals.py)


@dataclass(frozen=True)
class SessionKey:
    """What makes instances belong to one send operation."""

    calling_aet: str
    called_aet: str
    caller_ip: str
    study_uid: str | None  # None: the instance had no Study Instance UID
    group_key: str | None = None  # then grouped per association under this key


def rfc2822_now(now: float | None = None) -> str:
    return format_datetime(datetime.fromtimestamp(now or time.time()).astimezone())


class SessionStore:
    """Named operations on sessions: the receiver, the upload endpoint and the API call these."""

    def __init__(self, db: Database, layout: ScratchLayout) -> None:
        self.db = db
        self.layout = layout
        self.unrecorded_ends = UnrecordedEnds()

    # ---- reading -------------------------------------------------------------------------
    def get(self, session_id: int) -> Session:
        row = self.db.query_found(
            "SELECT * FROM sessions WHERE id = ?", (session_id,), f"session {session_id} does not exist"
        )
        return Session.from_row(row)

    def by_scratchdir(self, scratchdir: str) -> Session:
        row = self.db.query_found(
            "SELECT * FROM sessions WHERE scratchdir = ?", (scratchdir,), f"no session {scratchdir!r}"
        )
        return Session.from_row(row)

    def all(self) -> list[Session]:
        """Every session, newest first."""
        rows = self.db.query("SELECT * FROM sessions ORDER BY received_at DESC, id DESC")
        return [Session.from_row(r) for r in rows]

    def history(self, session_id: int) -> list[sqlite3.Row]:
        return self.db.query(
            "SELECT at, state, detail FROM session_events WHERE session_id = ? ORDER BY id",
            (session_id,),
        )

    # ---- receiving ---------------------------------------------------------------------------
    def join_or_create(self, key: SessionKey, bucket: str, pid: str) -> Session:
        """The session that an association feeds for this key: a `receiving` one, or a new one.

        Counts the association as open on it, so the session cannot be sealed under its feet.
        """
        now = time.time()
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT id FROM sessions WHERE state = ? AND source = 'dicom'"
                " AND calling_aet = ? AND called_aet = ? AND caller_ip = ?"
                " AND study_uid IS ? AND group_key IS ? ORDER BY id DESC LIMIT 1",
                (
                    SessionState.RECEIVING,
                    key.calling_aet,
                    key.called_aet,
                    key.caller_ip,
                    key.study_uid,
                    key.group_key,
                ),
            ).fetchone()
            if row is not None:
                conn.execute(
                    "UPDATE sessions SET open_associations = open_associations + 1,"
                    " settle_until = NULL, updated_at = ? WHERE id = ?",
                    (now, row["id"]),
                )
                session_id = int(row["id"])
            else:
                session_id = self._insert(
                    conn, key, bucket, pid, "dicom", SessionState.RECEIVING, now, open_=1
                )
            feeds.opened(conn, session_id)
        return self.get(session_id)

    def create_upload(
        self, key: SessionKey, bucket: str, pid: str, arguments: str, description: str
    ) -> Session:
        """A `receiving` session for an HTTP upload; the caller fills INPUT, then calls `seal`."""
        now = time.time()
        with self.db.transaction() as conn:
            session_id = self._insert(conn, key, bucket, pid, "upload", SessionState.RECEIVING, now, open_=1)
            conn.execute(
                "UPDATE sessions SET arguments = ?, description = ? WHERE id = ?",
                (arguments, description, session_id),
            )
        return self.get(session_id)

    def _insert(
        self,
        conn: sqlite3.Connection,
        key: SessionKey,
        bucket: str,
        pid: str,
        source: str,
        state: SessionState,
        now: float,
        open_: int,
    ) -> int:
        info = {
            "CallerIP": key.caller_ip,
            "AETitleCalled": key.called_aet,
            "AETitleCaller": key.calling_aet,
            "received": rfc2822_now(now),
        }
        scratchdir = self.layout.create_session_dir(info)
        cursor = conn.execute(
            "INSERT INTO sessions(scratchdir, pid, source, calling_aet, called_aet, caller_ip,"
            " study_uid, group_key, bucket, state, open_associations, received_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                scratchdir,
                pid,
                source,
                key.calling_aet,
                key.called_aet,
                key.caller_ip,
                key.study_uid,
                key.group_key,
                bucket,
                state,
                open_,
                now,
                now,
            ),
        )
        session_id = int(cursor.lastrowid or 0)
        record_event(conn, session_id, state, f"from {key.calling_aet}@{key.caller_ip}", now)
        return session_id

    def create_retrieved(
        self, conn: sqlite3.Connection, key: SessionKey, bucket: str, pid: str, *, retrieval: int
    ) -> int:
        """A `receiving` session for one study a retrieval fetches, in the caller's transaction.

        It starts with one open association: the retrieval's own hold, so neither the settle
        window nor a restart's recovery seals it before the C-MOVE/C-GET has completed.
        """
        now = time.time()
        session_id = self._insert(conn, key, bucket, pid, "retrieve", SessionState.RECEIVING, now, open_=1)
        conn.execute("UPDATE sessions SET retrieval = ? WHERE id = ?", (retrieval, session_id))
        return session_id

    def seal_in(self, conn: sqlite3.Connection, session_id: int, now: float) -> None:
        """Seal (queue) a session inside the caller's transaction."""
        self._seal(conn, session_id, now)

    def record_instances(self, session_id: int, count: int, nbytes: int) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE sessions SET instances = instances + ?, bytes = bytes + ?, updated_at = ?"
                " WHERE id = ?",
                (count, nbytes, time.time(), session_id),
            )

    def release(self, session_id: int, settle_s: float) -> None:
        """An association that fed the session ended normally. Last one out starts the settle window."""
        now = time.time()
        with self.db.transaction() as conn:
            feeds.closed(conn, session_id)
            conn.execute(
                "UPDATE sessions SET open_associations = MAX(open_associations - 1, 0),"
                " updated_at = ? WHERE id = ? AND state = ?",
                (now, session_id, SessionState.RECEIVING),
            )
            conn.execute(
                "UPDATE sessions SET settle_until = ? WHERE id = ? AND state = ? AND open_associations = 0",
                (now + settle_s, session_id, SessionState.RECEIVING),
            )
        if settle_s <= 0:
            self.seal_due(now)

    def abort(self, session_id: int, reason: str) -> None:
        """The association was aborted or dropped: the session is kept, listed, never processed."""
        with self.db.transaction() as conn:
            feeds.closed(conn, session_id)
            state = conn.execute("SELECT state FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if state is None or state["state"] != SessionState.RECEIVING:
                return
            move_state(conn, session_id, SessionState.INCOMPLETE, reason, time.time(), open_associations=0)
            scratchdir = conn.execute(
                "SELECT scratchdir FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
        self.layout.clear_incoming(scratchdir["scratchdir"])

    def seal(self, session_id: int) -> None:
        """Close a session for good and queue its job (uploads, and settled DICOM sessions)."""
        now = time.time()
        with self.db.transaction() as conn:
            self._seal(conn, session_id, now)

    def _seal(self, conn: sqlite3.Connection, session_id: int, now: float) -> None:
        row = conn.execute("SELECT bucket FROM sessions WHERE id = ?", (session_id,)).fetchone()
        move_state(
            conn,
            session_id,
            SessionState.QUEUED,
            "",
            now,
            sealed_at=now,
            open_associations=0,
            settle_until=None,
        )
        insert_job(conn, session_id, row["bucket"] or "", now)

    def seal_due(self, now: float | None = None) -> list[int]:
        """Seal every session whose settle window has passed. Returns the sealed ids."""
        now = time.time() if now is None else now
        with self.db.transaction() as conn:
            ids = [
                int(r["id"])
                for r in conn.execute(
                    "SELECT id FROM sessions WHERE state = ? AND open_associations = 0"
                    " AND settle_until IS NOT NULL AND settle_until <= ? ORDER BY id",
                    (SessionState.RECEIVING, now),
                )
            ]
            for session_id in ids:
                self._seal(conn, session_id, now)
        return ids

    def next_settle_deadline(self) -> float | None:
        row = self.db.query_one(
            "SELECT MIN(settle_until) AS t FROM sessions WHERE state = ? AND open_associations = 0",
            (SessionState.RECEIVING,),
        )
        return None if row is None or row["t"] is None else float(row["t"])

    # ---- re-running ------------------------------------------------------------------------
    def requeue(self, session_id: int, reason: str) -> None:
        """Re-run an ended session: back to `queued` with a new job for its bucket.

        Only finished, failed or cancelled sessions qualify; a queued or running one would otherwise
        get a second job and run twice. (The scheduler retries interrupted jobs on its own.)
        """
        now = time.time()
        with self.db.transaction() as conn:
            row = conn.execute("SELECT bucket, state FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                raise NotFound(f"session {session_id} does not exist")
            if row["state"] not in SESSION_ENDED:
                raise Conflict(f"session {session_id} is {row['state']}; only an ended session can re-run")
            move_state(conn, session_id, SessionState.QUEUED, reason, now, started_at=None, ended_at=None)
            insert_job(conn, session_id, row["bucket"] or "", now)

    def delete(self, session_id: int) -> bool:
        """Free the session's space, then forget it (see `deletion.delete`)."""
        return deletion.delete(self.db, self.layout, session_id)

    def finish_deletes(self) -> int:
        """Forget sessions whose folder went but whose records a full disk kept; how many wait."""
        return deletion.finish_deletes(self.db, self.layout)

    def retry_unrecorded_ends(self) -> int:
        """Record association ends a full disk refused (sessions become incomplete); how many wait."""
        self.unrecorded_ends.retry(self.abort)
        return len(self.unrecorded_ends)

    def end_process_feeds(self, pid: int, reason: str) -> list[feeds.EndedFeed]:
        """A receiving process died: end the sessions its associations fed (`feeds.end_process`)."""
        return feeds.end_process(self.db, self.layout, pid, reason)

    def recover_receiving(self) -> tuple[list[int], list[int]]:
        """At start: settle what receiving left open at a crash (see `recovery.recover_receiving`)."""
        self.finish_deletes()
        return recovery.recover_receiving(self.db, self.layout, self._seal)
