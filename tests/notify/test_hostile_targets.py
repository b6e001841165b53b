"""Hostile webhook targets against a real `magickbox serve`: metadata and link-local URLs and URLs
the HTTP client cannot send are refused with a reason; one already in notifications.json fails
alone while a valid webhook is delivered; a reader and the server log never see credentials."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from magickbox.config import load_settings
from magickbox.store import Store
from tests.notify.receiver import Receiver
from tests.notify.sessions import end_session
from tests.support.box import BoxProcess
from tests.support.net import wait_until

pytestmark = pytest.mark.slow

REFUSED = (
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://metadata/",
    "http://[fd00:ec2::254]/",
    "http://[fe80::1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://100.100.100.200/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://[::1",
    "http://a..b/",
    "http://xn--/",
)
# Poison pills for the notifier, written to notifications.json before this version checked them.
POISON = ("http://[::1", "http://a..b/", "http://xn--/", "http://169.254.169.254/x")
PASSWORD = "hunter2pw"
API_KEY = "k3yv4lue"


def _env() -> dict[str, str]:
    return {"MAGICKBOX_NOTIFY_POLL_S": "0.1", "MAGICKBOX_NOTIFY_RETRY_INITIAL_S": "0.2"}


def test_metadata_link_local_and_unsendable_urls_are_refused(
    tmp_path: Path, box_factory: type[BoxProcess]
) -> None:
    box = box_factory(data=tmp_path / "box", env=_env(), stages="notify,http").start(wait_dicom=False)
    put = box.url + "/api/v1/notifications"
    for url in REFUSED:
        answer = httpx.put(put, json=[{"url": url}], timeout=10)
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["error"] == "invalid notifications" and answer.json()["detail"]
    assert not (tmp_path / "box" / "notifications.json").exists()
    for body in ({"url": ["x"]}, {"url": {}}, {"url": 1}, ["x"], {"nope": 1}):
        answer = httpx.post(box.url + "/api/v1/notifications/test", json=body, timeout=10)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["error"].startswith("the body must be a JSON object")


def test_a_bad_webhook_in_the_file_does_not_stop_a_valid_one(
    tmp_path: Path, box_factory: type[BoxProcess], receiver: Receiver
) -> None:
    data = tmp_path / "box"
    data.mkdir()
    hooks = [{"url": url, "events": ["session.finished"]} for url in POISON]
    hooks.append({"url": receiver.url, "events": ["session.finished"]})
    (data / "notifications.json").write_text(json.dumps(hooks))
    box = box_factory(data=data, env=_env(), stages="notify,http").start(wait_dicom=False)
    store = Store(load_settings(data=str(data)))
    try:
        scratchdir = end_session(store, "finished")
        wait_until(lambda: len(receiver.received) == 1, timeout=20, what="the valid webhook's delivery")
        assert receiver.received[0].json()["scratchdir"] == scratchdir
        problem = box.get_json("/api/v1/notifications")["file_problem"]
        assert "notifications.json[0]" in problem and "169.254.169.254 is link-local" in problem
        assert "Traceback" not in box.server_log(100_000)
    finally:
        store.db.close()


def test_a_reader_and_the_log_see_no_webhook_credentials(
    tmp_path: Path, box_factory: type[BoxProcess], receiver: Receiver
) -> None:
    data = tmp_path / "box"
    secret_url = receiver.url.replace("http://", f"http://user:{PASSWORD}@") + f"?api_key={API_KEY}&x=1"
    down_url = f"http://user:{PASSWORD}@127.0.0.1:9/down?token={API_KEY}"  # failed tries get logged
    env = {**_env(), "MAGICKBOX_NOTIFICATIONS": json.dumps([{"url": secret_url, "secret": "hmac-secret"}])}
    data.mkdir()
    # Not JSON: shown to a reader before, secret and all.
    (data / "notifications.json").write_text(f'[{{"url": "{down_url}", "secret": "hmac-secret",')
    box = box_factory(data=data, env=env, stages="notify,http").start(wait_dicom=False)
    store = Store(load_settings(data=str(data)))
    try:
        _info, read_token = store.tokens.create("read", "reader")
        _info, admin_token = store.tokens.create("admin", "admin")
        admin = {"Authorization": f"Bearer {admin_token}"}
        reader = {"Authorization": f"Bearer {read_token}"}
        end_session(store, "finished")
        wait_until(lambda: len(receiver.received) == 1, timeout=20, what="the delivery")
        got = receiver.received[0]
        assert got.headers["authorization"].startswith("Basic ")  # the credentials still go out
        fixed = [{"url": down_url, "secret": "hmac-secret", "events": ["session.finished"]}]
        assert httpx.put(box.url + "/api/v1/notifications", json=fixed, headers=admin).status_code == 200
        end_session(store, "finished")
        wait_until(
            lambda: "down" in json.dumps(box.get_json("/api/v1/notifications", token=read_token)["attempts"]),
            timeout=20, what="a failed try of the down webhook",
        )  # fmt: skip
        (data / "notifications.json").write_text(f'[{{"url": "{down_url}", "secret": "hmac-secret",')
        seen = [
            httpx.get(box.url + "/api/v1/notifications", headers=reader, timeout=10).text,
            httpx.get(box.url + "/ui/notifications", params={"token": read_token}, timeout=10).text,
            httpx.get(box.url + "/ui/notifications", cookies={"mb_ui": read_token}, timeout=10).text,
            box.server_log(1_000_000),
        ]
        for text in seen:
            assert PASSWORD not in text and API_KEY not in text and "hmac-secret" not in text
        assert "127.0.0.1" in seen[0] and "********" in seen[0]
    finally:
        store.db.close()
