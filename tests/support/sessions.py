"""The one way tests make sessions: through the store functions the stages themselves call.

The receiver's `join_or_create` / `release` (or the upload's `create_upload` / `seal`), the
scheduler's `jobs.claim` / `jobs.finish`, the receiver's `abort`. So a test's session is always
in a state the box itself makes, its job agreeing with it, and its history a valid path.
A box started for such tests must not run its own scheduler (`stages` without `run`), or it would
take the queued jobs first.
"""

from __future__ import annotations

import secrets

from magickbox.store import FileResult, Job, JobState, NewDelivery, Session, SessionKey, SessionState, Store

# A lease owner on no real host: a box's scheduler never takes it for a dead process of its own.
OWNER = "tests-factory:0:sessions"
LEASE_S = 7 * 24 * 3600.0
UNCAPPED = 1 << 30  # no bucket limit or box cap holds the factory's claims

JOB_END = {
    SessionState.FINISHED: JobState.DONE,
    SessionState.FAILED: JobState.FAILED,
    SessionState.CANCELLED: JobState.CANCELLED,
}


def key(caller: str = "", called: str = "ProcTest", study_uid: str | None = None) -> SessionKey:
    """A session key; an empty caller or study becomes a fresh random one."""
    study = study_uid or "1.2.826.0.1." + str(secrets.randbelow(10**20))
    return SessionKey(caller or "t" + secrets.token_hex(4), called, "127.0.0.1", study)


def receiving(store: Store, key_: SessionKey, bucket: str, pid: str = "") -> Session:
    """A DICOM session with its association still open (as the receiver makes it)."""
    return store.sessions.join_or_create(key_, bucket, pid or f"scp_{key_.study_uid}")


def queued(store: Store, key_: SessionKey, bucket: str, pid: str = "", instances: int = 0) -> Session:
    """A received session, sealed with its job queued: the association ended, no settle wait."""
    session = receiving(store, key_, bucket, pid)
    if instances:
        store.sessions.record_instances(session.id, instances, instances * 2048)
    store.sessions.release(session.id, 0)
    return store.sessions.get(session.id)


def start(store: Store, session_id: int) -> Job:
    """Claim the session's queued job as the scheduler does: job and session become running.

    Older queued jobs of the same bucket that the claim takes first are given back
    (`jobs.release`) afterwards.
    """
    limits = {store.sessions.get(session_id).bucket or "": UNCAPPED}
    others: list[Job] = []
    try:
        while True:
            job = store.jobs.claim(OWNER, LEASE_S, limits, UNCAPPED)
            if job is None:
                state = store.sessions.get(session_id).state
                raise AssertionError(f"session {session_id} is {state}: its job could not be claimed")
            if job.session_id == session_id:
                return job
            others.append(job)
    finally:
        for job in others:
            store.jobs.release(job.id, OWNER, "the test factory took it by the way")


def end(store: Store, session_id: int, state: SessionState, reason: str = "") -> Session:
    """End a started session's job (done, failed, cancelled) and with it the session."""
    job = store.jobs.for_session(session_id)[-1]
    if not store.jobs.finish(job.id, OWNER, JOB_END[state], reason):
        raise AssertionError(f"session {session_id}: the job was not the factory's to end")
    return store.sessions.get(session_id)


def make_session(
    store: Store,
    state: SessionState = SessionState.FINISHED,
    *,
    bucket: str = "bucketTest",
    key_: SessionKey | None = None,
    pid: str = "",
    reason: str = "",
) -> Session:
    """A session brought to `state` along the path the stages take."""
    key_ = key_ or key()
    if state == SessionState.RECEIVING:
        return receiving(store, key_, bucket, pid)
    if state == SessionState.INCOMPLETE:
        session = receiving(store, key_, bucket, pid)
        store.sessions.abort(session.id, reason or "the association was aborted")
        return store.sessions.get(session.id)
    session = queued(store, key_, bucket, pid)
    if state == SessionState.QUEUED:
        return session
    start(store, session.id)
    if state == SessionState.RUNNING:
        return store.sessions.get(session.id)
    return end(store, session.id, state, reason)


def route(store: Store, session_id: int) -> Session:
    """Route an ended session to one destination and record the send as done, as the router's
    sender does (planned, claimed, attempt finished): its `routing` becomes `routed`."""
    target = NewDelivery(0, "test", ".*", "127.0.0.1", 104, "BOX", "PACS", "OUTPUT", None)
    (delivery_id,) = store.deliveries.plan(session_id, [target])
    claimed = store.deliveries.claim(60.0)
    if claimed is None or claimed.id != delivery_id:
        raise AssertionError(f"delivery {delivery_id} was not the next due one")
    store.deliveries.finish_attempt(delivery_id, [FileResult("result.txt", "sent", 0, "")])
    return store.sessions.get(session_id)
