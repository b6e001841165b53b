"""The web page: server-rendered pages over the store; buttons call the HTTP API from a little JS."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from magickbox import __version__
from magickbox.dicom.uid import is_valid_uid
from magickbox.errors import NotFound
from magickbox.preview import Previews
from magickbox.scratchdir import is_scratchdir_name
from magickbox.store import Session, SessionFilter, SessionState
from magickbox.ui import (
    actions,
    assets,
    auth,
    charts,
    housekeeping,
    notifications_view,
    retrievals_view,
    routing_view,
    views,
)
from magickbox.web.deps import audit, get_settings, get_store

router = APIRouter()
router.include_router(actions.router)

_env = Environment(
    loader=PackageLoader("magickbox.ui", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
# Values from received headers (UIDs) reach URLs only through these: `{% if x is uid %}` lets
# a valid DICOM UID through, `x | segment` percent-encodes everything but unreserved characters,
# so no value can add a path segment, a query or a fragment to the URL it is put into.
_env.tests["uid"] = is_valid_uid
_env.filters["segment"] = lambda value: quote(str(value), safe="")
templates = Jinja2Templates(env=_env)

# The API endpoints the page's buttons call. One place, so the page follows the API's paths.
ENDPOINTS: dict[str, str] = {
    "output_zip": "/api/v1/sessions/{scratchdir}/output.zip",
    "input_zip": "/api/v1/sessions/{scratchdir}/input.zip",
    "log_file": "/api/v1/sessions/{scratchdir}/log",
    "delete": "DELETE /api/v1/sessions/{scratchdir}",
    "cancel": "POST /api/v1/sessions/{scratchdir}/cancel",
    "rerun": "POST /api/v1/sessions/{scratchdir}/rerun",
    "bucket_enable": "POST /api/v1/buckets/{bucket}/enable",
    "bucket_disable": "POST /api/v1/buckets/{bucket}/disable",
    "routing_validate": "POST /ui/routing/check",
    "routing_save": "PUT /api/v1/routing",
    "delivery_retry": "POST /api/v1/deliveries/{delivery}/retry",
    "notifications_save": "PUT /api/v1/notifications",
    "notifications_test": "POST /api/v1/notifications/test",
    "keep": "POST /api/v1/sessions/{scratchdir}/keep",
    "unkeep": "DELETE /api/v1/sessions/{scratchdir}/keep",
    "remove_input": "DELETE /api/v1/sessions/{scratchdir}/input",
    "remove_output": "DELETE /api/v1/sessions/{scratchdir}/output",
}


def endpoint_url(name: str, **values: str) -> str:
    """The path of a GET in `ENDPOINTS` with its `{placeholders}` filled in (quoted): the links
    the templates render (downloads) follow the API's paths as the buttons' calls do."""
    url = ENDPOINTS[name]
    for key, value in values.items():
        url = url.replace("{" + key + "}", quote(value, safe=""))
    return url


_env.globals["endpoint_url"] = endpoint_url
SECURITY_HEADERS = {
    # Nothing inline, nothing from elsewhere: a value that slipped past escaping still cannot run.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def install(app: FastAPI) -> None:
    """Mount the pages on `app`, with the answer for viewers who must log in first."""
    app.include_router(router)

    @app.exception_handler(auth.LoginNeeded)
    async def _login_needed(request: Request, _exc: auth.LoginNeeded) -> Response:
        if request.url.path in FRAGMENT_PATHS or request.url.path.endswith("/log"):
            return JSONResponse({"error": "unauthorized", "detail": "log in first"}, status_code=401)
        target = "/ui/login?" + urlencode({"next": request.url.path})
        return RedirectResponse(target, status_code=303)


FRAGMENT_PATHS = frozenset({"/ui/sessions/rows"})


def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    access = auth.access(request)
    csrf = auth.csrf_token(request)
    base = {
        "settings": get_settings(request),
        "version": __version__,
        "endpoints_json": json.dumps(ENDPOINTS),
        "tokens_enabled": access.tokens_enabled,
        "csrf": csrf,
        "session_count": get_store(request).queries.session_count(),
    }
    response = templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    response.set_cookie(auth.CSRF_COOKIE, csrf, httponly=True, samesite="strict", path="/ui")
    return response


def _not_found(request: Request, what: str) -> Response:
    return _page(request, "error.html", {"title": "Not found", "message": what}, status_code=404)


def _session(request: Request, scratchdir: str) -> Session | None:
    if not is_scratchdir_name(scratchdir):
        return None
    try:
        return get_store(request).sessions.by_scratchdir(scratchdir)
    except NotFound:
        return None


# ---- sessions ------------------------------------------------------------------------------------
TextQ = Annotated[str, Query(max_length=200)]


def _filter(q: TextQ = "", bucket: TextQ = "", state: TextQ = "") -> SessionFilter:
    """The sessions a list asks for, from its query (`q`, `bucket`, `state`); an unknown state is none."""
    return SessionFilter(
        text=q.strip()[:200],
        bucket=bucket[:200] or None,
        state=state if state in list(SessionState) else None,
    )


Wanted = Annotated[SessionFilter, Depends(_filter)]


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def sessions_page(request: Request, _reader: auth.Reader, wanted: Wanted) -> Response:
    store = get_store(request)
    audit(request, "list", detail="sessions page")  # not its polled rows: one entry per page view
    return _page(
        request,
        "sessions.html",
        {
            "title": "Sessions",
            "nav": "sessions",
            "table": views.session_table(store, wanted),
            "wanted": wanted,
            "buckets": views.bucket_names(store),
            "states": tuple(SessionState),
        },
    )


@router.get("/ui/sessions/rows", response_class=HTMLResponse, include_in_schema=False)
def session_rows(request: Request, _reader: auth.Reader, wanted: Wanted) -> Response:
    """The table body alone, for the page's poll. 304 while nothing changed."""
    store = get_store(request)
    etag = f'"{views.table_version(store)}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    table = views.session_table(store, wanted)
    response = templates.TemplateResponse(request, "_session_rows.html", {"table": table})
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Matching"] = str(table.matching)
    response.headers["X-Total"] = str(table.total)
    return response


