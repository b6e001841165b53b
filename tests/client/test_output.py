"""JSON as the Go client printed it, and the regex over string fields."""

from __future__ import annotations

from magickbox.client.match import compile_regex, matches
from magickbox.client.output import go_json


def test_go_json_is_pretty_sorted_and_escapes_html() -> None:
    text = go_json([{"b": "<a&b>", "a": 1, "ü": "é"}])
    assert text == '[\n  {\n    "a": 1,\n    "b": "\\u003ca\\u0026b\\u003e",\n    "ü": "é"\n  }\n]'
    assert go_json(None) == "null"


def test_regex_matches_string_fields_but_not_numbers_or_processing_time() -> None:
    entry = {"AETitleCaller": "hauke", "processingLast": 12, "processingTime": "12", "measures": {"x": "12"}}
    assert matches(entry, compile_regex("auk"))
    assert not matches(entry, compile_regex("12"))
    assert not matches(entry, compile_regex("^auke"))  # unanchored search, but ^ still anchors
    assert not matches(entry, compile_regex("HAUKE"))  # case-sensitive, as the original
