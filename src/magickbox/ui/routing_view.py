"""The routing page's data: routing.json as text and as a table of rules, and the routing log's tail.

Only for showing; validating and saving belong to the routing stage, reached through the API.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from magickbox.config import Settings

# Offered in the editor when there is no routing.json: off (`status: 0`), so saving it sends nothing.
EXAMPLE = {
    "routing": [
        {
            "name": "Example (off until status is 1): results of ProcCopy back to the sender",
            "status": 0,
            "AETitleIn": "ProcCopy",
            "RouteDirectory": "OUTPUT",
            "send": [
                {
                    "success": {
                        "IP": "$caller",
                        "PORT": "$port",
                        "AETitleSender": "ProcCopy",
                        "AETitleTo": "PACS",
                    }
                }
            ],
            "break": 0,
        }
    ]
}

LOG_LINES = 200
LOG_NAMES = ("routing.log",)


@dataclass(frozen=True)
class Destination:
    when: str  # the regex on proc.json's `success`
    target: str  # AETitleTo@IP:PORT (as AETitleSender)
    stops: bool
    which: str  # the tag filter, as JSON text ("" = every file)


@dataclass(frozen=True)
class RuleView:
    number: int
    name: str
    enabled: bool
    called: str
    calling: str
    directory: str
    destinations: list[Destination]
    stops: bool


@dataclass(frozen=True)
class RoutingView:
    text: str
    exists: bool
    rules: list[RuleView] = field(default_factory=list)
    problem: str = ""


@dataclass(frozen=True)
class Placeholder:
    name: str
    value: str
    meaning: str


def placeholders(route_me: str, route_port: int, dicom_port: int) -> list[Placeholder]:
    """What `$me`, `$port` and `$caller` stand for on this box (the editor shows them)."""
    return [
        Placeholder("$me", route_me, "the route_me setting (the original's PARENTIP)"),
        Placeholder(
            "$port",
            str(route_port),
            f"the route_port setting: the destination's port, not this box's own DICOM port {dicom_port}",
        ),
        Placeholder("$caller", "the sender's IP", "of each session (its CallerIP)"),
    ]


def page(settings: Settings) -> dict[str, Any]:
    """What the routing page shows: the table, the placeholders a rule may use, the log's tail."""
    return {
        "routing": load(settings.routing_path),
        "placeholders": placeholders(settings.route_me, settings.route_port, settings.dicom_port),
        "log_lines": log_tail(settings.logs_dir),
    }


def load(path: Path) -> RoutingView:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return RoutingView(text=json.dumps(EXAMPLE, indent=2) + "\n", exists=False)
    except OSError as exc:
        return RoutingView(text="", exists=True, problem=f"cannot read {path.name}: {exc}")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return RoutingView(text=text, exists=True, problem=f"not valid JSON: {exc}")
    rules = _rules(document)
    if rules is None:
        return RoutingView(text=text, exists=True, problem="no list of rules found")
    return RoutingView(text=text, exists=True, rules=[_rule(i + 1, r) for i, r in enumerate(rules)])


def _rules(document: Any) -> list[Any] | None:
    if isinstance(document, dict):
        document = document.get("routing")
    return document if isinstance(document, list) else None


def _rule(number: int, raw: Any) -> RuleView:
    rule: dict[str, Any] = raw if isinstance(raw, dict) else {}
    enabled = rule.get("status", 1) not in (0, "0") and rule.get("enabled", "T") not in ("F", False)
    return RuleView(
        number=number,
        name=str(rule.get("name", "")),
        enabled=enabled,
        called=str(rule.get("AETitleIn", "")),
        calling=str(rule.get("AETitleFrom", "")),
        directory=str(rule.get("RouteDirectory", "OUTPUT")),
        destinations=_destinations(rule.get("send")),
        stops=rule.get("break") in (1, "1", True),
    )


def _destinations(send: Any) -> list[Destination]:
    found: list[Destination] = []
    for entry in send if isinstance(send, list) else []:
        if not isinstance(entry, dict):
            continue
        stops = entry.get("break") in (1, "1", True)
        for when, dest in entry.items():
            if when == "break" or not isinstance(dest, dict):
                continue
            target = f"{dest.get('AETitleTo', '?')}@{dest.get('IP', '?')}:{dest.get('PORT', '?')}"
            if dest.get("AETitleSender"):
                target += f" (as {dest['AETitleSender']})"
            which = json.dumps(dest["which"]) if "which" in dest else ""
            found.append(
                Destination(
                    when=when, target=target, stops=stops or dest.get("break") in (1, "1"), which=which
                )
            )
    return found


def log_tail(logs_dir: Path, lines: int = LOG_LINES) -> list[str]:
    """The newest `lines` lines of the routing log, newest first (as the original's modal)."""
    for name in LOG_NAMES:
        path = logs_dir / name
        if path.is_file():
            with path.open(encoding="utf-8", errors="replace") as handle:
                tail = deque(handle, maxlen=lines)
            return [line.rstrip("\n") for line in reversed(tail)]
    return []
