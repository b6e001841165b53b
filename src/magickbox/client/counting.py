"""Progress of work counted in items (sessions removed, folders pushed): a rich bar with "N/M" on
a terminal, plain "label: N of M" lines on stderr otherwise (every 10 % and at the end)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class Counter(Protocol):
    def step(self) -> None: ...


class _Plain:
    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.count, self.next_percent = label, total, 0, 10

    def step(self) -> None:
        self.count += 1
        percent = self.count * 100 // max(self.total, 1)
        if percent >= self.next_percent or self.count == self.total:
            self.next_percent = percent // 10 * 10 + 10
            print(f"{self.label}: {self.count} of {self.total}", file=sys.stderr, flush=True)


class _Rich:
    def __init__(self, progress: Progress, label: str, total: int) -> None:
        self.progress = progress
        self.task = progress.add_task(label, total=total)

    def step(self) -> None:
        self.progress.advance(self.task, 1)


@contextmanager
def counted(label: str, total: int) -> Iterator[Counter]:
    """A counter for `total` items; call `step()` after each one."""
    if not sys.stderr.isatty():
        yield _Plain(label, total)
        return
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=True,
    )  # fmt: skip
    with progress:
        yield _Rich(progress, label, total)
