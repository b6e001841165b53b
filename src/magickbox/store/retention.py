"""Retention: which sessions housekeeping may delete or trim, kept sessions, sweep requests.

The housekeeping stage (`magickbox.keep`) decides *why* (age, watermark); this module owns the SQL
and the one crash-safe way to take a session away: under the write lock it checks that the
session may still go and appends the audit entry; then it renames the folder to its tombstone
and the store's usual delete path empties it and forgets the records. A kill at any point leaves
either the whole session (deleted again, and audited again, by the next sweep) or a tombstone
that the next start (or sweep) finishes; never a deletion without its audit entry.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from magickbox.errors import Conflict, StoreFull
from magickbox.files import DiskUse, disk_use, folder_bytes
from magickbox.store.audit import AuditEntry, AuditLog
from magickbox.store.db import Database
from magickbox.store.layout import ScratchLayout
from magickbox.store.sessions import SessionStore

# Sessions housekeeping may take away: nothing will change them without a user's action.
ENDED_STATES: Final = ("finished", "failed", "cancelled", "incomplete")
WAKE_FILE: Final = ".sweep-wanted"
REMOVING_PREFIX: Final = ".removing."
# Not deletable: kept, not ended, routing still to be decided, or a delivery pending/retrying.
_DELETABLE: Final = (
    "s.kept = 0 AND s.state IN ('finished', 'failed', 'cancelled', 'incomplete') AND s.routing != 'pending'"
    " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.session_id = s.id"
    " AND d.state IN ('pending', 'sending'))"
)


@dataclass(frozen=True)
class Candidate:
    """An ended session housekeeping may delete, with the time it ended (its age counts from then)."""

    id: int
    scratchdir: str
    pid: str
    study_uid: str
    bucket: str
    state: str
    received_at: float
    ended_at: float
    input_removed: bool


def request_sweep(data: Path) -> None:
    """Ask the housekeeping stage (in this or another process) to sweep now. Never raises."""
    # A full inode table: the stage's own disk check still sees the high mark.
    with contextlib.suppress(OSError):
        (data / WAKE_FILE).touch()


def wake_if_high(data: Path, high_percent: float) -> DiskUse | None:
    """Cheap (one statvfs): a writer calls it; past the high mark it asks for a sweep at once.
    Returns what it measured (None when the file system could not say), for the caller's own
    checks."""
    try:
        use = disk_use(data)
    except OSError:
        return None
    if high_percent < 100 and use.percent >= high_percent:
        request_sweep(data)
    return use


def take_sweep_request(data: Path) -> bool:
    """True (once) when someone asked for a sweep since the last call."""
    try:
        (data / WAKE_FILE).unlink()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return True


class Retention:
    """Kept flags, deletable sessions, area removal and the housekeeping stage's status values."""

    def __init__(self, db: Database, layout: ScratchLayout, sessions: SessionStore, audit: AuditLog) -> None:
        self.db = db
        self.layout = layout
        self.sessions = sessions
        self.audit = audit

    def set_kept(self, session_id: int, kept: bool) -> bool:
        """Keep (or release) a session; True when that changed something."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE sessions SET kept = ?, updated_at = ? WHERE id = ? AND kept != ?",
                (int(kept), time.time(), session_id, int(kept)),
            )
            return cursor.rowcount > 0

    def is_kept(self, session_id: int) -> bool:
        row = self.db.query_one("SELECT kept FROM sessions WHERE id = ?", (session_id,))
        return bool(row and row["kept"])

    def candidates(self) -> list[Candidate]:
        """Every session housekeeping may delete now, oldest received first."""
        rows = self.db.query(
            "SELECT s.id, s.scratchdir, s.pid, COALESCE(s.study_uid, '') AS study_uid,"
            " COALESCE(s.bucket, '') AS bucket, s.state, s.received_at,"
            " COALESCE(s.ended_at, s.updated_at) AS ended_at, s.input_removed_at IS NOT NULL AS input_removed"
            f" FROM sessions s WHERE {_DELETABLE} ORDER BY s.received_at, s.id"
        )
        return [Candidate(**{**dict(r), "input_removed": bool(r["input_removed"])}) for r in rows]

    def delete(self, candidate: Candidate, entry: AuditEntry) -> bool:
        """Delete a candidate if it may still go (re-checked under the write lock); audit it first.

        False when it may not any more (kept, re-run or routed since it was chosen).
        """
        folder, tomb = (
            self.layout.session_dir(candidate.scratchdir),
            self.layout.tombstone(candidate.scratchdir),
        )
        try:
            with self.db.transaction() as conn:
                ok = conn.execute(
                    f"SELECT 1 FROM sessions s WHERE s.id = ? AND {_DELETABLE}", (candidate.id,)
                )
                if ok.fetchone() is None:
                    return False
                # Audited before anything goes: a kill after this commit leaves the session
                # whole, and the next sweep deletes it (a second entry, never a missing one).
                self.audit.insert_in(conn, entry)
        except StoreFull:
            # The disk is too full for even the audit row: free the space first, audit later.
            if not any(c.id == candidate.id for c in self.candidates()):
                return False
            self.audit.record(entry)
        if folder.exists():
            os.replace(folder, tomb)  # atomic; from here on a restart finishes the deletion
        self.sessions.delete(candidate.id)
        return True

    def remove_area(self, session_id: int, area: str) -> int:
        """Empty a session's INPUT or OUTPUT (ended sessions only); returns the bytes freed.

        The folder is renamed aside and replaced by an empty one before anything is unlinked, so a
        kill leaves either the old folder or an empty one (the leftover goes at the next sweep).
        """
        if area not in ("INPUT", "OUTPUT"):
            raise ValueError(f"area must be INPUT or OUTPUT, not {area!r}")
        session = self.sessions.get(session_id)
        if session.state not in ENDED_STATES:
            raise Conflict(
                f"{session.scratchdir} is {session.state}; only an ended session can lose its {area}"
            )
        folder = self.layout.session_dir(session.scratchdir) / area
        aside = folder.with_name(REMOVING_PREFIX + area)
        freed = folder_bytes(folder)
        if folder.is_dir():
            os.replace(folder, aside)
        folder.mkdir(exist_ok=True)
        column = "input_removed_at" if area == "INPUT" else "output_removed_at"
        with self.db.transaction() as conn:
            conn.execute(
                f"UPDATE sessions SET {column} = ?, updated_at = ? WHERE id = ?",
                (time.time(), time.time(), session_id),
            )
        if aside.is_symlink():  # OUTPUT replaced by a link: the link goes, never what it points to
            aside.unlink()
        shutil.rmtree(aside, ignore_errors=True)
        return freed

    def clear_leftovers(self) -> None:
        """Remove areas a kill left renamed aside (see `remove_area`)."""
        for leftover in self.layout.root.glob(f"tmp.*/{REMOVING_PREFIX}*"):
            if leftover.is_symlink():
                leftover.unlink()
            shutil.rmtree(leftover, ignore_errors=True)

    # ---- the housekeeping stage's status (System page, `magickbox cleanup`) ----------------------
    def set_status(self, name: str, value: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO housekeeping(name, value, at) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET value = excluded.value, at = excluded.at",
                (name, value, time.time()),
            )

    def status(self) -> dict[str, tuple[str, float]]:
        return {
            str(r["name"]): (str(r["value"]), float(r["at"]))
            for r in self.db.query("SELECT * FROM housekeeping")
        }
