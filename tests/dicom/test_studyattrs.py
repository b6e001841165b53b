"""The index attributes read from raw header bytes (the receiver's way) equal pydicom's reading of
the file, names in Latin-1 and UTF-8 included."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from magickbox.dicom.header import scan_header
from magickbox.dicom.studyattrs import from_raw, read_file
from tests.support.dicomdata import write_patient_study


def _raw_header(path: Path) -> dict[int, bytes]:
    ds = pydicom.dcmread(path)
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, ds)
    return scan_header(buffer.getvalue(), "1.2.840.10008.1.2.1", complete=True).indexed


@pytest.mark.parametrize(
    ("charset", "name", "description"),
    [("ISO_IR 100", "Müller^Jürgen", "Schädel nativ"), ("ISO_IR 192", "山田^太郎", "頭部 CT")],
)
def test_raw_and_file_readings_agree(tmp_path: Path, charset: str, name: str, description: str) -> None:
    write_patient_study(
        tmp_path, patient_id="P0412", patient_name=name, accession="A77712", description=description,
        charset=charset, series=(("Kopf\\Hals", "CT", 1),),
    )  # fmt: skip
    path = next(tmp_path.iterdir())
    study, series = from_raw(_raw_header(path))
    found = read_file(path)
    assert found is not None
    _uid, file_study, file_series = found
    assert (study, series) == (file_study, file_series)
    assert study.PatientName == name and study.StudyDescription == description
    assert study.PatientID == "P0412" and study.AccessionNumber == "A77712" and study.StudyDate == "20260102"
    assert series.SeriesDescription == "Kopf\\Hals" and series.Modality == "CT" and series.SeriesNumber == "1"


def test_a_file_that_is_not_dicom_gives_nothing(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not DICOM")
    assert read_file(junk) is None
