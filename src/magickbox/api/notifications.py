"""/api/v1/notifications: the webhooks (setting + notifications.json), the log of attempts, and a
test event. Secrets are never shown: a saved secret reads back as MASK, and MASK sent back keeps it;
so are a URL's user:password and secret-looking query values (a URL sent back masked keeps the
saved one)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from magickbox.config import EVENTS, TEST_EVENT, Settings, Webhook
from magickbox.files import write_json_atomic
from magickbox.models.notifications import NotificationsInvalid, file_webhooks, parse, to_json
from magickbox.models.webhooks import masked_url
from magickbox.store import Store
from magickbox.web.deps import audit, json_body, require_admin, require_read

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])

MASK = "********"


def _context(request: Request) -> tuple[Settings, Store]:
    return request.app.state.settings, request.app.state.store


def _error(status: int, error: str, detail: Any) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


class TestIn(BaseModel):
    """The body of POST /test: one webhook's URL (as shown, masked or not), or none for all."""

    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(default=None, max_length=2000)


def masked(hooks: list[Webhook]) -> list[dict[str, Any]]:
    """Webhooks as shown to anyone: secret and URL credentials masked."""
    return [
        {**hook, "url": masked_url(hook["url"]), "secret": MASK if hook["secret"] else ""}
        for hook in to_json(hooks)
    ]


def _file_hooks(settings: Settings) -> tuple[list[Webhook], str]:
    """The usable webhooks of notifications.json and its problems (no secret in them)."""
    try:
        hooks, problems = file_webhooks(settings)
    except NotificationsInvalid as exc:
        return [], str(exc)
    return hooks, "; ".join(problems)


def _unmask(document: Any, old: list[Webhook]) -> None:
    """Put back what the page was shown masked: a URL equal to a saved one's masked form is that
    URL, and a MASK secret is that URL's saved secret."""
    if not isinstance(document, list):
        return
    urls = {masked_url(hook.url): hook.url for hook in old}
    secrets = {hook.url: hook.secret for hook in old}
    for item in document:
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            item["url"] = urls.get(item["url"], item["url"])
        if isinstance(item, dict) and item.get("secret") == MASK:
            item["secret"] = secrets.get(str(item.get("url")), "")


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
        "attempts": [
            {**row, "url": masked_url(row["url"])}
            for row in store.notifications.attempts_log(max(1, min(limit, 1000)))
        ],
    }


@router.put("", dependencies=[Depends(require_admin)])
async def put_notifications(request: Request) -> Response:
    """Replace notifications.json. 400 (not JSON) or 422 (not a valid list) with the reasons."""
    settings, _ = _context(request)
    document = await json_body(request)
    old, _ = _file_hooks(settings)
    _unmask(document, old)
    try:
        hooks = parse(document, settings.webhook_allow_networks)
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
        url = TestIn.model_validate_json(raw).url if raw.strip() else None
    except ValidationError as exc:
        reasons = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()]
        status = 400 if any(e["type"] == "json_invalid" for e in exc.errors()) else 422  # not JSON at all
        return _error(status, 'the body must be a JSON object such as {"url": "..."}', reasons)
    hooks = [*settings.notifications, *_file_hooks(settings)[0]]
    if not hooks:
        return _error(409, "no webhook is configured", "add one to notifications.json or the setting")
    known = {**{masked_url(hook.url): hook.url for hook in hooks}, **{hook.url: hook.url for hook in hooks}}
    if url is not None and url not in known:
        return _error(404, "no such webhook", masked_url(url))
    target = None if url is None else known[url]
    event_id = store.notifications.record(TEST_EVENT, {"message": "test event from the box"}, only_url=target)
    await run_in_threadpool(audit, request, "webhook-test", None, f"event {event_id}")
    return JSONResponse({"event_id": event_id, "url": url and masked_url(url)}, status_code=202)
