"""`mb push --via dicom`: send a folder's DICOM files by C-STORE, one association per folder.

For boxes where only the DICOM port is open. The calling AE title is the Sender of `~/.mb`, the
called AE title is the bucket's. Files are sent from disk in chunks (never decoded), so memory
stays flat; TCP_NODELAY avoids the Nagle/delayed-ACK stall on every instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info
from pynetdicom import AE
from pynetdicom.presentation import PresentationContext, build_context

from magickbox.client.boxes import BoxClient
from magickbox.client.context import Context
from magickbox.client.errors import BoxError, MbError, Unreachable, UsageError
from magickbox.client.progress import Reporter
from magickbox.dicom.netopts import set_nodelay
from magickbox.dicom.pynetdicom_compat import files_sent_as_they_are
from magickbox.zipstream import Member, collect

MAX_CONTEXTS = 128  # the DICOM limit of presentation contexts in one association


@dataclass(frozen=True)
class Instance:
    member: Member
    sop_class: str
    transfer_syntax: str


def scan(members: list[Member]) -> tuple[list[Instance], int]:
    """The DICOM files (with their SOP class and transfer syntax) and the count of other files."""
    instances, others = [], 0
    for member in members:
        try:
            meta = read_file_meta_info(member.path)
            sop_class = str(meta.MediaStorageSOPClassUID)
            syntax = str(meta.TransferSyntaxUID)
        except (InvalidDicomError, AttributeError, OSError, ValueError):
            others += 1
            continue
        instances.append(Instance(member, sop_class, syntax))
    return instances, others


def contexts_for(instances: list[Instance]) -> list[PresentationContext]:
    pairs = sorted({(i.sop_class, i.transfer_syntax) for i in instances})
    if len(pairs) > MAX_CONTEXTS:
        raise MbError(
            f"the folder mixes {len(pairs)} kinds of SOP class and transfer syntax; one association"
            f" carries at most {MAX_CONTEXTS}: split the folder or push it over HTTP"
        )
    return [build_context(sop_class, [syntax]) for sop_class, syntax in pairs]


def dicom_port_of(client: BoxClient, given: int | None) -> int:
    if given is not None:
        return given
    if client.machine.dicom_port is not None:
        return client.machine.dicom_port
    try:
        known = client.machines() or []
    except BoxError:
        known = []
    for entry in known:
        if entry.get("Self") and str(entry.get("DicomPort", "")).isdigit():
            return int(entry["DicomPort"])
    raise UsageError(
        f"the DICOM port of {client.label} is unknown: pass --dicom-port, or store it with"
        f" 'mb activeMachines add {client.machine.host} {client.machine.port} --dicom-port <port>'"
    )


def _check_ae(sender: str) -> str:
    if not 0 < len(sender) <= 16 or not sender.isprintable() or "\\" in sender:
        raise UsageError(
            f"the sender {sender!r} is not a DICOM AE title (1-16 characters): use 'mb setSender'"
        )
    return sender


def send_folder(
    context: Context, client: BoxClient, folder: Path, aetitle: str, port: int | None, progress: Reporter
) -> dict[str, Any]:
    instances, others = scan(collect(folder, progress.line))
    if not instances:
        raise MbError(f"{folder} holds no DICOM files; nothing to send")
    if others:
        progress.line(f"{folder}: skipping {others} file(s) that are not DICOM")
    ae = AE(ae_title=_check_ae(context.settings.sender))
    ae.acse_timeout = ae.network_timeout = max(30.0, 10 * context.timeout_s)
    ae.connection_timeout = context.timeout_s
    dicom_port = dicom_port_of(client, port)
    assoc = ae.associate(
        client.machine.host, dicom_port, contexts_for(instances), ae_title=_check_ae(aetitle), max_pdu=0
    )
    if not assoc.is_established:
        reason = "rejected the association" if assoc.is_rejected else "could not be reached"
        raise Unreachable(f"{client.machine.host}:{dicom_port}", f"DICOM: {reason} (called AE {aetitle!r})")
    if assoc.dul.socket is not None and assoc.dul.socket.socket is not None:
        set_nodelay(assoc.dul.socket.socket)
    task = progress.task(
        f"push {folder.name} -> {client.machine.host}:{dicom_port} (DICOM)",
        sum(i.member.size for i in instances),
    )
    try:
        with files_sent_as_they_are():  # streamed from disk, never decoded
            failed = _send_all(assoc, instances, progress, task, f"{client.machine.host}:{dicom_port}")
    finally:
        assoc.release()
    if failed:
        raise MbError(f"{failed} of {len(instances)} instances of {folder} were not stored")
    task.done("sent")
    return {"instances": len(instances), "DicomPort": str(dicom_port)}


def _send_all(assoc: Any, instances: list[Instance], progress: Reporter, task: Any, where: str) -> int:
    """C-STORE each instance; the number the box refused."""
    failed = 0
    for instance in instances:
        status = assoc.send_c_store(instance.member.path)
        code = getattr(status, "Status", None)
        if code is None or (code != 0 and code >> 12 != 0xB):
            failed += 1
            progress.line(f"{instance.member.path}: refused by the box (status {code!r})")
        task.advance(instance.member.size)
        if not assoc.is_established:
            raise BoxError(where, "the box ended the association")
    return failed
