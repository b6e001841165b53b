"""An online backup of the store's database: a consistent copy taken while the box runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def backup_database(source: Path, target: Path) -> int:
    """Copy the SQLite database `source` to `target` with SQLite's backup API (WAL included).

    Safe while other processes write: the copy is one consistent moment. `target` is written
    beside itself first and renamed, so an interrupted backup never leaves a half file under its
    name. Returns the number of pages copied.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30.0) as src:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst, pages=1024)
            pages = int(dst.execute("PRAGMA page_count").fetchone()[0])
        finally:
            dst.close()
    src.close()
    partial.replace(target)
    return pages
