"""Retrieval keys checked as the DICOM value they become: one exact match, never more."""

from __future__ import annotations

import pytest

from magickbox.dicom.querykeys import KeyInvalid, check_key


@pytest.mark.parametrize(
    ("key_type", "key", "why"),
    [
        ("accession", "\u0000", "control"),
        ("patient_id", "P1\u0085", "control"),
        ("accession", "", "empty"),
        ("patient_id", "  ", "empty"),
        ("accession", "A*", "wildcard"),
        ("accession", "A?C", "wildcard"),
        ("accession", "A\\B", "backslash"),
        ("accession", "A" * 17, "longer than 16"),
        ("patient_id", "P" * 65, "longer than 64"),
        ("study_uid", "1.2.840.01", "not a UID"),
        ("study_uid", "1." + "2" * 63, "longer than 64"),
        ("patient_id", "M\u00fcller", "cannot encode"),
        ("accession", "ACC\u4e2d", "cannot encode"),
        ("modality", "MR", "unknown key type"),
    ],
)
def test_a_key_that_would_match_more_is_refused(key_type: str, key: str, why: str) -> None:
    with pytest.raises(KeyInvalid, match=why):
        check_key(key, key_type)


def test_a_valid_key_is_sent_without_its_edge_spaces() -> None:
    assert check_key(" ACC1 ", "accession") == "ACC1"
    assert check_key("1.2.840.10008.1", "study_uid") == "1.2.840.10008.1"
    assert check_key("P" * 64, "patient_id") == "P" * 64


def test_the_pacs_character_set_decides_what_is_encodable() -> None:
    assert check_key("M\u00fcller", "patient_id", character_set="ISO_IR 100") == "M\u00fcller"
    assert check_key("ACC\u4e2d", "accession", character_set="ISO_IR 192") == "ACC\u4e2d"
    with pytest.raises(KeyInvalid, match="cannot encode"):
        check_key("\u4e2d", "patient_id", character_set="ISO_IR 100")
    with pytest.raises(KeyInvalid, match="unknown character set"):
        check_key("P1", "patient_id", character_set="EBCDIC")
