"""Jobs: the queued run of one bucket on one session.

Sealing a session (store.sessions) inserts its job; the scheduler (magickbox.run) claims jobs with
leases, renews them while the bucket runs and ends them; the API cancels through `request_cancel`.
Every function that changes a job also moves its session in the same transaction, so a crash
never leaves a job and its session disagreeing.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from magickbox.store.db import Database, RowModel
from magickbox.store.slurm_jobs import SlurmJobs, change_leased, end_session
from magickbox.store.states import JOB_ENDED, SESSION_OF_JOB_END, JobState, SessionState
from magickbox.store.transitions import move_state
from magickbox.store.transitions import session_state as _session_state


@dataclass(frozen=True)
class Job(RowModel):
    id: int
    session_id: int
    bucket: str
    state: str
    attempts: int
    lease_owner: str | None
    lease_until: float | None
    queued_at: float
    started_at: float | None
    ended_at: float | None
    exit_code: int | None
    reason: str
    cancel_requested: int
    executor: str = "local"
    slurm_job_id: str | None = None
    slurm_state: str = ""
    slurm_reason: str = ""


@dataclass(frozen=True)
class BucketLoad:
    queued: int = 0
    running: int = 0


@dataclass(frozen=True)
class Recovered:
    job_id: int
    session_id: int
    requeued: bool  # False: it used up its attempts and failed
    reason: str


def _open_buckets(
    conn: sqlite3.Connection, limits: Mapping[str, int], max_running: int, uncapped: Collection[str]
) -> list[str]:
    """Buckets below their own limit; the box's cap (`max_running`) holds all but `uncapped` ones."""
    running = {
        str(r["bucket"]): int(r["n"])
        for r in conn.execute(
            f"SELECT bucket, COUNT(*) AS n FROM jobs WHERE state = '{JobState.RUNNING}' GROUP BY bucket"
        )
    }
    box_full = sum(n for b, n in running.items() if b not in uncapped) >= max_running
    return [b for b, limit in limits.items() if running.get(b, 0) < limit and (b in uncapped or not box_full)]


class JobStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.slurm = SlurmJobs(db)  # the Slurm executor's bookkeeping (ids, states, re-attach)
        # Sessions whose job's process has stopped but whose end a full disk refused to record
        # (its worker retries): a delete need not wait for them. In memory: one process's workers.
        self._stopped_unrecorded: set[int] = set()
        self._stopped_lock = threading.Lock()

    def mark_stopped_unrecorded(self, session_id: int, *, stopped: bool) -> None:
        """A worker says its process has stopped (True) or its end is now recorded (False)."""
        with self._stopped_lock:
            if stopped:
                self._stopped_unrecorded.add(session_id)
            else:
                self._stopped_unrecorded.discard(session_id)

    def stopped_unrecorded(self, session_id: int) -> bool:
        with self._stopped_lock:
            return session_id in self._stopped_unrecorded

    # ---- reading -------------------------------------------------------------------------
    def get(self, job_id: int) -> Job | None:
        row = self.db.query_one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return None if row is None else Job.from_row(row)

    def for_session(self, session_id: int) -> list[Job]:
        """Every job the session ever had, oldest first (re-runs add jobs; retries reuse one)."""
        rows = self.db.query("SELECT * FROM jobs WHERE session_id = ? ORDER BY id", (session_id,))
        return [Job.from_row(r) for r in rows]

    def has_queued(self) -> bool:
        """Cheap enough to ask many times a second: the scheduler's idle poll."""
        return self.db.query_one("SELECT 1 FROM jobs WHERE state = ? LIMIT 1", (JobState.QUEUED,)) is not None

    def queued_buckets(self) -> list[str]:
        return [
            str(r["bucket"])
            for r in self.db.query("SELECT DISTINCT bucket FROM jobs WHERE state = ?", (JobState.QUEUED,))
        ]

    def load(self) -> dict[str, BucketLoad]:
        """Queued and running jobs per bucket (getStatus.php, `magickbox buckets list`)."""
        rows = self.db.query(
            f"SELECT bucket, SUM(state = '{JobState.QUEUED}') AS"
            f" q, SUM(state = '{JobState.RUNNING}') AS r FROM jobs"
            f" WHERE state IN ('{JobState.QUEUED}', '{JobState.RUNNING}') GROUP BY bucket"
        )
        return {str(r["bucket"]): BucketLoad(int(r["q"]), int(r["r"])) for r in rows}

    # ---- the scheduler's side --------------------------------------------------------------
    def claim(
        self,
        owner: str,
        lease_s: float,
        limits: Mapping[str, int],
        max_running: int,
        uncapped: Collection[str] = (),
    ) -> Job | None:
        """Take the oldest queued job of a bucket with a free slot, under the global cap.

        The job becomes `running` with a lease and one more attempt; its session becomes
        `running` in the same transaction. None when nothing can start now. Buckets in `uncapped`
        (their jobs run on a cluster, not on the box) are held only by their own limit.
        """
        now = time.time()
        with self.db.transaction() as conn:
            open_buckets = _open_buckets(conn, limits, max_running, uncapped)
            if not open_buckets:
                return None
            marks = ",".join("?" * len(open_buckets))
            row = conn.execute(
                f"SELECT * FROM jobs WHERE state = '{JobState.QUEUED}'"
                f" AND bucket IN ({marks}) ORDER BY id LIMIT 1",
                open_buckets,
            ).fetchone()
            if row is None:
                return None
            job_id, session_id = int(row["id"]), int(row["session_id"])
            state = _session_state(conn, session_id)
            if state != SessionState.QUEUED:
                # Cannot happen through the store's functions; end the stray job rather than loop on it.
                conn.execute(
                    f"UPDATE jobs SET state = '{JobState.FAILED}', ended_at = ?, reason = ? WHERE id = ?",
                    (now, f"session was {state or 'deleted'} when the job came up", job_id),
                )
                return None
            conn.execute(
                f"UPDATE jobs SET state = '{JobState.RUNNING}', attempts = attempts + 1, lease_owner = ?,"
                " lease_until = ?, started_at = ?, ended_at = NULL, reason = '' WHERE id = ?",
                (owner, now + lease_s, now, job_id),
            )
            move_state(conn, session_id, SessionState.RUNNING, "", now, started_at=now, ended_at=None)
            claimed = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(claimed)

    def renew(self, job_id: int, owner: str, lease_s: float) -> Job | None:
        """Extend the lease; returns the job (see `cancel_requested`), or None if it is no longer ours."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND"
                f" lease_owner = ? AND state = '{JobState.RUNNING}'",
                (time.time() + lease_s, job_id, owner),
            )
            if cursor.rowcount == 0:
                return None
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(row)

    def cancel_requested(self, job_id: int) -> bool:
        row = self.db.query_one("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
        # A job deleted with its session counts as cancelled: stop working on it.
        return row is None or bool(row["cancel_requested"])

    def finish(
        self, job_id: int, owner: str, state: str, reason: str = "", exit_code: int | None = None
    ) -> bool:
        """End a running job (done, failed, cancelled) and its session. False if the lease was lost."""
        if state not in JOB_ENDED:
            raise ValueError(f"{state} is not an end state of a job")

        def end(conn: sqlite3.Connection, session_id: int, now: float) -> None:
            conn.execute(
                "UPDATE jobs SET state = ?, ended_at = ?, exit_code = ?, reason = ?, lease_owner = NULL,"
                " lease_until = NULL WHERE id = ?",
                (state, now, exit_code, reason, job_id),
            )
            end_session(conn, session_id, SESSION_OF_JOB_END[JobState(state)], reason, now)

        return change_leased(self.db, job_id, owner, end)

    def release(self, job_id: int, owner: str, reason: str) -> bool:
        """Give a running job back to the queue without counting the attempt (the box is stopping)."""

        def give_back(conn: sqlite3.Connection, session_id: int, now: float) -> None:
            conn.execute(
                f"UPDATE jobs SET state = '{JobState.QUEUED}',"
                " attempts = MAX(attempts - 1, 0), lease_owner = NULL,"
                " lease_until = NULL, started_at = NULL, reason = ? WHERE id = ?",
                (reason, job_id),
            )
            if _session_state(conn, session_id) == SessionState.RUNNING:
                move_state(conn, session_id, SessionState.QUEUED, reason, now, started_at=None, ended_at=None)

        return change_leased(self.db, job_id, owner, give_back)

    def fail_queued(self, bucket: str, reason: str) -> list[int]:
        """Fail every queued job of a bucket that cannot run (removed, disabled, invalid)."""
        now = time.time()
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT id, session_id FROM jobs WHERE state ="
                f" '{JobState.QUEUED}' AND bucket = ? ORDER BY id",
                (bucket,),
            ).fetchall()
            for row in rows:
                conn.execute(
                    f"UPDATE jobs SET state = '{JobState.FAILED}', ended_at = ?, reason = ? WHERE id = ?",
                    (now, reason, row["id"]),
                )
                if _session_state(conn, int(row["session_id"])) == SessionState.QUEUED:
                    move_state(conn, int(row["session_id"]), SessionState.FAILED, reason, now, ended_at=now)
        return [int(r["session_id"]) for r in rows]

    def recover(
        self,
        max_attempts: int,
        owner_is_gone: Callable[[str], bool],
        before: Callable[[Job], None] = lambda job: None,
        now: float | None = None,
    ) -> list[Recovered]:
        """Running jobs whose lease expired (or whose owner process is gone) go back to the queue.

        The attempt they were on stays counted; after `max_attempts` the job and session fail.
        `before(job)` runs first for each (the scheduler stops processes the old owner left).
        """
        now = time.time() if now is None else now
        # Slurm jobs are never re-run by lease expiry: the cluster still has them (see `slurm.adopt`).
        running = [
            Job.from_row(r)
            for r in self.db.query(
                f"SELECT * FROM jobs WHERE state = '{JobState.RUNNING}' AND executor = 'local'"
            )
        ]
        stale = [j for j in running if (j.lease_until or 0) < now or owner_is_gone(j.lease_owner or "")]
        recovered = []
        for job in stale:
            before(job)
            done = self._recover_one(job.id, job.lease_owner, max_attempts, now)
            if done is not None:
                recovered.append(done)
        return recovered

    def _recover_one(self, job_id: int, owner: str | None, max_attempts: int, now: float) -> Recovered | None:
        with self.db.transaction() as conn:
            row = conn.execute(
                f"SELECT * FROM jobs WHERE id = ? AND state = '{JobState.RUNNING}' AND lease_owner IS ?",
                (job_id, owner),
            ).fetchone()
            if row is None:
                return None
            job = Job.from_row(row)
            in_session = _session_state(conn, job.session_id) == SessionState.RUNNING
            if job.attempts < max_attempts:
                reason = f"attempt {job.attempts} was interrupted (the box stopped); queued again"
                conn.execute(
                    f"UPDATE jobs SET state = '{JobState.QUEUED}', lease_owner = NULL, lease_until = NULL,"
                    " started_at = NULL, reason = ? WHERE id = ?",
                    (reason, job_id),
                )
                if in_session:
                    move_state(
                        conn, job.session_id, SessionState.QUEUED, reason, now, started_at=None, ended_at=None
                    )
                return Recovered(job_id, job.session_id, True, reason)
            reason = f"gave up after {job.attempts} attempt(s); the last was interrupted (the box stopped)"
            conn.execute(
                f"UPDATE jobs SET state = '{JobState.FAILED}',"
                " lease_owner = NULL, lease_until = NULL, ended_at = ?,"
                " reason = ? WHERE id = ?",
                (now, reason, job_id),
            )
            if in_session:
                move_state(conn, job.session_id, SessionState.FAILED, reason, now, ended_at=now)
            return Recovered(job_id, job.session_id, False, reason)

    # ---- the API's side ----------------------------------------------------------------------
    def request_cancel(self, session_id: int) -> bool:
        """Cancel this session's job. True if there was one.

        A queued job ends at once (job and session cancelled together); a running one is flagged
        and its worker stops the bucket's process group and ends it.
        """
        now = time.time()
        reason = "cancelled on request"
        with self.db.transaction() as conn:
            queued = conn.execute(
                f"UPDATE jobs SET state = '{JobState.CANCELLED}',"
                " cancel_requested = 1, ended_at = ?, reason = ?"
                f" WHERE session_id = ? AND state = '{JobState.QUEUED}'",
                (now, reason, session_id),
            ).rowcount
            if queued and _session_state(conn, session_id) == SessionState.QUEUED:
                move_state(conn, session_id, SessionState.CANCELLED, reason, now, ended_at=now)
            running = conn.execute(
                f"UPDATE jobs SET cancel_requested = 1 WHERE session_id = ? AND state = '{JobState.RUNNING}'",
                (session_id,),
            ).rowcount
            return queued + running > 0
