"""Every operator and every tag form, on pydicom's MR_small.dcm / CT_small.dcm changed in the test."""

from __future__ import annotations

from typing import Any

import pytest
from pydicom.dataset import Dataset

from tests.classify.helpers import header, hits, one_type


def check(rule: dict[str, Any], ds: Dataset) -> bool:
    return hits(one_type(rule), ds)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"tag": "Manufacturer", "value": "^TOSHIBA"}, True),  # regexp is the default
        ({"tag": "Manufacturer", "value": "(?i)toshiba_mec$"}, True),
        ({"tag": "Manufacturer", "value": "SIEMENS"}, False),
        ({"tag": "Manufacturer", "value": "SIEMENS", "negate": "yes"}, True),
        ({"tag": "Manufacturer", "value": "TOSHIBA", "negate": True}, False),
        ({"tag": "EchoTime", "operator": "==", "value": 240}, True),
        ({"tag": "EchoTime", "operator": "==", "value": "240"}, True),
        ({"tag": "EchoTime", "operator": "!=", "value": 240}, False),
        ({"tag": "EchoTime", "operator": "!=", "value": 30}, True),
        ({"tag": "RepetitionTime", "operator": "<", "value": 5000}, True),
        ({"tag": "RepetitionTime", "operator": "<", "value": 4000}, False),
        ({"tag": "RepetitionTime", "operator": ">", "value": 3999.5}, True),
        ({"tag": "RepetitionTime", "operator": ">", "value": 4000}, False),
        ({"tag": "Modality", "operator": "==", "value": "MR"}, True),
        ({"tag": "Modality", "operator": "!=", "value": "MR"}, False),
        ({"tag": "ImageType", "operator": "contains", "value": "SECONDARY"}, True),
        ({"tag": "ImageType", "operator": "contains", "value": "LOCALIZER"}, False),
        ({"tag": "Manufacturer", "operator": "contains", "value": "SHIBA"}, True),
        ({"tag": "ImageType", "operator": "contains", "value": "SECOND"}, False),  # one of the values, whole
        ({"tag": "ImageType", "value": "^OTHER$"}, True),  # a regexp tests each value of a multi-value
        ({"tag": "ImageOrientationPatient", "operator": "approx", "value": [1, 0, 0, 0, 1, 0]}, True),
        ({"tag": "ImageOrientationPatient", "operator": "approx", "value": [0, 1, 0, 0, 0, -1]}, False),
        (
            {"tag": "ImageOrientationPatient", "operator": "approx", "value": [1, 0, 0]},
            False,
        ),  # lengths differ
        ({"tag": "EchoTime", "operator": "approx", "value": 239, "approxLevel": 1.5}, True),
        ({"tag": "EchoTime", "operator": "approx", "value": 239}, False),
        ({"tag": "EchoTime", "operator": "exist"}, True),
        ({"tag": "InversionTime", "operator": "exist"}, False),
        ({"tag": "InversionTime", "operator": "notexist"}, True),
        ({"tag": "InversionTime", "operator": "notexist", "negate": "yes"}, False),
        ({"tag": ["0x0018", "0x0081"], "operator": "==", "value": 240}, True),  # EchoTime by number
        ({"tag": ["0018", "0081"], "operator": "==", "value": 240}, True),
        ({"tag": [0x18, 0x81], "operator": "==", "value": 240}, True),
        ({"tag": "(0018,0081)", "operator": "==", "value": 240}, True),
        ({"tag": ["EchoTime"], "operator": "==", "value": 240}, True),
        ({"tag": ["0x0008", "0x0008", 0], "value": "^DERIVED$"}, True),
        ({"tag": ["0x0008", "0x0008", 1], "value": "^DERIVED$"}, False),
        ({"tag": ["ImageType", 2], "operator": "==", "value": "OTHER"}, True),
        ({"tag": ["ImageType", 7], "operator": "exist"}, False),  # past the last value: missing
        ({"tag": ["ImageOrientationPatient", 4], "operator": ">", "value": 0.5}, True),
        ({"tag": "ImagePlane", "operator": "==", "value": "axial"}, True),
        ({"tag": "NumFiles", "operator": "==", "value": 1}, True),
    ],
)
def test_each_operator_and_tag_form_on_mr_small(rule: dict[str, Any], expected: bool) -> None:
    assert check(rule, header("MR_small.dcm")) is expected


