"""The notification outbox: events, their planned sends to webhooks, and every attempt.

Session ends and given-up deliveries are written by triggers (store/schema.py) in the transaction
of the state change itself; other stages call `record` (disk.high, retrieval.done). The notify
stage plans each new event once (`plan`, one transaction: its sends and the events it implies),
then claims due sends with a lease and records each try (`finish`), so a send is repeated until
the receiver answers 2xx or the give-up time has passed: at least once, across restarts.
"""

from __future__ import annotations

import json
import math
import secrets
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from magickbox.store.db import Database
from magickbox.store.sessions import Session
from magickbox.store.states import SESSION_SETTLED

PENDING: Final = "pending"
SENDING: Final = "sending"
DONE: Final = "done"
FAILED: Final = "failed"
DROPPED: Final = "dropped"  # its webhook was removed from the configuration before it was sent

# The batch summary looks back at most this far for the first run of a sender.
BATCH_LOOKBACK_S: Final = 86400.0


@dataclass(frozen=True)
class Event:
    id: int
    event_id: str
    event: str
    at: float
    session_id: int | None
    scratchdir: str | None
    bucket: str | None
    caller: str | None
    detail: dict[str, Any]
    only_url: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Event:
        return cls(
            id=int(row["id"]), event_id=row["event_id"], event=row["event"], at=float(row["at"]),
            session_id=row["session_id"], scratchdir=row["scratchdir"], bucket=row["bucket"],
            caller=row["caller"], detail=json.loads(row["detail"] or "{}"), only_url=row["only_url"],
        )  # fmt: skip


@dataclass(frozen=True)
class NewEvent:
    """An event implied by another (bucket.failing, batch.finished), recorded when it is planned."""

    event: str
    bucket: str | None
    caller: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class Send:
    id: int
    url: str
    body: str
    attempts: int
    give_up_at: float


