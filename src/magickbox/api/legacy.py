"""The original's endpoints, kept exactly where users script against them (see docs/http-api.md)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from magickbox.api.actions import delete_session, find_session
from magickbox.api.uploads import clean_spool, create_session, receive_form
from magickbox.api.views import ScratchRenderer
from magickbox.store import Store
from magickbox.web.deps import audit, get_store, require_read, require_write
from magickbox.web.errors import ApiError
from magickbox.zipstream import session_files, stream_folder

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


SMALL_LOG = 8 << 20


def log_response(path: Path, offset: int = 0) -> Response:
    """A snapshot of a log that may still grow: exactly the bytes present when it was opened.

    (A FileResponse would announce the size at stat time and then send whatever is there at
    read time, which breaks the response when a running bucket appends in between.)
    """
    try:
        handle = path.open("rb")
    except OSError:
        raise ApiError(404, "no log yet", "the session has not started processing") from None
    size = os.fstat(handle.fileno()).st_size
    offset = min(offset, size)  # past the end: nothing (a seek to 2**44 fails with EINVAL)
    media = "text/plain; charset=utf-8"
    if size - offset <= SMALL_LOG:
        with handle:
            handle.seek(offset)
            return Response(handle.read(max(0, size - offset)), media_type=media)

    def chunks() -> Iterator[bytes]:
        with handle:
            handle.seek(offset)
            left = size - offset
            while left > 0 and (block := handle.read(min(left, 1 << 20))):
                left -= len(block)
                yield block

    return StreamingResponse(chunks(), media_type=media)


def json_response(value: object) -> Response:
    return Response(json.dumps(value, separators=(",", ":")), media_type="application/json")


@router.get("/code/php/getScratch.php", dependencies=[Depends(require_read)])
def get_scratch(request: Request, store: StoreDep) -> Response:
    """Every session, newest first, in the original's shape (plus `status` and `routing`)."""
    body = _scratch.render(store.queries, store.layout, store.studies)
    audit(request, "list", detail="getScratch.php")
    return Response(body, media_type="application/json")


def zip_response(store: Store, scratchdir: str | None, area: str) -> StreamingResponse:
    session = find_session(store, scratchdir)
    folder = store.layout.session_dir(session.scratchdir) / area
    entries = (
        (path, f"{session.scratchdir}/{area}/{rel}")
        for path, rel in session_files(folder, store.layout.root.resolve())
    )
    return StreamingResponse(
        stream_folder(entries),
        media_type="application/zip",
        headers={"Content-Disposition": f"attachment; filename={session.scratchdir}.zip"},
    )


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
    area = "INPUT" if type == "input" else "OUTPUT"
    response = zip_response(store, folder, area)
    audit(request, "download-zip", find_session(store, folder), area)
    return response


@router.get(
    "/code/php/deleteStudy.php", dependencies=[Depends(require_write)], response_class=PlainTextResponse
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
    store = get_store(request)
    form = await receive_form(request, store.settings)
    try:
        client = request.client.host if request.client else ""
        created = await run_in_threadpool(create_session, store, form, client)
    finally:
        if form.file_path is not None:
            form.file_path.unlink(missing_ok=True)
    await run_in_threadpool(audit, request, "upload", created, "processZip.php", form.file_bytes)
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
    session = find_session(store, scratchdir)
    response = log_response(store.layout.log_path(session.scratchdir))
    audit(request, "download-file", session, "processing.log")
    return response
