"""`mb push --via dicom`: send a folder's DICOM files by C-STORE, one association per folder.

For boxes where only the DICOM port is open. The calling AE title is the Sender of `~/.mb`, the
called AE title is the bucket's. The sending is the router's own (`dicom/scu.py`): files go from
disk in chunks in their own transfer syntax when the box accepts it, TCP_NODELAY and quick ACKs
avoid the Nagle/delayed-ACK stall on every instance, memory stays flat.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from magickbox.client.boxes import BoxClient
from magickbox.client.context import Context
from magickbox.client.errors import BoxError, MbError, Unreachable, UsageError
from magickbox.client.progress import Reporter
from magickbox.dicom.pynetdicom_compat import send_files_from_disk
from magickbox.dicom.scu import FileStatus, Outgoing, SendFailed, send_files
from magickbox.zipstream import collect


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
    send_files_from_disk()  # large instances stream from disk: mb's memory stays flat
    members = collect(folder, progress.line)
    sizes = {member.name: member.size for member in members}
    dicom_port = dicom_port_of(client, port)
    where = f"{client.machine.host}:{dicom_port}"
    task = progress.task(f"push {folder.name} -> {where} (DICOM)", sum(sizes.values()))
    refused: list[FileStatus] = []

    def on_file(result: FileStatus) -> None:
        task.advance(sizes.get(result.key, 0))
        if result.outcome == "failed":
            refused.append(result)
            progress.line(f"{folder / result.key}: refused by the box ({result.detail})")

    try:
        results = send_files(
            [Outgoing(member.path, member.name) for member in members],
            client.machine.host, dicom_port, _check_ae(context.settings.sender), _check_ae(aetitle),
            timeout_s=max(30.0, 10 * context.timeout_s), progress=on_file,
        )  # fmt: skip
    except SendFailed as exc:
        raise Unreachable(where, f"DICOM: {exc}") from exc
    return _summary(folder, results, refused, sizes, progress, task) | {"DicomPort": str(dicom_port)}


def _summary(
    folder: Path,
    results: list[FileStatus],
    refused: list[FileStatus],
    sizes: dict[str, int],
    progress: Reporter,
    task: Any,
) -> dict[str, Any]:
    skipped = sum(1 for r in results if r.outcome == "skipped")
    task.advance(sum(sizes.get(r.key, 0) for r in results if r.outcome == "skipped"))
    sent = len(results) - skipped
    if not sent:
        raise MbError(f"{folder} holds no DICOM files; nothing to send")
    if skipped:
        progress.line(f"{folder}: skipping {skipped} file(s) that are not DICOM")
    unsent = [r for r in results if r.outcome == "failed"]
    if any(r not in refused for r in unsent):
        raise BoxError(str(folder), "the box ended the association")
    if unsent:
        raise MbError(f"{len(unsent)} of {sent} instances of {folder} were not stored")
    task.done("sent")
    return {"instances": sent}
