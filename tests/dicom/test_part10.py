from __future__ import annotations

from io import BytesIO

import pydicom

from magickbox.dicom.part10 import IMPLEMENTATION_CLASS_UID, file_meta
from magickbox.dicom.uid import is_valid_uid


def test_file_meta_reads_back_with_pydicom() -> None:
    meta = file_meta("1.2.840.10008.5.1.4.1.1.2", "1.2.3.45", "1.2.840.10008.1.2", source_aet="ODD")
    body = b"\x08\x00\x18\x00\x08\x00\x00\x001.2.3.45"  # implicit VR LE: SOP Instance UID

    ds = pydicom.dcmread(BytesIO(meta + body))

    assert ds.file_meta.MediaStorageSOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert ds.file_meta.MediaStorageSOPInstanceUID == "1.2.3.45"
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"
    assert ds.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert ds.file_meta.SourceApplicationEntityTitle == "ODD"
    assert ds.SOPInstanceUID == "1.2.3.45"
    assert is_valid_uid(IMPLEMENTATION_CLASS_UID)


def test_uid_check_refuses_paths_and_junk() -> None:
    assert is_valid_uid("1.2.840.10008.1.2")
    for bad in ["", "../x", "1.2.03", "1..2", "1.2.3/4", "1" * 65, "abc"]:
        assert not is_valid_uid(bad)
