"""Uploads (processZip.php, POST /api/v1/uploads): multipart streamed to disk, checked, unpacked.

One upload becomes one session: the zip is written to `<data>/.uploads/` while it arrives (with
a size limit), its entries are checked before any session exists (no `..`, no absolute paths,
no links, entry count and unpacked size limits), then a session is created, the entries are
unpacked into its INPUT/ (never executable) and the session is sealed (queued). Any failure
leaves nothing behind.
"""

from __future__ import annotations

import logging
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from magickbox.api.unzip import check_zip, no_room, unpack
from magickbox.config import Settings
from magickbox.files import disk_use, is_disk_full
from magickbox.store import Session, SessionKey, Store, wake_if_high
from magickbox.web.deps import audit
from magickbox.web.errors import ApiError

log = logging.getLogger(__name__)

FILE_FIELDS = ("theFile", "file")
TEXT_FIELDS = ("aetitle", "sender", "jobname", "filename", "description", "arguments")
MAX_FIELD_BYTES = 64 << 10
MAX_PARTS = 32


@dataclass
class UploadForm:
    fields: dict[str, str] = field(default_factory=dict)
    file_path: Path | None = None
    file_bytes: int = 0


class _FormCollector:
    """Callbacks for python-multipart's streaming parser: text fields in memory, the file on disk."""

    def __init__(self, spool: Path, max_bytes: int) -> None:
        self.form = UploadForm()
        self.spool = spool
        self.max_bytes = max_bytes
        self.parts = 0
        self.complete = False
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._is_file = False
        self._text = bytearray()
        self._handle: BinaryIO | None = None

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field,
            "on_header_value": self.header_value,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
            "on_end": self.end,
        }

    def end(self) -> None:
        self.complete = True

    def part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise ApiError(400, "bad upload", f"more than {MAX_PARTS} form fields")
        self._headers = {}
        self._header_name = self._header_value = b""
        self._text = bytearray()

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        self._is_file = b"filename" in options or self._name in FILE_FIELDS
        if self._is_file:
            if self._name not in FILE_FIELDS or self.form.file_path is not None:
                raise ApiError(400, "bad upload", "send exactly one file, in the field 'theFile'")
            self.form.file_path = self.spool
            self._handle = self.spool.open("xb")

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self.form.file_bytes += end - start
            if self.form.file_bytes > self.max_bytes:
                raise ApiError(413, "upload too large", f"the limit is {self.max_bytes} bytes")
            self._file().write(data[start:end])
        else:
            self._text += data[start:end]
            if len(self._text) > MAX_FIELD_BYTES:
                raise ApiError(
                    400, "bad upload", f"field {self._name!r} is longer than {MAX_FIELD_BYTES} bytes"
                )

    def part_end(self) -> None:
        if self._is_file:
            self._file().close()
            self._handle = None
        elif self._name in TEXT_FIELDS:
            self.form.fields[self._name] = self._text.decode("utf-8", "replace")

    def _file(self) -> BinaryIO:
        assert self._handle is not None
        return self._handle

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def spool_dir(settings: Settings) -> Path:
    folder = settings.data / ".uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def clean_spool(settings: Settings, older_than_s: float = 3600.0) -> int:
    """Remove spooled uploads left by a server that stopped mid-upload. Returns how many."""
    folder = settings.data / ".uploads"
    if not folder.is_dir():
        return 0
    limit = time.time() - older_than_s
    removed = 0
    for path in folder.glob("upload-*.zip"):
        try:
            if path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed


