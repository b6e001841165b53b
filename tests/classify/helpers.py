"""Headers for the classification tests: pydicom's own files, read as the receiver reads them
(stop_before_pixels) and changed in the test."""

from __future__ import annotations

from typing import Any

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from magickbox.classify import RuleSet, parse_rules


def header(name: str = "MR_small.dcm", **keywords: Any) -> Dataset:
    """A header of pydicom's file `name` with the given keywords set (None deletes one) and a
    fresh SOPInstanceUID."""
    path = get_testdata_file(name)
    assert path is not None
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    ds.SOPInstanceUID = generate_uid()
    for keyword, value in keywords.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def series(count: int, name: str = "MR_small.dcm", **keywords: Any) -> list[Dataset]:
    """`count` instances of one series (one SeriesInstanceUID) with the same changes."""
    uid = generate_uid()
    return [header(name, SeriesInstanceUID=uid, InstanceNumber=i + 1, **keywords) for i in range(count)]


def one_type(*rules: dict[str, Any], check: str | None = None) -> RuleSet:
    """A rule file of one type "hit" with the given rules."""
    kind: dict[str, Any] = {"type": "hit", "id": "hit", "rules": list(rules)}
    if check is not None:
        kind["check"] = check
    return parse_rules([kind], source="test.json")


def hits(rules: RuleSet, *headers: Dataset) -> bool:
    """Whether the series of `headers` gets the class "hit"."""
    return "hit" in rules.classify(headers)
