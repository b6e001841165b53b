from __future__ import annotations

import time

from magickbox.store import Store
from magickbox.store.sessions import Session, SessionKey

OWNER = "test-host:1:abc"


def _sealed(store: Store, bucket: str) -> Session:
    session = store.sessions.create_upload(SessionKey("ME", bucket, "127.0.0.1", None), bucket, "p", "", "")
    store.sessions.seal(session.id)
    return store.sessions.get(session.id)


def test_claim_takes_oldest_per_bucket_and_moves_the_session(store: Store) -> None:
    first, second = _sealed(store, "A"), _sealed(store, "A")
    job = store.jobs.claim(OWNER, 10, {"A": 1}, 4)
    assert job is not None and job.session_id == first.id
    assert job.state == "running" and job.attempts == 1 and job.lease_owner == OWNER
    assert job.lease_until is not None and job.lease_until > time.time()
    assert store.sessions.get(first.id).state == "running"
    assert store.jobs.claim(OWNER, 10, {"A": 1}, 4) is None, "bucket A is at its limit"
    assert store.sessions.get(second.id).state == "queued"
    assert store.jobs.load()["A"].queued == 1 and store.jobs.load()["A"].running == 1


def test_claim_respects_global_cap_and_unknown_buckets(store: Store) -> None:
    _sealed(store, "A")
    _sealed(store, "B")
    _sealed(store, "Z")
    assert store.jobs.claim(OWNER, 10, {"A": 5, "B": 5}, 1) is not None
    assert store.jobs.claim(OWNER, 10, {"A": 5, "B": 5}, 1) is None, "global cap of 1 reached"
    job = store.jobs.claim(OWNER, 10, {"A": 5, "B": 5}, 3)
    assert job is not None and job.bucket == "B"
    assert store.jobs.claim(OWNER, 10, {"A": 5, "B": 5}, 3) is None, "Z is not runnable"


def test_finish_ends_job_and_session_once(store: Store) -> None:
    session = _sealed(store, "A")
    job = store.jobs.claim(OWNER, 10, {"A": 1}, 1)
    assert job is not None
    assert store.jobs.finish(job.id, "someone-else", "done") is False, "only the lease owner ends it"
    assert store.jobs.finish(job.id, OWNER, "failed", "exit code 2", 2) is True
    ended = store.sessions.get(session.id)
    assert ended.state == "failed" and ended.reason == "exit code 2" and ended.ended_at is not None
    assert store.jobs.finish(job.id, OWNER, "done") is False


def test_renew_extends_lease_and_reports_cancel(store: Store) -> None:
    session = _sealed(store, "A")
    job = store.jobs.claim(OWNER, 1, {"A": 1}, 1)
    assert job is not None and job.lease_until is not None
    renewed = store.jobs.renew(job.id, OWNER, 100)
    assert renewed is not None and renewed.lease_until is not None and renewed.lease_until > job.lease_until
    assert store.jobs.request_cancel(session.id) is True
    assert store.sessions.get(session.id).state == "running", "a running job is stopped by its worker"
    assert store.jobs.cancel_requested(job.id) is True
    assert store.jobs.renew(job.id, "other", 100) is None


def test_recover_requeues_the_same_job_then_gives_up(store: Store) -> None:
    session = _sealed(store, "A")
    job = store.jobs.claim(OWNER, 60, {"A": 1}, 1)
    assert job is not None
    assert store.jobs.recover(2, owner_is_gone=lambda owner: False) == [], "lease still valid"
    seen: list[int] = []
    recovered = store.jobs.recover(
        2, owner_is_gone=lambda owner: owner == OWNER, before=lambda j: seen.append(j.id)
    )
    assert [r.requeued for r in recovered] == [True] and seen == [job.id]
    assert store.sessions.get(session.id).state == "queued"
    assert "interrupted" in store.sessions.get(session.id).reason
    again = store.jobs.claim(OWNER, 60, {"A": 1}, 1)
    assert again is not None and again.id == job.id and again.attempts == 2
    recovered = store.jobs.recover(2, owner_is_gone=lambda owner: False, now=time.time() + 61)
    assert [r.requeued for r in recovered] == [False]
    failed = store.sessions.get(session.id)
    assert failed.state == "failed" and "gave up after 2 attempt(s)" in failed.reason
    states = [row["state"] for row in store.sessions.history(session.id)]
    assert states == ["receiving", "queued", "running", "queued", "running", "failed"]
    assert len(store.jobs.for_session(session.id)) == 1, "a retry is the same job, not a new one"


def test_release_returns_job_without_counting_the_attempt(store: Store) -> None:
    session = _sealed(store, "A")
    job = store.jobs.claim(OWNER, 60, {"A": 1}, 1)
    assert job is not None
    assert store.jobs.release(job.id, OWNER, "box stopping") is True
    after = store.jobs.get(job.id)
    assert after is not None and after.state == "queued" and after.attempts == 0
    assert store.sessions.get(session.id).state == "queued"


def test_cancel_queued_is_immediate_and_atomic(store: Store) -> None:
    session = _sealed(store, "A")
    assert store.jobs.request_cancel(session.id) is True
    assert store.sessions.get(session.id).state == "cancelled"
    assert [job.state for job in store.jobs.for_session(session.id)] == ["cancelled"]
    assert store.jobs.claim(OWNER, 60, {"A": 1}, 1) is None


def test_fail_queued_names_the_reason(store: Store) -> None:
    first, second = _sealed(store, "Gone"), _sealed(store, "Gone")
    assert store.jobs.fail_queued("Gone", "bucket 'Gone' does not exist") == [first.id, second.id]
    assert store.sessions.get(first.id).reason == "bucket 'Gone' does not exist"
    assert not store.jobs.has_queued()
