from __future__ import annotations

import json
from pathlib import Path

from magickbox.store.buckets import load_catalog


def _bucket(streams: Path, folder: str, info: object) -> None:
    (streams / folder).mkdir(parents=True)
    (streams / folder / "info.json").write_text(json.dumps(info) if not isinstance(info, str) else info)


def test_bad_bucket_is_reported_and_others_keep_working(tmp_path: Path) -> None:
    _bucket(tmp_path, "a_broken", "{not json")
    _bucket(tmp_path, "b_noaet", {"name": "x", "enabled": 1})
    _bucket(tmp_path, "c_good", {"name": "Good", "AETitle": "ProcGood", "enabled": 1})
    _bucket(tmp_path, "d_off", {"name": "Off", "AETitle": "ProcOff", "enabled": 0})
    catalog = load_catalog(tmp_path)
    assert [b.name for b in catalog.valid] == ["c_good", "d_off"]
    reasons = {b.name: b.reason for b in catalog.invalid}
    assert "not readable JSON" in reasons["a_broken"]
    assert "AETitle" in reasons["b_noaet"]
    good = catalog.for_called_aet("ProcGood")
    assert good is not None and good.name == "c_good"
    assert catalog.for_called_aet("ProcOff") is None, "disabled buckets are not offered"
    assert catalog.for_called_aet("procgood") is None, "AE titles compare case-sensitively"


def test_enabled_accepts_original_spellings(tmp_path: Path) -> None:
    for index, value in enumerate([1, "1", True, "true"]):
        _bucket(tmp_path, f"b{index}", {"name": "n", "AETitle": f"P{index}", "enabled": value})
    catalog = load_catalog(tmp_path)
    assert all(b.info.enabled for b in catalog.valid) and len(catalog.valid) == 4
