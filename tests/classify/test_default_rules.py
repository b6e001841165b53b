"""The shipped default_rules.json on a realistic MR study (Siemens and GE headers on pydicom's
MR_small.dcm) and on CT series with the common kernels of each maker (on CT_small.dcm)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from magickbox.classify import RuleSet, load_rules
from tests.classify.helpers import header, series

AXIAL = [1, 0, 0, 0, 1, 0]
CORONAL = [1, 0, 0, 0, 0, -1]
SAGITTAL = [0, 1, 0, 0, 0, -1]
ORIGINAL = ["ORIGINAL", "PRIMARY", "M", "ND", "NORM"]
SIEMENS_MR = {"Manufacturer": "SIEMENS", "ImageType": ORIGINAL, "ImageOrientationPatient": AXIAL}


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules()


def mr(count: int = 2, **keywords: Any) -> list[Dataset]:
    return series(count, **{**SIEMENS_MR, **keywords})


def localizer() -> list[Dataset]:
    uid = generate_uid()
    return [
        header(
            **{**SIEMENS_MR, "ImageOrientationPatient": iop},
            SeriesInstanceUID=uid,
            SeriesDescription="AAHead_Scout_64ch-head-coil",
            ScanningSequence="GR",
            RepetitionTime=8.6,
            EchoTime=4.0,
        )
        for iop in (AXIAL, CORONAL, SAGITTAL)
    ]


def dwi(description: str, sequence: str) -> list[Dataset]:
    instances = mr(
        SeriesDescription=description,
        ScanningSequence="EP",
        SequenceVariant=["SK", "SP"],
        RepetitionTime=4900,
        EchoTime=89,
        SequenceName=sequence,
        ImageType=["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE", "ND", "NORM"],
    )
    for ds, b in zip(instances, (0, 1000), strict=True):
        ds.DiffusionBValue = b
    return instances


STUDY: dict[str, tuple[Any, list[str]]] = {
    "localizer": (localizer, ["SIEMENS", "MR", "axial", "coronal", "sagittal", "localizer"]),
    "T1": (
        lambda: mr(
            3,
            SeriesDescription="t1_mprage_sag_p2_iso",
            ScanningSequence=["GR", "IR"],
            SequenceVariant=["SK", "SP", "MP"],
            RepetitionTime=2300,
            EchoTime=2.98,
            InversionTime=900,
            ImageOrientationPatient=SAGITTAL,
        ),
        ["SIEMENS", "MR", "sagittal", "T1"],
    ),
    "T2": (
        lambda: mr(SeriesDescription="t2_tse_tra", ScanningSequence="SE", RepetitionTime=6000, EchoTime=96),
        ["SIEMENS", "MR", "axial", "T2"],
    ),
    "FLAIR": (
        lambda: mr(
            SeriesDescription="t2_tirm_tra_dark-fluid",
            ScanningSequence=["SE", "IR"],
            RepetitionTime=9000,
            EchoTime=81,
            InversionTime=2500,
        ),
        ["SIEMENS", "MR", "axial", "FLAIR"],
    ),
    "DWI": (lambda: dwi("ep2d_diff_3scan_trace", "*ep_b1000t"), ["SIEMENS", "MR", "axial", "DWI"]),
    "DTI": (lambda: dwi("ep2d_diff_mddw_30", "*ep_b1000#12"), ["SIEMENS", "MR", "axial", "DWI", "DTI"]),
    "BOLD": (
        lambda: mr(
            SeriesDescription="ep2d_bold_rest",
            ScanningSequence="EP",
            RepetitionTime=2000,
            EchoTime=30,
            SequenceName="*epfid2d1_64",
            ImageType=[*ORIGINAL[:4], "MOSAIC"],
        ),
        ["SIEMENS", "MR", "axial", "BOLD"],
    ),
    "GE BOLD": (
        lambda: mr(
            Manufacturer="GE MEDICAL SYSTEMS",
            SeriesDescription="Ax EPI 6min",
            ScanningSequence="EP",
            RepetitionTime=2000,
            EchoTime=30,
            NumberOfTemporalPositions=180,
        ),
        ["GE", "MR", "axial", "BOLD"],
    ),
    "fieldmap": (
        lambda: mr(
            SeriesDescription="gre_field_mapping",
            ScanningSequence="GR",
            RepetitionTime=488,
            EchoTime=4.92,
            SequenceName="*fm2d2r",
        ),
        ["SIEMENS", "MR", "axial", "fieldmap"],
    ),
    "Philips T1 spin echo": (
        lambda: mr(
            Manufacturer="Philips Medical Systems",
            SeriesDescription="sT1W_SE",
            ScanningSequence="SE",
            RepetitionTime=550,
            EchoTime=15,
            ImageOrientationPatient=CORONAL,
        ),
        ["PHILIPS", "MR", "coronal", "T1"],
    ),
    "Canon enhanced T2": (
        lambda: mr(Manufacturer="CANON_MEC", AcquisitionContrast="T2"),
        ["CANON", "MR", "axial", "T2"],
    ),
    "oblique": (
        lambda: mr(Manufacturer="UIH", ImageOrientationPatient=[1, 0, 0, 0, 0.7071, -0.7071]),
        ["UIH", "MR", "oblique", "T2"],  # MR_small's TE 240 ms, TR 4000 ms
    ),
    "MR_small as shipped": (lambda: [header()], ["CANON", "MR", "axial", "derived", "T2"]),
}


@pytest.mark.parametrize("name", list(STUDY))
def test_a_realistic_mr_study(rules: RuleSet, name: str) -> None:
    build, expected = STUDY[name]
    assert rules.classify(build()) == expected


def test_a_whole_study_at_once(rules: RuleSet) -> None:
    built = {name: build() for name, (build, _) in STUDY.items()}
    classes = rules.classify_study([ds for instances in built.values() for ds in instances])
    assert {name: classes[instances[0].SeriesInstanceUID] for name, instances in built.items()} == {
        name: expected for name, (_, expected) in STUDY.items()
    }


@pytest.mark.parametrize(
    ("manufacturer", "kernel", "expected"),
    [
        ("GE MEDICAL SYSTEMS", "STANDARD", "CT_soft"),
        ("GE MEDICAL SYSTEMS", "SOFT", "CT_soft"),
        ("GE MEDICAL SYSTEMS", "BONE", "CT_bone"),
        ("GE MEDICAL SYSTEMS", "BONEPLUS", "CT_bone"),
        ("GE MEDICAL SYSTEMS", "LUNG", "CT_lung"),
        ("SIEMENS", ["Br40d", "3"], "CT_soft"),
        ("SIEMENS", "B30f", "CT_soft"),
        ("SIEMENS", "H31s", "CT_soft"),
        ("SIEMENS", "Br64d", "CT_bone"),
        ("SIEMENS", "B70f", "CT_bone"),
        ("SIEMENS", "Bl57d", "CT_lung"),
        ("Philips", "B", "CT_soft"),
        ("Philips", "D", "CT_bone"),
        ("Philips", "L", "CT_lung"),
        ("TOSHIBA", "FC03", "CT_soft"),
        ("CANON_MEC", "FC30", "CT_bone"),
        ("CANON_MEC", "FC52", "CT_lung"),
    ],
)
def test_ct_kernels(rules: RuleSet, manufacturer: str, kernel: Any, expected: str) -> None:
    classes = rules.classify(series(2, "CT_small.dcm", Manufacturer=manufacturer, ConvolutionKernel=kernel))
    assert [c for c in classes if c.startswith("CT_")] == [expected]
    assert "CT" in classes


def test_ct_localizer_secondary_capture_and_unknown_kernels(rules: RuleSet) -> None:
    topogram = header(
        "CT_small.dcm", ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"], SeriesDescription="Topogram 0.6 T20f"
    )
    assert "localizer" in rules.classify([topogram])
    capture = header(
        SOPClassUID="1.2.840.10008.5.1.4.1.1.7",
        Modality="OT",
        ImageType=["DERIVED", "SECONDARY"],
        SeriesDescription="T1 screenshot",
    )
    assert rules.classify([capture]) == ["CANON", "axial", "derived", "secondary"]  # no T1: a screenshot
    odd = rules.classify([header("CT_small.dcm", ConvolutionKernel="XYZ99")])
    assert [c for c in odd if c.startswith("CT_")] == []


def test_reading_only_the_tags_the_rules_name_classifies_alike(rules: RuleSet, tmp_path: Path) -> None:
    """What lets the caller read a fraction of each header (dcmread's specific_tags)."""
    for name, (build, expected) in STUDY.items():
        paths = []
        for number, ds in enumerate(build()):
            path = tmp_path / f"{name}-{number}.dcm"
            ds.save_as(path, enforce_file_format=False)
            paths.append(path)
        partial = [pydicom.dcmread(p, stop_before_pixels=True, specific_tags=rules.tags) for p in paths]
        assert rules.classify(partial) == expected, name
    assert 0x00180081 in rules.tags and 0x00100010 not in rules.tags  # EchoTime, not PatientName
