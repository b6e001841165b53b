from __future__ import annotations

from io import BytesIO

import pydicom
import pytest
from pydicom.filewriter import dcmwrite

from magickbox.dicom.header import NeedMore, inflate_head, is_deflated, scan_header
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
