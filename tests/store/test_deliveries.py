from __future__ import annotations

import subprocess
import time

import pytest

from magickbox.config import Settings
from magickbox.errors import Conflict
from magickbox.loop import Backoff
from magickbox.store import Store
from magickbox.store.deliveries import HOST, DeliveryStore, FileResult, NewDelivery
from magickbox.store.sessions import SessionKey
from magickbox.store.states import SessionState
from tests.support import sessions as factory

T0 = time.time() + 3600  # later than any session end in this run, so plans are stamped T0


def finished_session(store: Store, state: str = "finished") -> int:
    session = store.sessions.create_upload(SessionKey("CT1", "ProcX", "127.0.0.1", "1.2.3"), "b", "p", "", "")
    store.sessions.seal(session.id)
    factory.start(store, session.id)
    factory.end(store, session.id, SessionState(state))
    return session.id


def new(port: int = 104, folder: str = "OUTPUT") -> NewDelivery:
    return NewDelivery(0, "rule", ".*", "127.0.0.1", port, "BOX", "PACS", folder, None)


@pytest.fixture
def deliveries(store: Store) -> DeliveryStore:
    return DeliveryStore(store.db, Backoff(initial_s=30, max_s=100), give_up_s=1000)


def test_ended_sessions_are_routed_once_per_end(store: Store, deliveries: DeliveryStore) -> None:
    first = finished_session(store)
    failed = finished_session(store, "failed")
    finished_session(store, "cancelled")
    assert {s.id for s in deliveries.sessions_to_route()} == {first, failed}
    assert deliveries.plan(first, [new()]) != []
    assert deliveries.plan(first, [new()]) == []  # a second router finds it done
    deliveries.plan(failed, [])
    assert deliveries.sessions_to_route() == []
    assert store.sessions.get(first).routing == "pending"
    assert store.sessions.get(failed).routing == "none"
    # processed again: routed again, the old open delivery is superseded
    store.sessions.requeue(first, "re-run")
    factory.start(store, first)
    factory.end(store, first, SessionState.FINISHED)
    assert [s.id for s in deliveries.sessions_to_route()] == [first]
    deliveries.plan(first, [new(105)])
    assert [d.state for d in deliveries.for_session(first)] == ["superseded", "pending"]


def test_claim_skips_busy_destinations_and_not_yet_due(store: Store, deliveries: DeliveryStore) -> None:
    session = finished_session(store)
    a, b = deliveries.plan(session, [new(104), new(105)], now=T0)
    assert a < b
    claimed = deliveries.claim(60, busy={("127.0.0.1", 104)}, now=T0)
    assert claimed is not None and claimed.id == b and claimed.attempts == 1
    assert deliveries.claim(60, now=T0 - 1) is None  # not due yet
    assert deliveries.claim(60, now=T0) is not None  # a
    assert deliveries.claim(60, now=T0 + 1) is None  # both sending


def test_a_dead_senders_claim_runs_out_and_the_delivery_is_due_again(
    store: Store, deliveries: DeliveryStore
) -> None:
    session = finished_session(store)
    (only,) = deliveries.plan(session, [new()], now=T0)
    assert deliveries.claim(60, now=T0) is not None
    assert deliveries.claim(60, now=T0 + 30) is None
    again = deliveries.claim(60, now=T0 + 61)
    assert again is not None and again.id == only and again.attempts == 2


def test_failures_back_off_exponentially_then_give_up(store: Store, deliveries: DeliveryStore) -> None:
    session = finished_session(store)
    (only,) = deliveries.plan(session, [new()], now=T0)
    waits = []
    now = T0
    for _ in range(4):
        claimed = deliveries.claim(60, now=now)
        assert claimed is not None
        after = deliveries.finish_attempt(only, [], "association refused", now=now)
        assert after.state == "pending" and after.last_error == "association refused"
        waits.append(after.next_try_at - now)
        now = after.next_try_at
    assert waits == [30, 60, 100, 100]
    assert store.sessions.get(session).routing == "pending"
    assert deliveries.claim(60, now=T0 + 1001) is not None
    gone = deliveries.finish_attempt(only, [], "association refused", now=T0 + 1001)
    assert gone.state == "failed" and gone.attempts == 5
    assert store.sessions.get(session).routing == "failed"
    assert store.sessions.get(session).state == "finished"


