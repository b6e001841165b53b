"""The state names of sessions, jobs, deliveries and a session's routing, as stored in SQLite.

They are `StrEnum`s: each member is the very string that is stored and shown (JSON, pages), so
they compare equal to those strings and bind as SQL parameters unchanged.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class SessionState(StrEnum):
    RECEIVING = "receiving"
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INCOMPLETE = "incomplete"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DONE = "done"
    FAILED = "failed"
    SUPERSEDED = "superseded"  # the session was routed again (re-run); this one is history
    CANCELLED = "cancelled"  # the session was deleted


class RoutingState(StrEnum):
    """A session's `routing` column: what its latest routing evaluation came to."""

    NONE = "none"
    PENDING = "pending"
    ROUTED = "routed"
    FAILED = "failed"


# Sessions a job ended (a user may re-run them).
SESSION_ENDED: Final = (SessionState.FINISHED, SessionState.FAILED, SessionState.CANCELLED)
# Sessions that will not change any more without a user action (re-run, delete).
SESSION_SETTLED: Final = (*SESSION_ENDED, SessionState.INCOMPLETE)
# Sessions still in the pipeline (pages poll them).
SESSION_LIVE: Final = (SessionState.RECEIVING, SessionState.QUEUED, SessionState.RUNNING)

# Which session state may follow which. Anything else is a bug or a race, refused with Conflict.
SESSION_TRANSITIONS: Final[dict[SessionState, tuple[SessionState, ...]]] = {
    SessionState.RECEIVING: (SessionState.QUEUED, SessionState.INCOMPLETE),
    SessionState.QUEUED: (SessionState.RUNNING, SessionState.CANCELLED, SessionState.FAILED),
    SessionState.RUNNING: (
        SessionState.FINISHED,
        SessionState.FAILED,
        SessionState.CANCELLED,
        SessionState.QUEUED,
    ),
    SessionState.FINISHED: (SessionState.QUEUED,),
    SessionState.FAILED: (SessionState.QUEUED,),
    SessionState.CANCELLED: (SessionState.QUEUED,),
    SessionState.INCOMPLETE: (),
}

JOB_ACTIVE: Final = (JobState.QUEUED, JobState.RUNNING)
JOB_ENDED: Final = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)
# The session state that goes with a job's end state.
SESSION_OF_JOB_END: Final = {
    JobState.DONE: SessionState.FINISHED,
    JobState.FAILED: SessionState.FAILED,
    JobState.CANCELLED: SessionState.CANCELLED,
}

DELIVERY_OPEN: Final = (DeliveryState.PENDING, DeliveryState.SENDING)


class RetrievalState(StrEnum):
    """A retrieval as a whole (store/retrievals.py)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"  # every key was looked up and every study found was fetched or given up
    CANCELLED = "cancelled"


class RetrievalItemState(StrEnum):
    """One key of a retrieval; what `GET /api/v1/retrievals/{id}` reports per key."""

    PENDING = "pending"  # not looked up yet
    NOT_FOUND = "not_found"  # the C-FIND matched no study
    FOUND = "found"  # studies found, none being fetched yet
    MOVING = "moving"  # a study of it is being moved or fetched
    RECEIVED = "received"  # every study found is in its session
    FAILED = "failed"  # the C-FIND or a study's C-MOVE/C-GET failed
    CANCELLED = "cancelled"


class RetrievalStudyState(StrEnum):
    """One study found by a retrieval; it becomes exactly one session."""

    PENDING = "pending"
    MOVING = "moving"
    RECEIVED = "received"
    FAILED = "failed"
    CANCELLED = "cancelled"
