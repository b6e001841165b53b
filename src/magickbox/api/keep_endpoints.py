"""`/api/v1`: keep and release sessions, remove a session's INPUT or OUTPUT, read the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from magickbox.api.actions import find_session
from magickbox.errors import Conflict
from magickbox.store import ACTIONS, AuditEntry, AuditFilter, Store
from magickbox.web.deps import audit, get_store, require_admin, require_write
from magickbox.web.errors import ApiError

router = APIRouter(prefix="/api/v1", tags=["retention"])
StoreDep = Annotated[Store, Depends(get_store)]
ActionName = Literal[ACTIONS]  # type: ignore[valid-type]


class KeptOut(BaseModel):
    scratchdir: str
    kept: bool


class RemovedOut(BaseModel):
    scratchdir: str
    area: str
    bytes_freed: int


class AuditOut(BaseModel):
    at: str
    actor: str
    via: str
    ip: str
    action: str
    scratchdir: str
    pid: str
    study_uid: str
    detail: str
    bytes: int | None


class AuditPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[AuditOut]


def _keep(request: Request, scratchdir: str, kept: bool) -> KeptOut:
    store = get_store(request)
    session = find_session(store, scratchdir)
    if store.retention.set_kept(session.id, kept):
        audit(request, "keep" if kept else "unkeep", session)
    return KeptOut(scratchdir=session.scratchdir, kept=kept)


@router.post("/sessions/{scratchdir}/keep", dependencies=[Depends(require_write)])
def keep(request: Request, scratchdir: str) -> KeptOut:
    """Keep the session: retention and disk watermarks never delete it (a user still can)."""
    return _keep(request, scratchdir, True)


@router.delete("/sessions/{scratchdir}/keep", dependencies=[Depends(require_write)])
def unkeep(request: Request, scratchdir: str) -> KeptOut:
    """Release a kept session: housekeeping may delete it again."""
    return _keep(request, scratchdir, False)


def _remove(request: Request, scratchdir: str, area: str) -> RemovedOut:
    store = get_store(request)
    session = find_session(store, scratchdir)
    try:
        freed = store.retention.remove_area(session.id, area)
    except Conflict as exc:
        raise ApiError(409, "not ended", str(exc)) from None
    who = "remove-input" if area == "INPUT" else "remove-output"
    audit(request, who, session, nbytes=freed)
    return RemovedOut(scratchdir=session.scratchdir, area=area, bytes_freed=freed)


@router.delete("/sessions/{scratchdir}/input", dependencies=[Depends(require_write)])
def remove_input(request: Request, scratchdir: str) -> RemovedOut:
    """Empty the session's INPUT/ (ended sessions); OUTPUT and the session's record stay."""
    return _remove(request, scratchdir, "INPUT")


@router.delete("/sessions/{scratchdir}/output", dependencies=[Depends(require_write)])
def remove_output(request: Request, scratchdir: str) -> RemovedOut:
    """Empty the session's OUTPUT/ (ended sessions); INPUT and the session's record stay."""
    return _remove(request, scratchdir, "OUTPUT")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _filter(session: str | None, action: str | None, since: datetime | None) -> AuditFilter:
    since_ts = None
    if since is not None:
        since_ts = (since if since.tzinfo else since.replace(tzinfo=UTC)).timestamp()
    return AuditFilter(session, action, since_ts)


def audit_out(e: AuditEntry) -> AuditOut:
    return AuditOut(**{**e.__dict__, "at": _iso(e.at)})


SinceQ = Annotated[datetime | None, Query(description="at or after (ISO 8601)")]


@router.get("/audit", dependencies=[Depends(require_admin)])
def audit_log(
    store: StoreDep,
    session: Annotated[str | None, Query(max_length=20, description="scratchdir")] = None,
    action: ActionName | None = None,
    since: SinceQ = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> AuditPage:
    """Audit entries, newest first (admin scope once tokens exist)."""
    total, rows = store.audit.entries(_filter(session, action, since), limit, offset)
    return AuditPage(total=total, limit=limit, offset=offset, items=[audit_out(e) for e in rows])


@router.get(
    "/audit.jsonl",
    dependencies=[Depends(require_admin)],
    response_class=StreamingResponse,
    responses={200: {"content": {"application/jsonl": {}}}},
)
def audit_export(
    store: StoreDep,
    session: Annotated[str | None, Query(max_length=20)] = None,
    action: ActionName | None = None,
    since: SinceQ = None,
) -> StreamingResponse:
    """Every matching entry, oldest first, as JSON lines (`at` in epoch seconds)."""
    return StreamingResponse(
        store.audit.export(_filter(session, action, since)), media_type="application/jsonl"
    )
