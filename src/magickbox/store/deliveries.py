"""Deliveries: the routed sends of a session's files, one row per (session, destination).

A row exists before anything is sent (crash safety), a sender claims it with a lease (so a
sender that died is replaced once the lease runs out, also across processes), and every
attempt ends in one transaction that records the per-file outcome, the next try or the end,
and the session's `routing` field.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from magickbox.config import Settings
from magickbox.errors import Conflict, NotFound
from magickbox.loop import Backoff
from magickbox.store.db import Database, RowModel
from magickbox.store.sessions import Session
from magickbox.store.states import DELIVERY_OPEN, DeliveryState, RoutingState, SessionState
from magickbox.store.transitions import record_event

# Short names for the states, used throughout this module.
PENDING: Final = DeliveryState.PENDING
SENDING: Final = DeliveryState.SENDING
DONE: Final = DeliveryState.DONE
FAILED: Final = DeliveryState.FAILED
SUPERSEDED: Final = DeliveryState.SUPERSEDED
CANCELLED: Final = DeliveryState.CANCELLED
OPEN: Final = DELIVERY_OPEN
HOST: Final = socket.gethostname()


def _owner() -> str:
    return f"{HOST}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Target:
    """Where a delivery goes and what it sends: one matching destination of a routing rule."""

    rule_index: int
    rule_name: str
    send_key: str
    ip: str
    port: int
    calling_aet: str
    called_aet: str
    folder: str  # OUTPUT | INPUT


@dataclass(frozen=True)
class NewDelivery(Target):
    """A delivery to record, with the optional `which` filter (groups of (tag, pattern))."""

    which: tuple[tuple[tuple[str, str], ...], ...] | None

    def identity(self) -> tuple[object, ...]:
        """What makes two planned deliveries the same send (rule and key do not)."""
        return (self.ip, self.port, self.calling_aet, self.called_aet, self.folder, self.which)


@dataclass(frozen=True)
class Delivery(Target, RowModel):
    id: int
    session_id: int
    planned_at: float
    which: str | None  # the `which` filter as JSON
    state: str
    attempts: int
    next_try_at: float
    give_up_at: float
    last_try_at: float | None
    last_error: str
    finished_at: float | None
    lease_until: float | None
    files_sent: int
    files_failed: int
    files_skipped: int

    @property
    def which_groups(self) -> list[list[tuple[str, str]]] | None:
        if self.which is None:
            return None
        return [[(tag, pattern) for tag, pattern in group] for group in json.loads(self.which)]


@dataclass(frozen=True)
class FileResult:
    path: str  # relative to the routed folder
    outcome: str  # sent | failed | skipped
    status: int | None = None
    detail: str = ""


def _event(conn: sqlite3.Connection, session_id: int, detail: str, now: float) -> None:
    record_event(conn, session_id, "routing", detail, now)


def session_routing(conn: sqlite3.Connection, session_id: int) -> RoutingState:
    """none | pending | routed | failed, from the deliveries of the session's latest evaluation."""
    rows = conn.execute(
        "SELECT d.state FROM deliveries d JOIN sessions s ON s.id = d.session_id"
        " WHERE d.session_id = ? AND d.planned_at = s.route_checked_at",
        (session_id,),
    ).fetchall()
    states = {r["state"] for r in rows}
    if not states:
        return RoutingState.NONE
    if FAILED in states:
        return RoutingState.FAILED
    if states & set(OPEN):
        return RoutingState.PENDING
    return RoutingState.ROUTED


def _refresh(conn: sqlite3.Connection, session_id: int, now: float) -> None:
    row = conn.execute("SELECT routing FROM sessions WHERE id = ?", (session_id,)).fetchone()
    if row is None:
        return
    routing = session_routing(conn, session_id)
    if routing != row["routing"]:
        conn.execute(
            "UPDATE sessions SET routing = ?, updated_at = ? WHERE id = ?", (routing, now, session_id)
        )
        _event(conn, session_id, routing, now)


