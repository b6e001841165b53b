"""The audit log: an append-only record of who did what to which session.

Entries are inserted and, after `audit_days`, rotated away; nothing updates one. An entry names
its session by scratchdir, pid and Study Instance UID (not by row id), so it outlives the session.
A write the full disk refuses is held in memory and written by the next `flush` (the housekeeping
stage calls it), so freeing space on a full disk is never blocked by its own audit entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Final

from magickbox.errors import StoreFull
from magickbox.store.db import Database, set_conditions, where_sql

log = logging.getLogger(__name__)

ANONYMOUS: Final = "anonymous"  # an open box (no token exists): who it was is unknown
# Actions, as stored in `action` (docs/retention.md lists them).
ACTIONS: Final = (
    "delete", "auto-delete", "remove-input", "remove-output", "download-zip", "download-file",
    "keep", "unkeep", "cancel", "rerun", "routing-change", "bucket-enable", "bucket-disable",
    "token-create", "token-revoke", "view", "list", "upload", "retrieval-create", "retrieval-cancel",
    "webhook-change", "webhook-test", "delivery-retry",
)  # fmt: skip
_COLUMNS: Final = "at, actor, via, ip, action, scratchdir, pid, study_uid, detail, bytes"


@dataclass(frozen=True)
class Actor:
    """Who asked: a token's name (or 'anonymous'), how (api, web, mb, cli, keep) and from where."""

    name: str
    via: str = "api"
    ip: str = ""


@dataclass(frozen=True)
class AuditEntry:
    at: float
    actor: str
    via: str
    ip: str
    action: str
    scratchdir: str = ""
    pid: str = ""
    study_uid: str = ""
    detail: str = ""
    bytes: int | None = None

    def as_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


@dataclass(frozen=True)
class AuditFilter:
    scratchdir: str | None = None
    action: str | None = None
    since: float | None = None


class AuditLog:
    """Appends entries and reads them back; the store's only writer of `audit_log`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._held: list[AuditEntry] = []
        self._lock = threading.Lock()

    def record(self, entry: AuditEntry) -> None:
        """Append one entry; on a full disk it waits in memory for `flush` (never raises StoreFull)."""
        try:
            self._insert([entry])
        except StoreFull:
            log.warning("audit entry %s %s held until the store can write", entry.action, entry.scratchdir)
            with self._lock:
                self._held.append(entry)

    def flush(self) -> int:
        """Write the entries a full disk held back; returns how many still wait."""
        with self._lock:
            held, self._held = self._held, []
        if not held:
            return 0
        try:
            self._insert(held)
        except StoreFull:
            with self._lock:
                self._held[:0] = held
        return len(self._held)

    def _insert(self, entries: list[AuditEntry]) -> None:
        with self.db.transaction() as conn:
            for entry in entries:
                self.insert_in(conn, entry)

    @staticmethod
    def insert_in(conn: sqlite3.Connection, entry: AuditEntry) -> None:
        """Append inside the caller's transaction (so the entry and the change commit together)."""
        conn.execute(
            f"INSERT INTO audit_log({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            tuple(asdict(entry).values()),
        )

    def entries(self, flt: AuditFilter, limit: int = 100, offset: int = 0) -> tuple[int, list[AuditEntry]]:
        """One page, newest first, and how many entries match in all."""
        where, params = _where(flt)
        total = self.db.query_one(f"SELECT COUNT(*) AS n FROM audit_log{where}", tuple(params))
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM audit_log{where} ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return (int(total["n"]) if total else 0), [AuditEntry(**dict(r)) for r in rows]

    def export(self, flt: AuditFilter, batch: int = 1000) -> Iterator[str]:
        """Every matching entry, oldest first, one JSON object per line (JSON lines)."""
        where, params = _where(flt)
        last_id = 0
        joiner = " AND " if where else " WHERE "
        while True:
            rows = self.db.query(
                f"SELECT id, {_COLUMNS} FROM audit_log{where}{joiner}id > ? ORDER BY id LIMIT ?",
                (*params, last_id, batch),
            )
            if not rows:
                return
            for row in rows:
                values = dict(row)
                last_id = int(values.pop("id"))
                yield AuditEntry(**values).as_json() + "\n"

    def rotate(self, keep_days: float, now: float | None = None) -> int:
        """Drop entries older than `keep_days` (0: keep every entry); returns how many went."""
        if keep_days <= 0:
            return 0
        limit = (time.time() if now is None else now) - keep_days * 86400
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM audit_log WHERE at < ?", (limit,)).rowcount

    def token_name(self, secret: str) -> str | None:
        """The name of an active token (or 'token <id>' for an unnamed one); None if unknown."""
        digest = hashlib.sha256(secret.encode("utf-8")).hexdigest()
        row = self.db.query_one(
            "SELECT id, name FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL", (digest,)
        )
        if row is None:
            return None
        return str(row["name"]) or f"token {row['id']}"


def _where(flt: AuditFilter) -> tuple[str, list[object]]:
    clauses, params = set_conditions(
        [("scratchdir = ?", flt.scratchdir), ("action = ?", flt.action), ("at >= ?", flt.since)]
    )
    return where_sql(clauses), params
