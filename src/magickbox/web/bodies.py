"""Request bodies are authenticated and bounded before the application reads a byte of them.

FastAPI reads and parses a JSON or form body before it runs an endpoint's dependencies, so a
token check written as a dependency comes too late: an anonymous 1 GiB body was parsed first.
`BodyGuard` is a pure ASGI middleware in front of every route that

- refuses a state-changing request (any method but GET/HEAD/OPTIONS) without a valid credential
  with 401 (403 for a token whose scope is below the route family's least), once the box has
  tokens: `write` for the API and the original's endpoints, `read` (the page's login cookie) for
  the page's own `POST /ui/...`; the login and logout forms are open (they carry a CSRF token).
  The route's own dependency still checks the exact scope it needs;
- refuses a body over its cap with 413 and a JSON reason: at once when `Content-Length` says so,
  and while it streams (chunked) as soon as the count passes the cap, before the application
  holds more than one chunk beyond it. The cap is `http_max_body_bytes`; the upload endpoints,
  which stream to disk and check `upload_max_bytes` themselves (api/uploads.py), get that
  limit plus room for the multipart envelope.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from magickbox.web.edge import EDGE_HEADERS, SAFE_METHODS, HttpMiddleware

UPLOAD_PATHS = frozenset({"/code/php/processZip.php", "/api/v1/uploads"})
# Forms that need no credential: they carry their own CSRF token, and logging in is how one gets one.
OPEN_FORMS = frozenset({"/ui/login", "/ui/logout"})
MULTIPART_ROOM = 1 << 20  # boundaries and text fields around an upload's file


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a streamed body passes its cap; the error handlers answer 413."""

    def __init__(self, cap: int) -> None:
        super().__init__(413, f"the request body is larger than {cap} bytes")


@dataclass(frozen=True)
class BodyLimits:
    """The cap of a path's body: `default` bytes, `upload` for the upload endpoints."""

    default: int
    upload: int

    def cap(self, path: str) -> int:
        return self.upload + MULTIPART_ROOM if path in UPLOAD_PATHS else self.default


# (scope a request needs, request) -> None when it may go on, else (status, error, detail).
Gate = Callable[[str, Request], "tuple[int, str, str] | None"]


def least_scope(path: str) -> str:
    """The least token scope a state-changing request to `path` needs before its body is read."""
    return "read" if path.startswith("/ui/") else "write"


def _declared_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    return int(value) if value is not None and value.strip().isdigit() else None


async def _answer(send: Send, status: int, error: str, detail: str) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *EDGE_HEADERS]})
    await send({"type": "http.response.body", "body": body})


class BodyGuard(HttpMiddleware):
    """ASGI middleware applying the rules in this module's docstring to every HTTP request."""

    def __init__(self, app: ASGIApp, *, limits: BodyLimits, gate: Gate) -> None:
        super().__init__(app)
        self.limits = limits
        self.gate = gate

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if scope["method"] not in SAFE_METHODS and path not in OPEN_FORMS:
            # The token check reads the database: in a worker thread, as the dependencies do.
            refusal = await anyio.to_thread.run_sync(self.gate, least_scope(path), Request(scope))
            if refusal is not None:
                await _answer(send, *refusal)
                return
        cap = self.limits.cap(path)
        declared = _declared_length(Headers(scope=scope))
        if declared is not None and declared > cap:
            detail = f"the limit is {cap} bytes; this one declares {declared}"
            await _answer(send, 413, "request body too large", detail)
            return
        await self._call_bounded(scope, receive, send, cap)

    async def _call_bounded(self, scope: Scope, receive: Receive, send: Send, cap: int) -> None:
        counted = 0
        started = False

        async def bounded_receive() -> Message:
            nonlocal counted
            message = await receive()
            if message["type"] == "http.request":
                counted += len(message.get("body", b""))
                if counted > cap:
                    raise BodyTooLarge(cap)
            return message

        async def noting_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, noting_send)
        except BodyTooLarge as exc:  # read outside the error handlers (or re-raised by them)
            if started:
                raise
            await _answer(send, 413, "request body too large", str(exc.detail))
