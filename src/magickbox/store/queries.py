"""Read queries over the store: the session listing, counts, charts and bucket statistics.

Shared by the HTTP API, getScratch and the web page. Nothing here writes; every function is one
or two SELECTs, so lists stay fast with many sessions (no folder scans).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field

from magickbox.store.db import Database, where_sql
from magickbox.store.sessions import Session
from magickbox.store.states import SESSION_ENDED, JobState
from magickbox.store.studies import StudyFilter, filter_clauses

# Columns the free-text filter of the page searches, case-insensitively.
TEXT_COLUMNS = (
    "scratchdir",
    "pid",
    "calling_aet",
    "called_aet",
    "caller_ip",
    "bucket",
    "state",
    "description",
)


@dataclass(frozen=True)
class SessionFilter:
    """Which sessions to list (the page, /api/v1/sessions, getScratch); None or "" matches all."""

    caller: str | None = None  # calling AE title, exact
    bucket: str | None = None  # bucket folder name, exact
    state: str | None = None  # session state, exact
    since: float | None = None  # received at or after (epoch seconds)
    text: str = ""  # a substring of any of TEXT_COLUMNS or of the study index's search text
    # The study index's search and filters (q=, patient_id=, ...).
    study: StudyFilter = field(default_factory=StudyFilter)

    def where(self) -> tuple[str, list[object]]:
        """The SQL condition (with its leading WHERE, or empty) and its parameters."""
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (("calling_aet", self.caller), ("bucket", self.bucket), ("state", self.state)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.since is not None:
            clauses.append("received_at >= ?")
            params.append(self.since)
        if self.text:
            pattern = "%" + self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            indexed, indexed_params = filter_clauses(StudyFilter(q=self.text))
            alternatives = [f"IFNULL({c}, '') LIKE ? ESCAPE '\\'" for c in TEXT_COLUMNS] + indexed
            clauses.append("(" + " OR ".join(alternatives) + ")")
            params.extend([pattern] * len(TEXT_COLUMNS) + indexed_params)
        study_clauses, study_params = filter_clauses(self.study)
        clauses += study_clauses
        params += study_params
        return where_sql(clauses), params


@dataclass(frozen=True)
class SessionPage:
    total: int  # how many sessions match the filter
    sessions: list[Session]  # newest first, at most the limit


@dataclass(frozen=True)
class BucketStats:
    bucket: str
    queued: int
    running: int
    done: int
    failed: int
    avg_run_s: float | None  # mean run time of successful jobs


class Queries:
    """The read side of the store, for the edges (API, getScratch, pages, metrics)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def ping(self) -> None:
        """Raise if the database cannot answer (the health check)."""
        self.db.query_one("SELECT 1")

    def list_sessions(self, flt: SessionFilter, limit: int | None = 100, offset: int = 0) -> SessionPage:
        """Sessions matching `flt`, newest first (at most `limit`; None: all), and how many match."""
        where, params = flt.where()
        total_row = self.db.query_one(f"SELECT COUNT(*) AS n FROM sessions{where}", tuple(params))
        rows = self.db.query(
            f"SELECT * FROM sessions{where} ORDER BY received_at DESC, id DESC LIMIT ? OFFSET ?",
            (*params, -1 if limit is None else limit, offset),
        )
        return SessionPage(int(total_row["n"]) if total_row else 0, [Session.from_row(r) for r in rows])

    def session_count(self) -> int:
        row = self.db.query_one("SELECT COUNT(*) AS n FROM sessions")
        return int(row["n"]) if row else 0

    def sessions_version(self) -> str:
        """Changes whenever a session is added, changed or deleted (the page poll's ETag)."""
        row = self.db.query_one(
            "SELECT COUNT(*) AS n, MAX(updated_at) AS t, TOTAL(id) AS i, TOTAL(updated_at) AS u FROM sessions"
        )
        if row is None:
            return "0"
        return f"{row['n']}-{row['t'] or 0}-{row['i']}-{row['u']}"

    def session_buckets(self) -> set[str]:
        """The bucket names that sessions were made for (a removed bucket too)."""
        return {
            str(r["bucket"]) for r in self.db.query("SELECT DISTINCT bucket FROM sessions") if r["bucket"]
        }

    def received_since(self, since: float) -> list[float]:
        """When each session received at or after `since` arrived (epoch seconds)."""
        rows = self.db.query("SELECT received_at FROM sessions WHERE received_at >= ?", (since,))
        return [float(r["received_at"]) for r in rows]

    def processing_times(self, last: int = 40) -> list[tuple[str, float]]:
        """(scratchdir, seconds from start to end) of the most recently ended sessions, oldest first."""
        rows = self.db.query(
            "SELECT scratchdir, ended_at - started_at AS took FROM sessions"
            f" WHERE state IN ({','.join('?' * len(SESSION_ENDED))}) AND started_at IS NOT NULL"
            " AND ended_at IS NOT NULL ORDER BY ended_at DESC LIMIT ?",
            (*SESSION_ENDED, last),
        )
        return [(str(r["scratchdir"]), max(0.0, float(r["took"]))) for r in reversed(rows)]

    def sessions_with_pid(self, pid: str) -> list[Session]:
        rows = self.db.query("SELECT * FROM sessions WHERE pid = ? ORDER BY id", (pid,))
        return [Session.from_row(r) for r in rows]

    def count_by_state(self) -> dict[str, int]:
        rows = self.db.query("SELECT state, COUNT(*) AS n FROM sessions GROUP BY state")
        return {str(r["state"]): int(r["n"]) for r in rows}

    def bucket_stats(self) -> dict[str, BucketStats]:
        """Per bucket (folder name): jobs queued and running now, jobs done/failed, mean run time."""
        rows = self.db.query(
            "SELECT bucket, SUM(state = :queued) AS queued, SUM(state = :running) AS running,"
            " SUM(state = :done) AS done, SUM(state = :failed) AS failed,"
            " AVG(CASE WHEN state = :done AND started_at IS NOT NULL AND ended_at IS NOT NULL"
            "     THEN ended_at - started_at END) AS avg_run"
            " FROM jobs GROUP BY bucket",
            {
                "queued": JobState.QUEUED,
                "running": JobState.RUNNING,
                "done": JobState.DONE,
                "failed": JobState.FAILED,
            },
        )
        return {
            str(r["bucket"]): BucketStats(
                bucket=str(r["bucket"]),
                queued=int(r["queued"] or 0),
                running=int(r["running"] or 0),
                done=int(r["done"] or 0),
                failed=int(r["failed"] or 0),
                avg_run_s=None if r["avg_run"] is None else float(r["avg_run"]),
            )
            for r in rows
        }

    def latest_job(self, session_id: int) -> sqlite3.Row | None:
        return self.db.query_one(
            "SELECT * FROM jobs WHERE session_id = ? ORDER BY id DESC LIMIT 1", (session_id,)
        )

    def job_is_running(self, session_id: int, now: float | None = None) -> bool:
        """A job runs while its state is `running` and its lease has not run out (a dead worker's has)."""
        now = time.time() if now is None else now
        row = self.db.query_one(
            "SELECT 1 FROM jobs WHERE session_id = ? AND state = ?"
            " AND (lease_until IS NULL OR lease_until > ?) LIMIT 1",
            (session_id, JobState.RUNNING, now),
        )
        return row is not None

    def received_totals(self) -> tuple[int, int]:
        """Instances and bytes received: the counters (kept by a trigger, see schema.py) survive
        deleted sessions; a store without them yet sums the sessions it has."""
        counters = {
            str(r["name"]): int(r["value"])
            for r in self.db.query(
                "SELECT name, value FROM counters WHERE name IN ('received_instances', 'received_bytes')"
            )
        }
        if counters:
            return counters.get("received_instances", 0), counters.get("received_bytes", 0)
        row = self.db.query_one(
            "SELECT COALESCE(SUM(instances), 0) AS i, COALESCE(SUM(bytes), 0) AS b FROM sessions"
        )
        return (int(row["i"]), int(row["b"])) if row else (0, 0)
