"""The page's own static files (CSS, scripts, icon), shipped in the package: no CDN.

Each answer carries an ETag (a hash of the file) and `Cache-Control: no-cache`: the browser
keeps its copy and asks each time whether it is still current, and a revalidation
(`If-None-Match`) is answered 304 without the body. So an upgraded box is seen at once, and an
unchanged one costs a few header bytes per page load.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from fastapi.responses import Response

__all__ = ["STATIC_FILES", "asset_response"]

STATIC_FILES = {
    "app.css": "text/css", "app.js": "text/javascript", "viewer.js": "text/javascript",
    "retrievals.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
}  # fmt: skip
CACHE_CONTROL = "no-cache"  # keep, but revalidate: the ETag makes that a 304


def asset_response(name: str, if_none_match: str | None) -> Response:
    """The file `name` of ui/static (404 for any other name), or 304 when the browser's copy
    (`If-None-Match`) is current."""
    media = STATIC_FILES.get(name)
    if media is None:
        return Response(status_code=404)
    body = resources.files("magickbox.ui").joinpath("static", name).read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media, headers=headers)


def _matches(header: str, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*` or a list of (possibly weak) tags; weak comparison."""
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags
