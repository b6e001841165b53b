"""One instance from the wire to `INPUT/<SOPInstanceUID>.dcm`, streamed, never decoded.

The first bytes of the data set are kept in memory until the header scan finds the SOP Instance
UID and the Study Instance UID (they come early; pixel data come last). That picks the session,
and from then on every fragment goes straight to a file in the session's `.incoming/`. The
finished file is renamed into INPUT/, so INPUT/ never shows a partial file. A data set whose
header is not found within SPILL_AFTER bytes is spilled to the box-wide `.incoming/` and scanned
from disk at the end.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from magickbox.dicom import status
from magickbox.dicom.header import Header, NeedMore, inflate_head, is_deflated, scan_header
from magickbox.dicom.part10 import file_meta
from magickbox.dicom.uid import is_valid_uid
from magickbox.errors import StoreFull
from magickbox.receive.tracker import AssociationTracker, NoSession, SessionSlot
from magickbox.receive.versions import note_resend, note_version, place

log = logging.getLogger(__name__)

FIRST_SCAN_AT = 2048  # bytes; most headers fit
SPILL_AFTER = 8 << 20  # keep at most this much of a data set in memory before its header is known
STORE_FULL = "the box's data folder is full: its store cannot record the instance"
SCAN_LIMIT = 2 * SPILL_AFTER  # a header beyond this many bytes is not worth looking for
# Part file names: unique per process (random prefix) and per instance (a counter), no syscall.
_PART_PREFIX = secrets.token_hex(6) + "-"
_part_numbers = itertools.count()
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
Bytes = bytes | bytearray | memoryview


@dataclass(frozen=True)
class Outcome:
    status: int
    comment: str = ""
    sop_instance_uid: str = ""
    nbytes: int = 0


class StoreRefused(Exception):
    def __init__(self, status_code: int, comment: str) -> None:
        super().__init__(comment)
        self.status = status_code
        self.comment = comment


class InstanceWriter:
    """Receives the data set fragments of one C-STORE-RQ. Not thread-safe: one DUL thread uses it."""

    def __init__(
        self,
        tracker: AssociationTracker,
        transfer_syntax: str,
        sop_class_uid: str,
        spill_dir: Path,
    ) -> None:
        self.tracker = tracker
        self.transfer_syntax = transfer_syntax
        self.sop_class_uid = sop_class_uid
        self.spill_dir = spill_dir
        self.head: bytearray | memoryview = bytearray()  # a view only while one fragment is scanned
        self.next_scan = FIRST_SCAN_AT
        self.header: Header | None = None
        self.slot: SessionSlot | None = None
        # A raw descriptor, not a file object: no buffer to copy through, and opening one costs
        # three system calls fewer (Python's open() asks isatty, seeks and stats).
        self.fd: int | None = None
        self.path: str | None = None
        self.nbytes = 0
        self.refused: StoreRefused | None = None

    # ---- streaming ---------------------------------------------------------------------------
    def feed(self, chunk: bytes | memoryview) -> None:
        if self.refused is not None:
            return
        try:
            self.nbytes += len(chunk)
            if self.fd is not None:
                written = os.write(self.fd, chunk)
                if written < len(chunk):
                    _write_all(self.fd, (memoryview(chunk)[written:],))
                return
            if not self.head and len(chunk) >= self.next_scan:
                self._scan_in_place(chunk)
                return
            head = self.head
            assert isinstance(head, bytearray)  # a view lives only inside _scan_in_place
            head += chunk
            if len(head) >= self.next_scan:
                self.next_scan = len(head) * 2
                self._try_scan(complete=False)
        except (StoreRefused, StoreFull, OSError) as exc:
            self._refuse(_refusal(exc))

    def _scan_in_place(self, chunk: bytes | memoryview) -> None:
        """The first fragment usually holds the whole header: scan it where it lies (the wire
        buffer) and write it from there, without first copying it into `head`."""
        self.head = memoryview(chunk)
        self.next_scan = len(chunk) * 2
        try:
            self._try_scan(complete=False)
        finally:
            if self.fd is None and self.refused is None:  # more is needed: keep a copy
                self.head = bytearray(self.head)

    def _try_scan(self, complete: bool) -> None:
        try:
            self.header = self._scan(complete)
        except NeedMore:
            if len(self.head) > SPILL_AFTER:
                self._open(self.spill_dir, spill=True)
            return
        except ValueError as exc:
            raise StoreRefused(status.CANNOT_UNDERSTAND, f"unreadable data set header: {exc}") from exc
        self._decide(self.header)

    def _scan(self, complete: bool) -> Header:
        data: bytes | bytearray | memoryview = self.head
        if is_deflated(self.transfer_syntax):
            data = inflate_head(bytes(self.head))
        return scan_header(data, self.transfer_syntax, complete=complete)

    def _decide(self, header: Header) -> None:
        uid = header.sop_instance_uid or ""
        if not is_valid_uid(uid):
            raise StoreRefused(status.CANNOT_UNDERSTAND, "no valid SOP Instance UID in the data set")
        try:
            self.slot = self.tracker.slot_for(header.study_instance_uid)
        except NoSession as exc:
            raise StoreRefused(status.REFUSED_NOT_AUTHORIZED, str(exc)) from exc
        if self.fd is None:
            self._open(self.slot.incoming_dir, spill=False)

    def _open(self, folder: str | Path, spill: bool) -> None:
        self.path = f"{folder}/{_PART_PREFIX}{next(_part_numbers)}.part"
        try:
            self.fd = os.open(self.path, _CREATE, 0o644)  # closed in finish() or discard()
        except FileNotFoundError:  # the folder is made once (session join, first spill), not per file
            os.makedirs(folder, exist_ok=True)
            self.fd = os.open(self.path, _CREATE, 0o644)
        # A spilled file gets its file meta in front once the UID is known.
        _write_all(self.fd, (self.head,) if spill else (self._meta(), self.head))
        self.head = bytearray()

    def _meta(self) -> bytes:
        assert self.header is not None and self.header.sop_instance_uid is not None
        return file_meta(
            self.header.sop_class_uid or self.sop_class_uid,
            self.header.sop_instance_uid,
            self.transfer_syntax,
            source_aet=self.tracker.peer.calling_aet,
        )

    # ---- the end -------------------------------------------------------------------------------
    def finish(self) -> Outcome:
        """The last fragment has arrived: put the file in place and say what to answer."""
        try:
            if self.refused is None:
                return self._finish()
        except (StoreRefused, StoreFull, OSError) as exc:
            self._refuse(_refusal(exc))
        assert self.refused is not None
        return Outcome(self.refused.status, self.refused.comment)

    def _finish(self) -> Outcome:
        if self.header is None and self.fd is None:
            self._try_scan(complete=True)
        elif self.header is None:
            self._scan_spilled()
        assert self.fd is not None and self.path is not None and self.slot is not None
        assert self.header is not None and self.header.sop_instance_uid is not None
        fd, self.fd = self.fd, None
        os.close(fd)
        uid = self.header.sop_instance_uid
        # A repeated SOP Instance UID in a session: stored once if the same data set, else kept too.
        placed = place(self.path, self.slot.input_dir, uid)
        self.path = None
        if placed.new:
            self.tracker.count(self.slot, self.nbytes, self.header.indexed)
            if placed.name != f"{uid}.dcm":
                note_version(self.tracker.store.layout, self.slot.scratchdir, uid, placed.name)
        else:
            note_resend(self.tracker.store.layout, self.slot.scratchdir, uid, placed.name)
        return Outcome(status.SUCCESS, sop_instance_uid=uid, nbytes=self.nbytes)

    def _scan_spilled(self) -> None:
        """The header was not in the first SPILL_AFTER bytes: scan the spilled file from disk,
        then copy it behind the file meta into the session's `.incoming/`."""
        assert self.fd is not None and self.path is not None
        fd, self.fd = self.fd, None
        os.close(fd)
        spilled, self.path = self.path, None
        try:
            with open(spilled, "rb") as handle:
                self.head = bytearray(handle.read(SCAN_LIMIT))
                self._try_scan(complete=True)  # picks the session, writes meta + head
                assert self.fd is not None
                while block := handle.read(1 << 20):
                    _write_all(self.fd, (block,))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spilled)

    def _refuse(self, exc: StoreRefused) -> None:
        if self.refused is None:
            self.refused = exc
        self.discard()

    def discard(self) -> None:
        """Drop whatever was written (refused, aborted or failed); nothing partial stays behind."""
        self.head = bytearray()
        if self.fd is not None:
            fd, self.fd = self.fd, None
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.path = None


def _write_all(fd: int, pieces: Sequence[Bytes]) -> None:
    """Write `pieces` in order with as few system calls as the file takes (one, for a regular
    file with space left; a full disk raises OSError)."""
    views = [memoryview(piece) for piece in pieces if len(piece)]
    while views:
        written = os.writev(fd, views)
        if written == 0:
            raise OSError(errno.EIO, "the file took no bytes")
        while views and written >= views[0].nbytes:
            written -= views.pop(0).nbytes
        if written:
            views[0] = views[0][written:]


def _refusal(exc: StoreRefused | StoreFull | OSError) -> StoreRefused:
    """What to answer the sender when storing its instance failed with `exc`."""
    if isinstance(exc, StoreRefused):
        return exc
    if isinstance(exc, StoreFull):
        return StoreRefused(status.OUT_OF_RESOURCES, STORE_FULL)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreRefused(status.OUT_OF_RESOURCES, "no space left to store the instance")
    log.error("could not store an instance: %s", exc)
    return StoreRefused(status.PROCESSING_FAILURE, f"could not store the instance: {exc.strerror}")
