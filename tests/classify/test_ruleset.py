"""References, the series-level rule (any instance / every instance with SeriesLevel), NumFiles,
ClassifyType, and classify_study."""

from __future__ import annotations

from typing import Any

from pydicom.uid import generate_uid

from magickbox.classify import parse_rules
from tests.classify.helpers import header, series

AXIAL = [1, 0, 0, 0, 1, 0]
CORONAL = [1, 0, 0, 0, 0, -1]
SAGITTAL = [0, 1, 0, 0, 0, -1]


def plane_types() -> list[dict[str, Any]]:
    return [
        {"type": name, "id": name, "rules": [{"tag": "ImagePlane", "operator": "==", "value": name}]}
        for name in ("axial", "coronal", "sagittal")
    ]


def test_a_type_holds_when_any_instance_passes_and_series_level_when_every_one_does() -> None:
    rules = parse_rules(
        [
            {"type": "long", "rules": [{"tag": "EchoTime", "operator": ">", "value": 100}]},
            {
                "type": "all-long",
                "check": "SeriesLevel",
                "rules": [{"tag": "EchoTime", "operator": ">", "value": 100}],
            },
        ]
    )
    uid = generate_uid()
    mixed = [header(SeriesInstanceUID=uid, EchoTime=20), header(SeriesInstanceUID=uid, EchoTime=240)]
    assert rules.classify(mixed) == ["long"]
    assert rules.classify(reversed(mixed)) == ["long"]  # arrival order does not matter
    assert rules.classify(series(3, EchoTime=240)) == ["long", "all-long"]
    assert rules.classify([]) == []


def test_a_type_made_of_references_sees_the_whole_series_without_lag() -> None:
    """The original's localizer needed all three planes and saw the classes one file late."""
    types = [
        *plane_types(),
        {"type": "localizer", "rules": [{"rule": "axial"}, {"rule": "coronal"}, {"rule": "sagittal"}]},
    ]
    rules = parse_rules(types)
    uid = generate_uid()
    three = [header(SeriesInstanceUID=uid, ImageOrientationPatient=iop) for iop in (AXIAL, CORONAL, SAGITTAL)]
    assert rules.classify(three) == ["axial", "coronal", "sagittal", "localizer"]
    assert rules.classify(three[:2]) == ["axial", "coronal"]


def test_notrule_is_the_negation_of_the_whole_referenced_type() -> None:
    """not (A and B), where the original inlined (not A) and (not B)."""
    types = [
        {
            "type": "both",
            "id": "both",
            "rules": [
                {"tag": "Modality", "operator": "==", "value": "MR"},
                {"tag": "EchoTime", "operator": ">", "value": 100},
            ],
        },
        {"type": "not-both", "rules": [{"notrule": "both"}]},
    ]
    rules = parse_rules(types)
    assert rules.classify([header(EchoTime=240)]) == ["both"]
    assert rules.classify([header(EchoTime=20)]) == ["not-both"]  # MR but short TE: not both
    assert rules.classify([header("CT_small.dcm")]) == ["not-both"]


def test_a_reference_names_an_id_or_a_class_whose_types_are_alternatives() -> None:
    types = [
        {"type": "long", "id": "long-te", "rules": [{"tag": "EchoTime", "operator": ">", "value": 100}]},
        {
            "type": "long",
            "id": "long-tr",
            "rules": [{"tag": "RepetitionTime", "operator": ">", "value": 3000}],
        },
        {"type": "by-class", "rules": [{"rule": "long"}]},
        {"type": "by-id", "rules": [{"rule": "long-te"}]},
    ]
    rules = parse_rules(types)
    assert rules.classify([header(EchoTime=20)]) == ["long", "by-class"]  # long by its TR only
    assert rules.classify([header(EchoTime=240)]) == ["long", "by-class", "by-id"]


def test_references_may_point_forward_in_the_file() -> None:
    rules = parse_rules(
        [
            {"type": "late-ref", "rules": [{"rule": "mr"}]},
            {"type": "mr", "rules": [{"tag": "Modality", "operator": "==", "value": "MR"}]},
        ]
    )
    assert rules.classify([header()]) == ["late-ref", "mr"]


def test_num_files_counts_distinct_instances_and_classify_type_the_earlier_classes() -> None:
    types = [
        {"type": "mr", "rules": [{"tag": "Modality", "operator": "==", "value": "MR"}]},
        {"type": "big", "rules": [{"tag": "NumFiles", "operator": ">", "value": 2}]},
        {
            "type": "big-mr",
            "rules": [{"tag": "ClassifyType", "operator": "contains", "value": "big"}, {"rule": "mr"}],
        },
    ]
    rules = parse_rules(types)
    three = series(3)
    assert rules.classify(three) == ["mr", "big", "big-mr"]
    assert rules.classify([three[0], three[1], three[1]]) == ["mr"]  # a resent instance counts once


def test_classify_study_groups_by_series() -> None:
    rules = parse_rules([{"type": "long", "rules": [{"tag": "EchoTime", "operator": ">", "value": 100}]}])
    short, long = series(2, EchoTime=20), series(2, EchoTime=240)
    classes = rules.classify_study([*short, *long])
    assert classes == {short[0].SeriesInstanceUID: [], long[0].SeriesInstanceUID: ["long"]}


def test_a_big_series_is_evaluated_once_per_distinct_header() -> None:
    rules = parse_rules(
        [{"type": "any", "check": "SeriesLevel", "rules": [{"tag": "EchoTime", "operator": "exist"}]}]
    )
    assert rules.classify(series(500, EchoTime=20)) == ["any"]
