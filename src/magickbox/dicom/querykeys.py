"""Retrieval keys as hostile input: each key becomes one matching value of a C-FIND sent to a PACS.

A value the PACS reads as empty (`"\\u0000"`), as a wildcard (`*`, `?`, or a character the
query's character set cannot hold, which pydicom writes as `?`) or as several values (`\\`)
matches studies nobody named, up to the whole PACS. So a key is checked as the DICOM value it
becomes (PS3.5 6.2: its VR's characters and length, PS3.4 C.2.2.2: matching) before it is
stored, and again before it is sent.
"""

from __future__ import annotations

import codecs

from pydicom.charset import python_encoding

from magickbox.dicom.uid import is_valid_uid

DEFAULT_CHARACTER_SET = "ISO_IR 6"  # the DICOM default repertoire: ASCII
KEY_TYPES = ("accession", "study_uid", "patient_id")
# The VR of each key's attribute and its longest value (PS3.5 Table 6.2-1).
MAX_LENGTH = {"accession": 16, "study_uid": 64, "patient_id": 64}
VR = {"accession": "SH", "study_uid": "UI", "patient_id": "LO"}
WILDCARDS = ("*", "?")


class KeyInvalid(ValueError):
    """The key cannot be sent as a single-value match; `str()` says why in one line."""


def codec_of(character_set: str) -> str:
    """The Python codec of a SpecificCharacterSet value; raises KeyInvalid for an unknown one."""
    if character_set.strip() in ("", DEFAULT_CHARACTER_SET):
        return "ascii"
    codec = python_encoding.get(character_set.strip())
    if codec is None:
        raise KeyInvalid(f"unknown character set {character_set!r}")
    return codecs.lookup(codec).name


def check_key(key: str, key_type: str, *, character_set: str = DEFAULT_CHARACTER_SET) -> str:
    """The key as it is sent (edge spaces stripped), or KeyInvalid: an unknown key type, control
    characters, a wildcard or backslash, empty, too long for its VR, not a UID for `study_uid`, or
    not encodable in `character_set` (ISO_IR 6, plain ASCII, unless the PACS names another)."""
    if key_type not in KEY_TYPES:
        raise KeyInvalid(f"unknown key type {key_type!r} (known: {', '.join(KEY_TYPES)})")
    if any(not ch.isprintable() for ch in key.strip(" ")):
        raise KeyInvalid("contains a control or non-printable character")
    value = key.strip()
    if not value:
        raise KeyInvalid("is empty (after stripping spaces)")
    if any(ch in value for ch in WILDCARDS):
        raise KeyInvalid("contains a wildcard (* or ?): a key matches one value exactly")
    if "\\" in value:
        raise KeyInvalid("contains a backslash (the DICOM separator of several values)")
    limit = MAX_LENGTH[key_type]
    if len(value) > limit:
        raise KeyInvalid(f"is longer than {limit} characters (the most a {VR[key_type]} value holds)")
    if key_type == "study_uid" and not is_valid_uid(value):
        raise KeyInvalid("is not a UID (digits and dots, at most 64 characters)")
    codec = codec_of(character_set)
    try:
        value.encode(codec)
    except UnicodeEncodeError:
        raise KeyInvalid(f"has characters the character set {character_set!r} cannot encode") from None
    return value
