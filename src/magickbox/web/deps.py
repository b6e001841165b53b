"""Request dependencies: the store, the settings, and token checks."""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import Request

from magickbox.config import Settings
from magickbox.store import ANONYMOUS, Actor, AuditEntry, Session, Store, scope_allows
from magickbox.web.errors import ApiError


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _token_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.query_params.get("token") or None


def require(scope: str) -> Callable[[Request], None]:
    """A dependency: with no token in the store the box is open (as the original); otherwise the
    request needs a token whose scope covers `scope` (reads are open when `open_reads` is set)."""

    def check(request: Request) -> None:
        store = get_store(request)
        if scope == "read" and get_settings(request).open_reads:
            return
        if not store.tokens.any_active():
            return
        token = _token_of(request)
        if token is None:
            raise ApiError(401, "token required", "send 'Authorization: Bearer <token>' or '?token=<token>'")
        granted = store.tokens.check(token)
        if granted is None:
            raise ApiError(401, "invalid token", "the token is unknown or revoked")
        if not scope_allows(granted, scope):
            raise ApiError(403, "insufficient scope", f"this needs a '{scope}' token; yours is '{granted}'")

    check.__name__ = f"require_{scope}"
    return check


require_read = require("read")
require_write = require("write")
require_admin = require("admin")


def actor_of(request: Request) -> Actor:
    """Who a request acts for, for the audit log: the token's name (or 'anonymous' on a box
    without tokens), how it came (mb sends its own User-Agent; the page fetches same-origin)."""
    token = _token_of(request)
    name = get_store(request).audit.token_name(token) if token else None
    agent = request.headers.get("user-agent", "")
    if agent.startswith("mb/"):
        via = "mb"
    elif request.headers.get("sec-fetch-site") == "same-origin" or "/ui/" in request.headers.get(
        "referer", ""
    ):
        via = "web"
    else:
        via = "api"
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
