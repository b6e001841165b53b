"""/api/v1/retrievals and /api/v1/pacs, and the retrievals page, over the app in this process
(no retrieve stage: what the API records and refuses)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from magickbox.app import create_app
from magickbox.config import load_settings
from magickbox.store import Store
from tests.support.net import free_port


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[tuple[TestClient, Store]]:
    closed_port = free_port()  # nothing listens there: the PACS is down
    pacs = {"PACS": {"host": "127.0.0.1", "port": closed_port, "ae_title": "ORTHANC", "timeout_s": 2}}
    settings = load_settings(data=str(tmp_path / "data"), pacs=pacs)
    bucket = settings.data / "streams" / "bucketProcX"
    bucket.mkdir(parents=True)
    (bucket / "info.json").write_text(json.dumps({"name": "ProcX", "AETitle": "ProcX", "enabled": 1}))
    store = Store(settings)
    with TestClient(create_app(settings, store), base_url="http://localhost") as client:
        yield client, store
    store.db.close()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"pacs": "NOPE", "bucket": "ProcX", "keys": ["A"]}, 404),
        ({"pacs": "PACS", "bucket": "NoBucket", "keys": ["A"]}, 404),
        ({"pacs": "PACS", "bucket": "ProcX", "keys": []}, 422),
        ({"pacs": "PACS", "bucket": "ProcX", "keys": ["A*"]}, 422),
        ({"pacs": "PACS", "bucket": "ProcX", "keys": ["x" * 65]}, 422),
        ({"pacs": "PACS", "bucket": "ProcX", "keys": ["A"], "key_type": "name"}, 422),
        ({"pacs": "PACS", "bucket": "ProcX", "keys": ["A"], "study_date_from": "2024-01-01"}, 422),
        ({"pacs": "PACS", "bucket": "ProcX", "keys": ["A"], "study_date_from": "20250101",
          "study_date_to": "20240101"}, 422),
    ],
)  # fmt: skip
def test_bad_requests_are_refused_with_a_json_reason(
    app_client: tuple[TestClient, Store], body: dict[str, object], status: int
) -> None:
    client, store = app_client
    response = client.post("/api/v1/retrievals", json=body)
    assert response.status_code == status
    assert response.json()["error"]
    assert store.retrievals.listing() == []


def test_a_retrieval_is_recorded_listed_and_cancelled(app_client: tuple[TestClient, Store]) -> None:
    client, _store = app_client
    body = {"pacs": "PACS", "bucket": "ProcX", "keys": ["A1", " A2 ", "A1"], "modality": "MR"}
    created = client.post("/api/v1/retrievals", json=body)
    assert created.status_code == 201 and created.json()["state"] == "queued"
    retrieval_id = created.json()["id"]
    report = client.get(f"/api/v1/retrievals/{retrieval_id}").json()
    assert [k["key"] for k in report["keys"]] == ["A1", "A2"]  # trimmed, duplicates dropped
    assert (report["bucket"], report["method"], report["destination"]) == ("bucketProcX", "move", "MAGICKBOX")
    assert client.get("/api/v1/retrievals").json()[0]["keys"] == {"pending": 2}
    cancelled = client.post(f"/api/v1/retrievals/{retrieval_id}/cancel")
    assert cancelled.json()["state"] == "cancelled"
    assert {k["state"] for k in client.get(f"/api/v1/retrievals/{retrieval_id}").json()["keys"]} == {
        "cancelled"
    }
    assert client.get("/api/v1/retrievals/999").status_code == 404


def test_echo_of_a_pacs_that_is_down_says_so(app_client: tuple[TestClient, Store]) -> None:
    client, _store = app_client
    answer = client.post("/api/v1/pacs/PACS/echo").json()
    assert answer["ok"] is False and "no association with ORTHANC" in answer["error"]
    assert client.post("/api/v1/pacs/NOPE/echo").status_code == 404
    assert client.get("/api/v1/pacs").json()["PACS"]["ae_title"] == "ORTHANC"


def test_the_page_shows_the_pacs_the_form_and_the_retrievals(app_client: tuple[TestClient, Store]) -> None:
    client, _store = app_client
    client.post("/api/v1/retrievals", json={"pacs": "PACS", "bucket": "ProcX", "keys": ["<b>"]})
    page = client.get("/ui/retrievals")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert 'data-pacs-echo="PACS"' in page.text and 'id="retrieval-form"' in page.text
    table = client.get("/ui/retrievals/table").text
    assert "bucketProcX" in table and "pending 1" in table
    assert client.get("/ui/static/retrievals.js").status_code == 200
