"""Read queries over the store: session lists with filters and paging, counts, bucket statistics.

Shared by the HTTP API and the web page. Nothing here writes; every function is one or two
SELECTs, so lists stay fast with many sessions (no folder scans).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from magickbox.store.db import Database
from magickbox.store.sessions import Session

# Sessions that will not change any more without a user action (re-run, delete).
SETTLED_STATES = ("finished", "failed", "cancelled", "incomplete")


@dataclass(frozen=True)
class SessionFilter:
    caller: str | None = None  # calling AE title, exact
    bucket: str | None = None  # bucket folder name, exact
    status: str | None = None  # session state, exact
    since: float | None = None  # received at or after (epoch seconds)


@dataclass(frozen=True)
class BucketStats:
    bucket: str
    queued: int
    running: int
    done: int
    failed: int
    avg_run_s: float | None  # mean run time of successful jobs


def _where(flt: SessionFilter) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    for column, value in (
        ("calling_aet", flt.caller),
        ("bucket", flt.bucket),
        ("state", flt.status),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if flt.since is not None:
        clauses.append("received_at >= ?")
        params.append(flt.since)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def list_sessions(
    db: Database, flt: SessionFilter, limit: int = 100, offset: int = 0
) -> tuple[int, list[Session]]:
    """One page of sessions matching `flt`, newest first, and the total number that match."""
    where, params = _where(flt)
    total_row = db.query_one(f"SELECT COUNT(*) AS n FROM sessions{where}", tuple(params))
    total = int(total_row["n"]) if total_row else 0
    rows = db.query(
        f"SELECT * FROM sessions{where} ORDER BY received_at DESC, id DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    return total, [Session.from_row(r) for r in rows]


def sessions_with_pid(db: Database, pid: str) -> list[Session]:
    rows = db.query("SELECT * FROM sessions WHERE pid = ? ORDER BY id", (pid,))
    return [Session.from_row(r) for r in rows]


def count_by_state(db: Database) -> dict[str, int]:
    rows = db.query("SELECT state, COUNT(*) AS n FROM sessions GROUP BY state")
    return {str(r["state"]): int(r["n"]) for r in rows}


def bucket_stats(db: Database) -> dict[str, BucketStats]:
    """Per bucket (folder name): jobs queued and running now, jobs done/failed, mean run time."""
    rows = db.query(
        "SELECT bucket,"
        " SUM(state = 'queued') AS queued, SUM(state = 'running') AS running,"
        " SUM(state = 'done') AS done, SUM(state = 'failed') AS failed,"
        " AVG(CASE WHEN state = 'done' AND started_at IS NOT NULL AND ended_at IS NOT NULL"
        "     THEN ended_at - started_at END) AS avg_run"
        " FROM jobs GROUP BY bucket"
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


def latest_job(db: Database, session_id: int) -> sqlite3.Row | None:
    return db.query_one("SELECT * FROM jobs WHERE session_id = ? ORDER BY id DESC LIMIT 1", (session_id,))


def job_is_running(db: Database, session_id: int, now: float | None = None) -> bool:
    """A job runs while its state is `running` and its lease has not run out (a dead worker's has)."""
    now = time.time() if now is None else now
    row = db.query_one(
        "SELECT 1 FROM jobs WHERE session_id = ? AND state = 'running'"
        " AND (lease_until IS NULL OR lease_until > ?) LIMIT 1",
        (session_id, now),
    )
    return row is not None


def received_totals(db: Database) -> tuple[int, int]:
    """Instances and bytes received: the counters (kept by a trigger, see schema.py) survive deleted
    sessions; a store without them yet sums the sessions it has."""
    counters = {
        str(r["name"]): int(r["value"])
        for r in db.query(
            "SELECT name, value FROM counters WHERE name IN ('received_instances', 'received_bytes')"
        )
    }
    if counters:
        return counters.get("received_instances", 0), counters.get("received_bytes", 0)
    row = db.query_one("SELECT COALESCE(SUM(instances), 0) AS i, COALESCE(SUM(bytes), 0) AS b FROM sessions")
    return (int(row["i"]), int(row["b"])) if row else (0, 0)
