"""Crash recovery of receiving: what the box finds at start for sessions it was receiving."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from magickbox.store import feeds
from magickbox.store.db import Database
from magickbox.store.layout import ScratchLayout
from magickbox.store.states import SessionState
from magickbox.store.transitions import move_state

Seal = Callable[[sqlite3.Connection, int, float], None]


def _recount(
    conn: sqlite3.Connection, layout: ScratchLayout, session_id: int, scratchdir: str, now: float
) -> None:
    """The receiver records instance counts in batches; after a crash the files in INPUT/
    are the truth (every acknowledged instance was renamed there before its C-STORE-RSP)."""
    files = [p for p in layout.input_dir(scratchdir).glob("*.dcm") if p.is_file()]
    conn.execute(
        "UPDATE sessions SET instances = ?, bytes = ?, updated_at = ? WHERE id = ?",
        (len(files), sum(p.stat().st_size for p in files), now, session_id),
    )


def recover_receiving(db: Database, layout: ScratchLayout, seal: Seal) -> tuple[list[int], list[int]]:
    """Sessions fed by an association open at the crash become `incomplete`; sessions whose
    associations had all been released are sealed (queued) with `seal`. Returns both lists.
    """
    now = time.time()
    with db.transaction() as conn:
        feeds.clear(conn)
        rows = conn.execute(
            # A retrieval's sessions are left to the retrieve stage: it fetches the study again
            # into the same session (store/retrievals.py), so a study never gets two sessions.
            "SELECT id, open_associations, source, scratchdir FROM sessions WHERE state = ?"
            " AND source != 'retrieve'",
            (SessionState.RECEIVING,),
        ).fetchall()
        for row in rows:
            if row["source"] == "dicom":
                _recount(conn, layout, int(row["id"]), row["scratchdir"], now)
        broken = [int(r["id"]) for r in rows if r["open_associations"] > 0 or r["source"] != "dicom"]
        settled = [int(r["id"]) for r in rows if int(r["id"]) not in broken]
        for session_id in broken:
            move_state(
                conn,
                session_id,
                SessionState.INCOMPLETE,
                "the box stopped while receiving",
                now,
                open_associations=0,
            )
        for session_id in settled:
            seal(conn, session_id, now)
    known = {str(r["scratchdir"]) for r in db.query("SELECT scratchdir FROM sessions")}
    for scratchdir in known:
        layout.clear_incoming(scratchdir)
        layout.clear_temporaries(scratchdir)
    layout.remove_orphans(known)
    return broken, settled
