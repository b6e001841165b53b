"""DICOM Part 10 file preamble and File Meta Information, encoded directly (no pydicom data set).

The receiver writes this in front of the data set bytes exactly as they arrived, so the file is a
valid Part 10 file while the data set stays bit for bit what the sender sent.
"""

from __future__ import annotations

import struct

from magickbox import __version__

# The box's implementation class UID (a UUID-derived UID under the "2.25" root) and version.
IMPLEMENTATION_CLASS_UID = "2.25.148770094715271392413146617513404183137"
IMPLEMENTATION_VERSION = f"MAGICKBOX_{__version__}"[:16]

PREAMBLE = b"\x00" * 128 + b"DICM"


def _pad(value: bytes, pad: bytes) -> bytes:
    return value + pad if len(value) % 2 else value


def _short(tag_element: int, vr: bytes, value: bytes) -> bytes:
    """An explicit VR little endian element of group 0002 with a 2-byte length."""
    return struct.pack("<HH2sH", 0x0002, tag_element, vr, len(value)) + value


def file_meta(sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str, source_aet: str = "") -> bytes:
    """Preamble, DICM prefix and the group 0002 elements with a correct group length."""
    elements = [
        struct.pack("<HH2sHI", 0x0002, 0x0001, b"OB", 0, 2) + b"\x00\x01",
        _short(0x0002, b"UI", _pad(sop_class_uid.encode("ascii"), b"\x00")),
        _short(0x0003, b"UI", _pad(sop_instance_uid.encode("ascii"), b"\x00")),
        _short(0x0010, b"UI", _pad(transfer_syntax.encode("ascii"), b"\x00")),
        _short(0x0012, b"UI", _pad(IMPLEMENTATION_CLASS_UID.encode("ascii"), b"\x00")),
        _short(0x0013, b"SH", _pad(IMPLEMENTATION_VERSION.encode("ascii"), b" ")),
    ]
    if source_aet:
        elements.append(_short(0x0016, b"AE", _pad(source_aet.encode("ascii", "replace"), b" ")))
    body = b"".join(elements)
    group_length = struct.pack("<HH2sHI", 0x0002, 0x0000, b"UL", 4, len(body))
    return PREAMBLE + group_length + body
