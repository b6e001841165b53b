"""The viewer page of a series and the pictures the pages show (thumbnails, viewer images).

The pictures are served under /ui/ so that they are read with the page's login cookie (an <img>
cannot send the API's bearer token); they are the same renders as the API's, from
`preview.Previews`, which checks every id against the store.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from magickbox.errors import NotFound
from magickbox.preview import Previews, Window
from magickbox.preview.service import MAX_SIZE, MIN_SIZE, THUMBNAIL_SIZE
from magickbox.ui import auth
from magickbox.ui.pages import _not_found, _page
from magickbox.web.deps import get_store

router = APIRouter(include_in_schema=False)
SERIES = "/ui/sessions/{scratchdir}/series/{series_uid}"
SizeQ = Annotated[int, Query(ge=MIN_SIZE, le=MAX_SIZE)]
WindowQ = Annotated[float | None, Query(ge=-1e6, le=1e6)]
PNG_HEADERS = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"}
# Presets (width, centre) in Hounsfield units, as radiologists commonly set them.
PRESETS = (("Soft tissue", 400, 40), ("Lung", 1500, -600), ("Bone", 2000, 400), ("Brain", 80, 40))


def _previews(request: Request) -> Previews:
    return Previews(get_store(request))


def _png(body: bytes) -> Response:
    return Response(body, media_type="image/png", headers=PNG_HEADERS)


@router.get("/ui/sessions/{scratchdir}/thumbnail.png")
def session_thumbnail(request: Request, _reader: auth.Reader, scratchdir: str, size: SizeQ = 64) -> Response:
    """The first series' thumbnail, for the sessions list."""
    return _png(_previews(request).first_thumbnail(scratchdir, size))


@router.get(SERIES + "/thumbnail.png")
def series_thumbnail(
    request: Request, _reader: auth.Reader, scratchdir: str, series_uid: str, size: SizeQ = THUMBNAIL_SIZE
) -> Response:
    return _png(_previews(request).thumbnail(scratchdir, series_uid, size))


@router.get(SERIES + "/instances.json")
def instances(request: Request, _reader: auth.Reader, scratchdir: str, series_uid: str) -> JSONResponse:
    items = _previews(request).instances(scratchdir, series_uid)
    return JSONResponse([{"SOPInstanceUID": i["SOPInstanceUID"], "tags": i["tags"]} for i in items])


@router.get(SERIES + "/instances/{index}/image.png")
def image(
    request: Request,
    _reader: auth.Reader,
    scratchdir: str,
    series_uid: str,
    index: int,
    size: SizeQ = 512,
    wc: WindowQ = None,
    ww: Annotated[float | None, Query(gt=0, le=1e6)] = None,
) -> Response:
    window = Window(wc, ww) if wc is not None and ww is not None else None
    return _png(_previews(request).image(scratchdir, series_uid, index, size=size, window=window))


@router.get(SERIES + "/instances/{index}/file")
def instance_file(
    request: Request, _reader: auth.Reader, scratchdir: str, series_uid: str, index: int
) -> Response:
    path = _previews(request).instance_path(scratchdir, series_uid, index)
    return FileResponse(path, media_type="application/dicom", filename=f"{series_uid}-{index + 1}.dcm")


@router.get(SERIES, response_class=HTMLResponse)
def viewer_page(request: Request, _reader: auth.Reader, scratchdir: str, series_uid: str) -> Response:
    """The viewer: one instance at a time, paged with keys, wheel or buttons; windows by preset or drag."""
    previews = _previews(request)
    try:
        items = previews.instances(scratchdir, series_uid)
        session = previews.session(scratchdir)
    except NotFound:
        return _not_found(request, f"There is no series {series_uid} in session {scratchdir}.")
    series = next(
        s for s in get_store(request).studies.series(session.id) if s["SeriesInstanceUID"] == series_uid
    )
    context: dict[str, Any] = {
        "title": f"Series {series['SeriesNumber']} · {scratchdir}",
        "nav": "sessions",
        "s": session,
        "series": series,
        "count": len(items),
        "start": len(items) // 2,
        "base": SERIES.format(scratchdir=scratchdir, series_uid=series_uid),
        "presets": PRESETS,
    }
    return _page(request, "viewer.html", context)