@pytest.mark.parametrize("operator", ["==", "!=", "<", ">", "approx"])
@pytest.mark.parametrize("negate", [False, True])
def test_a_missing_or_text_value_fails_a_numeric_rule_even_negated(operator: str, negate: bool) -> None:
    rule = {"tag": "InversionTime", "operator": operator, "value": 5, "negate": negate}
    assert check(rule, header()) is False
    text = {"tag": "PatientName", "operator": operator, "value": 5, "negate": negate}
    assert check(text, header()) is False  # the original passed both: float('') failed, so "pass"


def test_negate_inverts_a_comparison_on_a_present_value() -> None:
    assert check({"tag": "EchoTime", "operator": "<", "value": 5, "negate": "yes"}, header()) is True


@pytest.mark.parametrize(
    ("iop", "plane"),
    [
        ([1, 0, 0, 0, 1, 0], "axial"),
        ([1, 0, 0, 0, 0.996, -0.087], "axial"),  # tilted 5 degrees: still axial
        ([1, 0, 0, 0, 0, -1], "coronal"),
        ([-1, 0, 0, 0, 0, -1], "coronal"),
        ([0, 1, 0, 0, 0, -1], "sagittal"),
        ([0, -1, 0, 0, 0, -1], "sagittal"),
        ([1, 0, 0, 0, 0.7071, -0.7071], "oblique"),  # 45 degrees between axial and coronal
    ],
)
def test_image_plane_from_orientation(iop: list[float], plane: str) -> None:
    ds = header(ImageOrientationPatient=iop)
    assert check({"tag": "ImagePlane", "operator": "==", "value": plane}, ds) is True


def test_approx_works_element_wise_on_the_multi_valued_orientation() -> None:
    """The original's approx never matched a pydicom MultiValue, so nothing was ever axial."""
    tilted = header(ImageOrientationPatient=[0.999, 0.02, 0, -0.02, 0.999, 0.01])
    rule = {"tag": "ImageOrientationPatient", "operator": "approx", "value": [1, 0, 0, 0, 1, 0]}
    assert check({**rule, "approxLevel": 0.05}, tilted) is True
    assert check(rule, tilted) is False  # the default level (1e-4) is strict


def test_contains_on_a_multi_value_is_membership() -> None:
    magnitude = header(ImageType=["ORIGINAL", "PRIMARY", "M", "ND"])
    assert check({"tag": "ImageType", "operator": "contains", "value": "M"}, magnitude) is True
    phase = header(ImageType=["ORIGINAL", "PRIMARY", "P", "ND"])
    assert check({"tag": "ImageType", "operator": "contains", "value": "M"}, phase) is False


def test_ct_small_reads_its_kernel_and_manufacturer() -> None:
    ct = header("CT_small.dcm")
    assert check({"tag": "ConvolutionKernel", "operator": "==", "value": "STANDARD"}, ct) is True
    assert check({"tag": "Manufacturer", "value": "^GE MEDICAL"}, ct) is True


def test_mappings_by_keyword_or_hex_tag_are_headers_too() -> None:
    rules = one_type(
        {"tag": "EchoTime", "operator": "<", "value": 5},
        {"tag": ["0x0019", "0x100C"], "operator": ">", "value": 0},
    )
    assert rules.classify([{"EchoTime": "3.1", "0019100C": "1000"}]) == ["hit"]
    assert rules.classify([{"EchoTime": 3.1, "0019100c": b"0 "}]) == []
