"""A real small file system for full-disk tests: a tmpfs mounted for one test, filled on demand."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

FILLER = ".filler"


class SmallDisk:
    """A mounted tmpfs; `fill()` leaves no free byte, `free()` gives the space back."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    def fill(self) -> None:
        """Write one big file until the kernel says ENOSPC, in smaller writes at the end."""
        with (self.root / FILLER).open("ab", buffering=0) as out:
            for size in (1 << 20, 4096, 1):
                try:
                    while True:
                        out.write(b"\0" * size)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
        assert self.free_bytes == 0, f"{self.root} still has {self.free_bytes} bytes free"

    def free(self) -> None:
        (self.root / FILLER).unlink(missing_ok=True)


def empty_wal(db_path: Path) -> None:
    """Checkpoint the WAL to zero bytes, so that the next write must grow it (and fails when full).

    Without this, SQLite may write into WAL space it already holds and succeed on a full disk.
    """
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        for _ in range(100):  # the box's pollers read now and then; a checkpoint waits for none
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy == 0:
                break
            time.sleep(0.05)
    finally:
        conn.close()
    wal = Path(f"{db_path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "the WAL was not emptied"


@contextmanager
def small_tmpfs(mount_point: Path, size: str = "64m") -> Iterator[SmallDisk]:
    """Mount a tmpfs of `size` at `mount_point` for the block; skipped when not root."""
    if os.geteuid() != 0:
        pytest.skip(
            "mounting a tmpfs needs root (mount -t tmpfs); these full-disk tests need a real file system"
        )
    mount_point.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield SmallDisk(mount_point)
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)
