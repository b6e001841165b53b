"""Whether two stored instances hold the same data set, whatever their encoding.

A sender may re-encode what it sends (dcmtk's storescu turns implicit VR into explicit VR, drops
trailing padding, chooses other item and sequence lengths), so a resend of a stored instance
differs in bytes while it says the same thing. Two files hold the same data set here when their
data sets (the File Meta Information aside) have the same elements with equal values, where:

- transfer syntax, explicit/implicit VR, byte order of numbers, defined or undefined sequence
  and item lengths, group lengths (gggg,0000) and Data Set Trailing Padding (FFFC,FFFC) do not
  count;
- text values are compared without trailing spaces and NULs (their padding); sequences item by
  item, recursively; an element read as UN on one side is compared with the other side's value
  encoded as implicit VR little endian (what an implicit VR sender sent);
- pixel data are compared as bytes when both are native (word-swapped by VR when one file is big
  endian), as their fragments joined (the offset table aside) when both are encapsulated in the
  same transfer syntax, and are *different* otherwise (encapsulated against native, or two
  compression syntaxes): decoding would need a codec, a size bound and the time of a decode, and
  a lossy syntax can never equal the original anyway. Both are then kept, as before.

Files over MAX_COMPARE_BYTES, without a SOP Instance UID or that pydicom cannot read count as
different (both are kept). Reading is the whole cost of this check, and it runs only when a SOP
Instance UID arrives again in one session with other bytes.
"""

from __future__ import annotations

import io
import os
from typing import Any

from pydicom import dcmread
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragments, parse_basic_offsets
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import UID, ImplicitVRLittleEndian
from pydicom.valuerep import PersonName

__all__ = ["MAX_COMPARE_BYTES", "same_data_set"]

MAX_COMPARE_BYTES = 256 << 20  # per file; both files are read whole into memory
PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
TRAILING_PADDING = 0xFFFCFFFC
SWAP_WIDTH = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def same_data_set(one: str | os.PathLike[str], other: str | os.PathLike[str]) -> bool:
    """True when both Part 10 files hold the same data set by the rules above; False when they
    differ, are too large to compare or cannot be read."""
    try:
        if max(os.stat(one).st_size, os.stat(other).st_size) > MAX_COMPARE_BYTES:
            return False
        first, second = dcmread(one, force=True), dcmread(other, force=True)
        if not first.get("SOPInstanceUID") or not second.get("SOPInstanceUID"):
            return False  # not a data set this box stores: nothing to call "the same"
        syntaxes = (_syntax(first), _syntax(second))
        return _same_items(first, second, syntaxes)
    except Exception:  # anything unreadable is "different": both files are kept
        return False


def _syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    return UID(str(meta.get("TransferSyntaxUID", ImplicitVRLittleEndian))) if meta else ImplicitVRLittleEndian


def _counted(ds: Dataset) -> list[int]:
    return [
        int(tag)
        for tag in ds.keys()  # noqa: SIM118 - iterating a Dataset yields elements, not tags
        if tag.element != 0 and tag.group != 2 and int(tag) != TRAILING_PADDING
    ]


def _same_items(one: Dataset, other: Dataset, syntaxes: tuple[UID, UID]) -> bool:
    tags = _counted(one)
    if tags != _counted(other):
        return False
    same_order = syntaxes[0].is_little_endian == syntaxes[1].is_little_endian
    for tag in tags:
        # Equal raw bytes in one byte order are one value, whatever the VR: no conversion needed
        # (converting every element is most of the cost of a comparison).
        raw_one, raw_other = one.get_item(tag).value, other.get_item(tag).value
        if same_order and isinstance(raw_one, bytes) and raw_one == raw_other:
            continue
        if not _same_element(one[tag], other[tag], syntaxes):
            return False
    return True


def _same_element(one: DataElement, other: DataElement, syntaxes: tuple[UID, UID]) -> bool:
    if int(one.tag) in PIXEL_TAGS:
        return _same_pixels(one, other, syntaxes)
    if one.VR == "SQ" or other.VR == "SQ":
        return _same_sequence(one.value, other.value, syntaxes)
    if one.VR != other.VR and "UN" in (one.VR, other.VR):
        return _implicit_bytes(one) == _implicit_bytes(other)
    if one.VR in SWAP_WIDTH and syntaxes[0].is_little_endian != syntaxes[1].is_little_endian:
        return _same_binary(one, other, syntaxes)
    return bool(_normalised(one.value) == _normalised(other.value))


def _same_sequence(one: Any, other: Any, syntaxes: tuple[UID, UID]) -> bool:
    if not isinstance(one, Sequence) or not isinstance(other, Sequence) or len(one) != len(other):
        return False
    return all(_same_items(a, b, syntaxes) for a, b in zip(one, other, strict=True))


def _same_pixels(one: DataElement, other: DataElement, syntaxes: tuple[UID, UID]) -> bool:
    packed = (syntaxes[0].is_encapsulated, syntaxes[1].is_encapsulated)
    if packed == (False, False):
        return _same_binary(one, other, syntaxes)
    if packed == (True, True) and syntaxes[0] == syntaxes[1]:
        return bool(one.value == other.value or _fragments(one.value) == _fragments(other.value))
    return False


def _same_binary(one: DataElement, other: DataElement, syntaxes: tuple[UID, UID]) -> bool:
    first = _little_endian(one.value, one.VR, syntaxes[0])
    return bool(first == _little_endian(other.value, other.VR, syntaxes[1]))


def _fragments(value: bytes) -> bytes:
    """The encapsulated fragments joined, without the Basic Offset Table (a sender may leave it
    empty or fill it)."""
    buffer = io.BytesIO(value)
    parse_basic_offsets(buffer)
    return b"".join(generate_fragments(buffer))


def _little_endian(value: Any, vr: str, syntax: UID) -> Any:
    """A binary value as little endian bytes (OW words, OF/OL/OD/OV numbers swapped)."""
    width = SWAP_WIDTH.get(vr, 0)
    if syntax.is_little_endian or not width or not isinstance(value, bytes | bytearray):
        return value
    swapped = bytearray(len(value))
    for start in range(width):
        swapped[start::width] = value[width - 1 - start :: width]
    return bytes(swapped)


def _implicit_bytes(element: DataElement) -> bytes:
    """The element's value as an implicit VR little endian sender encodes it (padded)."""
    if element.VR == "UN" and isinstance(element.value, bytes | bytearray):
        value = bytes(element.value)
    else:
        out = DicomBytesIO()
        out.is_little_endian, out.is_implicit_VR = True, True
        write_data_element(out, element)
        value = out.getvalue()[8:]  # tag (4) + length (4)
    return value + b"\x00" if len(value) % 2 else value


def _normalised(value: Any) -> Any:
    if isinstance(value, MultiValue | list | tuple):
        return [_normalised(item) for item in value]
    if isinstance(value, str | PersonName):
        return str(value).rstrip(" \x00")
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return value
