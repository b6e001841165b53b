"""The notifications page's data: the webhooks of the setting and of notifications.json (secrets
replaced by a mask that saving keeps), and the file as editable text. Only for showing."""

from __future__ import annotations

import json
from typing import Any

from magickbox.config import EVENTS, Settings, Webhook
from magickbox.models.notifications import NotificationsInvalid, load_file

MASK = "********"  # the API keeps a secret that comes back as this mask

EXAMPLE = [
    {
        "url": "http://hooks.example.org/magickbox",
        "events": ["session.finished", "session.failed", "delivery.failed"],
        "secret": "change me",
        "buckets": [],
        "callers": [],
    }
]


def _masked(hook: Webhook) -> dict[str, Any]:
    return {**hook.model_dump(), "secret": MASK if hook.secret else ""}


def load(settings: Settings) -> dict[str, Any]:
    """`setting_hooks`, `file_hooks`, `problem` and `text` (an example when there is no file)."""
    problem = ""
    try:
        hooks = load_file(settings.notifications_path)
    except NotificationsInvalid as exc:
        hooks, problem = [], str(exc)
    exists = settings.notifications_path.exists()
    if problem:
        text = settings.notifications_path.read_text(encoding="utf-8", errors="replace")
    else:
        text = json.dumps([_masked(h) for h in hooks] if exists else EXAMPLE, indent=2)
    return {
        "setting_hooks": [_masked(h) for h in settings.notifications],
        "file_hooks": [_masked(h) for h in hooks],
        "file_exists": exists,
        "problem": problem,
        "text": text,
        "events": EVENTS,
    }
