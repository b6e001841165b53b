"""The two requests the page needs that no other part of the box answers yet.

- `POST /api/v1/buckets/{name}/enable|disable`: the page's bucket switch. Same token rules as the
  rest of /api/v1 (an `admin` token once tokens exist), sent by the page as a Bearer header.
- `POST /ui/routing/check`: runs the routing stage's own validator on the editor's text and
  returns its reasons; nothing is written (saving is `PUT /api/v1/routing`).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from magickbox.api.deps import require_admin
from magickbox.api.errors import ApiError
from magickbox.route.rules import RoutingInvalid, parse_text
from magickbox.store import Store
from magickbox.store.layout import write_json_atomic
from magickbox.ui import auth

router = APIRouter()
MAX_ROUTING_BYTES = 1 << 20


def set_enabled(store: Store, name: str, enabled: bool) -> None:
    """Flip `enabled` in the bucket's info.json (atomically), keeping every other key as written."""
    catalog = store.catalog()
    bucket = catalog.by_name(name)
    if bucket is None:
        if any(b.name == name for b in catalog.invalid):
            raise ApiError(409, "bucket is invalid", f"fix streams/{name}/info.json first")
        raise ApiError(404, "no such bucket", f"no bucket folder {name!r}")
    raw = json.loads((bucket.folder / "info.json").read_text(encoding="utf-8"))
    raw["enabled"] = 1 if enabled else 0  # the original's number form
    write_json_atomic(bucket.folder / "info.json", raw)


@router.post("/api/v1/buckets/{name}/enable", tags=["api v1"], dependencies=[Depends(require_admin)])
def enable_bucket(request: Request, name: str) -> dict[str, object]:
    """Offer the bucket again: sessions sent to its AE title are accepted and run."""
    set_enabled(request.app.state.store, name, True)
    return {"bucket": name, "enabled": True}


@router.post("/api/v1/buckets/{name}/disable", tags=["api v1"], dependencies=[Depends(require_admin)])
def disable_bucket(request: Request, name: str) -> dict[str, object]:
    """Stop offering the bucket: new sessions for it are refused; queued ones fail with a reason."""
    set_enabled(request.app.state.store, name, False)
    return {"bucket": name, "enabled": False}


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
