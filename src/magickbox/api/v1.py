"""`/api/v1`: the clean API (typed JSON, OpenAPI document at /openapi.json, docs at /docs)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from magickbox.api.actions import cancel_session, delete_session, find_session, rerun_session
from magickbox.api.downloads import Area, download_log, download_zip
from magickbox.api.studies import DEFAULT_STUDY_QUERY, StudyOut, StudyQuery
from magickbox.api.uploads import upload_session
from magickbox.api.views import processing_seconds
from magickbox.store import (
    SESSION_SETTLED,
    Bucket,
    BucketStats,
    InvalidBucket,
    Session,
    SessionFilter,
    SessionState,
    Store,
    set_enabled,
)
from magickbox.web.deps import audit, get_store, require_admin, require_read, require_write
from magickbox.web.errors import ApiError

router = APIRouter(prefix="/api/v1", tags=["api v1"])
StoreDep = Annotated[Store, Depends(get_store)]
MAX_FILES = 10_000

StateName = Literal["receiving", "queued", "running", "finished", "failed", "cancelled", "incomplete"]
assert set(StateName.__args__) == set(SessionState)  # type: ignore[attr-defined]


class ErrorOut(BaseModel):
    error: str
    detail: Any = ""


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
    409: {"model": ErrorOut},
}


class SessionOut(BaseModel):
    scratchdir: str
    pid: str
    status: str
    routing: str
    source: str
    bucket: str | None
    caller: str
    called: str
    caller_ip: str
    reason: str
    received_at: str
    sealed_at: str | None
    started_at: str | None
    ended_at: str | None
    processing_seconds: int | None
    instances: int
    bytes: int
    arguments: str
    description: str
    kept: bool = False  # housekeeping never deletes a kept session
    study: StudyOut | None = None  # the study index's attributes; None until the first instance


class SessionPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[SessionOut]


class FileOut(BaseModel):
    area: str
    path: str
    size: int


class EventOut(BaseModel):
    at: str
    state: str
    detail: str


class JobOut(BaseModel):
    id: int
    state: str
    attempts: int
    queued_at: str
    started_at: str | None
    ended_at: str | None
    exit_code: int | None
    reason: str
    cancel_requested: bool
    executor: str = "local"
    slurm_job_id: str | None = None  # set once sbatch returned (or the job was found by name)
    slurm_state: str = ""  # Slurm's last state: PENDING, RUNNING, COMPLETED, FAILED, ...
    slurm_reason: str = ""  # Slurm's pending reason (Resources, Priority, ...)


class SessionDetail(SessionOut):
    files: list[FileOut]
    files_truncated: bool
    history: list[EventOut]
    proc: Any
    job: JobOut | None


class ActionOut(BaseModel):
    scratchdir: str
    action: str
    status: str


class BucketSwitchOut(BaseModel):
    bucket: str
    enabled: bool


class BucketOut(BaseModel):
    name: str
    valid: bool
    reason: str
    AETitle: str | None
    description: str
    version: str
    enabled: bool
    concurrency: int
    queued: int
    running: int
    done: int
    failed: int
    avg_run_seconds: float | None


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def session_out(s: Session, study: dict[str, str] | None = None) -> SessionOut:
    return SessionOut(
        study=None if study is None else StudyOut(**study),
        scratchdir=s.scratchdir,
        pid=s.pid,
        status=s.state,
        routing=s.routing,
        source=s.source,
        bucket=s.bucket,
        caller=s.calling_aet,
        called=s.called_aet,
        caller_ip=s.caller_ip,
        reason=s.reason,
        received_at=iso(s.received_at) or "",
        sealed_at=iso(s.sealed_at),
        started_at=iso(s.started_at),
        ended_at=iso(s.ended_at),
        processing_seconds=processing_seconds(s),
        instances=s.instances,
        bytes=s.bytes,
        arguments=s.arguments,
        description=s.description,
        kept=bool(s.kept),
    )


def _files(store: Store, s: Session) -> tuple[list[FileOut], bool]:
    files: list[FileOut] = []
    base = store.layout.session_dir(s.scratchdir)
    for area in ("INPUT", "OUTPUT"):
        if (base / area).is_symlink():  # a bucket replaced it with a link: nothing of the session
            continue
        for current, dirs, names in os.walk(base / area):
            dirs.sort()
            for name in sorted(names):
                if len(files) >= MAX_FILES:
                    return files, True
                path = os.path.join(current, name)
                try:
                    info = os.lstat(path)
                except OSError:
                    continue
                if not stat.S_ISREG(info.st_mode):  # a link (maybe out of the session), a socket
                    continue
                size = info.st_size
                files.append(FileOut(area=area, path=os.path.relpath(path, base / area), size=size))
    return files, False


def _proc(store: Store, s: Session) -> Any:
    try:
        return json.loads(store.layout.proc_path(s.scratchdir).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _job(store: Store, s: Session) -> JobOut | None:
    row = store.queries.latest_job(s.id)
    if row is None:
        return None
    return JobOut(
        id=row["id"],
        state=row["state"],
        attempts=row["attempts"],
        queued_at=iso(row["queued_at"]) or "",
        started_at=iso(row["started_at"]),
        ended_at=iso(row["ended_at"]),
        exit_code=row["exit_code"],
        reason=row["reason"],
        cancel_requested=bool(row["cancel_requested"]),
        executor=row["executor"],
        slurm_job_id=row["slurm_job_id"],
        slurm_state=row["slurm_state"],
        slurm_reason=row["slurm_reason"],
    )


@router.get("/sessions", dependencies=[Depends(require_read)], responses=ERRORS)
def sessions(
    request: Request,
    store: StoreDep,
    caller: str | None = None,
    bucket: str | None = None,
    status: StateName | None = None,
    since: Annotated[datetime | None, Query(description="received at or after (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    study: Annotated[StudyQuery, Depends()] = DEFAULT_STUDY_QUERY,
) -> SessionPage:
    """Sessions, newest first, filtered by calling AE title, bucket, state, receipt time, and the
    study index: `q=` (any part of PatientID, PatientName, AccessionNumber, StudyDescription,
    Study Instance UID, AE titles, scratchdir, pid; case-insensitive), `patient_id=`,
    `accession=`, `modality=`, `study_date_from=`, `study_date_to=` (YYYYMMDD). Combinable."""
    since_ts = None
    if since is not None:
        since_ts = (since if since.tzinfo else since.replace(tzinfo=UTC)).timestamp()
    wanted = SessionFilter(caller=caller, bucket=bucket, state=status, since=since_ts, study=study.filter())
    found = store.queries.list_sessions(wanted, limit, offset)
    studies = store.studies.summaries(s.id for s in found.sessions)
    items = [session_out(s, studies.get(s.id)) for s in found.sessions]
    audit(request, "list", detail=f"/api/v1/sessions: {len(items)} of {found.total}")
    return SessionPage(total=found.total, limit=limit, offset=offset, items=items)


@router.get("/sessions/{scratchdir}", dependencies=[Depends(require_read)], responses=ERRORS)
def session(request: Request, store: StoreDep, scratchdir: str) -> SessionDetail:
    """One session: its files, times, state history, job and proc.json."""
    s = find_session(store, scratchdir)
    audit(request, "view", s, "/api/v1/sessions/{scratchdir}")
    files, truncated = _files(store, s)
    history = [
        EventOut(at=iso(r["at"]) or "", state=r["state"], detail=r["detail"])
        for r in store.sessions.history(s.id)
    ]
    return SessionDetail(
        **session_out(s, store.studies.summaries([s.id]).get(s.id)).model_dump(),
        files=files,
        files_truncated=truncated,
        history=history,
        proc=_proc(store, s),
        job=_job(store, s),
    )


async def _follow(store: Store, session: Session, offset: int) -> AsyncIterator[bytes]:
    """The log from `offset`, then what is appended, until the session has settled (or is deleted)."""
    path = store.layout.log_path(session.scratchdir)
    position = offset
    while True:
        try:
            current = await run_in_threadpool(store.sessions.get, session.id)
        except Exception:
            return  # deleted while followed
        done = current.state in SESSION_SETTLED
        chunk = await run_in_threadpool(_read_from, path, position)
        if chunk:
            position += len(chunk)
            yield chunk
        elif done:
            return
        else:
            await asyncio.sleep(0.5)


async def _as_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Server-sent events: one `data:` line per log line (an EventSource gets each line as a
    message), then `event: end` when the session has ended."""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        if lines:
            yield b"".join(b"data: " + line.rstrip(b"\r") + b"\n\n" for line in lines)
    if pending:
        yield b"data: " + pending + b"\n\n"
    yield b"event: end\ndata: \n\n"