def iso(ts: float | None) -> str | None:
    """A time as the API shows it (ISO 8601, UTC)."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def public_fields(s: Session) -> dict[str, Any]:
    """A session as `/api/v1/sessions/{scratchdir}` shows it (its summary fields)."""
    settled = s.state in SESSION_SETTLED
    end = s.ended_at if s.ended_at is not None else s.updated_at
    return {
        "scratchdir": s.scratchdir, "pid": s.pid, "status": s.state, "routing": s.routing,
        "source": s.source, "bucket": s.bucket, "caller": s.calling_aet, "called": s.called_aet,
        "caller_ip": s.caller_ip, "reason": s.reason, "received_at": iso(s.received_at) or "",
        "sealed_at": iso(s.sealed_at), "started_at": iso(s.started_at), "ended_at": iso(s.ended_at),
        "processing_seconds": max(1, math.ceil(end - s.received_at)) if settled else None,
        "instances": s.instances, "bytes": s.bytes, "arguments": s.arguments,
        "description": s.description,
    }  # fmt: skip


def _insert_event(
    conn: sqlite3.Connection, event: NewEvent, now: float, *, session_id: int | None = None,
    scratchdir: str | None = None, only_url: str | None = None,
) -> str:  # fmt: skip
    event_id = secrets.token_hex(16)
    conn.execute(
        "INSERT INTO notification_events(event_id, event, at, session_id, scratchdir, bucket, caller,"
        " detail, only_url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (event_id, event.event, now, session_id, scratchdir, event.bucket, event.caller,
         json.dumps(event.detail), only_url),
    )  # fmt: skip
    return event_id


class NotificationStore:
    """The outbox's state and the queries the notify stage, the API and the page need."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self, event: str, detail: dict[str, Any] | None = None, *, session_id: int | None = None,
        only_url: str | None = None,
    ) -> str:  # fmt: skip
        """Record an event for the webhooks that want it (e.g. `disk.high` with the free bytes).

        Returns its event id. With `session_id` the body carries that session's public fields.
        """
        with self.db.transaction() as conn:
            row = None
            if session_id is not None:
                row = conn.execute(
                    "SELECT scratchdir, bucket, calling_aet FROM sessions WHERE id = ?", (session_id,)
                ).fetchone()
            new = NewEvent(event, row["bucket"] if row else None, row["calling_aet"] if row else None,
                           detail or {})  # fmt: skip
            return _insert_event(
                conn, new, time.time(), session_id=session_id,
                scratchdir=row["scratchdir"] if row else None, only_url=only_url,
            )  # fmt: skip

    def unplanned(self, limit: int = 100) -> list[Event]:
        rows = self.db.query(
            "SELECT * FROM notification_events WHERE expanded = 0 ORDER BY id LIMIT ?", (limit,)
        )
        return [Event.from_row(r) for r in rows]

    def plan(self, event: Event, sends: list[tuple[str, str]], implied: list[NewEvent], *,
             give_up_s: float) -> None:  # fmt: skip
        """Mark `event` planned, queue its (url, body) sends and record the events it implies."""
        now = time.time()
        with self.db.transaction() as conn:
            done = conn.execute(
                "UPDATE notification_events SET expanded = 1 WHERE id = ? AND expanded = 0", (event.id,)
            )
            if done.rowcount == 0:
                return  # planned by another process meanwhile
            for url, body in sends:
                conn.execute(
                    "INSERT INTO notification_sends(event_row, url, body, state, next_try_at, give_up_at)"
                    " VALUES (?, ?, ?, 'pending', ?, ?)",
                    (event.id, url, body, now, now + give_up_s),
                )
            for new in implied:
                _insert_event(conn, new, now)

    def claim_due(self, lease_s: float, limit: int = 20) -> list[Send]:
        """Take the sends that are due (or whose claimant died) for `lease_s` seconds."""
        now = time.time()
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT id, url, body, attempts, give_up_at FROM notification_sends"
                " WHERE (state = 'pending' AND next_try_at <= ?) OR (state = 'sending' AND lease_until < ?)"
                " ORDER BY id LIMIT ?",
                (now, now, limit),
            ).fetchall()
            for row in rows:
                conn.execute(
                    "UPDATE notification_sends SET state = 'sending', lease_until = ? WHERE id = ?",
                    (now + lease_s, row["id"]),
                )
        return [
            Send(int(r["id"]), r["url"], r["body"], int(r["attempts"]), float(r["give_up_at"])) for r in rows
        ]

    def release_claims(self) -> int:
        """At the start of the notify stage: sends a stopped process was posting are due again."""
        with self.db.transaction() as conn:
            return conn.execute(
                "UPDATE notification_sends SET state = 'pending', lease_until = NULL WHERE state = 'sending'"
            ).rowcount

    def finish(self, send: Send, status: int | None, error: str, retry_in: float) -> str:
        """Log one try of `send`; done on 2xx, else due again in `retry_in` s or failed past give-up."""
        now = time.time()
        if not error and status is not None and 200 <= status < 300:
            state, next_try = DONE, now
        elif now + retry_in > send.give_up_at:
            state, next_try = FAILED, now
        else:
            state, next_try = PENDING, now + retry_in
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO notification_attempts(send_id, at, status, error) VALUES (?, ?, ?, ?)",
                (send.id, now, status, error),
            )
            conn.execute(
                "UPDATE notification_sends SET state = ?, attempts = attempts + 1, next_try_at = ?,"
                " lease_until = NULL, last_error = ?, finished_at = ? WHERE id = ?",
                (state, next_try, error, now if state in (DONE, FAILED) else None, send.id),
            )
        return state

    def drop(self, send: Send, reason: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE notification_sends SET state = 'dropped', lease_until = NULL, last_error = ?,"
                " finished_at = ? WHERE id = ?",
                (reason, time.time(), send.id),
            )

    def session(self, session_id: int) -> Session | None:
        row = self.db.query_one("SELECT * FROM sessions WHERE id = ?", (session_id,))
        return None if row is None else Session.from_row(row)

    def failing_streak(self, bucket: str, until: float) -> int:
        """How many of the bucket's latest runs ended `failed` in a row, up to `until`."""
        rows = self.db.query(
            "SELECT state FROM sessions WHERE bucket = ? AND state IN ('finished', 'failed')"
            " AND ended_at <= ? ORDER BY ended_at DESC LIMIT 1000",
            (bucket, until),
        )
        streak = 0
        for row in rows:
            if row["state"] != "failed":
                break
            streak += 1
        return streak

    def batch_summary(self, event: Event) -> dict[str, Any] | None:
        """Counts by state of the sender's sessions since its last batch, once none is in the pipeline.

        None while the sender still has work in the box or an end of its is still to be planned (the
        last one reports), and for a run of a single session.
        """
        caller = event.caller
        busy = self.db.query_one(
            "SELECT 1 FROM sessions WHERE calling_aet = ? AND state IN ('receiving', 'queued', 'running')"
            " UNION ALL SELECT 1 FROM notification_events WHERE caller = ? AND expanded = 0"
            " AND event LIKE 'session.%' AND id > ? LIMIT 1",
            (caller, caller, event.id),
        )
        if busy is not None:
            return None
        last = self.db.query_one(
            "SELECT MAX(at) AS at FROM notification_events WHERE event = 'batch.finished' AND caller = ?",
            (caller,),
        )
        since = max(last["at"] if last and last["at"] else 0.0, event.at - BATCH_LOOKBACK_S)
        rows = self.db.query(
            "SELECT state, COUNT(*) AS n FROM sessions WHERE calling_aet = ? AND updated_at > ?"
            " AND state IN ('finished', 'failed', 'incomplete', 'cancelled') GROUP BY state",
            (caller, since),
        )
        counts = {r["state"]: int(r["n"]) for r in rows}
        if sum(counts.values()) < 2:
            return None
        return {"sessions": sum(counts.values()), "by_status": counts, "since": iso(since)}

    def attempts_log(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest tries, newest first, for the page and GET /api/v1/notifications."""
        rows = self.db.query(
            "SELECT a.at, a.status, a.error, s.id AS send_id, s.url, s.state, s.attempts, e.event,"
            " e.event_id, e.scratchdir FROM notification_attempts a"
            " JOIN notification_sends s ON s.id = a.send_id"
            " JOIN notification_events e ON e.id = s.event_row ORDER BY a.id DESC LIMIT ?",
            (limit,),
        )
        return [{**dict(r), "at": iso(r["at"])} for r in rows]
