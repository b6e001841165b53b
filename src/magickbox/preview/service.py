"""The pictures of a session's series, by ids the store knows: nothing from a request names a path.

A scratchdir must be a session of the store; a SeriesInstanceUID one of its series: for INPUT
in the study index, for OUTPUT (which no index records) in the cached header scan of OUTPUT;
an instance a position or a SOPInstanceUID in that series' listing; a NIfTI name one of the
names the listing of OUTPUT gives. Anything else is `NotFound`. Ids are looked up, never joined
into paths.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from magickbox.dicom.bounded import DecodeLimits
from magickbox.dicom.uid import is_valid_uid
from magickbox.errors import InvalidInput, NotFound
from magickbox.preview.needs import PreviewStore
from magickbox.preview.nifti import is_nifti, render_nifti_png
from magickbox.preview.render import Window, placeholder_png, render_png
from magickbox.preview.series import Instance, cached_scan, files
from magickbox.scratchdir import is_scratchdir_name
from magickbox.store import PRIVATE_NAMES, Session

PREVIEW_DIR = ".preview"
THUMBNAIL_SIZE = 128
MAX_SIZE = 2048
MIN_SIZE = 16
NIFTI_SIZE = 384

Area = Literal["input", "output"]
INPUT: Area = "input"
OUTPUT: Area = "output"


class Previews:
    """Thumbnails, instance listings and viewer images of a session's series (INPUT or OUTPUT),
    and three-plane pictures of the NIfTI files in its OUTPUT."""

    def __init__(self, store: PreviewStore) -> None:
        self.store = store
        settings = store.settings
        self.limits = DecodeLimits(
            max_pixels=settings.preview_max_pixels,
            max_frames=settings.preview_max_frames,
            max_bytes=settings.preview_max_bytes,
        )

    def session(self, scratchdir: str) -> Session:
        if not is_scratchdir_name(scratchdir):
            raise NotFound(f"{scratchdir!r} is not a session of this box")
        return self.store.sessions.by_scratchdir(scratchdir)

    def instances(self, scratchdir: str, series_uid: str, area: Area = INPUT) -> list[Instance]:
        """The instances of a series in viewing order (InstanceNumber, position, file name).

        A series UID that is not a UID (digits and dots, at most 64) is InvalidInput: a header
        may carry anything, and such a value is never put into a URL by the pages."""
        if not is_valid_uid(series_uid):
            raise InvalidInput(f"{series_uid[:80]!r} is not a DICOM UID (digits and dots, at most 64)")
        session = self.session(scratchdir)
        if area == INPUT:
            known = {str(s["SeriesInstanceUID"]) for s in self.store.studies.series(session.id)}
            if series_uid not in known:
                raise NotFound(f"session {scratchdir} has no series {series_uid!r}")
        listing = self._scan(scratchdir, area)
        if area == OUTPUT and series_uid not in listing:
            raise NotFound(f"the OUTPUT of session {scratchdir} has no series {series_uid!r}")
        items = listing.get(series_uid, [])
        if not self.store.studies.keep_names:  # index_patient_names off: names are never shown
            for item in items:
                item["tags"] = {k: v for k, v in item["tags"].items() if k not in PRIVATE_NAMES}
        return items

    def output_series(self, scratchdir: str) -> list[dict[str, Any]]:
        """The DICOM series found in OUTPUT (by SeriesNumber, then UID): their main tags and size."""
        self.session(scratchdir)
        rows = []
        for uid, items in self._scan(scratchdir, OUTPUT).items():
            tags = items[len(items) // 2]["tags"] if items else {}
            rows.append({
                "SeriesInstanceUID": uid,
                **{k: tags.get(k, "") for k in ("SeriesNumber", "SeriesDescription", "Modality")},
                "instances": len(items),
            })  # fmt: skip
        return sorted(rows, key=lambda r: (_number(r["SeriesNumber"]), r["SeriesInstanceUID"]))

    def outputs(self, scratchdir: str) -> dict[str, Any]:
        """What the session page shows of OUTPUT: its DICOM series and the names of its NIfTI files
        (none while OUTPUT is empty or missing, or if the session's folder went meanwhile)."""
        folder = self.store.layout.output_dir(scratchdir)
        try:
            if not folder.is_dir() or not files(folder):  # nothing to scan: write no cache either
                return {"series": [], "nifti": []}
            return {"series": self.output_series(scratchdir), "nifti": list(self.nifti_files(scratchdir))}
        except (NotFound, OSError):  # the session's folder went while it was read
            return {"series": [], "nifti": []}

    def instance_path(self, scratchdir: str, series_uid: str, number: int, area: Area = INPUT) -> Path:
        """The stored file of the `number`-th instance (0-based) of the series."""
        items = self.instances(scratchdir, series_uid, area)
        if not 0 <= number < len(items):
            raise NotFound(f"series {series_uid} has {len(items)} instance(s); there is no {number}")
        return self._unlinked(scratchdir, self._folder(scratchdir, area) / str(items[number]["file"]))

    def _unlinked(self, scratchdir: str, path: Path) -> Path:
        """`path` if no part of it below the session's folder is a link (a bucket may have swapped
        a scanned file or folder for one since the scan); NotFound otherwise."""
        session = self.store.layout.session_dir(scratchdir)
        part = path
        while part != session and part != part.parent:
            if part.is_symlink():
                raise NotFound(f"{path.name!r} is reached through a link, not a file of the session")
            part = part.parent
        return path

    def instance_index(self, scratchdir: str, series_uid: str, sop_uid: str, area: Area = INPUT) -> int:
        """The position in viewing order of the instance with this SOPInstanceUID."""
        for number, item in enumerate(self.instances(scratchdir, series_uid, area)):
            if item["SOPInstanceUID"] == sop_uid:
                return number
        raise NotFound(f"series {series_uid} has no instance {sop_uid!r}")

    def thumbnail(
        self, scratchdir: str, series_uid: str, size: int = THUMBNAIL_SIZE, area: Area = INPUT
    ) -> bytes:
        """The middle instance's picture (cached); a placeholder while no file of it is stored."""
        items = self.instances(scratchdir, series_uid, area)
        if not items:
            return placeholder_png("no files", size=_size(size))
        return self.image(scratchdir, series_uid, len(items) // 2, size=size, area=area)

    def first_thumbnail(self, scratchdir: str, size: int = THUMBNAIL_SIZE) -> bytes:
        """The thumbnail of the session's first series (by SeriesNumber), for lists of sessions."""
        series = self.store.studies.series(self.session(scratchdir).id)
        if not series:
            return placeholder_png("no series", size=_size(size))
        uid = str(series[0]["SeriesInstanceUID"])
        if not is_valid_uid(uid):  # a hostile or broken header: no file of it is looked up
            return placeholder_png("invalid\nSeries UID", size=_size(size))
        return self.thumbnail(scratchdir, uid, size)

    def image(
        self,
        scratchdir: str,
        series_uid: str,
        number: int,
        *,
        size: int,
        window: Window | None = None,
        area: Area = INPUT,
    ) -> bytes:
        """One instance's picture at `size` (clamped); renders with the file's own window are cached."""
        path = self.instance_path(scratchdir, series_uid, number, area)
        size = _size(size)
        if window is not None:
            return render_png(path, size=size, window=window, limits=self.limits)
        cached = self._dir(scratchdir) / f"{_key(path, area, series_uid)}-{number}-{size}.png"
        return _cached(cached, lambda: render_png(path, size=size, limits=self.limits))

    def nifti_files(self, scratchdir: str) -> dict[str, Path]:
        """The NIfTI files of OUTPUT by their name there (POSIX path relative to OUTPUT)."""
        self.session(scratchdir)
        folder = self.store.layout.output_dir(scratchdir)
        if not folder.is_dir():
            return {}
        found = {Path(e.path).relative_to(folder).as_posix(): Path(e.path) for e in files(folder)}
        return {name: path for name, path in sorted(found.items()) if is_nifti(name)}

    def nifti_preview(self, scratchdir: str, name: str, size: int = NIFTI_SIZE) -> bytes:
        """The three-plane picture of the OUTPUT file `name` (cached), if OUTPUT lists it."""
        path = self.nifti_files(scratchdir).get(name)
        if path is None:
            raise NotFound(f"the OUTPUT of session {scratchdir} has no NIfTI file {name!r}")
        path = self._unlinked(scratchdir, path)
        size = _size(size)
        cached = self._dir(scratchdir) / f"nifti-{_key(path, OUTPUT, name)}-{size}.png"
        return _cached(cached, lambda: render_nifti_png(path, size=size, limits=self.limits))

    def _folder(self, scratchdir: str, area: Area) -> Path:
        layout = self.store.layout
        return layout.input_dir(scratchdir) if area == INPUT else layout.output_dir(scratchdir)

    def _scan(self, scratchdir: str, area: Area) -> dict[str, list[Instance]]:
        cache = self._dir(scratchdir) / f"series-{area.upper()}.json"
        return cached_scan(self._folder(scratchdir, area), cache)

    def _dir(self, scratchdir: str) -> Path:
        folder = self.store.layout.session_dir(scratchdir) / PREVIEW_DIR
        try:
            folder.mkdir(exist_ok=True)
        except FileNotFoundError:  # deleted since the store named it: never recreate its folder
            raise NotFound(f"{scratchdir!r} is not a session of this box") from None
        return folder


def _size(size: int) -> int:
    return max(MIN_SIZE, min(MAX_SIZE, size))


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("inf")


def _key(path: Path, area: Area, ident: str) -> str:
    """A cache key that changes when the file does (size, modification time)."""
    stat = path.stat()
    text = f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0{area}\0{ident}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _cached(path: Path, render: Callable[[], bytes]) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    body = render()
    _write_atomic(path, body)
    return body


def _write_atomic(path: Path, body: bytes) -> None:
    # Two requests may render the same picture at once: each writes its own file and renames it.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_bytes(body)
    os.replace(tmp, path)
