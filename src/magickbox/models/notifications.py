"""`notifications.json`: the webhooks edited on the page, validated before they are saved.

The file is a JSON list of webhook objects (`url`, `events`, `secret`, `buckets`, `callers`), the
same shape as the `notifications` setting. The box sends to the webhooks of both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from magickbox.config import Settings, Webhook

_HOOKS = TypeAdapter(list[Webhook])


class NotificationsInvalid(ValueError):
    """The webhook list cannot be used; `reasons` say where and why, one line each."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def parse(value: Any) -> list[Webhook]:
    """Validate a decoded webhook list; raises NotificationsInvalid naming each bad field."""
    try:
        return _HOOKS.validate_python(value)
    except ValidationError as exc:
        reasons = [
            f"{'.'.join(str(part) for part in error['loc']) or 'list'}: {error['msg']}"
            for error in exc.errors()
        ]
        raise NotificationsInvalid(reasons) from exc


def load_file(path: Path) -> list[Webhook]:
    """The webhooks of `path`; none when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotificationsInvalid([f"{path.name}: not JSON: {exc}"]) from exc
    return parse(value)


def all_webhooks(settings: Settings) -> list[Webhook]:
    """The `notifications` setting followed by notifications.json (raises if the file is invalid)."""
    return [*settings.notifications, *load_file(settings.notifications_path)]


def to_json(hooks: list[Webhook]) -> list[dict[str, Any]]:
    return [hook.model_dump() for hook in hooks]
