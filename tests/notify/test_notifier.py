"""The notifier against a real local HTTP receiver: events of each kind, signatures, filters,
a receiver that is down and comes back, and no duplicate after the box is restarted."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from magickbox.config import Settings, load_settings
from magickbox.notify.signing import verify
from magickbox.notify.stage import Notifier
from magickbox.store import NewDelivery, Store
from tests.notify.receiver import Receiver
from tests.notify.sessions import end_session
from tests.support.net import wait_until

SECRET = "s3cret"


def make_box(data: Path, hooks: list[dict[str, Any]], **extra: Any) -> tuple[Settings, Store, Notifier]:
    settings = load_settings(
        data=str(data), notifications=hooks, notify_retry_initial_s=0.2, notify_retry_max_s=0.4,
        notify_timeout_s=2, **extra,
    )  # fmt: skip
    store = Store(settings)
    return settings, store, Notifier(settings, store)


def run_until(notifier: Notifier, receiver: Receiver, count: int) -> None:
    def done() -> bool:
        notifier.step()
        return len(receiver.received) >= count

    wait_until(done, timeout=20, interval=0.05, what=f"{count} notification(s)")


def test_session_events_are_signed_and_carry_the_session(tmp_path: Path, receiver: Receiver) -> None:
    hook = {"url": receiver.url, "events": ["session.finished", "session.failed", "session.incomplete"],
            "secret": SECRET}  # fmt: skip
    _, store, notifier = make_box(tmp_path / "box", [hook])
    done = end_session(store, "finished")
    failed = end_session(store, "failed")
    broken = end_session(store, "incomplete")
    run_until(notifier, receiver, 3)
    bodies = {r.json()["scratchdir"]: r.json() for r in receiver.received}
    assert {s: b["event"] for s, b in bodies.items()} == {
        done: "session.finished",
        failed: "session.failed",
        broken: "session.incomplete",
    }
    assert bodies[failed]["status"] == "failed" and bodies[failed]["reason"] == "exit 1"
    assert bodies[done]["processing_seconds"] >= 1 and bodies[done]["caller"] == "CT1"
    for r in receiver.received:
        assert verify(SECRET, r.body, r.headers["x-magickbox-signature"])
        assert r.headers["x-magickbox-event-id"] == r.json()["event_id"]
        assert not verify("other", r.body, r.headers["x-magickbox-signature"])
    assert len({r.json()["event_id"] for r in receiver.received}) == 3


def test_delivery_that_gave_up_is_notified(tmp_path: Path, receiver: Receiver) -> None:
    _settings, store, notifier = make_box(
        tmp_path / "box", [{"url": receiver.url, "events": ["delivery.failed"]}]
    )
    scratchdir = end_session(store, "finished")
    session = store.sessions.by_scratchdir(scratchdir)
    deliveries = store.deliveries
    target = NewDelivery(0, "back", "k", "127.0.0.1", 1, "MAGICKBOX", "PACS", "OUTPUT", None)
    [delivery_id] = deliveries.plan(session.id, [target])
    assert deliveries.claim(lease_s=30) is not None
    deliveries.finish_attempt(delivery_id, [], error="connection refused", now=time.time() + 10 * 86400)
    run_until(notifier, receiver, 1)
    body = receiver.received[0].json()
    assert body["event"] == "delivery.failed" and body["scratchdir"] == scratchdir
    assert body["delivery"]["called_aet"] == "PACS" and body["delivery"]["error"] == "connection refused"
    assert "x-magickbox-signature" not in receiver.received[0].headers  # no secret, no signature


def test_bucket_failing_batch_and_events_of_other_stages(tmp_path: Path, receiver: Receiver) -> None:
    hook = {
        "url": receiver.url,
        "events": ["bucket.failing", "batch.finished", "disk.high", "retrieval.done"],
    }
    _, store, notifier = make_box(tmp_path / "box", [hook], notify_failing_after=2)
    for _ in range(3):
        end_session(store, "failed", bucket="ProcBad", caller="MR1")
    store.notifications.record("disk.high", {"free_bytes": 5, "used_percent": 99.9})
    store.notifications.record("retrieval.done", {"pacs": "PACS1", "studies": 2})
    run_until(notifier, receiver, 4)
    notifier.step()
    by_event = {r.json()["event"]: r.json() for r in receiver.received}
    assert receiver.events().count("bucket.failing") == 1  # when the streak reaches 2, not again at 3
    assert by_event["bucket.failing"]["bucket"] == "ProcBad"
    assert by_event["bucket.failing"]["failures_in_a_row"] == 2
    assert by_event["batch.finished"]["caller"] == "MR1"
    assert by_event["batch.finished"]["by_status"] == {"failed": 3}
    assert by_event["disk.high"]["free_bytes"] == 5 and by_event["retrieval.done"]["studies"] == 2


def test_filters_by_bucket_and_caller(tmp_path: Path, receiver: Receiver) -> None:
    hook = {"url": receiver.url, "events": ["session.finished"], "buckets": ["ProcA"], "callers": ["CT1"]}
    _, store, notifier = make_box(tmp_path / "box", [hook])
    end_session(store, "finished", bucket="ProcB", caller="CT1")
    end_session(store, "finished", bucket="ProcA", caller="CT2")
    wanted = end_session(store, "finished", bucket="ProcA", caller="CT1")
    run_until(notifier, receiver, 1)
    for _ in range(3):
        notifier.step()
    assert [r.json()["scratchdir"] for r in receiver.received] == [wanted]


def test_down_receiver_gets_it_when_back_and_never_twice_after_a_restart(tmp_path: Path) -> None:
    down = Receiver()  # not started: its port refuses connections
    _, store, notifier = make_box(tmp_path / "box", [{"url": down.url, "secret": SECRET}])
    scratchdir = end_session(store, "finished")
    wait_until(lambda: notifier.step() == 0 and len(store.notifications.attempts_log()) >= 2, timeout=20)
    log = store.notifications.attempts_log()
    assert log[0]["state"] == "pending" and log[0]["status"] is None and log[0]["error"]
    notifier.client.close()
    store.db.close()  # the box stops while the receiver is down

    down.start()
    try:
        _, store, notifier = make_box(tmp_path / "box", [{"url": down.url, "secret": SECRET}])
        run_until(notifier, down, 1)
        assert down.received[0].json()["scratchdir"] == scratchdir
        assert verify(SECRET, down.received[0].body, down.received[0].headers["x-magickbox-signature"])
        store.db.close()
        _, store, notifier = make_box(tmp_path / "box", [{"url": down.url, "secret": SECRET}])
        for _ in range(5):
            notifier.step()
        assert len(down.received) == 1
        assert store.notifications.attempts_log()[0]["state"] == "done"
    finally:
        down.stop()


def test_answers_other_than_2xx_are_retried_then_given_up(tmp_path: Path, receiver: Receiver) -> None:
    receiver.status = 503
    _, store, notifier = make_box(tmp_path / "box", [{"url": receiver.url}], notify_give_up_s=1)
    end_session(store, "finished")
    wait_until(lambda: notifier.step() >= 0 and store.notifications.attempts_log()[:1] != []
               and store.notifications.attempts_log()[0]["state"] == "failed", timeout=20)  # fmt: skip
    log = store.notifications.attempts_log()
    assert all(entry["status"] == 503 for entry in log) and len(log) >= 2