def test_file_outcomes_are_kept_and_only_unsent_files_go_again(
    store: Store, deliveries: DeliveryStore
) -> None:
    session = finished_session(store)
    (only,) = deliveries.plan(session, [new()])
    deliveries.claim(60)
    after = deliveries.finish_attempt(
        only,
        [FileResult("a.dcm", "sent", 0), FileResult("b.dcm", "failed", 0xA700, "out of resources"),
         FileResult("c.txt", "skipped", None, "not a DICOM file")],
    )  # fmt: skip
    assert (after.state, after.files_sent, after.files_failed, after.files_skipped) == ("pending", 1, 1, 1)
    assert "1 file(s) not stored" in after.last_error
    assert deliveries.sent_paths(only) == {"a.dcm"}
    deliveries.retry(only)
    deliveries.claim(60)
    done = deliveries.finish_attempt(only, [FileResult("b.dcm", "sent", 0)])
    assert (done.state, done.files_sent, done.files_failed) == ("done", 2, 0)
    assert store.sessions.get(session).routing == "routed"


def test_send_again_on_a_done_delivery_sends_everything(store: Store, deliveries: DeliveryStore) -> None:
    session = finished_session(store)
    (only,) = deliveries.plan(session, [new()])
    deliveries.claim(60)
    deliveries.finish_attempt(only, [FileResult("a.dcm", "sent", 0)])
    again = deliveries.retry(only)
    assert again.state == "pending" and deliveries.sent_paths(only) == set()
    assert store.sessions.get(session).routing == "pending"
    deliveries.claim(60)
    with pytest.raises(Conflict):
        deliveries.retry(only)


def test_an_interrupted_send_is_due_at_once_and_not_counted(store: Store, deliveries: DeliveryStore) -> None:
    session = finished_session(store)
    (only,) = deliveries.plan(session, [new()])
    deliveries.claim(60)
    after = deliveries.finish_attempt(only, [FileResult("a.dcm", "sent", 0)], "stopping", interrupted=True)
    assert (after.state, after.attempts) == ("pending", 0)


def test_settings_carry_the_retry_defaults(settings: Settings) -> None:
    assert (settings.route_retry_initial_s, settings.route_retry_max_s, settings.route_give_up_s) == (
        30.0, 3600.0, 86400.0,
    )  # fmt: skip


def test_a_failed_file_that_is_gone_does_not_hold_the_delivery(
    store: Store, deliveries: DeliveryStore
) -> None:
    session = finished_session(store)
    (only,) = deliveries.plan(session, [new()])
    deliveries.claim(60)
    deliveries.finish_attempt(
        only, [FileResult("a.dcm", "sent", 0), FileResult("b.dcm", "failed", None, "x")]
    )
    deliveries.retry(only)
    deliveries.claim(60)
    done = deliveries.finish_attempt(only, [])  # b.dcm was removed from OUTPUT meanwhile
    assert (done.state, done.files_sent, done.files_failed) == ("done", 1, 0)


def test_claims_of_a_dead_process_on_this_host_are_released_at_once(
    store: Store, deliveries: DeliveryStore
) -> None:
    session = finished_session(store)
    dead_id, live_id = deliveries.plan(session, [new(104), new(105)])
    finished = subprocess.Popen(["true"])
    finished.wait()
    assert deliveries.claim(600) is not None and deliveries.claim(600) is not None
    with store.db.transaction() as conn:
        conn.execute(
            "UPDATE delivery_claims SET owner = ? WHERE delivery_id = ?", (f"{HOST}:{finished.pid}", dead_id)
        )
        conn.execute("UPDATE delivery_claims SET owner = ? WHERE delivery_id = ?", (f"{HOST}:1", live_id))
    assert deliveries.release_dead_claims() == 1
    again = deliveries.claim(600)
    assert again is not None and again.id == dead_id and again.attempts == 2
    assert deliveries.claim(600) is None  # the live owner's claim stands
