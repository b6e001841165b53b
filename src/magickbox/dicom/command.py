"""DIMSE command sets (always implicit VR little endian) read and written without pydicom.

Only what the storage hot path needs: read a C-STORE-RQ's fields and build the C-STORE-RSP as a
ready-to-send P-DATA-TF PDU.
"""

from __future__ import annotations

import struct

from magickbox.dicom.uid import clean_uid

COMMAND_FIELD = 0x00000100
MESSAGE_ID = 0x00000110
AFFECTED_SOP_CLASS_UID = 0x00000002
AFFECTED_SOP_INSTANCE_UID = 0x00001000
COMMAND_DATA_SET_TYPE = 0x00000800

C_STORE_RQ = 0x0001
C_STORE_RSP = 0x8001
NO_DATA_SET = 0x0101

_ELEMENT = struct.Struct("<HHI")


def parse_command(raw: bytes | bytearray) -> dict[int, bytes]:
    """tag -> raw value of each element of an encoded command set."""
    values: dict[int, bytes] = {}
    pos = 0
    end = len(raw)
    while pos + 8 <= end:
        group, element, length = _ELEMENT.unpack_from(raw, pos)
        pos += 8
        values[(group << 16) | element] = bytes(raw[pos : pos + length])
        pos += length
    return values


def us_value(values: dict[int, bytes], tag: int) -> int | None:
    raw = values.get(tag)
    return struct.unpack("<H", raw[:2])[0] if raw is not None and len(raw) >= 2 else None


def ui_value(values: dict[int, bytes], tag: int) -> str:
    raw = values.get(tag)
    return clean_uid(raw) if raw else ""


def _element(tag: int, value: bytes) -> bytes:
    return _ELEMENT.pack(tag >> 16, tag & 0xFFFF, len(value)) + value


def _ui(value: str) -> bytes:
    raw = value.encode("ascii", "replace")
    return raw + b"\x00" if len(raw) % 2 else raw


def c_store_rsp_pdu(
    context_id: int,
    message_id: int,
    sop_class_uid: str,
    sop_instance_uid: str,
    status: int,
    comment: str = "",
) -> bytes:
    """A P-DATA-TF PDU holding one C-STORE-RSP command set (last fragment), ready for the socket."""
    body = [
        _element(AFFECTED_SOP_CLASS_UID, _ui(sop_class_uid)),
        _element(COMMAND_FIELD, struct.pack("<H", C_STORE_RSP)),
        _element(0x00000120, struct.pack("<H", message_id)),  # Message ID Being Responded To
        _element(COMMAND_DATA_SET_TYPE, struct.pack("<H", NO_DATA_SET)),
        _element(0x00000900, struct.pack("<H", status)),
    ]
    if comment:
        text = comment.encode("ascii", "replace")[:64]
        body.append(_element(0x00000902, text + b" " if len(text) % 2 else text))  # Error Comment
    body.append(_element(AFFECTED_SOP_INSTANCE_UID, _ui(sop_instance_uid)))
    encoded = b"".join(body)
    command = _element(0x00000000, struct.pack("<I", len(encoded))) + encoded
    # PDV item: length, presentation context ID, message control header 0x03 (command, last).
    pdv = struct.pack(">IBB", len(command) + 2, context_id, 0x03) + command
    return struct.pack(">BBI", 0x04, 0x00, len(pdv)) + pdv
