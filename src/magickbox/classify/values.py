"""What a rule sees of one header: a tag's value as texts, read without ever raising.

Every value a sender can put in a header (bytes of an unknown private tag, multi-values, empty
elements, PersonName, sequences, numbers kept as DICOM text) becomes a `Value`: whether it holds
anything, and its items as text (bounded: `MAX_ITEMS` items of `MAX_TEXT` characters each).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence

# A header as the caller has it: a pydicom Dataset (read with stop_before_pixels=True is enough)
# or a mapping keyed by DICOM keyword or by the tag as 8 hex digits ("00180087").
Header = Dataset | Mapping[str, Any]

MAX_ITEMS = 1024  # items of one multi-valued element the rules look at
MAX_TEXT = 4096  # characters of one item the rules look at (an LT/UT can be megabytes)

# Names a rule may use that are no DICOM keyword: facts about the series or computed from tags.
NUM_FILES = "NumFiles"  # instances in the series (distinct SOPInstanceUID)
CLASSIFY_TYPE = "ClassifyType"  # classes of the types listed earlier in the file
IMAGE_PLANE = "ImagePlane"  # axial|coronal|sagittal|oblique, from ImageOrientationPatient
PSEUDO_TAGS = (NUM_FILES, CLASSIFY_TYPE, IMAGE_PLANE)
IOP_TAG = 0x00200037
# A plane is axial/coronal/sagittal when its normal is within ~26 degrees of that axis.
PLANE_COS = 0.9


@dataclass(frozen=True, slots=True)
class Value:
    """A tag's value: `present` is False for a missing or empty element (the rules treat both
    alike); `texts` are its items as text (a sequence is present with no texts)."""

    present: bool
    texts: tuple[str, ...] = ()


MISSING = Value(present=False)


def texts_value(texts: Iterable[str]) -> Value:
    """A Value of the given items (present when there is at least one)."""
    items = tuple(texts)
    return Value(present=bool(items), texts=items)


# Values already decoded in one classification, by an element's raw bytes: the instances of a
# series mostly repeat them, so pydicom converts each distinct raw element once.
DecodedCache = dict[tuple[Any, ...], Value]


def read_tag(header: Header, tag: int, cache: DecodedCache | None = None) -> Value:
    """The value of `tag` in `header`; MISSING when it is absent, empty or unreadable. With a
    cache, an element still in its raw form is decoded once per distinct bytes (by pydicom, in
    the first Dataset that has them; the others keep theirs raw)."""
    try:
        if cache is not None and isinstance(header, Dataset):
            element = header.get_item(tag, keep_deferred=True)
            if isinstance(element, RawDataElement) and isinstance(element.value, bytes):
                key = (tag, element.VR, element.value, element.is_little_endian, _charset(header))
                found = cache.get(key)
                if found is None:
                    found = cache[key] = _value(_raw(header, tag))
                return found
        return _value(_raw(header, tag))
    except Exception:  # a malformed element never stops classification: it holds nothing
        return MISSING


def _value(raw: Any) -> Value:
    if raw is None or isinstance(raw, Dataset | Mapping):
        return MISSING
    if _is_sequence_of_items(raw):
        return Value(present=len(raw) > 0)
    return texts_value(_texts(raw))


def _charset(header: Dataset) -> Any:
    value = getattr(header.get_item(0x00080005, keep_deferred=True), "value", None)
    return tuple(value) if isinstance(value, list | MultiValue) else value


def image_plane(iop: Value) -> Value:
    """axial, coronal, sagittal or oblique from ImageOrientationPatient's six numbers (the axis
    the slice normal is closest to), or MISSING when they are not six finite numbers."""
    numbers = [number(text) for text in iop.texts]
    if len(numbers) != 6 or any(n is None for n in numbers):
        return MISSING
    rx, ry, rz, cx, cy, cz = (n or 0.0 for n in numbers)
    normal = (ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx)
    length = math.sqrt(sum(n * n for n in normal))
    if length < 1e-6:
        return MISSING
    unit = [abs(n) / length for n in normal]
    axis = max(range(3), key=lambda i: unit[i])
    if unit[axis] < PLANE_COS:
        return texts_value(["oblique"])
    return texts_value([("sagittal", "coronal", "axial")[axis]])


def number(text: str) -> float | None:
    """The finite number a DICOM text holds (DS, IS, or a number written by a rule), else None."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _raw(header: Header, tag: int) -> Any:
    if isinstance(header, Dataset):
        # get_item skips __getitem__'s per-call work; an element not yet converted from its raw
        # bytes goes through __getitem__ once, which keeps the converted one in the Dataset
        element = header.get_item(tag)
        if isinstance(element, RawDataElement):
            element = header[tag]
        return None if element is None else element.value
    keyword = keyword_for_tag(tag)
    if keyword and keyword in header:
        return header[keyword]
    hex_key = f"{tag:08X}"
    for key in (hex_key, hex_key.lower()):
        if key in header:
            return header[key]
    return None


def _is_sequence_of_items(raw: Any) -> bool:
    if isinstance(raw, DicomSequence):
        return True
    return isinstance(raw, list | tuple) and any(isinstance(item, Dataset | Mapping) for item in raw)


def _texts(raw: Any) -> list[str]:
    if isinstance(raw, bytes | bytearray):
        # an element pydicom could not type (a private tag read as UN): DICOM text is ASCII-based
        decoded = bytes(raw[: MAX_ITEMS * MAX_TEXT]).decode("latin-1")
        items: Iterable[Any] = decoded.split("\\")
    elif isinstance(raw, str) or not isinstance(raw, Iterable):
        items = [raw]
    else:
        items = raw
    texts = []
    for item in items:
        text = _text(item)
        if text:
            texts.append(text)
        if len(texts) >= MAX_ITEMS:
            break
    return texts


def _text(item: Any) -> str:
    if item is None or isinstance(item, Dataset | Mapping | bytes | bytearray | list | tuple):
        return ""
    return str(item)[:MAX_TEXT].strip(" \x00")
