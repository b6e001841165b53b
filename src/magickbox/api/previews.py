"""Series pictures over HTTP for scripts: a thumbnail per series, the instances in viewing order,
one instance rendered at a size and window (by index or by SOPInstanceUID), and the instance's
file; for INPUT under `/sessions/{s}/series/...`, for the DICOM files a bucket wrote under
`/sessions/{s}/output/series/...`; and three-plane pictures of the NIfTI files in OUTPUT. Read scope.

Every id is checked against the store by `preview.Previews` before anything touches the disk.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response

from magickbox.api.downloads import file_response
from magickbox.errors import InvalidInput
from magickbox.preview import Previews, Window
from magickbox.preview.service import INPUT, MAX_SIZE, MIN_SIZE, NIFTI_SIZE, OUTPUT, THUMBNAIL_SIZE, Area
from magickbox.store import Store
from magickbox.web.deps import audit, get_store, require_read

SESSION = "/api/v1/sessions/{scratchdir}"
StoreDep = Annotated[Store, Depends(get_store)]
SizeQ = Annotated[int, Query(ge=MIN_SIZE, le=MAX_SIZE, description="longer side in pixels")]
WindowQ = Annotated[str | None, Query(max_length=64, description="centre,width; width > 0")]
PNG_HEADERS = {
    # Renders change only when the stored file does; a short private cache spares re-renders while
    # paging back and forth, and nosniff keeps browsers from reading them as anything but PNG.
    "Cache-Control": "private, max-age=300",
    "X-Content-Type-Options": "nosniff",
}
READ = [Depends(require_read)]
WINDOW_LIMIT = 1e6


def png(body: bytes) -> Response:
    """A PNG answer with the headers every rendered picture gets."""
    return Response(body, media_type="image/png", headers=PNG_HEADERS)


def window_of(wc: float | None, ww: float | None) -> Window | None:
    """A window from query parameters: both or neither (the file's own or an automatic one)."""
    if wc is None or ww is None:
        return None
    return Window(wc, ww)


def parse_window(text: str | None) -> Window | None:
    """`window=C,W` (centre, width > 0, both finite numbers) or None; anything else is a 400."""
    if text is None or not text.strip():
        return None
    parts = text.split(",")
    try:
        center, width = (float(p) for p in parts) if len(parts) == 2 else (math.nan, math.nan)
    except ValueError:
        center = width = math.nan
    if not (abs(center) <= WINDOW_LIMIT and 0 < width <= WINDOW_LIMIT):  # NaN fails both
        raise InvalidInput(f"window must be 'centre,width' with width > 0 (at most 1e6), not {text!r}")
    return Window(center, width)


def _series_router(prefix: str, area: Area) -> APIRouter:
    """The per-series routes of one area; the same handlers for INPUT and OUTPUT."""
    series = APIRouter(prefix=prefix, tags=["api v1"], dependencies=READ)

    @series.get("/thumbnail.png", response_class=Response)
    @series.get("/thumbnail", response_class=Response)
    def thumbnail(
        store: StoreDep, scratchdir: str, series_uid: str, size: SizeQ = THUMBNAIL_SIZE
    ) -> Response:
        """The series' middle instance as PNG (a labelled placeholder for data sets without pixels)."""
        return png(Previews(store).thumbnail(scratchdir, series_uid, size, area))

    @series.get("/instances")
    def instances(
        request: Request, store: StoreDep, scratchdir: str, series_uid: str
    ) -> list[dict[str, Any]]:
        """The instances in viewing order (InstanceNumber, then position): index, UID, main tags."""
        previews = Previews(store)
        items = previews.instances(scratchdir, series_uid, area)
        audit(request, "view", previews.session(scratchdir), f"{area} series {series_uid}: instances")
        return [
            {"index": n, "SOPInstanceUID": item["SOPInstanceUID"], "tags": item["tags"]}
            for n, item in enumerate(items)
        ]

    @series.get("/instances/{index}/image.png", response_class=Response)
    def image(
        request: Request,
        store: StoreDep,
        scratchdir: str,
        series_uid: str,
        index: int,
        size: SizeQ = 512,
        wc: Annotated[float | None, Query(ge=-1e6, le=1e6, description="window centre")] = None,
        ww: Annotated[float | None, Query(gt=0, le=1e6, description="window width")] = None,
    ) -> Response:
        """One instance at `size`, with window `wc`/`ww` or the file's own (else an automatic one)."""
        window = window_of(wc, ww)
        previews = Previews(store)
        picture = previews.image(scratchdir, series_uid, index, size=size, window=window, area=area)
        audit(request, "view", previews.session(scratchdir), f"{area} series {series_uid}: image {index}")
        return png(picture)

    @series.get("/instances/{sop_uid}/render", response_class=Response)
    def render(
        request: Request,
        store: StoreDep,
        scratchdir: str,
        series_uid: str,
        sop_uid: str,
        size: SizeQ = 512,
        window: WindowQ = None,
    ) -> Response:
        """The instance with this SOPInstanceUID at `size`, with `window=C,W` or the file's own."""
        wanted = parse_window(window)
        previews = Previews(store)
        index = previews.instance_index(scratchdir, series_uid, sop_uid, area)
        picture = previews.image(scratchdir, series_uid, index, size=size, window=wanted, area=area)
        audit(request, "view", previews.session(scratchdir), f"{area} series {series_uid}: render {sop_uid}")
        return png(picture)

    @series.get("/instances/{index}/file", response_class=FileResponse)
    def instance_file(
        request: Request, store: StoreDep, scratchdir: str, series_uid: str, index: int
    ) -> FileResponse:
        """The instance as stored (DICOM Part 10), as a download."""
        previews = Previews(store)
        path = previews.instance_path(scratchdir, series_uid, index, area)
        detail = f"{area} series {series_uid}: instance {index}"
        audit(request, "download-file", previews.session(scratchdir), detail, path.stat().st_size)
        return file_response(path, f"{series_uid}-{index + 1}.dcm", "application/dicom")

    return series


router = APIRouter()
router.include_router(_series_router(SESSION + "/series/{series_uid}", INPUT))
router.include_router(_series_router(SESSION + "/output/series/{series_uid}", OUTPUT))


@router.get(SESSION + "/output/series", dependencies=READ, tags=["api v1"])
def output_series(store: StoreDep, scratchdir: str) -> list[dict[str, Any]]:
    """The DICOM series a bucket wrote into OUTPUT: UID, number, description, modality, instances."""
    return Previews(store).output_series(scratchdir)


@router.get(SESSION + "/output/nifti", dependencies=READ, tags=["api v1"])
def nifti_files(store: StoreDep, scratchdir: str) -> list[str]:
    """The names (relative to OUTPUT) of the NIfTI files in OUTPUT, the names `preview.png` takes."""
    return list(Previews(store).nifti_files(scratchdir))


@router.get(
    SESSION + "/output/nifti/{name:path}/preview.png",
    dependencies=READ,
    tags=["api v1"],
    response_class=Response,
)
def nifti_preview(store: StoreDep, scratchdir: str, name: str, size: SizeQ = NIFTI_SIZE) -> Response:
    """Axial, coronal and sagittal middle slices side by side (a placeholder if it cannot be read)."""
    return png(Previews(store).nifti_preview(scratchdir, name, size))
