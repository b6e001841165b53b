"""Progress of long transfers: a rich progress bar on a terminal, plain lines on stderr otherwise."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


def human_bytes(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(count) < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"


class Task(Protocol):
    def advance(self, count: int) -> None: ...
    def restart(self, total: int | None) -> None: ...
    def done(self, message: str) -> None: ...


class Reporter(Protocol):
    def __enter__(self) -> Reporter: ...
    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def task(self, label: str, total: int | None) -> Task: ...
    def line(self, message: str) -> None: ...


UNKNOWN_TOTAL_EVERY_S = 5.0


class _PlainTask:
    """Prints a line at every 10 % step: scripts and CI logs get progress without control codes."""

    def __init__(self, reporter: PlainReporter, label: str, total: int | None) -> None:
        self.reporter, self.label = reporter, label
        self.restart(total)

    def restart(self, total: int | None) -> None:
        self.total, self.count, self.started, self.next_step = total, 0, time.monotonic(), 10
        self.last_line = self.started

    def _rate(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return f"{human_bytes(self.count / elapsed)}/s"

    def advance(self, count: int) -> None:
        self.count += count
        if not self.total:  # size unknown (a zip built while it is sent): a line every few seconds
            now = time.monotonic()
            if now - self.last_line >= UNKNOWN_TOTAL_EVERY_S:
                self.last_line = now
                self.reporter.line(f"{self.label}: {human_bytes(self.count)} ({self._rate()})")
            return
        percent = self.count * 100 // self.total
        if percent >= self.next_step and percent < 100:
            self.next_step = percent // 10 * 10 + 10
            self.reporter.line(
                f"{self.label}: {percent}% ({human_bytes(self.count)} of {human_bytes(self.total)},"
                f" {self._rate()})"
            )

    def done(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        self.reporter.line(
            f"{self.label}: {message} ({human_bytes(self.count)} in {elapsed:.1f}s, {self._rate()})"
        )


class PlainReporter:
    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __enter__(self) -> PlainReporter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def task(self, label: str, total: int | None) -> Task:
        return _PlainTask(self, label, total)

    def line(self, message: str) -> None:
        with self.lock:
            print(message, file=sys.stderr, flush=True)


class _RichTask:
    def __init__(self, progress: Progress, label: str, total: int | None) -> None:
        self.progress, self.label = progress, label
        self.id: TaskID = progress.add_task(label, total=total)
        self.count, self.started = 0, time.monotonic()

    def advance(self, count: int) -> None:
        self.count += count
        self.progress.advance(self.id, count)

    def restart(self, total: int | None) -> None:
        self.count, self.started = 0, time.monotonic()
        self.progress.reset(self.id, total=total)

    def done(self, message: str) -> None:
        elapsed = time.monotonic() - self.started
        rate = human_bytes(self.count / max(elapsed, 1e-6))
        self.progress.update(self.id, description=f"{self.label}: {message}")
        self.progress.stop_task(self.id)
        self.progress.console.print(f"{self.label}: {message} ({human_bytes(self.count)}, {rate}/s)")


class RichReporter:
    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.stop()

    def task(self, label: str, total: int | None) -> Task:
        return _RichTask(self.progress, label, total)

    def line(self, message: str) -> None:
        self.progress.console.print(message, markup=False, highlight=False)


def reporter() -> Reporter:
    """A progress bar when a person watches stderr, plain lines when it goes to a file or pipe."""
    if sys.stderr.isatty():
        return RichReporter()
    return PlainReporter()