async def receive_form(request: Request, settings: Settings) -> UploadForm:
    """Parse the multipart body as it arrives; the file part goes straight to a spool file."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise ApiError(400, "bad upload", "send multipart/form-data with the zip in 'theFile'")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.upload_max_bytes + (1 << 20):
        raise ApiError(413, "upload too large", f"the limit is {settings.upload_max_bytes} bytes")
    folder = spool_dir(settings)
    coming = int(declared) if declared and declared.isdigit() else 0
    wake_if_high(settings.data, settings.disk_high_percent)  # housekeeping sweeps now
    if disk_use(folder).available - coming < settings.min_free_bytes:
        raise no_room(settings)
    spool = folder / f"upload-{secrets.token_hex(8)}.zip"
    collector = _FormCollector(spool, settings.upload_max_bytes)
    parser = MultipartParser(boundary, collector.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        if not collector.complete:
            raise ApiError(400, "bad upload", "the multipart body ended before its closing boundary")
    except OSError as exc:
        collector.close()
        spool.unlink(missing_ok=True)
        raise disk_error(exc) from None
    except FormParserError as exc:
        collector.close()
        spool.unlink(missing_ok=True)
        raise ApiError(400, "bad upload", f"not a readable multipart body: {exc}") from None
    except BaseException:
        collector.close()
        spool.unlink(missing_ok=True)
        raise
    return collector.form


def disk_error(exc: BaseException) -> ApiError | BaseException:
    """A full disk (or a database that cannot grow) is the client's to know about (507); other
    errors stay errors."""
    if is_disk_full(exc, io_errors=False):
        return ApiError(507, "disk full", "the box has no room for this upload; try again later")
    return exc


def pid_for(jobname: str) -> str:
    """`mb_<jobname>` with only letters, digits, `.`, `_`, `-` (safe as a folder and file name)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", jobname).strip("._-")[:64]
    return f"mb_{cleaned or 'upload'}"


def _forget(store: Store, session: Session) -> None:
    """Leave nothing of a failed upload: the files first (that frees the space SQLite may need)."""
    store.layout.remove_session_dir(session.scratchdir)
    try:
        store.sessions.delete(session.id)
    except Exception:  # the row stays `receiving`; a restart's recovery resolves it
        log.exception("could not forget the failed upload session %s", session.scratchdir)


def create_session(store: Store, form: UploadForm, client_ip: str) -> Session:
    """Check the spooled upload, make its session, unpack, seal. Runs in a worker thread."""
    settings = store.settings
    aetitle = form.fields.get("aetitle", "").strip()
    if not aetitle:
        raise ApiError(400, "bad upload", "the field 'aetitle' (the bucket's AE title) is required")
    if form.file_path is None:
        raise ApiError(400, "bad upload", "the zip file is missing (field 'theFile')")
    bucket = store.catalog().for_called_aet(aetitle)
    if bucket is None:
        raise ApiError(404, "unknown AE title", f"no enabled bucket has the AE title {aetitle!r}")
    entries = check_zip(form.file_path, settings)
    if (
        disk_use(settings.scratch_dir).available - sum(i.file_size for i, _ in entries)
        < settings.min_free_bytes
    ):
        raise no_room(settings)
    sender = form.fields.get("sender", "").strip() or "mb-shell"
    key = SessionKey(sender[:256], aetitle, client_ip, None)
    try:
        session = store.sessions.create_upload(
            key,
            bucket.name,
            pid_for(form.fields.get("jobname", "")),
            form.fields.get("arguments", ""),
            form.fields.get("description", ""),
        )
    except sqlite3.Error as exc:
        raise disk_error(exc) from exc
    try:
        unpack(form.file_path, entries, store.layout.input_dir(session.scratchdir), settings)
        files = sum(1 for info, _ in entries if not info.is_dir())
        store.sessions.record_instances(session.id, files, form.file_bytes)
        store.studies.index_input(session.id, store.layout.input_dir(session.scratchdir))
        store.sessions.seal(session.id)
    except BaseException as exc:
        _forget(store, session)
        raise disk_error(exc) from exc
    log.info(
        "upload from %s (%s) for %s: session %s, %d entries",
        sender,
        client_ip,
        aetitle,
        session.scratchdir,
        len(entries),
    )
    return store.sessions.get(session.id)


async def upload_session(request: Request, store: Store, endpoint: str) -> Session:
    """The one upload of processZip.php and `POST /api/v1/uploads`: the body spooled, checked and
    made a queued session, recorded in the audit log as `upload` through `endpoint`; the spooled
    zip is removed whatever happens."""
    form = await receive_form(request, store.settings)
    try:
        client = request.client.host if request.client else ""
        created = await run_in_threadpool(create_session, store, form, client)
    finally:
        if form.file_path is not None:
            form.file_path.unlink(missing_ok=True)
    await run_in_threadpool(audit, request, "upload", created, endpoint, form.file_bytes)
    return created
