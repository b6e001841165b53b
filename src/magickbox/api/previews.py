"""Series pictures over HTTP for scripts: a thumbnail per series, the instances in viewing order,
one instance rendered at a size and window, and the instance's file. Read scope.

Every id is checked against the store by `preview.Previews` before anything touches the disk.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, Response

from magickbox.preview import Previews, Window
from magickbox.preview.service import MAX_SIZE, MIN_SIZE, THUMBNAIL_SIZE
from magickbox.store import Store
from magickbox.web.deps import get_store, require_read

router = APIRouter(prefix="/api/v1/sessions/{scratchdir}/series/{series_uid}", tags=["api v1"])
StoreDep = Annotated[Store, Depends(get_store)]
SizeQ = Annotated[int, Query(ge=MIN_SIZE, le=MAX_SIZE, description="longer side in pixels")]
PNG_HEADERS = {
    # Renders change only when the stored file does; a short private cache spares re-renders while
    # paging back and forth, and nosniff keeps browsers from reading them as anything but PNG.
    "Cache-Control": "private, max-age=300",
    "X-Content-Type-Options": "nosniff",
}
READ = [Depends(require_read)]


def png(body: bytes) -> Response:
    """A PNG answer with the headers every rendered picture gets."""
    return Response(body, media_type="image/png", headers=PNG_HEADERS)


def window_of(wc: float | None, ww: float | None) -> Window | None:
    """A window from query parameters: both or neither (the file's own or an automatic one)."""
    if wc is None or ww is None:
        return None
    return Window(wc, ww)


@router.get("/thumbnail.png", dependencies=READ, response_class=Response)
def thumbnail(store: StoreDep, scratchdir: str, series_uid: str, size: SizeQ = THUMBNAIL_SIZE) -> Response:
    """The series' middle instance as PNG (a labelled placeholder for data sets without pixels)."""
    return png(Previews(store).thumbnail(scratchdir, series_uid, size))


@router.get("/instances", dependencies=READ)
def instances(store: StoreDep, scratchdir: str, series_uid: str) -> list[dict[str, Any]]:
    """The instances in viewing order (InstanceNumber, then position): index, UID, main tags."""
    items = Previews(store).instances(scratchdir, series_uid)
    return [
        {"index": n, "SOPInstanceUID": item["SOPInstanceUID"], "tags": item["tags"]}
        for n, item in enumerate(items)
    ]


@router.get("/instances/{index}/image.png", dependencies=READ, response_class=Response)
def image(
    store: StoreDep,
    scratchdir: str,
    series_uid: str,
    index: int,
    size: SizeQ = 512,
    wc: Annotated[float | None, Query(ge=-1e6, le=1e6, description="window centre")] = None,
    ww: Annotated[float | None, Query(gt=0, le=1e6, description="window width")] = None,
) -> Response:
    """One instance at `size`, with window `wc`/`ww` or the file's own (else an automatic one)."""
    return png(Previews(store).image(scratchdir, series_uid, index, size=size, window=window_of(wc, ww)))


@router.get("/instances/{index}/file", dependencies=READ, response_class=FileResponse)
def instance_file(store: StoreDep, scratchdir: str, series_uid: str, index: int) -> FileResponse:
    """The instance as stored (DICOM Part 10), as a download."""
    path = Previews(store).instance_path(scratchdir, series_uid, index)
    return FileResponse(
        path, media_type="application/dicom", filename=f"{series_uid}-{index + 1}.dcm",
        headers={"X-Content-Type-Options": "nosniff"},
    )  # fmt: skip
