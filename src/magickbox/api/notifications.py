"""/api/v1/notifications: the webhooks (setting + notifications.json), the log of attempts, and a
test event. Secrets are never shown: a saved secret reads back as MASK, and MASK sent back keeps it."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from magickbox.config import EVENTS, TEST_EVENT, Settings, Webhook
from magickbox.models.notifications import NotificationsInvalid, load_file, parse, to_json
from magickbox.store import Store
from magickbox.store.layout import write_json_atomic
from magickbox.web.deps import audit, require_admin, require_read

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])

MASK = "********"


def _context(request: Request) -> tuple[Settings, Store]:
    return request.app.state.settings, request.app.state.store


def _error(status: int, error: str, detail: Any) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


def masked(hooks: list[Webhook]) -> list[dict[str, Any]]:
    return [{**hook, "secret": MASK if hook["secret"] else ""} for hook in to_json(hooks)]


def _file_hooks(settings: Settings) -> tuple[list[Webhook], str]:
    try:
        return load_file(settings.notifications_path), ""
    except NotificationsInvalid as exc:
        return [], str(exc)


@router.get("", dependencies=[Depends(require_read)])
def get_notifications(request: Request, limit: int = 100) -> dict[str, Any]:
    """The webhooks (`setting`: from the environment or magickbox.toml; `file`: notifications.json,
    editable here), the events a webhook can ask for, and the latest attempts, newest first."""
    settings, store = _context(request)
    hooks, problem = _file_hooks(settings)
    return {
        "events": list(EVENTS),
        "setting": masked(list(settings.notifications)),
        "file": masked(hooks),
        "file_problem": problem,
        "attempts": store.notifications.attempts_log(max(1, min(limit, 1000))),
    }


@router.put("", dependencies=[Depends(require_admin)])
async def put_notifications(request: Request) -> Response:
    """Replace notifications.json. 400 (not JSON) or 422 (not a valid list) with the reasons."""
    settings, _ = _context(request)
    try:
        document = json.loads(await request.body())
    except ValueError as exc:
        return _error(400, "the body is not JSON", str(exc))
    old, _ = _file_hooks(settings)
    secrets = {hook.url: hook.secret for hook in old}
    if isinstance(document, list):
        for item in document:
            if isinstance(item, dict) and item.get("secret") == MASK:
                item["secret"] = secrets.get(str(item.get("url")), "")
    try:
        hooks = parse(document)
    except NotificationsInvalid as exc:
        return _error(422, "invalid notifications", exc.reasons)
    write_json_atomic(settings.notifications_path, to_json(hooks))
    detail = f"notifications.json: {len(hooks)} webhooks"
    await run_in_threadpool(audit, request, "webhook-change", None, detail)
    return JSONResponse(masked(hooks))


@router.post("/test", dependencies=[Depends(require_admin)], status_code=202)
async def send_test(request: Request) -> Response:
    """Queue a `notification.test` event for one webhook (`{"url": ...}`) or for all (no body)."""
    settings, store = _context(request)
    raw = await request.body()
    try:
        url = json.loads(raw).get("url") if raw.strip() else None
    except (ValueError, AttributeError) as exc:
        return _error(400, 'the body must be a JSON object such as {"url": ...}', str(exc))
    if url is not None and not isinstance(url, str):
        return _error(422, "url must be a string", f"not {type(url).__name__}")
    known = {hook.url for hook in [*settings.notifications, *_file_hooks(settings)[0]]}
    if not known:
        return _error(409, "no webhook is configured", "add one to notifications.json or the setting")
    if url is not None and url not in known:
        return _error(404, "no such webhook", url)
    event_id = store.notifications.record(TEST_EVENT, {"message": "test event from the box"}, only_url=url)
    await run_in_threadpool(audit, request, "webhook-test", None, f"event {event_id}")
    return JSONResponse({"event_id": event_id, "url": url}, status_code=202)
