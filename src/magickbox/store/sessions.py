"""Sessions: creation, grouping of associations, the state machine and crash recovery.

A session changes state only through the named functions below; each runs in one transaction
and records the change in `session_events`, so the history survives any crash.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, fields
from datetime import datetime
from email.utils import format_datetime
from typing import Final

from magickbox.errors import Conflict, NotFound, StoreFull
from magickbox.store.db import Database
from magickbox.store.layout import ScratchLayout
from magickbox.store.pending import UnrecordedEnds

log = logging.getLogger(__name__)

RECEIVING: Final = "receiving"
QUEUED: Final = "queued"
RUNNING: Final = "running"
FINISHED: Final = "finished"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
INCOMPLETE: Final = "incomplete"

STATES: Final = (RECEIVING, QUEUED, RUNNING, FINISHED, FAILED, CANCELLED, INCOMPLETE)
ENDED: Final = (FINISHED, FAILED, CANCELLED)

# Which state may follow which. Anything else is a bug or a race, refused with Conflict.
ALLOWED: Final[dict[str, tuple[str, ...]]] = {
    RECEIVING: (QUEUED, INCOMPLETE),
    QUEUED: (RUNNING, CANCELLED, FAILED),
    RUNNING: (FINISHED, FAILED, CANCELLED, QUEUED),
    FINISHED: (QUEUED,),
    FAILED: (QUEUED,),
    CANCELLED: (QUEUED,),
    INCOMPLETE: (),
}


@dataclass(frozen=True)
class Session:
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

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Session:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


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


def _record(conn: sqlite3.Connection, session_id: int, state: str, detail: str, now: float) -> None:
    conn.execute(
        "INSERT INTO session_events(session_id, at, state, detail) VALUES (?, ?, ?, ?)",
        (session_id, now, state, detail),
    )


def move_state(
    conn: sqlite3.Connection, session_id: int, new_state: str, reason: str, now: float, **columns: object
) -> None:
    """Change a session's state inside the caller's transaction, checked against ALLOWED and recorded.

    The job store uses it so that a job and its session change together in one transaction.
    """
    row = conn.execute("SELECT state FROM sessions WHERE id = ?", (session_id,)).fetchone()
    if row is None:
        raise NotFound(f"session {session_id} does not exist")
    if new_state not in ALLOWED[row["state"]]:
        raise Conflict(f"session {session_id} is {row['state']}; it cannot become {new_state}")
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    extra = f", {assignments}" if assignments else ""
    conn.execute(
        f"UPDATE sessions SET state = :state, reason = :reason, updated_at = :now{extra} WHERE id = :id",
        {"state": new_state, "reason": reason, "now": now, "id": session_id, **columns},
    )
    _record(conn, session_id, new_state, reason, now)


def _insert_job(conn: sqlite3.Connection, session_id: int, bucket: str, now: float) -> None:
    conn.execute(
        "INSERT INTO jobs(session_id, bucket, state, queued_at) VALUES (?, ?, 'queued', ?)",
        (session_id, bucket, now),
    )


class SessionStore:
    """Named operations on sessions. Stages call these; nothing else writes the sessions table."""

    def __init__(self, db: Database, layout: ScratchLayout) -> None:
        self.db = db
        self.layout = layout
        self.unrecorded_ends = UnrecordedEnds()

    # ---- reading -------------------------------------------------------------------------
    def get(self, session_id: int) -> Session:
        row = self.db.query_one("SELECT * FROM sessions WHERE id = ?", (session_id,))
        if row is None:
            raise NotFound(f"session {session_id} does not exist")
        return Session.from_row(row)

    def by_scratchdir(self, scratchdir: str) -> Session:
        row = self.db.query_one("SELECT * FROM sessions WHERE scratchdir = ?", (scratchdir,))
        if row is None:
            raise NotFound(f"no session {scratchdir!r}")
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
                "SELECT id FROM sessions WHERE state = 'receiving' AND source = 'dicom'"
                " AND calling_aet = ? AND called_aet = ? AND caller_ip = ?"
                " AND study_uid IS ? AND group_key IS ? ORDER BY id DESC LIMIT 1",
                (key.calling_aet, key.called_aet, key.caller_ip, key.study_uid, key.group_key),
            ).fetchone()
            if row is not None:
                conn.execute(
                    "UPDATE sessions SET open_associations = open_associations + 1,"
                    " settle_until = NULL, updated_at = ? WHERE id = ?",
                    (now, row["id"]),
                )
                session_id = int(row["id"])
            else:
                session_id = self._insert(conn, key, bucket, pid, "dicom", RECEIVING, now, open_=1)
        return self.get(session_id)

    def create_upload(
        self, key: SessionKey, bucket: str, pid: str, arguments: str, description: str
    ) -> Session:
        """A `receiving` session for an HTTP upload; the caller fills INPUT, then calls `seal`."""
        now = time.time()
        with self.db.transaction() as conn:
            session_id = self._insert(conn, key, bucket, pid, "upload", RECEIVING, now, open_=1)
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
        state: str,
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
        _record(conn, session_id, state, f"from {key.calling_aet}@{key.caller_ip}", now)
        return session_id

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
            conn.execute(
                "UPDATE sessions SET open_associations = MAX(open_associations - 1, 0),"
                " updated_at = ? WHERE id = ? AND state = 'receiving'",
                (now, session_id),
            )
            conn.execute(
                "UPDATE sessions SET settle_until = ? WHERE id = ? AND state = 'receiving'"
                " AND open_associations = 0",
                (now + settle_s, session_id),
            )
        if settle_s <= 0:
            self.seal_due(now)

    def abort(self, session_id: int, reason: str) -> None:
        """The association was aborted or dropped: the session is kept, listed, never processed."""
        with self.db.transaction() as conn:
            state = conn.execute("SELECT state FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if state is None or state["state"] != RECEIVING:
                return
            move_state(conn, session_id, INCOMPLETE, reason, time.time(), open_associations=0)
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
        move_state(conn, session_id, QUEUED, "", now, sealed_at=now, open_associations=0, settle_until=None)
        _insert_job(conn, session_id, row["bucket"] or "", now)

    def seal_due(self, now: float | None = None) -> list[int]:
        """Seal every session whose settle window has passed. Returns the sealed ids."""
        now = time.time() if now is None else now
        with self.db.transaction() as conn:
            ids = [
                int(r["id"])
                for r in conn.execute(
                    "SELECT id FROM sessions WHERE state = 'receiving' AND open_associations = 0"
                    " AND settle_until IS NOT NULL AND settle_until <= ? ORDER BY id",
                    (now,),
                )
            ]
            for session_id in ids:
                self._seal(conn, session_id, now)
        return ids

    def next_settle_deadline(self) -> float | None:
        row = self.db.query_one(
            "SELECT MIN(settle_until) AS t FROM sessions WHERE state = 'receiving' AND open_associations = 0"
        )
        return None if row is None or row["t"] is None else float(row["t"])

    # ---- processing (used by the scheduler) ---------------------------------------------------
    def mark_running(self, session_id: int) -> None:
        now = time.time()
        with self.db.transaction() as conn:
            move_state(conn, session_id, RUNNING, "", now, started_at=now, ended_at=None)

    def mark_ended(self, session_id: int, state: str, reason: str = "") -> None:
        """finished, failed or cancelled, with the end time the API derives processingTime from."""
        if state not in ENDED:
            raise ValueError(f"{state} is not an end state")
        now = time.time()
        with self.db.transaction() as conn:
            move_state(conn, session_id, state, reason, now, ended_at=now)

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
            if row["state"] not in ENDED:
                raise Conflict(f"session {session_id} is {row['state']}; only an ended session can re-run")
            move_state(conn, session_id, QUEUED, reason, now, started_at=None, ended_at=None)
            _insert_job(conn, session_id, row["bucket"] or "", now)

    def set_routing(self, session_id: int, routing: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE sessions SET routing = ?, updated_at = ? WHERE id = ?",
                (routing, time.time(), session_id),
            )
            _record(conn, session_id, "routing", routing, time.time())

    def delete(self, session_id: int) -> bool:
        """Free the session's space, then forget it. The caller cancels a running job first.

        The folder goes first (emptied into its tombstone), because that needs no free space.
        False when the records could not be written (full disk): the deletion is then finished by
        `finish_deletes` as soon as the store can write, or at the next start.
        """
        scratchdir = self.get(session_id).scratchdir
        self.layout.empty_into_tombstone(scratchdir)
        try:
            self._forget(scratchdir)
        except StoreFull:
            log.warning("session %s: folder removed; its records go when the store can write", scratchdir)
            return False
        return True

    def _forget(self, scratchdir: str) -> None:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT id FROM sessions WHERE scratchdir = ?", (scratchdir,)).fetchone()
            if row is not None:
                conn.execute("DELETE FROM jobs WHERE session_id = ?", (row["id"],))
                conn.execute("DELETE FROM session_events WHERE session_id = ?", (row["id"],))
                conn.execute("DELETE FROM sessions WHERE id = ?", (row["id"],))
        self.layout.remove_tombstone(scratchdir)

    def finish_deletes(self) -> int:
        """Forget the sessions whose folder was removed but whose records were not (full disk).

        The tombstones on disk are the list, so any process, and a restart, can finish them.
        Returns how many are still waiting; raises nothing when the disk is still full.
        """
        waiting = self.layout.tombstoned()
        for index, scratchdir in enumerate(waiting):
            try:
                self._forget(scratchdir)
            except StoreFull:
                return len(waiting) - index
        return 0

    def retry_unrecorded_ends(self) -> int:
        """Record association ends a full disk refused (sessions become incomplete); how many wait."""
        self.unrecorded_ends.retry(self.abort)
        return len(self.unrecorded_ends)

    # ---- crash recovery -----------------------------------------------------------------------
    def _recount(self, conn: sqlite3.Connection, session_id: int, scratchdir: str, now: float) -> None:
        """The receiver records instance counts in batches; after a crash the files in INPUT/
        are the truth (every acknowledged instance was renamed there before its C-STORE-RSP)."""
        files = [p for p in self.layout.input_dir(scratchdir).glob("*.dcm") if p.is_file()]
        conn.execute(
            "UPDATE sessions SET instances = ?, bytes = ?, updated_at = ? WHERE id = ?",
            (len(files), sum(p.stat().st_size for p in files), now, session_id),
        )

    def recover_receiving(self) -> tuple[list[int], list[int]]:
        """At start: sessions fed by an association open at the crash become `incomplete`;
        sessions whose associations had all been released are sealed (queued). Returns both lists.
        """
        self.finish_deletes()
        now = time.time()
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT id, open_associations, source, scratchdir FROM sessions WHERE state = 'receiving'"
            ).fetchall()
            for row in rows:
                if row["source"] == "dicom":
                    self._recount(conn, int(row["id"]), row["scratchdir"], now)
            broken = [int(r["id"]) for r in rows if r["open_associations"] > 0 or r["source"] != "dicom"]
            settled = [int(r["id"]) for r in rows if int(r["id"]) not in broken]
            for session_id in broken:
                move_state(
                    conn, session_id, INCOMPLETE, "the box stopped while receiving", now, open_associations=0
                )
            for session_id in settled:
                self._seal(conn, session_id, now)
        known = {session.scratchdir for session in self.all()}
        for scratchdir in known:
            self.layout.clear_incoming(scratchdir)
            self.layout.clear_temporaries(scratchdir)
        self.layout.remove_orphans(known)
        return broken, settled
