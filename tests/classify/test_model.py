"""A bad rule file is refused at load with its place; nothing is left to fail at classification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from magickbox.classify import RuleError, load_rules, parse_rules
from magickbox.config import Settings
from magickbox.errors import InvalidInput

GOOD = {"tag": "Modality", "value": "MR"}


def kind(*rules: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "T1", "id": "t1", "rules": list(rules), **extra}


@pytest.mark.parametrize(
    ("types", "place", "says"),
    [
        ({"type": "T1"}, "f.json:", "a JSON list of types"),
        ([kind(GOOD), "T2"], "types[1]:", "a type is a JSON object"),
        ([kind(GOOD), {"rules": [GOOD]}], "types[1]:", "'type' (the class name)"),
        ([kind(GOOD, check="InstanceLevel")], "types[0] (id 't1'):", "'check' can only be"),
        ([kind(GOOD, checks="SeriesLevel")], "types[0] (id 't1'):", "unknown key(s) ['checks']"),
        ([kind()], "types[0] (id 't1'):", "non-empty list"),
        ([kind(GOOD), kind(GOOD)], "types[1]:", "id 't1' is used by an earlier type"),
        (
            [kind(GOOD, {"tag": "EchoTime", "operator": "equals", "value": 3})],
            "types[0] (id 't1') rules[1]:",
            "unknown operator 'equals'",
        ),
        (
            [kind({"tag": "SeriesDescription", "value": "t1(("})],
            "types[0] (id 't1') rules[0]:",
            "bad regular expression",
        ),
        (
            [kind({"tag": "EchoTyme", "value": "3"})],
            "types[0] (id 't1') rules[0]:",
            "unknown keyword 'EchoTyme'",
        ),
        ([kind({"tag": ["0x0018"], "value": "3"})], "rules[0]:", "is not a keyword, [group, element]"),
        ([kind({"tag": ["0x0018", "0xZZ"], "value": "3"})], "rules[0]:", "is not a group or element"),
        ([kind({"tag": ["0x0018", "0x0081", -1], "value": "3"})], "rules[0]:", "index is a whole number"),
        ([kind({"tag": [1, 2, 3, 4], "value": "3"})], "rules[0]:", "is not a keyword"),
        ([kind({"tag": "EchoTime", "operator": "<", "value": "short"})], "rules[0]:", "needs a number"),
        ([kind({"tag": "EchoTime", "operator": ">"})], "rules[0]:", "needs a 'value'"),
        (
            [kind({"tag": "EchoTime", "operator": "approx", "value": [1, "x"]})],
            "rules[0]:",
            "needs a number or a list of numbers",
        ),
        (
            [kind({"tag": "EchoTime", "operator": "approx", "value": 1, "approxLevel": -1})],
            "rules[0]:",
            "'approxLevel' is a number",
        ),
        (
            [kind({"tag": "EchoTime", "operator": "<", "value": 1, "approxLevel": 1})],
            "rules[0]:",
            "approx operator only",
        ),
        ([kind({"tag": "EchoTime", "value": {"re": "x"}})], "rules[0]:", "needs a string value"),
        ([kind({"tag": "EchoTime", "value": "3", "negate": "maybe"})], "rules[0]:", "'negate' is"),
        (
            [kind({"tag": "EchoTime", "value": "3", "operater": "<"})],
            "rules[0]:",
            "unknown key(s) ['operater']",
        ),
        ([kind({"value": "3"})], "rules[0]:", "needs 'tag'"),
        ([kind(GOOD, 7)], "rules[1]:", "a rule is a JSON object"),
        (
            [kind({"rule": "T2"})],
            "types[0] (id 't1') rules[0]:",
            "reference to 'T2', which is no type's id or class",
        ),
        ([kind({"rule": "t1", "notrule": "t1"})], "rules[0]:", "alone"),
        ([kind({"rule": "t1"})], "f.json:", "cycle: types[0] (id 't1') -> types[0] (id 't1')"),
        (
            [
                {"type": "a", "id": "a", "rules": [{"rule": "b"}]},
                {"type": "b", "id": "b", "rules": [{"notrule": "a"}]},
            ],
            "f.json:",
            "cycle",
        ),
        (
            [
                {"type": "a", "rules": [{"rule": "b"}]},
                {"type": "b", "rules": [{"tag": "ClassifyType", "value": "a"}]},
            ],
            "f.json:",
            "cycle",  # ClassifyType reads every earlier type, and a reads b
        ),
    ],
)
def test_a_bad_rule_file_is_refused_with_its_place(types: Any, place: str, says: str) -> None:
    with pytest.raises(RuleError) as raised:
        parse_rules(types, source="f.json")
    message = str(raised.value)
    assert message.startswith("f.json:"), message
    assert place in message and says in message, message
    assert isinstance(raised.value, InvalidInput)  # an edge answers it as bad input


def test_a_file_that_is_no_json_or_missing_is_refused_with_its_path(tmp_path: Path) -> None:
    broken = tmp_path / "rules.json"
    broken.write_text('[{"type": "T1",\n "rules": [}]')
    with pytest.raises(RuleError, match=r"rules\.json: not JSON: .* at line 2 column 12"):
        load_rules(broken)
    with pytest.raises(RuleError, match="cannot read the rule file"):
        load_rules(tmp_path / "absent.json")
    broken.write_bytes(b"\xff\xfe[]")
    with pytest.raises(RuleError, match="not UTF-8"):
        load_rules(broken)


def test_the_setting_names_the_file_and_its_default_is_the_shipped_one(tmp_path: Path) -> None:
    assert Settings(data=tmp_path).classify_rules is None
    shipped = load_rules(Settings(data=tmp_path).classify_rules)
    assert {"T1", "T2", "FLAIR", "DWI", "DTI", "BOLD", "localizer", "CT_bone"} <= set(shipped.classes)
    own = tmp_path / "mine.json"
    own.write_text(json.dumps([kind(GOOD)]))
    assert load_rules(Settings(data=tmp_path, classify_rules=own).classify_rules).classes == ["T1"]


def test_a_good_file_loads_from_its_path(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps([kind(GOOD, description="MR, for the test")]))
    assert load_rules(path).classes == ["T1"]
