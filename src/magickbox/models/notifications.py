"""`notifications.json`: the webhooks edited on the page, validated before they are saved.

The file is a JSON list of webhook objects (`url`, `events`, `secret`, `buckets`, `callers`), the
same shape as the `notifications` setting. The box sends to the webhooks of both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from magickbox.config import Settings, Webhook
from magickbox.models.webhooks import MASK, check_target, masked_url

_HOOKS = TypeAdapter(list[Webhook])


class NotificationsInvalid(ValueError):
    """The webhook list cannot be used; `reasons` say where and why, one line each."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def _reasons(exc: ValidationError, prefix: str = "") -> list[str]:
    # loc and msg only: a validation error's `input` may hold a secret or a URL's password.
    return [
        f"{prefix}{'.'.join(str(part) for part in error['loc']) or 'list'}: {error['msg']}"
        for error in exc.errors()
    ]


def parse(value: Any, allow: Sequence[str] = ()) -> list[Webhook]:
    """Validate a decoded webhook list, each URL against the target rule (`allow`: setting
    webhook_allow_networks); raises NotificationsInvalid naming each bad field, never a secret."""
    try:
        hooks = _HOOKS.validate_python(value)
    except ValidationError as exc:
        raise NotificationsInvalid(_reasons(exc)) from exc
    refused = []
    for index, hook in enumerate(hooks):
        try:
            check_target(hook.url, allow)
        except ValueError as exc:
            refused.append(f"{index}.url: {exc}")
    if refused:
        raise NotificationsInvalid(refused)
    return hooks


def read_json(path: Path) -> Any:
    """The decoded file ([] when it does not exist), or NotificationsInvalid when not JSON."""
    return _read(path)


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotificationsInvalid([f"{path.name}: not JSON: {exc}"]) from None


def load_file(path: Path, allow: Sequence[str] = ()) -> list[Webhook]:
    """The webhooks of `path`; none when the file does not exist."""
    return parse(_read(path), allow)


def usable(values: Sequence[Any], allow: Sequence[str], where: str) -> tuple[list[Webhook], list[str]]:
    """Each webhook on its own: the valid ones, and one reason per invalid one (which is skipped),
    so one bad entry never keeps the others from being sent to."""
    hooks: list[Webhook] = []
    problems: list[str] = []
    for index, value in enumerate(values):
        try:
            [hook] = parse([value], allow)
        except NotificationsInvalid as exc:
            problems.extend(f"{where}[{index}] {reason.removeprefix('0.')}" for reason in exc.reasons)
            continue
        hooks.append(hook)
    return hooks, problems


def file_webhooks(settings: Settings) -> tuple[list[Webhook], list[str]]:
    """The valid webhooks of notifications.json and why each other entry is skipped; raises
    NotificationsInvalid only when the file is not a JSON list."""
    value = _read(settings.notifications_path)
    if not isinstance(value, list):
        raise NotificationsInvalid([f"{settings.notifications_path.name}: not a JSON list of webhooks"])
    return usable(value, settings.webhook_allow_networks, settings.notifications_path.name)


def all_webhooks(settings: Settings) -> tuple[list[Webhook], list[str]]:
    """The webhooks the notifier sends to: the `notifications` setting followed by the valid
    entries of notifications.json, and why each other entry is skipped (raises only if the file
    is not a JSON list)."""
    allow = settings.webhook_allow_networks
    from_setting, problems = usable([hook.model_dump() for hook in settings.notifications], allow, "setting")
    from_file, more = file_webhooks(settings)
    return [*from_setting, *from_file], [*problems, *more]


def shown(value: Any) -> Any:
    """A decoded notifications.json as it may be shown to a reader: every `secret` masked, every
    `url` with its credentials masked (the file may be invalid: any shape is accepted)."""
    if isinstance(value, list):
        return [shown(item) for item in value]
    if not isinstance(value, dict):
        return value
    out = dict(value)
    if out.get("secret"):
        out["secret"] = MASK
    if isinstance(out.get("url"), str):
        out["url"] = masked_url(out["url"])
    return out


def to_json(hooks: list[Webhook]) -> list[dict[str, Any]]:
    return [hook.model_dump() for hook in hooks]
