"""The original's shipped classifyRules.json, written here from its description (docs/rules.md
"What changed"), loads unchanged and classifies the cases it was written for, without its bugs:
axial now classifies on modern pydicom, a missing tag no longer passes numeric rules, the
localizer needs no extra file, exist/notexist work."""

from __future__ import annotations

from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from magickbox.classify import RuleSet, parse_rules
from tests.classify.helpers import header, series


def orientation(name: str, iop: list[int]) -> dict[str, Any]:
    return {
        "type": name,
        "id": name,
        "rules": [{"tag": ["0x0020", "0x0037"], "operator": "approx", "value": iop}],
    }


def manufacturer(name: str) -> dict[str, Any]:
    return {
        "type": name,
        "id": f"{name}BYMANUFACTURER",
        "rules": [{"tag": ["0x0008", "0x0070"], "value": name}],
    }


def private(tag: list[str], operator: str, value: Any) -> dict[str, Any]:
    return {"tag": tag, "operator": operator, "value": value}


PULSE = ["0x0019", "0x109C"]
ORIGINAL_RULES: list[dict[str, Any]] = [
    manufacturer("GE"),
    manufacturer("SIEMENS"),
    manufacturer("PHILIPS"),
    orientation("sagittal", [0, 1, 0, 0, 0, -1]),
    orientation("axial", [1, 0, 0, 0, 1, 0]),
    orientation("coronal", [1, 0, 0, 0, 0, -1]),
    {
        "type": "localizer",
        "id": "localizer",
        "rules": [
            {"tag": ["ClassifyType"], "operator": "contains", "value": plane}
            for plane in ("axial", "coronal", "sagittal")
        ],
    },
    {"type": "T1weighted", "rules": [private(["RepetitionTime"], "<", 5000), private(["EchoTime"], "<", 5)]},
    {"type": "T2weighted", "rules": [private(["EchoTime"], ">", 5), private(["RepetitionTime"], ">", 1000)]},
    {"type": "T1", "rules": [{"tag": ["0x0008", "0x9209"], "value": "T1"}]},
    {"type": "T2", "rules": [{"tag": ["0x0008", "0x9209"], "value": "T2"}]},
    {"type": "DTI", "rules": [{"tag": ["0x0008", "0x9209"], "value": "DIFFUSION"}]},
    {
        "type": "T1",
        "rules": [
            {"rule": "GEBYMANUFACTURER"},
            {"tag": PULSE, "value": "efgre3d"},
            private(["NumFiles"], ">", 100),
        ],
    },
    {"type": "T2", "rules": [{"rule": "GEBYMANUFACTURER"}, {"tag": PULSE, "value": "Cube"}]},
    {"type": "fMRI", "rules": [{"rule": "GEBYMANUFACTURER"}, private(["0x0043", "0x1039", 0], "==", 4000)]},
    {
        "type": "oblique",
        "id": "oblique",
        "check": "SeriesLevel",
        "rules": [{"notrule": "axial"}, {"notrule": "sagittal"}, {"notrule": "coronal"}],
    },
    {"type": "PhaseEncodeUD", "rules": [{"tag": ["0x0018", "0x1312"], "value": "COL"}]},
    {"type": "PhaseEncodeLR", "rules": [{"tag": ["0x0018", "0x1312"], "value": "ROW"}]},
    {
        "type": "mosaic",
        "rules": [
            {"rule": "SIEMENSBYMANUFACTURER"},
            {"tag": ["ImageType"], "operator": "contains", "value": "MOSAIC"},
        ],
    },
    {"type": "GEDTI", "rules": [{"rule": "GEBYMANUFACTURER"}, {"tag": PULSE, "value": "epi2"}]},
    {"type": "GERSI", "rules": [{"rule": "GEBYMANUFACTURER"}, {"tag": PULSE, "value": "rsi"}]},
    *(
        {"type": name, "rules": [private(["0x0019", "0x10B3"], "==", number)]}
        for name, number in (
            ("rev+forward", 2),
            ("allreversed", 1),
            ("allforward", 0),
            ("forward+reverse", 3),
        )
    ),
    {"type": "hasInversion", "rules": [{"tag": ["InversionTime"], "operator": "exist"}]},
    {"type": "noInversion", "rules": [{"tag": ["InversionTime"], "operator": "notexist"}]},
]


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return parse_rules(ORIGINAL_RULES, source="classifyRules.json")


