"""Request dependencies: the store, the settings, and token checks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from fastapi import Request

from magickbox.config import Settings
from magickbox.store import ANONYMOUS, Actor, AuditEntry, Session, Store, scope_allows
from magickbox.web.errors import ApiError


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def json_body(request: Request) -> Any:
    """The request's body parsed as JSON; an `ApiError` 400 ("the body is not JSON") when it is not."""
    try:
        return json.loads(await request.body())
    except ValueError as exc:
        raise ApiError(400, "the body is not JSON", str(exc)) from exc


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


UI_COOKIE = "mb_ui"  # the page's login cookie (ui/auth.py sets it): a token for reads
CLIENT_HEADER = "x-magickbox-client"  # the page's script says `web` (a label for the audit log)


def token_of(request: Request) -> str | None:
    """The API token a request carries: `Authorization: Bearer`, else `?token=`."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.query_params.get("token") or None


def refusal(store: Store, scope: str, token: str | None) -> tuple[int, str, str] | None:
    """None when `token` may act at `scope` (or the box has no token at all: it is open, as the
    original); else the (status, error, detail) of the refusal."""
    if not store.tokens.any_active():
        return None
    if token is None:
        return 401, "token required", "send 'Authorization: Bearer <token>' or '?token=<token>'"
    granted = store.tokens.check(token)
    if granted is None:
        return 401, "invalid token", "the token is unknown or revoked"
    if not scope_allows(granted, scope):
        return 403, "insufficient scope", f"this needs a '{scope}' token; yours is '{granted}'"
    return None


def body_gate(store: Store) -> Callable[[str, Request], tuple[int, str, str] | None]:
    """The credential check `web.bodies.BodyGuard` makes before a body is read: the API token,
    or for the page's own requests (`least` is `read`) also the page's login cookie."""

    def gate(least: str, request: Request) -> tuple[int, str, str] | None:
        token = token_of(request)
        if token is None and least == "read":
            token = request.cookies.get(UI_COOKIE) or None
        return refusal(store, least, token)

    return gate


def require(scope: str) -> Callable[[Request], None]:
    """A dependency: with no token in the store the box is open (as the original); otherwise the
    request needs a token whose scope covers `scope` (reads are open when `open_reads` is set)."""

    def check(request: Request) -> None:
        if scope == "read" and get_settings(request).open_reads:
            return
        refused = refusal(get_store(request), scope, token_of(request))
        if refused is not None:
            raise ApiError(*refused)

    check.__name__ = f"require_{scope}"
    return check


require_read = require("read")
require_write = require("write")
require_admin = require("admin")


def route_family(path: str) -> str:
    """How a request came, from the route it asks for (what the box knows, not what a header
    says): `legacy` (the original's /code/php and /scratch), `web` (the page), else `api`."""
    if path.startswith(("/code/", "/scratch/")):
        return "legacy"
    if path == "/" or path.startswith("/ui/"):
        return "web"
    return "api"


def actor_of(request: Request) -> Actor:
    """Who a request acts for, for the audit log: the token's name (or 'anonymous' on a box
    without tokens), how it came (the route family; `mb` or `web` when the client says it is mb or
    the page's script: labels for the reader that nothing trusts), and the client's address
    (web/proxies.py decides it)."""
    token = token_of(request)
    name = get_store(request).audit.token_name(token) if token else None
    if name is None and (cookie := request.cookies.get(UI_COOKIE)):
        name = get_store(request).audit.token_name(cookie)
    via = route_family(request.url.path)
    if request.headers.get("user-agent", "").startswith("mb/"):
        via = "mb"
    elif via == "api" and request.headers.get(CLIENT_HEADER) == "web":
        via = "web"  # the page's own script calling the API (a header no <img> or form can send)
    return Actor(name=name or ANONYMOUS, via=via, ip=request.client.host if request.client else "")


def audit(
    request: Request, action: str, session: Session | None = None, detail: str = "", nbytes: int | None = None
) -> None:
    """Append one audit entry for what this request did (to `session`, when it names one)."""
    who = actor_of(request)
    get_store(request).audit.record(
        AuditEntry(
            at=time.time(),
            actor=who.name,
            via=who.via,
            ip=who.ip,
            action=action,
            scratchdir=session.scratchdir if session else "",
            pid=session.pid if session else "",
            study_uid=(session.study_uid or "") if session else "",
            detail=detail,
            bytes=nbytes,
        )
    )
