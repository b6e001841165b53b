"""The one request the page needs that no other part of the box answers.

`POST /ui/routing/check` runs the routing stage's own validator on the editor's text and returns
its reasons; nothing is written (saving is `PUT /api/v1/routing`). The page's bucket switch calls
`POST /api/v1/buckets/{name}/enable|disable` (api/v1.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from magickbox.models.routing import RoutingInvalid, parse_text
from magickbox.ui import auth

router = APIRouter()
MAX_ROUTING_BYTES = 1 << 20


@router.post("/ui/routing/check", include_in_schema=False)
async def check_routing(request: Request) -> JSONResponse:
    if not auth.access(request).can_read(request):
        return JSONResponse({"error": "unauthorized", "detail": "log in first"}, status_code=401)
    text = (await request.body())[:MAX_ROUTING_BYTES].decode("utf-8", errors="replace")
    try:
        _document, table = parse_text(text)
    except RoutingInvalid as exc:
        return JSONResponse({"error": "invalid routing table", "detail": exc.reasons}, status_code=422)
    return JSONResponse({"rules": len(table.routing)})
