"""Retrieval from a real PACS: Debian's Orthanc on free loopback ports, holding studies of two
patients, with the box registered as a modality. Each study found becomes one session of the
bucket, equal bit for bit (data set bytes) to what was stored in Orthanc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.receive.helpers import assert_identical, input_files, normalise_like_storescu, sessions
from tests.support import dicomdata
from tests.support import orthanc as orthanc_support
from tests.support.box import BoxProcess
from tests.support.net import wait_until
from tests.support.orthanc import Orthanc

ORTHANC = orthanc_support.BINARY  # the old name; the `orthanc` fixture skips when it is missing
BUCKET = "ProcX"
# (patient id, accession, instances): patient P1 has two studies, P2 one.
HELD = (("P1", "ACC1", 2), ("P1", "ACC2", 3), ("P2", "ACC3", 1))
FINISHED_SCRIPT = "#!/bin/sh\nexit 0\n"


@dataclass
class Pacs:
    orthanc: Orthanc  # the run's shared Orthanc (tests/conftest.py), holding HELD
    files: dict[str, list[Path]]  # accession -> the files Orthanc holds
    study_uids: dict[str, str]  # accession -> StudyInstanceUID

    @property
    def url(self) -> str:
        return self.orthanc.url

    @property
    def dicom_port(self) -> int:
        return self.orthanc.dicom_port

    def register(self, name: str, ae_title: str, port: int) -> None:
        """Tell Orthanc where an AE title of the box listens (a C-MOVE destination)."""
        self.orthanc.register(name, ae_title, port)

    def env(self) -> dict[str, str]:
        node = {"host": "127.0.0.1", "port": self.dicom_port, "ae_title": self.orthanc.ae_title}
        return {"MAGICKBOX_PACS": json.dumps({"PACS": node})}


@pytest.fixture(scope="module")
def pacs(orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pacs]:
    """The shared Orthanc holding HELD for this module's tests; removed again at its end."""
    root = tmp_path_factory.mktemp("held")
    files: dict[str, list[Path]] = {}
    uids: dict[str, str] = {}
    held: set[str] = set()
    try:
        for patient, accession, count in HELD:
            folder = root / accession
            uids[accession] = dicomdata.write_patient_study(
                folder, patient_id=patient, patient_name=f"Test^{patient}", accession=accession,
                series=(("Series A", "CT", count),),
            )  # fmt: skip
            normalise_like_storescu(folder)
            files[accession] = sorted(folder.glob("*.dcm"))
            held |= orthanc.upload(files[accession])
        yield Pacs(orthanc, files, uids)
    finally:
        orthanc.delete_studies(held)


def start_box(box_factory: type[BoxProcess], tmp_path: Path, pacs: Pacs, name: str = "data") -> BoxProcess:
    box = box_factory(data=tmp_path / name, env=pacs.env(), stages="receive,run,retrieve,http")
    box.add_bucket("bucketProcX", {"name": BUCKET, "AETitle": BUCKET, "enabled": 1}, FINISHED_SCRIPT)
    box.start()
    pacs.register("magickbox", box.ae_title, box.dicom_port)
    pacs.register("procx", BUCKET, box.dicom_port)
    return box


