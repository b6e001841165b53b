"""The original's endpoints, kept exactly where users script against them (see docs/http-api.md)."""

from __future__ import annotations

import json
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from magickbox.api.actions import delete_session, find_session
from magickbox.api.downloads import Area, download_log, download_zip
from magickbox.api.uploads import clean_spool, upload_session
from magickbox.api.views import ScratchRenderer
from magickbox.store import Store
from magickbox.web.deps import audit, get_store, require_read, require_write
from magickbox.web.errors import ApiError

log = logging.getLogger(__name__)
router = APIRouter(tags=["original endpoints"])
_scratch = ScratchRenderer()

StoreDep = Annotated[Store, Depends(get_store)]


def warm_up(store: Store) -> None:
    """At start, in the background: drop stale spooled uploads, render getScratch once (so the
    first request is fast too)."""
    with store.connection():  # this thread's connection
        try:
            removed = clean_spool(store.settings)
            if removed:
                log.info("removed %d upload(s) left half-received by an earlier run", removed)
            _scratch.render(store.queries, store.layout, store.studies)
        except Exception:  # only a cache; the first request will try again
            log.exception("could not prepare the session list")


def json_response(value: object) -> Response:
    return Response(json.dumps(value, separators=(",", ":")), media_type="application/json")


@router.get("/code/php/getScratch.php", dependencies=[Depends(require_read)])
def get_scratch(request: Request, store: StoreDep) -> Response:
    """Every session, newest first, in the original's shape (plus `status` and `routing`)."""
    body = _scratch.render(store.queries, store.layout, store.studies)
    audit(request, "list", detail="getScratch.php")
    return Response(body, media_type="application/json")


@router.get(
    "/code/php/getOutputZip.php",
    dependencies=[Depends(require_read)],
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
def get_output_zip(
    request: Request, store: StoreDep, folder: str | None = None, type: str | None = None
) -> StreamingResponse:
    """A zip of the session's OUTPUT/ (or INPUT/ with `type=input`), built while it is sent."""
    area: Area = "INPUT" if type == "input" else "OUTPUT"
    return download_zip(request, store, find_session(store, folder), area)


# What a browser says it loads (fetch metadata): a GET that deletes may be a top-level navigation
# (the address typed in) or a script's fetch, never an <img>, <script>, <iframe> or other sub-resource.
DELETE_FETCH_DESTS = frozenset({"document", "empty"})


def refuse_subresource(request: Request) -> None:
    """403 for a deleting GET that a browser makes as a sub-resource of a page (an <img src> with a
    hostile URL on any page, the box's own included). curl and scripts send no fetch metadata."""
    dest = request.headers.get("sec-fetch-dest")
    accept = request.headers.get("accept", "")
    if (dest is not None and dest.lower() not in DELETE_FETCH_DESTS) or (
        dest is None and accept.lower().startswith(("image/", "text/css"))  # browsers without fetch metadata
    ):
        raise ApiError(
            403, "forbidden", "deleteStudy.php deletes: it may not be loaded as an image, script or frame"
        )


@router.get(
    "/code/php/deleteStudy.php",
    dependencies=[Depends(refuse_subresource), Depends(require_write)],
    response_class=PlainTextResponse,
)
def delete_study(
    request: Request, store: StoreDep, scratchdir: str | None = None, SIUID: str | None = None
) -> PlainTextResponse:
    """Delete one session (`scratchdir`) or every session with that `pid` (`SIUID`)."""
    if scratchdir:
        session = find_session(store, scratchdir)
        delete_session(store, session)
        audit(request, "delete", session, "deleteStudy.php")
        return PlainTextResponse(f" will delete now {store.layout.root / session.scratchdir}")
    if SIUID:
        sessions = store.queries.sessions_with_pid(SIUID)
        if not sessions:
            raise ApiError(404, "no such session", f"no session has the pid {SIUID!r}")
        said = []
        for session in sessions:
            delete_session(store, session)
            audit(request, "delete", session, "deleteStudy.php (SIUID)")
            said.append(f"will delete {store.layout.root / session.scratchdir} now")
        return PlainTextResponse("".join(said))
    raise ApiError(404, "no such session", "give scratchdir=<scratchdir> or SIUID=<pid>")


@router.post("/code/php/processZip.php", dependencies=[Depends(require_write)])
async def process_zip(request: Request) -> Response:
    """`mb push`: one upload, one session. The original answered an empty body; so do we on success."""
    await upload_session(request, get_store(request), "processZip.php")
    return Response(status_code=200)


@router.get("/code/php/getInstalledBuckets.php", dependencies=[Depends(require_read)])
def get_installed_buckets(store: StoreDep) -> Response:
    """The enabled buckets' info.json objects as written, in folder-name order."""
    return json_response([b.raw for b in store.catalog().valid if b.info.enabled])


@router.get("/code/php/getStatus.php", dependencies=[Depends(require_read)])
def get_status(store: StoreDep) -> Response:
    """One row per bucket as gearadmin printed it: [name, queued+running, running, workers], strings."""
    stats = store.queries.bucket_stats()
    rows: list[list[str]] = []
    for bucket in store.catalog().valid:
        if not bucket.info.enabled:
            continue
        s = stats.get(bucket.name)
        queued, running = (s.queued, s.running) if s else (0, 0)
        rows.append([bucket.name, str(queued + running), str(running), str(bucket.info.concurrency)])
    return json_response(rows)


@router.get(
    "/scratch/{scratchdir}/processing.log",
    dependencies=[Depends(require_read)],
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def processing_log(request: Request, store: StoreDep, scratchdir: str) -> Response:
    """The session's processing.log (the only file of the data folder served under /scratch)."""
    return download_log(request, store, find_session(store, scratchdir))
