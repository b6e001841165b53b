"""The notifications page's data: the webhooks of the setting and of notifications.json (secrets
replaced by a mask that saving keeps), and the file as editable text. Only for showing."""

from __future__ import annotations

import json
from typing import Any

from magickbox.config import EVENTS, Settings, Webhook
from magickbox.models.notifications import NotificationsInvalid, file_webhooks, read_json, shown
from magickbox.models.webhooks import MASK, masked_url
from magickbox.store import Store

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
    return {**hook.model_dump(), "url": masked_url(hook.url), "secret": MASK if hook.secret else ""}


def _editor_text(settings: Settings, hooks: list[Webhook], problem: str) -> str:
    """The file for the editor, never raw: secrets and URL credentials masked (saving them back
    keeps the saved values). A file that is not JSON cannot be masked, so it is not shown."""
    if not settings.notifications_path.exists():
        return json.dumps(EXAMPLE, indent=2)
    if not problem:
        return json.dumps([_masked(h) for h in hooks], indent=2)
    try:
        return json.dumps(shown(read_json(settings.notifications_path)), indent=2)
    except NotificationsInvalid:
        return "[]"


def page(settings: Settings, store: Store) -> dict[str, Any]:
    """What the notifications page shows: the webhooks and their editor, and the latest attempts."""
    return {**load(settings), "attempts": attempts(store)}


def load(settings: Settings) -> dict[str, Any]:
    """`setting_hooks`, `file_hooks`, `problem` and `text` (an example when there is no file)."""
    try:
        hooks, problems = file_webhooks(settings)
        problem = "; ".join(problems)
    except NotificationsInvalid as exc:
        hooks, problem = [], str(exc)
    exists = settings.notifications_path.exists()
    text = _editor_text(settings, hooks, problem)
    return {
        "setting_hooks": [_masked(h) for h in settings.notifications],
        "file_hooks": [_masked(h) for h in hooks],
        "file_exists": exists,
        "problem": problem,
        "text": text,
        "events": EVENTS,
    }


def attempts(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    """The latest tries, newest first, each URL with its credentials masked."""
    return [{**row, "url": masked_url(row["url"])} for row in store.notifications.attempts_log(limit)]
