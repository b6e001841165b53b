"""Sending files by C-STORE: one association for a list of files, a status for every file.

The association proposes, for each SOP class among the files, the files' own transfer syntaxes
and an uncompressed fallback. A file goes in its own transfer syntax when the peer accepts it,
converted between uncompressed syntaxes otherwise, and decompressed as a last resort.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext, build_context
from pynetdicom.transport import AssociationSocket

from magickbox.dicom import bounded
from magickbox.dicom.netopts import arm_quickack, set_nodelay
from magickbox.dicom.pynetdicom_compat import let_reactor_resume, responses_for_the_sender_only
from magickbox.dicom.tunedsocket import TunedSocket

log = logging.getLogger(__name__)

UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian)
FALLBACK: list[str | UID] = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
MAX_CONTEXTS = 128
# A deflated file sent to a peer that does not take deflate is inflated in memory first; no real
# data set comes near this, a decompression bomb does (the file then fails, with its reason).
SEND_INFLATE_LIMIT = 256 << 20
WARNING_STATUSES = {0x0001, 0x0107, 0x0116, 0xB000, 0xB006, 0xB007}


class SendFailed(Exception):
    """No association (peer down, refused, rejected): nothing was sent."""


@dataclass(frozen=True)
class Outgoing:
    """A file to send: where it is, and the key it is reported under."""

    path: Path
    key: str


@dataclass(frozen=True)
class FileStatus:
    key: str
    outcome: str  # sent | failed | skipped
    status: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class _Header:
    sop_class: UID
    transfer_syntax: UID


def read_header(path: Path) -> _Header | None:
    """SOP class and transfer syntax of a DICOM file; None for anything that is not DICOM."""
    try:
        ds = bounded.read_header(path, specific_tags=["SOPClassUID", "SOPInstanceUID"])  # never inflates all
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError, struct.error):
        return None
    meta = getattr(ds, "file_meta", None)
    sop_class = ds.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta else None)
    syntax = meta.get("TransferSyntaxUID") if meta else None
    if not sop_class or not syntax or "SOPInstanceUID" not in ds:
        return None
    return _Header(UID(str(sop_class)), UID(str(syntax)))


def propose(headers: Sequence[_Header]) -> list[PresentationContext]:
    """Contexts: each (SOP class, own syntax) alone, plus one uncompressed fallback per SOP class."""
    own: dict[tuple[str, str], None] = {}
    classes: dict[str, None] = {}
    for header in headers:
        classes[header.sop_class] = None
        if header.transfer_syntax not in FALLBACK:
            own[(header.sop_class, header.transfer_syntax)] = None
    contexts = [build_context(sop_class, FALLBACK) for sop_class in classes]
    room = MAX_CONTEXTS - len(contexts)
    contexts += [build_context(sop, [syntax]) for sop, syntax in list(own)[: max(room, 0)]]
    return contexts[:MAX_CONTEXTS]


def _accepted(assoc: Association) -> dict[str, set[str]]:
    table: dict[str, set[str]] = {}
    for context in assoc.accepted_contexts:
        table.setdefault(str(context.abstract_syntax), set()).add(str(context.transfer_syntax[0]))
    return table


def _prepare(path: Path, header: _Header, accepted: set[str]) -> Dataset | Path:
    """The file itself when its syntax is accepted, else a dataset the peer can take.

    A path is sent as it is (decoded or streamed, per pynetdicom's STORE_SEND_CHUNKED_DATASET);
    a dataset lets pynetdicom convert between uncompressed syntaxes whatever that flag says.
    """
    syntax = header.transfer_syntax
    if syntax in accepted:
        return path
    if not accepted:
        raise ValueError(f"the destination accepts no transfer syntax for SOP class {header.sop_class}")
    if syntax == DeflatedExplicitVRLittleEndian:  # a received file may inflate to gigabytes
        return bounded.read_inflated(path, SEND_INFLATE_LIMIT)  # TooLarge is a ValueError
    ds = pydicom.dcmread(path)
    if syntax in UNCOMPRESSED and accepted & set(map(str, UNCOMPRESSED)):
        return ds
    try:
        ds.decompress(generate_instance_uid=False)
    except Exception as exc:  # any decoder failure means we cannot offer this file uncompressed
        raise ValueError(
            f"the destination does not accept {syntax.name} and it cannot be decompressed: {exc}"
        ) from exc
    return ds


def _resolve(host: str) -> str:
    try:
        return str(socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0])
    except (OSError, IndexError) as exc:
        raise SendFailed(f"cannot resolve {host!r}: {exc}") from exc


def _tune(event: evt.Event) -> None:
    """On connect: TCP_NODELAY (our C-STOREs leave at once) and quick ACKs for the peer's writes.

    storescp (dcmtk) leaves Nagle on, so each C-STORE-RSP leaves in two segments and the second
    one waits for our ACK; with Linux's delayed ACK that costs ~40 ms per file. TunedSocket
    re-arms the quick ACK after every read, which removes the stall.
    """
    wrapper = getattr(event.assoc.dul, "socket", None)
    raw = getattr(wrapper, "socket", None)
    if raw is None:
        return
    set_nodelay(raw)
    arm_quickack(raw)
    if type(wrapper) is AssociationSocket:
        wrapper.__class__ = TunedSocket


def send_files(
    files: Sequence[Outgoing],
    host: str,
    port: int,
    calling_aet: str,
    called_aet: str,
    timeout_s: float = 30.0,
    progress: Callable[[FileStatus], None] | None = None,
    stop: threading.Event | None = None,
) -> list[FileStatus]:
    """Send `files` over one association. Non-DICOM files are skipped.

    Raises SendFailed when no association could be made. Files not attempted because the
    association broke (or `stop` was set) come back as failed.
    """
    results: list[FileStatus] = []
    sendable: list[tuple[Outgoing, _Header]] = []
    for item in files:
        header = read_header(item.path)
        if header is None:
            results.append(FileStatus(item.key, "skipped", None, "not a DICOM file"))
        else:
            sendable.append((item, header))
    if not sendable:
        return results
    ae = AE(ae_title=calling_aet)
    for timeout in ("acse_timeout", "dimse_timeout", "network_timeout", "connection_timeout"):
        setattr(ae, timeout, timeout_s)
    ae.requested_contexts = propose([header for _, header in sendable])
    assoc = ae.associate(_resolve(host), port, ae_title=called_aet, evt_handlers=[(evt.EVT_CONN_OPEN, _tune)])
    if not assoc.is_established:
        reason = (
            "rejected the association"
            if assoc.is_rejected
            else "could not be reached (no answer, or the connection was closed)"
        )
        raise SendFailed(f"{called_aet}@{host}:{port} {reason}")
    responses_for_the_sender_only(assoc)
    try:
        accepted = _accepted(assoc)
        for item, header in sendable:
            if (stop is not None and stop.is_set()) or not assoc.is_established:
                results.append(FileStatus(item.key, "failed", None, "association ended before this file"))
                continue
            status = _send_one(assoc, item, header, accepted)
            let_reactor_resume(assoc)
            results.append(status)
            if progress is not None:
                progress(status)
    finally:
        if assoc.is_established:
            assoc.release()
    return results


def _send_one(
    assoc: Association, item: Outgoing, header: _Header, accepted: dict[str, set[str]]
) -> FileStatus:
    try:
        payload = _prepare(item.path, header, accepted.get(header.sop_class, set()))
        response = assoc.send_c_store(payload)
    except (ValueError, AttributeError, OSError) as exc:
        return FileStatus(item.key, "failed", None, str(exc))
    status = response.get("Status") if response else None
    if status is None:
        return FileStatus(item.key, "failed", None, "no response from the destination")
    code = int(status)
    if code == 0 or code in WARNING_STATUSES:
        return FileStatus(item.key, "sent", code)
    return FileStatus(item.key, "failed", code, f"destination answered 0x{code:04X}")