def _read_from(path: os.PathLike[str], position: int, limit: int = 1 << 20) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(position)
            return handle.read(limit)
    except OSError:
        return b""


@router.get(
    "/sessions/{scratchdir}/log",
    dependencies=[Depends(require_read)],
    responses={**ERRORS, 200: {"content": {"text/plain": {}}}},
    response_class=Response,
)
def session_log(
    request: Request,
    store: StoreDep,
    scratchdir: str,
    follow: bool = False,
    offset: Annotated[int, Query(ge=0, le=1 << 50)] = 0,
) -> Response:
    """processing.log; with `follow=true` the answer streams (chunked) until the session has ended,
    as server-sent events when the request accepts `text/event-stream`."""
    s = find_session(store, scratchdir)
    if follow:  # a plain read is audited by download_log
        audit(request, "download-file", s, f"processing.log from {offset} (follow)")
        if "text/event-stream" in request.headers.get("accept", ""):
            return StreamingResponse(_as_events(_follow(store, s, offset)), media_type="text/event-stream")
        return StreamingResponse(_follow(store, s, offset), media_type="text/plain; charset=utf-8")
    return download_log(request, store, s, offset)


ZIP_RESPONSES: dict[int | str, dict[str, Any]] = {**ERRORS, 200: {"content": {"application/zip": {}}}}


