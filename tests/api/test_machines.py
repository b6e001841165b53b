"""`GET /api/v1/machines`: the box itself and its configured peers, for `mb queryMachines`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from magickbox.api.machines import split_peer
from magickbox.config import load_settings
from magickbox.store import Store
from tests.support.box import BoxProcess


def test_machines_lists_the_box_then_its_peers(box_factory: type[BoxProcess], tmp_path: Path) -> None:
    peers = ["127.0.0.1:2900", "[::1]:2901", "box.example"]
    box = box_factory(data=tmp_path / "data", env={"MAGICKBOX_PEERS": json.dumps(peers)}).start(
        wait_dicom=False
    )
    answer = httpx.get(box.url + "/api/v1/machines", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == [
        {"Machine": "127.0.0.1", "Port": str(box.http_port), "Sender": "", "Status": None, "Self": True,
         "AETitle": box.ae_title, "DicomPort": str(box.dicom_port)},
        {"Machine": "127.0.0.1", "Port": "2900", "Sender": "", "Status": None, "Self": False},
        {"Machine": "::1", "Port": "2901", "Sender": "", "Status": None, "Self": False},
        {"Machine": "box.example", "Port": "2813", "Sender": "", "Status": None, "Self": False},
    ]  # fmt: skip


def test_machines_needs_a_token_once_tokens_exist(box_factory: type[BoxProcess], tmp_path: Path) -> None:
    box = box_factory(data=tmp_path / "data").start(wait_dicom=False)
    store = Store(load_settings(data=str(box.data)))
    try:
        _, secret = store.tokens.create("read", "test")
    finally:
        store.db.close()
    assert httpx.get(box.url + "/api/v1/machines", timeout=10).status_code == 401
    allowed = httpx.get(
        box.url + "/api/v1/machines", headers={"Authorization": f"Bearer {secret}"}, timeout=10
    )
    assert allowed.status_code == 200


def test_split_peer() -> None:
    assert split_peer("10.1.2.3:2813") == ("10.1.2.3", "2813")
    assert split_peer("host") == ("host", "2813")
    assert split_peer("[fe80::1]:99") == ("fe80::1", "99")
