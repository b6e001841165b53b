"""File-system helpers every layer may use: atomic JSON writes and telling a full disk from other errors.

No state and no knowledge of the data folder's layout (that is `store/layout.py`); only the
standard library below it, so the store, the stages, the edges and the CLI share one copy.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import sqlite3
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


def is_disk_full(exc: BaseException) -> bool:
    """True when a write failed for want of room (or a failing disk), not for a bug.

    SQLite's "database or disk is full" / "disk I/O error" and the OS's ENOSPC / EDQUOT / EIO:
    callers turn these into `StoreFull` (HTTP 507, a DICOM out-of-resources status) and retry later.
    """
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in (_SQLITE_FULL, _SQLITE_IOERR)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO)
