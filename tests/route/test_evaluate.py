from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from magickbox.models.routing import validate
from magickbox.route.evaluate import COULD_NOT_READ, Placeholders, header_matches, plan, read_outcome
from tests.models.test_routing import DEFAULT_RULE, dest
from tests.support.dicomdata import write_study

VALUES = Placeholders(me="192.0.2.1", port=4242, caller_ip="198.51.100.7")


def targets(
    rules: list[dict[str, Any]], outcome: str = "success", called: str = "ProcX", calling: str = "CT1"
) -> list[tuple[str, int, str]]:
    planned, _notes = plan(validate({"routing": rules}), called, calling, outcome, VALUES)
    return [(p.ip, p.port, p.called_aet) for p in planned]


def to(name: str, **extra: Any) -> dict[str, Any]:
    return dest(AETitleTo=name, **extra)


def test_default_rule_sends_output_to_me_and_port() -> None:
    planned, notes = plan(validate({"routing": [DEFAULT_RULE]}), "ProcX", "CT1", COULD_NOT_READ, VALUES)
    assert [(p.ip, p.port, p.calling_aet, p.called_aet, p.folder) for p in planned] == [
        ("192.0.2.1", 4242, "ProcDefault", "DCM4CHEE", "OUTPUT")
    ]
    assert any('check route 0 "Default Rule": matches' in n for n in notes)


def test_caller_placeholder_is_the_senders_address() -> None:
    rule = {"name": "back", "send": [{".*": dest(IP="$caller", PORT=104)}]}
    assert targets([rule]) == [("198.51.100.7", 104, "PACS")]


def test_success_and_failed_keys_pick_destinations() -> None:
    rule = {"name": "r", "send": [{"success": to("GOOD"), "failed": to("BAD"), "partial": to("PART")}]}
    assert [t[2] for t in targets([rule], "success")] == ["GOOD"]
    assert [t[2] for t in targets([rule], "failed")] == ["BAD"]
    assert targets([rule], COULD_NOT_READ) == []


def test_ae_titles_are_searched_case_insensitively_without_quotes() -> None:
    rule = {"name": "r", "AETitleIn": "ProcRSI", "AETitleFrom": "^PACS$", "send": [{".*": to("A")}]}
    assert targets([rule], called="ProcRSI2", calling="PACS")
    assert targets([rule], called="procrsi", calling="pacs")
    assert not targets([rule], called="ProcRSI", calling="OSIRIX")
    assert not targets([rule], called="ProcX", calling="PACS")


def test_disabled_rules_are_skipped_with_their_break() -> None:
    rules = [
        {"name": "off", "status": 0, "break": 1, "send": [{".*": to("OFF")}]},
        {"name": "off2", "enabled": "F", "send": [{".*": to("OFF2")}]},
        {"name": "on", "send": [{".*": to("ON")}]},
    ]
    assert [t[2] for t in targets(rules)] == ["ON"]


def test_destination_break_stops_the_other_send_entries_of_the_rule() -> None:
    rule = {
        "name": "r",
        "send": [
            {"nomatch": to("N"), "succ": to("FIRST", **{"break": 1}), "success": to("SAME_OBJECT")},
            {".*": to("NEXT_OBJECT")},
        ],
    }
    other = {"name": "later", "send": [{".*": to("LATER")}]}
    assert [t[2] for t in targets([rule, other])] == ["FIRST", "LATER"]


def test_without_break_every_matching_entry_sends() -> None:
    rule = {"name": "r", "send": [{"succ": to("A"), "success": to("B")}, {".*": to("C")}]}
    assert [t[2] for t in targets([rule])] == ["A", "B", "C"]


def test_rule_break_stops_later_rules_when_it_applies() -> None:
    rules = [
        {"name": "ct", "AETitleFrom": "CT", "break": 1, "send": [{".*": to("CT_DEST")}]},
        {"name": "default", "send": [{".*": to("DEFAULT")}]},
    ]
    assert [t[2] for t in targets(rules, calling="CT1")] == ["CT_DEST"]
    assert [t[2] for t in targets(rules, calling="MR1")] == ["DEFAULT"]


def test_the_same_destination_twice_is_one_delivery_and_input_is_another() -> None:
    rules = [
        {"name": "a", "send": [{".*": to("P")}]},
        {"name": "b", "send": [{".*": to("P")}]},
        {"name": "c", "RouteDirectory": "INPUT", "send": [{".*": to("P")}]},
    ]
    planned, _ = plan(validate({"routing": rules}), "X", "Y", "success", VALUES)
    assert [(p.rule_name, p.folder) for p in planned] == [("a", "OUTPUT"), ("c", "INPUT")]


def test_read_outcome(tmp_path: Path) -> None:
    proc = tmp_path / "proc.json"
    assert read_outcome(proc) == COULD_NOT_READ
    proc.write_text(json.dumps([{"success": "failed", "message": "today is Monday"}]))
    assert read_outcome(proc) == "failed"
    for broken in ("{", "[]", '{"message": 1}', '[{"success": 3}]'):
        proc.write_text(broken)
        assert read_outcome(proc) == COULD_NOT_READ


def test_which_matches_all_tags_of_any_one_group(tmp_path: Path) -> None:
    _, (t1,) = write_study(tmp_path / "a", 1, series_description="Sag T1 MPRAGE")
    _, (t2,) = write_study(tmp_path / "b", 1, series_description="Ax T2 FLAIR")
    text = tmp_path / "notes.txt"
    text.write_text("not dicom")
    only_t1 = [[("0008,103e", "t1")]]
    assert header_matches(t1, only_t1) is True
    assert header_matches(t2, only_t1) is False
    assert header_matches(text, only_t1) is None
    both = [[("SeriesDescription", "T1"), ("Modality", "MR")], [("SeriesDescription", "flair")]]
    assert header_matches(t1, both) is False  # CT, so the first group fails as a whole
    assert header_matches(t2, both) is True
    assert header_matches(t1, [[("0018,0015", ".*")]]) is False  # BodyPartExamined is missing
