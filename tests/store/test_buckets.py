from __future__ import annotations

import json
from pathlib import Path

import pytest

from magickbox.store.buckets import load_catalog, set_enabled


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


def test_set_enabled_keeps_other_keys_and_writes_the_number_form(tmp_path: Path) -> None:
    info = {"name": "Good", "AETitle": "ProcGood", "enabled": 1, "extra": {"kept": [1, 2]}}
    _bucket(tmp_path, "Good", info)
    set_enabled(tmp_path, "Good", False)
    written = json.loads((tmp_path / "Good" / "info.json").read_text())
    assert written == {**info, "enabled": 0}
    assert load_catalog(tmp_path).for_called_aet("ProcGood") is None
    set_enabled(tmp_path, "Good", True)
    assert json.loads((tmp_path / "Good" / "info.json").read_text())["enabled"] == 1


def test_set_enabled_refuses_a_file_that_is_not_a_json_object(tmp_path: Path) -> None:
    _bucket(tmp_path, "Bad", "[1, 2]")
    with pytest.raises(ValueError, match="must hold a JSON object"):
        set_enabled(tmp_path, "Bad", True)
    assert (tmp_path / "Bad" / "info.json").read_text() == "[1, 2]"
