"""Deleting sessions: the folder first (it needs no free space), then the records.

A full disk may refuse the records; the session's tombstone folder then stays as the list of
deletions to finish, so any process, and a restart, can finish them.
"""

from __future__ import annotations

import logging

from magickbox.errors import StoreFull
from magickbox.store.db import Database
from magickbox.store.layout import ScratchLayout

log = logging.getLogger(__name__)


def delete(db: Database, layout: ScratchLayout, session_id: int) -> bool:
    """Free the session's space, then forget it. The caller cancels a running job first.

    False when the records could not be written (full disk): the deletion is then finished by
    `finish_deletes` as soon as the store can write, or at the next start.
    """
    row = db.query_found(
        "SELECT scratchdir FROM sessions WHERE id = ?", (session_id,), f"session {session_id} does not exist"
    )
    scratchdir = str(row["scratchdir"])
    layout.empty_into_tombstone(scratchdir)
    try:
        _forget(db, layout, scratchdir)
    except StoreFull:
        log.warning("session %s: folder removed; its records go when the store can write", scratchdir)
        return False
    return True


def _forget(db: Database, layout: ScratchLayout, scratchdir: str) -> None:
    with db.transaction() as conn:
        row = conn.execute("SELECT id FROM sessions WHERE scratchdir = ?", (scratchdir,)).fetchone()
        if row is not None:
            conn.execute("DELETE FROM jobs WHERE session_id = ?", (row["id"],))
            conn.execute("DELETE FROM session_events WHERE session_id = ?", (row["id"],))
            conn.execute("DELETE FROM sessions WHERE id = ?", (row["id"],))
    layout.remove_tombstone(scratchdir)


def finish_deletes(db: Database, layout: ScratchLayout) -> int:
    """Forget the sessions whose folder was removed but whose records were not (full disk).

    Returns how many are still waiting; raises nothing when the disk is still full.
    """
    waiting = layout.tombstoned()
    for index, scratchdir in enumerate(waiting):
        try:
            _forget(db, layout, scratchdir)
        except StoreFull:
            return len(waiting) - index
    return 0