def _add_zip_endpoint(area: Area) -> None:
    """GET /sessions/{scratchdir}/<area>.zip, named `<area>_zip` (the page links to it by that name)."""

    def endpoint(request: Request, store: StoreDep, scratchdir: str) -> StreamingResponse:
        return download_zip(request, store, find_session(store, scratchdir), area)

    router.add_api_route(
        f"/sessions/{{scratchdir}}/{area.lower()}.zip",
        endpoint,
        methods=["GET"],
        name=f"{area.lower()}_zip",
        description=(
            f"A zip of the session's {area}/ (entries `<scratchdir>/{area}/...`), built while it is sent."
        ),
        dependencies=[Depends(require_read)],
        responses=ZIP_RESPONSES,
        response_class=StreamingResponse,
    )


_add_zip_endpoint("OUTPUT")
_add_zip_endpoint("INPUT")


@router.delete("/sessions/{scratchdir}", dependencies=[Depends(require_write)], responses=ERRORS)
def delete(request: Request, store: StoreDep, scratchdir: str) -> ActionOut:
    """Delete the session (a queued or running job is cancelled first)."""
    s = find_session(store, scratchdir)
    delete_session(store, s)
    audit(request, "delete", s)
    return ActionOut(scratchdir=s.scratchdir, action="delete", status="deleted")


def _job_action(
    request: Request, scratchdir: str, action: str, act: Callable[[Store, Session], object]
) -> ActionOut:
    """Cancel or rerun: the answer carries the session's state after the action."""
    store = get_store(request)
    s = find_session(store, scratchdir)
    act(store, s)
    audit(request, action, s)
    return ActionOut(scratchdir=s.scratchdir, action=action, status=store.sessions.get(s.id).state)


@router.post(
    "/sessions/{scratchdir}/cancel", status_code=202, dependencies=[Depends(require_write)], responses=ERRORS
)
def cancel(request: Request, scratchdir: str) -> ActionOut:
    """Cancel the session's job: a queued one at once, a running one is stopped by its worker."""
    return _job_action(request, scratchdir, "cancel", cancel_session)


@router.post(
    "/sessions/{scratchdir}/rerun", status_code=202, dependencies=[Depends(require_write)], responses=ERRORS
)
def rerun(request: Request, scratchdir: str) -> ActionOut:
    """Queue the session's bucket again (finished, failed or cancelled sessions)."""
    return _job_action(request, scratchdir, "rerun", rerun_session)


