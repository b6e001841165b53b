"""Sessions taken to their end through the store, as the receiver and the scheduler take them."""

from __future__ import annotations

from magickbox.store import SessionState, Store
from tests.support import sessions as factory


def end_session(store: Store, state: str, bucket: str = "ProcX", caller: str = "CT1") -> str:
    """A session of `bucket` from `caller`, brought to `state` along the stages' path."""
    session = factory.make_session(
        store,
        SessionState(state),
        bucket=bucket,
        key_=factory.key(caller, bucket),
        reason="exit 1" if state == "failed" else "",
    )
    return session.scratchdir
