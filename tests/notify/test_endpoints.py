"""/api/v1/notifications and the page: validated saving, masked secrets, the test button, the log;
and a real `magickbox serve` that is killed while its receiver is down and delivers after it restarts."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from fastapi.testclient import TestClient

from magickbox.config import Settings, load_settings
from magickbox.notify.signing import verify
from magickbox.notify.stage import Notifier
from magickbox.store import Store
from tests.notify.receiver import Receiver
from tests.notify.sessions import end_session
from tests.support.box import BoxProcess
from tests.support.net import wait_until


def test_put_refuses_an_invalid_list_with_reasons(client: TestClient, settings: Settings) -> None:
    bad = [{"url": "ftp://x", "events": ["session.exploded"]}]
    answer = client.put("/api/v1/notifications", content=json.dumps(bad))
    assert answer.status_code == 422
    reasons = " ".join(answer.json()["detail"])
    assert "0.url" in reasons and "session.exploded" in reasons
    assert not settings.notifications_path.exists()
    assert client.put("/api/v1/notifications", content="[").status_code == 400


def test_saved_secret_is_masked_and_kept(client: TestClient, settings: Settings) -> None:
    hook = {"url": "http://127.0.0.1:9/hook", "events": ["session.failed"], "secret": "abc"}
    assert client.put("/api/v1/notifications", content=json.dumps([hook])).status_code == 200
    shown = client.get("/api/v1/notifications").json()
    assert shown["file"][0]["secret"] == "********" and "session.failed" in shown["events"]
    assert client.put("/api/v1/notifications", content=json.dumps(shown["file"])).status_code == 200
    assert json.loads(settings.notifications_path.read_text())[0]["secret"] == "abc"


def test_test_button_reaches_the_receiver_and_the_page_shows_the_attempt(
    client: TestClient, settings: Settings, store: Store, receiver: Receiver
) -> None:
    assert client.post("/api/v1/notifications/test").status_code == 409  # nothing configured yet
    hook = {"url": receiver.url, "events": ["session.finished"], "buckets": ["Nothing"], "secret": "k"}
    client.put("/api/v1/notifications", content=json.dumps([hook]))
    assert client.post("/api/v1/notifications/test", json={"url": "http://other/"}).status_code == 404
    answer = client.post("/api/v1/notifications/test", json={"url": receiver.url})
    assert answer.status_code == 202
    notifier = Notifier(settings, store)
    wait_until(lambda: notifier.step() >= 0 and len(receiver.received) == 1, timeout=10)
    got = receiver.received[0]
    assert got.json()["event"] == "notification.test" and got.json()["event_id"] == answer.json()["event_id"]
    assert verify("k", got.body, got.headers["x-magickbox-signature"])
    page = client.get("/ui/notifications").text
    assert receiver.url in page and "notification.test" in page and "done" in page


def test_the_editor_offers_an_example_when_there_is_no_file(client: TestClient) -> None:
    page = client.get("/ui/notifications").text
    assert "No webhook yet" in page and "hooks.example.org" in page


def test_serve_delivers_after_a_kill_while_the_receiver_was_down(
    tmp_path: Path, box_factory: type[BoxProcess]
) -> None:
    hook_receiver = Receiver()  # not listening yet
    data = tmp_path / "box"
    env = {
        "MAGICKBOX_NOTIFICATIONS": json.dumps([{"url": hook_receiver.url, "secret": "k"}]),
        "MAGICKBOX_NOTIFY_RETRY_INITIAL_S": "0.2",
        "MAGICKBOX_NOTIFY_RETRY_MAX_S": "0.5",
        "MAGICKBOX_NOTIFY_POLL_S": "0.1",
    }
    box = box_factory(data=data, env=env, stages="notify,http").start(wait_dicom=False)
    store = Store(load_settings(data=str(data)))
    try:
        scratchdir = end_session(store, "finished")

        def tried_twice() -> bool:
            return len(box.get_json("/api/v1/notifications")["attempts"]) >= 2

        wait_until(tried_twice, timeout=20, what="two failed tries")
        box.stop(signal.SIGKILL)
        hook_receiver.start()
        box.start(wait_dicom=False)
        wait_until(lambda: len(hook_receiver.received) == 1, timeout=20, what="delivery after restart")
        got = hook_receiver.received[0]
        assert got.json()["scratchdir"] == scratchdir and got.json()["status"] == "finished"
        assert verify("k", got.body, got.headers["x-magickbox-signature"])
        box.stop()
        box.start(wait_dicom=False)
        time.sleep(1.0)  # a few polls of the restarted stage: nothing may be sent again
        assert len(hook_receiver.received) == 1
        assert box.get_json("/api/v1/notifications")["attempts"][0]["state"] == "done"
    finally:
        store.db.close()
        hook_receiver.stop()
