from __future__ import annotations

import json
from pathlib import Path

from magickbox.ui import routing_view

ORIGINAL_DEFAULT = {
    "routing": [
        {
            "name": "Default Rule",
            "AETitleIn": ".*",
            "send": [
                {".*": {"IP": "$me", "PORT": "$port", "AETitleSender": "ProcDefault", "AETitleTo": "PACS"}}
            ],
        },
        {
            "name": "RSI",
            "status": 0,
            "AETitleIn": "ProcRSI",
            "AETitleFrom": "PACS",
            "break": 1,
            "send": [
                {
                    "failed": {"IP": "10.0.0.1", "PORT": 403, "AETitleSender": "A", "AETitleTo": "B"},
                    "break": 1,
                },
                {
                    "success": {
                        "IP": "10.0.0.2",
                        "PORT": "104",
                        "AETitleSender": "A",
                        "AETitleTo": "C",
                        "which": [{"SeriesDescription": "T1"}],
                    }
                },
            ],
        },
    ]
}


def test_rules_are_listed_in_order(tmp_path: Path) -> None:
    path = tmp_path / "routing.json"
    path.write_text(json.dumps(ORIGINAL_DEFAULT))
    view = routing_view.load(path)
    assert view.exists and not view.problem
    first, second = view.rules
    assert first.name == "Default Rule" and first.enabled and first.calling == ""
    assert first.destinations[0].target == "PACS@$me:$port (as ProcDefault)"
    assert not second.enabled and second.stops and second.directory == "OUTPUT"
    assert second.destinations[0].stops and second.destinations[0].when == "failed"
    assert "SeriesDescription" in second.destinations[1].which


def test_missing_and_broken_files(tmp_path: Path) -> None:
    assert not routing_view.load(tmp_path / "routing.json").exists
    (tmp_path / "routing.json").write_text("{nope")
    view = routing_view.load(tmp_path / "routing.json")
    assert view.text == "{nope" and "not valid JSON" in view.problem


def test_log_tail_is_newest_first(tmp_path: Path) -> None:
    (tmp_path / "routing.log").write_text("".join(f"line {i}\n" for i in range(300)))
    lines = routing_view.log_tail(tmp_path, lines=3)
    assert lines == ["line 299", "line 298", "line 297"]
    assert routing_view.log_tail(tmp_path / "none") == []