class DeliveryStore:
    def __init__(self, db: Database, backoff: Backoff, give_up_s: float) -> None:
        self.db = db
        self.backoff = backoff
        self.give_up_s = give_up_s

    # ---- the router: which sessions to evaluate, and recording the plan --------------------------
    def sessions_to_route(self, limit: int = 50) -> list[Session]:
        rows = self.db.query(
            f"SELECT * FROM sessions WHERE state IN ('{SessionState.FINISHED}',"
            f" '{SessionState.FAILED}') AND ended_at IS NOT NULL"
            " AND (route_checked_at IS NULL OR route_checked_at < ended_at) ORDER BY ended_at LIMIT ?",
            (limit,),
        )
        return [Session.from_row(r) for r in rows]

    def plan(self, session_id: int, planned: Iterable[NewDelivery], now: float | None = None) -> list[int]:
        """Record the deliveries of one evaluation and mark the session checked, in one transaction.

        Open deliveries of an earlier evaluation (the session was processed again) are superseded.
        Returns the new delivery ids; none if another router got there first.
        """
        now = time.time() if now is None else now
        ids: list[int] = []
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT ended_at, route_checked_at FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
            if row is None or row["ended_at"] is None:
                return []
            if row["route_checked_at"] is not None and row["route_checked_at"] >= row["ended_at"]:
                return []
            now = max(now, float(row["ended_at"]))  # keeps route_checked_at >= ended_at
            conn.execute(
                f"UPDATE deliveries SET state = '{DeliveryState.SUPERSEDED}',"
                " lease_until = NULL, finished_at = ?"
                f" WHERE session_id = ? AND state IN ('{DeliveryState.PENDING}', '{DeliveryState.SENDING}')",
                (now, session_id),
            )
            for item in planned:
                cursor = conn.execute(
                    "INSERT INTO deliveries(session_id, planned_at, rule_index, rule_name, send_key, ip,"
                    " port, calling_aet, called_aet, folder, which, state, next_try_at, give_up_at)"
                    f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{DeliveryState.PENDING}', ?, ?)",
                    (
                        session_id, now, item.rule_index, item.rule_name, item.send_key, item.ip,
                        item.port, item.calling_aet, item.called_aet, item.folder,
                        None if item.which is None else json.dumps([list(g) for g in item.which]),
                        now, now + self.give_up_s,
                    ),
                )  # fmt: skip
                ids.append(int(cursor.lastrowid or 0))
            routing = RoutingState.PENDING if ids else RoutingState.NONE
            conn.execute(
                "UPDATE sessions SET route_checked_at = ?, routing = ?, updated_at = ? WHERE id = ?",
                (now, routing, now, session_id),
            )
            if ids:  # "nothing to route" is not worth a line in the session's history
                _event(conn, session_id, f"{routing}: {len(ids)} deliveries", now)
        return ids

    # ---- the senders -------------------------------------------------------------------------------
    def claim(
        self, lease_s: float, busy: Iterable[tuple[str, int]] = (), now: float | None = None
    ) -> Delivery | None:
        """Take the next due delivery, skipping destinations that are being sent to already.

        A `sending` row whose lease ran out belongs to a sender that died: it is due again.
        """
        now = time.time() if now is None else now
        skip = set(busy)
        with self.db.transaction() as conn:
            rows = conn.execute(
                f"SELECT * FROM deliveries WHERE (state = '{DeliveryState.PENDING}' AND next_try_at <= ?)"
                f" OR (state = '{DeliveryState.SENDING}' AND"
                " lease_until < ?) ORDER BY next_try_at, id LIMIT 200",
                (now, now),
            ).fetchall()
            chosen = next((r for r in rows if (r["ip"], r["port"]) not in skip), None)
            if chosen is None:
                return None
            conn.execute(
                f"UPDATE deliveries SET state = '{DeliveryState.SENDING}', lease_until = ?, last_try_at = ?,"
                " attempts = attempts + 1 WHERE id = ?",
                (now + lease_s, now, chosen["id"]),
            )
            conn.execute(
                "INSERT OR REPLACE INTO delivery_claims(delivery_id, owner) VALUES (?, ?)",
                (chosen["id"], _owner()),
            )
            row = conn.execute("SELECT * FROM deliveries WHERE id = ?", (chosen["id"],)).fetchone()
        return Delivery.from_row(row)

    def release_dead_claims(self) -> int:
        """Deliveries claimed by a process of this host that no longer runs are due at once.

        (Claims of other hosts wait for their lease.) Returns how many were released.
        """
        rows = self.db.query(
            "SELECT c.delivery_id, c.owner FROM delivery_claims c JOIN deliveries d"
            f" ON d.id = c.delivery_id WHERE d.state = '{DeliveryState.SENDING}'"
        )
        dead = []
        for row in rows:
            host, _, pid = str(row["owner"]).rpartition(":")
            if host == HOST and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                dead.append(int(row["delivery_id"]))
        with self.db.transaction() as conn:
            for delivery_id in dead:
                conn.execute(
                    "UPDATE deliveries SET lease_until = 0 WHERE"
                    f" id = ? AND state = '{DeliveryState.SENDING}'",
                    (delivery_id,),
                )
                conn.execute("DELETE FROM delivery_claims WHERE delivery_id = ?", (delivery_id,))
        return len(dead)

    def renew(self, delivery_id: int, lease_s: float) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                f"UPDATE deliveries SET lease_until = ? WHERE id = ? AND state = '{DeliveryState.SENDING}'",
                (time.time() + lease_s, delivery_id),
            )

    def sent_paths(self, delivery_id: int) -> set[str]:
        rows = self.db.query(
            "SELECT path FROM delivery_files WHERE delivery_id = ? AND outcome = 'sent'", (delivery_id,)
        )
        return {str(r["path"]) for r in rows}

    def finish_attempt(
        self,
        delivery_id: int,
        results: Sequence[FileResult],
        error: str = "",
        now: float | None = None,
        interrupted: bool = False,
    ) -> Delivery:
        """Record an attempt: done when nothing failed, else a later try, or failed after give-up.

        `interrupted` (the box is stopping): keep what was sent, try again at once, not counted.
        """
        now = time.time() if now is None else now
        with self.db.transaction() as conn:
            row = conn.execute("SELECT * FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
            if row is None:
                raise NotFound(f"delivery {delivery_id} does not exist")
            # Outcomes other than `sent` are this attempt's word only (a file may be gone since).
            conn.execute(
                "DELETE FROM delivery_files WHERE delivery_id = ? AND outcome != 'sent'", (delivery_id,)
            )
            for result in results:
                conn.execute(
                    "INSERT OR REPLACE INTO delivery_files(delivery_id, path, outcome, status, detail, at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (delivery_id, result.path, result.outcome, result.status, result.detail, now),
                )
            counts = {
                r["outcome"]: int(r["n"])
                for r in conn.execute(
                    "SELECT outcome, COUNT(*) AS n FROM delivery_files WHERE delivery_id = ?"
                    " GROUP BY outcome",
                    (delivery_id,),
                )
            }
            if not error and counts.get("failed", 0):
                error = f"{counts['failed']} file(s) not stored by the destination"
            attempts = int(row["attempts"])
            if row["state"] != SENDING:
                state, next_try, finished = row["state"], row["next_try_at"], row["finished_at"]
            elif interrupted:
                state, next_try, finished, attempts = PENDING, now, None, max(attempts - 1, 0)
            elif not error:
                state, next_try, finished = DONE, row["next_try_at"], now
            elif now >= row["give_up_at"]:
                state, next_try, finished = FAILED, row["next_try_at"], now
            else:
                state, next_try, finished = PENDING, self.backoff.next_attempt_at(attempts, now), None
            conn.execute(
                "UPDATE deliveries SET state = ?, next_try_at = ?, finished_at = ?, lease_until = NULL,"
                " attempts = ?, last_error = ?, files_sent = ?, files_failed = ?, files_skipped = ?"
                " WHERE id = ?",
                (
                    state, next_try, finished, attempts, error, counts.get("sent", 0),
                    counts.get("failed", 0), counts.get("skipped", 0), delivery_id,
                ),
            )  # fmt: skip
            conn.execute("DELETE FROM delivery_claims WHERE delivery_id = ?", (delivery_id,))
            _refresh(conn, int(row["session_id"]), now)
        return self.get(delivery_id)

    def cancel(self, delivery_id: int, reason: str) -> None:
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute(
                f"UPDATE deliveries SET state = '{DeliveryState.CANCELLED}',"
                " lease_until = NULL, finished_at = ?,"
                " last_error = ? WHERE id = ?",
                (now, reason, delivery_id),
            )
            conn.execute("DELETE FROM delivery_claims WHERE delivery_id = ?", (delivery_id,))

    # ---- users ----------------------------------------------------------------------------------------
    def retry(self, delivery_id: int) -> Delivery:
        """ "Send again": due now, with a fresh give-up window. A done delivery sends all files again."""
        now = time.time()
        with self.db.transaction() as conn:
            row = conn.execute("SELECT * FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
            if row is None:
                raise NotFound(f"delivery {delivery_id} does not exist")
            if row["state"] == SENDING:
                raise Conflict(f"delivery {delivery_id} is being sent right now")
            if row["state"] in (SUPERSEDED, CANCELLED):
                raise Conflict(f"delivery {delivery_id} is {row['state']}; its session was routed again")
            if row["state"] == DONE:
                conn.execute("DELETE FROM delivery_files WHERE delivery_id = ?", (delivery_id,))
            conn.execute(
                f"UPDATE deliveries SET state = '{DeliveryState.PENDING}', next_try_at = ?, give_up_at = ?,"
                " finished_at = NULL WHERE id = ?",
                (now, now + self.give_up_s, delivery_id),
            )
            _refresh(conn, int(row["session_id"]), now)
        return self.get(delivery_id)

    def get(self, delivery_id: int) -> Delivery:
        row = self.db.query_found(
            "SELECT * FROM deliveries WHERE id = ?", (delivery_id,), f"delivery {delivery_id} does not exist"
        )
        return Delivery.from_row(row)

    def for_session(self, session_id: int) -> list[Delivery]:
        rows = self.db.query("SELECT * FROM deliveries WHERE session_id = ? ORDER BY id", (session_id,))
        return [Delivery.from_row(r) for r in rows]

    def files(self, delivery_id: int) -> list[FileResult]:
        rows = self.db.query(
            "SELECT path, outcome, status, detail FROM delivery_files WHERE delivery_id = ? ORDER BY path",
            (delivery_id,),
        )
        return [FileResult(r["path"], r["outcome"], r["status"], r["detail"]) for r in rows]


def delivery_store(db: Database, settings: Settings) -> DeliveryStore:
    """The deliveries of a store, with the retry settings."""
    backoff = Backoff(settings.route_retry_initial_s, settings.route_retry_max_s)
    return DeliveryStore(db, backoff, settings.route_give_up_s)
