"""How a job ended, in the store's words, and the full-disk cases that must say so.

A job that failed because the data folder filled up says "no space left on device while writing
<what>" rather than a misleading reason; its end is recorded with retries (see Worker._record).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from magickbox.errors import StoreFull
from magickbox.files import is_disk_full

FULL_BELOW_BYTES = 1 << 20  # a failed run with less free space than this failed on a full disk
RELEASE = "release"  # an Ending that gives the job back to the queue (the box is stopping)


@dataclass(frozen=True)
class Ending:
    state: str  # a job end state, or RELEASE
    reason: str
    exit_code: int | None = None


@contextlib.contextmanager
def writing(what: str) -> Iterator[None]:
    """Name what was being written when the disk filled up: it becomes the job's reason."""
    try:
        yield
    except OSError as exc:
        if is_disk_full(exc):
            raise StoreFull(f"no space left on device while writing {what}") from exc
        raise


def disk_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder.parent).free < FULL_BELOW_BYTES
    except OSError:
        return False
