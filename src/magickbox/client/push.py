"""`mb push`: send folders to the least loaded box that offers the bucket, one session per folder."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from magickbox.client.boxes import BoxClient, describe_http_error, fan_out
from magickbox.client.context import Context
from magickbox.client.errors import EXIT_FAILED, EXIT_OK, MbError, Unreachable, UsageError
from magickbox.client.multipart import StreamedForm
from magickbox.client.output import print_json, warn
from magickbox.client.progress import Reporter, Task, reporter
from magickbox.zipstream import ChangedWhileZipped, SizedZip, collect

DESCRIPTION = "Send by MagickBox"  # the original client's words, kept for boxes that log it


@dataclass
class Candidate:
    client: BoxClient
    load: float  # queued + running jobs on the box; inf when its status is unknown
    ours: bool = False  # a box of ours: /api/v1/uploads answers with the new session
    pushed: int = 0  # folders this run already sent there

    @property
    def rank(self) -> float:
        return self.load + self.pushed


def split_folders_and_arguments(paths: list[str], arguments: str | None) -> tuple[list[Path], str]:
    """`push <aetitle> <dir>... [<arguments>]`: a last word that is not a folder is the arguments."""
    words = list(paths)
    if arguments is None and len(words) > 1 and not Path(words[-1]).is_dir():
        arguments = words.pop()
    folders = []
    for word in words:
        folder = Path(word)
        if not folder.is_dir():
            raise UsageError(f"{word} is not a folder")
        folders.append(folder)
    if not folders:
        raise UsageError("name at least one folder to push")
    return folders, arguments or ""


def box_load(rows: list[list[str]]) -> float:
    """Jobs waiting or running on the box: the sum of the second column (queued+running) of getStatus.

    The original added total and running again (counting running jobs twice) and treated a failed
    getStatus as load -1, so a broken box won every push.
    """
    total = 0
    for row in rows:
        if len(row) >= 2 and row[1].strip().lstrip("-").isdigit():
            total += int(row[1])
    return float(total)


def choose_candidates(context: Context, aetitle: str, dicom_fallback: bool) -> list[Candidate]:
    """Boxes that offer `aetitle`, least loaded first (ties keep the order of `~/.magickbox`)."""
    clients = context.clients()
    offers = fan_out(clients, lambda client: client.buckets(), context.timeout_s * 11)
    candidates, silent = [], []
    for answer in offers:
        if answer.error is not None:
            warn(str(answer.error))
            silent.append(answer.client)
        elif any(bucket.get("AETitle") == aetitle for bucket in answer.value or []):
            candidates.append(answer.client)
    loads = fan_out(candidates, lambda client: (client.status(), client.has_api_v1()), context.timeout_s * 11)
    ranked = []
    for status in loads:
        if status.error is not None:
            warn(f"{status.error}; it gets a push only if no other box can take it")
        rows, ours = status.value if status.value is not None else (None, False)
        ranked.append(Candidate(status.client, box_load(rows) if rows is not None else math.inf, ours))
    if dicom_fallback:  # DICOM may be open where HTTP is not: such boxes come last, load unknown
        ranked += [Candidate(client, math.inf) for client in silent if client.machine.dicom_port]
    if not ranked:
        raise MbError(
            f"no active machine provides the bucket (AE title) {aetitle!r}; see 'mb computeModules'"
        )
    return ranked


def _counted(chunks: Iterator[bytes], task: Task) -> Iterator[bytes]:
    for chunk in chunks:
        task.advance(len(chunk))
        yield chunk


def _session_of(response: httpx.Response) -> dict[str, Any]:
    """The new session from the box's answer (ours names it; the original answers with nothing)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    if isinstance(body, dict) and isinstance(body.get("session"), dict):
        body = body["session"]
    if not isinstance(body, dict):
        return {}
    return {key: body[key] for key in ("scratchdir", "pid", "status") if isinstance(body.get(key), str)}


