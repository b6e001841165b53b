"""The buckets that ship with the box, installed into an empty `streams/` on first start."""

from __future__ import annotations

import logging
import os
import shutil
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)

# Written once the shipped buckets were offered, so removing them all later is respected.
MARKER = ".shipped-installed"
EXECUTABLE_SUFFIXES = (".sh", ".py")


def shipped_names() -> list[str]:
    root = resources.files("magickbox.run") / "shipped"
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def has_buckets(streams_dir: Path) -> bool:
    return streams_dir.is_dir() and any(
        p.is_dir() and not p.name.startswith(".") for p in streams_dir.iterdir()
    )


def install_shipped(streams_dir: Path) -> list[str]:
    """Copy the shipped buckets into `streams_dir` if it has no bucket and never had them."""
    streams_dir.mkdir(parents=True, exist_ok=True)
    if has_buckets(streams_dir) or (streams_dir / MARKER).exists():
        return []
    installed = [name for name in shipped_names() if _install_one(streams_dir, name)]
    (streams_dir / MARKER).write_text("the shipped buckets were installed here\n")
    log.info("installed the shipped buckets: %s", ", ".join(installed))
    return installed


def _install_one(streams_dir: Path, name: str) -> bool:
    """Copy one bucket beside its place, then rename it in: processes started together (`--stages`)
    may both install; the rename lets exactly one of them win and nobody sees half a bucket."""
    target = streams_dir / name
    staging = streams_dir / f".{name}.{os.getpid()}.tmp"
    with resources.as_file(resources.files("magickbox.run") / "shipped" / name) as source:
        shutil.copytree(source, staging, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for path in staging.iterdir():
        if path.suffix in EXECUTABLE_SUFFIXES:
            path.chmod(0o755)
    (staging / "memory").mkdir(exist_ok=True)
    try:
        staging.rename(target)
    except OSError:  # another process installed it first
        shutil.rmtree(staging, ignore_errors=True)
        return False
    return True
