"""The pictures of a session's series, by ids the store knows: nothing from a request names a path.

A scratchdir must be a session of the store, a SeriesInstanceUID one of its series in the study
index, an instance a position in that series' listing; anything else is `NotFound`.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from magickbox.errors import NotFound
from magickbox.preview.render import Window, placeholder_png, render_png
from magickbox.preview.series import Instance, cached_scan
from magickbox.store import Store
from magickbox.store.layout import is_scratchdir_name
from magickbox.store.sessions import Session
from magickbox.store.studies import PRIVATE_NAMES

PREVIEW_DIR = ".preview"
THUMBNAIL_SIZE = 128
MAX_SIZE = 2048
MIN_SIZE = 16


class Previews:
    """Thumbnails, instance listings and viewer images of the series in a session's INPUT."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def session(self, scratchdir: str) -> Session:
        if not is_scratchdir_name(scratchdir):
            raise NotFound(f"{scratchdir!r} is not a session of this box")
        return self.store.sessions.by_scratchdir(scratchdir)

    def instances(self, scratchdir: str, series_uid: str) -> list[Instance]:
        """The instances of a series in viewing order (InstanceNumber, position, file name)."""
        session = self.session(scratchdir)
        known = {str(s["SeriesInstanceUID"]) for s in self.store.studies.series(session.id)}
        if series_uid not in known:
            raise NotFound(f"session {scratchdir} has no series {series_uid!r}")
        cache = self._dir(scratchdir) / "series-INPUT.json"
        items = cached_scan(self.store.layout.input_dir(scratchdir), cache).get(series_uid, [])
        if not self.store.studies.keep_names:  # index_patient_names off: names are never shown
            for item in items:
                item["tags"] = {k: v for k, v in item["tags"].items() if k not in PRIVATE_NAMES}
        return items

    def instance_path(self, scratchdir: str, series_uid: str, number: int) -> Path:
        """The stored file of the `number`-th instance (0-based) of the series."""
        items = self.instances(scratchdir, series_uid)
        if not 0 <= number < len(items):
            raise NotFound(f"series {series_uid} has {len(items)} instance(s); there is no {number}")
        return self.store.layout.input_dir(scratchdir) / str(items[number]["file"])

    def thumbnail(self, scratchdir: str, series_uid: str, size: int = THUMBNAIL_SIZE) -> bytes:
        """The middle instance's picture (cached); a placeholder while no file of it is stored."""
        items = self.instances(scratchdir, series_uid)
        if not items:
            return placeholder_png("no files", size=_size(size))
        return self.image(scratchdir, series_uid, len(items) // 2, size=size)

    def first_thumbnail(self, scratchdir: str, size: int = THUMBNAIL_SIZE) -> bytes:
        """The thumbnail of the session's first series (by SeriesNumber), for lists of sessions."""
        series = self.store.studies.series(self.session(scratchdir).id)
        if not series:
            return placeholder_png("no series", size=_size(size))
        return self.thumbnail(scratchdir, str(series[0]["SeriesInstanceUID"]), size)

    def image(
        self, scratchdir: str, series_uid: str, number: int, *, size: int, window: Window | None = None
    ) -> bytes:
        """One instance's picture at `size` (clamped); renders with the file's own window are cached."""
        path = self.instance_path(scratchdir, series_uid, number)
        size = _size(size)
        if window is not None:
            return render_png(path, size=size, window=window)
        stat = path.stat()
        key = hashlib.sha256(
            f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0{series_uid}".encode()
        ).hexdigest()
        cached = self._dir(scratchdir) / f"{key[:32]}-{number}-{size}.png"
        try:
            return cached.read_bytes()
        except FileNotFoundError:
            pass
        body = render_png(path, size=size)
        _write_atomic(cached, body)
        return body

    def _dir(self, scratchdir: str) -> Path:
        folder = self.store.layout.session_dir(scratchdir) / PREVIEW_DIR
        try:
            folder.mkdir(exist_ok=True)
        except FileNotFoundError:  # deleted since the store named it: never recreate its folder
            raise NotFound(f"{scratchdir!r} is not a session of this box") from None
        return folder


def _size(size: int) -> int:
    return max(MIN_SIZE, min(MAX_SIZE, size))


def _write_atomic(path: Path, body: bytes) -> None:
    # Two requests may render the same picture at once: each writes its own file and renames it.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_bytes(body)
    os.replace(tmp, path)