@dataclass
class HttpPush:
    context: Context
    aetitle: str
    arguments: str
    progress: Reporter

    def upload(self, folder: Path, candidate: Candidate) -> dict[str, Any]:
        client = candidate.client
        members = collect(folder, warn)
        if not members:
            raise MbError(f"{folder} holds no files; nothing to push")
        zipped = SizedZip(members)
        jobname = folder.resolve().name
        form = StreamedForm(
            fields={
                "aetitle": self.aetitle,
                "sender": self.context.settings.sender,
                "jobname": jobname,
                "filename": f"{jobname}.zip",
                "description": DESCRIPTION,
                "arguments": self.arguments,
            },
            file_field="theFile",
            file_name=f"{jobname}.zip",
            file_length=zipped.length,
            file_chunks=zipped.chunks(),
        )
        task = self.progress.task(f"push {jobname} -> {client.label}", form.length)
        # No limit on the whole upload; a stalled socket fails after 5 minutes; the box may take a
        # while to unpack a large upload before it answers.
        timeout = httpx.Timeout(300.0, connect=self.context.timeout_s, read=3600.0)
        try:
            response = client.http.post(
                "/api/v1/uploads" if candidate.ours else "/code/php/processZip.php",
                content=_counted(form.chunks(), task),
                headers={"Content-Type": form.content_type, "Content-Length": str(form.length)},
                timeout=timeout,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise Unreachable(client.label, describe_http_error(exc, self.context.timeout_s)) from exc
        except httpx.HTTPError as exc:
            raise client.fail(describe_http_error(exc, self.context.timeout_s)) from exc
        except ChangedWhileZipped as exc:
            # The announced length is already on the wire; a changed file cannot be sent correctly.
            raise MbError(f"{exc}; push again") from exc
        client.check(response, f"uploading {folder}")
        task.done("sent")
        return {"files": len(members), "bytes": zipped.length, **_session_of(response)}


def push(
    context: Context, aetitle: str, paths: list[str], arguments: str | None, via: str, dicom_port: int | None
) -> int:
    folders, args = split_folders_and_arguments(paths, arguments)
    candidates = choose_candidates(context, aetitle, dicom_fallback=via == "dicom")
    results: list[dict[str, Any]] = []
    failed = 0
    with reporter() as progress:
        for number, folder in enumerate(folders, 1):
            if len(folders) > 1:  # many folders: say how far along the whole push is
                progress.line(f"folder {number} of {len(folders)}: {folder}")
            try:
                results.append(
                    _push_one(context, folder, aetitle, args, via, dicom_port, candidates, progress)
                )
            except MbError as exc:
                failed += 1
                progress.line(f"mb: error: {folder}: {exc}")
    print_json(results or None)
    return EXIT_FAILED if failed else EXIT_OK


def _push_one(
    context: Context,
    folder: Path,
    aetitle: str,
    args: str,
    via: str,
    dicom_port: int | None,
    candidates: list[Candidate],
    progress: Reporter,
) -> dict[str, Any]:
    """Try the least loaded box; a box that refuses the connection before any byte passes the folder on."""
    last_error: MbError | None = None
    for candidate in sorted(candidates, key=lambda c: c.rank):
        client = candidate.client
        progress.line(
            f'send directory "{folder}" as "{context.settings.sender}" for "{aetitle}" processing to'
            f" {client.label} ({len(candidates)} machine{'s' if len(candidates) != 1 else ''}"
            f" provide{'' if len(candidates) != 1 else 's'} this bucket)"
        )
        try:
            if via == "dicom":
                from magickbox.client.dicomsend import send_folder

                outcome = send_folder(context, client, folder, aetitle, dicom_port, progress)
            else:
                outcome = HttpPush(context, aetitle, args, progress).upload(folder, candidate)
        except Unreachable as exc:
            last_error = exc
            progress.line(f"mb: warning: {exc}; trying the next box")
            continue
        candidate.pushed += 1
        return {
            "Machine": client.machine.host,
            "Port": client.machine.port,
            "folder": str(folder),
            "AETitleCalled": aetitle,
            "AETitleCaller": context.settings.sender,
            "via": via,
            **outcome,
        }
    raise last_error or MbError("no box took the folder")