@router.get("/ui/sessions/{scratchdir}", response_class=HTMLResponse, include_in_schema=False)
def session_page(request: Request, _reader: auth.Reader, scratchdir: str) -> Response:
    session = _session(request, scratchdir)
    if session is None:
        return _not_found(request, f"There is no session {scratchdir}.")
    store = get_store(request)
    layout = store.layout
    audit(request, "view", session, "session page")
    return _page(
        request,
        "session.html",
        {
            "title": session.scratchdir,
            "nav": "sessions",
            "row": views.session_row(session),
            "study": store.studies.summaries([session.id]).get(session.id, {}),
            "series": views.series_rows(store.studies.series(session.id)),
            "s": session,
            "history": [
                {"at": views.local_time(r["at"]), "state": r["state"], "detail": r["detail"]}
                for r in store.sessions.history(session.id)
            ],
            "proc_json": views.read_proc_json(layout.proc_path(scratchdir)),
            "input_files": views.list_files(layout.input_dir(scratchdir)),
            "output_files": views.list_files(layout.output_dir(scratchdir)),
            "outputs": Previews(store).outputs(scratchdir),
            "deliveries": views.deliveries(store, session.id),
            "slurm": views.slurm_job(store, session.id),
            "sealed": views.local_time(session.sealed_at),
            "started": views.local_time(session.started_at),
            "ended": views.local_time(session.ended_at),
        },
    )


@router.get("/ui/sessions/{scratchdir}/log", include_in_schema=False)
def session_log(
    request: Request,
    _reader: auth.Reader,
    scratchdir: str,
    offset: Annotated[int, Query(ge=0)] = 0,
    tail: Annotated[bool, Query()] = False,
) -> Response:
    """The log from `offset` on and the session's state, for the live view (shown with textContent)."""
    session = _session(request, scratchdir)
    if session is None:
        return JSONResponse({"error": "not_found", "detail": f"no session {scratchdir}"}, status_code=404)
    path = get_store(request).layout.log_path(scratchdir)
    if tail or offset == 0:  # the view's first read (not its polls): one entry per view
        audit(request, "download-file", session, "processing.log (live view)")
    if tail:  # the first read of a long log: only its end (the whole file is the "raw" link)
        offset = views.tail_offset(path)
    chunk = views.read_log(path, offset)
    return JSONResponse(
        {
            "text": chunk.text,
            "start": offset,
            "offset": chunk.offset,
            "size": chunk.size,
            "state": session.state,
            "routing": session.routing,
        },
        headers={"Cache-Control": "no-store"},
    )


# ---- buckets, routing, system --------------------------------------------------------------------
@router.get("/ui/buckets", response_class=HTMLResponse, include_in_schema=False)
def buckets_page(request: Request, _reader: auth.Reader) -> Response:
    store = get_store(request)
    settings = get_settings(request)
    host = request.url.hostname or settings.host
    return _page(
        request,
        "buckets.html",
        {
            "title": "Buckets",
            "nav": "buckets",
            "catalog": store.catalog(),
            "loads": views.bucket_loads(store),
            "no_load": views.NO_LOAD,
            "host": host,
        },
    )


@router.get("/ui/routing", response_class=HTMLResponse, include_in_schema=False)
def routing_page(request: Request, _reader: auth.Reader) -> Response:
    context = routing_view.page(get_settings(request))
    return _page(request, "routing.html", {"title": "Routing", "nav": "routing", **context})


@router.get("/ui/notifications", response_class=HTMLResponse, include_in_schema=False)
def notifications_page(request: Request, _reader: auth.Reader) -> Response:
    context = notifications_view.page(get_settings(request), get_store(request))
    return _page(request, "notifications.html", {"title": "Notifications", "nav": "notifications", **context})


@router.get("/ui/retrievals", response_class=HTMLResponse, include_in_schema=False)
def retrievals_page(request: Request, _reader: auth.Reader) -> Response:
    context = retrievals_view.page(get_settings(request), get_store(request))
    return _page(request, "retrievals.html", {"title": "Retrievals", "nav": "retrievals", **context})


@router.get("/ui/retrievals/table", response_class=HTMLResponse, include_in_schema=False)
def retrievals_table(request: Request, _reader: auth.Reader) -> Response:
    rows = retrievals_view.latest(get_store(request))
    response = templates.TemplateResponse(request, "_retrieval_rows.html", {"retrievals": rows})
    response.headers.update(SECURITY_HEADERS)
    return response


@router.get("/ui/system", response_class=HTMLResponse, include_in_schema=False)
def system_page(request: Request, _reader: auth.Reader) -> Response:
    store = get_store(request)
    settings = get_settings(request)
    per_day = views.sessions_per_day(store)
    times = views.processing_times(store)
    day_chart = charts.bar_chart(
        [float(n) for _, n in per_day],
        [f"{day.isoformat()}: {n} session(s)" for day, n in per_day],
        {i: day.strftime("%b %d") for i, (day, _) in enumerate(per_day) if (len(per_day) - 1 - i) % 7 == 0},
    )
    time_chart = charts.duration_chart(
        [seconds for _, seconds in times],
        [f"{name}: {views.human_seconds(seconds)}" for name, seconds in times],
    )
    return _page(
        request,
        "system.html",
        {
            "title": "System",
            "nav": "system",
            "counts": views.state_counts(store),
            "disk": views.disk(settings.data),
            "sweep": housekeeping.last_sweep(store),
            "day_chart": day_chart,
            "time_chart": time_chart,
            "time_count": len(times),
        },
    )


@router.get("/ui/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(
    request: Request,
    reader: auth.Reader,
    session: TextQ = "",
    action: TextQ = "",
    page: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    """The audit log, newest first, 100 a page (the admin's: with tokens, an admin login)."""
    if not housekeeping.may_audit(request, reader):
        return _page(
            request,
            "error.html",
            {"title": "Audit", "message": "The audit log needs an admin token: log in with one."},
            status_code=403,
        )
    context = housekeeping.audit_context(get_store(request), session, action, page)
    return _page(request, "audit.html", {"title": "Audit", "nav": "audit", **context})


# ---- login (only when the box has tokens) ---------------------------------------------------------
@router.get("/ui/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: TextQ = "/") -> Response:
    csrf = auth.csrf_token(request)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {
            "title": "Token",
            "next": _safe_next(next),
            "csrf": csrf,
            "error": "",
            "settings": get_settings(request),
        },
    )
    response.headers.update(SECURITY_HEADERS)
    response.set_cookie(auth.CSRF_COOKIE, csrf, httponly=True, samesite="strict", path="/ui")
    return response


@router.post("/ui/login", include_in_schema=False)
def login(
    request: Request,
    token: Annotated[str, Form(max_length=512)],
    csrf: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=200)] = "/",
) -> Response:
    if not auth.csrf_ok(request, csrf):
        return JSONResponse({"error": "forbidden", "detail": "cross-site form refused"}, status_code=403)
    if not auth.access(request).valid(token):
        refused = templates.TemplateResponse(
            request,
            "login.html",
            {
                "title": "Token",
                "next": _safe_next(next),
                "csrf": csrf,
                "error": "That token is not valid.",
                "settings": get_settings(request),
            },
            status_code=401,
        )
        refused.headers.update(SECURITY_HEADERS)
        return refused
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(auth.SESSION_COOKIE, token, httponly=True, samesite="strict", path="/")
    return response


@router.post("/ui/logout", include_in_schema=False)
def logout(request: Request, csrf: Annotated[str, Form(max_length=100)]) -> Response:
    if not auth.csrf_ok(request, csrf):
        return JSONResponse({"error": "forbidden", "detail": "cross-site form refused"}, status_code=403)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


def _safe_next(target: str) -> str:
    """Only a path on this box: never an open redirect."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# ---- static assets (shipped in the package; no CDN) -----------------------------------------------
@router.get("/ui/static/{name}", include_in_schema=False)
def static(request: Request, name: str) -> Response:
    return assets.asset_response(name, request.headers.get("if-none-match"))
