"""Hostile retrieval keys against a real Orthanc: a key that would match more than the value it
names (empty after a NUL, a wildcard, a character the query's character set cannot hold) is
refused with 422 before any C-FIND, and a poison-pill retrieval already stored fails alone while
the valid retrieval queued after it is fetched."""

from __future__ import annotations

from pathlib import Path

import httpx

from magickbox.config import load_settings
from magickbox.store import Store
from magickbox.store.retrievals import NewRetrieval
from tests.e2e.test_retrieve_orthanc import (  # the module's Orthanc fixture and helpers
    BUCKET,
    Pacs,
    assert_one_session_per_study,
    pacs,
    retrieve,
    start_box,
    wait_done,
)
from tests.receive.helpers import sessions
from tests.support.box import BoxProcess

__all__ = ["pacs"]  # a fixture: imported to be used here

HOSTILE = (
    ("accession", "\u0000"),  # reached Orthanc as an empty key: every study
    ("patient_id", "\u0000"),
    ("accession", "ACC\u4e2d"),  # unencodable in ISO_IR 6: written as `ACC?`, a wildcard
    ("patient_id", "P\u00e9"),  # not ASCII either (pydicom would send it as undeclared Latin-1)
    ("accession", "ACC*"),
    ("patient_id", "?"),
    ("accession", "   "),
    ("accession", "ACC1\\ACC2"),  # two values
    ("accession", "ACC1\tX"),
    ("accession", "A" * 17),  # SH holds 16
    ("study_uid", "1.2.ABC"),
)


def test_hostile_keys_are_refused_before_any_c_find(
    box_factory: type[BoxProcess], tmp_path: Path, pacs: Pacs
) -> None:
    box = start_box(box_factory, tmp_path, pacs)
    valid = {"accession": "ACC1", "patient_id": "P1", "study_uid": pacs.study_uids["ACC1"]}
    for key_type, key in HOSTILE:
        body = {"pacs": "PACS", "bucket": BUCKET, "key_type": key_type, "keys": [valid[key_type], key]}
        answer = httpx.post(box.url + "/api/v1/retrievals", json=body, timeout=10)
        assert answer.status_code == 422, (key_type, key, answer.text)
        [refused] = answer.json()["detail"]
        assert refused["key"] == key and refused["index"] == 1 and refused["reason"]
    assert box.get_json("/api/v1/retrievals") == []
    assert sessions(box) == []


def test_a_poison_pill_retrieval_fails_alone_and_the_next_one_is_fetched(
    box_factory: type[BoxProcess], tmp_path: Path, pacs: Pacs
) -> None:
    box = start_box(box_factory, tmp_path, pacs)
    store = Store(load_settings(data=str(box.data)))
    try:
        poison = [  # rows stored before keys were checked (or by hand): each raised on every try
            NewRetrieval("PACS", "bucketProcX", "move", box.ae_title, "nonsense", ["ACC1"]),
            NewRetrieval("PACS", "bucketProcX", "move", box.ae_title, "accession", ["\u0000", "ACC\u4e2d"]),
        ]
        poison_ids = [store.retrievals.create(new) for new in poison]
    finally:
        store.db.close()
    valid = retrieve(box, keys=["ACC3"], key_type="accession")
    assert wait_done(box, valid)["keys"][0]["state"] == "received"
    assert_one_session_per_study(box, pacs, ["ACC3"])
    for retrieval_id in poison_ids:
        report = wait_done(box, retrieval_id)
        assert {k["state"] for k in report["keys"]} == {"failed"}
        assert all(k["error"].startswith("refused: the key") for k in report["keys"])
        assert report["studies"] == []
