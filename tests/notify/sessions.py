"""Sessions taken to their end through the store, as the receiver and the scheduler take them."""

from __future__ import annotations

from pydicom.uid import generate_uid

from magickbox.store import Store
from magickbox.store.sessions import SessionKey


def end_session(store: Store, state: str, bucket: str = "ProcX", caller: str = "CT1") -> str:
    """A session taken through the store's transitions as the receiver and the scheduler do."""
    session = store.sessions.create_upload(
        SessionKey(caller, bucket, "127.0.0.1", generate_uid()), bucket, "p", "", ""
    )
    if state == "incomplete":
        store.sessions.abort(session.id, "association aborted")
        return session.scratchdir
    store.sessions.seal(session.id)
    store.sessions.mark_running(session.id)
    store.sessions.mark_ended(session.id, state, "exit 1" if state == "failed" else "")
    return session.scratchdir
