"""Test studies built from the DICOM files that ship with pydicom, with fresh UIDs."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pydicom.data
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

# Small files of common SOP classes and transfer syntaxes, all shipped with pydicom.
# (Only files present in the wheel: others would be downloaded, and there is no internet here.)
EXPLICIT_LE = "CT_small.dcm"  # CT Image Storage, explicit VR little endian
MR_EXPLICIT_LE = "MR_small.dcm"  # MR Image Storage, explicit VR little endian
IMPLICIT_LE = "MR_small_implicit.dcm"
BIG_ENDIAN = "MR_small_bigendian.dcm"
DEFLATED = "image_dfl.dcm"  # Secondary Capture, deflated explicit VR little endian
JPEG_BASELINE = "SC_rgb_jpeg_dcmtk.dcm"
JPEG_EXTENDED = "JPGExtended.dcm"
JPEG_LS = "MR_small_jpeg_ls_lossless.dcm"
JPEG_2000 = "MR_small_jp2klossless.dcm"
RLE = "MR_small_RLE.dcm"
RT_PLAN = "rtplan.dcm"  # a non-image storage class


_TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"


def testdata_path(name: str) -> Path:
    path = _TEST_FILES / name
    assert path.is_file(), f"pydicom test file {name} is missing"
    return path


def load(name: str) -> Dataset:
    return pydicom.dcmread(testdata_path(name))


def write_study(
    folder: Path,
    count: int,
    source: str = EXPLICIT_LE,
    study_uid: str | None = None,
    patient: str = "Test^Patient",
    series_description: str | None = None,
) -> tuple[str, list[Path]]:
    """Write `count` instances of one new study into `folder`; returns (StudyInstanceUID, files)."""
    folder.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    files = []
    for number in range(count):
        ds = load(source)
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientName = patient
        ds.InstanceNumber = number + 1
        if series_description is not None:
            ds.SeriesDescription = series_description
        path = folder / f"img{number:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return study_uid, files


def write_patient_study(
    folder: Path,
    *,
    patient_id: str,
    patient_name: str,
    accession: str,
    study_date: str = "20260102",
    description: str = "",
    charset: str = "ISO_IR 100",
    series: tuple[tuple[str, str, int], ...] = (("Series A", "CT", 2),),
) -> str:
    """One study of one patient with the given identity: `series` are (description, modality,
    instances). Text is encoded in `charset` (e.g. ISO_IR 100 Latin-1, ISO_IR 192 UTF-8).
    Returns the StudyInstanceUID."""
    folder.mkdir(parents=True, exist_ok=True)
    study_uid = generate_uid()
    for number, (series_description, modality, count) in enumerate(series, start=1):
        series_uid = generate_uid()
        for index in range(count):
            ds = load(EXPLICIT_LE)
            ds.SpecificCharacterSet = charset
            ds.PatientID, ds.PatientName, ds.AccessionNumber = patient_id, patient_name, accession
            ds.StudyDate, ds.StudyDescription, ds.Modality = study_date, description, modality
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
            ds.SeriesNumber, ds.SeriesDescription, ds.InstanceNumber = number, series_description, index + 1
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.save_as(folder / f"s{number}_{index:04d}.dcm", enforce_file_format=True)
    return study_uid
