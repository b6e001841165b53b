"""HTTP errors: every error the API answers is JSON `{"error": <short text>, "detail": <more>}`."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from magickbox.errors import Conflict, InvalidInput, NotFound, StoreFull

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Raised by endpoints; becomes a JSON answer with this status."""

    def __init__(self, status: int, error: str, detail: Any = "") -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail


def error_response(
    status: int, error: str, detail: Any = "", headers: dict[str, str] | None = None
) -> JSONResponse:
    # The 500 answer is made outside the edge middleware (api/edge.py): say nosniff here too.
    headers = {"X-Content-Type-Options": "nosniff", **(headers or {})}
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


_SHORT = {
    400: "bad request",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
}


# The domain errors (errors.py) and the answer each gets. 507 Insufficient Storage: the request
# was fine; free space (deleting works) and retry.
DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    NotFound: (404, "not found"),
    Conflict: (409, "conflict"),
    InvalidInput: (400, "bad request"),
    StoreFull: (507, "insufficient storage"),
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.error, exc.detail, headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = _SHORT.get(exc.status_code, "error")
        detail = exc.detail if exc.detail not in (None, error) else ""
        return error_response(exc.status_code, error, detail, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", ""))}
            for err in exc.errors()
        ]
        return error_response(422, "invalid request", detail)

    async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
        status, error = next(DOMAIN_ERRORS[k] for k in type(exc).__mro__ if k in DOMAIN_ERRORS)
        return error_response(status, error, str(exc))

    for domain_error in DOMAIN_ERRORS:
        app.add_exception_handler(domain_error, _domain_error)

    @app.exception_handler(OverflowError)
    async def _overflow(_request: Request, exc: OverflowError) -> JSONResponse:
        # A path or query integer beyond SQLite's 64 bits (e.g. /deliveries/99999999999999999999).
        return error_response(400, "bad request", f"a number is out of range: {exc}")

    @app.exception_handler(RecursionError)
    async def _too_deep(_request: Request, exc: RecursionError) -> JSONResponse:
        # json.loads (and any recursive decoder) on input nested beyond the interpreter's stack,
        # such as 100,000 '[': the input's fault, never the box's.
        return error_response(400, "bad request", "the input is nested too deeply to be read")

    @app.exception_handler(UnicodeDecodeError)
    @app.exception_handler(json.JSONDecodeError)
    async def _undecodable(_request: Request, exc: ValueError) -> JSONResponse:
        # A body an endpoint decodes itself (routing, notifications) that is not UTF-8 JSON.
        return error_response(400, "bad request", f"the body cannot be decoded: {exc}")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error", "see the server log")
