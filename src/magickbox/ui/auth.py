"""Who may see the pages, and the CSRF guard of the page's own forms (login, logout).

The page never changes state itself: its buttons call the HTTP API with `Authorization: Bearer`
(a header a foreign site cannot make a browser send), so those calls cannot be forged across
sites. The pages themselves are plain GETs; when the box has tokens and reads are not open, a
page needs the `mb_ui` cookie (HttpOnly, SameSite=Strict) that the login form sets.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

SESSION_COOKIE = "mb_ui"
CSRF_COOKIE = "mb_csrf"
CSRF_FIELD = "csrf"

# (token, scope) -> allowed. Set by the API's token module (app.state.ui_token_check) when it
# exists; without one the box has no tokens and is open, like the original.
TokenCheck = Callable[[str, str], bool]


@dataclass(frozen=True)
class Access:
    tokens_enabled: bool
    reads_open: bool
    token_check: TokenCheck | None

    def can_read(self, request: Request) -> bool:
        if not self.tokens_enabled or self.reads_open or self.token_check is None:
            return True
        token = request.cookies.get(SESSION_COOKIE, "")
        return bool(token) and self.token_check(token, "read")

    def valid(self, token: str) -> bool:
        return self.token_check is not None and self.token_check(token, "read")


def access(request: Request) -> Access:
    state = request.app.state
    check: TokenCheck | None = getattr(state, "ui_token_check", None)
    enabled_probe: Callable[[], bool] | None = getattr(state, "ui_tokens_enabled", None)
    enabled = bool(enabled_probe()) if enabled_probe is not None else False
    return Access(
        tokens_enabled=enabled,
        reads_open=bool(getattr(state.settings, "open_reads", False)),
        token_check=check,
    )


def csrf_token(request: Request) -> str:
    """The value a form of this page must echo; kept in a cookie (double submit)."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def same_origin(request: Request) -> bool:
    """Refuse a POST that a browser says came from another site."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def csrf_ok(request: Request, submitted: str) -> bool:
    expected = request.cookies.get(CSRF_COOKIE, "")
    return bool(expected) and hmac.compare_digest(expected, submitted) and same_origin(request)