@router.post(
    "/uploads",
    status_code=201,
    dependencies=[Depends(require_write)],
    responses={**ERRORS, 400: {"model": ErrorOut}, 413: {"model": ErrorOut}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["theFile", "aetitle"],
                        "properties": {
                            "theFile": {"type": "string", "format": "binary"},
                            "aetitle": {"type": "string"},
                            "sender": {"type": "string"},
                            "jobname": {"type": "string"},
                            "filename": {"type": "string"},
                            "description": {"type": "string"},
                            "arguments": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def upload(request: Request) -> SessionOut:
    """A zip for a bucket (the fields of processZip.php); answers the new, queued session."""
    return session_out(await upload_session(request, get_store(request), "/api/v1/uploads"))


def bucket_out(bucket: Bucket | InvalidBucket, stats: BucketStats | None) -> BucketOut:
    s = stats or BucketStats(bucket.name, 0, 0, 0, 0, None)
    if isinstance(bucket, InvalidBucket):
        aetitle, description, version, enabled, concurrency = None, "", "", False, 0
    else:
        info = bucket.info
        aetitle, description, version = info.AETitle, info.description, info.version
        enabled, concurrency = info.enabled, info.concurrency
    return BucketOut(
        name=bucket.name,
        valid=isinstance(bucket, Bucket),
        reason=bucket.reason if isinstance(bucket, InvalidBucket) else "",
        AETitle=aetitle,
        description=description,
        version=version,
        enabled=enabled,
        concurrency=concurrency,
        queued=s.queued,
        running=s.running,
        done=s.done,
        failed=s.failed,
        avg_run_seconds=s.avg_run_s,
    )


@router.get("/buckets", dependencies=[Depends(require_read)], responses=ERRORS)
def buckets(store: StoreDep) -> list[BucketOut]:
    """Every bucket folder, the invalid ones with the reason, with queue depth and mean run time."""
    stats = store.queries.bucket_stats()
    catalog = store.catalog()
    everything: list[Bucket | InvalidBucket] = [*catalog.valid, *catalog.invalid]
    return [bucket_out(b, stats.get(b.name)) for b in sorted(everything, key=lambda b: b.name)]


@router.get("/buckets/{name}", dependencies=[Depends(require_read)], responses=ERRORS)
def bucket(store: StoreDep, name: str) -> BucketOut:
    catalog = store.catalog()
    found: Bucket | InvalidBucket | None = catalog.by_name(name) or next(
        (b for b in catalog.invalid if b.name == name), None
    )
    if found is None:
        raise ApiError(404, "no such bucket", f"no bucket folder {name!r}")
    return bucket_out(found, store.queries.bucket_stats().get(name))


def _switch_bucket(store: Store, name: str, enabled: bool) -> BucketSwitchOut:
    catalog = store.catalog()
    if catalog.by_name(name) is None:
        if any(b.name == name for b in catalog.invalid):
            raise ApiError(409, "bucket is invalid", f"fix streams/{name}/info.json first")
        raise ApiError(404, "no such bucket", f"no bucket folder {name!r}")
    try:
        set_enabled(store.settings.streams_dir, name, enabled)
    except ValueError as exc:  # info.json broke after the catalog was read
        raise ApiError(409, "bucket is invalid", f"fix streams/{name}/info.json first") from exc
    return BucketSwitchOut(bucket=name, enabled=enabled)


@router.post("/buckets/{name}/enable", dependencies=[Depends(require_admin)], responses=ERRORS)
def enable_bucket(request: Request, store: StoreDep, name: str) -> BucketSwitchOut:
    """Offer the bucket again: sessions sent to its AE title are accepted and run."""
    answer = _switch_bucket(store, name, True)
    audit(request, "bucket-enable", detail=name)
    return answer


@router.post("/buckets/{name}/disable", dependencies=[Depends(require_admin)], responses=ERRORS)
def disable_bucket(request: Request, store: StoreDep, name: str) -> BucketSwitchOut:
    """Stop offering the bucket: new sessions for it are refused; queued ones fail with a reason."""
    answer = _switch_bucket(store, name, False)
    audit(request, "bucket-disable", detail=name)
    return answer
