"""A study with an image series, a compressed series and a non-image series, sent with storescu."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from magickbox.config import load_settings
from magickbox.store import Store
from tests.support import dicomdata
from tests.support.box import BoxProcess
from tests.support.dcmtk import storescu
from tests.support.net import wait_until


@dataclass
class SentStudy:
    scratchdir: str
    ct: str  # SeriesInstanceUID of 4 CT slices, written to disk in reverse InstanceNumber order
    jpeg2000: str  # 1 MR instance, JPEG 2000 lossless
    plan: str  # 1 RT plan: no pixels


def _write(folder: Path, source: str, study_uid: str, series_number: int, numbers: list[int]) -> str:
    series_uid = generate_uid()
    for order, number in enumerate(numbers):
        ds = dicomdata.load(source)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientID, ds.PatientName = "SUBJ22", "Viewer^Test"
        ds.SeriesNumber, ds.InstanceNumber = series_number, number
        if "PixelData" in ds and source == dicomdata.EXPLICIT_LE:
            # Each slice differs, so paging shows a change: the picture moves right by slice.
            ds.PixelData = np.roll(ds.pixel_array, number * 20, axis=1).tobytes()
        ds.save_as(folder / f"s{series_number}_{order:03d}.dcm", enforce_file_format=True)
    return str(series_uid)


def send_study(box: BoxProcess, folder: Path) -> SentStudy:
    """Write the study into `folder`, send it with storescu and wait until the index has it."""
    folder.mkdir(parents=True, exist_ok=True)
    study = str(generate_uid())
    ct = _write(folder, dicomdata.EXPLICIT_LE, study, 1, [4, 3, 2, 1])
    j2k = _write(folder, dicomdata.JPEG_2000, study, 2, [1])
    plan = _write(folder, dicomdata.RT_PLAN, study, 3, [1])
    storescu(box.dicom_port, folder, calling="VIEWER", extra_args=["-xv"], check=True, timeout=60)
    store = Store(load_settings(data=str(box.data)))
    try:
        wait_until(lambda: len(store.sessions.all()) == 1, timeout=30, what="the session")
        session = store.sessions.all()[0]
        wait_until(lambda: len(store.studies.series(session.id)) == 3, timeout=30, what="three series")
    finally:
        store.db.close()
    return SentStudy(session.scratchdir, ct, j2k, plan)
