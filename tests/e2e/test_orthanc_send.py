"""A real PACS sends to the box: Orthanc holds a study of mixed SOP classes and transfer syntaxes
and is told over its REST API to send it (`POST /modalities/<name>/store`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
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
from tests.support.net import wait_until
from tests.support.orthanc import Orthanc

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


def test_orthanc_sends_a_mixed_study_as_one_session_bit_for_bit(
    box_factory: Any, tmp_path: Path, orthanc: Orthanc
) -> None:
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
    orthanc.register("magickbox-send", "ProcBucket", box.dicom_port)
    studies = orthanc.upload(files)
    try:
        assert len(studies) == 1
        response = orthanc.send("magickbox-send", studies)
        assert response.status_code == 200, response.text
    finally:
        orthanc.delete_studies(studies)

    wait_until(lambda: all_settled(box), timeout=30, what="the session to be sealed")
    [session] = sessions(box)
    assert sealed(box, session)
    assert session["calling_aet"] == "ORTHANC"
    assert session["pid"] == f"scp_{study_uid}"
    assert_identical(files, input_files(box, session))
