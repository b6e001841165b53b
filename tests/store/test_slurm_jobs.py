"""The Slurm side of the job store: pending shown as queued, retries, re-attach, the global cap."""

from __future__ import annotations

from magickbox.store import Store
from magickbox.store.sessions import Session, SessionKey

OWNER = "test-host:1:abc"
OTHER = "test-host:2:def"


def _claimed_slurm_job(store: Store, bucket: str = "S") -> tuple[Session, int]:
    session = store.sessions.create_upload(SessionKey("ME", bucket, "127.0.0.1", None), bucket, "p", "", "")
    store.sessions.seal(session.id)
    job = store.jobs.claim(OWNER, 10, {bucket: 5}, 4)
    assert job is not None and store.jobs.slurm.set_executor(job.id, OWNER, "slurm")
    assert store.jobs.slurm.record_id(job.id, OWNER, "41")
    return session, job.id


def test_a_pending_job_shows_its_session_queued_then_running(store: Store) -> None:
    session, job_id = _claimed_slurm_job(store)
    store.jobs.slurm.record_state(job_id, OWNER, "PENDING", "Resources")
    waiting = store.sessions.get(session.id)
    assert waiting.state == "queued" and waiting.reason == "waiting in Slurm's queue: Resources"
    store.jobs.slurm.record_state(job_id, OWNER, "RUNNING", "None")
    running = store.sessions.get(session.id)
    assert running.state == "running" and running.started_at is not None
    job = store.jobs.get(job_id)
    assert job is not None and (job.slurm_job_id, job.slurm_state) == ("41", "RUNNING")


def test_a_job_that_ends_while_seen_pending_still_finishes(store: Store) -> None:
    session, job_id = _claimed_slurm_job(store)
    store.jobs.slurm.record_state(job_id, OWNER, "PENDING", "Priority")
    assert store.jobs.finish(job_id, OWNER, "done")
    states = [row["state"] for row in store.sessions.history(session.id)]
    assert states[-3:] == ["queued", "running", "finished"]


def test_cancel_of_a_pending_job_reaches_its_worker(store: Store) -> None:
    session, job_id = _claimed_slurm_job(store)
    store.jobs.slurm.record_state(job_id, OWNER, "PENDING", "Resources")
    assert store.jobs.request_cancel(session.id)
    assert store.jobs.cancel_requested(job_id)  # the worker scancels, then ends it
    assert store.jobs.finish(job_id, OWNER, "cancelled", "cancelled on request")
    assert store.sessions.get(session.id).state == "cancelled"


def test_node_failure_queues_again_until_max_attempts(store: Store) -> None:
    session, job_id = _claimed_slurm_job(store)
    assert store.jobs.slurm.retry(job_id, OWNER, "Slurm job 41 NODE_FAIL, exit code 0", max_attempts=2)
    job = store.jobs.get(job_id)
    assert job is not None and job.state == "queued" and job.slurm_job_id is None and job.attempts == 1
    assert store.sessions.get(session.id).state == "queued"
    again = store.jobs.claim(OWNER, 10, {"S": 5}, 4)
    assert again is not None and again.id == job_id and again.attempts == 2
    assert not store.jobs.slurm.retry(job_id, OWNER, "Slurm job 42 PREEMPTED, exit code 0", max_attempts=2)
    failed = store.sessions.get(session.id)
    assert failed.state == "failed" and "PREEMPTED" in failed.reason


def test_a_stale_slurm_job_is_adopted_not_requeued(store: Store) -> None:
    session, job_id = _claimed_slurm_job(store)
    # The local recovery leaves Slurm jobs alone, even with its owner gone.
    assert store.jobs.recover(2, owner_is_gone=lambda owner: True) == []
    assert store.jobs.slurm.stale(lambda owner: owner == OWNER) == [(job_id, OWNER)]
    assert store.jobs.slurm.adopt(job_id, OWNER, OTHER, 10)
    assert not store.jobs.slurm.adopt(job_id, OWNER, "third:3:x", 10), "taken over once only"
    job = store.jobs.get(job_id)
    assert job is not None and job.lease_owner == OTHER and job.attempts == 1 and job.slurm_job_id == "41"
    assert store.sessions.get(session.id).state == "running"


def test_slurm_buckets_are_not_held_by_the_boxs_cap(store: Store) -> None:
    for bucket in ("L", "S", "S"):
        session = store.sessions.create_upload(
            SessionKey("ME", bucket, "127.0.0.1", None), bucket, "p", "", ""
        )
        store.sessions.seal(session.id)
    limits = {"L": 5, "S": 2}
    assert store.jobs.claim(OWNER, 10, limits, 1, uncapped={"S"}) is not None  # L fills the box
    assert all(store.jobs.claim(OWNER, 10, limits, 1, uncapped={"S"}) is not None for _ in range(2))
    assert store.jobs.claim(OWNER, 10, limits, 1, uncapped={"S"}) is None  # S is at its own limit
