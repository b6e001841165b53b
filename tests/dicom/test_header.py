from __future__ import annotations

from io import BytesIO

import pydicom
import pytest
from pydicom.filewriter import dcmwrite

from magickbox.dicom.header import (
    INDEXED_TAGS,
    MAX_INDEXED_VALUE,
    NeedMore,
    inflate_head,
    is_deflated,
    scan_header,
)
from tests.support import dicomdata


def encoded(name: str) -> tuple[bytes, str, pydicom.Dataset]:
    ds = dicomdata.load(name)
    buffer = BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    raw = buffer.getvalue()
    group_length = int.from_bytes(raw[140:144], "little")
    return raw[144 + group_length :], str(ds.file_meta.TransferSyntaxUID), ds


@pytest.mark.parametrize(
    "name",
    [
        dicomdata.EXPLICIT_LE,
        dicomdata.IMPLICIT_LE,
        dicomdata.BIG_ENDIAN,
        dicomdata.DEFLATED,
        dicomdata.RT_PLAN,
    ],
)
def test_scan_finds_the_uids_in_every_encoding(name: str) -> None:
    data, syntax, ds = encoded(name)
    if is_deflated(syntax):
        data = inflate_head(data)

    header = scan_header(data, syntax, complete=True)

    assert header.sop_instance_uid == ds.SOPInstanceUID
    assert header.sop_class_uid == ds.SOPClassUID
    assert header.study_instance_uid == ds.StudyInstanceUID


def test_scan_of_a_short_head_asks_for_more() -> None:
    data, syntax, _ = encoded(dicomdata.EXPLICIT_LE)
    with pytest.raises(NeedMore):
        scan_header(data[:100], syntax, complete=False)


def test_scan_of_a_complete_data_set_without_sop_instance_uid_fails() -> None:
    with pytest.raises(ValueError):
        scan_header(b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100", "1.2.840.10008.1.2.1", complete=True)


@pytest.mark.parametrize(
    "name", [dicomdata.EXPLICIT_LE, dicomdata.IMPLICIT_LE, dicomdata.BIG_ENDIAN, dicomdata.RT_PLAN]
)
def test_scan_keeps_the_indexed_values_and_every_prefix_asks_for_more_or_agrees(name: str) -> None:
    """The values are the encoded bytes pydicom reads; a head cut anywhere before the scan's end
    gives NeedMore or exactly the full answer, never a different one."""
    data, syntax, _ = encoded(name)
    full = scan_header(data, syntax, complete=True)
    raw = pydicom.dcmread(BytesIO(_part10(name)))
    expected = {tag: _as_bytes(raw.get_item(tag).value) for tag in INDEXED_TAGS if tag in raw}
    found = {tag: value.rstrip(b" \x00") for tag, value in full.indexed.items()}
    assert found == {tag: value for tag, value in expected.items() if len(value) <= MAX_INDEXED_VALUE}

    for cut in range(0, min(len(data), 6000), 3):
        try:
            partial = scan_header(data[:cut], syntax, complete=False)
        except NeedMore:
            continue
        assert partial == full


def _as_bytes(value: object) -> bytes:
    """A raw element's value (pydicom converts Specific Character Set on reading)."""
    raw = value if isinstance(value, bytes) else str(value).encode() if value is not None else b""
    return raw.rstrip(b" \x00")


def _part10(name: str) -> bytes:
    buffer = BytesIO()
    dcmwrite(buffer, dicomdata.load(name), enforce_file_format=True)
    return buffer.getvalue()
