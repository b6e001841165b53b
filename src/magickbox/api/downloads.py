"""Every download of a session's files, for `/api/v1`, the original's endpoints and the page.

Each function takes the `Session` the endpoint looked up once (with `find_session`), so a
download reads the store one time, and names it in the audit log. The shapes are contracts
users script against (docs/http-api.md): a zip's entries are `<scratchdir>/OUTPUT/...` (or
`INPUT/`), its `Content-Disposition` names `<scratchdir>.zip`; a log is the bytes present when
it was opened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from fastapi import Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from magickbox.store import Session, Store
from magickbox.web.deps import audit
from magickbox.web.errors import ApiError
from magickbox.zipstream import session_files, stream_folder

Area = Literal["INPUT", "OUTPUT"]
SMALL_LOG = 8 << 20  # a log up to this size is answered in one piece, with a Content-Length


def zip_response(store: Store, session: Session, area: Area) -> StreamingResponse:
    """A zip of the session's `area`, built while it is sent (entries `<scratchdir>/<area>/...`)."""
    folder = store.layout.session_dir(session.scratchdir) / area
    entries = (
        (path, f"{session.scratchdir}/{area}/{rel}")
        for path, rel in session_files(folder, store.layout.root.resolve())
    )
    return StreamingResponse(
        stream_folder(entries),
        media_type="application/zip",
        headers={"Content-Disposition": f"attachment; filename={session.scratchdir}.zip"},
    )


def download_zip(request: Request, store: Store, session: Session, area: Area) -> StreamingResponse:
    """`zip_response`, recorded in the audit log as `download-zip` of `area`."""
    response = zip_response(store, session, area)
    audit(request, "download-zip", session, area)
    return response


def log_response(path: Path, offset: int = 0) -> Response:
    """A snapshot of a log that may still grow: exactly the bytes present when it was opened.

    (A FileResponse would announce the size at stat time and then send whatever is there at
    read time, which breaks the response when a running bucket appends in between.)
    """
    try:
        handle = path.open("rb")
    except OSError:
        raise ApiError(404, "no log yet", "the session has not started processing") from None
    size = os.fstat(handle.fileno()).st_size
    offset = min(offset, size)  # past the end: nothing (a seek to 2**44 fails with EINVAL)
    media = "text/plain; charset=utf-8"
    if size - offset <= SMALL_LOG:
        with handle:
            handle.seek(offset)
            return Response(handle.read(max(0, size - offset)), media_type=media)

    def chunks() -> Iterator[bytes]:
        with handle:
            handle.seek(offset)
            left = size - offset
            while left > 0 and (block := handle.read(min(left, 1 << 20))):
                left -= len(block)
                yield block

    return StreamingResponse(chunks(), media_type=media)


def download_log(request: Request, store: Store, session: Session, offset: int = 0) -> Response:
    """The session's processing.log from `offset`, recorded in the audit log as `download-file`."""
    response = log_response(store.layout.log_path(session.scratchdir), offset)
    audit(request, "download-file", session, "processing.log")
    return response


def file_response(path: Path, filename: str, media_type: str) -> FileResponse:
    """One stored file as an attachment; `nosniff` so a browser never runs it as a page."""
    return FileResponse(
        path, media_type=media_type, filename=filename, headers={"X-Content-Type-Options": "nosniff"}
    )
