from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from magickbox.config import Settings
from magickbox.store import Store, routelog
from tests.models.test_routing import DEFAULT_RULE

PARSE_ERROR = "Error: could not parse this json file"


def test_routing_json_is_an_empty_table_until_one_is_saved(client: TestClient, settings: Settings) -> None:
    assert client.get("/code/bin/routing.json").json() == {"routing": []}
    assert not settings.routing_path.exists()


def test_save_routing_writes_a_valid_table_and_answers_nothing(
    client: TestClient, settings: Settings
) -> None:
    text = json.dumps({"routing": [DEFAULT_RULE]})
    response = client.post("/code/php/saveRouting.php", data={"text": text})
    assert response.status_code == 200 and response.text == ""
    assert json.loads(settings.routing_path.read_text()) == {"routing": [DEFAULT_RULE]}
    assert client.get("/code/bin/routing.json").json() == {"routing": [DEFAULT_RULE]}
    assert client.get("/api/v1/routing").json() == {"routing": [DEFAULT_RULE]}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{ not json", "not valid JSON"),
        ("[]", "the top level must be an object"),
        ('{"routing": [{"name": "x", "send": [{".*": {"IP": "$me"}}]}]}', "PORT: Field required"),
        ('{"routing": [{"name": "x", "AETitleIn": "(["}]}', "AETitleIn: not a valid regular expression"),
    ],
)
def test_save_routing_refuses_an_invalid_table_and_keeps_the_old_one(
    client: TestClient, settings: Settings, text: str, reason: str
) -> None:
    good = {"routing": [DEFAULT_RULE]}
    settings.routing_path.write_text(json.dumps(good))
    response = client.post("/code/php/saveRouting.php", data={"text": text})
    assert response.status_code == 200
    first, *reasons = response.text.splitlines()
    assert first == PARSE_ERROR
    assert any(reason in r for r in reasons), reasons
    assert json.loads(settings.routing_path.read_text()) == good
    assert [p.name for p in settings.data.iterdir() if p.name.startswith(".routing")] == []


def test_api_put_validates_and_reports_json_errors(client: TestClient, settings: Settings) -> None:
    bad = client.put("/api/v1/routing", json={"routing": [{"name": "x", "RouteDirectory": "/etc"}]})
    assert bad.status_code == 422
    assert bad.json()["error"] == "invalid routing table"
    assert bad.json()["detail"] == ["routing[0].RouteDirectory: must be OUTPUT or INPUT, not '/etc'"]
    not_json = client.put("/api/v1/routing", content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["error"] == "the body is not JSON"
    assert not settings.routing_path.exists()
    ok = client.put("/api/v1/routing", json={"routing": [DEFAULT_RULE]})
    assert ok.status_code == 200 and ok.json() == {"routing": [DEFAULT_RULE]}
    assert client.get("/api/v1/routing").json() == {"routing": [DEFAULT_RULE]}


def test_routing_log_has_the_original_shape_newest_first(client: TestClient, settings: Settings) -> None:
    log = settings.logs_dir / "routing.log"
    log.write_text(
        '2015-02-20 12:34:56,001 CALLED routing with /data/scratch/tmp.X "ProcX" "caller"\n'
        '2015-02-20 12:34:56,002 check route 0 "Default Rule"\n'
        "2015-02-20 12:34:57,003 ROUTE: gearman -f bucket02 -- "
        '"/data/scratch/tmp.X/OUTPUT 10.0.0.5 11112 A B" &\n'
    )
    routelog.write(log, "DELIVERY: delivery 1 -- delivered tmp.X/OUTPUT")
    lines = client.get("/code/php/getRoutingLog.php").json()
    assert lines[1:] == [
        '2015-02-20 12:34:57 "/data/scratch/tmp.X/OUTPUT 10.0.0.5 11112 A B" &',
        '2015-02-20 12:34:56 /data/scratch/tmp.X "ProcX" "caller"',
    ]
    assert lines[0].endswith(" delivered tmp.X/OUTPUT")


def test_deliveries_of_unknown_or_malformed_sessions(client: TestClient) -> None:
    missing = client.get("/api/v1/sessions/tmp.ABCDEFGHIJ/deliveries")
    assert missing.status_code == 404 and missing.json()["error"] == "no such session"
    bad = client.get("/api/v1/sessions/..%2Fetc/deliveries")
    assert bad.status_code in (400, 404)
    assert client.get("/api/v1/deliveries/42").status_code == 404


def test_with_tokens_changing_routing_needs_admin_and_send_again_needs_write(
    client: TestClient, store: Store, settings: Settings
) -> None:
    _, read = store.tokens.create("read")
    _, write = store.tokens.create("write")
    _, admin = store.tokens.create("admin")
    table = {"routing": [DEFAULT_RULE]}
    assert client.put("/api/v1/routing", json=table).status_code == 401
    as_write = client.put("/api/v1/routing", json=table, headers={"Authorization": f"Bearer {write}"})
    assert as_write.status_code == 403
    saved = client.post("/code/php/saveRouting.php", data={"text": json.dumps(table)}, params={"token": read})
    assert saved.status_code == 403 and not settings.routing_path.exists()
    assert client.put("/api/v1/routing", json=table, params={"token": admin}).status_code == 200
    assert client.get("/api/v1/routing", params={"token": read}).json() == table
    assert client.get("/code/php/getRoutingLog.php").status_code == 401
    assert client.post("/api/v1/deliveries/1/retry", params={"token": read}).status_code == 403
    assert client.post("/api/v1/deliveries/1/retry", params={"token": write}).status_code == 404


def test_delivery_ids_beyond_sqlite_range_are_refused_not_a_server_error(client: TestClient) -> None:
    huge = 2**70
    assert client.get(f"/api/v1/deliveries/{huge}").status_code == 422
    assert client.post(f"/api/v1/deliveries/{huge}/retry").status_code == 422
    assert client.post("/api/v1/deliveries/0/retry").status_code == 422
