"""Actions shared by the original endpoints and /api/v1: delete (cancelling first), cancel, re-run."""

from __future__ import annotations

import logging
import time

from magickbox.errors import NotFound, StoreFull
from magickbox.scratchdir import is_scratchdir_name
from magickbox.store import Session, SessionState, Store
from magickbox.web.errors import ApiError

log = logging.getLogger(__name__)

CANCEL_WAIT_S = 15.0


def find_session(store: Store, scratchdir: str | None) -> Session:
    """The session named by a request, or 404. The name is checked before anything touches disk."""
    if not scratchdir or not is_scratchdir_name(scratchdir):
        raise ApiError(404, "no such session", f"{scratchdir!r} is not a session of this box")
    try:
        return store.sessions.by_scratchdir(scratchdir)
    except NotFound:
        raise ApiError(404, "no such session", f"{scratchdir!r} is not a session of this box") from None


def delete_session(store: Store, session: Session, wait_s: float = CANCEL_WAIT_S) -> None:
    """Cancel a queued or running job, wait until its process has stopped, then delete.

    Works on a full disk: the folder goes first (that frees space) and records the store cannot
    write yet are finished later (see `SessionStore.delete`). A `receiving` session answers 409
    only while an association still feeds it.
    """
    gone = store.sessions.unrecorded_ends.count(session.id)
    if session.state == SessionState.RECEIVING and session.open_associations > gone:
        raise ApiError(409, "still receiving", f"{session.scratchdir} is being received; try again later")
    store.sessions.finish_deletes()  # earlier deletions a full disk held back
    try:
        cancelled = store.jobs.request_cancel(session.id)
    except StoreFull:
        # The flag cannot be written; the worker stops anyway when its folder disappears.
        cancelled = False
        log.warning("could not record the cancel of %s (the data folder is full)", session.scratchdir)
    if cancelled:
        deadline = time.monotonic() + wait_s
        while store.queries.job_is_running(session.id) and not store.jobs.stopped_unrecorded(session.id):
            if time.monotonic() > deadline:
                raise ApiError(
                    409, "still running", f"{session.scratchdir} did not stop within {wait_s:.0f}s; try again"
                )
            time.sleep(0.1)
    store.sessions.delete(session.id)
    log.info("deleted session %s (pid %s)", session.scratchdir, session.pid)


def cancel_session(store: Store, session: Session) -> None:
    if not store.jobs.request_cancel(session.id):
        raise ApiError(409, "nothing to cancel", f"{session.scratchdir} is {session.state}")


def rerun_session(store: Store, session: Session) -> None:
    if session.bucket is None or store.catalog().by_name(session.bucket) is None:
        raise ApiError(
            409, "bucket gone", f"bucket {session.bucket!r} of {session.scratchdir} is not installed"
        )
    store.sessions.requeue(session.id, "re-run requested")
