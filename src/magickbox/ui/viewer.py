"""The viewer page of a series and the pictures the pages show (thumbnails, viewer images), for
the series of INPUT (`/ui/sessions/{s}/series/...`) and of OUTPUT (`.../output/series/...`),
and the three-plane pictures of OUTPUT's NIfTI files.

The pictures are served under /ui/ so that they are read with the page's login cookie (an <img>
cannot send the API's bearer token); they are the same renders as the API's, from
`preview.Previews`, which checks every id against the store.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from magickbox.errors import InvalidInput, NotFound
from magickbox.preview import Previews, Window
from magickbox.preview.service import INPUT, MAX_SIZE, MIN_SIZE, NIFTI_SIZE, OUTPUT, THUMBNAIL_SIZE, Area
from magickbox.ui import auth
from magickbox.ui.pages import _not_found, _page
from magickbox.web.deps import audit, get_store

router = APIRouter(include_in_schema=False)
SERIES = "/ui/sessions/{scratchdir}/series/{series_uid}"
OUTPUT_SERIES = "/ui/sessions/{scratchdir}/output/series/{series_uid}"
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


def _series_routes(prefix: str, area: Area) -> APIRouter:
    """The viewer and its pictures for the series of one area (INPUT or OUTPUT)."""
    series = APIRouter(prefix=prefix)

    @series.get("/thumbnail.png")
    def series_thumbnail(
        request: Request, _reader: auth.Reader, scratchdir: str, series_uid: str, size: SizeQ = THUMBNAIL_SIZE
    ) -> Response:
        return _png(_previews(request).thumbnail(scratchdir, series_uid, size, area))

    @series.get("/instances.json")
    def instances(request: Request, _reader: auth.Reader, scratchdir: str, series_uid: str) -> JSONResponse:
        items = _previews(request).instances(scratchdir, series_uid, area)
        return JSONResponse([{"SOPInstanceUID": i["SOPInstanceUID"], "tags": i["tags"]} for i in items])

    @series.get("/instances/{index}/image.png")
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
        previews = _previews(request)
        return _png(previews.image(scratchdir, series_uid, index, size=size, window=window, area=area))

    @series.get("/instances/{index}/file")
    def instance_file(
        request: Request, _reader: auth.Reader, scratchdir: str, series_uid: str, index: int
    ) -> Response:
        previews = _previews(request)
        path = previews.instance_path(scratchdir, series_uid, index, area)
        detail = f"{area} series {series_uid}: instance {index}"
        audit(request, "download-file", previews.session(scratchdir), detail, path.stat().st_size)
        return FileResponse(path, media_type="application/dicom", filename=f"{series_uid}-{index + 1}.dcm")

    @series.get("", response_class=HTMLResponse)
    def viewer_page(request: Request, _reader: auth.Reader, scratchdir: str, series_uid: str) -> Response:
        """The viewer: one instance at a time, paged by keys, wheel or buttons; windowed by preset or drag."""
        return _viewer(request, scratchdir, series_uid, prefix, area)

    return series


def _viewer(request: Request, scratchdir: str, series_uid: str, prefix: str, area: Area) -> Response:
    previews = _previews(request)
    try:
        items = previews.instances(scratchdir, series_uid, area)
        session = previews.session(scratchdir)
    except (NotFound, InvalidInput):  # InvalidInput: not a UID, never looked up
        return _not_found(request, f"There is no series {series_uid[:80]} in session {scratchdir}.")
    listed = (
        get_store(request).studies.series(session.id) if area == INPUT else previews.output_series(scratchdir)
    )
    series = next((s for s in listed if s["SeriesInstanceUID"] == series_uid), None)
    if series is None:  # removed between the two reads
        return _not_found(request, f"There is no series {series_uid} in session {scratchdir}.")
    audit(request, "view", session, f"{area} series {series_uid}: viewer page")
    context: dict[str, Any] = {
        "title": f"Series {series['SeriesNumber']} · {scratchdir}",
        "nav": "sessions",
        "s": session,
        "series": series,
        "output": area == OUTPUT,
        "count": len(items),
        "start": len(items) // 2,
        # Both are checked by now (a session's name, a UID); quoted all the same: one segment each.
        "base": prefix.format(scratchdir=quote(scratchdir, safe=""), series_uid=quote(series_uid, safe="")),
        "presets": PRESETS,
    }
    return _page(request, "viewer.html", context)


@router.get("/ui/sessions/{scratchdir}/output/nifti/{name:path}/preview.png")
def nifti_preview(
    request: Request, _reader: auth.Reader, scratchdir: str, name: str, size: SizeQ = NIFTI_SIZE
) -> Response:
    """The three-plane picture of a NIfTI file in OUTPUT, by the name OUTPUT's listing gives."""
    return _png(_previews(request).nifti_preview(scratchdir, name, size))


router.include_router(_series_routes(SERIES, INPUT))
router.include_router(_series_routes(OUTPUT_SERIES, OUTPUT))