def ge_mr(**keywords: Any) -> Dataset:
    return header(Manufacturer="GE MEDICAL SYSTEMS", **keywords)


def test_a_ge_axial_series_is_ge_and_axial(rules: RuleSet) -> None:
    """Item 61: the original never classified axial with pydicom >= 1 (MultiValue is no list)."""
    assert rules.classify([header("CT_small.dcm")]) == ["GE", "axial", "noInversion"]


def test_a_missing_tag_no_longer_passes_numeric_rules(rules: RuleSet) -> None:
    """CT_small has no TR/TE: the original called it T1weighted and T2weighted."""
    assert "T1weighted" not in rules.classify([header("CT_small.dcm")])
    assert rules.classify([header(EchoTime=2.5, RepetitionTime=8)]) == ["axial", "T1weighted", "noInversion"]
    assert "T2weighted" in rules.classify([header()])  # MR_small: TE 240, TR 4000


def test_exist_and_notexist(rules: RuleSet) -> None:
    """Item 62: the original died with a NameError."""
    assert "hasInversion" in rules.classify([header(InversionTime=900)])
    assert "noInversion" not in rules.classify([header(InversionTime=900)])


def test_the_three_plane_localizer_is_found_in_one_pass(rules: RuleSet) -> None:
    uid = generate_uid()
    planes = ([1, 0, 0, 0, 1, 0], [1, 0, 0, 0, 0, -1], [0, 1, 0, 0, 0, -1])
    loc = [header(SeriesInstanceUID=uid, ImageOrientationPatient=iop) for iop in planes]
    classes = rules.classify(loc)
    assert {"axial", "coronal", "sagittal", "localizer"} <= set(classes)
    assert "oblique" not in classes


def test_a_series_level_type_is_lost_when_any_instance_fails(rules: RuleSet) -> None:
    """Item 63: oblique is SeriesLevel; one axial instance takes it away, whatever the order."""
    tilted = [0.7071, 0.7071, 0, 0, 0, -1]
    uid = generate_uid()
    oblique = [header(SeriesInstanceUID=uid, ImageOrientationPatient=tilted) for _ in range(3)]
    assert "oblique" in rules.classify(oblique)
    assert "oblique" not in rules.classify([*oblique, header(SeriesInstanceUID=uid)])


def test_ge_private_tag_rules(rules: RuleSet) -> None:
    def ge_series(count: int, pulse: str) -> list[Dataset]:
        instances = series(count, Manufacturer="GE MEDICAL SYSTEMS")
        for ds in instances:
            ds.add_new(0x0019109C, "LO", pulse)
        return instances

    assert "T1" in rules.classify(ge_series(101, "efgre3d"))
    assert "T1" not in rules.classify(ge_series(100, "efgre3d"))  # NumFiles > 100
    assert "T2" in rules.classify(ge_series(1, "Cube"))
    assert "GEDTI" in rules.classify(ge_series(1, "epi2"))
    fmri = ge_mr()
    fmri.add_new(0x00431039, "IS", [4000, 8, 0, 0])
    assert "fMRI" in rules.classify([fmri])


def test_siemens_mosaic_phase_direction_and_sequence_order(rules: RuleSet) -> None:
    mosaic = header(
        Manufacturer="SIEMENS",
        ImageType=["ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC"],
        InPlanePhaseEncodingDirection="COL",
    )
    mosaic.add_new(0x001910B3, "IS", 2)
    assert rules.classify([mosaic]) == [
        "SIEMENS",
        "axial",
        "T2weighted",
        "PhaseEncodeUD",
        "mosaic",
        "rev+forward",
        "noInversion",
    ]


def test_the_original_series_json_names_still_name_their_tags() -> None:
    ds = header(SpacingBetweenSlices=5.5)
    ds.add_new(0x00431039, "IS", [1000, 8, 0, 0])
    rules = parse_rules(
        [
            {"type": "spaced", "rules": [{"tag": ["SliceSpacing"], "operator": ">", "value": 5}]},
            {"type": "b1000", "rules": [{"tag": ["Private0043_1039", 0], "operator": "==", "value": 1000}]},
        ]
    )
    assert rules.classify([ds]) == ["spaced", "b1000"]


def test_enhanced_contrast(rules: RuleSet) -> None:
    assert "DTI" in rules.classify([header(AcquisitionContrast="DIFFUSION")])
