"""Odd values never crash and never pass by accident: bytes, multi-values, empty, None, text
where a number is wanted, sequences, PersonName, huge values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ImplicitVRLittleEndian

from magickbox.classify import OPERATORS, load_rules, parse_rules
from tests.classify.helpers import header

TAGS = [
    "EchoTime",
    "PatientName",
    "ImageType",
    "ReferencedImageSequence",
    ["0x0019", "0x100C"],
    ["0x0043", "0x1039", 0],
    "ImagePlane",
]


def every_operator_on(tag: Any) -> list[dict[str, Any]]:
    types = []
    for operator in OPERATORS:
        rule: dict[str, Any] = {"tag": tag, "operator": operator}
        if operator not in ("exist", "notexist"):
            rule["value"] = [1, 0] if operator == "approx" else "1"
        types.append({"type": f"{operator}", "rules": [rule]})
    return types


def odd_headers() -> list[Dataset]:
    odd = []
    for value in ("", "abc", "1\\2\\x", "nan", "inf", "1e400", "  "):
        ds = header(EchoTime=None, ImageOrientationPatient=None)
        ds.add_new(0x00180081, "LO", value)  # a number's tag holding text
        ds.add_new(0x00200037, "LO", value)
        odd.append(ds)
    ds = header()
    ds.add_new(0x0019100C, "UN", b"1000\x00")  # a private tag pydicom cannot type: bytes
    ds.add_new(0x00431039, "UN", b"\xff\xfe\x00\\\x01")
    ds.add_new(0x00081140, "SQ", Sequence([Dataset(), Dataset()]))
    ds.PatientName = "Doe^John"
    ds.add_new(0x00080008, "UT", ["ORIGINAL", "", "x" * 100_000])  # far longer than a CS may be
    odd.append(ds)
    empty = header()
    empty.add_new(0x00081140, "SQ", Sequence([]))
    empty.ImageType = None
    empty.EchoTime = None
    odd.append(empty)
    odd.append(Dataset())
    return odd


@pytest.mark.parametrize("tag", TAGS, ids=str)
def test_no_odd_value_crashes_any_operator(tag: Any) -> None:
    rules = parse_rules(every_operator_on(tag))
    for ds in odd_headers():
        rules.classify([ds])
        rules.classify([{"EchoTime": None, "ImageType": [None, 3, b"x"], "PatientName": object()}])


def test_numbers_in_odd_forms() -> None:
    rules = parse_rules(
        [{"type": "b", "rules": [{"tag": ["0x0019", "0x100C"], "operator": ">", "value": 0}]}]
    )
    ds = header()
    ds.add_new(0x0019100C, "UN", b"1000 ")
    assert rules.classify([ds]) == ["b"]
    ds.add_new(0x0019100C, "UN", b"abc")
    assert rules.classify([ds]) == []


def test_an_empty_element_is_missing_and_a_sequence_with_items_exists() -> None:
    rules = parse_rules(
        [
            {"type": "te", "rules": [{"tag": "EchoTime", "operator": "exist"}]},
            {"type": "refs", "rules": [{"tag": "ReferencedImageSequence", "operator": "exist"}]},
            {"type": "refs-text", "rules": [{"tag": "ReferencedImageSequence", "value": ".*"}]},
        ]
    )
    ds = header(EchoTime="")
    ds.add_new(0x00081140, "SQ", Sequence([Dataset()]))
    assert rules.classify([ds]) == ["refs"]


def test_the_default_rules_take_every_odd_header() -> None:
    rules = load_rules()
    for ds in odd_headers():
        assert isinstance(rules.classify([ds]), list)


def test_garbage_in_files_read_from_disk_never_crashes(tmp_path: Path) -> None:
    """Raw elements (as dcmread leaves them) that pydicom cannot convert hold nothing: an implicit
    VR file is decoded by the dictionary's VR, whatever its bytes are."""
    ds = header()
    ds.add_new(0x00180081, "LO", "abc")  # EchoTime, a DS by the dictionary: no number
    ds.add_new(0x00200037, "LO", "1\\0\\0\\0\\1")  # five numbers, not six
    ds.add_new(0x00080008, "OB", b"\x00\x01\x02")
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    path = tmp_path / "odd.dcm"
    ds.save_as(path, implicit_vr=True, little_endian=True)
    rules = load_rules()
    again = pydicom.dcmread(path, stop_before_pixels=True)
    classes = rules.classify([again, pydicom.dcmread(path, stop_before_pixels=True)])
    assert "T2" not in classes and "axial" not in classes
    # present as text or unreadable: either way no comparison passes
    assert parse_rules(every_operator_on("EchoTime")).classify([again]) in (["exist"], ["notexist"])
