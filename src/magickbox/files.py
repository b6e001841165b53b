"""File-system helpers every layer may use: atomic JSON writes, telling a full disk from other
errors, how full a disk is and what a folder takes on it.

No state and no knowledge of the data folder's layout (that is `store/layout.py`); only the
standard library below it, so the store, the stages, the edges and the CLI share one copy.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# SQLite's primary result codes (the low byte of extended ones): disk I/O error, disk full.
_SQLITE_IOERR = 10
_SQLITE_FULL = 13


def write_json_atomic(path: Path, value: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never a half-written one.

    The temporary file is `.<name>.<hex>.tmp` beside `path` (the store clears such leftovers of a
    crash); the data is on disk (fsync) before the rename makes it visible.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def is_disk_full(exc: BaseException, *, io_errors: bool = True) -> bool:
    """True when a write failed for want of room (or a failing disk), not for a bug.

    SQLite's "database or disk is full" and the OS's ENOSPC / EDQUOT; with `io_errors` (the
    store's view: its data folder cannot be written) also SQLite's "disk I/O error" and EIO.
    Callers turn these into `StoreFull` (HTTP 507, a DICOM out-of-resources status) or a job's
    reason; an edge that must not call a broken disk full (an upload's 507) passes io_errors=False.
    """
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        full = (_SQLITE_FULL, _SQLITE_IOERR) if io_errors else (_SQLITE_FULL,)
        return code is not None and code & 0xFF in full
    full_errnos = (errno.ENOSPC, errno.EDQUOT, errno.EIO) if io_errors else (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, OSError) and exc.errno in full_errnos


@dataclass(frozen=True)
class DiskUse:
    used: int
    available: int  # to unprivileged writers (blocks reserved for root do not count)

    @property
    def percent(self) -> float:
        """Used space as `df` shows it: used / (used + available)."""
        whole = self.used + self.available
        return 100.0 * self.used / whole if whole else 0.0

    def bytes_over(self, percent: float) -> int:
        """How many bytes must go for the use to be under `percent` (0 when it already is)."""
        whole = self.used + self.available
        return max(0, self.used - int(whole * percent / 100.0) + 1)


def disk_use(path: Path) -> DiskUse:
    """Used and available bytes of the file system holding `path`."""
    found = os.statvfs(path)
    used = (found.f_blocks - found.f_bfree) * found.f_frsize
    return DiskUse(used, found.f_bavail * found.f_frsize)


def folder_bytes(folder: Path) -> int:
    """Bytes the files under `folder` take on disk (blocks, not lengths): what deleting it frees."""
    total = 0
    if folder.is_symlink():  # a link's target is not the session's: deleting the link frees nothing
        return 0
    for current, _dirs, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(current, name)).st_blocks * 512
            except OSError:
                continue
    return total
