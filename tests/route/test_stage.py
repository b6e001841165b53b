"""The router stage in a real `magickbox serve`, sending to dcmtk `storescp` destinations.

Finished sessions are made from the test process through the store, as the scheduler makes them
(the stage contract); the box and the test share the SQLite store.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest

from tests.models.test_routing import DEFAULT_RULE
from tests.route.peers import StoreSCP, assert_same_datasets, make_finished_session
from tests.support.box import BoxProcess
from tests.support.dcmtk import storescu
from tests.support.dicomdata import write_study
from tests.support.net import free_port, wait_until

FAST_RETRIES = {
    "MAGICKBOX_ROUTE_RETRY_INITIAL_S": "0.3",
    "MAGICKBOX_ROUTE_RETRY_MAX_S": "1",
    "MAGICKBOX_ROUTE_GIVE_UP_S": "120",
    "MAGICKBOX_ROUTE_POLL_S": "0.1",
    "MAGICKBOX_ROUTE_TIMEOUT_S": "5",
    "MAGICKBOX_ROUTE_LEASE_S": "3",
}


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[list[StoreSCP]]:
    started: list[StoreSCP] = []
    yield started
    for peer in started:
        peer.stop()


def start_peer(tmp_path: Path, peers: list[StoreSCP], name: str, port: int | None = None) -> StoreSCP:
    peer = StoreSCP(tmp_path / name, **({"port": port} if port else {})).start()
    peers.append(peer)
    return peer


def start_box(
    box_factory: type[BoxProcess], data: Path, rules: list[dict[str, Any]] | None, me_port: int = 11112
) -> BoxProcess:
    data.mkdir(parents=True, exist_ok=True)
    if rules is not None:
        (data / "routing.json").write_text(json.dumps({"routing": rules}))
    env = {**FAST_RETRIES, "MAGICKBOX_ROUTE_ME": "127.0.0.1", "MAGICKBOX_ROUTE_PORT": str(me_port)}
    return box_factory(data=data, env=env).start()


def deliveries(box: BoxProcess, scratchdir: str) -> dict[str, Any]:
    result: dict[str, Any] = box.get_json(f"/api/v1/sessions/{scratchdir}/deliveries")
    return result


def wait_routing(box: BoxProcess, scratchdir: str, outcome: str, timeout: float = 30) -> dict[str, Any]:
    wait_until(lambda: deliveries(box, scratchdir)["routing"] == outcome, timeout=timeout, what=outcome)
    return deliveries(box, scratchdir)


def to(peer: StoreSCP, **extra: Any) -> dict[str, Any]:
    return {
        "IP": "127.0.0.1",
        "PORT": peer.port,
        "AETitleSender": "MAGICKBOX",
        "AETitleTo": "STORESCP",
        **extra,
    }


def test_the_default_rule_returns_output_to_the_senders_node(
    tmp_path: Path, peers: list[StoreSCP], box_factory: type[BoxProcess]
) -> None:
    node = start_peer(tmp_path, peers, "node")
    box = start_box(box_factory, tmp_path / "data", [DEFAULT_RULE], me_port=node.port)
    _, output = write_study(tmp_path / "out", 3)
    _, inputs = write_study(tmp_path / "in", 2)
    note = tmp_path / "report.txt"
    note.write_text("not DICOM")
    scratchdir = make_finished_session(box.data, output=[*output, note], input_=inputs, outcome=None)

    result = wait_routing(box, scratchdir, "routed")
    (delivery,) = result["deliveries"]
    assert delivery["state"] == "done" and delivery["attempts"] == 1
    assert delivery["destination"] == {
        "IP": "127.0.0.1", "PORT": node.port, "AETitleSender": "ProcDefault", "AETitleTo": "DCM4CHEE",
    }  # fmt: skip
    assert delivery["files"] == {"sent": 3, "failed": 0, "skipped": 1}
    assert_same_datasets(output, node.received())
    assert {pydicom.dcmread(p).file_meta.SourceApplicationEntityTitle for p in node.received()} == {
        "ProcDefault"
    }
    files = box.get_json(f"/api/v1/deliveries/{delivery['id']}")["file_results"]
    assert sorted(f["outcome"] for f in files) == ["sent", "sent", "sent", "skipped"]

    log = box.get_json("/code/php/getRoutingLog.php")
    assert any(line.endswith(f'{scratchdir} "ProcX" "CT1"') for line in log)
    assert any(f"{scratchdir}/OUTPUT 127.0.0.1 {node.port} ProcDefault DCM4CHEE" in line for line in log)
    assert log.index(next(line for line in log if "delivered" in line)) < log.index(
        next(line for line in log if '"ProcX" "CT1"' in line)
    )  # newest first


def test_success_and_failed_keys_pick_destinations(
    tmp_path: Path, peers: list[StoreSCP], box_factory: type[BoxProcess]
) -> None:
    good, bad = start_peer(tmp_path, peers, "good"), start_peer(tmp_path, peers, "bad")
    rule = {"name": "by outcome", "send": [{"^success$": to(good), "failed": to(bad)}]}
    box = start_box(box_factory, tmp_path / "data", [rule])
    _, ok_files = write_study(tmp_path / "ok", 2)
    _, failed_files = write_study(tmp_path / "failed", 1)
    ok = make_finished_session(box.data, output=ok_files, outcome="success")
    failed = make_finished_session(box.data, output=failed_files, outcome="failed", state="failed")
    unknown = make_finished_session(box.data, output=ok_files, outcome=None)

    wait_routing(box, ok, "routed")
    wait_routing(box, failed, "routed")
    assert deliveries(box, unknown)["routing"] == "none"  # couldNotReadProcJSON matches no key
    assert_same_datasets(ok_files, good.received())
    assert_same_datasets(failed_files, bad.received())


def test_which_filters_by_series_description_and_both_breaks(
    tmp_path: Path, peers: list[StoreSCP], box_factory: type[BoxProcess]
) -> None:
    t1_peer, other = start_peer(tmp_path, peers, "t1"), start_peer(tmp_path, peers, "other")
    rules = [
        {
            "name": "T1 only, for ProcX",
            "AETitleIn": "^procx$",
            "send": [
                {"success": to(t1_peer, which=[{"0008,103e": "t1"}], **{"break": 1})},
                {".*": to(other)},  # not evaluated: the destination above matched with break
            ],
            "break": 1,
        },
        {"name": "everything else", "send": [{".*": to(other)}]},  # only when rule 0 does not apply
    ]
    box = start_box(box_factory, tmp_path / "data", rules)
    _, t1 = write_study(tmp_path / "t1", 2, series_description="Sag T1 MPRAGE")
    _, t2 = write_study(tmp_path / "t2", 2, series_description="Ax T2 FLAIR")
    procx = make_finished_session(box.data, output=[*t1, *t2], called="ProcX")

    (delivery,) = wait_routing(box, procx, "routed")["deliveries"]
    assert delivery["which"] == [[["0008,103e", "t1"]]] and delivery["files"]["sent"] == 2
    assert_same_datasets(t1, t1_peer.received())
    assert other.received() == []

    procy = make_finished_session(box.data, output=t2, called="ProcY")
    (delivery,) = wait_routing(box, procy, "routed")["deliveries"]
    assert delivery["rule"]["name"] == "everything else"
    assert_same_datasets(t2, other.received())


def test_route_directory_input_sends_the_received_files(
    tmp_path: Path, peers: list[StoreSCP], box_factory: type[BoxProcess]
) -> None:
    peer = start_peer(tmp_path, peers, "peer")
    rule = {"name": "archive input", "RouteDirectory": "INPUT", "send": [{".*": to(peer)}]}
    box = start_box(box_factory, tmp_path / "data", [rule])
    _, output = write_study(tmp_path / "out", 1)
    _, inputs = write_study(tmp_path / "in", 3)
    scratchdir = make_finished_session(box.data, output=output, input_=inputs)
    (delivery,) = wait_routing(box, scratchdir, "routed")["deliveries"]
    assert delivery["folder"] == "INPUT"
    assert_same_datasets(inputs, peer.received())


def test_a_destination_down_then_up_is_delivered_after_a_retry(
    tmp_path: Path, peers: list[StoreSCP], box_factory: type[BoxProcess]
) -> None:
    port = free_port()
    late = StoreSCP(tmp_path / "late", port=port)
    up = start_peer(tmp_path, peers, "up")
    rule = {"name": "two", "send": [{".*": to(late)}, {".*": to(up)}]}
    box = start_box(box_factory, tmp_path / "data", [rule])
    _, output = write_study(tmp_path / "out", 2)
    scratchdir = make_finished_session(box.data, output=output)

    def retried() -> bool:
        down = [d for d in deliveries(box, scratchdir)["deliveries"] if d["destination"]["PORT"] == port]
        return bool(down) and down[0]["attempts"] >= 2

    wait_until(retried, timeout=30, what="two failed attempts")
    result = deliveries(box, scratchdir)
    down, ok = sorted(result["deliveries"], key=lambda d: d["destination"]["PORT"] != port)
    assert result["routing"] == "pending"
    assert down["state"] in ("pending", "sending") and "could not be reached" in down["last_error"]
    assert ok["state"] == "done"  # the dead destination did not hold up the other one
    assert_same_datasets(output, up.received())

    peers.append(late.start())
    result = wait_routing(box, scratchdir, "routed")
    assert_same_datasets(output, late.received())
    assert httpx.get(f"{box.url}/api/v1/sessions/{scratchdir}/deliveries").json()["routing"] == "routed"


def test_a_pending_delivery_survives_kill_9_and_is_delivered_after_restart(
    tmp_path: Path, peers: list[StoreSCP], box_factory: type[BoxProcess]
) -> None:
    port = free_port()
    peer = StoreSCP(tmp_path / "peer", port=port)
    box = start_box(box_factory, tmp_path / "data", [{"name": "r", "send": [{".*": to(peer)}]}])
    _, output = write_study(tmp_path / "out", 2)
    scratchdir = make_finished_session(box.data, output=output)
    wait_until(lambda: [d["attempts"] for d in deliveries(box, scratchdir)["deliveries"]] >= [1], timeout=30)
    box.kill()

    peers.append(peer.start())
    again = start_box(box_factory, tmp_path / "data", None)
    (delivery,) = wait_routing(again, scratchdir, "routed")["deliveries"]
    assert delivery["state"] == "done" and delivery["attempts"] >= 2
    assert_same_datasets(output, peer.received())


def test_send_again_resends_a_done_delivery(
    tmp_path: Path, peers: list[StoreSCP], box_factory: type[BoxProcess]
) -> None:
    peer = start_peer(tmp_path, peers, "peer")
    box = start_box(box_factory, tmp_path / "data", [{"name": "r", "send": [{".*": to(peer)}]}])
    _, output = write_study(tmp_path / "out", 1)
    scratchdir = make_finished_session(box.data, output=output)
    (delivery,) = wait_routing(box, scratchdir, "routed")["deliveries"]
    for path in peer.received():
        path.unlink()

    response = httpx.post(f"{box.url}/api/v1/deliveries/{delivery['id']}/retry")
    assert response.status_code == 202 and response.json()["state"] in ("pending", "sending", "done")
    wait_until(lambda: len(peer.received()) == 1, timeout=30, what="the file sent again")
    (again,) = wait_routing(box, scratchdir, "routed")["deliveries"]
    assert again["attempts"] == 2
    assert_same_datasets(output, peer.received())
    missing = httpx.post(f"{box.url}/api/v1/deliveries/999999/retry")
    assert missing.status_code == 404 and missing.json()["error"] == "no such delivery"


def test_sessions_wait_while_routing_json_is_broken_and_go_when_it_is_fixed(
    tmp_path: Path, peers: list[StoreSCP], box_factory: type[BoxProcess]
) -> None:
    peer = start_peer(tmp_path, peers, "peer")
    data = tmp_path / "data"
    data.mkdir()
    (data / "routing.json").write_text('{"routing": [{"name": "r", "send": [{"(": {}}]}]}')
    box = start_box(box_factory, data, None)
    _, output = write_study(tmp_path / "out", 1)
    scratchdir = make_finished_session(box.data, output=output)
    log = data / "logs" / "routing.log"
    wait_until(lambda: log.exists() and "routing.json is invalid" in log.read_text(), timeout=30)
    assert deliveries(box, scratchdir)["route_checked_at"] is None

    fixed = {"routing": [{"name": "r", "send": [{".*": to(peer)}]}]}
    assert httpx.put(f"{box.url}/api/v1/routing", json=fixed).status_code == 200
    wait_routing(box, scratchdir, "routed")
    assert_same_datasets(output, peer.received())


def test_storescu_to_box_a_to_box_b_to_storescp_carries_the_same_data_sets(
    tmp_path: Path, peers: list[StoreSCP], box_factory: type[BoxProcess]
) -> None:
    """The whole chain with the shipped ProcCopy bucket on two boxes: A routes its OUTPUT to B's
    DICOM port (B's ProcCopy bucket), B routes its OUTPUT to storescp."""
    final = start_peer(tmp_path, peers, "final")
    box_b = start_box(box_factory, tmp_path / "b", [{"name": "out", "send": [{"success": to(final)}]}])
    to_b = {"IP": "127.0.0.1", "PORT": box_b.dicom_port, "AETitleSender": "BoxA", "AETitleTo": "ProcCopy"}
    box_a = start_box(box_factory, tmp_path / "a", [{"name": "to b", "send": [{"success": to_b}]}])
    _, study = write_study(tmp_path / "study", 4, series_description="chain")
    storescu(box_a.dicom_port, tmp_path / "study", check=True)

    def routed(box: BoxProcess) -> list[dict[str, Any]]:
        return [s for s in box.get_json("/code/php/getScratch.php") if s.get("routing") == "routed"]

    wait_until(lambda: routed(box_a), timeout=60, what="box A routed")
    wait_until(lambda: routed(box_b), timeout=60, what="box B routed")
    (session_b,) = box_b.get_json("/code/php/getScratch.php")
    assert session_b["AETitleCaller"] == "BoxA" and session_b["status"] == "finished"
    wait_until(lambda: len(final.received()) == 4, timeout=30, what="four files at storescp")
    assert_same_datasets(study, final.received())


def test_kill_9_while_a_delivery_is_being_sent_sends_it_after_restart(
    tmp_path: Path, peers: list[StoreSCP], box_factory: type[BoxProcess]
) -> None:
    """The destination takes the connection but never answers: the delivery is `sending` when
    the box dies. The restarted box takes its dead claim back at once (the lease is long)."""
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    peer = StoreSCP(tmp_path / "peer", port=port)
    env = {"MAGICKBOX_ROUTE_LEASE_S": "600", "MAGICKBOX_ROUTE_TIMEOUT_S": "60"}
    rules = [{"name": "r", "send": [{".*": to(peer)}]}]
    data = tmp_path / "data"
    data.mkdir()
    (data / "routing.json").write_text(json.dumps({"routing": rules}))
    box = box_factory(data=data, env={**FAST_RETRIES, **env}).start()
    _, output = write_study(tmp_path / "out", 2)
    scratchdir = make_finished_session(box.data, output=output)
    try:
        sending = lambda: [d["state"] for d in deliveries(box, scratchdir)["deliveries"]] == ["sending"]  # noqa: E731
        wait_until(sending, timeout=30, what="the delivery being sent")
        box.kill()
    finally:
        silent.close()
    peers.append(peer.start())
    again = box_factory(data=data, env={**FAST_RETRIES, **env}).start()
    (delivery,) = wait_routing(again, scratchdir, "routed", timeout=30)["deliveries"]
    assert delivery["attempts"] == 2
    assert_same_datasets(output, peer.received())
