"""A real PACS sends to the box: Orthanc holds a study of mixed SOP classes and transfer syntaxes
and is told over its REST API to send it (`POST /modalities/<name>/store`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest
from pydicom.uid import generate_uid

from tests.receive.helpers import (
    all_settled,
    assert_identical,
    input_files,
    make_box,
    normalise_like_storescu,
    sealed,
    sessions,
)
from tests.support import dicomdata
from tests.support.net import free_port, wait_until

ORTHANC = Path("/usr/sbin/Orthanc")
pytestmark = pytest.mark.skipif(not ORTHANC.exists(), reason="Orthanc is not installed (/usr/sbin/Orthanc)")
MIXED = [
    (dicomdata.EXPLICIT_LE, 3),
    (dicomdata.IMPLICIT_LE, 2),
    (dicomdata.BIG_ENDIAN, 1),
    (dicomdata.JPEG_BASELINE, 2),
    (dicomdata.JPEG_LS, 1),
    (dicomdata.JPEG_2000, 1),
    (dicomdata.RLE, 1),
    (dicomdata.RT_PLAN, 1),
]


def start_orthanc(tmp_path: Path, box_port: int) -> tuple[subprocess.Popen[bytes], str]:
    http_port, dicom_port = free_port(), free_port()
    config = {
        "Name": "test-pacs",
        "StorageDirectory": str(tmp_path / "orthanc-db"),
        "IndexDirectory": str(tmp_path / "orthanc-db"),
        "DicomAet": "ORTHANC",
        "DicomPort": dicom_port,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "Plugins": [],
        "DicomModalities": {"magickbox": ["ProcBucket", "127.0.0.1", box_port]},
    }
    path = tmp_path / "orthanc.json"
    path.write_text(json.dumps(config))
    log = (tmp_path / "orthanc.log").open("wb")
    proc = subprocess.Popen([str(ORTHANC), str(path)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{http_port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/system", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout=30, what="Orthanc")
    return proc, url


def test_orthanc_sends_a_mixed_study_as_one_session_bit_for_bit(box_factory: Any, tmp_path: Path) -> None:
    box = make_box(box_factory, tmp_path, settle_s=2.0).start()
    study_uid = generate_uid()
    files: list[Path] = []
    for source, count in MIXED:
        folder = tmp_path / "study" / source.removesuffix(".dcm")
        files += dicomdata.write_study(folder, count, source=source, study_uid=study_uid)[1]
    for path in files:  # one patient, so Orthanc sees one study
        ds = pydicom.dcmread(path)
        ds.PatientID = "MB-TEST-1"
        ds.save_as(path)
    normalise_like_storescu(tmp_path / "study")
    proc, url = start_orthanc(tmp_path, box.dicom_port)
    try:
        for path in files:
            httpx.post(url + "/instances", content=path.read_bytes(), timeout=30).raise_for_status()
        [orthanc_study] = httpx.get(url + "/studies", timeout=10).json()

        response = httpx.post(
            url + "/modalities/magickbox/store",
            json={"Resources": [orthanc_study], "Synchronous": True},
            timeout=120,
        )
        assert response.status_code == 200, response.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp_path / "orthanc-db", ignore_errors=True)

    wait_until(lambda: all_settled(box), timeout=30, what="the session to be sealed")
    [session] = sessions(box)
    assert sealed(box, session)
    assert session["calling_aet"] == "ORTHANC"
    assert session["pid"] == f"scp_{study_uid}"
    assert_identical(files, input_files(box, session))
