"""HTTP endpoints of routing: the original's routing.json / saveRouting.php / getRoutingLog.php,
and /api/v1 for the table and the deliveries ("send again")."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from magickbox.config import Settings
from magickbox.errors import Conflict, NotFound
from magickbox.files import write_json_atomic
from magickbox.models.routing import RoutingInvalid, parse_text, validate
from magickbox.scratchdir import is_scratchdir_name
from magickbox.store import Delivery, DeliveryState, Store
from magickbox.web.deps import audit, get_store, json_body, require_admin, require_read, require_write

router = APIRouter()

PARSE_ERROR = "Error: could not parse this json file"
EMPTY_TABLE: dict[str, Any] = {"routing": []}
DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1, description="a delivery id")]  # SQLite's range


def _context(request: Request) -> tuple[Settings, Store]:
    return request.app.state.settings, request.app.state.store


def _error(status: int, error: str, detail: Any) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


# ---- the original's endpoints ------------------------------------------------------------------------


@router.get("/code/bin/routing.json", include_in_schema=False, dependencies=[Depends(require_read)])
def routing_json(request: Request) -> Response:
    """The routing table as text (the UI's editor loads it). No file: an empty table."""
    settings, _ = _context(request)
    try:
        body = settings.routing_path.read_bytes()
    except FileNotFoundError:
        body = (json.dumps(EMPTY_TABLE, indent=2) + "\n").encode()
    return Response(body, media_type="application/json")


@router.post("/code/php/saveRouting.php", include_in_schema=False, dependencies=[Depends(require_admin)])
def save_routing(request: Request, text: str = Form("")) -> PlainTextResponse:
    """Empty answer on success; the original's error text (plus our reasons) otherwise.

    The answer stays 200 as in the original: the UI alerts whatever non-empty text comes back.
    """
    settings, _ = _context(request)
    try:
        document, _table = parse_text(text)
    except RoutingInvalid as exc:
        return PlainTextResponse("\n".join([PARSE_ERROR, *exc.reasons]))
    write_json_atomic(settings.routing_path, document)
    get_store(request).routelog.write("routing.json replaced (saveRouting.php)")
    audit(request, "routing-change", detail="saveRouting.php")
    return PlainTextResponse("")


@router.get("/code/php/getRoutingLog.php", include_in_schema=False, dependencies=[Depends(require_read)])
def routing_log(request: Request) -> JSONResponse:
    return JSONResponse(get_store(request).routelog.render())


# ---- /api/v1 --------------------------------------------------------------------------------------------


@router.get("/api/v1/routing", tags=["routing"], dependencies=[Depends(require_read)])
def get_routing(request: Request) -> Response:
    """The routing table as stored (`{"routing": []}` when there is none)."""
    settings, _ = _context(request)
    try:
        text = settings.routing_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return JSONResponse(EMPTY_TABLE)
    try:
        return JSONResponse(json.loads(text))
    except ValueError as exc:
        return _error(409, "routing.json on disk is not valid JSON; PUT a new table", str(exc))


@router.put("/api/v1/routing", tags=["routing"], dependencies=[Depends(require_admin)])
async def put_routing(request: Request) -> Response:
    """Replace the table. Refused with 400 (not JSON) or 422 (not a valid table) and the reasons."""
    settings, _ = _context(request)
    document = await json_body(request)
    try:
        validate(document)
    except RoutingInvalid as exc:
        return _error(422, "invalid routing table", exc.reasons)
    write_json_atomic(settings.routing_path, document)
    get_store(request).routelog.write("routing.json replaced (/api/v1/routing)")
    audit(request, "routing-change", detail="/api/v1/routing")
    return JSONResponse(document)


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "state": delivery.state,
        "destination": {
            "IP": delivery.ip,
            "PORT": delivery.port,
            "AETitleSender": delivery.calling_aet,
            "AETitleTo": delivery.called_aet,
        },
        "folder": delivery.folder,
        "which": json.loads(delivery.which) if delivery.which else None,
        "rule": {"index": delivery.rule_index, "name": delivery.rule_name, "send_key": delivery.send_key},
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "next_try_at": delivery.next_try_at if delivery.state == DeliveryState.PENDING else None,
        "give_up_at": delivery.give_up_at,
        "last_try_at": delivery.last_try_at,
        "finished_at": delivery.finished_at,
        "planned_at": delivery.planned_at,
        "files": {
            "sent": delivery.files_sent,
            "failed": delivery.files_failed,
            "skipped": delivery.files_skipped,
        },
    }


@router.get(
    "/api/v1/sessions/{scratchdir}/deliveries", tags=["routing"], dependencies=[Depends(require_read)]
)
def session_deliveries(request: Request, scratchdir: str) -> Response:
    """The session's deliveries, oldest first, with its `routing` outcome."""
    _, store = _context(request)
    if not is_scratchdir_name(scratchdir):
        return _error(400, "not a session folder name", scratchdir)
    try:
        session = store.sessions.by_scratchdir(scratchdir)
    except NotFound as exc:
        return _error(404, "no such session", str(exc))
    deliveries = store.deliveries.for_session(session.id)
    return JSONResponse(
        {
            "scratchdir": scratchdir,
            "routing": session.routing,
            "route_checked_at": session.route_checked_at,
            "deliveries": [delivery_json(d) for d in deliveries],
        }
    )


@router.get("/api/v1/deliveries/{delivery_id}", tags=["routing"], dependencies=[Depends(require_read)])
def one_delivery(request: Request, delivery_id: DeliveryId) -> Response:
    """One delivery with the outcome of each file."""
    deliveries = get_store(request).deliveries
    try:
        delivery = deliveries.get(delivery_id)
    except NotFound as exc:
        return _error(404, "no such delivery", str(exc))
    files = [
        {"path": f.path, "outcome": f.outcome, "status": f.status, "detail": f.detail}
        for f in deliveries.files(delivery_id)
    ]
    return JSONResponse({**delivery_json(delivery), "file_results": files})


@router.post(
    "/api/v1/deliveries/{delivery_id}/retry",
    tags=["routing"],
    status_code=202,
    dependencies=[Depends(require_write)],
)
def retry_delivery(request: Request, delivery_id: DeliveryId) -> Response:
    """ "Send again": the delivery is due now (a finished one sends all its files again)."""
    try:
        delivery = get_store(request).deliveries.retry(delivery_id)
    except NotFound as exc:
        return _error(404, "no such delivery", str(exc))
    except Conflict as exc:
        return _error(409, "cannot send this delivery again", str(exc))
    audit(request, "delivery-retry", detail=f"delivery {delivery_id} of {delivery.folder}")
    return JSONResponse(delivery_json(delivery), status_code=202)
