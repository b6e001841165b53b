"""Which destinations a finished session goes to: the rules evaluated against its AE titles and
its `proc.json` outcome. Pure functions, no I/O besides reading proc.json and DICOM headers.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydicom.errors import InvalidDicomError

from magickbox.dicom.bounded import read_header
from magickbox.models import ProcEntry
from magickbox.models.routing import CALLER, ME, PORT, Destination, RoutingTable, Rule, parse_tag
from magickbox.store import NewDelivery

COULD_NOT_READ = "couldNotReadProcJSON"


def read_outcome(proc_path: Path) -> str:
    """proc.json's first `success` value; `couldNotReadProcJSON` when it is missing or malformed."""
    try:
        value = json.loads(proc_path.read_text(encoding="utf-8"))
        entry = ProcEntry.model_validate(value[0] if isinstance(value, list) else value)
    except (OSError, ValueError, IndexError):  # pydantic's ValidationError is a ValueError
        return COULD_NOT_READ
    return entry.success


def _search(pattern: str | None, text: str) -> bool:
    # Missing filter matches. AE titles are compared as they are, without the original's quotes.
    return pattern is None or re.search(pattern, text.strip(), re.IGNORECASE) is not None


def rule_matches(rule: Rule, called_aet: str, calling_aet: str) -> bool:
    return _search(rule.AETitleIn, called_aet) and _search(rule.AETitleFrom, calling_aet)


@dataclass(frozen=True)
class Placeholders:
    me: str
    port: int
    caller_ip: str


def _resolve(dest: Destination, values: Placeholders) -> tuple[str, int]:
    ip = {ME: values.me, CALLER: values.caller_ip}.get(dest.IP, dest.IP)
    port = values.port if dest.PORT == PORT else int(str(dest.PORT).strip())
    return ip, port


def _which(dest: Destination) -> tuple[tuple[tuple[str, str], ...], ...] | None:
    if not dest.which:
        return None
    return tuple(tuple(group.items()) for group in dest.which)


def _rule_sends(
    index: int, rule: Rule, outcome: str, values: Placeholders
) -> Iterator[tuple[NewDelivery, str]]:
    """The rule's matching destinations in file order, each with the log line that explains it.

    A matching destination with `break` stops the rest of this rule's send entries (the
    documented meaning; the original code did the reverse).
    """
    for entry in rule.send:
        for key, dest in entry.items():
            if not re.search(key, outcome, re.IGNORECASE):
                continue
            ip, port = _resolve(dest, values)
            planned = NewDelivery(
                index, rule.name, key, ip, port, dest.AETitleSender, dest.AETitleTo, rule.RouteDirectory,
                _which(dest),
            )  # fmt: skip
            yield planned, f"send key {key!r} matches {outcome!r}"
            if dest.break_:
                return


def plan(
    table: RoutingTable, called_aet: str, calling_aet: str, outcome: str, values: Placeholders
) -> tuple[list[NewDelivery], list[str]]:
    """The deliveries for one session (duplicates merged) and log lines that explain the choice."""
    planned: list[NewDelivery] = []
    notes: list[str] = []
    seen: set[tuple[object, ...]] = set()
    for index, rule in enumerate(table.routing):
        if not rule.active:
            notes.append(f'check route {index} "{rule.name}": disabled')
            continue
        if not rule_matches(rule, called_aet, calling_aet):
            notes.append(f'check route {index} "{rule.name}": AE titles do not match')
            continue
        notes.append(f'check route {index} "{rule.name}": matches')
        for item, why in _rule_sends(index, rule, outcome, values):
            notes.append(f"  {why}")
            if item.identity() not in seen:
                seen.add(item.identity())
                planned.append(item)
        # `break` on a rule stops the later rules when this rule applied (see docs/routing.md).
        if rule.break_:
            notes.append(f'  route {index} "{rule.name}" has break: later rules are not checked')
            break
    return planned, notes


# ---- `which`: DICOM header filters -------------------------------------------------------------


def _value_text(value: object) -> str:
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)  # type: ignore[attr-defined]
    return "" if value is None else str(value)


def header_matches(path: Path, which: Iterable[Iterable[tuple[str, str]]]) -> bool | None:
    """True if all tags of any one group match; False if none; None if `path` is not DICOM.

    A tag missing from the file does not match (the original misaligned values instead).
    """
    try:
        ds = read_header(path)  # a deflated file: inflated no further than its header
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError, struct.error):
        return None
    for group in which:
        ok = True
        for name, pattern in group:
            element = ds.get(parse_tag(name))
            if element is None or not re.search(pattern, _value_text(element.value), re.IGNORECASE):
                ok = False
                break
        if ok:
            return True
    return False
