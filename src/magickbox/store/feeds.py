"""Which process holds the associations that feed a receiving session.

`sessions.open_associations` says how many associations feed a session; `association_feeds`
says which receiving process (by pid) holds them. When a receive worker dies (kill -9, a crash)
the supervisor ends exactly the sessions that worker was feeding (`end_process`) while the other
workers go on receiving. Rows change in the same transactions as the counts, so a kill at any
moment leaves both in agreement; a restart's recovery clears the table.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass

from magickbox.store.db import Database
from magickbox.store.layout import ScratchLayout
from magickbox.store.states import SessionState
from magickbox.store.transitions import move_state


def opened(conn: sqlite3.Connection, session_id: int) -> None:
    """This process opened an association on the session (in the caller's transaction)."""
    conn.execute(
        "INSERT INTO association_feeds(session_id, pid, n) VALUES (?, ?, 1)"
        " ON CONFLICT(session_id, pid) DO UPDATE SET n = n + 1",
        (session_id, os.getpid()),
    )


def closed(conn: sqlite3.Connection, session_id: int) -> None:
    """One of this process's associations on the session ended (released or aborted)."""
    key = (session_id, os.getpid())
    conn.execute("UPDATE association_feeds SET n = n - 1 WHERE session_id = ? AND pid = ?", key)
    conn.execute("DELETE FROM association_feeds WHERE session_id = ? AND pid = ? AND n <= 0", key)


def clear(conn: sqlite3.Connection) -> None:
    """At start, before any receiving: no association of an earlier run is open."""
    conn.execute("DELETE FROM association_feeds")


@dataclass(frozen=True)
class EndedFeed:
    session_id: int
    scratchdir: str
    incomplete: bool  # False: a retrieval's session, which only lost the dead association's hold


def end_process(db: Database, layout: ScratchLayout, pid: int, reason: str) -> list[EndedFeed]:
    """A receiving process is gone: the sessions its associations fed become `incomplete`.

    A retrieval's session only loses those associations (the retrieval itself decides, from what
    the PACS reports, whether the study arrived whole). Returns what was ended.
    """
    now = time.time()
    ended: list[EndedFeed] = []
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT f.session_id, f.n, s.state, s.source, s.scratchdir, s.open_associations"
            " FROM association_feeds f JOIN sessions s ON s.id = f.session_id WHERE f.pid = ?",
            (pid,),
        ).fetchall()
        for row in rows:
            if row["state"] != SessionState.RECEIVING:
                continue
            session_id = int(row["session_id"])
            if row["source"] == "retrieve":
                still_open = max(int(row["open_associations"]) - int(row["n"]), 0)
                conn.execute(
                    "UPDATE sessions SET open_associations = ? WHERE id = ?", (still_open, session_id)
                )
                ended.append(EndedFeed(session_id, row["scratchdir"], incomplete=False))
                continue
            move_state(conn, session_id, SessionState.INCOMPLETE, reason, now, open_associations=0)
            ended.append(EndedFeed(session_id, row["scratchdir"], incomplete=True))
        conn.execute("DELETE FROM association_feeds WHERE pid = ?", (pid,))
    for feed in ended:
        if feed.incomplete:
            layout.clear_incoming(feed.scratchdir)
    return ended
