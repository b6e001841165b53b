"""The patient, study and series attributes the study index keeps, as plain strings.

Two sources give the same result: the raw header bytes the receiver's scan already holds
(`from_raw`, no parsing beyond a few text values) and a file on disk read by pydicom up to the
pixel data (`read_file`, for uploads and for sessions indexed after the fact). Text is decoded
with the data set's SpecificCharacterSet; multi-valued values keep DICOM's backslash between
values, person names their `^` components (`Doe^John`).
"""

from __future__ import annotations

import contextlib
import logging
import struct
from dataclasses import dataclass, fields
from pathlib import Path

from pydicom.charset import convert_encodings, decode_bytes
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.valuerep import PersonName

from magickbox.dicom.bounded import read_header

log = logging.getLogger(__name__)

MAX_TEXT = 256  # longer values are cut: they are shown and searched, never used as names

# keyword -> (tag, is a person name)
_STUDY_TAGS = {
    "PatientID": 0x00100020,
    "PatientName": 0x00100010,
    "PatientBirthDate": 0x00100030,
    "PatientSex": 0x00100040,
    "AccessionNumber": 0x00080050,
    "StudyDate": 0x00080020,
    "StudyTime": 0x00080030,
    "StudyDescription": 0x00081030,
    "ReferringPhysicianName": 0x00080090,
}
_SERIES_TAGS = {
    "SeriesInstanceUID": 0x0020000E,
    "SeriesNumber": 0x00200011,
    "SeriesDescription": 0x0008103E,
    "Modality": 0x00080060,
    "BodyPartExamined": 0x00180015,
}
_PERSON_NAMES = frozenset({0x00100010, 0x00080090})
_CHARSET = 0x00080005
_READ_TAGS = ["SpecificCharacterSet", "SOPInstanceUID", "StudyInstanceUID", *_STUDY_TAGS, *_SERIES_TAGS]


@dataclass(frozen=True)
class StudyAttrs:
    """Per session (a session is one study): the attributes users search by."""

    PatientID: str = ""
    PatientName: str = ""
    PatientBirthDate: str = ""
    PatientSex: str = ""
    AccessionNumber: str = ""
    StudyDate: str = ""
    StudyTime: str = ""
    StudyDescription: str = ""
    ReferringPhysicianName: str = ""


@dataclass(frozen=True)
class SeriesAttrs:
    SeriesInstanceUID: str = ""
    SeriesNumber: str = ""
    SeriesDescription: str = ""
    Modality: str = ""
    BodyPartExamined: str = ""


def _clean(text: str) -> str:
    return text.replace("\x00", "").strip()[:MAX_TEXT]


def _decode(raw: bytes, tag: int, encodings: list[str]) -> str:
    try:
        if tag in _PERSON_NAMES:
            return _clean(str(PersonName(raw, encodings=encodings)))
        return _clean(decode_bytes(raw, encodings, set()))
    except (LookupError, ValueError, UnicodeError):
        return _clean(raw.decode("ascii", errors="replace"))


def _encodings(raw: bytes | None) -> list[str]:
    names = [part.strip() for part in (raw or b"").decode("ascii", errors="replace").split("\\")]
    with contextlib.suppress(LookupError, ValueError):
        return list(convert_encodings([name for name in names if name] or ["ISO_IR 6"]))
    return ["iso8859"]


def from_raw(indexed: dict[int, bytes]) -> tuple[StudyAttrs, SeriesAttrs]:
    """From the raw value bytes the receiver's header scan collected (dicom.header.INDEXED_TAGS)."""
    encodings = _encodings(indexed.get(_CHARSET))
    study = {key: _decode(indexed[tag], tag, encodings) for key, tag in _STUDY_TAGS.items() if tag in indexed}
    series = {
        key: _decode(indexed[tag], tag, encodings) for key, tag in _SERIES_TAGS.items() if tag in indexed
    }
    return StudyAttrs(**study), SeriesAttrs(**series)


def from_dataset(ds: Dataset) -> tuple[StudyAttrs, SeriesAttrs]:
    """From a pydicom data set (values already decoded by pydicom)."""

    def text(keyword: str) -> str:
        value = ds.get(keyword)
        if value is None:
            return ""
        if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
            return _clean("\\".join(str(v) for v in value))
        return _clean(str(value))

    study = {f.name: text(f.name) for f in fields(StudyAttrs)}
    series = {f.name: text(f.name) for f in fields(SeriesAttrs)}
    return StudyAttrs(**study), SeriesAttrs(**series)


def read_file(path: Path) -> tuple[str, StudyAttrs, SeriesAttrs] | None:
    """(StudyInstanceUID, study, series) of a DICOM file, read up to its pixel data; None if not DICOM."""
    try:
        ds = read_header(path, specific_tags=_READ_TAGS)  # a deflated file: its header only
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError, struct.error):
        return None
    if "SOPInstanceUID" not in ds and "StudyInstanceUID" not in ds and "SeriesInstanceUID" not in ds:
        return None
    study, series = from_dataset(ds)
    return str(ds.get("StudyInstanceUID", "")), study, series
