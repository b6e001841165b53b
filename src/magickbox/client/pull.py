"""`mb pull` / `mb pull-input`: download the zips of matching sessions, several at once.

Each download goes to `<name>.part`; a broken one is resumed with a Range request when the box
supports it, or done again from the start; the zip is checked (every entry's CRC) before it gets
its final name `<pid>_<scratchdir>.zip` (`_input.zip` for pull-input). A file that exists is
skipped, as the original did.
"""

from __future__ import annotations

import re
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from magickbox.client.context import Context, Found
from magickbox.client.download import open_zip
from magickbox.client.errors import EXIT_FAILED, BoxError, MbError
from magickbox.client.output import warn
from magickbox.client.progress import Reporter, Task, human_bytes, reporter

ATTEMPTS = 3
ENDED = ("finished", "failed", "cancelled", "incomplete")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


def file_name(found: Found, kind: str) -> str:
    """`<pid>_<scratchdir>.zip` with anything that is not safe in a file name replaced by `_`."""
    stem = f"{_UNSAFE.sub('_', found.pid)}_{_UNSAFE.sub('_', found.scratchdir)}"
    return f"{stem}_input.zip" if kind == "input" else f"{stem}.zip"


def check_zip(path: Path) -> int:
    """The number of entries; raises MbError when the file is not a complete, intact zip."""
    if path.stat().st_size == 0:
        raise MbError("the box sent an empty answer (the session has no output yet?)")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            count = len(archive.infolist())
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise MbError(f"the download is not a valid zip ({exc})") from exc
    if bad is not None:
        raise MbError(f"entry {bad} of the download is damaged (CRC mismatch)")
    return count


@dataclass
class Download:
    found: Found
    kind: str
    target: Path
    progress: Reporter

    @property
    def part(self) -> Path:
        return self.target.with_name(self.target.name + ".part")

    def run(self) -> int:
        """Download, resuming or redoing up to ATTEMPTS times; returns the number of zip entries."""
        task = self.progress.task(f"pull {self.target.name}", None)
        last: MbError | None = None
        for _ in range(ATTEMPTS):
            try:
                self._fetch(task)
                count = check_zip(self.part)
            except BoxError as exc:  # broken connection: the next attempt resumes
                last = exc
                self.progress.line(f"{self.target.name}: {exc.reason}; trying again")
                continue
            except MbError as exc:  # a bad zip: the next attempt starts over
                last = exc
                self.part.unlink(missing_ok=True)
                if "empty answer" in str(exc):
                    break
                continue
            self.part.replace(self.target)
            task.done(f"wrote {self.target.name} ({count} file{'' if count == 1 else 's'})")
            return count
        self.part.unlink(missing_ok=True)
        raise MbError(f"{self.target.name}: {last}")

    def _fetch(self, task: Task) -> None:
        offset = self.part.stat().st_size if self.part.exists() else 0
        with open_zip(self.found.client, self.found.scratchdir, self.kind, offset) as answer:
            if answer.status == 416:
                return  # the part file is complete already; check_zip decides
            resumed = answer.status == 206 and _range_start(answer.header("Content-Range")) == offset
            if not resumed:
                offset = 0
            task.restart(_total_length(answer.header("Content-Length"), offset))
            task.advance(offset)
            with self.part.open("ab" if resumed else "wb") as handle:
                for chunk in answer.chunks():
                    handle.write(chunk)
                    task.advance(len(chunk))


def _range_start(content_range: str) -> int | None:
    match = re.match(r"bytes (\d+)-", content_range)
    return int(match.group(1)) if match else None


def _total_length(length: str, offset: int) -> int | None:
    return int(length) + offset if length.isdigit() else None


def pull(context: Context, regex: re.Pattern[str], kind: str, jobs: int, folder: Path) -> int:
    found = context.select(context.clients(), regex)
    todo: list[Download] = []
    failures = 0
    with reporter() as progress:
        for item in found:
            if not item.scratchdir:
                warn(f"an entry on {item.client.label} has no scratchdir; skipped")
                continue
            target = folder / file_name(item, kind)
            if target.exists():
                print(f"file {target.name} exists, skip download...", flush=True)
                continue
            status = item.entry.get("status")
            if kind == "output" and isinstance(status, str) and status not in ENDED:
                warn(f"{item.scratchdir} is {status}: its output may be incomplete")
            todo.append(Download(item, kind, target, progress))
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for download, outcome in zip(todo, pool.map(_attempt, todo), strict=True):
                if isinstance(outcome, MbError):
                    failures += 1
                    progress.line(f"mb: error: {download.found.client.label}: {outcome}")
                else:
                    size = human_bytes(download.target.stat().st_size)
                    files = f"{outcome} file{'' if outcome == 1 else 's'}"
                    print(f"wrote {download.target} ({files}, {size})", flush=True)
    if not found:
        warn(f"no session matches {regex.pattern!r}")
    if failures:
        return EXIT_FAILED
    return context.exit_code


def _attempt(download: Download) -> int | MbError:
    try:
        return download.run()
    except MbError as exc:
        return exc
