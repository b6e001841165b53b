from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from magickbox.models.routing import RoutingInvalid, load, parse_tag, validate

DEFAULT_RULE: dict[str, Any] = {
    "name": "Default Rule",
    "AETitleIn": ".*",
    "send": [{".*": {"IP": "$me", "PORT": "$port", "AETitleSender": "ProcDefault", "AETitleTo": "DCM4CHEE"}}],
    "break": 0,
}


def dest(**extra: Any) -> dict[str, Any]:
    return {"IP": "10.0.0.5", "PORT": "11112", "AETitleSender": "BOX", "AETitleTo": "PACS", **extra}


def test_the_documented_example_is_valid() -> None:
    rsi = {
        "name": "ProcRSI bucket routing of results",
        "AETitleIn": "ProcRSI",
        "AETitleFrom": "PACS",
        "send": [{k: dest(**{"break": 1}) for k in ("success", "failed", "partial")}],
        "break": 0,
    }
    table = validate({"routing": [DEFAULT_RULE, rsi]})
    assert [r.name for r in table.routing] == ["Default Rule", "ProcRSI bucket routing of results"]
    assert table.routing[1].send[0]["failed"].break_ is True
    assert table.routing[0].RouteDirectory == "OUTPUT"


def test_port_may_be_a_string_or_a_number() -> None:
    table = validate({"routing": [{"name": "n", "send": [{".*": dest(PORT=104)}]}]})
    assert table.routing[0].send[0][".*"].PORT == 104


@pytest.mark.parametrize(
    ("flags", "active"),
    [
        ({}, True),
        ({"status": 0}, False),
        ({"status": False}, False),
        ({"status": "0"}, False),
        ({"enabled": "F"}, False),
        ({"enabled": "false"}, False),
        ({"enabled": "T"}, True),
        ({"status": 1, "enabled": True}, True),
    ],
)
def test_status_0_and_enabled_F_disable_a_rule(flags: dict[str, Any], active: bool) -> None:
    table = validate({"routing": [{"name": "n", **flags}]})
    assert table.routing[0].active is active


def reasons_of(document: Any) -> list[str]:
    with pytest.raises(RoutingInvalid) as caught:
        validate(document)
    return caught.value.reasons


def test_invalid_tables_are_refused_with_a_reason_per_problem() -> None:
    reasons = reasons_of(
        {
            "routing": [
                {
                    "name": "bad",
                    "AETitleIn": "([",
                    "RouteDirectory": "../../etc",
                    "send": [{"(": dest(PORT="70000", AETitleTo="X" * 17, IP="a b;rm")}],
                },
                {"send": []},
            ]
        }
    )
    text = "\n".join(reasons)
    assert "routing[0].AETitleIn: not a valid regular expression" in text
    assert "routing[0].RouteDirectory: must be OUTPUT or INPUT" in text
    assert 'routing[0].send[0]["("].PORT: port 70000 is out of range' in text
    assert "AETitleTo" in text and "IP" in text
    assert "routing[1].name: Field required" in text


def test_missing_destination_key_and_unknown_keys_are_refused() -> None:
    no_port = dest()
    del no_port["PORT"]
    reasons = reasons_of({"routing": [{"name": "n", "send": [{".*": no_port}], "AETitelIn": "x"}]})
    assert any("PORT: Field required" in r for r in reasons)
    assert any("AETitelIn" in r for r in reasons)


@pytest.mark.parametrize("document", [[], None, "routing", {"routing": {}}])
def test_the_top_level_must_be_an_object_with_a_list(document: Any) -> None:
    assert reasons_of(document)


def test_which_tags_are_checked() -> None:
    ok = validate({"routing": [{"name": "n", "send": [{".*": dest(which=[{"0008,103e": "T1"}])}]}]})
    assert ok.routing[0].send[0][".*"].which == [{"0008,103e": "T1"}]
    reasons = reasons_of({"routing": [{"name": "n", "send": [{".*": dest(which=[{"NoSuchTag": "T1"}])}]}]})
    assert any("unknown DICOM tag 'NoSuchTag'" in r for r in reasons)


@pytest.mark.parametrize("name", ["0008,103e", "(0008,103E)", "0008103E", "SeriesDescription"])
def test_tags_by_number_or_keyword(name: str) -> None:
    assert parse_tag(name) == 0x0008103E


def test_load_without_a_file_means_no_routing(tmp_path: Path) -> None:
    assert load(tmp_path / "routing.json") is None
    (tmp_path / "routing.json").write_text(json.dumps({"routing": [DEFAULT_RULE]}))
    table = load(tmp_path / "routing.json")
    assert table is not None and table.routing[0].name == "Default Rule"
    (tmp_path / "routing.json").write_text("{ // comment\n}")
    with pytest.raises(RoutingInvalid, match="not valid JSON"):
        load(tmp_path / "routing.json")
