"""The shared file helpers: atomic JSON writes and telling a full disk from other errors."""

from __future__ import annotations

import errno
import json
import sqlite3
from pathlib import Path

from magickbox.files import is_disk_full, write_json_atomic
from magickbox.scratchdir import is_scratchdir_name, new_scratchdir_name


def test_json_is_replaced_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "info.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": 2, "b": [1, 2]})
    assert json.loads(path.read_text()) == {"a": 2, "b": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["info.json"]


def test_full_disks_and_failing_disks_are_told_apart_from_bugs() -> None:
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13  # type: ignore[attr-defined]
    assert is_disk_full(full)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(ValueError("no room"))


def test_new_scratchdir_names_are_valid_and_odd_ones_are_not() -> None:
    name = new_scratchdir_name()
    assert is_scratchdir_name(name) and name.startswith("tmp.") and len(name) == 14
    for bad in ("tmp.short", "tmp.../../etc", "TMP.abcdefghij", "tmp.abcdefghij/", ""):
        assert not is_scratchdir_name(bad)


def test_io_errors_count_as_full_only_where_the_caller_says_so() -> None:
    broken = OSError(errno.EIO, "Input/output error")
    failing = sqlite3.OperationalError("disk I/O error")
    failing.sqlite_errorcode = 10 | (3 << 8)  # type: ignore[attr-defined]  # SQLITE_IOERR_WRITE
    assert is_disk_full(broken) and is_disk_full(failing)
    assert not is_disk_full(broken, io_errors=False) and not is_disk_full(failing, io_errors=False)
    assert is_disk_full(OSError(errno.ENOSPC, "full"), io_errors=False)