def retrieve(box: BoxProcess, **body: Any) -> int:
    response = httpx.post(
        box.url + "/api/v1/retrievals", json={"pacs": "PACS", "bucket": BUCKET, **body}, timeout=10
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def wait_done(box: BoxProcess, retrieval_id: int) -> dict[str, Any]:
    def ended() -> bool:
        return box.get_json(f"/api/v1/retrievals/{retrieval_id}")["state"] in ("done", "cancelled")

    wait_until(ended, timeout=60, what=f"retrieval {retrieval_id} to end")
    report: dict[str, Any] = box.get_json(f"/api/v1/retrievals/{retrieval_id}")
    return report


def finished_sessions(box: BoxProcess, count: int) -> list[dict[str, Any]]:
    wait_until(
        lambda: len([s for s in sessions(box) if s["state"] == "finished"]) >= count,
        timeout=60, what=f"{count} finished session(s)",
    )  # fmt: skip
    return sessions(box)


def assert_one_session_per_study(box: BoxProcess, pacs: Pacs, accessions: list[str]) -> None:
    rows = finished_sessions(box, len(accessions))
    assert sorted(r["study_uid"] for r in rows) == sorted(pacs.study_uids[a] for a in accessions)
    by_uid = {r["study_uid"]: r for r in rows}
    for accession in accessions:
        session = by_uid[pacs.study_uids[accession]]
        assert session["state"] == "finished"
        assert session["calling_aet"] == "ORTHANC" and session["bucket"] == "bucketProcX"
        assert session["retrieval"] is not None
        assert_identical(pacs.files[accession], input_files(box, session))


def test_move_by_accession_to_the_box_reports_a_missing_key(
    box_factory: type[BoxProcess], tmp_path: Path, pacs: Pacs
) -> None:
    box = start_box(box_factory, tmp_path, pacs)
    retrieval_id = retrieve(box, keys=["ACC1", "NOPE", "ACC3"], key_type="accession")
    report = wait_done(box, retrieval_id)
    assert [(k["key"], k["state"]) for k in report["keys"]] == [
        ("ACC1", "received"), ("NOPE", "not_found"), ("ACC3", "received")
    ]  # fmt: skip
    assert_one_session_per_study(box, pacs, ["ACC1", "ACC3"])
    scratchdirs = {s["scratchdir"] for s in sessions(box)}
    assert {k["studies"][0]["scratchdir"] for k in report["keys"] if k["studies"]} == scratchdirs
    assert all(s["completed"] == s["expected"] for s in report["studies"])


def test_get_by_patient_id_fetches_each_study_of_the_patient(
    box_factory: type[BoxProcess], tmp_path: Path, pacs: Pacs
) -> None:
    box = start_box(box_factory, tmp_path, pacs)
    report = wait_done(box, retrieve(box, keys=["P1"], key_type="patient_id", method="get"))
    [key] = report["keys"]
    assert key["state"] == "received" and len(key["studies"]) == 2
    assert_one_session_per_study(box, pacs, ["ACC1", "ACC2"])


def test_move_by_study_uid_to_the_buckets_ae_title(
    box_factory: type[BoxProcess], tmp_path: Path, pacs: Pacs
) -> None:
    box = start_box(box_factory, tmp_path, pacs)
    uid = pacs.study_uids["ACC2"]
    report = wait_done(box, retrieve(box, keys=[uid], key_type="study_uid", destination="bucket"))
    assert report["keys"][0]["state"] == "received"
    assert_one_session_per_study(box, pacs, ["ACC2"])


def test_kill_during_a_retrieval_resumes_with_each_study_once(
    box_factory: type[BoxProcess], tmp_path: Path, pacs: Pacs
) -> None:
    box = start_box(box_factory, tmp_path, pacs)
    retrieval_id = retrieve(box, keys=["ACC1", "ACC2", "ACC3"], key_type="accession")

    def fetching() -> bool:
        studies = box.get_json(f"/api/v1/retrievals/{retrieval_id}")["studies"]
        return any(s["state"] != "pending" for s in studies)

    wait_until(fetching, timeout=30, what="a study to be fetched")
    box.kill()
    box.start()
    report = wait_done(box, retrieval_id)
    assert [k["state"] for k in report["keys"]] == ["received"] * 3
    assert_one_session_per_study(box, pacs, ["ACC1", "ACC2", "ACC3"])


def test_refused_requests_and_cancel_of_a_queued_retrieval(
    box_factory: type[BoxProcess], tmp_path: Path, pacs: Pacs
) -> None:
    box = box_factory(data=tmp_path / "data", env=pacs.env(), stages="receive,http")  # no retriever
    box.add_bucket("bucketProcX", {"name": BUCKET, "AETitle": BUCKET, "enabled": 1}, FINISHED_SCRIPT)
    box.start()
    post = box.url + "/api/v1/retrievals"
    unknown = httpx.post(post, json={"pacs": "NOPE", "bucket": BUCKET, "keys": ["A"]}, timeout=10)
    assert unknown.status_code == 404 and "PACS" in unknown.json()["error"]
    wildcard = httpx.post(post, json={"pacs": "PACS", "bucket": BUCKET, "keys": ["A*"]}, timeout=10)
    assert wildcard.status_code == 422
    retrieval_id = retrieve(box, keys=["ACC1"])
    cancel = httpx.post(f"{post}/{retrieval_id}/cancel", timeout=10)
    assert cancel.status_code == 200 and cancel.json()["state"] == "cancelled"
    assert box.get_json(f"/api/v1/retrievals/{retrieval_id}")["keys"][0]["state"] == "cancelled"
    echo = httpx.post(box.url + "/api/v1/pacs/PACS/echo", timeout=30).json()
    assert echo == {"pacs": "PACS", "ok": True, "status": 0, "error": ""}
    assert sessions(box) == []


def test_mb_retrieve_with_an_accession_file_reports_the_unknown_one(
    box_factory: type[BoxProcess], tmp_path: Path, pacs: Pacs
) -> None:
    box = start_box(box_factory, tmp_path, pacs)
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "MB_HOME": str(home)}
    mb = [str(Path(sys.executable).parent / "mb")]
    subprocess.run([*mb, "activeMachines", "add", "127.0.0.1", str(box.http_port)], env=env, check=True)
    accessions = tmp_path / "accessions.txt"
    accessions.write_text("ACC1\n# a comment\nUNKNOWN-9\n\nACC3\n")
    done = subprocess.run(
        [*mb, "retrieve", BUCKET, "--from", "PACS", "--accession-file", str(accessions), "--wait"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(line["key"], line["state"]) for line in lines] == [
        ("ACC1", "received"), ("UNKNOWN-9", "not_found"), ("ACC3", "received")
    ]  # fmt: skip
    assert lines[0]["StudyInstanceUIDs"] == [pacs.study_uids["ACC1"]] and len(lines[0]["scratchdirs"]) == 1
    assert lines[1]["StudyInstanceUIDs"] == [] and lines[1]["scratchdirs"] == []
    # --wait returned after the bucket ran: the two sessions are finished already.
    assert sorted(s["state"] for s in sessions(box)) == ["finished", "finished"]
    assert_one_session_per_study(box, pacs, ["ACC1", "ACC3"])
