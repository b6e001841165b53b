"""Who may see the pages, and the CSRF guard of the page's own forms (login, logout).

The page never changes state itself: its buttons call the HTTP API with `Authorization: Bearer`
(a header a foreign site cannot make a browser send), so those calls cannot be forged across
sites. The pages themselves are plain GETs; when the box has tokens and reads are not open, a
page needs the `mb_ui` cookie (HttpOnly, SameSite=Strict) that the login form sets.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from magickbox.store import TokenStore, scope_allows
from magickbox.web import edge
from magickbox.web.deps import UI_COOKIE, get_settings, get_store

SESSION_COOKIE = UI_COOKIE
CSRF_COOKIE = "mb_csrf"
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class Access:
    tokens: TokenStore
    tokens_enabled: bool
    reads_open: bool

    def can_read(self, request: Request) -> bool:
        if not self.tokens_enabled or self.reads_open:
            return True
        return self.valid(request.cookies.get(SESSION_COOKIE, ""))

    def valid(self, token: str) -> bool:
        """A token the API would accept for reads (the page's buttons still send it for writes)."""
        if not token:
            return False
        granted = self.tokens.check(token)
        return granted is not None and scope_allows(granted, "read")


def access(request: Request) -> Access:
    store = get_store(request)
    return Access(
        tokens=store.tokens,
        tokens_enabled=store.tokens.any_active(),
        reads_open=bool(get_settings(request).open_reads),
    )


class LoginNeeded(Exception):
    """The viewer may not read: pages redirect to the login form, page fragments answer 401."""


def reader(request: Request) -> Access:
    """The dependency of every page and page fragment (as `require_read` is the API's)."""
    allowed = access(request)
    if not allowed.can_read(request):
        raise LoginNeeded(request.url.path)
    return allowed


Reader = Annotated[Access, Depends(reader)]


def csrf_token(request: Request) -> str:
    """The value a form of this page must echo; kept in a cookie (double submit)."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def same_origin(request: Request) -> bool:
    """Refuse a form a browser says came from another site: the app-wide rule of api/edge.py."""
    return edge.same_origin(request.headers, request.url.scheme)


def csrf_ok(request: Request, submitted: str) -> bool:
    expected = request.cookies.get(CSRF_COOKIE, "")
    return bool(expected) and hmac.compare_digest(expected, submitted) and same_origin(request)
