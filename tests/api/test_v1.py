"""/api/v1: sessions (filters, paging, detail, log, zips, delete, cancel, re-run), buckets, metrics."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta

import httpx

from magickbox.store import SessionKey, SessionState
from tests.api.conftest import BUCKET, Served
from tests.support import sessions as factory
from tests.support.net import wait_until


def get(served: Served, path: str, **params: object) -> httpx.Response:
    return httpx.get(served.url + "/api/v1" + path, params=params, timeout=30)  # type: ignore[arg-type]


def test_list_filters_and_paging(served: Served) -> None:
    made = [served.make_session("pager") for _ in range(5)]
    served.make_session("pager", end=None)
    page = get(served, "/sessions", caller="pager", status="finished", limit=2, offset=1).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert [i["scratchdir"] for i in page["items"]] == [made[3].scratchdir, made[2].scratchdir]
    assert get(served, "/sessions", caller="pager", status="queued").json()["total"] == 1
    assert get(served, "/sessions", caller="pager", bucket="nope").json()["total"] == 0
    assert get(served, "/sessions", caller="pager", bucket=BUCKET).json()["total"] == 6
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert get(served, "/sessions", caller="pager", since=future).json()["total"] == 0
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert get(served, "/sessions", caller="pager", since=past).json()["total"] == 6
    bad = get(served, "/sessions", status="nonsense")
    assert bad.status_code == 422 and set(bad.json()) == {"error", "detail"}


def test_one_session_has_files_history_job_and_proc(served: Served) -> None:
    s = served.make_session(output={"out/a.txt": b"abc"})
    folder = served.store.layout.session_dir(s.scratchdir)
    (folder / "proc.json").write_text('[{"success": "success", "message": "ok"}]')
    detail = get(served, f"/sessions/{s.scratchdir}").json()
    assert detail["status"] == "finished" and detail["processing_seconds"] >= 1
    assert {"area": "OUTPUT", "path": "out/a.txt", "size": 3} in detail["files"]
    assert [h["state"] for h in detail["history"]] == ["receiving", "queued", "running", "finished"]
    assert detail["proc"] == [{"success": "success", "message": "ok"}]
    assert detail["job"]["state"] == "done"
    missing = get(served, "/sessions/tmp.0000000000")
    assert missing.status_code == 404 and set(missing.json()) == {"error", "detail"}


def test_log_and_followed_log(served: Served) -> None:
    s = served.make_session(end="running", log="first\n")
    log_path = served.store.layout.log_path(s.scratchdir)
    assert get(served, f"/sessions/{s.scratchdir}/log").text == "first\n"
    assert get(served, f"/sessions/{s.scratchdir}/log", offset=3).text == "st\n"
    received: list[str] = []

    def follow() -> None:
        url = f"{served.url}/api/v1/sessions/{s.scratchdir}/log?follow=true"
        with httpx.stream("GET", url, timeout=30) as response:
            for text in response.iter_text():
                received.append(text)

    reader = threading.Thread(target=follow)
    reader.start()
    wait_until(lambda: "".join(received) == "first\n", timeout=10, what="first line")
    with log_path.open("a") as handle:
        handle.write("second\n")
    wait_until(lambda: "second" in "".join(received), timeout=10, what="appended line")
    with log_path.open("a") as handle:
        handle.write("last\n")
    factory.end(served.store, s.id, SessionState.FINISHED)
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert "".join(received) == "first\nsecond\nlast\n"


def test_zips_under_v1(served: Served) -> None:
    s = served.make_session(output={"r.txt": b"r"})
    out = zipfile.ZipFile(io.BytesIO(get(served, f"/sessions/{s.scratchdir}/output.zip").content))
    assert out.namelist() == [f"{s.scratchdir}/OUTPUT/r.txt"]
    inp = zipfile.ZipFile(io.BytesIO(get(served, f"/sessions/{s.scratchdir}/input.zip").content))
    assert inp.namelist() == [f"{s.scratchdir}/INPUT/img0001.dcm"]


def test_cancel_rerun_and_conflicts(served: Served) -> None:
    queued = served.make_session(end=None)
    response = httpx.post(f"{served.url}/api/v1/sessions/{queued.scratchdir}/cancel")
    # A queued job ends at once (the store cancels job and session together).
    assert response.status_code == 202 and response.json() == {
        "scratchdir": queued.scratchdir,
        "action": "cancel",
        "status": "cancelled",
    }
    assert [j.state for j in served.store.jobs.for_session(queued.id)] == ["cancelled"]
    assert httpx.post(f"{served.url}/api/v1/sessions/{queued.scratchdir}/cancel").status_code == 409

    waiting = served.make_session(end=None)
    rerun_queued = httpx.post(f"{served.url}/api/v1/sessions/{waiting.scratchdir}/rerun")
    assert rerun_queued.status_code == 409 and set(rerun_queued.json()) == {"error", "detail"}
    running = served.make_session(end="running")
    flagged = httpx.post(f"{served.url}/api/v1/sessions/{running.scratchdir}/cancel")
    assert flagged.status_code == 202 and flagged.json()["status"] == "running"
    job = served.store.jobs.for_session(running.id)[-1]
    assert job.state == "running" and job.cancel_requested == 1

    done = served.make_session()
    assert httpx.post(f"{served.url}/api/v1/sessions/{done.scratchdir}/cancel").status_code == 409
    again = httpx.post(f"{served.url}/api/v1/sessions/{done.scratchdir}/rerun")
    assert again.status_code == 202 and again.json()["status"] == "queued"
    entry = next(
        e
        for e in httpx.get(served.url + "/code/php/getScratch.php").json()
        if e["scratchdir"] == done.scratchdir
    )
    assert entry["processingTime"] == "0" and entry["status"] == "queued"


def test_delete_cancels_a_running_job_first(served: Served) -> None:
    s = served.make_session(end="running")

    def scheduler_stops_it() -> None:
        # The scheduler's part: notice the cancel request, stop the process, end the job.
        wait_until(
            lambda: served.store.jobs.for_session(s.id)[-1].cancel_requested,
            timeout=10,
        )
        time.sleep(0.3)
        factory.end(served.store, s.id, SessionState.CANCELLED, "cancelled by request")

    helper = threading.Thread(target=scheduler_stops_it)
    helper.start()
    response = httpx.delete(f"{served.url}/api/v1/sessions/{s.scratchdir}", timeout=30)
    helper.join()
    assert response.status_code == 200 and response.json()["status"] == "deleted"
    assert not served.store.layout.session_dir(s.scratchdir).exists()
    assert get(served, f"/sessions/{s.scratchdir}").status_code == 404


def test_delete_of_a_session_being_received_is_refused(served: Served) -> None:
    key = SessionKey("receiver", "ProcTest", "127.0.0.1", "1.2.3.4.5")
    s = served.store.sessions.join_or_create(key, BUCKET, "scp_1.2.3.4.5")
    response = httpx.delete(f"{served.url}/api/v1/sessions/{s.scratchdir}")
    assert response.status_code == 409
    assert served.store.layout.session_dir(s.scratchdir).exists()
    served.store.sessions.abort(s.id, "test over")


def test_buckets_list_and_one(served: Served) -> None:
    served.make_session(end=None)
    buckets = {b["name"]: b for b in get(served, "/buckets").json()}
    assert buckets["bucketBroken"]["valid"] is False and "AETitle" in buckets["bucketBroken"]["reason"]
    assert buckets["bucketOff"]["enabled"] is False
    mine = buckets[BUCKET]
    assert mine["AETitle"] == "ProcTest" and mine["queued"] >= 1 and mine["concurrency"] == 1
    assert get(served, f"/buckets/{BUCKET}").json()["name"] == BUCKET
    assert get(served, "/buckets/bucketBroken").json()["valid"] is False
    assert get(served, "/buckets/nope").status_code == 404


def test_metrics_in_prometheus_text(served: Served) -> None:
    served.make_session()
    served.make_session(end=None)
    response = httpx.get(served.url + "/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in lines if not line.startswith("#")
    }
    assert samples['magickbox_sessions{state="finished"}'] >= 1
    assert samples[f'magickbox_queue_depth{{bucket="{BUCKET}"}}'] >= 1
    assert samples[f'magickbox_bucket_duration_seconds_count{{bucket="{BUCKET}"}}'] >= 1
    assert "magickbox_received_instances_total" in samples and "magickbox_received_bytes_total" in samples


def test_openapi_is_served_and_the_cdn_docs_pages_are_off(served: Served) -> None:
    spec = httpx.get(served.url + "/openapi.json").json()
    assert "/api/v1/sessions" in spec["paths"] and "/api/v1/uploads" in spec["paths"]
    # /docs and /redoc would load their scripts from a CDN: off unless `api_docs` is set.
    assert httpx.get(served.url + "/docs").status_code == 404
    assert httpx.get(served.url + "/redoc").status_code == 404
    unknown = httpx.get(served.url + "/api/v1/nothing-here")
    assert unknown.status_code == 404 and set(unknown.json()) == {"error", "detail"}


def test_followed_log_as_server_sent_events(served: Served) -> None:
    s = served.make_session(end="running", log="one\ntwo\n")
    factory.end(served.store, s.id, SessionState.FINISHED)
    url = f"{served.url}/api/v1/sessions/{s.scratchdir}/log?follow=true"
    response = httpx.get(url, headers={"Accept": "text/event-stream"}, timeout=30)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text == "data: one\n\ndata: two\n\nevent: end\ndata: \n\n"
