"""Selecting sessions (and buckets) by a regular expression over their string fields."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from magickbox.client.errors import UsageError

# `processingTime` was a number in the original, so its regex never saw it; it is a string on our
# boxes ("0" or seconds) and would make `mb list 1` match almost everything. Keep it out.
NOT_MATCHED = frozenset({"processingTime"})


def compile_regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"invalid regular expression {pattern!r}: {exc}") from exc


def matches(entry: Mapping[str, Any], regex: re.Pattern[str], fields: Iterable[str] | None = None) -> bool:
    """True when the regex is found (unanchored, case-sensitive) in any string-valued field."""
    names = entry.keys() if fields is None else fields
    for name in names:
        value = entry.get(name)
        if name not in NOT_MATCHED and isinstance(value, str) and regex.search(value):
            return True
    return False
